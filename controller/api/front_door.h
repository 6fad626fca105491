// The controller's public socket. One I/O thread (epoll) terminates TLS
// (OpenSSL, non-blocking) for every connection, so a fleet whose nodes each
// keep one connection open costs memory, not threads: cpp-httplib would pin
// a pool thread to every kept-alive connection until it closes.
//
// Node heartbeats — the fleet's hot path, one request per node per interval —
// are parsed here and answered by a small handler pool (the FastHandler).
// Any other request (the admin API, enrolment, release uploads, artifact
// downloads) is relayed to the cpp-httplib server listening on a private unix
// socket, one request at a time, and only once it is admitted and whole: its
// head is complete, the Admit callback (on the handler pool) has
// authenticated it from the head alone (a refusal, e.g. 401, goes out before
// a byte of the body is read) and set its body limit, and the whole body has
// arrived. So the API server's worker threads only ever serve complete
// requests of authenticated clients: a slow or silent client holds nothing
// but its own buffer here. The response is streamed back; its Connection
// field is rewritten so a kept-alive client's next request (pipelined or
// not) is read and answered in turn.
//
// Bounds: a request head at most kMaxHead bytes (nothing more is read from a
// connection until its head is whole); a heartbeat body at most
// max_body and a relayed body at most what Admit allows (413 otherwise, from
// Content-Length, before the body is read); from accept, or from the first
// byte of a request, to the whole request, body included: request_timeout,
// plus one second per min_body_rate bytes of an admitted body (a 300 MiB
// release upload gets 10 s + 300 s); past it 408 and a close. A kept-alive
// connection may idle idle_timeout, a relayed response stall as long. At most
// max_pending_per_source connections from one address are mid-handshake or
// mid-request at once (more: closed at accept, or 503 when a kept-alive one
// begins a request); at max_connections a new connection is closed at once;
// at the descriptor limit accepting pauses instead of spinning. Response
// relay buffers are bounded (a slow reader throttles the API server).
//
// Thread safety: bind() and serve() from one thread; stop() and counters()
// from any thread. serve() returns after stop(), even a stop() that came
// before serve() began.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "logctl/schema/result.h"

namespace logctl::controller {

struct FrontDoorOptions {
  std::string host = "127.0.0.1";
  int port = 7443;        // 0: any free port
  bool tls = true;        // false: plain HTTP (loopback development)
  std::string cert, key;  // PEM files, when tls
  std::string backend;    // unix socket of the relay target
  std::size_t max_body = 1 << 20;
  int handler_threads = 2;
  int max_connections = 16384;
  int max_pending_per_source = 64;
  std::uint64_t min_body_rate = 1 << 20;  // bytes/s, for a body's share of the deadline
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};
};

// A heartbeat as the front door parsed it.
struct FastRequest {
  std::string node;           // from /v1/nodes/NODE/heartbeat
  std::string authorization;  // the header's value, "" when absent
  std::string body;
};

// What the front door answers: a status and a JSON body.
struct FastReply {
  int status = 200;
  std::string body;
};

// Answers a heartbeat; runs on a handler thread.
using FastHandler = std::function<FastReply(const FastRequest&)>;

// Whether a request to relay may be, from its head alone: its method, target
// and Authorization (authenticate there), and how large its body may be.
struct Admission {
  bool ok = false;
  std::uint64_t max_body = 0;  // when ok
  FastReply refusal;           // when not (e.g. 401)
};
using Admit = std::function<Admission(const std::string& method, const std::string& target,
                                      const std::string& authorization)>;
// The JSON error body for a request the front door itself refuses.
using ErrorBody =
    std::function<std::string(int status, const std::string& code, const std::string& message)>;

class FrontDoor {
 public:
  static constexpr std::size_t kMaxHead = 16384;
  static constexpr std::size_t kRelayBuffer = 256 * 1024;  // per direction

  struct Counters {
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> refused_full{0};       // at max_connections
    std::atomic<std::uint64_t> fast_requests{0};      // heartbeats answered here
    std::atomic<std::uint64_t> relayed{0};            // requests relayed to the API server
    std::atomic<std::uint64_t> refused_admission{0};  // relayed requests Admit refused (401...)
    std::atomic<std::uint64_t> refused_source{0};     // at max_pending_per_source
    std::atomic<std::uint64_t> bad_requests{0};       // refused here (400/411/413/417/431/502/503)
    std::atomic<std::uint64_t> tls_failures{0};       // handshakes that failed
    std::atomic<std::uint64_t> timeouts{0};           // closed by request or idle timeout
  };

  FrontDoor(FrontDoorOptions o, FastHandler fast, Admit admit, ErrorBody error_body);
  ~FrontDoor();
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;

  // Loads the certificate and binds; the port actually bound.
  Result<int> bind();
  // Serves until stop().
  void serve();
  void stop();
  const Counters& counters() const { return counters_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Counters counters_;
};

}  // namespace logctl::controller
