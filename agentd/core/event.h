// Events on the data path.
//
// An event is tag + time (ns) + record. Records are never materialised as
// objects on the hot path: an input's parser packs each event straight into an
// EventBatch as a MessagePack entry `[EventTime, {record}]` — the same bytes
// Fluentd keeps in its chunks and sends in Forward mode — so buffers store and
// outputs read batches without re-encoding. EventTime is MessagePack ext type 0,
// 8 bytes: big-endian u32 seconds, u32 nanoseconds (Fluentd Forward Protocol v1).
// Thread safety: plain values; a batch belongs to one thread at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace logctl::agentd {

// Nanoseconds since the Unix epoch.
struct EventTime {
  std::int64_t ns = 0;
  std::int64_t seconds() const { return ns / 1'000'000'000; }
  std::uint32_t nanos() const { return static_cast<std::uint32_t>(ns % 1'000'000'000); }
};

// The most seconds either side of the epoch an EventTime holds (int64
// nanoseconds end in 2262; this is about 2255).
inline constexpr double kMaxEventSeconds = 9e9;

// Seconds (a number from outside: a record field, a forward message) as an
// EventTime; nullopt past kMaxEventSeconds, for NaN and inf (converting those
// to an integer is undefined behaviour).
inline std::optional<EventTime> event_time_from_seconds(double s) {
  if (!(std::fabs(s) < kMaxEventSeconds)) return std::nullopt;
  return EventTime{static_cast<std::int64_t>(s * 1e9)};
}

struct EntryRef {
  std::uint32_t offset;  // into EventBatch::data
  std::uint32_t size;    // bytes of the packed [time, record] entry
  EventTime time;
};

struct EventBatch {
  std::string tag;
  std::string data;  // concatenated packed entries
  std::vector<EntryRef> entries;

  void clear() {
    data.clear();
    entries.clear();
  }
  bool empty() const { return entries.empty(); }
  std::string_view entry(const EntryRef& e) const { return {data.data() + e.offset, e.size}; }
};

}  // namespace logctl::agentd
