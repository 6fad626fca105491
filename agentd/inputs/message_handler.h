// Turns one received message (a frame or a datagram) into events, for the
// tcp/udp inputs (any <parse>) and the syslog input (tag.facility.severity).
// Unparsable messages go where Unmatched says (input.h): emitted as
// unmatched_line (syslog: tag "<tag>.unmatched"), sent to @ERROR, or dropped;
// always counted and logged.
// Thread safety: used by one input thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/inputs/input.h"
#include "agentd/parsers/parser.h"
#include "agentd/parsers/syslog_message.h"

namespace logctl::agentd {

struct Peer {
  std::string address;
  std::string hostname;
};

class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual void handle(std::string_view message, const Peer& peer, EventTime now, BatchSet& out) = 0;
};

struct HandlerOptions {
  std::string id;
  std::string type;  // plugin type, for metric labels
  std::string tag;
  std::string source_hostname_key;
  std::string source_address_key;
  bool remove_newline = false;
  // syslog only
  std::string severity_key;
  std::string facility_key;
};

Result<std::unique_ptr<MessageHandler>> make_line_handler(const config::Section& source,
                                                          HandlerOptions o,
                                                          const InputContext& ctx);
Result<std::unique_ptr<MessageHandler>> make_syslog_handler(const config::Section& source,
                                                            HandlerOptions o,
                                                            const InputContext& ctx);

}  // namespace logctl::agentd
