// The loopback admin endpoint: GET /healthz (process alive), /readyz (every
// plugin started, and for a supervisor: its worker answers), /metrics
// (Prometheus text), /status (JSON, when set). Binding anything but a loopback
// address is refused: the endpoint has no authentication.
//
// Its own small HTTP/1.1 server (one request per connection) rather than
// cpp-httplib's thread per connection, so that no client can starve it: one
// I/O thread polls every connection; a connection has kRequestDeadline from
// accept to a complete request head (at most kMaxRequestHead bytes) and
// kWriteDeadline to take the reply; at kMaxConnections the oldest is closed
// to make room. /healthz and /readyz are answered on the I/O thread from
// atomics; /metrics and /status (which may wait on a worker) run on one
// handler thread, so health answers while they are slow.
// Thread safety: runs its own threads; setters before start(), set_ready any time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agentd/core/metrics.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

class AdminServer {
 public:
  static constexpr int kMaxConnections = 64;
  static constexpr std::size_t kMaxRequestHead = 8192;
  static constexpr auto kRequestDeadline = std::chrono::seconds(2);
  static constexpr auto kWriteDeadline = std::chrono::seconds(5);

  explicit AdminServer(Metrics& metrics);
  ~AdminServer();
  // "127.0.0.1:24220", "[::1]:24220", "localhost:0" (0 picks a free port).
  Status start(const std::string& endpoint);
  void stop();
  int port() const { return port_; }
  void set_ready(bool ready) { ready_ = ready; }
  // Before start(): a reason the process is not ready although started (""
  // when it is), text appended to /metrics, and the body of GET /status.
  void set_not_ready_reason(std::function<std::string()> fn) { not_ready_ = std::move(fn); }
  void set_extra_metrics(std::function<std::string()> fn) { extra_metrics_ = std::move(fn); }
  void set_status(std::function<std::string()> fn) { status_ = std::move(fn); }

 private:
  struct Reply {
    int status = 200;
    std::string type = "text/plain";
    std::string body;
  };
  struct Conn;
  void io_loop();
  void handler_loop();
  void on_request(int id, Conn& c);
  Reply answer_now(const std::string& method, const std::string& path, bool& slow) const;
  Reply answer_slow(const std::string& path) const;
  void wake();
  static std::string serialize(const Reply& r);

  Metrics& metrics_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop, or a slow reply is done
  std::atomic<bool> stopping_{false};
  std::thread io_thread_, handler_thread_;
  std::atomic<bool> ready_{false};
  std::function<std::string()> not_ready_, extra_metrics_, status_;
  int port_ = 0;

  // Slow requests: (connection id, path) in; (connection id, reply) out.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::string>> todo_;
  std::deque<std::pair<int, Reply>> done_;

  std::map<int, std::unique_ptr<Conn>> conns_;  // by id, oldest first (I/O thread only)
  int next_id_ = 0;
  std::atomic<std::uint64_t>& c_requests_;
  std::atomic<std::uint64_t>& c_evicted_;
};

}  // namespace logctl::agentd
