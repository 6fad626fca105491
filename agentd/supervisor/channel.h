// Both ends of the supervisor <-> worker channel (docs/handover-protocol.md).
//
// Channel:           whole messages (+ fds) over one SOCK_SEQPACKET socket,
//                    with an optional deadline on receive.
// WorkerChannel:     hello -> (welcome | refused); listen(key) -> listener fd.
// SupervisorChannel: await(types) answers hello (negotiating the version, or
//                    refusing before anything else happens) and listen requests
//                    from its SocketManager until one of `types` (or failed)
//                    arrives, the deadline passes or the worker goes away.
// Thread safety: one reader and one writer per channel.
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agentd/supervisor/socket_manager.h"
#include "logctl/schema/handover_protocol.h"

namespace logctl::agentd {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

class Channel {
 public:
  explicit Channel(int fd = -1) : fd_(fd) {}
  int fd() const { return fd_; }
  Status send(const handover::Message& m, const std::vector<int>& fds = {}) const;
  // One message. Errors: kUnavailable when the peer closed ("peer closed") or
  // the deadline passed ("timed out"). Received fds go to *fds (the caller
  // owns them) or are closed when fds is null.
  Result<handover::Message> receive(std::vector<int>* fds, Deadline deadline = {}) const;

 private:
  int fd_;
};

class WorkerChannel : public Channel {
 public:
  using Channel::Channel;
  // Announces [min_version, max_version]; returns the negotiated version.
  Result<int> hello(std::int64_t pid, std::int64_t generation,
                    int min_version = handover::kMinSupportedProtocolVersion,
                    int max_version = handover::kHandoverProtocolVersion);
  // A listener for `key`; the caller owns the returned fd.
  Result<int> listen(const std::string& key);
  Status ready(int admin_port = 0);
  Status failed(const std::string& reason);
};

class SupervisorChannel : public Channel {
 public:
  SupervisorChannel(int fd, SocketManager& sockets) : Channel(fd), sockets_(sockets) {}
  // Serves hello/listen until a message of one of `types` or kFailed arrives
  // (returned as is). A refused hello is an error naming both ranges.
  Result<handover::Message> await(std::initializer_list<handover::MessageType> types,
                                  Deadline deadline = {}, std::vector<int>* fds = nullptr);
  int version() const { return version_; }
  std::int64_t worker_pid() const { return worker_pid_; }

  // Canonical keys of the listeners this worker acquired.
  const std::set<std::string>& listener_keys() const { return keys_; }

 private:
  SocketManager& sockets_;
  std::set<std::string> keys_;
  int version_ = 0;
  std::int64_t worker_pid_ = 0;
};

}  // namespace logctl::agentd
