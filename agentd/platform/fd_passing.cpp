#include "agentd/platform/fd_passing.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agentd/platform/fs.h"
#include "logctl/schema/handover_protocol.h"

namespace logctl::agentd::fdpass {

Status socket_pair(int fds[2]) {
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return std::unexpected(fs::errno_error("socketpair", "SOCK_SEQPACKET", errno));
  }
  return {};
}

Status send(int sock, const std::string& payload, const std::vector<int>& fds) {
  if (fds.size() > handover::kMaxFdsPerMessage) {
    return make_error(ErrorCode::kInvalidArgument, "too many fds in one message");
  }
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n >= 0) return {};
    if (errno != EINTR)
      return std::unexpected(fs::errno_error("sendmsg", "handover socket", errno));
  }
}

Result<Received> receive(int sock, std::size_t max_payload, std::size_t max_fds) {
  Received r;
  r.payload.resize(max_payload + 1);
  iovec iov{r.payload.data(), r.payload.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return std::unexpected(fs::errno_error("recvmsg", "handover socket", errno));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const auto* data = reinterpret_cast<const int*>(CMSG_DATA(c));
      r.fds.insert(r.fds.end(), data, data + count);
    }
  }
  auto fail = [&](const std::string& why) -> Result<Received> {
    for (int fd : r.fds) ::close(fd);
    return make_error(ErrorCode::kCorrupt, "handover socket: " + why);
  };
  if (msg.msg_flags & MSG_CTRUNC) return fail("control message truncated (too many fds)");
  if ((msg.msg_flags & MSG_TRUNC) || static_cast<std::size_t>(n) > max_payload) {
    return fail("message larger than " + std::to_string(max_payload) + " bytes");
  }
  if (n == 0 && r.fds.empty()) return make_error(ErrorCode::kUnavailable, "handover peer closed");
  r.payload.resize(static_cast<std::size_t>(n));
  return r;
}

}  // namespace logctl::agentd::fdpass
