// The loopback admin endpoint: GET /healthz (process alive), /readyz (every
// plugin started), /metrics (Prometheus text). Binding anything but a loopback
// address is refused: the endpoint has no authentication.
// Thread safety: runs its own thread; readiness is an atomic.
#pragma once

#include <atomic>
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

 private:
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> ready_{false};
  int port_ = 0;
};

}  // namespace logctl::agentd
