#include "agentd/outputs/output_runner.h"

#include "agentd/core/record_writer.h"

#include "agentd/buffer/file_chunk.h"
#include "agentd/core/log.h"

namespace logctl::agentd {

using std::chrono::steady_clock;

namespace {
Labels labels(const std::string& id, const std::string& type) {
  return {{"plugin_id", id}, {"type", type}};
}
}  // namespace

OutputRunner::OutputRunner(std::string id, std::string type, std::unique_ptr<Buffer> buffer,
                           std::unique_ptr<Output> primary, std::unique_ptr<Output> secondary,
                           RetryOptions retry, int threads, const Clock& clock, Metrics& m,
                           std::string quarantine_dir)
    : id_(std::move(id)),
      buffer_(std::move(buffer)),
      primary_(std::move(primary)),
      secondary_(std::move(secondary)),
      retry_options_(retry),
      thread_count_(std::max(1, threads)),
      clock_(clock),
      quarantine_dir_(std::move(quarantine_dir)),
      c_emit_records_(m.counter("agentd_output_emit_records_total",
                                "Events accepted into the output's buffer.", labels(id_, type))),
      c_write_records_(m.counter("agentd_output_write_records_total",
                                 "Events written by the output.", labels(id_, type))),
      c_write_chunks_(
          m.counter("agentd_output_write_chunks_total", "Chunks written.", labels(id_, type))),
      c_errors_(
          m.counter("agentd_output_write_errors_total", "Failed chunk writes.", labels(id_, type))),
      c_retries_(m.counter("agentd_output_retries_total", "Chunk write retries scheduled.",
                           labels(id_, type))),
      c_dropped_(m.counter("agentd_output_dropped_records_total",
                           "Events dropped after the retry limit with no <secondary>.",
                           labels(id_, type))),
      c_emit_errors_(m.counter("agentd_output_emit_errors_total",
                               "Batches the buffer refused (full buffer, disk error).",
                               labels(id_, type))),
      c_secondary_(m.counter("agentd_output_secondary_records_total",
                             "Events written to <secondary>.", labels(id_, type))),
      c_to_error_(m.counter("agentd_output_error_label_records_total",
                            "Events of chunks given up that went to <label @ERROR>.",
                            labels(id_, type))),
      c_quarantined_(m.counter("agentd_output_quarantined_records_total",
                               "Events of chunks no retry could write, moved to the "
                               "quarantine directory.",
                               labels(id_, type))) {}

OutputRunner::~OutputRunner() {
  stopping_ = true;
  buffer_->wake();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

Status OutputRunner::start() {
  if (auto s = primary_->start(); !s) return s;
  if (secondary_) {
    if (auto s = secondary_->start(); !s) return s;
  }
  if (auto s = buffer_->start(); !s) return s;
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { flush_loop(); });
  return {};
}

Status OutputRunner::emit(EventBatch& batch) {
  std::size_t before = batch.entries.size();
  if (injector_) {  // the caller's batch stays as it was (a copy group shares it)
    EventBatch injected;
    injector_->apply(batch, injected);
    auto s = buffer_->write(injected);
    std::size_t accepted = before - injected.entries.size();
    batch.entries.erase(batch.entries.begin(),
                        batch.entries.begin() + static_cast<std::ptrdiff_t>(accepted));
    c_emit_records_ += accepted;
    if (!s) ++c_emit_errors_;
    return s;
  }
  auto s = buffer_->write(batch);
  if (s) {
    c_emit_records_ += before;
  } else {
    c_emit_records_ += before - batch.entries.size();
    ++c_emit_errors_;
  }
  return s;
}

double OutputRunner::now_s() const {
  return static_cast<double>(clock_.now().ns) / 1e9;
}

void OutputRunner::flush_loop() {
  while (!stopping_) {
    auto next_due = buffer_->enqueue_due();
    std::optional<double> retry_at;
    {
      std::lock_guard lock(retry_mu_);
      if (retry_ && retry_->next_time() > now_s()) retry_at = retry_->next_time();
    }
    if (!retry_at && flush_one()) continue;
    // Sleep until something is queued, a staged chunk is due, or the retry
    // time comes; never longer than a second so stop() is prompt.
    auto until = clock_.steady() + std::chrono::seconds(1);
    if (next_due && *next_due < until) until = *next_due;
    if (retry_at) {
      auto at = clock_.steady() + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::duration<double>(*retry_at - now_s()));
      if (at < until) until = at;
      std::this_thread::sleep_until(until);  // the queue is not what we wait for here
    } else {
      buffer_->wait_for_queue(until);
    }
  }
}

bool OutputRunner::flush_one() {
  auto chunk = buffer_->dequeue();
  if (!chunk) return false;
  bool to_secondary = false;
  {
    std::lock_guard lock(retry_mu_);
    to_secondary = secondary_ && retry_ && retry_->use_secondary(now_s());
  }
  auto s = to_secondary ? secondary_->write(*chunk) : primary_->write(*chunk);
  if (!s) {
    on_failure(std::move(chunk), s.error());
    return true;
  }
  (to_secondary ? c_secondary_ : c_write_records_) += chunk->records();
  ++c_write_chunks_;
  if (observer_ && !to_secondary) observer_->on_written(*this);
  {
    std::lock_guard lock(retry_mu_);
    if (retry_) log::info("output " + id_ + ": write succeeded, retry state cleared");
    retry_.reset();
  }
  buffer_->purge(chunk);
  return true;
}

