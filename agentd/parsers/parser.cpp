#include "agentd/parsers/parser.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <set>
#include <variant>
#include <vector>

#include "agentd/core/msgpack_view.h"
#include "agentd/parsers/syslog_message.h"
#include "logctl/schema/json_bounded.h"
#include "logctl/schema/zone.h"

namespace logctl::agentd {
namespace {

// Parses the time field of json/regexp records (time_format, time_type).
class TimeParser {
 public:
  explicit TimeParser(const config::Section& s, std::string default_format = "",
                      bool force_format = false)
      : format_(s.is_set("time_format") && !force_format ? s.str("time_format")
                                                         : std::move(default_format)),
        type_(s.str("time_type")),
        utc_(s.flag("utc") || !s.flag("localtime")),
        id_(next_id()) {
    // Ruby's %:z ("+09:00", and "Z") is glibc's %z, which reads both forms.
    for (std::size_t p; (p = format_.find("%:z")) != std::string::npos;)
      format_.replace(p, 3, "%z");
    // `timezone` (validated with the config) places zoneless times, before utc/localtime.
    if (s.is_set("timezone")) zone_ = Zone::named(s.str("timezone"));
  }

  std::optional<EventTime> parse(std::string_view v) const {
    if (type_ == "unixtime" || type_ == "float" || (type_ != "string" && format_.empty()) ||
        (format_.empty() && looks_numeric(v))) {
      double d = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec == std::errc() && p == v.data() + v.size()) {
        return event_time_from_seconds(d);
      }
      if (type_ != "string" && type_ != "mixed") return std::nullopt;
    }
    if (format_.empty()) return parse_rfc3339(v);
    // Lines come in runs within the same second: the last text's seconds are
    // kept per thread (a parser filter may run on several), and a text that
    // differs from it only in the fraction's digits costs no strptime.
    Last& last = last_parse();
    if (last.owner == id_ && v.starts_with(last.head)) {
      std::string_view r = v.substr(last.head.size());
      std::int64_t frac_ns = last.fraction ? fraction_ns(r) : 0;
      if (r == last.tail) return EventTime{last.secs * 1'000'000'000 + frac_ns};
    }
    return parse_strptime(std::string(v), last);
  }

 private:
  static bool looks_numeric(std::string_view v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
  }
  // The last text parsed on this thread: its part before the fraction's
  // digits (all of it without a fraction), the part after them, its seconds.
  struct Last {
    std::uint64_t owner = 0;  // the TimeParser's id_ (an address may be reused)
    std::string head, tail;
    bool fraction = false;
    std::int64_t secs = 0;
  };
  static Last& last_parse() {
    thread_local Last last;
    return last;
  }
  // Reads the fraction's digits off the front of `r` as nanoseconds.
  static std::int64_t fraction_ns(std::string_view& r) {
    std::int64_t ns = 0, scale = 100'000'000;
    std::size_t i = 0;
    for (; i < r.size() && std::isdigit(static_cast<unsigned char>(r[i])); ++i) {
      ns += (r[i] - '0') * scale;
      scale /= 10;
    }
    r.remove_prefix(i);
    return ns;
  }

  // strptime plus Fluentd's fraction tokens %L / %N / %3N / %6N / %9N.
  std::optional<EventTime> parse_strptime(const std::string& v, Last& last) const {
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
    std::size_t head_len = v.size(), tail_at = v.size();
    if (frac_at != std::string::npos) {
      std::string head = fmt.substr(0, frac_at);
      rest = strptime(rest, head.c_str(), &tm);
      if (!rest) return std::nullopt;
      head_len = static_cast<std::size_t>(rest - v.c_str());
      std::string_view r(rest);
      frac_ns = fraction_ns(r);
      rest = r.data();
      tail_at = static_cast<std::size_t>(rest - v.c_str());
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
      secs = zone_  ? static_cast<std::time_t>(zone_->to_epoch(tm))
             : utc_ ? timegm(&tm)
                    : local_to_epoch(tm);
    }
    // Nanoseconds since the epoch fit in 64 bits until 2262 (and from 1677).
    if (std::abs(std::int64_t{secs}) >= kMaxSeconds) return std::nullopt;
    last.owner = id_;
    last.head.assign(v, 0, head_len);
    last.tail.assign(v, tail_at);
    last.fraction = frac_at != std::string::npos;
    last.secs = secs;
    return EventTime{std::int64_t{secs} * 1'000'000'000 + frac_ns};
  }

  // mktime(3) without its cost: glibc's mktime re-reads the zone file's
  // status (a stat(2) of /etc/localtime) on every call; localtime_r does not.
  // The local offset at the wall time read as UTC, corrected once for a DST
  // change in between.
  static std::time_t local_to_epoch(std::tm tm) {
    std::time_t guess = timegm(&tm);
    std::tm lt{};
    localtime_r(&guess, &lt);
    std::time_t t = guess - lt.tm_gmtoff;
    localtime_r(&t, &lt);
    return guess - lt.tm_gmtoff;
  }

  static constexpr auto kMaxSeconds = static_cast<std::int64_t>(kMaxEventSeconds);

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> n{0};
    return ++n;
  }

