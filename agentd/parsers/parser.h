// <parse> plugins: turn one message (a line, a datagram, a frame) into one
// packed event. A parser never drops input on its own: it reports failure and
// the input decides (Unmatched in inputs/input.h: emit_unmatched_lines,
// @ERROR, or counted drop; see docs/configuration.md).
// Thread safety: a parser is used by one input thread (regexp match data and
// time caches are per instance).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "agentd/core/event.h"
#include "agentd/core/record_writer.h"
#include "agentd/parsers/syslog_message.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

struct Extra {
  std::string_view key;
  std::string_view value;
};

class Parser {
 public:
  virtual ~Parser() = default;
  // Packs one event for `text` plus `extra` fields (source address...). On
  // failure nothing is packed and the error says why.
  virtual Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
                       EventBatch& out) = 0;

  // How in_tail cuts a file into messages for this parser:
  //   kLine       one line, one message;
  //   kFirstline  (multiline with format_firstline) a line for which
  //               firstline() is true starts a message, the lines after it
  //               join it ("\n" between them);
  //   kUntilParsed (multiline without format_firstline) lines join until
  //               the joined text parses.
  enum class Lines { kLine, kFirstline, kUntilParsed };
  virtual Lines lines() const { return Lines::kLine; }
  virtual bool firstline(std::string_view /*line*/) { return true; }
};

Result<std::unique_ptr<Parser>> make_parser(const config::Section& parse);

// The time field reader of a <parse> section (time_format, time_type,
// timezone, utc/localtime), as the json and regexp parsers read a record's
// time: nullopt when the text is no such time. Used by one thread.
using TimeParse = std::function<std::optional<EventTime>(std::string_view)>;
TimeParse make_time_parse(const config::Section& parse);

// The syslog record in Fluentd's shape: [pri,] host, ident, [pid,]
// [msgid, extradata,] message, then `extra`. in_syslog leaves "pri" out (it is
// in the tag); the syslog <parse> in other inputs keeps it.
enum class IncludePri { kYes, kNo };
void pack_syslog(const SyslogMessage& m, IncludePri pri, std::span<const Extra> extra,
                 EventBatch& out);
// message_format, with_priority and the time zone of a syslog <parse>.
SyslogOptions syslog_options(const config::Section& parse);

// Packs {"unmatched_line": text, "parse_error": why} + extra: how inputs
// deliver text that did not parse.
void pack_unmatched(std::string_view text, std::string_view why, EventTime now,
                    std::span<const Extra> extra, EventBatch& out);

}  // namespace logctl::agentd
