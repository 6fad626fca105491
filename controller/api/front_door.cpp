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

#include "controller/api/front_door_internal.h"
#include "controller/api/request_head.h"

namespace logctl::controller {

using front_door_detail::kFailed;
using front_door_detail::kWouldBlock;
using front_door_detail::serialize;

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr int kRoundsPerTurn = 64;  // a busy relay yields to the others after this

}  // namespace

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
    Job job = std::move(jobs.front());
    jobs.pop_front();
    lock.unlock();
    Done d{job.id, {}, std::nullopt};
    try {
      if (job.admit) {
        d.admission = admit(job.method, job.target, job.heartbeat.authorization);
      } else {
        d.reply = fast(job.heartbeat);
      }
    } catch (...) {
      d.reply = {500, error_body(500, "internal", "internal error")};
      if (job.admit) d.admission = Admission{false, 0, d.reply};
    }
    lock.lock();
    done.push_back(std::move(d));
    wake();
  }
}

void FrontDoor::Impl::set_pending(Conn& c, bool pending) {
  if (c.pending == pending) return;
  c.pending = pending;
  if (pending) {
    ++pending_by_source[c.source];
  } else if (auto it = pending_by_source.find(c.source);
             it != pending_by_source.end() && --it->second <= 0) {
    pending_by_source.erase(it);
  }
}

void FrontDoor::Impl::accept_all() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
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
    // The source: the address alone (an IPv4-mapped IPv6 one as its IPv4).
    std::string source;
    if (peer.ss_family == AF_INET) {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&peer);
      source.assign(reinterpret_cast<const char*>(&in4->sin_addr), 4);
    } else if (peer.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&peer);
      const char* bytes = reinterpret_cast<const char*>(&in6->sin6_addr);
      source = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ? std::string(bytes + 12, 4)
                                                     : std::string(bytes, 16);
    }
    if (auto it = pending_by_source.find(source);
        it != pending_by_source.end() && it->second >= o.max_pending_per_source) {
      ++counters.refused_source;
      ::close(fd);
      continue;
    }
    ++counters.accepted;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->id = next_id++;
    c->fd = fd;
    c->source = std::move(source);
    c->request_start = Clock::now();
    c->deadline = c->request_start + o.request_timeout;
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
    set_pending(ref, true);  // until its first request is whole
    pump(ref, 0);
  }
}

