#include "agentd/admin/admin_server.h"

#include <httplib.h>

#include <chrono>

#include "agentd/core/log.h"

namespace logctl::agentd {

AdminServer::AdminServer(Metrics& metrics) : metrics_(metrics) {}
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
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    res.status = ready_ ? 200 : 503;
    res.set_content(ready_ ? "ready\n" : "starting\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics_.render();
    if (extra_metrics_) text += extra_metrics_();
    res.set_content(text, "text/plain; version=0.0.4");
  });
  if (status_) {
    server_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(status_(), "application/json");
    });
  }
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else {
    port_ = server_->bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) {
    return make_error(ErrorCode::kUnavailable, "admin endpoint: cannot listen on " + endpoint);
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is lost if it runs before the listen loop has started,
  // leaving join() to hang; wait (bounded) until the loop runs.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  log::info("admin endpoint on http://" + (host == "::1" ? "[::1]" : host) + ":" +
            std::to_string(port_));
  return {};
}

void AdminServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace logctl::agentd
