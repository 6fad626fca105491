// SocketManager: the supervisor's listeners, by key ("tcp://127.0.0.1:5170").
//
// Each listener is created once — bound with SO_REUSEADDR, never
// SO_REUSEPORT: old and new workers share the one kernel socket, so nothing
// queued on it is lost when a worker goes — and lives as long as the manager.
// Workers get duplicates (dup(2)) to receive over SCM_RIGHTS. O_NONBLOCK is a
// property of the open file description, shared by every holder, so the
// manager sets it once at creation and no holder may clear it: two workers
// woken for one pending connection must not block in accept(2).
// Thread safety: all methods lock; safe from any thread.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "logctl/schema/handover_protocol.h"

namespace logctl::agentd {

class SocketManager {
 public:
  SocketManager() = default;
  ~SocketManager();
  SocketManager(const SocketManager&) = delete;
  SocketManager& operator=(const SocketManager&) = delete;

  // A new duplicate of the listener for `key`, creating it on first use. The
  // caller owns the returned fd.
  Result<int> acquire(const std::string& key);
  std::size_t size() const;
  // Every listener (canonical key, fd), e.g. to pass them across execve.
  std::vector<std::pair<std::string, int>> listeners() const;
  // Takes an inherited listener (after execve).
  void adopt(const std::string& key, int fd);
  // Closes every listener whose canonical key is not in `keep` (after a
  // committed handover: what no generation reads must refuse, not queue
  // into a black hole). Returns the keys closed.
  std::vector<std::string> close_unused(const std::set<std::string>& keep);
  static Result<std::string> canonical(const std::string& key);

 private:
  Result<int> create(const handover::ListenerKey& key);
  mutable std::mutex mu_;
  std::map<std::string, int> listeners_;  // canonical key -> fd
};

}  // namespace logctl::agentd
