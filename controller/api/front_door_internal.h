// The front door's insides (front_door.h), shared by its two files:
// front_door.cpp (accepting, TLS, reading requests, heartbeats, timeouts)
// and front_door_relay.cpp (relayed requests: admission, the whole body, the
// backend connection, the response and its Connection field). Not part of
// the controller's interface.
// Thread safety: as FrontDoor (the I/O thread owns every Conn).
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "controller/api/front_door.h"
#include "logctl/schema/http_status.h"

namespace logctl::controller {

using Clock = std::chrono::steady_clock;

namespace front_door_detail {

inline std::string serialize(const FastReply& r, bool close) {
  std::string s =
      "HTTP/1.1 " + std::to_string(r.status) + " " + http_reason(r.status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(r.body.size()) +
      (close ? "\r\nConnection: close\r\n\r\n" : "\r\nConnection: keep-alive\r\n\r\n");
  return s + r.body;
}

// One connection's stage.
enum class Phase {
  kHandshake,        // TLS handshake under way
  kRequest,          // reading (or between) requests
  kHandler,          // a heartbeat is with the handler pool
  kAdmit,            // a relayed request's head is with the handler pool (Admit)
  kBody,             // reading an admitted request's body
  kRelayConnecting,  // waiting for the backend to accept
  kRelay,            // the request goes to the backend, its response to the client
};

// I/O results of one read or write.
constexpr long kWouldBlock = -1;
constexpr long kFailed = -2;

struct Conn {
  std::uint64_t id = 0;
  int fd = -1;
  SSL* ssl = nullptr;
  Phase phase = Phase::kHandshake;
  std::string source;    // the peer's address
  bool pending = false;  // counted in its source's pending connections
  std::string in;        // from the client, not yet consumed
  std::string out;       // to the client
  std::size_t out_sent = 0;
  bool client_eof = false;
  bool close_after_write = false;
  bool close_after_reply = false;   // the client asked for a close after this request
  std::size_t heartbeat_total = 0;  // a heartbeat's head and body, once its head was read
  Clock::time_point deadline;
  Clock::time_point request_start;  // the current request's first byte (or accept)
  // The relayed request: its head and body lengths in `in`.
  std::size_t head_length = 0;
  std::uint64_t body_length = 0;
  bool expect_continue = false;
  int backend = -1;
  std::string to_backend;
  std::size_t tb_sent = 0;
  std::string response_head;  // the backend's response head, until complete
  bool response_head_done = false;
  bool keep_alive = false;  // after this response
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

}  // namespace front_door_detail

using front_door_detail::Conn;
using front_door_detail::Phase;

struct FrontDoor::Impl {
  Impl(FrontDoorOptions opt, FastHandler f, Admit ad, ErrorBody eb, Counters& c)
      : o(std::move(opt)),
        fast(std::move(f)),
        admit(std::move(ad)),
        error_body(std::move(eb)),
        counters(c) {}
  ~Impl() {
    conns.clear();
    for (int fd : {listen_fd, epfd, wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
    if (ctx) SSL_CTX_free(ctx);
  }

  FrontDoorOptions o;
  FastHandler fast;
  Admit admit;
  ErrorBody error_body;
  Counters& counters;
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1, epfd = -1, wake_fd = -1;
  std::atomic<bool> stop_requested{false};
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, int> pending_by_source;
  std::vector<std::uint64_t> again;  // conns that yielded with work left
  std::uint64_t next_id = 1;
  bool accept_paused = false;
  Clock::time_point accept_resume, next_sweep;

  // The handler pool: jobs in, replies out (then the eventfd). A job is a
  // heartbeat, or a relayed request's head to admit.
  struct Job {
    std::uint64_t id;
    FastRequest heartbeat;
    bool admit = false;
    std::string method, target;
  };
  struct Done {
    std::uint64_t id;
    FastReply reply;
    std::optional<Admission> admission;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::deque<Done> done;
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
  void admitted(Conn& c, const Admission& a);
  void sweep(Clock::time_point now);
  void close(std::uint64_t id) {
    if (auto it = conns.find(id); it != conns.end()) set_pending(*it->second, false);
    conns.erase(id);
  }
  // Counts (or stops counting) `c` among its source's pending connections.
  void set_pending(Conn& c, bool pending);
  // Does all the I/O a connection can do now; false when it was closed.
  bool pump(Conn& c, std::uint32_t events);
  bool turn(Conn& c, bool& progress);
  bool flush_client(Conn& c, bool& progress);
  bool read_client(Conn& c, bool& progress);
  bool relay_io(Conn& c, bool& progress);
  void response_done(Conn& c);
  void handle_requests(Conn& c, bool& progress);
  void queue(Conn& c, Phase phase, Job job);
  void refuse(Conn& c, int status, const std::string& code, const std::string& message);
  void start_relay(Conn& c);
  void try_connect(Conn& c);
  bool wants_client_read(const Conn& c) const;
};

}  // namespace logctl::controller
