// The loopback admin endpoint: GET /healthz (process alive), /readyz (every
// plugin started), /metrics (Prometheus text), /status (JSON, when set). Binding anything but a
// loopback address is refused: the endpoint has no authentication. Thread safety: runs its own
// thread; readiness is an atomic.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agentd/core/metrics.h"
#include "logctl/schema/result.h"

namespace httplib {
class Server;
}

namespace logctl::agentd {

class AdminServer {
 public:
  explicit AdminServer(Metrics& metrics);
  ~AdminServer();
  // "127.0.0.1:24220", "[::1]:24220", "localhost:0" (0 picks a free port).
  Status start(const std::string& endpoint);
  void stop();
  int port() const { return port_; }
  void set_ready(bool ready) { ready_ = ready; }
  // Before start(): text appended to /metrics (the worker's, for a supervisor)
  // and the body of GET /status (JSON).
  void set_extra_metrics(std::function<std::string()> fn) { extra_metrics_ = std::move(fn); }
  void set_status(std::function<std::string()> fn) { status_ = std::move(fn); }

 private:
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  std::function<std::string()> extra_metrics_, status_;
  int port_ = 0;
};

}  // namespace logctl::agentd
