#include "controller/api/http_api.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "logctl/schema/digest.h"
#include "logctl/schema/json_bounded.h"

namespace logctl::controller {
namespace {

using httplib::Request;
using httplib::Response;

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

json error_json(const ApiError& e) {
  return {{"error", {{"code", e.code}, {"message", e.message}, {"details", e.details}}}};
}

void send_error(Response& res, const ApiError& e) {
  send_json(res, e.status, error_json(e));
}

void reply(Response& res, const ApiResult<json>& r, int ok = 200) {
  if (r) {
    send_json(res, ok, *r);
  } else {
    send_error(res, r.error());
  }
}

// A JSON body: an empty body is null; anything else must parse.
ApiResult<json> body_json(const std::string& body) {
  if (body.empty()) return json();
  auto j = parse_json_bounded(body);
  if (!j) {
    bool deep = j.error().code == ErrorCode::kResourceExhausted;
    return std::unexpected(api_error(
        400, "bad_request",
        deep ? "the body is " + j.error().message : std::string("the body is not valid JSON")));
  }
  return std::move(*j);
}

ApiResult<json> body_json(const Request& req) {
  return body_json(req.body);
}

// POST /v1/nodes/NODE/heartbeat, wherever it arrives.
ApiResult<json> heartbeat(Controller& c, const std::string& authorization, const std::string& node,
                          const std::string& body) {
  auto who = c.authenticate(authorization);
  if (!who) return std::unexpected(who.error());
  auto j = body_json(body);
  if (!j) return std::unexpected(j.error());
  return c.heartbeat(node, *j, *who);
}

std::size_t query_limit(const Request& req, std::size_t dflt) {
  if (!req.has_param("limit")) return dflt;
  const std::string v = req.get_param_value("limit");
  std::size_t n = 0;
  for (char ch : v) {
    if (ch < '0' || ch > '9' || n > 100000) return dflt;
    n = n * 10 + static_cast<std::size_t>(ch - '0');
  }
  return std::clamp<std::size_t>(n, 1, 10000);
}

bool loopback(const std::string& host) {
  in_addr a4;
  in6_addr a6;
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return host == "localhost";
}

// An artifact arriving in a multipart upload: written to a private temporary
// file in the artifacts directory, hashed as it arrives, bounded in size.
struct Upload {
  std::string path;
  int fd = -1;
  digest::Sha256 sha;
  std::int64_t size = 0;
  std::string error;
  ~Upload() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }
};

}  // namespace

ApiServer::ApiServer(Controller& c, ApiOptions o) : c_(c), o_(std::move(o)) {
  FrontDoorOptions fo;
  fo.host = o_.host;
  fo.port = o_.port;
  fo.tls = !o_.insecure_http;
  fo.cert = o_.cert;
  fo.key = o_.key;
  fo.backend = o_.backend_socket;
  fo.max_body = o_.max_body;
  fo.handler_threads = o_.handler_threads;
  fo.max_pending_per_source = o_.max_pending_per_source;
  fo.idle_timeout = o_.idle_timeout;
  front_ = std::make_unique<FrontDoor>(
      fo,
      [&c](const FastRequest& r) {
        auto res = heartbeat(c, r.authorization, r.node, r.body);
        if (!res) return FastReply{res.error().status, error_json(res.error()).dump() + "\n"};
        return FastReply{200, res->dump() + "\n"};
      },
      [&c, max_body = o_.max_body, max_upload = o_.max_artifact + (1 << 20)](
          const std::string& method, const std::string& target, const std::string& authorization) {
        // Readiness probes carry no token (GET /readyz: no secret in it).
        if (method == "GET" && target.substr(0, target.find('?')) == "/readyz") {
          return Admission{true, max_body, {}};
        }
        // Every other route needs a token: a request without a valid one is
        // refused here, from its head, before its body is read.
        auto who = c.authenticate(authorization);
        if (!who) {
          return Admission{false, 0, {who.error().status, error_json(who.error()).dump() + "\n"}};
        }
        std::string_view path = std::string_view(target).substr(0, target.find('?'));
        bool upload =
            method == "POST" && path == "/v1/releases" && who->kind == store::TokenKind::kAdmin;
        return Admission{true, upload ? max_upload : max_body, {}};
      },
      [](int status, const std::string& code, const std::string& message) {
        return error_json(api_error(status, code, message)).dump() + "\n";
      });
  // TLS ends at the front door; this server sees only relayed plaintext.
  server_ = std::make_unique<httplib::Server>();
  server_->set_address_family(AF_UNIX);
  int threads = o_.threads;
  server_->new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  server_->set_tcp_nodelay(true);  // a reply is several writes: no Nagle delay between them
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(30, 0);
  // An idle kept-alive relayed connection holds a pool thread: keep that short.
  server_->set_keep_alive_timeout(2);
  server_->set_keep_alive_max_count(1000);
  server_->set_payload_max_length(o_.max_artifact + (1 << 20));
  routes();
}

