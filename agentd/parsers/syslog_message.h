// Syslog message parsing: RFC 3164 (BSD) and RFC 5424, with the record shape
// Fluentd's syslog parser produces:
//   3164: host, ident, pid (when present), message
//   5424: host, ident, pid, msgid, extradata, message (NILVALUE "-" kept as "-")
// Pure functions over a string_view (the fuzz target drives parse_syslog).
// Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "agentd/core/event.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

enum class SyslogFormat { kRfc3164, kRfc5424, kAuto };

struct SyslogMessage {
  int pri = -1;  // -1 when the message had no <PRI>
  EventTime time;
  std::string_view host, ident, pid, msgid, extradata, message;
  bool has_pid = false;
  bool rfc5424 = false;
  bool has_message = true;  // false: an RFC 5424 line ends at its STRUCTURED-DATA
};

struct SyslogOptions {
  SyslogFormat format = SyslogFormat::kRfc3164;
  bool with_priority = true;
  bool utc = false;  // zone of RFC 3164 timestamps, which carry none
  // RFC 5424 TIMESTAMPs by a configured format (rfc5424_time_format or
  // time_format, as Fluentd); unset: RFC 3339 as the RFC says.
  std::function<std::optional<EventTime>(std::string_view)> time_5424;
};

Result<SyslogMessage> parse_syslog(std::string_view text, EventTime now,
                                   const SyslogOptions& options);

const char* syslog_facility_name(int facility);  // "kern".."local7"
const char* syslog_severity_name(int severity);  // "emerg".."debug"

// RFC 3339 "2026-11-23T10:00:00.123456+02:00" / "...Z".
std::optional<EventTime> parse_rfc3339(std::string_view s);

}  // namespace logctl::agentd
