#include "cli/client.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "logctl/schema/tls_identity.h"

namespace logctl::cli {
namespace {

// "URL1,URL2": several controllers sharing one database.
std::vector<std::string> split_servers(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string u = text.substr(start, comma - start);
    if (!u.empty() && std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
    start = comma + 1;
  }
  return out;
}

// Connecting (TCP and TLS) may take at most this long, and never longer
// than the whole request may.
int connect_timeout_s(int timeout_s) {
  return std::min(5, timeout_s);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string trim(std::string s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.back())) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

Status mkdirs(const std::string& dir) {
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::kIo, "cannot create " + part + ": " + std::strerror(errno));
    }
  }
  return {};
}

}  // namespace

std::string config_path() {
  if (auto p = env("LOGCTL_CONFIG"); !p.empty()) return p;
  if (auto x = env("XDG_CONFIG_HOME"); !x.empty()) return x + "/logctl/config";
  return env("HOME") + "/.config/logctl/config";
}

Result<json> read_config_file() {
  std::string path = config_path();
  std::ifstream in(path);
  if (!in) return json{{"contexts", json::object()}};
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, path + ": not a JSON object");
  }
  if (!doc.contains("contexts") || !doc["contexts"].is_object()) doc["contexts"] = json::object();
  return doc;
}

Status write_config_file(const json& doc) {
  std::string path = config_path();
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto s = mkdirs(path.substr(0, slash)); !s) return s;
  }
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ErrorCode::kIo, "cannot write " + tmp + ": " + std::strerror(errno));
  std::string text = doc.dump(2) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fchmod(fd, 0600) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::kIo, "cannot write " + path + ": " + std::strerror(errno));
  }
  return {};
}

Result<std::string> read_secret_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // A local I/O error (exit 1), not a missing object on the controller (8).
    return make_error(ErrorCode::kIo,
                      "cannot read token file " + path + ": " + std::strerror(errno));
  }
  char buf[4097];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0 || n > 4096) {
    return make_error(ErrorCode::kInvalidArgument, "token file " + path + " is not a token");
  }
  auto token = trim(std::string(buf, static_cast<std::size_t>(n)));
  if (token.empty())
    return make_error(ErrorCode::kInvalidArgument, "token file " + path + " is empty");
  return token;
}

Result<Settings> resolve_settings(const GlobalFlags& f) {
  auto file = read_config_file();
  if (!file) return std::unexpected(file.error());
  Settings s;
  std::string ctx_name = !f.context.empty() ? f.context : env("LOGCTL_CONTEXT");
  if (ctx_name.empty()) ctx_name = file->value("current_context", "");
  json ctx = json::object();
  if (!ctx_name.empty()) {
    const auto& contexts = (*file)["contexts"];
    if (!contexts.contains(ctx_name) || !contexts[ctx_name].is_object()) {
      if (!f.context.empty() || !env("LOGCTL_CONTEXT").empty()) {
        return make_error(ErrorCode::kNotFound,
                          "no context '" + ctx_name + "' in " + config_path());
      }
    } else {
      ctx = contexts[ctx_name];
      s.context = ctx_name;
    }
  }
  auto from_ctx = [&](const char* key) {
    return ctx.contains(key) && ctx[key].is_string() ? ctx[key].get<std::string>() : "";
  };
  // Each value on its own: flag, environment, context.
  if (!f.server.empty()) {
    s.server = f.server, s.where = "--server";
  } else if (auto e = env("LOGCTL_SERVER"); !e.empty()) {
    s.server = e, s.where = "LOGCTL_SERVER";
  } else {
    s.server = from_ctx("server"), s.where = "context " + ctx_name;
  }
  s.ca = !f.ca.empty() ? f.ca : !env("LOGCTL_CA").empty() ? env("LOGCTL_CA") : from_ctx("ca");
  if (!f.token.empty()) {
    s.token = trim(f.token);
  } else if (!f.token_file.empty()) {
    auto t = read_secret_file(f.token_file);
    if (!t) return std::unexpected(t.error());
    s.token = *t;
  } else if (auto e = trim(env("LOGCTL_TOKEN")); !e.empty()) {
    s.token = e;
  } else if (auto tf = from_ctx("token_file"); !tf.empty()) {
    auto t = read_secret_file(tf);
    if (!t) return std::unexpected(t.error());
    s.token = *t;
  } else {
    s.token = from_ctx("token");
  }
  if (s.server.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no controller: pass --server, set LOGCTL_SERVER, or start a local "
                      "cluster with `logctl cluster start --local`");
  }
  for (const auto& u : split_servers(s.server)) {
    if (u.rfind("https://", 0) != 0 && u.rfind("http://", 0) != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "server '" + u + "' (" + s.where +
                            ") is not an http(s):// URL (several controllers: URL1,URL2)");
    }
  }
  if (s.token.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no token: pass --token or --token-file, or set LOGCTL_TOKEN");
  }
  return s;
}