  std::string format_;
  std::string type_;
  bool utc_;
  std::optional<Zone> zone_;
  std::uint64_t id_;
};

Status bad_time(std::string_view v) {
  return make_error(ErrorCode::kInvalidArgument,
                    "time '" + std::string(v.substr(0, 64)) + "' does not match time_format");
}

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

// Fluentd's `types` parameter: "name:kind", or "name:time:FORMAT".
struct TypeSpec {
  std::string key, kind, format;
};

std::vector<TypeSpec> types_of(const config::Section& s) {
  std::vector<TypeSpec> types;
  for (const auto& [k, v] : s.hash("types")) {
    auto colon = v.find(':');
    types.push_back({k, v.substr(0, colon), colon == std::string::npos ? "" : v.substr(colon + 1)});
  }
  return types;
}

// A text as a `types` kind makes it: nil, an integer, a float, a bool, a
// text or an array of texts.
using Typed =
    std::variant<std::monostate, std::int64_t, double, bool, std::string, std::vector<std::string>>;

// integer: Ruby's to_i, the leading digits, else 0 — beyond 64 bits Ruby
// keeps a bignum, which MessagePack cannot hold: its digits stay, as text (a
// deviation, docs/fluentd-compatibility.md), never a wrong number; float:
// to_f; bool: true for "true", "yes", "1"; array: Ruby's split(",")
// (trailing empty pieces dropped, so "," is []); time: strptime FORMAT in
// local time, whole seconds (Fluentd's EventTime as its JSON writes it), nil
// when it does not match; any other kind: the text.
Typed typed(std::string_view v, const TypeSpec& t) {
  if (t.kind == "integer") {
    std::string_view d = v.substr(v.starts_with('+') ? 1 : 0);
    std::int64_t n = 0;
    if (std::from_chars(d.data(), d.data() + d.size(), n).ec == std::errc::result_out_of_range) {
      std::size_t len = d.starts_with('-') ? 1 : 0;
      while (len < d.size() && std::isdigit(static_cast<unsigned char>(d[len]))) ++len;
      return std::string(d.substr(0, len));
    }
    return n;
  }
  if (t.kind == "float") {
    double d = 0;
    std::from_chars(v.data(), v.data() + v.size(), d);
    return d;
  }
  if (t.kind == "bool") return v == "true" || v == "yes" || v == "1";
  if (t.kind == "array") {
    std::vector<std::string> parts;
    for (std::size_t at = 0; at <= v.size();) {
      std::size_t comma = std::min(v.find(',', at), v.size());
      parts.emplace_back(v.substr(at, comma - at));
      at = comma + 1;
    }
    while (!parts.empty() && parts.back().empty()) parts.pop_back();
    return parts;
  }
  if (t.kind == "time") {
    static const Zone local = Zone::local();
    std::tm tm{};
    std::string text(v);
    if (!strptime(text.c_str(), t.format.c_str(), &tm)) return std::monostate{};
    return local.to_epoch(tm);
  }
  return std::string(v);
}

class JsonParser final : public Parser {
 public:
  explicit JsonParser(const config::Section& s)
      : time_(s),
        time_key_(s.str("time_key")),
        keep_time_(s.flag("keep_time_key")),
        estimate_(s.flag("estimate_current_event")),
        null_empty_(s.flag("null_empty_string")),
        types_(types_of(s)) {}
  // An object is one event; an array, as in Fluentd, one event per object
  // in it (other elements are skipped; an array without any object does not
  // parse). A record whose time does not parse fails the whole text.
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    auto value = parse_json_bounded<nlohmann::ordered_json>(text);
    if (!value && value.error().code == ErrorCode::kResourceExhausted) {  // too deep
      return std::unexpected(value.error());
    }
    if (value && value->is_array()) {
      std::size_t data = out.data.size(), entries = out.entries.size();
      for (auto& j : *value) {
        if (!j.is_object()) continue;
        if (auto st = one(j, now, extra, out); !st) {
          out.data.resize(data);
          out.entries.resize(entries);
          return st;
        }
      }
      if (out.entries.size() > entries) return {};
    }
    if (!value || !value->is_object()) {
      return make_error(ErrorCode::kInvalidArgument, "not a JSON object");
    }
    return one(*value, now, extra, out);
  }

