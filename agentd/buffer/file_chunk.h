// File chunks: the on-disk chunk format (docs/chunk-format.md) and the store
// that owns one buffer directory.
//
// A directory is owned by one process at a time: open() takes a flock on
// "<dir>/buffer.lock" and fails with a clear error naming the holder's pid.
// Thread safety: FileChunkStore is used under its Buffer's lock.
#pragma once

#include <memory>
#include <string>

#include "agentd/buffer/chunk.h"
#include "agentd/platform/fs.h"

namespace logctl::agentd {

// Bump when the chunk file layout changes; readers reject newer versions.
// Written into every chunk header; never reuse a value.
inline constexpr std::uint16_t kChunkFormatVersion = 1;

struct FileStoreOptions {
  std::string dir;
  std::string path_suffix = ".log";
  mode_t file_mode = 0644;
  mode_t dir_mode = 0755;
  fs::Sync sync = fs::Sync::kNo;  // fsync each append (power-loss safety)
};

std::unique_ptr<ChunkStore> make_file_store(FileStoreOptions options);

// Frame layout, exposed for the golden and fuzz tests.
namespace chunk_format {
inline constexpr char kMagic[4] = {'L', 'G', 'C', 'K'};
inline constexpr std::uint32_t kFrameMagic = 0x4C474652;  // "LGFR"
inline constexpr std::size_t kFrameHeaderSize = 16;       // magic, len, count, crc32
std::string encode_header(const std::string& id, const ChunkMetadata& m, std::int64_t created_ns);
std::string encode_frame_header(std::string_view payload, std::uint32_t count);
}  // namespace chunk_format

}  // namespace logctl::agentd