Client::Client(Settings s, int timeout_s)
    : s_(std::move(s)), servers_(split_servers(s_.server)), timeout_s_(timeout_s) {
  if (servers_.empty()) servers_.push_back(s_.server);
  connect(0);
}

void Client::connect(std::size_t i) {
  current_ = i % servers_.size();
  const std::string& url = servers_[current_];
  http_ = std::make_unique<httplib::Client>(url);
  if (!s_.ca.empty()) http_->set_ca_cert_path(s_.ca.c_str());
  http_->enable_server_certificate_verification(true);
  // The certificate must name the host asked for, on every handshake.
  (void)tls::demand_identity(http_->ssl_context(), tls::url_host(url));
  const int timeout_s = timeout_s_;
  http_->set_connection_timeout(connect_timeout_s(timeout_s), 0);
  http_->set_read_timeout(timeout_s, 0);
  http_->set_write_timeout(timeout_s, 0);
  // A connection per request: the controller closes idle kept-alive ones
  // after 2 s, and a request racing that close fails with nothing to show
  // for it; a CLI makes few requests (two a second at most while waiting).
  http_->set_keep_alive(false);
}

Client::~Client() = default;

namespace {

// What went wrong, and what to do, for a request that got no answer.
std::string transport_failure(httplib::Error e, long verify, Settings s, const std::string& url,
                              int timeout_s, bool timed_out) {
  s.server = url;
  using E = httplib::Error;
  if (timed_out) {
    return "no answer within " + std::to_string(timeout_s) +
           " s (--request-timeout): the controller is slow, stopped or unreachable";
  }
  if (verify != X509_V_OK) {
    return "the controller's certificate was refused (" +
           std::string(X509_verify_cert_error_string(verify)) + "): is " +
           (s.ca.empty() ? std::string("the CA given (none was: pass --ca)")
                         : "the CA " + s.ca + " the controller's") +
           ", and does the certificate name the host in " + s.server + "?";
  }
  switch (e) {
    case E::Connection:
      return "cannot connect: is the controller running and listening at " + s.server + "?";
    case E::ConnectionTimeout:
      return "no connection within " + std::to_string(connect_timeout_s(timeout_s)) +
             " s: is the address right, and the port open?";
    case E::SSLConnection:
      return "the TLS handshake failed: is " + s.server +
             " the controller's HTTPS port (and not plain HTTP)?";
    case E::SSLLoadingCerts:
      return "cannot load the CA certificate " +
             (s.ca.empty() ? std::string("(none given)") : s.ca);
    case E::SSLServerVerification:
      return "the controller's certificate could not be verified: pass the controller's CA "
             "with --ca";
    case E::Read:
      return "the connection broke while reading the answer: retry; the controller's log "
             "may say why";
    case E::Write:
      return "the connection broke while sending the request: retry";
    case E::Canceled:
      return "the request was cancelled";
    default:
      return "the request failed (" + httplib::to_string(e) + ")";
  }
}

}  // namespace

