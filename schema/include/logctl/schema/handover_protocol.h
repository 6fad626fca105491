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
// 1: hello/welcome/refused, listen/listener, ready, failed (startup only).
// 2: prepared/start, the handover phases (source_only, activate, switch_over,
//    connection, switched, resume, ingest) and ready.admin_port.
// A version-1 worker cannot be handed over, so 1 is no longer accepted.
inline constexpr int kHandoverProtocolVersion = 2;
inline constexpr int kMinSupportedProtocolVersion = 2;
inline constexpr std::size_t kMaxFdsPerMessage = 253;  // SCM_MAX_FD
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// Wire names are the strings in message_type_name(); never reuse one.
// Every message is answered or acknowledged by the type named after "->".
enum class MessageType {
  kHello,           // w->s {min_version, max_version, pid, generation} -> welcome | refused
  kWelcome,         // s->w {version}
  kRefused,         // s->w {reason}; the worker exits
  kPrepared,        // w->s config valid, every plugin built (nothing opened yet)
  kStart,           // s->w {hold}: open everything; hold=true: network inputs do not
                    //   read until activate -> listen* then ready | failed
  kListen,          // w->s {key} ("tcp://127.0.0.1:5170", "udp://[::1]:514") -> listener
  kListener,        // s->w {key, error?} + 1 fd unless error
  kReady,           // w->s {admin_port}: every plugin started
  kFailed,          // w->s {reason}: the step asked for failed
  kActivate,        // s->w network inputs start reading -> active
  kActive,          // w->s
  kSourceOnly,      // s->w {spool}: phase 1 -> source_only_done | failed
  kSourceOnlyDone,  // w->s {count: memory-buffer events spooled}
  kSwitchOver,      // s->w stop reading, hand connections over -> connection* switched
  kConnection,      // w->s->w {key, pending} + fds: socket [, memfd of pending bytes]
  kSwitched,        // w->s {spool, count: connections, at_ns: when it stopped
                    //   reading}; the worker then exits
  kResume,          // s->w rollback: back to normal -> resumed | failed
  kResumed,         // w->s
  kIngest,          // s->w {spool}: take a sealed spool -> ingested | failed
  kIngested,        // w->s {count: events}
};

struct Message {
  explicit Message(MessageType t = MessageType::kReady) : type(t) {}
  MessageType type;
  // Fields by type (unused ones stay empty and are not sent).
  int min_version = 0, max_version = 0, version = 0, admin_port = 0;
  std::int64_t pid = 0, generation = 0, count = 0, pending = 0, at_ns = 0;
  bool hold = false;
  std::string key, reason, error, spool;
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
