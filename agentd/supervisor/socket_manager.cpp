#include "agentd/supervisor/socket_manager.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agentd/platform/fs.h"

namespace logctl::agentd {

SocketManager::~SocketManager() {
  for (auto& [key, fd] : listeners_) ::close(fd);
}

std::size_t SocketManager::size() const {
  std::lock_guard lock(mu_);
  return listeners_.size();
}

std::vector<std::pair<std::string, int>> SocketManager::listeners() const {
  std::lock_guard lock(mu_);
  return {listeners_.begin(), listeners_.end()};
}

void SocketManager::adopt(const std::string& key, int fd) {
  std::lock_guard lock(mu_);
  listeners_[key] = fd;
}

std::vector<std::string> SocketManager::close_unused(const std::set<std::string>& keep) {
  std::lock_guard lock(mu_);
  std::vector<std::string> closed;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    ::close(it->second);
    closed.push_back(it->first);
    it = listeners_.erase(it);
  }
  return closed;
}

Result<std::string> SocketManager::canonical(const std::string& text) {
  auto key = handover::parse_listener_key(text);
  if (!key) return std::unexpected(key.error());
  return key->str();
}

Result<int> SocketManager::acquire(const std::string& text) {
  auto key = handover::parse_listener_key(text);
  if (!key) return std::unexpected(key.error());
  std::lock_guard lock(mu_);
  std::string canonical = key->str();
  auto it = listeners_.find(canonical);
  if (it == listeners_.end()) {
    auto fd = create(*key);
    if (!fd) return fd;
    it = listeners_.emplace(canonical, *fd).first;
  }
  int dup = ::fcntl(it->second, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return std::unexpected(fs::errno_error("dup", canonical, errno));
  return dup;
}

Result<int> SocketManager::create(const handover::ListenerKey& key) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family;
  if (::inet_pton(AF_INET, key.host.c_str(), &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr) ==
      1) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(key.port));
    len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, key.host.c_str(),
                         &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr) == 1) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(key.port));
    len = sizeof(sockaddr_in6);
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "listener " + key.str() + ": host must be a numeric address");
  }
  bool tcp = key.proto == handover::ListenerKey::Proto::kTcp;
  int fd = ::socket(family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::unexpected(fs::errno_error("socket", key.str(), errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      (tcp && ::listen(fd, SOMAXCONN) != 0)) {
    int err = errno;
    ::close(fd);
    return std::unexpected(fs::errno_error("listen", key.str(), err));
  }
  return fd;
}

}  // namespace logctl::agentd
