#include "controller/api/front_door.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/api/request_head.h"
#include "logctl/schema/http_status.h"

namespace logctl::controller {

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr int kRoundsPerTurn = 64;  // a busy relay yields to the others after this

std::string serialize(const FastReply& r, bool close) {
  std::string s =
      "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(r.body.size()) +
      (close ? "\r\nConnection: close\r\n\r\n" : "\r\nConnection: keep-alive\r\n\r\n");
  return s + r.body;
}

// One connection's stage.
enum class Phase {
  kHandshake,        // TLS handshake under way
  kRequest,          // reading (or between) requests answered here
  kHandler,          // a heartbeat is with the handler pool
  kRelayConnecting,  // waiting for the backend to accept
  kRelay,            // bytes pass both ways to the backend
};

// I/O results of one read or write.
constexpr long kWouldBlock = -1;
constexpr long kFailed = -2;

struct Conn {
  std::uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  Phase phase = Phase::kHandshake;
  std::string in;   // from the client, not yet consumed
  std::string out;  // to the client
  std::size_t out_sent = 0;
  bool client_eof = false;
  bool close_after_write = false;
  bool close_after_reply = false;
  int backend = -1;
  std::string to_backend;
  std::size_t tb_sent = 0;
  bool backend_eof = false;
  bool backend_shut = false;
  Clock::time_point deadline;
  Clock::time_point relay_give_up;
  ~Conn() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
    if (backend >= 0) ::close(backend);
  }

  long recv_some(char* buf, std::size_t n) {
    if (!ssl) {
      for (;;) {
        ssize_t r = ::recv(fd, buf, n, 0);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? kWouldBlock : kFailed;
      }
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(ssl, buf, static_cast<int>(n));
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return kWouldBlock;
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) return 0;  // EOF
    return kFailed;
  }

  long send_some(const char* buf, std::size_t n) {
    if (!ssl) {
      for (;;) {
        ssize_t r = ::send(fd, buf, n, MSG_NOSIGNAL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? kWouldBlock : kFailed;
      }
    }
    ERR_clear_error();
    int r = SSL_write(ssl, buf, static_cast<int>(std::min<std::size_t>(n, 1 << 20)));
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return kWouldBlock;
    return kFailed;
  }
};

}  // namespace

