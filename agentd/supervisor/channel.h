// Both ends of the supervisor <-> worker channel (docs/handover-protocol.md).
//
// Worker:     hello -> (welcome | refused) ; listen(key) -> listener fd ... ; ready | failed
// Supervisor: serve_startup() answers hello (negotiating the version, or
//             refusing before anything else happens) and listen requests from
//             its SocketManager, until the worker reports ready or failed, or
//             the channel closes.
// Thread safety: one thread per channel end.
#pragma once

#include <string>

#include "agentd/supervisor/socket_manager.h"
#include "logctl/schema/handover_protocol.h"

namespace logctl::agentd {

class WorkerChannel {
 public:
  explicit WorkerChannel(int fd) : fd_(fd) {}
  // Announces [min_version, max_version]; returns the negotiated version.
  Result<int> hello(std::int64_t pid, std::int64_t generation,
                    int min_version = handover::kMinSupportedProtocolVersion,
                    int max_version = handover::kHandoverProtocolVersion);
  // A listener for `key`; the caller owns the returned fd.
  Result<int> listen(const std::string& key);
  Status ready();
  Status failed(const std::string& reason);

 private:
  Result<handover::Message> receive(std::vector<int>* fds);
  int fd_;
};

enum class StartupOutcome { kReady, kFailed, kRefused, kClosed };

struct StartupResult {
  StartupOutcome outcome = StartupOutcome::kClosed;
  int version = 0;
  std::int64_t worker_pid = 0;
  std::string reason;
};

class SupervisorChannel {
 public:
  SupervisorChannel(int fd, SocketManager& sockets) : fd_(fd), sockets_(sockets) {}
  Result<StartupResult> serve_startup();

 private:
  Status reply(const handover::Message& m, int fd = -1);
  int fd_;
  SocketManager& sockets_;
};

}  // namespace logctl::agentd
