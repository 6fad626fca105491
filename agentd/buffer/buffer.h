// Buffer: Fluentd's <buffer> semantics for one output.
//
// write() groups a batch's events by chunk keys (tag, time/timekey, record
// fields incl. $.nested.field) into staged chunks, splitting at
// chunk_limit_size / chunk_limit_records; full chunks, chunks whose timekey
// range has passed (lazy), whose flush_interval elapsed (interval), or every
// chunk at once (immediate) move to the queue, where flush threads take them.
// total_limit_size bounds staged + queued bytes; overflow_action decides what a
// write that does not fit does: throw_exception (return kResourceExhausted),
// block (wait for space), drop_oldest_chunk (drop queued chunks, counted).
//
// Thread safety: every public method is safe from any thread (one mutex).
// Chunk appends do file I/O under that mutex; queued chunks are read by
// outputs without it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agentd/buffer/chunk.h"
#include "agentd/core/clock.h"
#include "agentd/core/event.h"
#include "agentd/core/metrics.h"

namespace logctl::agentd {

enum class FlushMode { kLazy, kInterval, kImmediate };
enum class OverflowAction { kThrowException, kBlock, kDropOldestChunk };

struct ChunkKeys {
  bool tag = false;
  bool time = false;
  std::vector<std::string> fields;  // "host" or "$.kubernetes.pod"

  // Parses "<buffer tag,time,$.a.b>"'s argument.
  static Result<ChunkKeys> parse(const std::string& arg);
};

struct BufferOptions {
  ChunkKeys keys;
  std::uint64_t chunk_limit_size = 8 << 20;
  std::optional<std::uint64_t> chunk_limit_records;
  std::uint64_t total_limit_size = 512ull << 20;
  double chunk_full_threshold = 0.95;
  FlushMode flush_mode = FlushMode::kInterval;
  double flush_interval = 60;
  OverflowAction overflow_action = OverflowAction::kThrowException;
  std::int64_t timekey = 0;  // seconds; 0 = no time key
  double timekey_wait = 600;
  bool timekey_use_utc = false;
  bool flush_at_shutdown = true;
};

struct BufferStats {
  std::uint64_t bytes = 0;
  std::uint64_t stage_chunks = 0;
  std::uint64_t queue_chunks = 0;
};

class Buffer {
 public:
  Buffer(std::string id, BufferOptions options, std::unique_ptr<ChunkStore> store,
         const Clock& clock, Metrics& metrics);
  ~Buffer();

  // Opens the store and puts chunks left by a previous run in the queue.
  Status start();
  // Appends the batch's events in order. On error, the events already
  // appended are removed from `batch` (it keeps exactly what is left to
  // write), so a caller that retries never writes an event twice.
  Status write(EventBatch& batch);

  // Moves staged chunks whose flush time has come to the queue; returns when
  // the next staged chunk becomes due (or nullopt).
  std::optional<std::chrono::steady_clock::time_point> enqueue_due();
  void enqueue_all();

  // Takes the oldest queued chunk, or nullptr when the queue is empty.
  std::shared_ptr<Chunk> dequeue();
  // Gives a chunk back after a failed write (it is retried first).
  void takeback(std::shared_ptr<Chunk> chunk);
  // Deletes a written (or abandoned) chunk and frees its space.
  void purge(const std::shared_ptr<Chunk>& chunk);
  // Waits until a chunk is queued, `until` passes, or wake() is called.
  void wait_for_queue(std::chrono::steady_clock::time_point until);
  void wake();
  // Waits until nothing is queued or being written, or `until` passes.
  bool wait_drained(std::chrono::steady_clock::time_point until);
  // Closes the store; staged chunks of a file buffer stay on disk.
  void close();
  // Removes and returns every staged and queued chunk, oldest first (for a
  // memory buffer handing its events to the handover spool). Call only when
  // no flush thread runs.
  std::vector<std::shared_ptr<Chunk>> take_all();

  BufferStats stats() const;
  const BufferOptions& options() const { return options_; }
  bool persistent() const { return store_->persistent(); }

 private:
  struct Group {
    ChunkMetadata metadata;
    std::vector<std::uint32_t> entries;  // indices into the batch
  };
  // Consecutive runs of events with equal metadata, in batch order.
  Result<std::vector<Group>> group(const EventBatch& batch) const;
  Result<ChunkMetadata> metadata_of(const EventBatch& batch, const EntryRef& e) const;
  std::int64_t timekey_of(std::int64_t seconds) const;
  Status write_group(const EventBatch& batch, const Group& g, std::size_t& written,
                     std::unique_lock<std::mutex>& lock);
  Status make_room(std::uint64_t need, std::unique_lock<std::mutex>& lock);
  Status append_to_stage(const ChunkMetadata& m, std::string_view tag, std::string_view data,
                         std::uint32_t count);
  void enqueue_locked(const ChunkMetadata& m);
  std::chrono::steady_clock::time_point due_time(const Chunk& c) const;
  void update_gauges();

  std::string id_;
  BufferOptions options_;
  std::unique_ptr<ChunkStore> store_;
  const Clock& clock_;

  mutable std::mutex mu_;
  std::condition_variable queued_cv_;  // a chunk was queued, or wake()
  std::condition_variable space_cv_;   // bytes were freed
  std::map<ChunkMetadata, std::shared_ptr<Chunk>> stage_;
  std::map<ChunkMetadata, std::chrono::steady_clock::time_point> stage_created_;
  std::deque<std::shared_ptr<Chunk>> queue_;
  std::uint64_t total_bytes_ = 0;  // staged + queued + dequeued
  std::uint64_t dequeued_chunks_ = 0;
  bool closing_ = false;
  bool woken_ = false;

  std::atomic<std::int64_t>& g_bytes_;
  std::atomic<std::int64_t>& g_stage_;
  std::atomic<std::int64_t>& g_queue_;
  std::atomic<std::uint64_t>& c_dropped_records_;
  std::atomic<std::uint64_t>& c_overflow_;
  std::atomic<std::uint64_t>& c_write_errors_;
  std::atomic<std::uint64_t>& c_torn_records_;
  std::atomic<std::uint64_t>& c_torn_bytes_;
  std::atomic<std::uint64_t>& c_corrupt_chunks_;
};

}  // namespace logctl::agentd
