// What the CLI prints. Human tables by default; with --output json exactly one
// JSON document on stdout (the controller's answer, docs/api.md, or for a
// failure {"error": {code, message, details}, "exit_code": N}); with
// --output ndjson one JSON object per line (rollout events while waiting,
// then the final document). Progress, hints and logs always go to stderr, so
// stdout stays machine-readable.
//
// Thread safety: functions write to the process's streams; call from one thread.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/exit_codes.h"

namespace logctl::cli {

enum class Format {
  kTable,   // aligned columns for people
  kJson,    // one document
  kNdjson,  // one object per line
};
Format parse_format(const std::string& s);

// Columns padded to the widest cell; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A JSON value as a table cell: strings bare, null and "" as "-".
std::string cell(const json& v);
// What a rollout (or a plan's node) changes, from its from_/to_version and
// from_/to_config: "0.1.0 -> 0.1.1", "config rev 2 -> rev 3 on 0.1.1",
// both, or "redeploy of 0.1.1".
std::string transition(const json& r);
// Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS".
std::string when(std::int64_t ms);

// Reports a failure the way --output asks and returns its exit code.
int fail(Format f, Exit e, const std::string& code, const std::string& message,
         const json& details = json::object());
int fail(Format f, const ApiFailure& a);
int fail(Format f, const Error& e);
// Prints a successful answer as JSON (json / ndjson modes).
void print_json(const json& doc);

}  // namespace logctl::cli