bool OutputRunner::set_aside(const std::shared_ptr<Chunk>& chunk, const Error& e) {
  std::string what = "output " + id_ + ": chunk " + chunk->id() + " (" +
                     std::to_string(chunk->records()) + " events) can never be written (" +
                     e.message + ")";
  if (secondary_) {
    if (auto s = secondary_->write(*chunk)) {
      c_secondary_ += chunk->records();
      log::error(what + "; written to <secondary>");
      return true;
    } else {
      log::error(what + "; <secondary> failed too: " + s.error().message);
    }
  }
  if (to_error_label(*chunk, what)) return true;
  if (quarantine_dir_.empty()) return false;
  if (auto s = quarantine(*chunk); !s) {
    log::error(what + "; quarantine failed: " + s.error().message);
    return false;
  }
  c_quarantined_ += chunk->records();
  log::error(what + "; moved to " + quarantine_dir_ + "; the rest of the queue flows");
  return true;
}

Status OutputRunner::quarantine(const Chunk& chunk) {
  std::lock_guard lock(quarantine_mu_);
  FileStoreOptions o;
  o.dir = quarantine_dir_;
  o.sync = fs::Sync::kYes;
  auto store = make_file_store(o);
  if (auto s = store->open(); !s) return s;
  auto copy = copy_chunk(chunk, *store, chunk.metadata());
  store->close();
  if (!copy) return std::unexpected(copy.error());
  return {};
}

void OutputRunner::on_failure(std::shared_ptr<Chunk> chunk, const Error& e) {
  ++c_errors_;
  if (e.code == ErrorCode::kInvalidArgument && set_aside(chunk, e)) {
    buffer_->purge(chunk);
    return;
  }
  if (e.code != ErrorCode::kInvalidArgument && observer_ &&
      observer_->on_failed(*this, *chunk, e)) {
    buffer_->purge(chunk);  // its events are in another store's buffer now
    return;
  }
  std::lock_guard lock(retry_mu_);
  double now = now_s();
  if (!retry_) retry_.emplace(retry_options_, now);
  if (retry_->step(now)) {
    ++c_retries_;
    log::warn("output " + id_ + ": failed to write chunk " + chunk->id() + ": " + e.message +
              "; retry " + std::to_string(retry_->steps()) + " in " +
              std::to_string(retry_->next_time() - now) + "s");
    buffer_->takeback(std::move(chunk));
    return;
  }
  retry_.reset();
  std::string what = "output " + id_ + ": retry limit reached for chunk " + chunk->id() + " (" +
                     std::to_string(chunk->records()) + " events): " + e.message;
  if (!to_error_label(*chunk, what)) {
    c_dropped_ += chunk->records();
    log::error(what + "; dropped");
  }
  buffer_->purge(chunk);
}

bool OutputRunner::to_error_label(const Chunk& chunk, const std::string& what) {
  if (!errors_) return false;
  std::uint64_t moved = 0;
  auto st = chunk.read([&](std::string_view tag, std::string_view unit) -> Status {
    EventBatch batch;
    batch.tag = tag;
    if (auto u = unit_to_batch(unit, batch); !u) return u;
    std::size_t n = batch.entries.size();
    if (auto w = errors_->emit(batch); !w) return w;
    moved += n;
    return {};
  });
  if (!st) {  // what went may arrive twice (also wherever the chunk goes next)
    log::error(what + "; @ERROR refused it after " + std::to_string(moved) +
               " events: " + st.error().message);
    return false;
  }
  c_to_error_ += moved;
  log::error(what + "; sent to @ERROR");
  return true;
}

void OutputRunner::join_flush_threads() {
  stopping_ = true;
  buffer_->wake();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

Result<std::uint64_t> OutputRunner::stop_for_handover(
    const std::function<Status(const std::string& id, const Chunk&)>& keep) {
  join_flush_threads();
  std::uint64_t kept = 0;
  if (!buffer_->persistent()) {
    for (const auto& c : buffer_->take_all()) {
      if (auto s = keep(id_, *c); !s) {
        buffer_->close();
        return std::unexpected(s.error());
      }
      kept += c->records();
    }
  }
  buffer_->close();
  return kept;
}

void OutputRunner::deliver_queued(steady_clock::time_point deadline) {
  // While writes succeed: a failing output keeps its chunks.
  while (clock_.steady() < deadline) {
    {
      std::lock_guard lock(retry_mu_);
      if (retry_) break;
    }
    if (buffer_->wait_drained(
            std::min(deadline, clock_.steady() + std::chrono::milliseconds(200)))) {
      break;
    }
  }
}

void OutputRunner::stop(steady_clock::time_point deadline, Drain drain) {
  if (buffer_->options().flush_at_shutdown || drain == Drain::kEverything) {
    buffer_->enqueue_all();
    deliver_queued(deadline);  // what is left: a file buffer resumes it at the next start
  }
  join_flush_threads();
  auto st = buffer_->stats();
  if (st.bytes > 0) {
    log::info(
        "output " + id_ + ": " + std::to_string(st.stage_chunks + st.queue_chunks) +
        " chunk(s) left in the " +
        (buffer_->persistent() ? "file buffer (resumed at next start)" : "memory buffer (lost)"));
  }
  buffer_->close();
}

}  // namespace logctl::agentd
