// Time seam. Only main() builds SystemClock; tests pass a ManualClock so that
// time-dependent logic (flush deadlines, retry schedules) runs without sleeps.
// Thread safety: implementations must be safe to call from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "agentd/core/event.h"

namespace logctl::agentd {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual EventTime now() const = 0;                                 // wall clock
  virtual std::chrono::steady_clock::time_point steady() const = 0;  // for deadlines
};

class SystemClock final : public Clock {
 public:
  EventTime now() const override {
    auto d = std::chrono::system_clock::now().time_since_epoch();
    return EventTime{std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()};
  }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::now();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ns) : ns_(start_ns) {}
  EventTime now() const override { return EventTime{ns_.load()}; }
  std::chrono::steady_clock::time_point steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  void advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

 private:
  std::atomic<std::int64_t> ns_;
};

}  // namespace logctl::agentd
