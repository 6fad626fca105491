// agentd's own log lines as events, as Fluentd emits its log — tag
// "fluent.<level>", record {"message": text} — to <label @FLUENT_LOG>, or,
// when the config has none, to the top level for the levels a top-level
// <match> takes (Fluentd's deprecated <match fluent.**>; a <match **> takes
// them all), through the top-level filters. Lines are queued
// (bounded; beyond it they are counted in agentd_fluent_log_dropped_total)
// and emitted by one thread every 200 ms through the label's gate (so they
// cross a handover like any labelled event). Lines logged while emitting are
// not queued: no feedback loop.
// Thread safety: the log sink runs on any thread; the rest is internal.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "agentd/core/clock.h"
#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/router/router.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

class FluentLog {
 public:
  // `levels`: which levels' lines go (the others are not sent); all by default.
  FluentLog(Emitter& to, const Clock& clock, Metrics& metrics,
            std::vector<log::Level> levels = {log::Level::kTrace, log::Level::kDebug,
                                              log::Level::kInfo, log::Level::kWarn,
                                              log::Level::kError, log::Level::kFatal});
  ~FluentLog();  // unhooks the log, emits what is queued, stops
  FluentLog(const FluentLog&) = delete;
  FluentLog& operator=(const FluentLog&) = delete;

  static constexpr std::size_t kMaxQueued = 10'000;

 private:
  struct Line {
    EventTime time;
    log::Level level;
    std::string message;
  };
  void run();
  void emit(std::deque<Line>& lines);

  Emitter& to_;
  const Clock& clock_;
  std::vector<log::Level> levels_;
  std::atomic<std::uint64_t>& dropped_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Line> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// For a config without <label @FLUENT_LOG>: the levels whose tag
// ("fluent.info", ...) a top-level <match> takes, with Fluentd's deprecation
// warning logged when there are any.
std::vector<log::Level> top_level_log_levels(const config::PipelineConfig& cfg);

}  // namespace logctl::agentd
