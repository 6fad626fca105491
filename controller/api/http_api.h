// The controller's versioned REST API (docs/api.md) on cpp-httplib: HTTPS by
// default (the controller's own CA, tls_init.h); plain HTTP only with
// --insecure-http on a loopback address. Every request is bounded: headers by
// cpp-httplib, bodies by a per-route limit checked from Content-Length before
// a byte of the body is read, JSON validated by the Controller; errors are
// JSON {"error": {"code", "message", "details"}}.
// Thread safety: the server runs on its own thread pool; handlers call the
// Controller, which serialises.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "controller/server/controller.h"
#include "logctl/schema/result.h"

namespace httplib {
class Server;
}

namespace logctl::controller {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 7443;
  bool insecure_http = false;  // loopback only
  std::string cert, key;       // server certificate and key (PEM)
  int threads = 16;
  std::size_t max_body = 1 << 20;           // JSON and config bodies
  std::size_t max_artifact = 512ull << 20;  // release uploads
};

class ApiServer {
 public:
  ApiServer(Controller& c, ApiOptions o);
  ~ApiServer();
  // Binds (port 0: any free port); the port actually bound.
  Result<int> bind();
  // Serves until stop(). A stop() that comes first, or while serve() is
  // still starting, is not lost: serve() then returns at once.
  void serve();
  // Thread-safe; returns once serve() has returned (or was never entered).
  void stop();

 private:
  void routes();
  Controller& c_;
  ApiOptions o_;
  std::unique_ptr<httplib::Server> server_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> serving_{false};
};

}  // namespace logctl::controller
