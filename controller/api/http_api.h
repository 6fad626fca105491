// The controller's versioned REST API (docs/api.md): HTTPS by default (the
// controller's own CA, tls_init.h); plain HTTP only with --insecure-http on a
// loopback address. The public socket is a FrontDoor (front_door.h): it
// terminates TLS for every connection on one thread, answers node heartbeats
// itself, and relays every other request to the routes below, served by
// cpp-httplib on a private unix socket (backend_socket), once its token was
// checked from its head (the Admit callback here) and its body is whole.
// Every request is bounded: heads by the front door and cpp-httplib, bodies
// by a per-route limit checked from Content-Length before a byte of the body
// is read (at the front door and again here), JSON
// validated by the Controller; errors are JSON {"error": {"code", "message",
// "details"}}.
// Thread safety: the server runs its own threads; handlers call the
// Controller, which serialises. stop() from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "controller/api/front_door.h"
#include "controller/server/controller.h"
#include "logctl/schema/result.h"

namespace httplib {
class Server;
}

namespace logctl::controller {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 7443;
  bool insecure_http = false;       // loopback only
  std::string cert, key;            // server certificate and key (PEM)
  std::string backend_socket;       // the relayed API's unix socket (in the private data dir)
  int threads = 16;                 // cpp-httplib's pool, for relayed requests
  int handler_threads = 2;          // heartbeats answered by the front door
  int max_pending_per_source = 64;  // connections mid-handshake or mid-request per address
  std::chrono::milliseconds idle_timeout{120000};  // kept-alive node connections
  std::size_t max_body = 1 << 20;                  // JSON and config bodies
  std::size_t max_artifact = 512ull << 20;         // release uploads
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
  void stop();
  const FrontDoor::Counters& counters() const { return front_->counters(); }

 private:
  void routes();
  Controller& c_;
  ApiOptions o_;
  std::unique_ptr<httplib::Server> server_;  // the relayed API
  std::unique_ptr<FrontDoor> front_;
};

}  // namespace logctl::controller
