#include "agentd/parsers/syslog_message.h"

#include <cctype>
#include <ctime>

namespace logctl::agentd {
namespace {

std::unexpected<Error> bad(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, why);
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// Splits off the next space-terminated token.
std::string_view token(std::string_view& s) {
  auto sp = s.find(' ');
  auto t = s.substr(0, sp);
  s.remove_prefix(sp == std::string_view::npos ? s.size() : sp + 1);
  return t;
}

bool printable_token(std::string_view t, std::size_t max) {
  if (t.empty() || t.size() > max) return false;
  for (char c : t) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

// RFC 5424 STRUCTURED-DATA: "-" or one or more [id param="value" ...] with
// \" \\ \] escapes inside values. Returns its length, or 0 when malformed.
std::size_t structured_data_length(std::string_view s) {
  if (!s.empty() && s[0] == '-') return 1;
  std::size_t i = 0;
  while (i < s.size() && s[i] == '[') {
    bool in_value = false;
    ++i;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (in_value && c == '\\') {
        ++i;
        continue;
      }
      if (c == '"') in_value = !in_value;
      if (!in_value && c == ']') break;
    }
    if (i >= s.size()) return 0;
    ++i;  // past ']'
  }
  return i;
}

// With a <PRI> (with_priority) the line has a VERSION after it; without one
// (a syslog file) Fluentd's expression starts at the TIMESTAMP.
Result<SyslogMessage> parse_5424(std::string_view s, SyslogMessage m, EventTime now,
                                 const SyslogOptions& o) {
  // [VERSION SP] TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (o.with_priority) {
    auto v = token(s);
    if (v.empty() || v.size() > 3 || v[0] < '1' || v[0] > '9') return bad("RFC 5424: bad VERSION");
  }
  auto ts = token(s);
  if (ts.empty()) return bad("RFC 5424: missing TIMESTAMP");
  if (ts == "-") {
    m.time = now;
  } else if (auto t = o.time_5424 ? o.time_5424(ts) : parse_rfc3339(ts)) {
    m.time = *t;
  } else {
    return bad("RFC 5424: bad TIMESTAMP '" + std::string(ts.substr(0, 40)) + "'");
  }
  m.host = token(s);
  m.ident = token(s);
  m.pid = token(s);
  m.msgid = token(s);
  if (!printable_token(m.host, 255) || !printable_token(m.ident, 48) ||
      !printable_token(m.pid, 128) || !printable_token(m.msgid, 32)) {
    return bad("RFC 5424: bad HOSTNAME, APP-NAME, PROCID or MSGID");
  }
  std::size_t sd = structured_data_length(s);
  if (sd == 0) return bad("RFC 5424: bad STRUCTURED-DATA");
  m.extradata = s.substr(0, sd);
  s.remove_prefix(sd);
  if (!s.empty()) {
    if (s[0] != ' ') return bad("RFC 5424: no space after STRUCTURED-DATA");
    s.remove_prefix(1);
  }
  if (s.size() >= 3 && s.substr(0, 3) == "\xEF\xBB\xBF") s.remove_prefix(3);  // BOM
  m.message = s;
  m.has_message = !s.empty();  // Fluentd's (?: (?<message>.+))?: no key without one
  m.has_pid = true;
  m.rfc5424 = true;
  return m;
}

int month_index(std::string_view mon) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (mon == kMonths[i]) return i;
  }
  return -1;
}

// "Mmm dd hh:mm:ss" (day space-padded); the year is "now"'s, or the previous
// one when that would put the message more than a month in the future.
std::optional<EventTime> parse_3164_time(std::string_view s, EventTime now, bool utc) {
  if (s.size() != 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':') {
    return std::nullopt;
  }
  int mon = month_index(s.substr(0, 3));
  int day = 0, hh = 0, mm = 0, ss = 0;
  bool day_ok = s[4] == ' ' ? digits(s, 5, 1, day) : digits(s, 4, 2, day);
  if (mon < 0 || !day_ok || !digits(s, 7, 2, hh) || !digits(s, 10, 2, mm) ||
      !digits(s, 13, 2, ss) || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) {
    return std::nullopt;
  }
  std::time_t now_s = now.seconds();
  std::tm tm{};
  utc ? gmtime_r(&now_s, &tm) : localtime_r(&now_s, &tm);
  int year = tm.tm_year;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::tm t{};
    t.tm_year = year - attempt;
    t.tm_mon = mon;
    t.tm_mday = day;
    t.tm_hour = hh;
    t.tm_min = mm;
    t.tm_sec = ss;
    t.tm_isdst = -1;
    std::time_t v = utc ? timegm(&t) : mktime(&t);
    if (v - now_s <= 31 * 86400 || attempt == 1) return EventTime{std::int64_t{v} * 1'000'000'000};
  }
  return std::nullopt;
}

