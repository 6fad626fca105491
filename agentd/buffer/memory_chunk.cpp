// Memory chunks: one std::string of concatenated entries per chunk.
#include <random>

#include "agentd/buffer/chunk.h"
#include "agentd/core/msgpack_view.h"

namespace logctl::agentd {

std::string new_chunk_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = rng();
    for (int i = 0; i < 16; ++i) id[half * 16 + i] = kHex[(v >> (i * 4)) & 0xf];
  }
  return id;
}

namespace {

class MemoryChunk final : public Chunk {
 public:
  using Chunk::Chunk;

  Status append(std::string_view tag, std::string_view entries, std::uint32_t count) override {
    units_.push_back(Unit{std::string(tag), std::string(entries)});
    bytes_ += entries.size();
    records_ += count;
    return {};
  }
  Status read(const UnitFn& fn) const override {
    for (const auto& u : units_) {
      if (auto s = fn(u.tag, u.entries); !s) return s;
    }
    return {};
  }
  Status mark_queued() override { return {}; }
  Status purge() override {
    units_.clear();
    units_.shrink_to_fit();
    return {};
  }

 private:
  struct Unit {
    std::string tag;
    std::string entries;
  };
  std::vector<Unit> units_;
};

class MemoryStore final : public ChunkStore {
 public:
  Status open() override { return {}; }
  Result<std::unique_ptr<Chunk>> create(const ChunkMetadata& m, std::int64_t now_ns) override {
    return std::make_unique<MemoryChunk>(new_chunk_id(), m, now_ns);
  }
  Result<Recovered> recover() override { return Recovered{}; }
  void close() override {}
  bool persistent() const override { return false; }
};

}  // namespace

std::unique_ptr<ChunkStore> make_memory_store() {
  return std::make_unique<MemoryStore>();
}

Result<std::unique_ptr<Chunk>> copy_chunk(const Chunk& from, ChunkStore& to,
                                          const ChunkMetadata& m) {
  auto c = to.create(m, from.created_ns());
  if (!c) return std::unexpected(c.error());
  auto s = from.read([&](std::string_view tag, std::string_view unit) {
    std::uint32_t n = 0;
    if (auto r = for_each_entry(unit, [&](EventTime, std::string_view) { ++n; }); !r) return r;
    return (*c)->append(tag, unit, n);
  });
  if (s) s = (*c)->mark_queued();
  if (!s) {
    (void)(*c)->purge();
    return std::unexpected(s.error());
  }
  return c;
}

}  // namespace logctl::agentd
