#include "logctl/schema/values.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace logctl::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::unexpected<Error> bad(std::string_view what, std::string_view text) {
  return make_error(ErrorCode::kInvalidArgument,
                    "'" + std::string(text) + "' is not a valid " + std::string(what));
}

// Number with an optional one-letter unit suffix; returns number and unit.
bool split_unit(std::string_view s, double& number, char& unit) {
  unit = 0;
  if (!s.empty() && std::isalpha(static_cast<unsigned char>(s.back()))) {
    unit = static_cast<char>(std::tolower(static_cast<unsigned char>(s.back())));
    s.remove_suffix(1);
  }
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(number);
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  auto s = trim(text);
  // Fluentd also reads "4KB", "1MB", "2gb" and "512B" (its size pattern ignores what
  // follows the unit letter; only a trailing b/B is accepted here).
  if (s.size() >= 2 && (s.back() == 'b' || s.back() == 'B')) s.remove_suffix(1);
  double n = 0;
  char unit = 0;
  if (!split_unit(s, n, unit) || n < 0) return bad("size (e.g. 8m, 1g)", text);
  double mult = 1;
  switch (unit) {
    case 0:
      break;
    case 'k':
      mult = 1024.0;
      break;
    case 'm':
      mult = 1024.0 * 1024;
      break;
    case 'g':
      mult = 1024.0 * 1024 * 1024;
      break;
    case 't':
      mult = 1024.0 * 1024 * 1024 * 1024;
      break;
    default:
      return bad("size (e.g. 8m, 1g)", text);
  }
  double v = n * mult;
  if (v > 9.0e18) return bad("size (too large)", text);
  return static_cast<std::uint64_t>(v);
}

Result<double> parse_time(std::string_view text) {
  auto s = trim(text);
  double n = 0;
  char unit = 0;
  if (!split_unit(s, n, unit) || n < 0) return bad("time (e.g. 30s, 5m, 1h)", text);
  switch (unit) {
    case 0:
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    default:
      return bad("time (e.g. 30s, 5m, 1h)", text);
  }
}

Result<bool> parse_bool(std::string_view text) {
  auto s = trim(text);
  if (s.empty() || s == "true" || s == "yes") return true;
  if (s == "false" || s == "no") return false;
  return bad("bool (true or false)", text);
}

Result<std::int64_t> parse_integer(std::string_view text) {
  auto s = trim(text);
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return bad("integer", text);
  return v;
}

Result<double> parse_float(std::string_view text) {
  auto s = trim(text);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(v)) {
    return bad("number", text);
  }
  return v;
}

Result<std::vector<std::string>> parse_array(std::string_view text) {
  auto s = trim(text);
  std::vector<std::string> out;
  if (!s.empty() && s.front() == '[') {
    auto j = nlohmann::json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_array()) return bad("JSON array", text);
    for (const auto& e : j) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    return out;
  }
  while (!s.empty()) {
    auto comma = s.find(',');
    auto item = trim(s.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_hash(std::string_view text) {
  auto s = trim(text);
  std::vector<std::pair<std::string, std::string>> out;
  if (!s.empty() && s.front() == '{') {
    auto j = nlohmann::json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("JSON object", text);
    for (const auto& [k, v] : j.items()) {
      out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    }
    return out;
  }
  auto items = parse_array(s);
  if (!items) return std::unexpected(items.error());
  for (const auto& item : *items) {
    auto colon = item.find(':');
    if (colon == std::string::npos) return bad("hash (k1:v1,k2:v2)", text);
    out.emplace_back(std::string(trim(item.substr(0, colon))),
                     std::string(trim(std::string_view(item).substr(colon + 1))));
  }
  return out;
}

std::string parse_delimiter(std::string_view text) {
  if (text == "TAB") return "\t";
  if (text == "SPACE") return " ";
  if (text == "COMMA") return ",";
  if (text == "\\t") return "\t";
  if (text == "\\n") return "\n";
  return std::string(text);
}

// Levenshtein distance, for "did you mean" (short names only).
static std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "; did you mean 'X'?" for the closest candidate within 2 edits (or a
// third of the name), else "".
std::string did_you_mean(const std::string& got, const std::vector<std::string>& candidates) {
  if (got.size() > 64) return "";
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, got.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = distance(got, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

}  // namespace logctl::config