 private:
  Status one(nlohmann::ordered_json& j, EventTime now, std::span<const Extra> extra,
             EventBatch& out) {
    EventTime t = now;
    if (auto it = j.find(time_key_); it != j.end()) {
      std::string v = it->is_string() ? it->get<std::string>() : it->dump();
      auto parsed = time_.parse(v);
      if (!parsed) return bad_time(v);  // as Fluentd: the line does not parse
      t = *parsed;
      if (!keep_time_) j.erase(it);
    } else if (!estimate_) {
      t = now;
    }
    if (null_empty_) {
      for (auto& [k, v] : j.items()) {
        if (v.is_string() && v.get_ref<const std::string&>().empty()) v = nullptr;
      }
    }
    for (const auto& type : types_) {
      if (auto it = j.find(type.key); it != j.end() && !it->is_null()) convert(*it, type);
    }
    for (const auto& e : extra) j[std::string(e.key)] = std::string(e.value);
    std::vector<std::uint8_t> packed;
    try {
      nlohmann::ordered_json::to_msgpack(j, packed);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kInvalidArgument, e.what());
    }
    RecordWriter w(out);
    w.begin(t, 0);
    w.record_packed({reinterpret_cast<const char*>(packed.data()), packed.size()});
    w.end();
    return {};
  }

  // Fluentd's `types` on a parsed value: a number stays a number for
  // integer (truncated) and float; anything else is converted from its
  // Ruby text as `typed` converts a text (an array only from a string).
  static void convert(nlohmann::ordered_json& v, const TypeSpec& t) {
    static const std::set<std::string> kinds{"integer", "float", "bool", "string", "array", "time"};
    if (!kinds.contains(t.kind)) return;
    if (v.is_number() && t.kind == "integer") {
      if (v.is_number_float()) v = static_cast<std::int64_t>(v.get<double>());
      return;
    }
    if (v.is_number() && t.kind == "float") {
      v = v.get<double>();
      return;
    }
    if (t.kind == "array" && !v.is_string()) return;
    std::string text = v.is_string() ? v.get<std::string>() : "";
    if (!v.is_string()) {
      std::vector<std::uint8_t> b;
      nlohmann::ordered_json::to_msgpack(v, b);
      append_ruby_text(text, std::string(b.begin(), b.end()));
    }
    std::visit(
        [&](auto&& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) {
            v = nullptr;
          } else {
            v = x;
          }
        },
        typed(text, t));
  }

  TimeParser time_;
  std::string time_key_;
  bool keep_time_, estimate_, null_empty_;
  std::vector<TypeSpec> types_;
};

// Text fields of one record, written with the parser's `types` (Fluentd's
// types parameter: integer, float, bool, string, array; anything else is a
// string) and `null_empty_string`.
class FieldWriter {
 public:
  explicit FieldWriter(const config::Section& s)
      : null_empty_(s.flag("null_empty_string")), types_(types_of(s)) {}
  struct Field {
    std::string_view key;
    std::optional<std::string_view> value;  // nullopt: nil
    bool integer = false;                   // written as Ruby's to_i of the text
  };
  void write(EventTime t, const std::vector<Field>& fields, std::span<const Extra> extra,
             EventBatch& out) const {
    RecordWriter w(out);
    w.begin(t, static_cast<std::uint32_t>(fields.size() + extra.size()));
    for (const auto& f : fields) one(w, f);
    pack_extra(w, extra);
    w.end();
  }

 private:
  void one(RecordWriter& w, const Field& f) const {
    if (!f.value || (null_empty_ && f.value->empty())) return w.field_nil(f.key);
    static const TypeSpec kInteger{"", "integer", ""};
    if (f.integer) return put(w, f.key, typed(*f.value, kInteger));
    for (const auto& t : types_) {
      if (t.key == f.key) return put(w, f.key, typed(*f.value, t));
    }
    w.field(f.key, *f.value);
  }

  static void put(RecordWriter& w, std::string_view key, const Typed& value) {
    std::string packed;
    if (std::holds_alternative<std::monostate>(value)) return w.field_nil(key);
    if (const auto* n = std::get_if<std::int64_t>(&value)) return w.field_int(key, *n);
    if (const auto* text = std::get_if<std::string>(&value)) return w.field(key, *text);
    if (const auto* d = std::get_if<double>(&value)) {
      packed.push_back(static_cast<char>(0xcb));
      std::uint64_t bits;
      std::memcpy(&bits, d, sizeof bits);
      for (int b = 56; b >= 0; b -= 8) packed.push_back(static_cast<char>(bits >> b));
    } else if (const auto* yes = std::get_if<bool>(&value)) {
      packed.push_back(static_cast<char>(*yes ? 0xc3 : 0xc2));
    } else {
      const auto& parts = std::get<std::vector<std::string>>(value);
      packed.push_back(static_cast<char>(0xdd));  // array 32
      auto n = static_cast<std::uint32_t>(parts.size());
      for (int b = 24; b >= 0; b -= 8) packed.push_back(static_cast<char>(n >> b));
      for (const auto& part : parts) RecordWriter::pack_str(packed, part);
    }
    w.field_packed(key, packed);
  }

