#include "agentd/inputs/forward_handler.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <cstring>
#include <optional>

#include "agentd/core/record_writer.h"
#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd {
namespace {

using U8 = unsigned char;

U8 first(std::string_view v) {
  return static_cast<U8>(v[0]);
}

std::uint64_t be(std::string_view v, std::size_t at, int n) {
  std::uint64_t x = 0;
  for (int i = 0; i < n; ++i) x = (x << 8) | static_cast<U8>(v[at + static_cast<std::size_t>(i)]);
  return x;
}

// The length of the complete MessagePack value `v` starts with; 0 if none.
std::size_t value_len(std::string_view v) {
  MsgpackScanner s;
  auto r = s.end_of_object(v);
  return r && *r ? **r : 0;
}

struct Header {
  std::uint64_t count;  // elements, or pairs of a map
  std::size_t size;
};

std::optional<Header> container_header(std::string_view v, MsgpackKind kind) {
  auto h = msgpack_header(v);
  if (!h || h->kind != kind) return std::nullopt;
  return Header{kind == MsgpackKind::kMap ? h->children / 2 : h->children, h->size};
}

std::optional<Header> array_header(std::string_view v) {
  return container_header(v, MsgpackKind::kArray);
}

std::optional<Header> map_header(std::string_view v) {
  return container_header(v, MsgpackKind::kMap);
}

bool is_str_or_bin(std::string_view v) {
  auto h = msgpack_header(v);
  return h && (h->kind == MsgpackKind::kString || h->kind == MsgpackKind::kBinary);
}

// The payload of a complete str or bin value.
std::optional<std::string_view> bytes_of(std::string_view v) {
  if (!is_str_or_bin(v)) return std::nullopt;
  auto h = msgpack_header(v);
  if (h->size + h->payload > v.size()) return std::nullopt;
  return v.substr(h->size, h->payload);
}

// EventTime ext, integer or float seconds; nullopt for anything else.
std::optional<EventTime> time_of(std::string_view v) {
  U8 t = first(v);
  auto secs = [](double s) { return EventTime{static_cast<std::int64_t>(s * 1e9)}; };
  if (t == 0xd7 && v.size() == 10 && v[1] == 0) {
    return EventTime{static_cast<std::int64_t>(be(v, 2, 4)) * 1'000'000'000 +
                     static_cast<std::int64_t>(be(v, 6, 4))};
  }
  if (t == 0xc7 && v.size() == 11 && static_cast<U8>(v[1]) == 8 && v[2] == 0) {
    return EventTime{static_cast<std::int64_t>(be(v, 3, 4)) * 1'000'000'000 +
                     static_cast<std::int64_t>(be(v, 7, 4))};
  }
  if (t <= 0x7f) return secs(t);
  if (t >= 0xcc && t <= 0xcf) return secs(static_cast<double>(be(v, 1, 1 << (t - 0xcc))));
  if (t >= 0xe0) return secs(static_cast<std::int8_t>(t));
  if (t >= 0xd0 && t <= 0xd3) {
    int n = 1 << (t - 0xd0);
    std::uint64_t raw = be(v, 1, n);
    std::int64_t s = n == 8 ? static_cast<std::int64_t>(raw)
                            : static_cast<std::int64_t>(raw << (64 - 8 * n)) >> (64 - 8 * n);
    return secs(static_cast<double>(s));
  }
  if (t == 0xca) {
    auto bits = static_cast<std::uint32_t>(be(v, 1, 4));
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return secs(f);
  }
  if (t == 0xcb) {
    std::uint64_t bits = be(v, 1, 8);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return secs(d);
  }
  return std::nullopt;
}

// Splits a complete array into its elements.
std::optional<std::vector<std::string_view>> elements(std::string_view v) {
  auto h = array_header(v);
  if (!h || h->count > 8) return std::nullopt;
  std::vector<std::string_view> out;
  std::size_t off = h->size;
  for (std::uint64_t i = 0; i < h->count; ++i) {
    std::size_t n = value_len(v.substr(off));
    if (n == 0) return std::nullopt;
    out.push_back(v.substr(off, n));
    off += n;
  }
  return out;
}

// Inflates one or more concatenated gzip members, at most `limit` bytes.
Result<std::string> gunzip(std::string_view in, std::size_t limit) {
  std::string out;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    return make_error(ErrorCode::kInternal, "zlib inflateInit2 failed");
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return make_error(ErrorCode::kInvalidArgument,
                        "gzip payload inflates beyond " + std::to_string(limit) + " bytes");
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // the next member
      continue;
    }
    if (rc != Z_OK) break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    return make_error(ErrorCode::kInvalidArgument, "corrupt or truncated gzip payload");
  }
  return out;
}

