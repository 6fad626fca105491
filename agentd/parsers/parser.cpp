#include "agentd/parsers/parser.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <charconv>
#include <cstring>
#include <ctime>
#include <vector>

#include "agentd/parsers/syslog_message.h"

namespace logctl::agentd {
namespace {

// Parses the time field of json/regexp records (time_format, time_type).
class TimeParser {
 public:
  explicit TimeParser(const config::Section& s)
      : format_(s.str("time_format")),
        type_(s.str("time_type")),
        utc_(s.flag("utc") || !s.flag("localtime")) {}

  std::optional<EventTime> parse(std::string_view v) const {
    if (type_ == "unixtime" || type_ == "float" || (type_ != "string" && format_.empty()) ||
        (format_.empty() && looks_numeric(v))) {
      double d = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec == std::errc() && p == v.data() + v.size()) {
        return EventTime{static_cast<std::int64_t>(d * 1e9)};
      }
      if (type_ != "string" && type_ != "mixed") return std::nullopt;
    }
    if (format_.empty()) return parse_rfc3339(v);
    return parse_strptime(std::string(v));
  }

 private:
  static bool looks_numeric(std::string_view v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
  }
  // strptime plus Fluentd's fraction tokens %L / %N / %3N / %6N / %9N.
  std::optional<EventTime> parse_strptime(const std::string& v) const {
    std::string fmt = format_;
    std::size_t frac_at = std::string::npos, frac_len = 0;
    for (const char* tok : {"%3N", "%6N", "%9N", "%N", "%L"}) {
      auto p = fmt.find(tok);
      if (p != std::string::npos) {
        frac_at = p;
        frac_len = std::strlen(tok);
        break;
      }
    }
    std::tm tm{};
    tm.tm_isdst = -1;
    std::int64_t frac_ns = 0;
    const char* rest = v.c_str();
    if (frac_at != std::string::npos) {
      std::string head = fmt.substr(0, frac_at);
      rest = strptime(rest, head.c_str(), &tm);
      if (!rest) return std::nullopt;
      std::int64_t scale = 100'000'000;
      while (std::isdigit(static_cast<unsigned char>(*rest))) {
        frac_ns += (*rest - '0') * scale;
        scale /= 10;
        ++rest;
      }
      fmt = fmt.substr(frac_at + frac_len);
    }
    long gmtoff_before = tm.tm_gmtoff;
    rest = strptime(rest, fmt.c_str(), &tm);
    if (!rest || *rest != '\0') return std::nullopt;
    bool has_zone = fmt.find("%z") != std::string::npos || tm.tm_gmtoff != gmtoff_before;
    std::time_t secs;
    if (has_zone) {
      long off = tm.tm_gmtoff;
      secs = timegm(&tm) - off;
    } else {
      secs = utc_ ? timegm(&tm) : mktime(&tm);
    }
    return EventTime{std::int64_t{secs} * 1'000'000'000 + frac_ns};
  }

  std::string format_;
  std::string type_;
  bool utc_;
};

void pack_extra(RecordWriter& w, std::span<const Extra> extra) {
  for (const auto& e : extra) w.field(e.key, e.value);
}

class NoneParser final : public Parser {
 public:
  explicit NoneParser(const config::Section& s) : key_(s.str("message_key")) {}
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    RecordWriter w(out);
    w.begin(now, static_cast<std::uint32_t>(1 + extra.size()));
    w.field(key_, text);
    pack_extra(w, extra);
    w.end();
    return {};
  }

 private:
  std::string key_;
};

class JsonParser final : public Parser {
 public:
  explicit JsonParser(const config::Section& s)
      : time_(s),
        time_key_(s.str("time_key")),
        keep_time_(s.flag("keep_time_key")),
        estimate_(s.flag("estimate_current_event")),
        null_empty_(s.flag("null_empty_string")) {}
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return make_error(ErrorCode::kInvalidArgument, "not a JSON object");
    }
    EventTime t = now;
    if (auto it = j.find(time_key_); it != j.end()) {
      std::string v = it->is_string() ? it->get<std::string>() : it->dump();
      if (auto parsed = time_.parse(v)) t = *parsed;
      if (!keep_time_) j.erase(it);
    } else if (!estimate_) {
      t = now;
    }
    if (null_empty_) {
      for (auto& [k, v] : j.items()) {
        if (v.is_string() && v.get_ref<const std::string&>().empty()) v = nullptr;
      }
    }
    for (const auto& e : extra) j[std::string(e.key)] = std::string(e.value);
    std::vector<std::uint8_t> packed;
    try {
      nlohmann::json::to_msgpack(j, packed);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInvalidArgument, e.what());
    }
    RecordWriter w(out);
    w.begin(t, 0);
    w.record_packed({reinterpret_cast<const char*>(packed.data()), packed.size()});
    w.end();
    return {};
  }

 private:
  TimeParser time_;
  std::string time_key_;
  bool keep_time_, estimate_, null_empty_;
};

// Fluentd writes expressions as /.../flags; PCRE2 takes the inside.
std::string strip_slashes(const std::string& expr, std::uint32_t& flags) {
  if (expr.size() >= 2 && expr.front() == '/') {
    auto end = expr.rfind('/');
    if (end > 0) {
      for (char f : expr.substr(end + 1)) {
        if (f == 'i') flags |= PCRE2_CASELESS;
        if (f == 'm') flags |= PCRE2_DOTALL;  // Ruby's /m is "dot matches newline"
        if (f == 'x') flags |= PCRE2_EXTENDED;
      }
      return expr.substr(1, end - 1);
    }
  }
  return expr;
}