  bool null_empty_;
  std::vector<TypeSpec> types_;
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
  static Result<std::unique_ptr<RegexpParser>> make(const config::Section& s) {
    std::uint32_t flags = 0;
    if (s.flag("ignorecase")) flags |= PCRE2_CASELESS;
    if (s.flag("multiline")) flags |= PCRE2_DOTALL;
    std::string pattern = strip_slashes(s.str("expression"), flags);
    return make(s, pattern, flags, "expression");
  }
  // `pattern` without slashes; `what` names it in errors.
  static Result<std::unique_ptr<RegexpParser>> make(const config::Section& s,
                                                    const std::string& pattern, std::uint32_t flags,
                                                    const std::string& what) {
    auto code = compile(s, pattern, flags, what);
    if (!code) return std::unexpected(code.error());
    std::uint32_t names = 0;
    pcre2_pattern_info(*code, PCRE2_INFO_NAMECOUNT, &names);
    if (names == 0) {
      pcre2_code_free(*code);
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": " + what + " has no named captures (?<name>...)");
    }
    return std::unique_ptr<RegexpParser>(new RegexpParser(s, *code));
  }
  static Result<pcre2_code*> compile(const config::Section& s, const std::string& pattern,
                                     std::uint32_t flags, const std::string& what) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                     flags, &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": bad " + what +
                                                         " at offset " + std::to_string(off) +
                                                         ": " + reinterpret_cast<char*>(msg));
    }
    return code;
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
        auto parsed = time_.parse(v);
        if (!parsed) return bad_time(v);  // as Fluentd: the line does not parse
        t = *parsed;
        if (!keep_time_) continue;
      }
      fields_.push_back({name, v});
    }
    writer_.write(t, fields_, extra, out);  // types, null_empty_string
    return {};
  }

 private:
  RegexpParser(const config::Section& s, pcre2_code* code)
      : code_(code),
        time_(s),
        time_key_(s.str("time_key")),
        keep_time_(s.flag("keep_time_key")),
        writer_(s) {
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
    // PCRE2's table is sorted by name; records keep the captures' order in
    // the expression, as Ruby's (and so Fluentd's) do.
    std::sort(names_.begin(), names_.end(),
              [](const auto& x, const auto& y) { return x.second < y.second; });
  }

  pcre2_code* code_;
  pcre2_match_data* match_;
  std::vector<std::pair<std::string, std::uint32_t>> names_;
  std::vector<FieldWriter::Field> fields_;
  TimeParser time_;
  std::string time_key_;
  bool keep_time_;
  FieldWriter writer_;
};

class SyslogParser final : public Parser {
 public:
  explicit SyslogParser(const config::Section& s) : o_(syslog_options(s)) {
    // Fluentd: a configured rfc5424_time_format (time_format before it) reads
    // RFC 5424 times, and "%Y-%m-%dT%H:%M:%S%z" those it does not match.
    if (s.explicitly_set("rfc5424_time_format") || s.explicitly_set("time_format")) {
      std::string format =
          s.explicitly_set("time_format") ? s.str("time_format") : s.str("rfc5424_time_format");
      auto custom = std::make_shared<TimeParser>(s, format, true);
      auto plain = std::make_shared<TimeParser>(s, "%Y-%m-%dT%H:%M:%S%z", true);
      o_.time_5424 = [custom, plain](std::string_view ts) -> std::optional<EventTime> {
        if (auto t = custom->parse(ts)) return t;
        return plain->parse(ts);
      };
    }
  }
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

// The parsers that cut a line into named text fields: csv, tsv, ltsv and
// the access/error log formats. `split` fills the fields; the time field
// (time_key) sets the event time and stays only with keep_time_key.
class FieldsParser : public Parser {
 public:
  explicit FieldsParser(const config::Section& s, std::string time_format = "")
      : time_(s, std::move(time_format)),
        time_key_(s.str("time_key")),
        keep_time_(s.flag("keep_time_key")),
        writer_(s) {}

  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    fields_.clear();
    if (auto st = split(text, fields_); !st) return st;
    EventTime t = now;
    if (!time_key_.empty()) {
      for (auto it = fields_.begin(); it != fields_.end(); ++it) {
        if (it->key != time_key_ || !it->value) continue;
        auto parsed = time_.parse(*it->value);
        if (!parsed) return bad_time(*it->value);
        t = *parsed;
        if (!keep_time_) fields_.erase(it);
        break;
      }
    }
    writer_.write(t, fields_, extra, out);
    return {};
  }

