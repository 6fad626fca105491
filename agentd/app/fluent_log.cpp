#include "agentd/app/fluent_log.h"

#include <algorithm>

#include "agentd/core/record_writer.h"
#include "agentd/router/tag_pattern.h"

namespace logctl::agentd {

FluentLog::FluentLog(Emitter& to, const Clock& clock, Metrics& metrics,
                     std::vector<log::Level> levels)
    : to_(to),
      clock_(clock),
      levels_(std::move(levels)),
      dropped_(metrics.counter("agentd_fluent_log_dropped_total",
                               "Log lines not sent to @FLUENT_LOG (queue full or refused).", {})) {
  log::set_sink([this](log::Level level, const std::string& message) {
    if (std::find(levels_.begin(), levels_.end(), level) == levels_.end()) return;
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      ++dropped_;
      return;
    }
    queue_.push_back(Line{clock_.now(), level, message});
  });
  thread_ = std::thread([this] { run(); });
}

FluentLog::~FluentLog() {
  log::set_sink(nullptr);
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FluentLog::run() {
  log::SinkScope no_feedback;  // this thread's own lines are not queued
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; });
    std::deque<Line> lines;
    lines.swap(queue_);
    bool stopping = stop_;
    lock.unlock();
    emit(lines);
    lock.lock();
    if (stopping) return;
  }
}

void FluentLog::emit(std::deque<Line>& lines) {
  // One batch per tag, in the order the lines came.
  while (!lines.empty()) {
    EventBatch batch;
    batch.tag = std::string("fluent.") + log::level_name(lines.front().level);
    log::Level level = lines.front().level;
    while (!lines.empty() && lines.front().level == level) {
      RecordWriter w(batch);
      w.begin(lines.front().time, 1);
      w.field("message", lines.front().message);
      w.end();
      lines.pop_front();
    }
    if (auto st = to_.emit(batch); !st) dropped_ += batch.entries.size();  // not retried
  }
}

std::vector<log::Level> top_level_log_levels(const config::PipelineConfig& cfg) {
  std::vector<log::Level> levels;
  std::string sections;
  for (auto level : {log::Level::kTrace, log::Level::kDebug, log::Level::kInfo, log::Level::kWarn,
                     log::Level::kError, log::Level::kFatal}) {
    std::string tag = std::string("fluent.") + log::level_name(level);
    bool taken = false;
    for (const auto& m : cfg.matches) {
      for (const auto& p : m.patterns) taken = taken || TagPattern(p).matches(tag);
    }
    if (!taken) continue;
    levels.push_back(level);
    sections += (sections.empty() ? "<match " : ", <match ") + tag + ">";
  }
  if (levels.size() == 6) sections = "<match fluent.**>";
  if (!levels.empty()) {
    log::warn("define " + sections +
              " to capture agentd's own log at the top level is deprecated (as in Fluentd); use "
              "<label @FLUENT_LOG> instead");
  }
  return levels;
}

}  // namespace logctl::agentd
