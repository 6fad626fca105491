// Typed parameter values in Fluentd's notation. Each parser takes the raw config
// text and returns the value or an error naming what is wrong with it (the
// caller adds file:line).
//   size:  "1024", "8k", "8m", "1g", "1t" (powers of 1024, case-insensitive)
//   time:  "30", "0.5", "30s", "5m", "1h", "1d" -> seconds
//   bool:  "true"/"yes"/"" (bare key) and "false"/"no"
//   array: JSON ["a","b"] or comma-separated a,b
//   hash:  JSON {"a":"1"} or comma-separated k1:v1,k2:v2
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::config {

Result<std::uint64_t> parse_size(std::string_view text);
Result<double> parse_time(std::string_view text);
Result<bool> parse_bool(std::string_view text);
Result<std::int64_t> parse_integer(std::string_view text);
Result<double> parse_float(std::string_view text);
Result<std::vector<std::string>> parse_array(std::string_view text);
Result<std::vector<std::pair<std::string, std::string>>> parse_hash(std::string_view text);

// "\t" spelled as Fluentd allows for delimiters: TAB, SPACE, COMMA, or literal.
std::string parse_delimiter(std::string_view text);

// "; did you mean 'X'?" for the candidate closest to `got` within 2 edits
// (or a third of its length), else "".
std::string did_you_mean(const std::string& got, const std::vector<std::string>& candidates);

}  // namespace logctl::config