 protected:
  using Fields = std::vector<FieldWriter::Field>;
  virtual Status split(std::string_view text, Fields& out) = 0;
  static std::unexpected<Error> no(const char* what) {
    return make_error(ErrorCode::kInvalidArgument, what);
  }

 private:
  TimeParser time_;
  std::string time_key_;
  bool keep_time_;
  FieldWriter writer_;
  Fields fields_;
};

// csv (RFC 4180: "quoted, with "" inside") and tsv (no quoting).
class DelimitedParser final : public FieldsParser {
 public:
  DelimitedParser(const config::Section& s, bool quoting)
      : FieldsParser(s), delimiter_(s.str("delimiter")), quoting_(quoting) {
    for (const auto& k : s.array("keys")) keys_.push_back(k);
    if (delimiter_.empty()) delimiter_ = quoting ? "," : "\t";
  }

 private:
  Status split(std::string_view text, Fields& out) override {
    scratch_.clear();
    nil_.clear();
    std::size_t at = 0;
    while (at <= text.size()) {
      std::string value;
      bool quoted = quoting_ && at < text.size() && text[at] == '"';
      if (quoted) {
        std::size_t i = at + 1;
        for (;;) {
          if (i >= text.size()) return no("unterminated quoted field");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              value.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          value.push_back(text[i++]);
        }
        if (i < text.size() && text.substr(i, delimiter_.size()) != delimiter_) {
          return no("text after a closing quote");
        }
        at = i;
      } else {
        std::size_t end = text.find(delimiter_, at);
        if (end == std::string_view::npos) end = text.size();
        value = std::string(text.substr(at, end - at));
        at = end;
      }
      // Ruby's CSV: an empty column is nil unless quoted ("" is the empty text)
      nil_.push_back(quoting_ && !quoted && value.empty());
      scratch_.push_back(std::move(value));
      if (at >= text.size()) break;
      at += delimiter_.size();
      if (at == text.size()) {  // a trailing empty column
        scratch_.emplace_back();
        nil_.push_back(quoting_);
      }
    }
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (i < scratch_.size() && !nil_[i]) {
        out.push_back({keys_[i], std::string_view(scratch_[i])});
      } else {
        out.push_back({keys_[i], std::nullopt});  // fewer columns than keys: nil, as Ruby's CSV
      }
    }
    return {};
  }

  std::string delimiter_;
  bool quoting_;
  std::vector<std::string> keys_;
  std::vector<std::string> scratch_;
  std::vector<bool> nil_;  // per column: empty and unquoted (csv)
};

// Fluentd's: the text split at `delimiter` (or `delimiter_pattern`, a
// regexp), each piece holding `label_delimiter` a field, any other skipped.
class LtsvParser final : public FieldsParser {
 public:
  static Result<std::unique_ptr<Parser>> make(const config::Section& s) {
    pcre2_code* pattern = nullptr;
    if (s.is_set("delimiter_pattern")) {
      std::uint32_t flags = 0;
      std::string re = strip_slashes(s.str("delimiter_pattern"), flags);
      auto code = RegexpParser::compile(s, re, flags, "delimiter_pattern");
      if (!code) return std::unexpected(code.error());
      pattern = *code;
    }
    return std::unique_ptr<Parser>(new LtsvParser(s, pattern));
  }
  ~LtsvParser() override {
    if (match_) pcre2_match_data_free(match_);
    if (pattern_) pcre2_code_free(pattern_);
  }

 private:
  LtsvParser(const config::Section& s, pcre2_code* pattern)
      : FieldsParser(s),
        delimiter_(s.str("delimiter")),
        label_(s.str("label_delimiter")),
        pattern_(pattern),
        match_(pattern ? pcre2_match_data_create_from_pattern(pattern, nullptr) : nullptr) {}

  Status split(std::string_view text, Fields& out) override {
    for (std::size_t at = 0; at <= text.size();) {
      std::size_t end = text.size(), next = text.size() + 1;
      if (pattern_) {
        int rc = pcre2_match(pattern_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), at,
                             0, match_, nullptr);
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_);
        if (rc >= 0 && ov[1] > ov[0]) end = ov[0], next = ov[1];
      } else if (auto d = text.find(delimiter_, at); d != std::string_view::npos) {
        end = d, next = d + delimiter_.size();
      }
      std::string_view pair = text.substr(at, end - at);
      if (std::size_t colon = pair.find(label_); colon != std::string_view::npos) {
        out.push_back({pair.substr(0, colon), pair.substr(colon + label_.size())});
      }
      at = next;
    }
    return {};
  }

  std::string delimiter_, label_;
  pcre2_code* pattern_;
  pcre2_match_data* match_;
};

