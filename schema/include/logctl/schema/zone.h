// Time zones as Fluentd's `timezone` parameters name them ("+09:00",
// "-0500", "+09", "Z", "UTC", "Asia/Tokyo"), read through CCTZ (Debian's libcctz:
// the system's zoneinfo, no global TZ state, safe on any thread).
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace logctl {

class Zone {
 public:
  // nullopt when the text names no zone (a config error for the caller).
  static std::optional<Zone> named(std::string_view name);
  static Zone local();
  static Zone utc();

  // The wall-clock time `civil` (tm_year.. tm_sec) in this zone, as seconds
  // since the epoch (a skipped or repeated local time resolves as CCTZ's
  // "pre" does, the offset in force before the change, as Ruby's Time.local).
  std::int64_t to_epoch(const std::tm& civil) const;
  // Seconds east of UTC at `epoch`.
  long offset_at(std::int64_t epoch) const;

 private:
  struct Impl;
  explicit Zone(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace logctl