class RegexpParser final : public Parser {
 public:
  static Result<std::unique_ptr<Parser>> make(const config::Section& s) {
    std::uint32_t flags = PCRE2_UTF | PCRE2_NO_UTF_CHECK * 0;
    if (s.flag("ignorecase")) flags |= PCRE2_CASELESS;
    if (s.flag("multiline")) flags |= PCRE2_DOTALL;
    std::string pattern = strip_slashes(s.str("expression"), flags);
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                     flags & ~PCRE2_UTF, &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": bad expression at offset " + std::to_string(off) +
                            ": " + reinterpret_cast<char*>(msg));
    }
    std::uint32_t names = 0;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &names);
    if (names == 0) {
      pcre2_code_free(code);
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": expression has no named captures (?<name>...)");
    }
    return std::unique_ptr<Parser>(new RegexpParser(s, code));
  }
  ~RegexpParser() override {
    pcre2_match_data_free(match_);
    pcre2_code_free(code_);
  }

  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0, 0,
                         match_, nullptr);
    if (rc < 0) return make_error(ErrorCode::kInvalidArgument, "pattern not matched");
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_);
    fields_.clear();
    EventTime t = now;
    for (const auto& [name, group] : names_) {
      if (static_cast<int>(group) >= rc || ov[2 * group] == PCRE2_UNSET) continue;
      std::string_view v = text.substr(ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
      if (name == time_key_) {
        if (auto parsed = time_.parse(v)) t = *parsed;
        if (!keep_time_) continue;
      }
      fields_.push_back({name, v});
    }
    RecordWriter w(out);
    w.begin(t, static_cast<std::uint32_t>(fields_.size() + extra.size()));
    for (const auto& f : fields_) w.field(f.key, f.value);
    pack_extra(w, extra);
    w.end();
    return {};
  }

 private:
  RegexpParser(const config::Section& s, pcre2_code* code)
      : code_(code), time_(s), time_key_(s.str("time_key")), keep_time_(s.flag("keep_time_key")) {
    match_ = pcre2_match_data_create_from_pattern(code_, nullptr);
    std::uint32_t count = 0, entry = 0;
    PCRE2_SPTR table = nullptr;
    pcre2_pattern_info(code_, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code_, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(code_, PCRE2_INFO_NAMETABLE, &table);
    for (std::uint32_t i = 0; i < count; ++i) {
      const unsigned char* e = table + i * entry;
      names_.emplace_back(reinterpret_cast<const char*>(e + 2), (e[0] << 8) | e[1]);
    }
  }

  pcre2_code* code_;
  pcre2_match_data* match_;
  std::vector<std::pair<std::string, std::uint32_t>> names_;
  std::vector<Extra> fields_;
  TimeParser time_;
  std::string time_key_;
  bool keep_time_;
};

class SyslogParser final : public Parser {
 public:
  explicit SyslogParser(const config::Section& s) : o_(syslog_options(s)) {}
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    auto m = parse_syslog(text, now, o_);
    if (!m) return std::unexpected(m.error());
    pack_syslog(*m, IncludePri::kYes, extra, out);
    return {};
  }

 private:
  SyslogOptions o_;
};

}  // namespace

void pack_syslog(const SyslogMessage& m, IncludePri pri, std::span<const Extra> extra,
                 EventBatch& out) {
  bool with_pri = pri == IncludePri::kYes && m.pri >= 0;
  std::uint32_t n = with_pri + 3 + m.has_pid + (m.rfc5424 ? 2 : 0);
  RecordWriter w(out);
  w.begin(m.time, n + static_cast<std::uint32_t>(extra.size()));
  if (with_pri) w.field_int("pri", m.pri);
  w.field("host", m.host);
  w.field("ident", m.ident);
  if (m.has_pid) w.field("pid", m.pid);
  if (m.rfc5424) {
    w.field("msgid", m.msgid);
    w.field("extradata", m.extradata);
  }
  w.field("message", m.message);
  pack_extra(w, extra);
  w.end();
}

SyslogOptions syslog_options(const config::Section& s) {
  SyslogOptions o;
  auto f = s.str("message_format");
  o.format = f == "rfc5424" ? SyslogFormat::kRfc5424
             : f == "auto"  ? SyslogFormat::kAuto
                            : SyslogFormat::kRfc3164;
  o.with_priority = s.flag("with_priority");
  o.utc = s.flag("utc") || !s.flag("localtime");
  return o;
}

void pack_unmatched(std::string_view text, std::string_view why, EventTime now,
                    std::span<const Extra> extra, EventBatch& out) {
  RecordWriter w(out);
  w.begin(now, static_cast<std::uint32_t>(2 + extra.size()));
  w.field("unmatched_line", text);
  w.field("parse_error", why);
  pack_extra(w, extra);
  w.end();
}

Result<std::unique_ptr<Parser>> make_parser(const config::Section& s) {
  const auto& t = s.type();
  if (t == "none") return std::make_unique<NoneParser>(s);
  if (t == "json") return std::make_unique<JsonParser>(s);
  if (t == "regexp") return RegexpParser::make(s);
  if (t == "syslog") return std::make_unique<SyslogParser>(s);
  return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": unknown parser " + t);
}

}  // namespace logctl::agentd