// Helpers for the access-log parsers: a cursor over the line.
struct Cursor {
  std::string_view s;
  std::size_t at = 0;
  bool eat(char c) {
    if (at < s.size() && s[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  bool eat(std::string_view t) {
    if (s.substr(at, t.size()) != t) return false;
    at += t.size();
    return true;
  }
  std::string_view until(char c) {  // up to (not including) c, or the end
    std::size_t e = s.find(c, at);
    if (e == std::string_view::npos) e = s.size();
    auto v = s.substr(at, e - at);
    at = e;
    return v;
  }
  // The inside of "...", where \" does not end it; the cursor after the quote.
  std::optional<std::string_view> quoted() {
    if (!eat('"')) return std::nullopt;
    std::size_t b = at;
    while (at < s.size() && s[at] != '"') at += s[at] == '\\' && at + 1 < s.size() ? 2 : 1;
    if (at >= s.size()) return std::nullopt;
    return s.substr(b, at++ - b);
  }
  bool done() const { return at >= s.size(); }
};

// host ident user [time] "method path protocol" code size ["referer" "agent"]:
// apache2 (a "-" becomes nil, code and size numbers) and nginx (text as is).
class AccessLogParser final : public FieldsParser {
 public:
  AccessLogParser(const config::Section& s, bool apache)
      : FieldsParser(s, "%d/%b/%Y:%H:%M:%S %z"), apache_(apache), time_key_(s.str("time_key")) {}

 private:
  Status split(std::string_view text, Fields& out) override {
    Cursor c{text};
    auto first = c.until(' ');
    if (!c.eat(' ')) return no("not an access log line");
    auto second = c.until(' ');
    if (!c.eat(' ')) return no("not an access log line");
    auto user = c.until(' ');
    if (!c.eat(" [")) return no("no [time]");
    auto time = c.until(']');
    if (!c.eat("] ")) return no("no [time]");
    auto request = c.quoted();
    if (!request || !c.eat(' ')) return no("no \"request\"");
    auto code = c.until(' ');
    if (!c.eat(' ')) return no("no size");
    auto size = c.until(' ');
    std::optional<std::string_view> referer, agent;
    if (c.eat(' ')) {
      referer = c.quoted();
      if (!referer || !c.eat(' ')) return no("no \"referer\" \"agent\"");
      agent = c.quoted();
      if (!agent) return no("no \"agent\"");
    }
    // nginx (Fluentd's expression): after the agent, whitespace and the
    // $http_x_forwarded_for field, quoted or not, to the end of the line.
    std::optional<std::string_view> forwarded;
    if (!apache_ && agent && !c.done() && std::isspace(static_cast<unsigned char>(c.s[c.at]))) {
      while (!c.done() && std::isspace(static_cast<unsigned char>(c.s[c.at]))) ++c.at;
      c.eat('"');
      forwarded = c.until('"');
      c.eat('"');
    }
    if (!c.done()) return no("text after the access log fields");
    Cursor r{*request};
    auto method = r.until(' ');
    std::optional<std::string_view> path;
    if (r.eat(' ')) {
      std::string_view rest = request->substr(r.at);
      std::size_t sp = rest.rfind(' ');
      path = sp == std::string_view::npos ? rest : rest.substr(0, sp);
    }
    if (method.empty()) return no("no method");
    auto dash = [&](std::optional<std::string_view> v) -> std::optional<std::string_view> {
      return apache_ && v && *v == "-" ? std::nullopt : v;
    };
    if (apache_) {
      out.push_back({"host", dash(first)});
      out.push_back({"user", dash(user)});
    } else {
      out.push_back({"remote", first});
      out.push_back({"host", second});
      out.push_back({"user", user});
    }
    if (!apache_) out.push_back({time_key_, time});  // nginx: where its expression has it
    out.push_back({"method", method});
    out.push_back({"path", path});
    if (apache_) {  // Fluentd's apache2: numbers; a code of 0 and a size of "-" are nil
      bool zero = code.empty() || code.find_first_not_of('0') == std::string_view::npos ||
                  !std::isdigit(static_cast<unsigned char>(code[0]));
      out.push_back({"code", zero ? std::nullopt : std::optional(code), true});
      out.push_back({"size", dash(size), true});
    } else {
      out.push_back({"code", code});
      out.push_back({"size", size});
    }
    out.push_back({"referer", dash(referer)});
    out.push_back({"agent", dash(agent)});
    if (forwarded) out.push_back({"http_x_forwarded_for", forwarded});
    if (apache_) out.push_back({time_key_, time});  // apache2: Fluentd adds it last
    return {};
  }

  bool apache_;
  std::string time_key_;
};

// [Wday Mon dd hh:mm:ss[.usec] yyyy] [module:level|level] [pid N[:tid M]] [client A] message
class ApacheErrorParser final : public FieldsParser {
 public:
  explicit ApacheErrorParser(const config::Section& s)
      : FieldsParser(s, "%b %d %H:%M:%S %Y"), time_key_(s.str("time_key")) {}

 private:
  Status split(std::string_view text, Fields& out) override {
    Cursor c{text};
    if (!c.eat('[')) return no("not an Apache error log line");
    c.until(' ');  // the weekday
    if (!c.eat(' ')) return no("no time");
    auto time = c.until(']');
    if (!c.eat("] [")) return no("no [level]");
    auto level = c.until(']');
    if (!c.eat(']')) return no("no [level]");
    std::optional<std::string_view> pid, client;
    if (c.eat(" [pid ")) {
      pid = c.until(']');
      if (!c.eat(']')) return no("no ] after pid");
    }
    if (c.eat(" [client ")) {
      client = c.until(']');
      if (!c.eat(']')) return no("no ] after client");
    }
    if (!c.eat(' ')) return no("no message");
    // Apache 2.4 writes microseconds ("14:32:52.123456"): dropped for the time.
    time_buf_ = std::string(time);
    if (auto dot = time_buf_.find('.'); dot != std::string::npos) {
      auto sp = time_buf_.find(' ', dot);
      time_buf_.erase(dot, sp == std::string::npos ? std::string::npos : sp - dot);
    }
    out.push_back({time_key_, std::string_view(time_buf_)});
    out.push_back({"level", level});
    if (pid) out.push_back({"pid", pid});
    if (client) out.push_back({"client", client});
    out.push_back({"message", text.substr(c.at)});
    return {};
  }

  std::string time_key_;
  std::string time_buf_;
};

// time stream logtag message. Without a nested <parse>: {stream, logtag,
// message, time (keep_time_key, default true)}. With one: its record of the
// message, plus stream and logtag (merge_cri_fields).
class CriParser final : public Parser {
 public:
  static Result<std::unique_ptr<Parser>> make(const config::Section& s) {
    std::unique_ptr<Parser> sub;
    if (const auto* nested = s.child("parse")) {
      auto p = make_parser(*nested);
      if (!p) return std::unexpected(p.error());
      sub = std::move(*p);
    }
    return std::unique_ptr<Parser>(new CriParser(s, std::move(sub)));
  }

  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    std::string_view part[4];
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) {
      std::size_t sp = text.find(' ', at);
      if (sp == std::string_view::npos)
        return make_error(ErrorCode::kInvalidArgument, "not a CRI line");
      part[i] = text.substr(at, sp - at);
      at = sp + 1;
    }
    part[3] = text.substr(at);
    if (sub_) {
      extra_.assign(extra.begin(), extra.end());
      if (merge_) {
        extra_.push_back({"stream", part[1]});
        extra_.push_back({"logtag", part[2]});
      }
      return sub_->parse(part[3], now, extra_, out);
    }
    auto t = time_.parse(part[0]);
    if (!t) return make_error(ErrorCode::kInvalidArgument, "CRI time does not parse");
    RecordWriter w(out);
    w.begin(*t, static_cast<std::uint32_t>(3 + (keep_time_ ? 1 : 0) + extra.size()));
    w.field("stream", part[1]);
    w.field("logtag", part[2]);
    w.field("message", part[3]);
    if (keep_time_) w.field(time_key_, part[0]);
    pack_extra(w, extra);
    w.end();
    return {};
  }

 private:
  CriParser(const config::Section& s, std::unique_ptr<Parser> sub)
      : sub_(std::move(sub)),
        time_(s),
        time_key_(s.str("time_key")),
        keep_time_(!s.explicitly_set("keep_time_key") || s.flag("keep_time_key")),
        merge_(s.flag("merge_cri_fields")) {}

  std::unique_ptr<Parser> sub_;
  TimeParser time_;
  std::string time_key_;
  bool keep_time_, merge_;
  std::vector<Extra> extra_;
};

// multi_format: each <pattern> in order; the first that parses wins. A text
// none parses fails with the last pattern's reason.
class MultiFormatParser final : public Parser {
 public:
  static Result<std::unique_ptr<Parser>> make(const config::Section& s) {
    std::vector<std::unique_ptr<Parser>> parsers;
    for (const config::Section* p : s.children("pattern")) {
      auto one = make_parser(*p);
      if (!one) return std::unexpected(one.error());
      parsers.push_back(std::move(*one));
    }
    if (parsers.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": multi_format needs at least one <pattern>");
    }
    return std::unique_ptr<Parser>(new MultiFormatParser(std::move(parsers)));
  }
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    Status last;
    for (auto& p : parsers_) {
      last = p->parse(text, now, extra, out);
      if (last) return last;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "no <pattern> parses it (last: " + last.error().message + ")");
  }

 private:
  explicit MultiFormatParser(std::vector<std::unique_ptr<Parser>> p) : parsers_(std::move(p)) {}
  std::vector<std::unique_ptr<Parser>> parsers_;
};

