// A chunk: a run of packed events sharing one ChunkMetadata (the values of the
// buffer's chunk keys). Staged chunks take appends; queued chunks are immutable
// and wait for an output. Memory and file chunks share this interface.
//
// Lifecycle:   create --append*--> staged --mark_queued--> queued --purge--> gone
//                                                            ^  | takeback (write failed)
// Thread safety: a chunk is guarded by its Buffer's lock while staged; once
// queued it is immutable and read() may run on a flush thread without a lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd {

struct ChunkMetadata {
  std::optional<std::int64_t> timekey;  // start of the time range, seconds
  std::optional<std::string> tag;
  std::vector<std::pair<std::string, std::string>> variables;  // record keys -> values

  auto operator<=>(const ChunkMetadata&) const = default;
};

// 32 lowercase hex digits (128 random bits), as Fluentd's chunk ids.
std::string new_chunk_id();

class Chunk {
 public:
  Chunk(std::string id, ChunkMetadata metadata, std::int64_t created_ns)
      : id_(std::move(id)), metadata_(std::move(metadata)), created_ns_(created_ns) {}
  virtual ~Chunk() = default;

  const std::string& id() const { return id_; }
  const ChunkMetadata& metadata() const { return metadata_; }
  std::int64_t created_ns() const { return created_ns_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t records() const { return records_; }

  // Appends `count` packed entries of one tag as one unit: after a crash
  // either all of them are recovered or none. On error the chunk is unchanged.
  virtual Status append(std::string_view tag, std::string_view entries, std::uint32_t count) = 0;
  // Calls fn(tag, entries) with each appended unit, in order. Every unit keeps
  // its events' tag, whether or not tag is a chunk key (out_file writes it).
  using UnitFn = std::function<Status(std::string_view tag, std::string_view entries)>;
  virtual Status read(const UnitFn& fn) const = 0;
  virtual Status mark_queued() = 0;
  // Deletes the chunk's storage.
  virtual Status purge() = 0;

 protected:
  std::string id_;
  ChunkMetadata metadata_;
  std::int64_t created_ns_;
  std::uint64_t bytes_ = 0;
  std::uint64_t records_ = 0;
};

// Creates and recovers chunks of one buffer.
class ChunkStore {
 public:
  virtual ~ChunkStore() = default;
  // Takes ownership of the storage (file: the directory lock).
  virtual Status open() = 0;
  virtual Result<std::unique_ptr<Chunk>> create(const ChunkMetadata& metadata,
                                                std::int64_t now_ns) = 0;
  // Chunks left by a previous run, oldest first. A damaged frame is cut out
  // (kept as *.corrupt) and counted; reading resumes at the next valid frame.
  struct Recovered {
    std::vector<std::unique_ptr<Chunk>> chunks;
    std::uint64_t torn_frames = 0;     // damaged or incomplete frames dropped
    std::uint64_t torn_records = 0;    // events in them, where the frame header was intact
    std::uint64_t torn_bytes = 0;      // bytes dropped (kept aside as *.corrupt)
    std::uint64_t corrupt_chunks = 0;  // whole files unreadable (bad chunk header)
  };
  virtual Result<Recovered> recover() = 0;
  virtual void close() = 0;
  virtual bool persistent() const = 0;
};

std::unique_ptr<ChunkStore> make_memory_store();

// A queued copy of `from` in `to` with metadata `m`: every unit with its tag.
Result<std::unique_ptr<Chunk>> copy_chunk(const Chunk& from, ChunkStore& to,
                                          const ChunkMetadata& m);

}  // namespace logctl::agentd
