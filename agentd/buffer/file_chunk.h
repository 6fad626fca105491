// File chunks: the on-disk chunk format (docs/chunk-format.md) and the store
// that owns one buffer directory.
//
// A directory is owned by one process at a time: open() checks that it is
// private to agentd's user (fs::check_private_dir), then takes a flock on
// "<dir>/buffer.lock" and fails with a clear error naming the holder's pid.
// Thread safety: FileChunkStore is used under its Buffer's lock.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agentd/buffer/chunk.h"
#include "agentd/platform/fs.h"

namespace logctl::agentd {

// Bump when the chunk file layout changes; readers reject newer versions and
// read every older one. Written into every chunk header; never reuse a value.
//   1: frames without a tag (the tag only in the header, when a chunk key)
//   2: every frame carries its events' tag and a header checksum
inline constexpr std::uint16_t kChunkFormatVersion = 2;

struct FileStoreOptions {
  std::string dir;
  std::string path_suffix = ".log";
  mode_t file_mode = 0640;
  mode_t dir_mode = 0750;
  fs::Sync sync = fs::Sync::kNo;  // fsync each append (power-loss safety)
  // Written chunk files kept for reuse (overwritten in place: no fresh page
  // cache pages, see docs/chunk-format.md "Reused files"); 0 deletes each.
  std::size_t reuse_files = 2;
};

std::unique_ptr<ChunkStore> make_file_store(FileStoreOptions options);

// The layout, exposed for the golden and fuzz tests. Integers are big-endian.
namespace chunk_format {
inline constexpr char kMagic[4] = {'L', 'G', 'C', 'K'};
inline constexpr std::size_t kFixedHeaderSize = 10;         // magic, version, body length
inline constexpr std::uint32_t kMaxHeaderBody = 1 << 20;    // bytes of header JSON
inline constexpr std::uint32_t kFrameMagicV1 = 0x4C474652;  // "LGFR" (format 1)
inline constexpr std::size_t kFrameHeaderSizeV1 = 16;       // magic, len, count, crc
inline constexpr std::uint32_t kFrameMagic = 0x4C474632;    // "LGF2" (format 2)
inline constexpr std::size_t kFrameHeaderSize = 24;         // see docs/chunk-format.md
inline constexpr std::uint32_t kMaxTagSize = 64 << 10;      // longer tags are refused
// Written after the last frame of every append ("LGFE" and the CRC-32 of
// those four bytes) and overwritten by the next: where a chunk's data ends
// in a reused file, whose older bytes follow.
inline constexpr std::string_view kEndMarker{"LGFE\x25\xc6\xfe\x40", 8};

struct Header {
  std::uint16_t version = 0;
  std::size_t size = 0;  // bytes, including its checksum
  std::string id;
  std::int64_t created_ns = 0;
  ChunkMetadata metadata;
};

struct Frame {
  std::uint64_t offset = 0;  // of the frame header
  std::uint64_t size = 0;    // header + tag + payload
  std::string_view tag;
  std::string_view payload;
  std::uint32_t count = 0;
};

// A run of bytes that holds no valid frame: a torn tail or damage.
struct Damage {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t records = 0;  // events in frames whose header was intact
  bool records_known = true;  // false when some header was damaged too
};

struct Scan {
  std::vector<Frame> frames;
  std::vector<Damage> damage;
  // Where the data ends: the end marker's offset, or the file's size. Frames
  // and damage tile [header size, end) exactly; what follows the marker is
  // an earlier use's bytes, never read.
  std::uint64_t end = 0;
};

std::string encode_header(const std::string& id, const ChunkMetadata& m, std::int64_t created_ns);
// The frame header and tag that go before `payload`.
std::string encode_frame_header(std::string_view tag, std::string_view payload,
                                std::uint32_t count);
// Decodes a chunk file's header; kCorrupt names what is wrong.
Result<Header> decode_header(std::string_view file);
// Every valid frame after the header up to the end marker (or the file's
// end); after a damaged frame it resynchronises on the next frame whose
// checksums verify, or on the end marker.
Scan scan_frames(std::string_view file, const Header& header);
}  // namespace chunk_format

}  // namespace logctl::agentd