// multiline: format1..format20 joined into one expression ('.' matches
// newlines, as Ruby's /m), matched against the lines in_tail joined; a line
// matching format_firstline (anywhere in it) starts the next message.
class MultilineParser final : public Parser {
 public:
  static Result<std::unique_ptr<Parser>> make(const config::Section& s) {
    std::string pattern;
    std::uint32_t flags = PCRE2_DOTALL;
    int last = 0;
    for (int i = 1; i <= kMaxFormats; ++i) {
      std::string key = "format" + std::to_string(i);
      if (!s.is_set(key)) continue;
      if (last != i - 1) {
        return make_error(
            ErrorCode::kInvalidArgument,
            s.where().str() + ": " + key + " given without format" + std::to_string(i - 1));
      }
      last = i;
      pattern += strip_slashes(s.str(key), flags);
    }
    if (last == 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": multiline needs format1 (and format2..format" +
                            std::to_string(kMaxFormats) + " as needed)");
    }
    auto body = RegexpParser::make(s, pattern, flags, "format1..format" + std::to_string(last));
    if (!body) return std::unexpected(body.error());
    pcre2_code* first = nullptr;
    if (s.is_set("format_firstline")) {
      std::uint32_t fflags = 0;
      auto code = RegexpParser::compile(s, strip_slashes(s.str("format_firstline"), fflags), fflags,
                                        "format_firstline");
      if (!code) return std::unexpected(code.error());
      first = *code;
    }
    return std::unique_ptr<Parser>(new MultilineParser(std::move(*body), first));
  }
  ~MultilineParser() override {
    if (first_) {
      pcre2_match_data_free(match_);
      pcre2_code_free(first_);
    }
  }
  Status parse(std::string_view text, EventTime now, std::span<const Extra> extra,
               EventBatch& out) override {
    return body_->parse(text, now, extra, out);
  }
  Lines lines() const override { return first_ ? Lines::kFirstline : Lines::kUntilParsed; }
  bool firstline(std::string_view line) override {
    return pcre2_match(first_, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, match_,
                       nullptr) >= 0;
  }

  static constexpr int kMaxFormats = 20;  // Fluentd's limit

 private:
  MultilineParser(std::unique_ptr<RegexpParser> body, pcre2_code* first)
      : body_(std::move(body)), first_(first) {
    if (first_) match_ = pcre2_match_data_create_from_pattern(first_, nullptr);
  }
  std::unique_ptr<RegexpParser> body_;
  pcre2_code* first_;
  pcre2_match_data* match_ = nullptr;
};

}  // namespace

