// in_forward's messages (Fluentd Forward Protocol v1): one MessagePack array
// per message, framed by Framing::kMsgpack, in four modes:
//   Message                  [tag, time, record, option?]
//   Forward                  [tag, [[time, record], ...], option?]
//   PackedForward            [tag, bin|str of packed [time, record] entries, option?]
//   CompressedPackedForward  the same, option {"compressed": "gzip"}
// time: EventTime (ext type 0), an integer or a float (seconds); 0 means now.
// A record must be a map. An option "chunk" is answered with {"ack": chunk}
// once the message's events are in the buffer (BatchSet::replies: the input
// writes them after a successful emit). An entry that is not [time, map] is
// skipped, counted as a parse error and logged; a message that is not one
// of the modes is dropped whole the same way. The connection stays open.
// Thread safety: used by one input thread.
#pragma once

#include <memory>

#include "agentd/inputs/message_handler.h"

namespace logctl::agentd {

struct ForwardOptions {
  std::string add_tag_prefix;
  std::size_t max_decompressed = 64 << 20;  // a gzip bomb stops here
};

// <security> (shared key): on connect the server sends HELO with a random
// nonce; the client's first message must be PING with
// hex(SHA-512(salt + client_hostname + nonce + shared_key)); the server
// answers PONG (true, with its own digest) or PONG (false, why) and closes.
// Until then nothing the client sends is taken as events.
struct ForwardSecurity {
  std::string self_hostname;
  std::string shared_key;
};

// A new nonce (16 random bytes) and the packed HELO that carries it.
std::pair<std::string, std::string> forward_helo();
// The packed PONG for `ping`, and whether the client proved the key.
struct Pong {
  std::string packed;
  bool ok = false;
  std::string why;  // when !ok
};
Pong forward_pong(std::string_view ping, const ForwardSecurity& s, const std::string& nonce);

std::unique_ptr<MessageHandler> make_forward_handler(HandlerOptions o, ForwardOptions f,
                                                     Metrics& metrics);

}  // namespace logctl::agentd