void FrontDoor::Impl::deliver_replies() {
  std::deque<Done> ready;
  {
    std::lock_guard lock(mu);
    ready.swap(done);
  }
  auto now = Clock::now();
  for (Done& d : ready) {
    auto it = conns.find(d.id);
    if (it == conns.end()) continue;  // the client left meanwhile
    Conn& c = *it->second;
    if (d.admission) {
      admitted(c, *d.admission);
    } else {
      ++counters.fast_requests;
      c.out += serialize(d.reply, c.close_after_reply);
      c.close_after_write = c.close_after_reply;
      c.phase = Phase::kRequest;
      c.request_start = now;
      c.deadline = now + (c.in.empty() ? o.idle_timeout : o.request_timeout);
    }
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
    if (c->phase != Phase::kHandler && c->phase != Phase::kAdmit && now >= c->deadline) {
      expired.push_back(id);
    }
  }
  for (std::uint64_t id : expired) {
    ++counters.timeouts;
    Conn& c = *conns[id];
    // A request begun and not finished in time is told so (one try: the
    // answer is small, and the client may not be reading).
    if ((c.phase == Phase::kRequest || c.phase == Phase::kBody) && !c.in.empty() &&
        c.out_sent == c.out.size()) {
      std::string late = serialize({408, error_body(408, "request_timeout",
                                                    "the request was not whole within its time "
                                                    "limit (10 s, and 1 s per MiB of body)")},
                                   true);
      c.send_some(late.data(), late.size());
    }
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
  if ((c.phase == Phase::kRelay || c.phase == Phase::kRelayConnecting) && !relay_io(c, progress)) {
    return false;
  }
  if (wants_client_read(c) && !read_client(c, progress)) return false;
  if (c.phase == Phase::kBody && c.in.size() >= c.head_length + c.body_length) {
    progress = true;
    start_relay(c);
  }
  if (c.phase == Phase::kRequest) handle_requests(c, progress);
  // A client that is done sending gets the answers to what it sent (a
  // half-close is not a hang-up), then the close.
  if (c.client_eof && c.out.empty() && (c.phase == Phase::kRequest || c.phase == Phase::kBody)) {
    return false;
  }
  return true;
}

bool FrontDoor::Impl::wants_client_read(const Conn& c) const {
  if (c.client_eof || c.close_after_write) return false;
  switch (c.phase) {
    case Phase::kRequest:
      // Until a head is whole, only a head's worth: a relayed request's body
      // is read after its admission, a heartbeat's once its head said how long.
      return c.in.size() < (c.heartbeat_total ? c.heartbeat_total : kMaxHead + 1);
    case Phase::kBody:
      return c.in.size() < c.head_length + c.body_length;
    default:
      return false;  // the next request waits in the socket
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
    std::size_t want = sizeof buf;
    if (c.phase == Phase::kBody) {
      want = std::min<std::size_t>(want, c.head_length + c.body_length - c.in.size());
    }
    long r = c.recv_some(buf, want);
    if (r == kWouldBlock) break;
    if (r == kFailed) return false;
    progress = true;
    if (r == 0) {
      c.client_eof = true;
      break;
    }
    if (c.in.empty() && c.phase == Phase::kRequest) {  // a request begins
      auto now = Clock::now();
      c.request_start = now;
      c.deadline = now + o.request_timeout;
      if (!c.pending) {
        auto it = pending_by_source.find(c.source);
        if (it != pending_by_source.end() && it->second >= o.max_pending_per_source) {
          ++counters.refused_source;
          c.in.assign(buf, static_cast<std::size_t>(r));
          refuse(c, 503, "too_many_requests",
                 "too many requests in flight from this address: retry");
          return true;
        }
        set_pending(c, true);
      }
    }
    c.in.append(buf, static_cast<std::size_t>(r));
  }
  return true;
}

void FrontDoor::Impl::queue(Conn& c, Phase phase, Job job) {
  c.phase = phase;
  {
    std::lock_guard lock(mu);
    jobs.push_back(std::move(job));
  }
  cv.notify_one();
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
    if (h.chunked) {
      return refuse(c, 411, "length_required",
                    "send the body with a Content-Length (Transfer-Encoding is not accepted)");
    }
    if (!h.expect.empty() && !h.expect_continue) {
      return refuse(c, 417, "expectation_failed", "the only Expect understood is 100-continue");
    }
    bool has_body = h.method == "POST" || h.method == "PUT" || h.method == "PATCH";
    if (!h.content_length && has_body) {
      return refuse(c, 411, "length_required", "send Content-Length (0 for an empty body)");
    }
    c.close_after_reply = h.close;
    progress = true;
    std::string node = heartbeat_node(h.target);
    if (node.empty() || h.method != "POST" || h.version != "HTTP/1.1" || h.expect_continue) {
      // Relayed: admitted from the head first.
      c.head_length = h.length;
      c.body_length = h.content_length.value_or(0);
      c.expect_continue = h.expect_continue;
      Job job{c.id,
              {"", std::move(h.authorization), ""},
              true,
              std::string(h.method),
              std::string(h.target)};
      return queue(c, Phase::kAdmit, std::move(job));
    }
    if (*h.content_length > o.max_body) {
      return refuse(
          c, 413, "payload_too_large",
          "the body is larger than this endpoint's " + std::to_string(o.max_body) + " bytes");
    }
    std::size_t total = h.length + *h.content_length;
    if (c.in.size() < total) {  // the body is still coming
      c.heartbeat_total = total;
      return;
    }
    c.heartbeat_total = 0;
    FastRequest req{std::move(node), std::move(h.authorization),
                    c.in.substr(h.length, *h.content_length)};
    c.in.erase(0, total);
    set_pending(c, false);
    queue(c, Phase::kHandler, Job{c.id, std::move(req), false, "", ""});
  }
}

void FrontDoor::Impl::refuse(Conn& c, int status, const std::string& code,
                             const std::string& message) {
  ++counters.bad_requests;
  c.out += serialize({status, error_body(status, code, message)}, true);
  c.close_after_write = true;
  c.in.clear();
}

FrontDoor::FrontDoor(FrontDoorOptions o, FastHandler fast, Admit admit, ErrorBody error_body)
    : impl_(std::make_unique<Impl>(std::move(o), std::move(fast), std::move(admit),
                                   std::move(error_body), counters_)) {}

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
