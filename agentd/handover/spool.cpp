#include "agentd/handover/spool.h"

#include <thread>

#include "agentd/buffer/file_chunk.h"
#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/outputs/output_runner.h"
#include "agentd/platform/fs.h"

namespace logctl::agentd {
namespace {

constexpr std::uint64_t kSpoolChunkBytes = 8 << 20;
constexpr const char* kOutputVariable = "@output";
constexpr const char* kLabelVariable = "@label";

std::unique_ptr<ChunkStore> spool_store(const std::string& dir) {
  FileStoreOptions o;
  o.dir = dir;
  o.path_suffix = ".spool";
  o.file_mode = 0600;
  o.dir_mode = 0700;
  return make_file_store(o);
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const std::string& dir) {
  auto store = spool_store(dir);
  if (auto s = store->open(); !s) return std::unexpected(s.error());
  return std::unique_ptr<Spool>(new Spool(dir, std::move(store)));
}

Spool::~Spool() {
  seal();
}

Result<Chunk*> Spool::chunk_for(const ChunkMetadata& m) {
  auto it = open_.find(m);
  if (it != open_.end() && it->second->bytes() < kSpoolChunkBytes) return it->second.get();
  if (it != open_.end()) {
    if (auto s = it->second->mark_queued(); !s) return std::unexpected(s.error());
    open_.erase(it);
  }
  auto c = store_->create(m, std::chrono::system_clock::now().time_since_epoch().count());
  if (!c) return std::unexpected(c.error());
  return open_.emplace(m, std::move(*c)).first->second.get();
}

Status Spool::emit(EventBatch& batch) {
  return emit_for_label(batch, "");
}

Status Spool::emit_for_label(EventBatch& batch, const std::string& label) {
  if (batch.empty()) return {};
  std::lock_guard lock(mu_);
  if (sealed_) return make_error(ErrorCode::kUnavailable, "handover spool " + dir_ + " is sealed");
  ChunkMetadata m;
  m.tag = batch.tag;
  if (!label.empty()) m.variables.emplace_back(kLabelVariable, label);
  auto c = chunk_for(m);
  if (!c) return std::unexpected(c.error());
  if (auto s =
          (*c)->append(batch.tag, batch.data, static_cast<std::uint32_t>(batch.entries.size()));
      !s) {
    return s;  // the batch is unchanged: the caller keeps it
  }
  batch.clear();
  return {};
}

Status Spool::keep(const std::string& output_id, const Chunk& chunk) {
  std::lock_guard lock(mu_);
  ChunkMetadata m = chunk.metadata();
  m.variables.emplace_back(kOutputVariable, output_id);
  auto c = copy_chunk(chunk, *store_, m);
  if (!c) return std::unexpected(c.error());
  return {};
}

void Spool::seal() {
  std::lock_guard lock(mu_);
  if (sealed_) return;
  sealed_ = true;
  for (auto& [m, c] : open_) {
    if (auto s = c->mark_queued(); !s) log::error(s.error().message);
  }
  open_.clear();
  store_->close();
}

Result<std::uint64_t> ingest_spool(const std::string& dir, const SpoolTargets& targets,
                                   std::chrono::steady_clock::time_point deadline) {
  auto store = spool_store(dir);
  if (auto s = store->open(); !s) return std::unexpected(s.error());
  auto rec = store->recover();
  if (!rec) return std::unexpected(rec.error());
  if (rec->torn_records > 0 || rec->corrupt_chunks > 0) {
    log::error("handover spool " + dir + ": " + std::to_string(rec->torn_records) +
               " torn record(s) and " + std::to_string(rec->corrupt_chunks) +
               " unreadable chunk(s) (a crash mid-write)");
  }
  std::uint64_t delivered = 0;
  for (auto& chunk : rec->chunks) {
    const auto& m = chunk->metadata();
    Emitter* router = targets.router;
    OutputRunner* output = nullptr;
    for (const auto& [k, v] : m.variables) {
      if (k == kOutputVariable && targets.output) output = targets.output(v);
      if (k == kLabelVariable && targets.label) {
        if (Emitter* l = targets.label(v)) {
          router = l;
        } else {
          log::warn("handover spool " + dir + ": <label " + v +
                    "> is not in this config; its events go to the top-level routes");
        }
      }
    }
    auto st = chunk->read([&](std::string_view tag, std::string_view unit) -> Status {
      EventBatch batch;
      batch.tag = tag;
      if (auto s = unit_to_batch(unit, batch); !s) return s;
      std::size_t n = batch.entries.size();
      for (;;) {
        auto s = output ? output->emit(batch) : router->emit(batch);
        if (s) break;
        if (s.error().code != ErrorCode::kResourceExhausted ||
            std::chrono::steady_clock::now() >= deadline) {
          return make_error(s.error().code, "handover spool " + dir + ": " + s.error().message);
        }
        // A full buffer drains on its own flush threads; wait for it.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      delivered += n;
      return {};
    });
    if (!st) return std::unexpected(st.error());
    (void)chunk->purge();
  }
  store->close();
  (void)fs::remove(dir + "/buffer.lock");
  (void)fs::remove(dir);
  return delivered;
}

}  // namespace logctl::agentd