void pack_syslog(const SyslogMessage& m, IncludePri pri, std::span<const Extra> extra,
                 EventBatch& out) {
  bool with_pri = pri == IncludePri::kYes && m.pri >= 0;
  std::uint32_t n = with_pri + 2 + m.has_message + m.has_pid + (m.rfc5424 ? 2 : 0);
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
  if (m.has_message) w.field("message", m.message);
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

TimeParse make_time_parse(const config::Section& parse) {
  auto p = std::make_shared<TimeParser>(parse);
  return [p](std::string_view text) { return p->parse(text); };
}

Result<std::unique_ptr<Parser>> make_parser(const config::Section& s) {
  const auto& t = s.type();
  if (t == "none") return std::make_unique<NoneParser>(s);
  if (t == "json") return std::make_unique<JsonParser>(s);
  if (t == "regexp") {
    auto p = RegexpParser::make(s);
    if (!p) return std::unexpected(p.error());
    return std::unique_ptr<Parser>(std::move(*p));
  }
  if (t == "syslog") return std::make_unique<SyslogParser>(s);
  if (t == "csv") return std::make_unique<DelimitedParser>(s, true);
  if (t == "tsv") return std::make_unique<DelimitedParser>(s, false);
  if (t == "ltsv") return LtsvParser::make(s);
  if (t == "apache2") return std::make_unique<AccessLogParser>(s, true);
  if (t == "nginx") return std::make_unique<AccessLogParser>(s, false);
  if (t == "apache_error") return std::make_unique<ApacheErrorParser>(s);
  if (t == "cri") return CriParser::make(s);
  if (t == "multiline") return MultilineParser::make(s);
  if (t == "multi_format") return MultiFormatParser::make(s);
  return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": unknown parser " + t);
}

}  // namespace logctl::agentd