ApiServer::~ApiServer() {
  stop();
}

Result<int> ApiServer::bind() {
  if (o_.insecure_http && !loopback(o_.host)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--insecure-http serves plain HTTP on loopback only (not " + o_.host + ")");
  }
  const std::string& path = o_.backend_socket;
  sockaddr_un probe{};
  if (path.empty() || path.size() >= sizeof probe.sun_path) {
    return make_error(ErrorCode::kInvalidArgument, "bad API socket path '" + path + "'");
  }
  // A socket left by an earlier run is ours to replace; anything else is not.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, path + " exists and is not a socket");
    }
    ::unlink(path.c_str());
  }
  if (!server_->bind_to_port(path, 80)) {
    return make_error(ErrorCode::kIo, "cannot listen on " + path + ": " + std::strerror(errno));
  }
  ::chmod(path.c_str(), 0600);
  return front_->bind();
}

void ApiServer::serve() {
  std::atomic<bool> backend_done{false};
  std::thread backend([&] {
    server_->listen_after_bind();
    backend_done = true;
  });
  front_->serve();
  // httplib's stop() does nothing until its accept loop has begun: repeat
  // it until the loop has returned.
  while (!backend_done) {
    server_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  backend.join();
  ::unlink(o_.backend_socket.c_str());
}

void ApiServer::stop() {
  if (front_) front_->stop();
}

void ApiServer::routes() {
  auto& s = *server_;
  Controller& c = c_;
  const ApiOptions o = o_;

  // Before any body is read: its size against the route's limit.
  s.set_pre_routing_handler([o](const Request& req, Response& res) {
    if (!req.path.starts_with("/v1/") && req.path != "/readyz") {
      send_error(res, api_error(404, "not_found", "no such endpoint (the API is under /v1/)"));
      return httplib::Server::HandlerResponse::Handled;
    }
    bool upload = req.method == "POST" && req.path == "/v1/releases";
    std::size_t limit = upload ? o.max_artifact + (1 << 20) : o.max_body;
    if (req.has_header("Transfer-Encoding") && !upload) {
      send_error(res, api_error(411, "length_required", "send the body with a Content-Length"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if ((req.method == "POST" || req.method == "PUT") && !req.has_header("Content-Length") &&
        !req.has_header("Transfer-Encoding")) {
      send_error(res,
                 api_error(411, "length_required", "send Content-Length (0 for an empty body)"));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.has_header("Content-Length")) {
      const std::string v = req.get_header_value("Content-Length");
      bool digits = !v.empty() && v.size() < 19 &&
                    std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (!digits) {
        send_error(res, api_error(400, "bad_request", "Content-Length is not a number"));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (std::stoull(v) > limit) {
        send_error(res, api_error(413, "payload_too_large",
                                  "the body is larger than this endpoint's " +
                                      std::to_string(limit) + " bytes"));
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler([](const Request&, Response& res) {
    if (!res.body.empty()) return;
    const char* code = res.status == 404   ? "not_found"
                       : res.status == 405 ? "method_not_allowed"
                       : res.status == 413 ? "payload_too_large"
                       : res.status < 500  ? "bad_request"
                                           : "internal";
    send_error(res, api_error(res.status, code, "HTTP " + std::to_string(res.status)));
  });
  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    send_error(res, api_error(500, "internal", "internal error"));
  });

  // Authenticates, then runs `fn(principal)`; admin-only unless `any`.
  auto admin = [&c](auto fn) {
    return [&c, fn](const Request& req, Response& res) {
      auto who = c.authenticate(req.get_header_value("Authorization"));
      if (!who) return send_error(res, who.error());
      if (who->kind != store::TokenKind::kAdmin) {
        return send_error(res, api_error(403, "forbidden", "this endpoint needs an admin token"));
      }
      fn(req, res, *who);
    };
  };
  auto anyone = [&c](auto fn) {
    return [&c, fn](const Request& req, Response& res) {
      auto who = c.authenticate(req.get_header_value("Authorization"));
      if (!who) return send_error(res, who.error());
      fn(req, res, *who);
    };
  };

  // The front door's counters, in Prometheus' text format.
  s.Get("/v1/metrics", admin([this](const Request&, Response& res, const Principal&) {
          const FrontDoor::Counters& k = front_->counters();
          std::string out;
          auto counter = [&out](const char* name, const char* help, std::uint64_t v) {
            out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" +
                   name + " " + std::to_string(v) + "\n";
          };
          counter("logctl_controller_connections_accepted_total", "Connections accepted.",
                  k.accepted);
          counter("logctl_controller_connections_refused_full_total",
                  "Connections closed at once at the connection limit.", k.refused_full);
          counter("logctl_controller_connections_refused_source_total",
                  "Connections or requests refused at the per-address limit of requests in flight.",
                  k.refused_source);
          counter("logctl_controller_heartbeats_total", "Heartbeats answered by the front door.",
                  k.fast_requests);
          counter("logctl_controller_relayed_requests_total",
                  "Requests relayed whole to the API server.", k.relayed);
          counter("logctl_controller_refused_admission_total",
                  "Relayed requests refused from their head (no or a bad token).",
                  k.refused_admission);
          counter("logctl_controller_bad_requests_total",
                  "Requests the front door refused (400, 411, 413, 417, 431, 502, 503).",
                  k.bad_requests);
          counter("logctl_controller_tls_failures_total", "TLS handshakes that failed.",
                  k.tls_failures);
          counter(
              "logctl_controller_timeouts_total",
              "Connections closed at a request or idle time limit (408 when a request was begun).",
              k.timeouts);
          res.set_content(out, "text/plain; version=0.0.4");
        }));
  // Readiness, without a token (load balancers, service managers): 200
  // with this controller's role (leader or follower) while it reaches its
  // database; 503 when it does not, or with ?role=leader when it follows
  // (a balancer that sends writes to the leader only).
  s.Get("/readyz", [&c](const Request& req, Response& res) {
    json j = c.leadership();
    bool ready = j.value("database", "reachable") == "reachable";
    if (req.get_param_value("role") == "leader" && j.value("role", "") != "leader") ready = false;
    j["ready"] = ready;
    send_json(res, ready ? 200 : 503, j);
  });
  s.Get("/v1/version", anyone([](const Request&, Response& res, const Principal&) {
          send_json(res, 200, {{"controller", LOGCTL_VERSION}, {"api", 1}});
        }));
  s.Get("/v1/cluster",
        admin([&c](const Request&, Response& res, const Principal&) { reply(res, c.status()); }));
  s.Get("/v1/cluster/history", admin([&c](const Request& req, Response& res, const Principal&) {
          reply(res, c.history(query_limit(req, 100)));
        }));
  for (auto cmd : lifecycle::all_commands()) {
    if (cmd == lifecycle::Command::kUpgrade) continue;
    std::string path = std::string("/v1/cluster/") + lifecycle::command_name(cmd);
    s.Post(path, admin([&c, cmd](const Request& req, Response& res, const Principal& who) {
             auto body = body_json(req);
             if (!body) return send_error(res, body.error());
             reply(res, c.command(cmd, *body, who));
           }));
  }
  s.Post("/v1/cluster/upgrade",
         admin([&c](const Request& req, Response& res, const Principal& who) {
           auto body = body_json(req);
           if (!body) return send_error(res, body.error());
           reply(res, c.upgrade(*body, who));
         }));
  s.Get("/v1/rollouts", admin([&c](const Request& req, Response& res, const Principal&) {
          reply(res, c.rollouts(query_limit(req, 20)));
        }));
  s.Get(R"(/v1/rollouts/(\d{1,18}))",
        admin([&c](const Request& req, Response& res, const Principal&) {
          reply(res, c.rollout(std::stoll(req.matches[1])));
        }));

  // Releases: multipart upload of "manifest" (JSON) and "artifact" (the binary).
  s.Post("/v1/releases", [&c, o](const Request& req, Response& res,
                                 const httplib::ContentReader& reader) {
    auto who = c.authenticate(req.get_header_value("Authorization"));
    if (!who) return send_error(res, who.error());
    if (who->kind != store::TokenKind::kAdmin) {
      return send_error(res, api_error(403, "forbidden", "pushing a release needs an admin token"));
    }
    if (!req.is_multipart_form_data()) {
      return send_error(res, api_error(400, "bad_request",
                                       "send multipart/form-data with 'manifest' and 'artifact'"));
    }
    std::string manifest, current;
    bool have_artifact = false;
    Upload up;
    bool ok = reader(
        [&](const httplib::MultipartFormData& part) {
          current = part.name;
          if (current == "artifact") {
            if (have_artifact) {
              up.error = "two 'artifact' parts";
              return false;
            }
            have_artifact = true;
            up.path = c.artifacts_dir() + "/.upload-" + digest::random_hex(8);
            up.fd =
                ::open(up.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (up.fd < 0) {
              up.error = std::string("cannot store the upload: ") + std::strerror(errno);
              up.path.clear();
              return false;
            }
          } else if (current != "manifest") {
            up.error = "unknown part '" + current.substr(0, 64) + "'";
            return false;
          }
          return true;
        },
        [&](const char* data, size_t len) {
          if (current == "manifest") {
            if (manifest.size() + len > o.max_body) {
              up.error = "the manifest is larger than " + std::to_string(o.max_body) + " bytes";
              return false;
            }
            manifest.append(data, len);
            return true;
          }
          if (static_cast<std::size_t>(up.size) + len > o.max_artifact) {
            up.error = "the artifact is larger than " + std::to_string(o.max_artifact) + " bytes";
            return false;
          }
          up.sha.update(std::string_view(data, len));
          up.size += static_cast<std::int64_t>(len);
          while (len > 0) {
            ssize_t n = ::write(up.fd, data, len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
              up.error = std::string("cannot store the upload: ") + std::strerror(errno);
              return false;
            }
            data += n;
            len -= static_cast<std::size_t>(n);
          }
          return true;
        });
    if (!ok || !up.error.empty()) {
      return send_error(res,
                        api_error(up.error.find("larger") != std::string::npos ? 413 : 400,
                                  up.error.find("larger") != std::string::npos ? "payload_too_large"
                                                                               : "bad_request",
                                  up.error.empty() ? "the upload was cut short" : up.error));
    }
    if (manifest.empty() || !have_artifact) {
      return send_error(
          res, api_error(400, "bad_request", "the upload needs 'manifest' and 'artifact'"));
    }
    if (::fsync(up.fd) != 0) {
      return send_error(res, api_error(500, "internal", "cannot sync the upload"));
    }
    ::close(up.fd);
    up.fd = -1;
    std::string tmp = up.path;
    up.path.clear();  // add_release owns it now
    reply(res, c.add_release(manifest, tmp, up.sha.hex(), up.size, *who), 201);
  });
  s.Get("/v1/releases",
        admin([&c](const Request&, Response& res, const Principal&) { reply(res, c.releases()); }));
  static const std::string kVersion = R"(([0-9A-Za-z.+-]{1,64}))";
  s.Get("/v1/releases/" + kVersion,
        admin([&c](const Request& req, Response& res, const Principal&) {
          reply(res, c.release(req.matches[1]));
        }));
  s.Post("/v1/releases/" + kVersion + "/delete",
         admin([&c](const Request& req, Response& res, const Principal& who) {
           reply(res, c.delete_release(req.matches[1], who));
         }));
  s.Get("/v1/releases/" + kVersion + "/artifact",
        anyone([&c](const Request& req, Response& res, const Principal& who) {
          auto path = c.artifact_path(req.matches[1], who);
          if (!path) return send_error(res, path.error());
          int fd = ::open(path->c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
          struct stat st {};
          if (fd < 0 || ::fstat(fd, &st) != 0) {
            if (fd >= 0) ::close(fd);
            return send_error(res, api_error(500, "internal", "the artifact is missing on disk"));
          }
          auto shared = std::make_shared<int>(fd);
          res.set_content_provider(
              static_cast<size_t>(st.st_size), "application/octet-stream",
              [shared](size_t offset, size_t length, httplib::DataSink& sink) {
                char buf[1 << 16];
                ssize_t n =
                    ::pread(*shared, buf, std::min(length, sizeof buf), static_cast<off_t>(offset));
                if (n <= 0) return false;
                return sink.write(buf, static_cast<size_t>(n));
              },
              [shared](bool) { ::close(*shared); });
        }));

  // Config revisions: the body is the config text.
  // ?strict=true: a parameter no plugin takes refuses the config (else it is
  // a warning in the reply, as agentd and Fluentd only warn).
  auto strict = [](const Request& req) {
    std::string v = req.get_param_value("strict");
    return v == "true" || v == "1";
  };
  s.Post("/v1/configs",
         admin([&c, strict](const Request& req, Response& res, const Principal& who) {
           reply(res, c.add_config(req.body, who, strict(req)), 201);
         }));
  s.Post(
      "/v1/configs/check", admin([&c, strict](const Request& req, Response& res, const Principal&) {
        std::string version = req.get_param_value("version");
        bool bad = version.size() > 64 || !std::all_of(version.begin(), version.end(), [](char ch) {
                     return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                            ch == '+' || ch == '-';
                   });
        if (bad) {
          return send_error(res, api_error(400, "bad_request", "bad version"));
        }
        reply(res, c.check_config(req.body, version, strict(req)));
      }));
  s.Get("/v1/configs",
        admin([&c](const Request&, Response& res, const Principal&) { reply(res, c.configs()); }));
  s.Get(R"(/v1/configs/(\d{1,18}))",
        anyone([&c](const Request& req, Response& res, const Principal& who) {
          reply(res, c.config(std::stoll(req.matches[1]), who));
        }));

  // Nodes.
  s.Post("/v1/nodes/enroll", anyone([&c](const Request& req, Response& res, const Principal& who) {
           auto body = body_json(req);
           if (!body) return send_error(res, body.error());
           reply(res, c.enroll(*body, who), 201);
         }));
  static const std::string kName = R"(([^/]{1,128}))";
  // Heartbeats normally end at the front door; these are the ones it relays.
  s.Post("/v1/nodes/" + kName + "/heartbeat", [&c](const Request& req, Response& res) {
    reply(res, heartbeat(c, req.get_header_value("Authorization"), req.matches[1], req.body));
  });
  s.Post("/v1/nodes/" + kName + "/revoke",
         admin([&c](const Request& req, Response& res, const Principal& who) {
           reply(res, c.revoke_node(req.matches[1], who));
         }));
  s.Post("/v1/nodes/" + kName + "/delete",
         admin([&c](const Request& req, Response& res, const Principal& who) {
           reply(res, c.delete_node(req.matches[1], who));
         }));
  s.Get("/v1/nodes",
        admin([&c](const Request&, Response& res, const Principal&) { reply(res, c.nodes()); }));
  s.Get("/v1/nodes/" + kName, admin([&c](const Request& req, Response& res, const Principal&) {
          reply(res, c.node(req.matches[1]));
        }));
}

}  // namespace logctl::controller
