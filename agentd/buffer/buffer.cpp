#include "agentd/buffer/buffer.h"

#include <ctime>
#include <limits>
#include <sstream>

#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"

namespace logctl::agentd {

using std::chrono::steady_clock;

Result<ChunkKeys> ChunkKeys::parse(const std::string& arg) {
  ChunkKeys k;
  std::string item;
  std::istringstream in(arg);
  while (std::getline(in, item, ',')) {
    std::istringstream words(item);
    for (std::string w; words >> w;) {
      if (w == "tag") {
        k.tag = true;
      } else if (w == "time") {
        k.time = true;
      } else if (w.rfind("$.", 0) == 0 || w.find_first_of("${}") == std::string::npos) {
        if (w == "$.") return make_error(ErrorCode::kInvalidArgument, "empty chunk key '$.'");
        k.fields.push_back(w);
      } else {
        return make_error(ErrorCode::kInvalidArgument, "invalid chunk key '" + w + "'");
      }
    }
  }
  return k;
}

namespace {

Labels labels(const std::string& id) {
  return {{"plugin_id", id}};
}

}  // namespace

Buffer::Buffer(std::string id, BufferOptions options, std::unique_ptr<ChunkStore> store,
               const Clock& clock, Metrics& metrics)
    : id_(std::move(id)),
      options_(std::move(options)),
      store_(std::move(store)),
      clock_(clock),
      g_bytes_(metrics.gauge("agentd_buffer_total_bytes", "Bytes in staged and queued chunks.",
                             labels(id_))),
      g_stage_(metrics.gauge("agentd_buffer_stage_chunks", "Staged chunks.", labels(id_))),
      g_queue_(metrics.gauge("agentd_buffer_queue_length", "Queued chunks.", labels(id_))),
      c_dropped_records_(metrics.counter("agentd_buffer_dropped_records_total",
                                         "Events dropped by drop_oldest_chunk.", labels(id_))),
      c_overflow_(metrics.counter("agentd_buffer_overflow_total",
                                  "Writes refused because total_limit_size was reached.",
                                  labels(id_))),
      c_write_errors_(metrics.counter("agentd_buffer_write_errors_total",
                                      "Chunk writes that failed (e.g. disk full).", labels(id_))),
      c_torn_records_(metrics.counter("agentd_buffer_torn_records_total",
                                      "Events in torn chunk tails discarded at recovery.",
                                      labels(id_))),
      c_torn_bytes_(metrics.counter("agentd_buffer_torn_bytes_total",
                                    "Bytes of damaged or torn frames cut out at recovery "
                                    "(kept as *.corrupt).",
                                    labels(id_))),
      c_corrupt_chunks_(metrics.counter("agentd_buffer_corrupt_chunks_total",
                                        "Unreadable chunk files quarantined at recovery.",
                                        labels(id_))) {}

Buffer::~Buffer() = default;

Status Buffer::start() {
  if (auto s = store_->open(); !s) return s;
  auto rec = store_->recover();
  if (!rec) return std::unexpected(rec.error());
  std::lock_guard lock(mu_);
  for (auto& c : rec->chunks) {
    if (auto s = c->mark_queued(); !s) log::error(s.error().message);
    total_bytes_ += c->bytes();
    queue_.push_back(std::move(c));
  }
  c_torn_records_ += rec->torn_records;
  c_torn_bytes_ += rec->torn_bytes;
  c_corrupt_chunks_ += rec->corrupt_chunks;
  if (!queue_.empty()) {
    log::info("buffer " + id_ + ": resumed " + std::to_string(queue_.size()) + " chunk(s), " +
              std::to_string(total_bytes_) + " bytes");
  }
  update_gauges();
  return {};
}

std::int64_t Buffer::timekey_of(std::int64_t seconds) const {
  std::int64_t tk = options_.timekey;
  std::int64_t offset = 0;
  if (!options_.timekey_use_utc) {
    // The local offset of the last second asked for, per thread: events come
    // in time order, and localtime_r per event was 2 % of the input thread.
    thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
    thread_local std::int64_t cached_offset = 0;
    if (seconds != cached_second) {
      std::time_t t = seconds;
      std::tm tm{};
      localtime_r(&t, &tm);
      cached_second = seconds;
      cached_offset = tm.tm_gmtoff;
    }
    offset = cached_offset;
  }
  std::int64_t local = seconds + offset;
  std::int64_t floored = local - ((local % tk) + tk) % tk;
  return floored - offset;
}

Result<ChunkMetadata> Buffer::metadata_of(const EventBatch& batch, const EntryRef& e) const {
  ChunkMetadata m;
  if (options_.keys.tag) m.tag = batch.tag;
  if (options_.keys.time) m.timekey = timekey_of(e.time.seconds());
  if (options_.keys.fields.empty()) return m;
  std::string_view record;
  auto s = for_each_entry(batch.entry(e), [&](EventTime, std::string_view r) { record = r; });
  if (!s) return std::unexpected(s.error());
  for (const auto& k : options_.keys.fields) {
    m.variables.emplace_back(k, lookup_field(record, field_path(k)).value_or(""));
  }
  return m;
}

Result<std::vector<Buffer::Group>> Buffer::group(const EventBatch& batch) const {
  std::vector<Group> groups;
  if (options_.keys.fields.empty()) {
    // Only the timekey can differ between the batch's events (one tag): no
    // metadata (and copy of the tag) per event.
    for (std::uint32_t i = 0; i < batch.entries.size(); ++i) {
      std::optional<std::int64_t> tk;
      if (options_.keys.time) tk = timekey_of(batch.entries[i].time.seconds());
      if (groups.empty() || groups.back().metadata.timekey != tk) {
        ChunkMetadata m;
        if (options_.keys.tag) m.tag = batch.tag;
        m.timekey = tk;
        groups.push_back(Group{std::move(m), {}});
        // The common case is one group for the whole batch.
        if (groups.size() == 1) groups.back().entries.reserve(batch.entries.size());
      }
      groups.back().entries.push_back(i);
    }
    return groups;
  }
  for (std::uint32_t i = 0; i < batch.entries.size(); ++i) {
    auto m = metadata_of(batch, batch.entries[i]);
    if (!m) return std::unexpected(m.error());
    if (groups.empty() || !(groups.back().metadata == *m)) {
      groups.push_back(Group{std::move(*m), {}});
    }
    groups.back().entries.push_back(i);
  }
  return groups;
}

Status Buffer::write(EventBatch& batch) {
  if (batch.empty()) return {};
  auto groups = group(batch);
  if (!groups) return std::unexpected(groups.error());
  std::unique_lock lock(mu_);
  std::size_t written = 0;  // a prefix of the batch: groups are in order
  for (const auto& g : *groups) {
    if (auto s = write_group(batch, g, written, lock); !s) {
      update_gauges();
      batch.entries.erase(batch.entries.begin(),
                          batch.entries.begin() + static_cast<std::ptrdiff_t>(written));
      return s;
    }
  }
  update_gauges();
  return {};
}

// Appends one group, splitting it across chunks at the chunk limits.
Status Buffer::write_group(const EventBatch& batch, const Group& g, std::size_t& written,
                           std::unique_lock<std::mutex>& lock) {
  const auto& idx = g.entries;
  std::string scratch;
  std::size_t i = 0;
  while (i < idx.size()) {
    auto it = stage_.find(g.metadata);
    std::uint64_t have_bytes = it == stage_.end() ? 0 : it->second->bytes();
    std::uint64_t have_records = it == stage_.end() ? 0 : it->second->records();
    // Take entries while they fit; a chunk always takes at least one entry,
    // so an event larger than chunk_limit_size gets a chunk of its own.
    std::size_t j = i;
    std::uint64_t bytes = 0;
    bool contiguous = true;
    while (j < idx.size()) {
      std::uint64_t sz = batch.entries[idx[j]].size;
      bool over_size = have_bytes + bytes + sz > options_.chunk_limit_size;
      bool over_count = options_.chunk_limit_records &&
                        have_records + (j - i) + 1 > *options_.chunk_limit_records;
      if ((over_size || over_count) && (j > i || have_records > 0)) break;
      if (j > i && idx[j] != idx[j - 1] + 1) contiguous = false;
      bytes += sz;
      ++j;
    }
    if (j == i) {  // the staged chunk is full: queue it and start another
      enqueue_locked(g.metadata);
      continue;
    }
    if (auto s = make_room(bytes, lock); !s) return s;
    std::string_view data;
    const auto& first = batch.entries[idx[i]];
    if (contiguous) {
      data = std::string_view(batch.data).substr(first.offset, bytes);
    } else {
      scratch.clear();
      for (std::size_t k = i; k < j; ++k) scratch.append(batch.entry(batch.entries[idx[k]]));
      data = scratch;
    }
    if (auto s = append_to_stage(g.metadata, batch.tag, data, static_cast<std::uint32_t>(j - i));
        !s) {
      return s;
    }
    written += j - i;
    i = j;
  }
  return {};
}

Status Buffer::append_to_stage(const ChunkMetadata& m, std::string_view tag, std::string_view data,
                               std::uint32_t count) {
  auto it = stage_.find(m);
  if (it == stage_.end()) {
    auto c = store_->create(m, clock_.now().ns);
    if (!c) {
      ++c_write_errors_;
      return std::unexpected(c.error());
    }
    it = stage_.emplace(m, std::shared_ptr<Chunk>(std::move(*c))).first;
    stage_created_[m] = clock_.steady();
  }
  auto& chunk = *it->second;
  if (auto s = chunk.append(tag, data, count); !s) {
    ++c_write_errors_;
    return s;
  }
  total_bytes_ += data.size();
  bool full = chunk.bytes() >= options_.chunk_limit_size * options_.chunk_full_threshold ||
              (options_.chunk_limit_records && chunk.records() >= *options_.chunk_limit_records);
  if (full || options_.flush_mode == FlushMode::kImmediate) enqueue_locked(m);
  return {};
}

Status Buffer::make_room(std::uint64_t need, std::unique_lock<std::mutex>& lock) {
  auto fits = [&] { return total_bytes_ + need <= options_.total_limit_size; };
  if (fits()) return {};
  if (need > options_.total_limit_size) {
    ++c_overflow_;
    return make_error(ErrorCode::kResourceExhausted, "buffer " + id_ + ": a write of " +
                                                         std::to_string(need) +
                                                         " bytes exceeds total_limit_size");
  }
  switch (options_.overflow_action) {
    case OverflowAction::kBlock:
      while (!fits() && !closing_) space_cv_.wait_for(lock, std::chrono::milliseconds(500));
      if (fits()) return {};
      break;
    case OverflowAction::kDropOldestChunk:
      while (!fits() && !queue_.empty()) {
        auto victim = queue_.front();
        queue_.pop_front();
        c_dropped_records_ += victim->records();
        total_bytes_ -= victim->bytes();
        log::warn("buffer " + id_ + ": full, dropped oldest chunk " + victim->id() + " (" +
                  std::to_string(victim->records()) + " events)");
        (void)victim->purge();
      }
      if (fits()) return {};
      break;
    case OverflowAction::kThrowException:
      break;
  }
  ++c_overflow_;
  return make_error(ErrorCode::kResourceExhausted, "buffer " + id_ + " is full (total_limit_size " +
                                                       std::to_string(options_.total_limit_size) +
                                                       " bytes)");
}

void Buffer::enqueue_locked(const ChunkMetadata& key) {
  const ChunkMetadata m = key;  // `key` may live in the map entry erased below
  auto it = stage_.find(m);
  if (it == stage_.end()) return;
  auto chunk = it->second;
  stage_.erase(it);
  stage_created_.erase(m);
  if (auto s = chunk->mark_queued(); !s) log::error("buffer " + id_ + ": " + s.error().message);
  queue_.push_back(std::move(chunk));
  queued_cv_.notify_one();
}

steady_clock::time_point Buffer::due_time(const Chunk& c) const {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  if (options_.flush_mode == FlushMode::kLazy && c.metadata().timekey) {
    // Flush when the timekey range plus timekey_wait has passed (wall clock).
    double end =
        static_cast<double>(*c.metadata().timekey + options_.timekey) + options_.timekey_wait;
    double wait_s = end - static_cast<double>(clock_.now().ns) / 1e9;
    return clock_.steady() + duration_cast<nanoseconds>(std::chrono::duration<double>(wait_s));
  }
  auto created = stage_created_.at(c.metadata());
  return created +
         duration_cast<nanoseconds>(std::chrono::duration<double>(options_.flush_interval));
}

std::optional<steady_clock::time_point> Buffer::enqueue_due() {
  std::lock_guard lock(mu_);
  auto now = clock_.steady();
  std::optional<steady_clock::time_point> next;
  std::vector<ChunkMetadata> due;
  for (const auto& [m, c] : stage_) {
    auto t = due_time(*c);
    if (t <= now) {
      due.push_back(m);
    } else if (!next || t < *next) {
      next = t;
    }
  }
  for (const auto& m : due) enqueue_locked(m);
  if (!due.empty()) update_gauges();
  return next;
}

void Buffer::enqueue_all() {
  std::lock_guard lock(mu_);
  while (!stage_.empty()) enqueue_locked(stage_.begin()->first);
  update_gauges();
}

std::shared_ptr<Chunk> Buffer::dequeue() {
  std::lock_guard lock(mu_);
  if (queue_.empty()) return nullptr;
  auto c = queue_.front();
  queue_.pop_front();
  ++dequeued_chunks_;
  update_gauges();
  return c;
}

void Buffer::takeback(std::shared_ptr<Chunk> chunk) {
  std::lock_guard lock(mu_);
  --dequeued_chunks_;
  queue_.push_front(std::move(chunk));
  update_gauges();
  space_cv_.notify_all();
}

void Buffer::purge(const std::shared_ptr<Chunk>& chunk) {
  {
    std::lock_guard lock(mu_);
    --dequeued_chunks_;
    total_bytes_ -= chunk->bytes();
    update_gauges();
  }
  if (auto s = chunk->purge(); !s) log::error("buffer " + id_ + ": " + s.error().message);
  space_cv_.notify_all();
}

void Buffer::wait_for_queue(steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  queued_cv_.wait_until(lock, until, [&] { return !queue_.empty() || woken_; });
  woken_ = false;
}

bool Buffer::wait_drained(steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  return space_cv_.wait_until(lock, until, [&] { return queue_.empty() && dequeued_chunks_ == 0; });
}

void Buffer::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  queued_cv_.notify_all();
}

void Buffer::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    stage_.clear();
    queue_.clear();
  }
  space_cv_.notify_all();
  store_->close();
}

std::vector<std::shared_ptr<Chunk>> Buffer::take_all() {
  std::vector<std::shared_ptr<Chunk>> out;
  {
    std::lock_guard lock(mu_);
    out.assign(queue_.begin(), queue_.end());
    for (auto& [m, c] : stage_) out.push_back(c);
    queue_.clear();
    stage_.clear();
    stage_created_.clear();
    total_bytes_ = 0;
    update_gauges();
  }
  space_cv_.notify_all();
  return out;
}

BufferStats Buffer::stats() const {
  std::lock_guard lock(mu_);
  return BufferStats{total_bytes_, stage_.size(), queue_.size()};
}

void Buffer::update_gauges() {
  g_bytes_ = static_cast<std::int64_t>(total_bytes_);
  g_stage_ = static_cast<std::int64_t>(stage_.size());
  g_queue_ = static_cast<std::int64_t>(queue_.size());
}

}  // namespace logctl::agentd
