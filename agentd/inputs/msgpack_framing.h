// Where a MessagePack object ends in a byte stream (the Fluentd forward
// protocol sends one top-level object per message, with no other framing).
// Resumable: bytes arrive in pieces, and the scan continues where it stopped
// instead of starting over, so a large object costs O(size) in total.
// msgpack_header() is the one decoder of value headers, shared with the
// forward handler's field access.
// Thread safety: one scanner per stream; msgpack_header is pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd {

enum class MsgpackKind { kScalar, kString, kBinary, kArray, kMap, kExt, kInvalid };

// The header of the value `v` starts with: `size` bytes of header (for
// numbers, nil, booleans and fixext: the whole value), then `payload` bytes
// (str, bin, ext data), then `children` values (array: n, map: 2n). nullopt
// while the header itself is incomplete (or `v` is empty); kInvalid for 0xc1.
struct MsgpackHeader {
  MsgpackKind kind;
  std::size_t size;
  std::uint64_t payload = 0;
  std::uint64_t children = 0;
};
std::optional<MsgpackHeader> msgpack_header(std::string_view v);

// The length of the complete value `v` starts with (nesting at most
// MsgpackScanner::kMaxDepth), or 0 when it is incomplete or invalid. For a
// whole buffer at once: no state, no allocation.
std::size_t msgpack_value_len(std::string_view v);

// One top-level field of a packed map: `key` is a string or binary key's
// text (`text_key`), any other key's packed bytes; `packed_key` and `value`
// are packed.
struct MsgpackField {
  std::string_view key;
  std::string_view packed_key;
  std::string_view value;
  bool text_key = false;
};

// Calls fn(MsgpackField) for each top-level field of the packed map `map`,
// in order. The map's size in bytes, or nullopt when it is not a map or a
// field is cut short (fn has seen the fields before it).
template <typename Fn>
std::optional<std::size_t> for_each_packed_field(std::string_view map, Fn&& fn) {
  auto h = msgpack_header(map);
  if (!h || h->kind != MsgpackKind::kMap) return std::nullopt;
  std::size_t off = h->size;
  for (std::uint64_t i = 0; i < h->children / 2; ++i) {
    std::size_t kn = msgpack_value_len(map.substr(off));
    std::size_t vn = kn ? msgpack_value_len(map.substr(off + kn)) : 0;
    if (vn == 0) return std::nullopt;
    MsgpackField f{map.substr(off, kn), map.substr(off, kn), map.substr(off + kn, vn)};
    auto kh = msgpack_header(f.packed_key);
    if (kh && (kh->kind == MsgpackKind::kString || kh->kind == MsgpackKind::kBinary)) {
      f.key = f.packed_key.substr(kh->size, kh->payload);
      f.text_key = true;
    }
    fn(f);
    off += kn + vn;
  }
  return off;
}

class MsgpackScanner {
 public:
  // The length of the first complete object in `buf` (which starts where the
  // previous object ended and only grows between calls), nullopt while it is
  // incomplete. kInvalidArgument for bytes no MessagePack object starts with
  // (0xc1) or nesting deeper than kMaxDepth.
  Result<std::optional<std::size_t>> end_of_object(std::string_view buf);
  // Forget the scan (after an object was taken, or the stream was cut).
  void reset() {
    pos_ = 0;
    open_.assign(1, 1);
  }

  static constexpr std::size_t kMaxDepth = 64;

 private:
  std::size_t pos_ = 0;  // next unread header
  // Values still to read in each open container, outermost first; the
  // object ends when none is open.
  std::vector<std::uint64_t> open_{1};
};

}  // namespace logctl::agentd
