#include "agentd/app/fluent_log.h"

#include "agentd/core/record_writer.h"

namespace logctl::agentd {

FluentLog::FluentLog(Emitter& to, const Clock& clock, Metrics& metrics)
    : to_(to),
      clock_(clock),
      dropped_(metrics.counter("agentd_fluent_log_dropped_total",
                               "Log lines not sent to @FLUENT_LOG (queue full or refused).", {})) {
  log::set_sink([this](log::Level level, const std::string& message) {
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

}  // namespace logctl::agentd