struct FrontDoor::Impl {
  Impl(FrontDoorOptions opt, FastHandler f, ErrorBody eb, Counters& c)
      : o(std::move(opt)), fast(std::move(f)), error_body(std::move(eb)), counters(c) {}
  ~Impl() {
    conns.clear();
    for (int fd : {listen_fd, epfd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
    if (ctx) SSL_CTX_free(ctx);
  }

  FrontDoorOptions o;
  FastHandler fast;
  ErrorBody error_body;
  Counters& counters;
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1, epfd = -1, wake_fd = -1;
  std::atomic<bool> stop_requested{false};
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::vector<std::uint64_t> again;  // conns that yielded with work left
  std::uint64_t next_id = 1;
  bool accept_paused = false;
  Clock::time_point accept_resume, next_sweep;

  // The handler pool: jobs in, replies out (then the eventfd).
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::uint64_t, FastRequest>> jobs;
  std::deque<std::pair<std::uint64_t, FastReply>> done;
  bool pool_stop = false;
  std::vector<std::thread> pool;

  Result<int> bind();
  void serve();
  void wake() {
    std::uint64_t one = 1;
    if (wake_fd >= 0) [[maybe_unused]]
      auto n = ::write(wake_fd, &one, sizeof one);
  }

 private:
  void handler_loop();
  void accept_all();
  void deliver_replies();
  void sweep(Clock::time_point now);
  void close(std::uint64_t id) { conns.erase(id); }
  // Does all the I/O a connection can do now; false when it was closed.
  bool pump(Conn& c, std::uint32_t events);
  bool turn(Conn& c, bool& progress);
  bool flush_client(Conn& c, bool& progress);
  bool read_client(Conn& c, bool& progress);
  bool relay_io(Conn& c, bool& progress);
  void handle_requests(Conn& c, bool& progress);
  void refuse(Conn& c, int status, const std::string& code, const std::string& message);
  void start_relay(Conn& c);
  void try_connect(Conn& c);
  bool wants_client_read(const Conn& c) const;
};

Result<int> FrontDoor::Impl::bind() {
  if (o.tls) {
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return make_error(ErrorCode::kInternal, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections give their record buffers back: a fleet keeps many.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot load the TLS certificate " + o.cert + " and key " + o.key);
    }
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(o.port);
  if (int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resolve " + o.host + ": " + ::gai_strerror(rc));
  }
  int err = 0;
  for (addrinfo* a = res; a && listen_fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd = fd;
    } else {
      err = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  if (listen_fd < 0) {
    return make_error(ErrorCode::kIo,
                      "cannot listen on " + o.host + ":" + port + ": " + std::strerror(err));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  epfd = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd < 0 || wake_fd < 0) {
    return make_error(ErrorCode::kIo, std::string("epoll/eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenTag;
  ::epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev);
  return bound;
}

void FrontDoor::Impl::serve() {
  for (int i = 0; i < std::max(1, o.handler_threads); ++i) {
    pool.emplace_back([this] { handler_loop(); });
  }
  std::vector<epoll_event> evs(512);
  while (!stop_requested) {
    int timeout = again.empty() ? 250 : 0;
    int n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()), timeout);
    if (n < 0 && errno != EINTR) break;
    std::vector<std::uint64_t> retry;
    retry.swap(again);
    for (int i = 0; i < n; ++i) {
      std::uint64_t tag = evs[i].data.u64;
      if (tag == kListenTag) {
        accept_all();
      } else if (tag == kWakeTag) {
        std::uint64_t v;
        [[maybe_unused]] auto r = ::read(wake_fd, &v, sizeof v);
        deliver_replies();
      } else if (auto it = conns.find(tag >> 1); it != conns.end()) {
        // A hang-up on the backend side is read to its end, not acted on.
        pump(*it->second, (tag & 1) ? 0 : evs[i].events);
      }
    }
    for (std::uint64_t id : retry) {
      if (auto it = conns.find(id); it != conns.end()) pump(*it->second, 0);
    }
    sweep(Clock::now());
  }
  {
    std::lock_guard lock(mu);
    pool_stop = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  pool.clear();
  conns.clear();
}

void FrontDoor::Impl::handler_loop() {
  std::unique_lock lock(mu);
  for (;;) {
    cv.wait(lock, [&] { return pool_stop || !jobs.empty(); });
    if (pool_stop) return;
    auto job = std::move(jobs.front());
    jobs.pop_front();
    lock.unlock();
    FastReply r;
    try {
      r = fast(job.second);
    } catch (...) {
      r = {500, error_body(500, "internal", "internal error")};
    }
    lock.lock();
    done.emplace_back(job.first, std::move(r));
    wake();
  }
}

void FrontDoor::Impl::accept_all() {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: pause accepting rather than spin on the
        // readable listening socket; connections queue in the backlog.
        accept_paused = true;
        accept_resume = Clock::now() + std::chrono::milliseconds(100);
        epoll_event ev{};
        ev.data.u64 = kListenTag;
        ::epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev);
      }
      return;
    }
    if (conns.size() >= static_cast<std::size_t>(o.max_connections)) {
      ++counters.refused_full;
      ::close(fd);
      continue;
    }
    ++counters.accepted;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->id = next_id++;
    c->fd = fd;
    c->deadline = Clock::now() + o.request_timeout;
    if (ctx) {
      c->ssl = SSL_new(ctx);
      if (!c->ssl) continue;
      SSL_set_fd(c->ssl, fd);
      SSL_set_accept_state(c->ssl);
    } else {
      c->phase = Phase::kRequest;
    }
    // Edge-triggered: pump() always does all it can, so an edge is never
    // needed twice.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = c->id << 1;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) continue;
    Conn& ref = *c;
    conns.emplace(c->id, std::move(c));
    pump(ref, 0);
  }
}

void FrontDoor::Impl::deliver_replies() {
  std::deque<std::pair<std::uint64_t, FastReply>> ready;
  {
    std::lock_guard lock(mu);
    ready.swap(done);
  }
  auto now = Clock::now();
  for (auto& [id, reply] : ready) {
    auto it = conns.find(id);
    if (it == conns.end()) continue;  // the client left meanwhile
    Conn& c = *it->second;
    ++counters.fast_requests;
    c.out += serialize(reply, c.close_after_reply);
    c.close_after_write = c.close_after_reply;
    c.phase = Phase::kRequest;
    c.deadline = now + (c.in.empty() ? o.idle_timeout : o.request_timeout);
    pump(c, 0);
  }
}

void FrontDoor::Impl::sweep(Clock::time_point now) {
  if (accept_paused && now >= accept_resume) {
    accept_paused = false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev);
  }
  if (now < next_sweep) return;
  next_sweep = now + std::chrono::milliseconds(100);
  std::vector<std::uint64_t> expired, connecting;
  for (auto& [id, c] : conns) {
    if (c->phase == Phase::kRelayConnecting) connecting.push_back(id);
    if (c->phase != Phase::kHandler && now >= c->deadline) expired.push_back(id);
  }
  for (std::uint64_t id : expired) {
    ++counters.timeouts;
    close(id);
  }
  for (std::uint64_t id : connecting) {
    if (auto it = conns.find(id); it != conns.end()) {
      try_connect(*it->second);
      pump(*it->second, 0);
    }
  }
}

