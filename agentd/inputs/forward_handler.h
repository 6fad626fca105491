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

// The <security> handshake lives in agentd/forward/protocol.h.
std::unique_ptr<MessageHandler> make_forward_handler(HandlerOptions o, ForwardOptions f,
                                                     Metrics& metrics);

}  // namespace logctl::agentd
