#include "logctl/schema/zone.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include <chrono>

namespace logctl {

struct Zone::Impl {
  cctz::time_zone tz;
};

namespace {

// "+09:00", "-0530", "+09", "Z" -> seconds east of UTC.
std::optional<long> fixed_offset(std::string_view z) {
  if (z == "Z") return 0;
  if (z.size() < 3 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  auto digits = [&](std::size_t at) -> std::optional<int> {
    if (at + 2 > z.size() || !std::isdigit(static_cast<unsigned char>(z[at])) ||
        !std::isdigit(static_cast<unsigned char>(z[at + 1]))) {
      return std::nullopt;
    }
    return (z[at] - '0') * 10 + (z[at + 1] - '0');
  };
  auto h = digits(1);
  std::optional<int> m = 0;
  if (z.size() == 6 && z[3] == ':') {
    m = digits(4);
  } else if (z.size() == 5) {
    m = digits(3);
  } else if (z.size() != 3) {
    return std::nullopt;
  }
  if (!h || !m || *h > 23 || *m > 59) return std::nullopt;
  return (z[0] == '-' ? -1L : 1L) * (*h * 3600L + *m * 60L);
}

}  // namespace

std::optional<Zone> Zone::named(std::string_view name) {
  auto impl = std::make_shared<Impl>();
  if (auto off = fixed_offset(name)) {
    impl->tz = cctz::fixed_time_zone(std::chrono::seconds(*off));
  } else if (name.empty() || name.find("..") != std::string_view::npos || name[0] == '/' ||
             !cctz::load_time_zone(std::string(name), &impl->tz)) {
    return std::nullopt;  // (no path outside the zoneinfo directory is read)
  }
  return Zone(std::move(impl));
}

Zone Zone::local() {
  auto impl = std::make_shared<Impl>();
  impl->tz = cctz::local_time_zone();
  return Zone(std::move(impl));
}

Zone Zone::utc() {
  auto impl = std::make_shared<Impl>();
  impl->tz = cctz::utc_time_zone();
  return Zone(std::move(impl));
}

std::int64_t Zone::to_epoch(const std::tm& t) const {
  cctz::civil_second cs(t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
  auto lookup = impl_->tz.lookup(cs);
  return std::chrono::duration_cast<std::chrono::seconds>(lookup.pre.time_since_epoch()).count();
}

long Zone::offset_at(std::int64_t epoch) const {
  auto tp = std::chrono::time_point_cast<cctz::seconds>(std::chrono::system_clock::from_time_t(0)) +
            cctz::seconds(epoch);
  return impl_->tz.lookup(tp).offset;
}

}  // namespace logctl
