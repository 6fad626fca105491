#include "agentd/outputs/path_template.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>
#include <regex>
#include <vector>

namespace logctl::agentd {

std::string safe_component(std::string_view value) {
  std::string out(value);
  bool dots_only = !out.empty();
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) c = '_';
    dots_only = dots_only && c == '.';
  }
  if (dots_only) std::fill(out.begin(), out.end(), '_');
  if (out.size() > kMaxComponentValue) {
    char h[16];
    std::snprintf(h, sizeof h, "~%08x",
                  static_cast<unsigned>(std::hash<std::string_view>{}(value)&0xffffffffu));
    out.resize(kMaxComponentValue - 9);
    out += h;
  }
  return out;
}

std::string timekey_format(std::int64_t timekey) {
  if (timekey <= 0) return "";
  if (timekey < 60) return "%Y%m%d%H%M%S";
  if (timekey < 3600) return "%Y%m%d%H%M";
  if (timekey < 86400) return "%Y%m%d%H";
  return "%Y%m%d";
}

Result<PathTemplate> PathTemplate::make(const PathTemplateOptions& o) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "path '" + o.path + "': " + why);
  };
  bool has_time = o.path.find('%') != std::string::npos;
  bool has_tag = o.path.find("${tag") != std::string::npos;
  if (has_tag && !o.keys->tag) return bad("${tag} needs 'tag' in the <buffer> chunk keys");
  if (has_time && !o.keys->time) return bad("time placeholders need 'time' in the chunk keys");
  std::regex var(R"(\$\{([^}]+)\})");
  for (std::sregex_iterator it(o.path.begin(), o.path.end(), var), end; it != end; ++it) {
    std::string name = (*it)[1];
    if (name == "chunk_id" || name == "tag" ||
        std::regex_match(name, std::regex(R"(tag\[-?\d+\])"))) {
      continue;
    }
    bool known = false;
    for (const auto& f : o.keys->fields) known = known || f == name;
    if (!known) return bad("placeholder ${" + name + "} is not a chunk key of <buffer>");
  }
  if (o.path.find('*') != std::string::npos) return bad("'*' is not allowed in path");
  PathTemplate t;
  t.utc_ = o.utc;
  std::string index = o.append ? "" : "_**";
  t.indexed_ = !o.append;
  std::string time_part = o.keys->time && !has_time ? "." + timekey_format(o.timekey) : "";
  t.template_ = o.path + time_part + index + o.suffix + (o.gzip ? ".gz" : "");
  return t;
}

namespace {

// The value of placeholder `name` (between "${" and "}") for a chunk, or
// nullopt to leave it as written.
std::optional<std::string> placeholder(std::string_view name, const Chunk& chunk) {
  const auto& m = chunk.metadata();
  if (name == "chunk_id") return chunk.id();
  if (m.tag && name == "tag") return safe_component(*m.tag);
  if (m.tag && name.starts_with("tag[") && name.ends_with("]")) {
    std::string_view digits = name.substr(4, name.size() - 5);
    long long i = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
    if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
    std::vector<std::string_view> parts;
    std::string_view tag = *m.tag;
    for (std::size_t b = 0;;) {
      auto e = tag.find('.', b);
      parts.push_back(tag.substr(b, e == std::string_view::npos ? e : e - b));
      if (e == std::string_view::npos) break;
      b = e + 1;
    }
    auto n = static_cast<long long>(parts.size());
    if (i < 0) i += n;
    return i >= 0 && i < n ? safe_component(parts[static_cast<std::size_t>(i)]) : "";
  }
  for (const auto& [k, v] : m.variables) {
    if (name == k) return safe_component(v);
  }
  return std::nullopt;
}

}  // namespace

// One pass over the template: a value is inserted once and never read again,
// so a tag or record value that looks like a placeholder ("${tag[0]}", "_**")
// stays text (read again, "${tag[0]}" as the tag replaced itself forever).
std::string PathTemplate::render(const Chunk& chunk, int index) const {
  const auto& m = chunk.metadata();
  std::string pattern = template_;
  if (m.timekey) {  // the template only: '%' in a value is never expanded
    std::time_t t = *m.timekey;
    std::tm tm{};
    if (utc_) {
      gmtime_r(&t, &tm);
    } else {
      localtime_r(&t, &tm);
    }
    char buf[4096];
    std::size_t n = std::strftime(buf, sizeof buf, pattern.c_str(), &tm);
    if (n > 0) pattern.assign(buf, n);
  }
  std::string out;
  out.reserve(pattern.size() + 64);
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 2, "${") == 0) {
      auto close = pattern.find('}', i + 2);
      if (close != std::string::npos) {
        auto v = placeholder(std::string_view(pattern).substr(i + 2, close - i - 2), chunk);
        if (v) {
          out += *v;
          i = close + 1;
          continue;
        }
      }
    }
    if (indexed_ && pattern.compare(i, 3, "_**") == 0) {
      out += "_" + std::to_string(index);
      i += 3;
      continue;
    }
    out += pattern[i++];
  }
  return out;
}

}  // namespace logctl::agentd
