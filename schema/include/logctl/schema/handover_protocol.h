// The supervisor <-> worker protocol (docs/handover-protocol.md).
//
// Transport: one AF_UNIX SOCK_SEQPACKET socket pair per worker. Every message
// is one packet: a JSON object {"type": ..., ...} plus, for some types, file
// descriptors in one SCM_RIGHTS control message (at most kMaxFdsPerMessage).
// SEQPACKET keeps message boundaries, so descriptors always arrive with the
// message that names them.
//
// Versioning: the worker's first message is kHello with the range of protocol
// versions it speaks; the supervisor answers kWelcome with the version both
// will use, or kRefused before anything else happens. An old supervisor can
// therefore drive a newer worker as long as their ranges overlap.
// Thread safety: pure encode/decode functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::handover {

// Bump when a message's meaning or a required field changes; add the old
// value to the range a worker accepts while it can still speak it.
// 1: hello/welcome/refused, listen/listener, ready, failed.
inline constexpr int kHandoverProtocolVersion = 1;
inline constexpr int kMinSupportedProtocolVersion = 1;
inline constexpr std::size_t kMaxFdsPerMessage = 253;  // SCM_MAX_FD
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// Wire names are the strings in message_type_name(); never reuse one.
enum class MessageType {
  kHello,     // worker -> supervisor: {min_version, max_version, pid, generation}
  kWelcome,   // supervisor -> worker: {version}
  kRefused,   // supervisor -> worker: {reason}; the worker exits
  kListen,    // worker -> supervisor: {key}  ("tcp://127.0.0.1:5170", "udp://[::1]:514")
  kListener,  // supervisor -> worker: {key, error?} + 1 fd unless error
  kReady,     // worker -> supervisor: every plugin started
  kFailed,    // worker -> supervisor: {reason}; startup failed
};

struct Message {
  explicit Message(MessageType t = MessageType::kReady) : type(t) {}
  MessageType type;
  // Fields by type (unused ones stay empty).
  int min_version = 0, max_version = 0, version = 0;
  std::int64_t pid = 0, generation = 0;
  std::string key, reason, error;
};

const char* message_type_name(MessageType t);
std::string encode(const Message& m);
Result<Message> decode(const std::string& packet);

// Picks the version both sides speak, or nullopt.
std::optional<int> negotiate(int worker_min, int worker_max);

// A listener key: "tcp://HOST:PORT" or "udp://HOST:PORT" (IPv6 in brackets).
struct ListenerKey {
  enum class Proto { kTcp, kUdp } proto;
  std::string host;
  int port = 0;
  std::string str() const;
};
Result<ListenerKey> parse_listener_key(const std::string& key);

}  // namespace logctl::handover