class ForwardHandler final : public MessageHandler {
 public:
  ForwardHandler(HandlerOptions o, ForwardOptions f, Metrics& m)
      : o_(std::move(o)), f_(std::move(f)), c_(m, o_.id, o_.type) {}

  void handle(std::string_view msg, const Peer& peer, EventTime now, BatchSet& out) override {
    auto el = elements(msg);
    if (!el || el->size() < 2 || el->size() > 4) {
      return bad(peer, "a message is not an array of 2 to 4 elements (or is truncated)");
    }
    auto tag = (*el)[0].empty() ? std::nullopt : bytes_of((*el)[0]);
    if (!tag || tag->empty() || tag->size() > 1024) {
      return bad(peer, "the tag is not a string of 1 to 1024 bytes");
    }
    std::string full_tag =
        f_.add_tag_prefix.empty() ? std::string(*tag) : f_.add_tag_prefix + "." + std::string(*tag);
    std::string_view e1 = (*el)[1];
    std::optional<std::string_view> option;
    EventBatch& batch = out.for_tag(full_tag);
    if (array_header(e1)) {  // Forward
      if (el->size() == 3) option = (*el)[2];
      if (el->size() > 3) return bad(peer, "Forward mode takes [tag, entries, option]");
      each_entry(e1.substr(array_header(e1)->size), peer, now, batch);
    } else if (is_str_or_bin(e1)) {  // PackedForward, CompressedPackedForward
      if (el->size() == 3) option = (*el)[2];
      if (el->size() > 3) return bad(peer, "PackedForward mode takes [tag, entries, option]");
      auto payload = bytes_of(e1);
      if (!payload) return bad(peer, "a PackedForward payload is cut short");
      std::string inflated;
      if (option && compressed(*option) == "gzip") {
        auto z = gunzip(*payload, f_.max_decompressed);
        if (!z) return bad(peer, z.error().message);
        inflated = std::move(*z);
        payload = inflated;
      }
      each_entry(*payload, peer, now, batch);
    } else {  // Message
      if (el->size() < 3) return bad(peer, "Message mode takes [tag, time, record, option]");
      if (el->size() == 4) option = (*el)[3];
      add(e1, (*el)[2], peer, now, batch);
    }
    if (option) {
      if (auto chunk = option_str(*option, "chunk"); chunk && !chunk->empty()) {
        std::string ack;
        RecordWriter::pack_map_header(ack, 1);
        RecordWriter::pack_str(ack, "ack");
        RecordWriter::pack_str(ack, *chunk);
        out.replies.push_back(std::move(ack));
      }
    }
  }

 private:
  std::string compressed(std::string_view option) {
    auto v = option_str(option, "compressed");
    return v ? std::string(*v) : "";
  }

  // A string value of the option map, by key.
  static std::optional<std::string_view> option_str(std::string_view option, std::string_view key) {
    auto h = map_header(option);
    if (!h) return std::nullopt;
    std::size_t off = h->size;
    for (std::uint64_t i = 0; i < h->count && off < option.size(); ++i) {
      std::size_t kn = value_len(option.substr(off));
      if (kn == 0) return std::nullopt;
      std::size_t vn = value_len(option.substr(off + kn));
      if (vn == 0) return std::nullopt;
      auto k = bytes_of(option.substr(off, kn));
      if (k && *k == key) return bytes_of(option.substr(off + kn, vn));
      off += kn + vn;
    }
    return std::nullopt;
  }

  // Each [time, record] entry of a packed stream.
  void each_entry(std::string_view stream, const Peer& peer, EventTime now, EventBatch& batch) {
    std::size_t off = 0;
    while (off < stream.size()) {
      std::size_t n = value_len(stream.substr(off));
      if (n == 0) return bad(peer, "an entry is cut short or is not MessagePack");
      auto pair = elements(stream.substr(off, n));
      off += n;
      if (!pair || pair->size() != 2) {
        bad(peer, "an entry is not [time, record]");
        continue;
      }
      add((*pair)[0], (*pair)[1], peer, now, batch);
    }
  }