Result<SyslogMessage> parse_3164(std::string_view s, SyslogMessage m, EventTime now, bool utc) {
  if (s.size() < 16) return bad("RFC 3164: message too short for a timestamp");
  auto t = parse_3164_time(s.substr(0, 15), now, utc);
  if (!t || s[15] != ' ')
    return bad("RFC 3164: bad TIMESTAMP '" + std::string(s.substr(0, 15)) + "'");
  m.time = *t;
  s.remove_prefix(16);
  auto sp = s.find(' ');
  if (sp == std::string_view::npos) return bad("RFC 3164: no HOSTNAME followed by a message");
  m.host = s.substr(0, sp);
  s.remove_prefix(sp + 1);
  // TAG: ident, optional [pid], then anything up to ':' (Fluentd's regexp).
  std::size_t i = 0;
  while (i < s.size() && s[i] != ' ' && s[i] != ':' && s[i] != '[') ++i;
  m.ident = s.substr(0, i);
  if (i < s.size() && s[i] == '[') {
    auto close = s.find(']', i);
    std::size_t j = i + 1;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (close == j && j > i + 1) {
      m.pid = s.substr(i + 1, j - i - 1);
      m.has_pid = true;
      i = close + 1;
    }
  }
  auto colon = s.find(':', i);
  auto space = s.find(' ', i);
  if (colon != std::string_view::npos && (space == std::string_view::npos || colon <= space)) {
    i = colon + 1;
  }
  while (i < s.size() && s[i] == ' ') ++i;
  m.message = s.substr(i);
  return m;
}

}  // namespace

std::optional<EventTime> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se)) {
    return std::nullopt;
  }
  // Years outside 1970..2200 are not log timestamps, and past 2262 they
  // would overflow int64 nanoseconds.
  if (y < 1970 || y > 2200) return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t i = 19;
  std::int64_t frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = 100'000'000;
    std::size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start || i - start > 9) return std::nullopt;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(s, i + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (s[i] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = se;
  std::int64_t secs = timegm(&t) - offset;
  return EventTime{secs * 1'000'000'000 + frac_ns};
}

Result<SyslogMessage> parse_syslog(std::string_view text, EventTime now, const SyslogOptions& o) {
  SyslogMessage m;
  std::string_view s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '\0')) {
    s.remove_suffix(1);
  }
  if (o.with_priority) {
    if (s.empty() || s[0] != '<') return bad("no <PRI> at the start");
    std::size_t close = s.find('>');
    if (close == std::string_view::npos || close < 2 || close > 4) return bad("bad <PRI>");
    int pri = 0;
    if (!digits(s, 1, close - 1, pri) || pri > 191) return bad("bad <PRI> value");
    m.pri = pri;
    s.remove_prefix(close + 1);
  }
  // auto: RFC 5424 when <PRI> is followed by a VERSION (Fluentd's detection
  // needs the <PRI>: without one a line is RFC 3164).
  bool is_5424 =
      o.format == SyslogFormat::kRfc5424 ||
      (o.format == SyslogFormat::kAuto && o.with_priority && s.size() > 1 && s[0] >= '1' &&
       s[0] <= '9' && (s[1] == ' ' || std::isdigit(static_cast<unsigned char>(s[1]))));
  return is_5424 ? parse_5424(s, m, now, o) : parse_3164(s, m, now, o.utc);
}

const char* syslog_facility_name(int f) {
  static const char* kNames[] = {"kern",   "user",   "mail",   "daemon", "auth",     "syslog",
                                 "lpr",    "news",   "uucp",   "cron",   "authpriv", "ftp",
                                 "ntp",    "audit",  "alert",  "at",     "local0",   "local1",
                                 "local2", "local3", "local4", "local5", "local6",   "local7"};
  return f >= 0 && f < 24 ? kNames[f] : "unknown";
}

const char* syslog_severity_name(int s) {
  static const char* kNames[] = {"emerg", "alert",  "crit", "err",
                                 "warn",  "notice", "info", "debug"};
  return s >= 0 && s < 8 ? kNames[s] : "unknown";
}

}  // namespace logctl::agentd
