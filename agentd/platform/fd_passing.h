// Messages with file descriptors over AF_UNIX SOCK_SEQPACKET (SCM_RIGHTS).
// One packet = one message + at most 253 fds; a truncated control message
// (MSG_CTRUNC) or payload (MSG_TRUNC) is an error, and any fds that did
// arrive are closed so none leak.
// Thread safety: reentrant; one reader and one writer per socket.
#pragma once

#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd::fdpass {

// A connected SOCK_SEQPACKET pair (close-on-exec).
Status socket_pair(int fds[2]);

Status send(int sock, const std::string& payload, const std::vector<int>& fds);

struct Received {
  std::string payload;
  std::vector<int> fds;  // owned by the caller
};
// Blocks for one message. kUnavailable on orderly shutdown of the peer.
Result<Received> receive(int sock, std::size_t max_payload, std::size_t max_fds);

}  // namespace logctl::agentd::fdpass