  void add(std::string_view time, std::string_view record, const Peer& peer, EventTime now,
           EventBatch& batch) {
    auto t = time.empty() ? std::nullopt : time_of(time);
    auto m = map_header(record);
    if (!t) return bad(peer, "an event's time is not an EventTime or a number");
    if (!m) return bad(peer, "an event's record is not a map");
    if (t->ns == 0) t = now;  // as Fluentd: time 0 means "now"
    std::uint32_t extra =
        (o_.source_address_key.empty() ? 0 : 1) + (o_.source_hostname_key.empty() ? 0 : 1);
    auto offset = static_cast<std::uint32_t>(batch.data.size());
    batch.data.push_back(static_cast<char>(0x92));
    RecordWriter::pack_event_time(batch.data, *t);
    if (extra == 0) {
      batch.data.append(record);
    } else {
      RecordWriter::pack_map_header(batch.data, static_cast<std::uint32_t>(m->count) + extra);
      batch.data.append(record.substr(m->size));
      if (!o_.source_address_key.empty()) {
        RecordWriter::pack_str(batch.data, o_.source_address_key);
        RecordWriter::pack_str(batch.data, peer.address);
      }
      if (!o_.source_hostname_key.empty()) {
        RecordWriter::pack_str(batch.data, o_.source_hostname_key);
        RecordWriter::pack_str(batch.data, peer.hostname);
      }
    }
    batch.entries.push_back({offset, static_cast<std::uint32_t>(batch.data.size() - offset), *t});
  }

  void bad(const Peer& peer, const std::string& why) {
    ++c_.parse_errors;
    log_.write(log::Level::kWarn, "input " + o_.id + ": skipped from " + peer.address + ": " + why);
  }

  HandlerOptions o_;
  ForwardOptions f_;
  InputCounters c_;
  log::RateLimited log_;
};

std::string sha512_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha512(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

void pack_bin(std::string& out, std::string_view b) {
  out.push_back(static_cast<char>(0xc4));
  out.push_back(static_cast<char>(b.size()));
  out.append(b);
}

}  // namespace

std::pair<std::string, std::string> forward_helo() {
  std::string nonce(16, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size()));
  std::string m;
  m.push_back(static_cast<char>(0x92));
  RecordWriter::pack_str(m, "HELO");
  RecordWriter::pack_map_header(m, 3);
  RecordWriter::pack_str(m, "nonce");
  pack_bin(m, nonce);
  RecordWriter::pack_str(m, "auth");
  RecordWriter::pack_str(m, "");  // no user authentication: no salt
  RecordWriter::pack_str(m, "keepalive");
  m.push_back(static_cast<char>(0xc3));  // true
  return {nonce, m};
}

Pong forward_pong(std::string_view ping, const ForwardSecurity& s, const std::string& nonce) {
  Pong p;
  auto el = elements(ping);
  std::optional<std::string_view> kind, host, salt, digest;
  if (el && el->size() >= 4) {
    kind = bytes_of((*el)[0]);
    host = bytes_of((*el)[1]);
    salt = bytes_of((*el)[2]);
    digest = bytes_of((*el)[3]);
  }
  if (!kind || *kind != "PING" || !host || !salt || !digest) {
    p.why = "the first message is not a PING";
  } else {
    std::string want = sha512_hex(std::string(*salt) + std::string(*host) + nonce + s.shared_key);
    if (*digest != want) {
      p.why = "shared_key mismatch (from '" + std::string(host->substr(0, 64)) + "')";
    } else {
      p.ok = true;
    }
  }
  std::string& m = p.packed;
  m.push_back(static_cast<char>(0x95));
  RecordWriter::pack_str(m, "PONG");
  m.push_back(static_cast<char>(p.ok ? 0xc3 : 0xc2));
  RecordWriter::pack_str(m, p.ok                      ? ""
                            : kind && *kind == "PING" ? "shared_key mismatch"
                                                      : "the first message is not a PING");
  RecordWriter::pack_str(m, p.ok ? s.self_hostname : "");
  RecordWriter::pack_str(
      m, p.ok ? sha512_hex(std::string(*salt) + s.self_hostname + nonce + s.shared_key) : "");
  return p;
}

std::unique_ptr<MessageHandler> make_forward_handler(HandlerOptions o, ForwardOptions f,
                                                     Metrics& metrics) {
  return std::make_unique<ForwardHandler>(std::move(o), std::move(f), metrics);
}

}  // namespace logctl::agentd
