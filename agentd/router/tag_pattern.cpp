#include "agentd/router/tag_pattern.h"

namespace logctl::agentd {
namespace {

// "{a,b}.{c,d}" -> a.c a.d b.c b.d (innermost-first, nested braces allowed).
std::vector<std::string> expand_braces(const std::string& p) {
  auto open = p.find('{');
  if (open == std::string::npos) return {p};
  int depth = 0;
  std::size_t close = std::string::npos;
  std::vector<std::string> options;
  std::size_t start = open + 1;
  for (std::size_t i = open; i < p.size(); ++i) {
    if (p[i] == '{') ++depth;
    if (p[i] == '}' && --depth == 0) {
      close = i;
      options.push_back(p.substr(start, i - start));
      break;
    }
    if (p[i] == ',' && depth == 1) {
      options.push_back(p.substr(start, i - start));
      start = i + 1;
    }
  }
  if (close == std::string::npos) return {p};  // unbalanced: literal
  std::vector<std::string> out;
  for (const auto& o : options) {
    for (auto& e : expand_braces(p.substr(0, open) + o + p.substr(close + 1))) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (;;) {
    auto e = s.find('.', b);
    out.emplace_back(s.substr(b, e == std::string_view::npos ? e : e - b));
    if (e == std::string_view::npos) return out;
    b = e + 1;
  }
}

// Glob within one part: '*' matches any run of characters.
bool part_matches(std::string_view p, std::string_view t) {
  if (p.empty()) return t.empty();
  if (p[0] == '*') {
    for (std::size_t i = 0; i <= t.size(); ++i) {
      if (part_matches(p.substr(1), t.substr(i))) return true;
    }
    return false;
  }
  return !t.empty() && p[0] == t[0] && part_matches(p.substr(1), t.substr(1));
}

bool parts_match(const std::vector<std::string>& p, std::size_t pi,
                 const std::vector<std::string>& t, std::size_t ti) {
  if (pi == p.size()) return ti == t.size();
  if (p[pi] == "**") {
    for (std::size_t k = ti; k <= t.size(); ++k) {
      if (parts_match(p, pi + 1, t, k)) return true;
    }
    return false;
  }
  return ti < t.size() && part_matches(p[pi], t[ti]) && parts_match(p, pi + 1, t, ti + 1);
}

}  // namespace

TagPattern::TagPattern(const std::string& pattern) : text_(pattern) {
  for (const auto& alt : expand_braces(pattern)) alternatives_.push_back(split(alt));
}

bool TagPattern::matches(std::string_view tag) const {
  auto parts = split(tag);
  for (const auto& alt : alternatives_) {
    if (parts_match(alt, 0, parts, 0)) return true;
  }
  return false;
}

}  // namespace logctl::agentd
