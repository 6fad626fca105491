#include "agentd/forward/protocol.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "agentd/core/record_writer.h"
#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd::forward {
namespace {

std::optional<MsgpackHeader> header_of(std::string_view v, MsgpackKind kind) {
  auto h = msgpack_header(v);
  if (!h || h->kind != kind) return std::nullopt;
  return h;
}

std::string random_bytes(std::size_t n) {
  std::string b(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), static_cast<int>(n));
  return b;
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += hex[p[i] >> 4];
    out += hex[p[i] & 15];
  }
  return out;
}

}  // namespace

std::size_t value_len(std::string_view v) {
  return msgpack_value_len(v);
}

bool is_array(std::string_view v) {
  return header_of(v, MsgpackKind::kArray).has_value();
}

std::optional<std::vector<std::string_view>> elements(std::string_view v,
                                                      std::uint64_t max_elements) {
  auto h = header_of(v, MsgpackKind::kArray);
  if (!h || h->children > max_elements) return std::nullopt;
  std::vector<std::string_view> out;
  std::size_t off = h->size;
  for (std::uint64_t i = 0; i < h->children; ++i) {
    std::size_t n = value_len(v.substr(off));
    if (n == 0) return std::nullopt;
    out.push_back(v.substr(off, n));
    off += n;
  }
  return out;
}

bool is_str_or_bin(std::string_view v) {
  auto h = msgpack_header(v);
  return h && (h->kind == MsgpackKind::kString || h->kind == MsgpackKind::kBinary);
}

std::optional<std::string_view> bytes_of(std::string_view v) {
  if (!is_str_or_bin(v)) return std::nullopt;
  auto h = msgpack_header(v);
  if (h->size + h->payload > v.size()) return std::nullopt;
  return v.substr(h->size, h->payload);
}

std::optional<MapHeader> map_header(std::string_view v) {
  auto h = header_of(v, MsgpackKind::kMap);
  if (!h) return std::nullopt;
  return MapHeader{h->children / 2, h->size};
}

std::optional<std::string_view> map_value(std::string_view map, std::string_view key) {
  auto h = map_header(map);
  if (!h) return std::nullopt;
  std::size_t off = h->size;
  for (std::uint64_t i = 0; i < h->pairs && off < map.size(); ++i) {
    std::size_t kn = value_len(map.substr(off));
    if (kn == 0) return std::nullopt;
    std::size_t vn = value_len(map.substr(off + kn));
    if (vn == 0) return std::nullopt;
    auto k = bytes_of(map.substr(off, kn));
    if (k && *k == key) return map.substr(off + kn, vn);
    off += kn + vn;
  }
  return std::nullopt;
}

std::optional<std::string_view> map_str(std::string_view map, std::string_view key) {
  auto v = map_value(map, key);
  return v ? bytes_of(*v) : std::nullopt;
}

void pack_bin(std::string& out, std::string_view b) {
  auto n = b.size();
  if (n < 256) {
    out.push_back(static_cast<char>(0xc4));
    out.push_back(static_cast<char>(n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xc5));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(0xc6));
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(n >> s));
  }
  out.append(b);
}

void pack_bool(std::string& out, bool b) {
  out.push_back(static_cast<char>(b ? 0xc3 : 0xc2));
}

Result<std::string> decompress(std::string_view in, std::size_t limit, Zip kind) {
  std::string out;
  z_stream z{};
  const char* name = kind == Zip::kGzip ? "gzip" : "deflate";
  if (inflateInit2(&z, kind == Zip::kGzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) {
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
      return make_error(
          ErrorCode::kInvalidArgument,
          std::string(name) + " payload inflates beyond " + std::to_string(limit) + " bytes");
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
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("corrupt or truncated ") + name + " payload");
  }
  return out;
}

std::string gzip(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string sha512_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha512(), nullptr);
  return to_hex(md, n);
}

std::pair<std::string, std::string> helo() {
  std::string nonce = random_bytes(16);
  std::string m;
  m.push_back(static_cast<char>(0x92));
  RecordWriter::pack_str(m, "HELO");
  RecordWriter::pack_map_header(m, 3);
  RecordWriter::pack_str(m, "nonce");
  pack_bin(m, nonce);
  RecordWriter::pack_str(m, "auth");
  RecordWriter::pack_str(m, "");  // no user authentication: no salt
  RecordWriter::pack_str(m, "keepalive");
  pack_bool(m, true);
  return {nonce, m};
}

Pong pong(std::string_view ping, const Security& s, const std::string& nonce) {
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
  pack_bool(m, p.ok);
  RecordWriter::pack_str(m, p.ok                      ? ""
                            : kind && *kind == "PING" ? "shared_key mismatch"
                                                      : "the first message is not a PING");
  RecordWriter::pack_str(m, p.ok ? s.self_hostname : "");
  RecordWriter::pack_str(
      m, p.ok ? sha512_hex(std::string(*salt) + s.self_hostname + nonce + s.shared_key) : "");
  return p;
}

Result<Ping> ping(std::string_view helo_msg, const Security& s) {
  auto el = elements(helo_msg);
  std::optional<std::string_view> kind, nonce, auth;
  if (el && el->size() == 2) {
    kind = bytes_of((*el)[0]);
    nonce = map_str((*el)[1], "nonce");
    auth = map_str((*el)[1], "auth");
  }
  if (!kind || *kind != "HELO" || !nonce) {
    return make_error(ErrorCode::kInvalidArgument, "the server's first message is not a HELO");
  }
  if (auth && !auth->empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the server asks for user authentication (username/password), which "
                      "out_forward does not do");
  }
  Ping p;
  p.nonce = std::string(*nonce);
  p.salt = to_hex(reinterpret_cast<const unsigned char*>(random_bytes(16).data()), 16);
  std::string& m = p.packed;
  m.push_back(static_cast<char>(0x96));
  RecordWriter::pack_str(m, "PING");
  RecordWriter::pack_str(m, s.self_hostname);
  RecordWriter::pack_str(m, p.salt);
  RecordWriter::pack_str(m, sha512_hex(p.salt + s.self_hostname + p.nonce + s.shared_key));
  RecordWriter::pack_str(m, "");
  RecordWriter::pack_str(m, "");
  return p;
}

Status check_pong(std::string_view pong_msg, const Ping& sent, const Security& s) {
  auto el = elements(pong_msg);
  if (!el || el->size() != 5 || bytes_of((*el)[0]) != std::optional<std::string_view>("PONG")) {
    return make_error(ErrorCode::kInvalidArgument, "the server's answer to PING is not a PONG");
  }
  auto reason = bytes_of((*el)[2]);
  if ((*el)[1].size() != 1 || static_cast<unsigned char>((*el)[1][0]) != 0xc3) {
    return make_error(ErrorCode::kUnavailable,
                      "the server refused the handshake: " +
                          std::string(reason ? reason->substr(0, 200) : "(no reason)"));
  }
  auto host = bytes_of((*el)[3]);
  auto digest = bytes_of((*el)[4]);
  if (!host || !digest ||
      *digest != sha512_hex(sent.salt + std::string(*host) + sent.nonce + s.shared_key)) {
    return make_error(ErrorCode::kUnavailable,
                      "the server's PONG does not prove the shared key (a server that does not "
                      "hold it)");
  }
  return {};
}

}  // namespace logctl::agentd::forward
