#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd {
namespace {

std::uint64_t be(std::string_view b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + 1 + i]);
  return v;
}

// One value's header at `at`: its header size, payload bytes that follow,
// and how many values it contains (array: n, map: 2n). -1 header: invalid.
struct Header {
  int header = 0;
  std::uint64_t payload = 0;
  std::uint64_t children = 0;
};

// nullopt: the header is not all there yet.
std::optional<Header> header_at(std::string_view b, std::size_t at) {
  auto t = static_cast<unsigned char>(b[at]);
  auto need = [&](int n) { return at + 1 + static_cast<std::size_t>(n) <= b.size(); };
  if (t <= 0x7f || t >= 0xe0) return Header{1, 0, 0};  // fixint
  if (t >= 0x80 && t <= 0x8f) return Header{1, 0, 2ull * (t & 0x0f)};
  if (t >= 0x90 && t <= 0x9f) return Header{1, 0, t & 0x0fu};
  if (t >= 0xa0 && t <= 0xbf) return Header{1, t & 0x1fu, 0};
  switch (t) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return Header{1, 0, 0};
    case 0xc4:  // bin 8/16/32
    case 0xd9:  // str 8
      if (!need(1)) return std::nullopt;
      return Header{2, be(b, at, 1), 0};
    case 0xc5:
    case 0xda:
      if (!need(2)) return std::nullopt;
      return Header{3, be(b, at, 2), 0};
    case 0xc6:
    case 0xdb:
      if (!need(4)) return std::nullopt;
      return Header{5, be(b, at, 4), 0};
    case 0xc7:  // ext 8/16/32: length, type, data
      if (!need(1)) return std::nullopt;
      return Header{3, be(b, at, 1), 0};
    case 0xc8:
      if (!need(2)) return std::nullopt;
      return Header{4, be(b, at, 2), 0};
    case 0xc9:
      if (!need(4)) return std::nullopt;
      return Header{6, be(b, at, 4), 0};
    case 0xca:
      return Header{5, 0, 0};
    case 0xcb:
      return Header{9, 0, 0};
    case 0xcc:
    case 0xd0:
      return Header{2, 0, 0};
    case 0xcd:
    case 0xd1:
      return Header{3, 0, 0};
    case 0xce:
    case 0xd2:
      return Header{5, 0, 0};
    case 0xcf:
    case 0xd3:
      return Header{9, 0, 0};
    case 0xd4:  // fixext 1/2/4/8/16: type, data
      return Header{3, 0, 0};
    case 0xd5:
      return Header{4, 0, 0};
    case 0xd6:
      return Header{6, 0, 0};
    case 0xd7:
      return Header{10, 0, 0};
    case 0xd8:
      return Header{18, 0, 0};
    case 0xdc:  // array 16/32
      if (!need(2)) return std::nullopt;
      return Header{3, 0, be(b, at, 2)};
    case 0xdd:
      if (!need(4)) return std::nullopt;
      return Header{5, 0, be(b, at, 4)};
    case 0xde:  // map 16/32
      if (!need(2)) return std::nullopt;
      return Header{3, 0, 2 * be(b, at, 2)};
    case 0xdf:
      if (!need(4)) return std::nullopt;
      return Header{5, 0, 2 * be(b, at, 4)};
    default:  // 0xc1: never used
      return Header{-1, 0, 0};
  }
}

}  // namespace

Result<std::optional<std::size_t>> MsgpackScanner::end_of_object(std::string_view buf) {
  while (!open_.empty()) {
    if (pos_ >= buf.size()) return std::optional<std::size_t>();
    auto h = header_at(buf, pos_);
    if (!h) return std::optional<std::size_t>();
    if (h->header < 0) {
      return make_error(ErrorCode::kInvalidArgument, "byte 0xc1 at offset " + std::to_string(pos_) +
                                                         " starts no MessagePack value");
    }
    std::uint64_t size = static_cast<std::uint64_t>(h->header) + h->payload;
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

}  // namespace logctl::agentd
