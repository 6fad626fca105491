#include "agentd/outputs/formatter.h"

#include <cstdio>
#include <ctime>

#include "agentd/core/msgpack_view.h"
#include "logctl/schema/values.h"

namespace logctl::agentd {
namespace {

void replace_offset(std::string& fmt, std::string_view token, long off, bool colon) {
  if (fmt.find(token) == std::string::npos) return;
  char z[16];
  int hours = static_cast<int>(std::labs(off) / 3600 % 100);
  int minutes = static_cast<int>((std::labs(off) % 3600) / 60);
  std::snprintf(z, sizeof z, colon ? "%c%02d:%02d" : "%c%02d%02d", off < 0 ? '-' : '+', hours,
                minutes);
  for (std::size_t p; (p = fmt.find(token)) != std::string::npos;) fmt.replace(p, token.size(), z);
}

}  // namespace

TimeFormatter::TimeFormatter(std::string format, bool utc, std::string zone)
    : format_(std::move(format)), utc_(utc) {
  has_fraction_ = format_.find("%L") != std::string::npos || format_.find("N") != std::string::npos;
  if (!zone.empty()) zone_ = Zone::named(zone);  // checked with the config
}

void TimeFormatter::append(std::string& out, EventTime t) {
  std::int64_t sec = t.ns >= 0 ? t.seconds() : (t.ns - 999'999'999) / 1'000'000'000;
  if (!has_fraction_ && sec == cached_second_) {
    out += cached_;
    return;
  }
  std::time_t tt = sec;
  std::tm tm{};
  long zone_offset = zone_ ? zone_->offset_at(sec) : 0;
  if (zone_) {
    tt += zone_offset;
    gmtime_r(&tt, &tm);
    tm.tm_gmtoff = zone_offset;
  } else if (utc_) {
    gmtime_r(&tt, &tm);
  } else {
    localtime_r(&tt, &tm);
  }
  std::string fmt = format_;
  if (has_fraction_) {
    char frac[16];
    auto nanos = static_cast<unsigned>(((t.ns % 1'000'000'000) + 1'000'000'000) % 1'000'000'000);
    auto replace = [&](const std::string& token, int digits) {
      std::snprintf(frac, sizeof frac, "%09u", nanos);
      std::string v(frac, static_cast<std::size_t>(digits));
      for (std::size_t p; (p = fmt.find(token)) != std::string::npos;)
        fmt.replace(p, token.size(), v);
    };
    replace("%3N", 3);
    replace("%6N", 6);
    replace("%9N", 9);
    replace("%N", 9);
    replace("%L", 3);
  }
  // strftime's %z reads tm_gmtoff, which gmtime_r clears, and it has no
  // %:z (Ruby's "+09:00", what Fluentd writes): both are done here.
  long off = zone_ ? zone_offset : utc_ ? 0 : tm.tm_gmtoff;
  replace_offset(fmt, "%:z", off, true);
  replace_offset(fmt, "%z", off, false);
  char buf[256];
  std::size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
  if (!has_fraction_) {
    cached_second_ = sec;
    cached_.assign(buf, n);
  }
  out.append(buf, n);
}

TimeFormatter time_formatter(const config::Section& s, const char* default_format) {
  bool utc = s.flag("utc") || !s.flag("localtime");
  std::string fmt = s.is_set("time_format") ? s.str("time_format") : default_format;
  if (fmt == kIso8601) {
    fmt = utc && !s.is_set("timezone") ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S%:z";
  }
  return TimeFormatter(fmt, utc, s.str("timezone"));
}

namespace {

void append_time(std::string& out, TimeFormatter& tf, const std::string& type, EventTime t) {
  if (type == "unixtime") {
    out += std::to_string(t.seconds());
  } else if (type == "float") {
    char b[40];
    std::snprintf(b, sizeof b, "%lld.%09u", static_cast<long long>(t.seconds()), t.nanos());
    out += b;
  } else {
    tf.append(out, t);
  }
}

class OutFileFormatter final : public Formatter {
 public:
  explicit OutFileFormatter(const config::Section& s)
      : tf_(time_formatter(s, kIso8601)),
        time_type_(s.str("time_type")),
        delimiter_(config::parse_delimiter(s.str("delimiter"))),
        output_tag_(s.flag("output_tag")),
        output_time_(s.flag("output_time")) {}
  void format(std::string& out, std::string_view tag, EventTime t,
              std::string_view record) override {
    if (output_time_) {
      append_time(out, tf_, time_type_, t);
      out += delimiter_;
    }
    if (output_tag_) {
      out += tag;
      out += delimiter_;
    }
    append_json(out, record);
    out.push_back('\n');
  }

 private:
  TimeFormatter tf_;
  std::string time_type_;
  std::string delimiter_;
  bool output_tag_, output_time_;
};

class JsonFormatter final : public Formatter {
 public:
  explicit JsonFormatter(const config::Section& s) : newline_(s.flag("add_newline")) {}
  void format(std::string& out, std::string_view, EventTime, std::string_view record) override {
    append_json(out, record);
    if (newline_) out.push_back('\n');
  }

 private:
  bool newline_;
};

class SingleValueFormatter final : public Formatter {
 public:
  explicit SingleValueFormatter(const config::Section& s)
      : key_{s.str("message_key")}, newline_(s.flag("add_newline")) {}
  void format(std::string& out, std::string_view, EventTime, std::string_view record) override {
    append_field(out, record, key_);
    if (newline_) out.push_back('\n');
  }

 private:
  std::vector<std::string> key_;
  bool newline_;
};

class LtsvFormatter final : public Formatter {
 public:
  explicit LtsvFormatter(const config::Section& s)
      : delimiter_(config::parse_delimiter(s.str("delimiter"))),
        label_(s.str("label_delimiter")),
        replacement_(s.str("replacement")),
        newline_(s.flag("add_newline")) {}
  void format(std::string& out, std::string_view, EventTime, std::string_view record) override {
    bool first = true;
    for_each_rendered_field(record, [&](std::string_view k, std::string_view v) {
      if (!first) out += delimiter_;
      first = false;
      out += k;
      out += label_;
      for (std::size_t p = 0; p < v.size();) {
        if (v.compare(p, delimiter_.size(), delimiter_) == 0) {
          out += replacement_;
          p += delimiter_.size();
        } else {
          out.push_back(v[p++]);
        }
      }
    });
    if (newline_) out.push_back('\n');
  }

 private:
  std::string delimiter_, label_, replacement_;
  bool newline_;
};

// Fluentd's csv formatter (Ruby's CSV): the named fields' Ruby text, every
// column quoted by default; without force_quotes only those holding the
// separator, a quote or a line break (and empty strings) are, nil is empty.
class CsvFormatter final : public Formatter {
 public:
  explicit CsvFormatter(const config::Section& s)
      : delimiter_(s.str("delimiter") == "\\t" || s.str("delimiter") == "TAB" ? "\t"
                                                                              : s.str("delimiter")),
        force_quotes_(s.flag("force_quotes")),
        newline_(s.flag("add_newline")) {
    for (const auto& f : s.array("fields")) {
      if (!f.empty()) fields_.push_back(field_path(f));
    }
  }
  void format(std::string& out, std::string_view, EventTime, std::string_view record) override {
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i) out += delimiter_;
      auto v = lookup_field(record, fields_[i]);
      bool quote = force_quotes_ || (v && (v->empty() || v->find(delimiter_) != std::string::npos ||
                                           v->find_first_of("\"\r\n") != std::string::npos));
      if (!quote) {
        out += v.value_or("");
        continue;
      }
      out.push_back('"');
      for (char c : v.value_or("")) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
      }
      out.push_back('"');
    }
    if (newline_) out.push_back('\n');
  }

 private:
  std::string delimiter_;
  bool force_quotes_, newline_;
  std::vector<std::vector<std::string>> fields_;
};

// Fluentd's hash formatter: the record as Ruby's Hash#to_s.
class HashFormatter final : public Formatter {
 public:
  explicit HashFormatter(const config::Section& s) : newline_(s.flag("add_newline")) {}
  void format(std::string& out, std::string_view, EventTime, std::string_view record) override {
    append_ruby_text(out, record);
    if (newline_) out.push_back('\n');
  }

