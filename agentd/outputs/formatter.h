// Formatters turn one event into bytes (Fluentd's <format>): out_file
// ("time<TAB>tag<TAB>json"), json, single_value, ltsv, stdout.
// Thread safety: format() mutates a per-instance time cache; use one formatter
// per thread (make_formatter is cheap).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agentd/core/event.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/zone.h"

namespace logctl::agentd {

// strftime with Fluentd's %L (ms) and %N / %3N / %6N / %9N (fractions), cached
// per second.
class TimeFormatter {
 public:
  TimeFormatter(std::string format, bool utc, std::string zone);
  void append(std::string& out, EventTime t);

 private:
  std::string format_;
  bool utc_;
  std::optional<Zone> zone_;  // `timezone` (+09:00, Asia/Tokyo): its offset at each time
  bool has_fraction_ = false;
  std::int64_t cached_second_ = INT64_MIN;
  std::string cached_;
};

// Fluentd's default time format is Ruby's Time#iso8601:
// "2026-11-24T10:00:00+09:00" in local time or a fixed zone, "...Z" in UTC.
constexpr const char* kIso8601 = "";
// The TimeFormatter a section's time_format / localtime / utc / timezone
// describe (`default_format` when time_format is unset).
TimeFormatter time_formatter(const config::Section& s, const char* default_format);

class Formatter {
 public:
  virtual ~Formatter() = default;
  virtual void format(std::string& out, std::string_view tag, EventTime time,
                      std::string_view packed_record) = 0;
};

std::unique_ptr<Formatter> make_formatter(const config::Section& format);

}  // namespace logctl::agentd