template <typename F>
ApiReply Client::call(const char* what, const std::string& path, F&& send) {
  // Each controller once per round, from the one that answered last. With
  // several, rounds go on while none leads (a failover: the dead leader's
  // lease runs out within seconds), for at most 15 s and the request timeout.
  ApiReply last;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(std::min(15, timeout_s_));
  for (std::size_t tries = 0;; ++tries) {
    if (tries > 0 && tries % servers_.size() == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return last;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // between rounds
    }
    bool try_next = false;
    const std::size_t at = current_;
    last = call_one(what, path, send, try_next);
    if (!try_next || servers_.size() < 2) return last;
    // The leader a follower named, when it is one of ours; else the next.
    std::string leader = last ? "" : last.error().details.value("leader", "");
    auto it = std::find(servers_.begin(), servers_.end(), leader);
    std::size_t next = it != servers_.end() && static_cast<std::size_t>(it - servers_.begin()) != at
                           ? static_cast<std::size_t>(it - servers_.begin())
                           : at + 1;
    connect(next);
  }
}

template <typename F>
ApiReply Client::call_one(const char* what, const std::string& path, F& send, bool& try_next) {
  httplib::Headers h = {{"Authorization", "Bearer " + s_.token}};
  // --request-timeout bounds the whole request: connect, TLS, send, answer.
  std::mutex m;
  std::condition_variable cv;
  bool done = false, timed_out = false;
  std::thread watchdog([&] {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(timeout_s_), [&] { return done; })) {
      timed_out = true;
      lock.unlock();
      http_->stop();
    }
  });
  httplib::Result r = send(h);
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  const std::string& url = servers_[current_];
  if (!r) {
    std::string why = transport_failure(r.error(), http_->get_openssl_verify_result(), s_, url,
                                        timeout_s_, timed_out);
    // Not connected: nothing was asked, another controller may answer. A
    // broken answer: only a read is asked again.
    using E = httplib::Error;
    bool unsent = r.error() == E::Connection || r.error() == E::ConnectionTimeout ||
                  r.error() == E::SSLConnection;
    try_next = unsent || std::string_view(what) == "GET";
    return std::unexpected(ApiFailure{0, timed_out ? "timeout" : "unreachable",
                                      std::string("cannot ") + what + " " + url + path + ": " + why,
                                      json::object()});
  }
  auto body = json::parse(r->body, nullptr, false);
  if (r->status >= 200 && r->status < 300) {
    if (body.is_discarded()) {
      return std::unexpected(ApiFailure{r->status, "bad_response",
                                        "the controller's answer to " + path + " is not JSON",
                                        json::object()});
    }
    return body;
  }
  ApiFailure f{r->status, "http_" + std::to_string(r->status),
               "HTTP " + std::to_string(r->status) + " from " + path, json::object()};
  if (!body.is_discarded() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    f.code = e.value("code", f.code);
    f.message = e.value("message", f.message);
    if (e.contains("details") && e["details"].is_object()) f.details = e["details"];
  }
  try_next = f.code == "not_leader";
  return std::unexpected(f);
}

ApiReply Client::get(const std::string& path) {
  return call("GET", path, [&](const httplib::Headers& h) { return http_->Get(path, h); });
}

ApiReply Client::post(const std::string& path, const json& body) {
  return call("POST", path, [&](const httplib::Headers& h) {
    return http_->Post(path, h, body.dump(), "application/json");
  });
}

ApiReply Client::post_text(const std::string& path, const std::string& body) {
  return call("POST", path,
              [&](const httplib::Headers& h) { return http_->Post(path, h, body, "text/plain"); });
}

ApiReply Client::post_release(const std::string& manifest, const std::string& artifact) {
  httplib::MultipartFormDataItems items = {
      {"manifest", manifest, "manifest.json", "application/json"},
      {"artifact", artifact, "agentd", "application/octet-stream"}};
  return call("POST", "/v1/releases",
              [&](const httplib::Headers& h) { return http_->Post("/v1/releases", h, items); });
}

}  // namespace logctl::cli
