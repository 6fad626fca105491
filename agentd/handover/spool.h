// The handover spool: events a worker holds while it is not allowed to write
// its outputs — what its network inputs receive in the source-only phase and
// the chunks its memory buffers held — in one directory of file chunks
// (docs/chunk-format.md) under the agent's data directory, never /tmp.
//
// Chunks carry the events' tag; chunks that came from a memory buffer also
// name their output (variable "@output"), so the next worker gives them to
// the output with the same @id (or routes them by tag when it has none);
// events of a labelled source name their <label> (variable "@label").
// A spool left by a crash is found again by the supervisor's next start
// (every directory under <data>/handover/ is ingested) — see docs.
// Thread safety: Spool::emit from any thread (one lock); the rest from one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agentd/buffer/chunk.h"
#include "agentd/router/router.h"

namespace logctl::agentd {

class OutputRunner;

class Spool final : public Emitter {
 public:
  // Creates (or reopens) `dir` and takes its lock.
  static Result<std::unique_ptr<Spool>> open(const std::string& dir);
  ~Spool() override;

  Status emit(EventBatch& batch) override;
  // As emit(), for the events of a source with @label `label`.
  Status emit_for_label(EventBatch& batch, const std::string& label);
  // Copies a memory-buffer chunk, keeping its metadata and output id.
  Status keep(const std::string& output_id, const Chunk& chunk);
  // Closes every chunk and releases the lock; emit() fails afterwards.
  void seal();
  const std::string& dir() const { return dir_; }

 private:
  Spool(std::string dir, std::unique_ptr<ChunkStore> store)
      : dir_(std::move(dir)), store_(std::move(store)) {}
  Result<Chunk*> chunk_for(const ChunkMetadata& m);

  std::string dir_;
  std::unique_ptr<ChunkStore> store_;
  std::mutex mu_;
  std::map<ChunkMetadata, std::unique_ptr<Chunk>> open_;
  bool sealed_ = false;
};

// Where ingest() delivers: the output with an @id (nullptr if none) and the
// router for everything else.
struct SpoolTargets {
  std::function<OutputRunner*(const std::string& id)> output;
  Emitter* router = nullptr;
  // The router of a <label> (null: unknown now; then `router`).
  std::function<Emitter*(const std::string& label)> label;
};

// Delivers every event of a sealed spool and deletes it. A target that
// refuses (full buffer) is retried until `deadline`; what is left then stays
// on disk and the error says how much.
Result<std::uint64_t> ingest_spool(const std::string& dir, const SpoolTargets& targets,
                                   std::chrono::steady_clock::time_point deadline);

}  // namespace logctl::agentd