bool FrontDoor::Impl::pump(Conn& c, std::uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    close(c.id);  // reset or gone both ways: nothing more can be said
    return false;
  }
  if (c.phase == Phase::kHandshake) {
    ERR_clear_error();
    int r = SSL_do_handshake(c.ssl);
    if (r != 1) {
      int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
      ++counters.tls_failures;
      close(c.id);
      return false;
    }
    c.phase = Phase::kRequest;
  }
  for (int round = 0; round < kRoundsPerTurn; ++round) {
    bool progress = false;
    if (!turn(c, progress)) {
      close(c.id);
      return false;
    }
    if (!progress) return true;
  }
  again.push_back(c.id);  // more to do: after the others have had a turn
  return true;
}

// One pass over everything the connection can do; false: close it.
bool FrontDoor::Impl::turn(Conn& c, bool& progress) {
  if (!flush_client(c, progress)) return false;
  if (c.out_sent == c.out.size()) {
    c.out.clear();
    c.out_sent = 0;
    if (c.close_after_write) return false;
  }
  if (c.phase == Phase::kRelay && !relay_io(c, progress)) return false;
  if (wants_client_read(c) && !read_client(c, progress)) return false;
  if (c.phase == Phase::kRequest) handle_requests(c, progress);
  if (c.client_eof && c.out.empty()) {
    // The client is done: a request phase ends; a relay ends once the
    // backend has the rest and has answered.
    if (c.phase == Phase::kRequest) return false;
    if (c.phase == Phase::kRelay && c.backend_eof) return false;
  }
  if (c.phase == Phase::kRelay && c.backend_eof && c.out.empty()) return false;
  return true;
}

bool FrontDoor::Impl::wants_client_read(const Conn& c) const {
  if (c.client_eof || c.close_after_write) return false;
  switch (c.phase) {
    case Phase::kRequest:
      return c.in.size() < kMaxHead + o.max_body;
    case Phase::kRelay:
      return c.to_backend.size() - c.tb_sent < kRelayBuffer;
    default:
      return false;
  }
}

bool FrontDoor::Impl::flush_client(Conn& c, bool& progress) {
  while (c.out_sent < c.out.size()) {
    long r = c.send_some(c.out.data() + c.out_sent, c.out.size() - c.out_sent);
    if (r == kWouldBlock) break;
    if (r <= 0) return false;
    c.out_sent += static_cast<std::size_t>(r);
    progress = true;
    if (c.phase == Phase::kRelay) c.deadline = Clock::now() + o.idle_timeout;
  }
  if (c.out_sent > 0 && c.out_sent >= 65536) {
    c.out.erase(0, c.out_sent);
    c.out_sent = 0;
  }
  return true;
}

bool FrontDoor::Impl::read_client(Conn& c, bool& progress) {
  char buf[16384];
  while (wants_client_read(c)) {
    long r = c.recv_some(buf, sizeof buf);
    if (r == kWouldBlock) break;
    if (r == kFailed) return false;
    progress = true;
    if (r == 0) {
      c.client_eof = true;
      break;
    }
    auto now = Clock::now();
    if (c.phase == Phase::kRelay) {
      c.to_backend.append(buf, static_cast<std::size_t>(r));
      c.deadline = now + o.idle_timeout;
    } else {
      if (c.in.empty()) c.deadline = now + o.request_timeout;  // a request begins
      c.in.append(buf, static_cast<std::size_t>(r));
    }
  }
  return true;
}

