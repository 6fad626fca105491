#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd {
namespace {

// The n bytes after the type byte, big-endian.
std::uint64_t be(std::string_view v, int n) {
  std::uint64_t x = 0;
  for (int i = 1; i <= n; ++i) x = (x << 8) | static_cast<unsigned char>(v[i]);
  return x;
}

}  // namespace

std::optional<MsgpackHeader> msgpack_header(std::string_view v) {
  using K = MsgpackKind;
  if (v.empty()) return std::nullopt;
  auto t = static_cast<unsigned char>(v[0]);
  // A header with an n-byte length after the type byte.
  // A header with an n-byte length after the type byte (and `extra` bytes
  // more: ext's type); for a container the length counts its elements.
  auto sized = [&](K kind, int n, std::size_t extra = 0) -> std::optional<MsgpackHeader> {
    if (v.size() < 1 + static_cast<std::size_t>(n)) return std::nullopt;
    std::uint64_t len = be(v, n);
    std::size_t size = 1 + static_cast<std::size_t>(n) + extra;
    if (kind == K::kArray) return MsgpackHeader{kind, size, 0, len};
    if (kind == K::kMap) return MsgpackHeader{kind, size, 0, 2 * len};
    return MsgpackHeader{kind, size, len, 0};
  };
  if (t <= 0x7f || t >= 0xe0) return MsgpackHeader{K::kScalar, 1};  // fixint
  if (t <= 0x8f) return MsgpackHeader{K::kMap, 1, 0, 2ull * (t & 0x0f)};
  if (t <= 0x9f) return MsgpackHeader{K::kArray, 1, 0, t & 0x0fu};
  if (t <= 0xbf) return MsgpackHeader{K::kString, 1, t & 0x1fu, 0};
  switch (t) {
    case 0xc0:  // nil, false, true
    case 0xc2:
    case 0xc3:
      return MsgpackHeader{K::kScalar, 1};
    case 0xc4:  // bin 8/16/32
      return sized(K::kBinary, 1);
    case 0xc5:
      return sized(K::kBinary, 2);
    case 0xc6:
      return sized(K::kBinary, 4);
    case 0xc7:  // ext 8/16/32: length, type byte, data
      return sized(K::kExt, 1, 1);
    case 0xc8:
      return sized(K::kExt, 2, 1);
    case 0xc9:
      return sized(K::kExt, 4, 1);
    case 0xca:  // float 32/64
      return MsgpackHeader{K::kScalar, 5};
    case 0xcb:
      return MsgpackHeader{K::kScalar, 9};
    case 0xcc:  // (u)int 8/16/32/64
    case 0xd0:
      return MsgpackHeader{K::kScalar, 2};
    case 0xcd:
    case 0xd1:
      return MsgpackHeader{K::kScalar, 3};
    case 0xce:
    case 0xd2:
      return MsgpackHeader{K::kScalar, 5};
    case 0xcf:
    case 0xd3:
      return MsgpackHeader{K::kScalar, 9};
    case 0xd4:  // fixext 1/2/4/8/16: type byte, data
      return MsgpackHeader{K::kExt, 3};
    case 0xd5:
      return MsgpackHeader{K::kExt, 4};
    case 0xd6:
      return MsgpackHeader{K::kExt, 6};
    case 0xd7:
      return MsgpackHeader{K::kExt, 10};
    case 0xd8:
      return MsgpackHeader{K::kExt, 18};
    case 0xd9:  // str 8/16/32
      return sized(K::kString, 1);
    case 0xda:
      return sized(K::kString, 2);
    case 0xdb:
      return sized(K::kString, 4);
    case 0xdc:  // array 16/32
      return sized(K::kArray, 2);
    case 0xdd:
      return sized(K::kArray, 4);
    case 0xde:  // map 16/32
      return sized(K::kMap, 2);
    case 0xdf:
      return sized(K::kMap, 4);
    default:  // 0xc1: never used
      return MsgpackHeader{K::kInvalid, 1};
  }
}

Result<std::optional<std::size_t>> MsgpackScanner::end_of_object(std::string_view buf) {
  while (!open_.empty()) {
    if (pos_ >= buf.size()) return std::optional<std::size_t>();
    auto h = msgpack_header(buf.substr(pos_));
    if (!h) return std::optional<std::size_t>();
    if (h->kind == MsgpackKind::kInvalid) {
      return make_error(ErrorCode::kInvalidArgument, "byte 0xc1 at offset " + std::to_string(pos_) +
                                                         " starts no MessagePack value");
    }
    std::uint64_t size = h->size + h->payload;
    if (size > buf.size() - pos_) return std::optional<std::size_t>();  // payload still coming
    pos_ += size;
    --open_.back();
    if (h->children > 0) {
      if (open_.size() >= kMaxDepth) {
        return make_error(ErrorCode::kInvalidArgument,
                          "MessagePack nested deeper than " + std::to_string(kMaxDepth));
      }
      open_.push_back(h->children);
    }
    while (!open_.empty() && open_.back() == 0) open_.pop_back();
  }
  return std::optional<std::size_t>(pos_);
}

std::size_t msgpack_value_len(std::string_view v) {
  // Values still to read in each open container; no allocation (the hot
  // path: three calls per event of a PackedForward message).
  std::uint64_t open[MsgpackScanner::kMaxDepth];
  std::size_t depth = 0, off = 0;
  open[0] = 1;
  for (;;) {
    auto h = msgpack_header(v.substr(off));
    if (!h || h->kind == MsgpackKind::kInvalid) return 0;
    if (h->size > v.size() - off) return 0;  // a scalar's header is the whole value
    off += h->size;
    if (h->payload > v.size() - off) return 0;
    off += h->payload;
    --open[depth];
    if (h->children > 0) {
      if (depth + 1 >= MsgpackScanner::kMaxDepth) return 0;  // as the scanner
      open[++depth] = h->children;
    }
    while (open[depth] == 0) {
      if (depth == 0) return off;
      --depth;
    }
  }
}

}  // namespace logctl::agentd