 private:
  bool newline_;
};

class StdoutFormatter final : public Formatter {
 public:
  explicit StdoutFormatter(const config::Section& s)
      : tf_(time_formatter(s, "%Y-%m-%d %H:%M:%S.%N %z")), type_(s.str("output_type")) {}
  void format(std::string& out, std::string_view tag, EventTime t,
              std::string_view record) override {
    tf_.append(out, t);
    out += ' ';
    out += tag;
    out += ": ";
    if (type_ == "single_value") {
      out += lookup_field(record, {"message"}).value_or("");
    } else if (type_ == "ltsv") {
      bool first = true;
      for_each_rendered_field(record, [&](std::string_view k, std::string_view v) {
        out += first ? "" : "\t";
        first = false;
        out += k;
        out += ':';
        out += v;
      });
    } else {
      append_json(out, record);
    }
    out.push_back('\n');
  }

 private:
  TimeFormatter tf_;
  std::string type_;
};

}  // namespace

std::unique_ptr<Formatter> make_formatter(const config::Section& s) {
  const auto& t = s.type();
  if (t == "out_file") return std::make_unique<OutFileFormatter>(s);
  if (t == "json") return std::make_unique<JsonFormatter>(s);
  if (t == "single_value") return std::make_unique<SingleValueFormatter>(s);
  if (t == "ltsv") return std::make_unique<LtsvFormatter>(s);
  if (t == "csv") return std::make_unique<CsvFormatter>(s);
  if (t == "hash") return std::make_unique<HashFormatter>(s);
  return std::make_unique<StdoutFormatter>(s);
}

}  // namespace logctl::agentd
