#include "agentd/admin/admin_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "agentd/core/log.h"
#include "logctl/schema/http_status.h"

namespace logctl::agentd {

using std::chrono::steady_clock;

struct AdminServer::Conn {
  int fd = -1;
  steady_clock::time_point deadline;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool waiting = false;  // a slow reply is being made
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

std::string AdminServer::serialize(const Reply& r) {
  return "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
         "\r\nContent-Type: " + r.type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
         "\r\nConnection: close\r\n\r\n" + r.body;
}

namespace {

Result<int> listen_loopback(const std::string& host, int port, int& bound_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (host == "::1") {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) {
      return make_error(ErrorCode::kInvalidArgument, "admin endpoint: bad address '" + host + "'");
    }
    len = sizeof *a;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    return make_error(ErrorCode::kUnavailable, "admin endpoint: cannot listen on " + host + ":" +
                                                   std::to_string(port) + ": " +
                                                   std::strerror(err));
  }
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  bound_port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

}  // namespace

AdminServer::AdminServer(Metrics& metrics)
    : metrics_(metrics),
      c_requests_(metrics.counter("agentd_admin_requests_total", "Admin endpoint requests.", {})),
      c_evicted_(metrics.counter("agentd_admin_evicted_connections_total",
                                 "Admin connections closed for a deadline or the connection cap.",
                                 {})) {}

AdminServer::~AdminServer() {
  stop();
}

Status AdminServer::start(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "admin endpoint '" + endpoint + "' is not host:port");
  }
  std::string host = endpoint.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(endpoint.substr(colon + 1));
  } catch (const std::exception&) {
    return make_error(ErrorCode::kInvalidArgument, "admin endpoint '" + endpoint + "': bad port");
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host.rfind("127.", 0) != 0 && host != "::1") {
    return make_error(
        ErrorCode::kInvalidArgument,
        "admin endpoint must be on loopback (127.0.0.0/8 or ::1), not '" + host + "'");
  }
  auto fd = listen_loopback(host, port, port_);
  if (!fd) return std::unexpected(fd.error());
  listen_fd_ = *fd;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  stopping_ = false;
  io_thread_ = std::thread([this] { io_loop(); });
  handler_thread_ = std::thread([this] { handler_loop(); });
  log::info("admin endpoint on http://" + (host == "::1" ? "[::1]" : host) + ":" +
            std::to_string(port_));
  return {};
}

void AdminServer::stop() {
  if (!io_thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  wake();
  io_thread_.join();
  handler_thread_.join();
  conns_.clear();
  todo_.clear();
  done_.clear();
  ::close(listen_fd_);
  ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

void AdminServer::wake() {
  std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void AdminServer::io_loop() {
  std::vector<pollfd> fds;
  std::vector<int> ids;
  steady_clock::time_point accept_paused_until{};
  while (!stopping_) {
    auto now = steady_clock::now();
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (now >= it->second->deadline) {
        ++c_evicted_;
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    // Out of descriptors, the listener stays readable: pause it, never spin.
    short listen_events = now >= accept_paused_until ? POLLIN : 0;
    fds.assign({{listen_fd_, listen_events, 0}, {wake_fd_, POLLIN, 0}});
    ids.assign({-1, -1});
    for (auto& [id, c] : conns_) {
      if (c->waiting) continue;
      fds.push_back({c->fd, static_cast<short>(c->out.empty() ? POLLIN : POLLOUT), 0});
      ids.push_back(id);
    }
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    if (fds[1].revents) {
      std::uint64_t n;
      (void)!::read(wake_fd_, &n, sizeof n);
      std::lock_guard lock(mu_);
      for (auto& [id, reply] : done_) {
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;  // closed meanwhile
        it->second->waiting = false;
        it->second->out = serialize(reply);
        it->second->deadline = steady_clock::now() + kWriteDeadline;
      }
      done_.clear();
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto it = conns_.find(ids[i]);
      Conn& c = *it->second;
      if (!c.out.empty()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<std::size_t>(n);
        if (n < 0 && errno == EAGAIN) continue;
        if (n <= 0 || c.sent == c.out.size()) conns_.erase(it);
        continue;
      }
      char buf[4096];
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EAGAIN) continue;
      if (n <= 0) {
        conns_.erase(it);
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
      on_request(ids[i], c);
    }
    if (fds[0].revents) {
      for (int k = 0; k < 16; ++k) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
          accept_paused_until = steady_clock::now() + std::chrono::milliseconds(100);
        }
        if (fd < 0) break;
        if (static_cast<int>(conns_.size()) >= kMaxConnections) {
          ++c_evicted_;
          conns_.erase(conns_.begin());  // the oldest makes room
        }
        auto c = std::make_unique<Conn>();
        c->fd = fd;
        c->deadline = steady_clock::now() + kRequestDeadline;
        conns_.emplace(next_id_++, std::move(c));
      }
    }
  }
}

// Parses the request head once it is complete and starts the reply.
void AdminServer::on_request(int id, Conn& c) {
  auto end = c.in.find("\r\n\r\n");
  Reply r;
  bool slow = false;
  if (end == std::string::npos && c.in.size() > kMaxRequestHead) {
    r = {431, "text/plain", "request head too large\n"};
  } else if (end == std::string::npos) {
    return;  // not complete yet
  } else {
    auto line_end = c.in.find("\r\n");
    std::string line = c.in.substr(0, line_end);
    auto sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1 || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
      r = {400, "text/plain", "bad request line\n"};
    } else {
      r = answer_now(line.substr(0, sp1), line.substr(sp1 + 1, sp2 - sp1 - 1), slow);
    }
  }
  ++c_requests_;
  if (slow) {
    c.waiting = true;
    c.deadline = steady_clock::now() + kWriteDeadline + std::chrono::seconds(5);
    std::lock_guard lock(mu_);
    auto path = c.in.substr(c.in.find(' ') + 1);
    todo_.emplace_back(id, path.substr(0, path.find(' ')));
    cv_.notify_one();
    return;
  }
  c.out = serialize(r);
  c.deadline = steady_clock::now() + kWriteDeadline;
}

AdminServer::Reply AdminServer::answer_now(const std::string& method, const std::string& path,
                                           bool& slow) const {
  if (method != "GET") return {405, "text/plain", "GET only\n"};
  if (path == "/healthz") return {200, "text/plain", "ok\n"};
  if (path == "/readyz") {
    if (!ready_) return {503, "text/plain", "starting\n"};
    std::string why = not_ready_ ? not_ready_() : "";
    if (!why.empty()) return {503, "text/plain", "not ready: " + why + "\n"};
    return {200, "text/plain", "ready\n"};
  }
  if (path == "/metrics" || (path == "/status" && status_)) {
    slow = true;
    return {};
  }
  return {404, "text/plain", "not found\n"};
}

AdminServer::Reply AdminServer::answer_slow(const std::string& path) const {
  if (path == "/status") return {200, "application/json", status_()};
  std::string text = metrics_.render();
  if (extra_metrics_) text += extra_metrics_();
  return {200, "text/plain; version=0.0.4", text};
}

void AdminServer::handler_loop() {
  for (;;) {
    std::pair<int, std::string> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !todo_.empty(); });
      if (stopping_) return;
      job = std::move(todo_.front());
      todo_.pop_front();
    }
    Reply r = answer_slow(job.second);
    {
      std::lock_guard lock(mu_);
      done_.emplace_back(job.first, std::move(r));
    }
    wake();
  }
}

}  // namespace logctl::agentd
