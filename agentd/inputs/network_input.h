// tcp, udp and syslog inputs: one listener (TCP or UDP), a framing rule, and a
// MessageHandler. See input.h for the back-pressure contract.
#pragma once

#include "agentd/inputs/input.h"

namespace logctl::agentd {

Result<std::unique_ptr<Input>> make_network_input(const config::Section& source, InputContext ctx);

}  // namespace logctl::agentd