bool FrontDoor::Impl::relay_io(Conn& c, bool& progress) {
  auto now = Clock::now();
  while (c.backend >= 0 && c.tb_sent < c.to_backend.size()) {
    ssize_t r = ::send(c.backend, c.to_backend.data() + c.tb_sent, c.to_backend.size() - c.tb_sent,
                       MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) return false;
    c.tb_sent += static_cast<std::size_t>(r);
    c.deadline = now + o.idle_timeout;
    progress = true;
  }
  if (c.tb_sent == c.to_backend.size()) {
    c.to_backend.clear();
    c.tb_sent = 0;
    if (c.client_eof && !c.backend_shut && c.backend >= 0) {
      ::shutdown(c.backend, SHUT_WR);
      c.backend_shut = true;
    }
  }
  char buf[16384];
  while (c.backend >= 0 && c.out.size() - c.out_sent < kRelayBuffer) {
    ssize_t r = ::recv(c.backend, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    progress = true;
    if (r <= 0) {  // the backend closed (or failed): what it said still goes out
      ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.backend, nullptr);
      ::close(c.backend);
      c.backend = -1;
      c.backend_eof = true;
      break;
    }
    c.out.append(buf, static_cast<std::size_t>(r));
    c.deadline = now + o.idle_timeout;
  }
  return true;
}

void FrontDoor::Impl::handle_requests(Conn& c, bool& progress) {
  while (c.phase == Phase::kRequest && !c.close_after_write && !c.in.empty()) {
    RequestHead h = parse_request_head(c.in);
    if (h.length == 0 || h.length > kMaxHead) {
      if (c.in.size() > kMaxHead) {
        refuse(c, 431, "header_too_large",
               "the request head is larger than " + std::to_string(kMaxHead) + " bytes");
      }
      return;
    }
    if (h.malformed) {
      return refuse(c, 400, "bad_request", "malformed request head");
    }
    std::string node = heartbeat_node(h.target);
    if (node.empty() || h.method != "POST" || h.version != "HTTP/1.1" || h.needs_relay) {
      progress = true;
      return start_relay(c);
    }
    if (!h.content_length) {
      return refuse(c, 411, "length_required", "send Content-Length (0 for an empty body)");
    }
    if (*h.content_length > o.max_body) {
      return refuse(
          c, 413, "payload_too_large",
          "the body is larger than this endpoint's " + std::to_string(o.max_body) + " bytes");
    }
    std::size_t total = h.length + *h.content_length;
    if (c.in.size() < total) return;  // the body is still coming
    FastRequest req{std::move(node), std::move(h.authorization),
                    c.in.substr(h.length, *h.content_length)};
    c.close_after_reply = h.close;
    c.in.erase(0, total);
    c.phase = Phase::kHandler;
    progress = true;
    {
      std::lock_guard lock(mu);
      jobs.emplace_back(c.id, std::move(req));
    }
    cv.notify_one();
  }
}

void FrontDoor::Impl::refuse(Conn& c, int status, const std::string& code,
                             const std::string& message) {
  ++counters.bad_requests;
  c.out += serialize({status, error_body(status, code, message)}, true);
  c.close_after_write = true;
  c.in.clear();
}

void FrontDoor::Impl::start_relay(Conn& c) {
  ++counters.relayed;
  c.to_backend = std::move(c.in);
  c.in.clear();
  c.phase = Phase::kRelayConnecting;
  c.relay_give_up = Clock::now() + o.request_timeout;
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

FrontDoor::FrontDoor(FrontDoorOptions o, FastHandler fast, ErrorBody error_body)
    : impl_(std::make_unique<Impl>(std::move(o), std::move(fast), std::move(error_body),
                                   counters_)) {}

FrontDoor::~FrontDoor() {
  stop();
}

Result<int> FrontDoor::bind() {
  return impl_->bind();
}

void FrontDoor::serve() {
  if (!impl_->stop_requested) impl_->serve();
}

void FrontDoor::stop() {
  impl_->stop_requested = true;
  impl_->wake();
}

}  // namespace logctl::controller
