// Relayed requests (front_door_internal.h): admitted from the head, read
// whole, sent to the API server on a connection of their own, and the
// response streamed back with its Connection field rewritten.
#include <sys/epoll.h>
#include <sys/un.h>

#include <cstring>

#include "controller/api/front_door_internal.h"
#include "controller/api/request_head.h"

namespace logctl::controller {

using front_door_detail::kFailed;
using front_door_detail::kWouldBlock;
using front_door_detail::serialize;

// A relayed request's head was admitted, or refused.
void FrontDoor::Impl::admitted(Conn& c, const Admission& a) {
  c.phase = Phase::kRequest;
  if (!a.ok) {
    ++counters.refused_admission;
    c.out += serialize(a.refusal, true);  // its body, if any, is never read
    c.close_after_write = true;
    c.in.clear();
    return;
  }
  if (c.body_length > a.max_body) {
    return refuse(
        c, 413, "payload_too_large",
        "the body is larger than this endpoint's " + std::to_string(a.max_body) + " bytes");
  }
  // The whole request in request_timeout, a large body at min_body_rate.
  auto body_share =
      std::chrono::milliseconds(c.body_length * 1000 / std::max<std::uint64_t>(1, o.min_body_rate));
  c.deadline = c.request_start + o.request_timeout + body_share;
  c.phase = Phase::kBody;
  if (c.expect_continue && c.in.size() < c.head_length + c.body_length) {
    c.out += "HTTP/1.1 100 Continue\r\n\r\n";
  }
}

bool FrontDoor::Impl::relay_io(Conn& c, bool& progress) {
  if (c.backend < 0) return true;  // still connecting
  auto now = Clock::now();
  while (c.tb_sent < c.to_backend.size()) {
    ssize_t r = ::send(c.backend, c.to_backend.data() + c.tb_sent, c.to_backend.size() - c.tb_sent,
                       MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) return false;
    c.tb_sent += static_cast<std::size_t>(r);
    c.deadline = now + o.idle_timeout;
    progress = true;
  }
  if (c.tb_sent == c.to_backend.size() && !c.to_backend.empty()) {
    c.to_backend.clear();
    c.to_backend.shrink_to_fit();
    c.tb_sent = 0;
  }
  char buf[16384];
  while (c.backend >= 0 && c.out.size() - c.out_sent < kRelayBuffer) {
    ssize_t r = ::recv(c.backend, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    progress = true;
    c.deadline = now + o.idle_timeout;
    if (r <= 0) {  // the backend closed: its response is whole (or it failed)
      response_done(c);
      break;
    }
    if (c.response_head_done) {
      c.out.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    c.response_head.append(buf, static_cast<std::size_t>(r));
    ResponseHead rh = parse_response_head(c.response_head);
    if (rh.length == 0 && c.response_head.size() <= kMaxHead) continue;
    // The head: its Connection field says whether this connection goes on
    // (not for a head that cannot be read: that is passed on, then closed).
    c.response_head_done = true;
    c.keep_alive =
        rh.length != 0 && !rh.malformed && rh.framed && !c.close_after_reply && !c.client_eof;
    if (rh.length == 0 || rh.malformed) {
      c.out += c.response_head;
    } else {
      c.out += client_response_head(std::string_view(c.response_head).substr(0, rh.length),
                                    c.keep_alive);
      c.out.append(c.response_head, rh.length);
    }
    c.response_head.clear();
  }
  return true;
}

// The backend closed: the response went out whole, and a kept-alive
// connection reads its next request.
void FrontDoor::Impl::response_done(Conn& c) {
  ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.backend, nullptr);
  ::close(c.backend);
  c.backend = -1;
  bool said_nothing = !c.response_head_done && c.response_head.empty();
  if (!c.response_head_done) c.out += c.response_head;
  c.response_head.clear();
  c.response_head_done = false;
  c.to_backend.clear();
  c.tb_sent = 0;
  c.phase = Phase::kRequest;
  if (said_nothing) {
    return refuse(c, 502, "bad_gateway", "the API server closed without an answer: retry");
  }
  if (!c.keep_alive) {
    c.close_after_write = true;
    return;
  }
  auto now = Clock::now();
  c.request_start = now;
  c.deadline = now + (c.in.empty() ? o.idle_timeout : o.request_timeout);
}

void FrontDoor::Impl::start_relay(Conn& c) {
  ++counters.relayed;
  std::size_t total = c.head_length + c.body_length;
  c.to_backend = backend_head(std::string_view(c.in).substr(0, c.head_length));
  c.to_backend.append(c.in, c.head_length, c.body_length);
  c.in.erase(0, total);
  set_pending(c, false);
  c.response_head.clear();
  c.response_head_done = false;
  c.keep_alive = false;
  c.phase = Phase::kRelayConnecting;
  c.relay_give_up = Clock::now() + o.request_timeout;
  c.deadline = c.relay_give_up + std::chrono::seconds(1);
  try_connect(c);
}

// Connects to the backend; a full backlog (EAGAIN) is retried by sweep()
// until relay_give_up.
void FrontDoor::Impl::try_connect(Conn& c) {
  if (c.phase != Phase::kRelayConnecting) return;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, o.backend.c_str(), sizeof a.sun_path - 1);
  int rc = fd < 0 ? -1 : ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc == 0) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (c.id << 1) | 1;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    c.backend = fd;
    c.phase = Phase::kRelay;
    c.deadline = Clock::now() + o.idle_timeout;
    return;
  }
  int err = errno;
  if (fd >= 0) ::close(fd);
  bool busy = err == EAGAIN || err == EWOULDBLOCK;
  if (busy && Clock::now() < c.relay_give_up) return;
  c.phase = Phase::kRequest;
  c.to_backend.clear();
  refuse(c, 503, "unavailable",
         busy ? "the controller is busy: retry" : "the API backend is not serving");
}

}  // namespace logctl::controller
