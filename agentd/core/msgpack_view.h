// Reading packed events without materialising them (see event.h).
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agentd/core/event.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

// Calls fn(time, packed_record) for each `[time, record]` entry of a unit.
// Time may be an EventTime ext or an integer/float (Fluentd accepts both).
Status for_each_entry(std::string_view unit,
                      const std::function<void(EventTime, std::string_view)>& fn);

// Appends the packed value as JSON. Invalid UTF-8 in strings becomes U+FFFD;
// binary becomes a string, ext values become null.
void append_json(std::string& out, std::string_view packed);

// Fluentd's texts of values (Ruby's, through Oj for JSON):
// append_ruby_float — Float#to_s: the shortest text that reads back the same,
//   fixed for exponents -4..15 ("1000.0", "0.0001"), else "1.5e+300", "1.0e-05".
// append_json_float — a Float in Fluentd's JSON (Oj, compat mode): an
//   integral value within 64-bit integers as "N.0" (so -0.0 is "0.0"), any
//   other as Float#to_s; NaN and infinities, which JSON has no text for, null.
// append_ruby_text — Object#to_s: a string as it is, nil as nothing, a hash or
//   an array as Ruby's inspect ({"k"=>"v", "n"=>nil}, [1, "x"]).
void append_ruby_float(std::string& out, double v);
void append_json_float(std::string& out, double v);
void append_ruby_text(std::string& out, std::string_view packed);

// Appends `s` as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

// Looks up a field of a packed record map by path ({"a"} or {"a","b"} for
// $.a.b). Strings come back raw, other values as Ruby's to_s, as
// Fluentd matches and prints them; nullopt when absent or nil.
std::optional<std::string> lookup_field(std::string_view packed_record,
                                        const std::vector<std::string>& path);
// The same text appended to `out` (nothing when absent or nil), without a
// string of its own for the common case of a top-level string field: the
// formatters' per-event path.
void append_field(std::string& out, std::string_view packed_record,
                  const std::vector<std::string>& path);

// A field as configs name it — "name", or "$.a.b" (record_accessor's dot
// form) — as the path lookup_field takes.
std::vector<std::string> field_path(std::string_view key);

// Calls fn(key, value) for each top-level field, both rendered as text:
// strings (and binaries) as they are, other values as Ruby's to_s. For the
// ltsv and single_value formatters.
void for_each_rendered_field(std::string_view packed_record,
                             const std::function<void(std::string_view, std::string_view)>& fn);

}  // namespace logctl::agentd
