// The Fluentd Forward Protocol v1 pieces both ends of a connection use:
// in_forward (the server, agentd/inputs/forward_handler.h) and out_forward
// (the client, agentd/outputs/forward_output.h) — reading MessagePack values
// without materialising them, gzip of PackedForward payloads, and the
// shared-key handshake:
//   server -> HELO  ["HELO", {"nonce": bin16, "auth": salt|"", "keepalive": bool}]
//   client -> PING  ["PING", client_hostname, shared_key_salt,
//                    hex(SHA-512(salt + client_hostname + nonce + shared_key)),
//                    username, password_digest]
//   server -> PONG  ["PONG", ok, reason, server_hostname,
//                    hex(SHA-512(salt + server_hostname + nonce + shared_key))]
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd::forward {

// The length of the complete MessagePack value `v` starts with; 0 if none.
std::size_t value_len(std::string_view v);

// Elements of a complete array (at most `max_elements`), or nullopt.
std::optional<std::vector<std::string_view>> elements(std::string_view v,
                                                      std::uint64_t max_elements = 8);
bool is_array(std::string_view v);
bool is_str_or_bin(std::string_view v);
// The payload of a complete str or bin value.
std::optional<std::string_view> bytes_of(std::string_view v);
// The number of pairs of a map value and its header's size.
struct MapHeader {
  std::uint64_t pairs;
  std::size_t size;
};
std::optional<MapHeader> map_header(std::string_view v);
// A str/bin value of a map, by key; nullopt when absent or not bytes.
std::optional<std::string_view> map_str(std::string_view map, std::string_view key);
// The raw value of a map by key (any type).
std::optional<std::string_view> map_value(std::string_view map, std::string_view key);

void pack_bin(std::string& out, std::string_view b);
void pack_bool(std::string& out, bool b);

// Inflates one or more concatenated gzip members (kGzip) or zlib streams
// (kZlib, HTTP's "deflate"), at most `limit` bytes.
enum class Zip { kGzip, kZlib };
Result<std::string> decompress(std::string_view in, std::size_t limit, Zip kind);
inline Result<std::string> gunzip(std::string_view in, std::size_t limit) {
  return decompress(in, limit, Zip::kGzip);
}
// One gzip member.
std::string gzip(std::string_view in);

std::string sha512_hex(std::string_view data);

struct Security {
  std::string self_hostname;
  std::string shared_key;
};

// Server side. A new nonce (16 random bytes) and the packed HELO carrying it.
std::pair<std::string, std::string> helo();
// The packed PONG for `ping`, and whether the client proved the key.
struct Pong {
  std::string packed;
  bool ok = false;
  std::string why;  // when !ok
};
Pong pong(std::string_view ping, const Security& s, const std::string& nonce);

// Client side. The PING answering `helo` (kInvalidArgument if it is no HELO,
// or the server asks for user authentication, which agentd does not do).
struct Ping {
  std::string packed;
  std::string nonce, salt;
};
Result<Ping> ping(std::string_view helo, const Security& s);
// Checks the server's PONG: accepted, and its digest proves the same key.
Status check_pong(std::string_view pong, const Ping& sent, const Security& s);

}  // namespace logctl::agentd::forward
