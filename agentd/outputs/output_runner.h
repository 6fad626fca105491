// OutputRunner: one <match>'s output with its buffer, flush threads, retry
// state and optional <secondary>.
//
// Each of flush_thread_count threads loops: enqueue due chunks, take the
// oldest queued chunk, write it; on success purge it, on failure give it back
// and wait for the retry schedule (one schedule per output, as in Fluentd).
// When the schedule gives up, the chunk goes to <secondary> if configured,
// else it is dropped — logged and counted, never silently.
// A chunk that no retry can ever write (kInvalidArgument: a refused symlink,
// an invalid path) skips the schedule and never holds the queue: it goes to
// <secondary>, else to the quarantine directory (file chunks an operator can
// replay), counted and logged; only if both fail does it take the schedule.
// Thread safety: emit() from any thread; start()/stop() from one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agentd/buffer/buffer.h"
#include "agentd/buffer/retry.h"
#include "agentd/core/drain.h"
#include "agentd/outputs/inject.h"
#include "agentd/outputs/output.h"
#include "agentd/router/router.h"

namespace logctl::agentd {

enum class ShutdownFlush { kFlush, kKeep };

class OutputRunner;

// Watches a runner's writes: an output group (group.h) over its stores.
// Called on the runner's flush threads.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  virtual void on_written(OutputRunner& store) = 0;
  // A write failed with a retryable error. True when the observer took the
  // chunk's events elsewhere: the runner then purges the chunk instead of
  // retrying it.
  virtual bool on_failed(OutputRunner& store, const Chunk& chunk, const Error& e) = 0;
};

class OutputRunner final : public Emitter {
 public:
  OutputRunner(std::string id, std::string type, std::unique_ptr<Buffer> buffer,
               std::unique_ptr<Output> primary, std::unique_ptr<Output> secondary,
               RetryOptions retry, int threads, const Clock& clock, Metrics& metrics,
               std::string quarantine_dir = {});
  ~OutputRunner();

  Status start();
  Status emit(EventBatch& batch) override;
  // Flushes what flush_at_shutdown asks for (bounded by `deadline`), then stops.
  // Delivers what `drain` asks within `deadline` (a failing output keeps its
  // chunks), then closes the buffer.
  void stop(std::chrono::steady_clock::time_point deadline, Drain drain = Drain::kAsConfigured);
  // Writes what is queued (due already; staged chunks stay) while writes
  // succeed, until `deadline`.
  void deliver_queued(std::chrono::steady_clock::time_point deadline);
  // Handover: stops at once without flushing (a write in progress finishes),
  // gives a memory buffer's chunks to `keep`, closes the buffer (a file
  // buffer's chunks stay on disk for the next worker). Returns the events kept.
  Result<std::uint64_t> stop_for_handover(
      const std::function<Status(const std::string& id, const Chunk&)>& keep);

  const std::string& id() const { return id_; }
  Buffer& buffer() { return *buffer_; }
  // <label @ERROR>: where a chunk given up goes (after <secondary>, before
  // the quarantine directory or a drop). Null: none.
  void set_errors(Emitter* errors) { errors_ = errors; }
  // <inject>: applied to every event at emit (before the buffer).
  void set_injector(std::unique_ptr<Injector> i) { injector_ = std::move(i); }
  // Before start(); the observer outlives the runner's flush threads.
  void set_observer(StoreObserver* o) { observer_ = o; }

 private:
  std::unique_ptr<Injector> injector_;
  Emitter* errors_ = nullptr;
  bool to_error_label(const Chunk& chunk, const std::string& what);
  void flush_loop();
  void join_flush_threads();
  bool flush_one();  // false when nothing was queued
  void on_failure(std::shared_ptr<Chunk> chunk, const Error& e);
  // The unwritable chunk's way out; false when neither way took it.
  bool set_aside(const std::shared_ptr<Chunk>& chunk, const Error& e);
  Status quarantine(const Chunk& chunk);
  double now_s() const;

  std::string id_;
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<Output> primary_;
  std::unique_ptr<Output> secondary_;
  RetryOptions retry_options_;
  int thread_count_;
  const Clock& clock_;

  StoreObserver* observer_ = nullptr;
  std::string quarantine_dir_;
  std::mutex quarantine_mu_;
  std::mutex retry_mu_;
  std::optional<RetryState> retry_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;

  std::atomic<std::uint64_t>& c_emit_records_;
  std::atomic<std::uint64_t>& c_write_records_;
  std::atomic<std::uint64_t>& c_write_chunks_;
  std::atomic<std::uint64_t>& c_errors_;
  std::atomic<std::uint64_t>& c_retries_;
  std::atomic<std::uint64_t>& c_dropped_;
  std::atomic<std::uint64_t>& c_emit_errors_;
  std::atomic<std::uint64_t>& c_secondary_;
  std::atomic<std::uint64_t>& c_to_error_;
  std::atomic<std::uint64_t>& c_quarantined_;
};

}  // namespace logctl::agentd
