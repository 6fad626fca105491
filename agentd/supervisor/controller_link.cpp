#include "agentd/supervisor/controller_link.h"
#include "agentd/supervisor/path_policy.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "agentd/core/log.h"
#include "agentd/platform/fs.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/tls_identity.h"

namespace logctl::agentd {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

bool valid_version_dir(std::string_view v) {
  return !v.empty() && v.size() <= 64 && v[0] != '.' &&
         std::all_of(v.begin(), v.end(), [](char ch) {
           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ||
                  ch == '+';
         });
}

std::unique_ptr<httplib::Client> client(const LinkOptions& o, const std::string& url) {
  auto c = std::make_unique<httplib::Client>(url);
  if (!o.ca_file.empty()) c->set_ca_cert_path(o.ca_file.c_str());
  c->enable_server_certificate_verification(true);
  // The certificate must name the host we asked for, on every handshake.
  (void)tls::demand_identity(c->ssl_context(), tls::url_host(url));
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(3, 0);
  c->set_read_timeout(10, 0);
  c->set_write_timeout(10, 0);
  return c;
}

std::string describe(const httplib::Result& r, const httplib::Client& c) {
  if (!r) {
    std::string why = httplib::to_string(r.error());
    long v = c.get_openssl_verify_result();
    if (v != X509_V_OK) {
      why = "TLS: the controller's certificate was refused: " +
            std::string(X509_verify_cert_error_string(v)) +
            " (is the host in its SANs, and --controller-ca its CA?)";
    } else if (r.error() == httplib::Error::SSLConnection ||
               r.error() == httplib::Error::SSLServerVerification) {
      why = "TLS: " + why;
    }
    return "cannot reach the controller (" + why + ")";
  }
  json j = json::parse(r->body, nullptr, false);
  std::string msg = j.is_object() && j.contains("error") ? j["error"].value("message", "") : "";
  return "HTTP " + std::to_string(r->status) + (msg.empty() ? "" : ": " + msg);
}

// A token file's content without its line end (no link followed).
Result<std::string> read_secret(const std::string& path) {
  auto f = fs::File::open(path, O_RDONLY);
  if (!f) return std::unexpected(f.error());
  auto text = fs::read_all(f->fd(), path);
  if (!text) return std::unexpected(text.error());
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  return *text;
}

// The leader a follower named in its 503 not_leader ("" if none).
std::string named_leader(const httplib::Result& r) {
  if (!r || r->status != 503) return "";
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  const json& e = j["error"];
  if (e.value("code", "") != "not_leader" || !e.contains("details") || !e["details"].is_object())
    return "";
  return e["details"].value("leader", "");
}

// Worth another controller: unreachable, or a server-side refusal.
bool try_another(const httplib::Result& r) {
  return !r || r->status >= 500;
}

}  // namespace

Result<std::vector<std::string>> parse_controller_urls(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string u = text.substr(start, comma - start);
    if (!(u.starts_with("https://") || u.starts_with("http://")) ||
        u.find_first_of(" \t") != std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--controller: '" + u + "' is not https://HOST:PORT (several: URL1,URL2)");
    }
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
    start = comma + 1;
  }
  if (out.size() > 16) {
    return make_error(ErrorCode::kInvalidArgument, "--controller: at most 16 controllers");
  }
  return out;
}

std::string ControllerLink::url() {
  std::lock_guard lock(mu_);
  return urls_.empty() ? o_.url : urls_[current_ % urls_.size()];
}

void ControllerLink::fail_over(const std::string& failed, const std::string& leader) {
  std::string next;
  {
    std::lock_guard lock(mu_);
    if (urls_.size() < 2 || urls_[current_ % urls_.size()] != failed) return;  // moved already
    auto it = std::find(urls_.begin(), urls_.end(), leader);
    current_ = it != urls_.end() && *it != failed ? static_cast<std::size_t>(it - urls_.begin())
                                                  : (current_ + 1) % urls_.size();
    next = urls_[current_];
  }
  log::info("controller: " + failed + " does not answer as leader; trying " + next);
}

Result<std::map<std::string, std::string>> parse_labels(const std::string& text) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string pair = text.substr(start, comma - start);
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(ErrorCode::kInvalidArgument, "--labels: '" + pair + "' is not key=value");
    }
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
    start = comma + 1;
  }
  return out;
}

ControllerLink::ControllerLink(LinkOptions o, Hooks h) : o_(std::move(o)), h_(std::move(h)) {
  if (auto u = parse_controller_urls(o_.url)) urls_ = std::move(*u);
}

ControllerLink::~ControllerLink() {
  stop();
}

void ControllerLink::start() {
  converge_thread_ = std::thread([this] { converge_loop(); });
  thread_ = std::thread([this] { loop(); });
}

void ControllerLink::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (converge_thread_.joinable()) converge_thread_.join();
}

// The heartbeat thread hands each answer's desired state here; the newest
// one wins. Converging (a download, a staged handover) can take longer than
// the controller's node timeout, and heartbeats must go on meanwhile: a
// node busy moving is not a node gone.
void ControllerLink::offer(const std::string& tok, const json& desired) {
  {
    std::lock_guard lock(mu_);
    offered_ = std::make_pair(tok, desired);
  }
  cv_.notify_all();
}

void ControllerLink::converge_loop() {
  for (;;) {
    std::pair<std::string, json> next;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || offered_.has_value(); });
      if (stop_) return;
      next = std::move(*offered_);
      offered_.reset();
    }
    converge(next.first, next.second);
  }
}

std::string ControllerLink::version_of(const std::string& root, const std::string& binary) {
  std::string prefix = root + "/versions/";
  if (!binary.starts_with(prefix) || !binary.ends_with("/agentd")) return "";
  std::string v = binary.substr(prefix.size(), binary.size() - prefix.size() - 7);
  return valid_version_dir(v) ? v : "";
}

std::int64_t ControllerLink::config_of(const std::string& root, const std::string& config) {
  std::string prefix = root + "/configs/";
  if (!config.starts_with(prefix) || !config.ends_with(".conf")) return 0;
  std::string n = config.substr(prefix.size(), config.size() - prefix.size() - 5);
  if (n.empty() || n.size() > 18 || !std::all_of(n.begin(), n.end(), ::isdigit)) return 0;
  return std::stoll(n);
}

Result<std::string> ControllerLink::token() {
  std::string path = o_.root_dir + "/node.token";
  if (::access(path.c_str(), F_OK) == 0) {
    auto t = read_secret(path);
    if (!t) return std::unexpected(t.error());
    if (!t->empty()) return *t;
  }
  // Enrol with the enrolment token.
  auto enroll = read_secret(o_.enroll_token_file);
  if (!enroll) return std::unexpected(enroll.error());
  json body = {{"name", o_.node_name}, {"labels", o_.labels}};
  std::string at;
  std::optional<httplib::Result> r;
  std::string why;
  for (std::size_t tries = 0; tries < std::max<std::size_t>(1, urls_.size()); ++tries) {
    at = url();
    auto c = client(o_, at);
    r.emplace(c->Post("/v1/nodes/enroll", {{"Authorization", "Bearer " + *enroll}}, body.dump(),
                      "application/json"));
    if (!*r || (*r)->status != 201) why = describe(*r, *c);
    if (!try_another(*r)) break;
    fail_over(at, named_leader(*r));
  }
  if (!*r || (*r)->status != 201) return make_error(ErrorCode::kUnavailable, "enrol: " + why);
  const auto& res = *r;
  json j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    return make_error(ErrorCode::kUnavailable, "enrol: the answer has no token");
  }
  std::string t = j["token"];
  if (auto s = fs::write_file_atomic(path, t + "\n", fs::Sync::kYes, 0600); !s) {
    return std::unexpected(s.error());
  }
  log::info("enrolled with " + at + " as node '" + o_.node_name + "'");
  {
    // A new enrolment may be with another controller (another database):
    // the revisions the last one told us say nothing about it.
    std::lock_guard lock(mu_);
    seen_revision_ = 0;
  }
  ::unlink((o_.root_dir + "/cluster.revision").c_str());
  return t;
}

Result<json> ControllerLink::heartbeat(const std::string& tok) {
  json body = h_.actual();
  {
    std::lock_guard lock(mu_);
    body["converge"] = converge_;
    if (redeployed_ != 0) body["redeployed"] = redeployed_;
    if (seen_revision_ != 0) body["seen_cluster_revision"] = seen_revision_;
  }
  const std::string path = "/v1/nodes/" + o_.node_name + "/heartbeat", text = body.dump();
  const httplib::Headers auth = {{"Authorization", "Bearer " + tok}};
  // The kept-alive connection may have been closed by the controller while
  // idle: a failure on it is retried once on a new connection.
  std::string why;  // of the last failure, read before its client goes
  std::string at;
  auto post = [&] {
    if (!heartbeat_client_) {
      heartbeat_client_ = client(o_, at);
      heartbeat_url_ = at;
      if (urls_.size() > 1) {
        // A controller answers a heartbeat in milliseconds: one that takes
        // seconds is stopped or cut off, and another one may lead. Moving
        // on well inside the node timeout keeps the node heard.
        heartbeat_client_->set_connection_timeout(2, 0);
        heartbeat_client_->set_read_timeout(2, 0);
        heartbeat_client_->set_write_timeout(2, 0);
      }
    }
    auto res = heartbeat_client_->Post(path, auth, text, "application/json");
    if (!res || res->status != 200) why = at + ": " + describe(res, *heartbeat_client_);
    return res;
  };
  // Several controllers: each is tried at most once per heartbeat, from the
  // one that answered last.
  std::optional<httplib::Result> r;
  for (std::size_t tries = 0; tries < std::max<std::size_t>(1, urls_.size()); ++tries) {
    at = url();
    if (heartbeat_client_ && heartbeat_url_ != at) heartbeat_client_.reset();
    bool reused = heartbeat_client_ != nullptr;
    r.emplace(post());
    if (!*r) {
      heartbeat_client_.reset();
      if (reused) r.emplace(post());
      if (!*r) heartbeat_client_.reset();
    }
    if (*r && (*r)->get_header_value("Connection") == "close") heartbeat_client_.reset();
    if (!try_another(*r)) break;
    heartbeat_client_.reset();
    fail_over(at, named_leader(*r));
  }
  auto& res = *r;
  if (!res || res->status != 200) {
    return make_error(
        res && res->status == 401 ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable,
        "heartbeat: " + why);
  }
  json j = json::parse(res->body, nullptr, false);
  if (!j.is_object() || !j.contains("desired") || !j["desired"].is_object()) {
    return make_error(ErrorCode::kUnavailable, "heartbeat: the answer has no desired state");
  }
  return j;
}

Result<std::string> ControllerLink::install_version(const std::string& tok, const json& d) {
  std::string v = d.value("version", "");
  if (!valid_version_dir(v))
    return make_error(ErrorCode::kInvalidArgument, "bad version '" + v + "'");
  std::string dir = o_.root_dir + "/versions";
  std::string target = dir + "/" + v + "/agentd";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::kIo, "mkdir " + dir + ": " + std::strerror(errno));
  }
  bool have_artifact = d.contains("artifact") && d["artifact"].is_object();
  const json a = have_artifact ? d["artifact"] : json::object();
  std::string sha = a.value("sha256", "");
  if (::access(target.c_str(), X_OK) == 0) {
    // Kept from before (installed by us, or the binary the node started
    // with): no download. With a release record its hash must match.
    auto have = digest::sha256_file(target);
    if (have && (!have_artifact || *have == sha)) return target;
  }
  if (!have_artifact) {
    return make_error(ErrorCode::kNotFound, "the controller has no artifact for " + v);
  }
  std::string tmp = dir + "/.download-" + digest::random_hex(8);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
  if (fd < 0) return make_error(ErrorCode::kIo, "create " + tmp + ": " + std::strerror(errno));
  digest::Sha256 h;
  std::int64_t size = 0, limit = a.value("size", std::int64_t{0});
  bool write_ok = true;
  auto c = client(o_, url());
  c->set_read_timeout(60, 0);
  auto r = c->Get(a.value("url", ""), {{"Authorization", "Bearer " + tok}},
                  [&](const char* data, size_t len) {
                    size += static_cast<std::int64_t>(len);
                    if (size > limit) return false;
                    h.update(std::string_view(data, len));
                    write_ok = write_ok && ::write(fd, data, len) == static_cast<ssize_t>(len);
                    return write_ok;
                  });
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  // kUnavailable: the controller could not be reached or answered 5xx (the
  // next heartbeat retries); anything else is this release failing here.
  auto fail = [&](const std::string& why, ErrorCode code = ErrorCode::kIo) {
    ::unlink(tmp.c_str());
    return make_error(code, "download " + v + ": " + why);
  };
  if (!r || r->status >= 500) return fail(describe(r, *c), ErrorCode::kUnavailable);
  if (r->status != 200) return fail(describe(r, *c));
  if (!write_ok || !synced) return fail("cannot write " + tmp);
  if (size != limit)
    return fail("got " + std::to_string(size) + " of " + std::to_string(limit) + " bytes");
  std::string got = h.hex();
  if (got != sha) return fail("SHA-256 " + got + " does not match the release's " + sha);
  std::string vdir = dir + "/" + v;
  if (::mkdir(vdir.c_str(), 0755) != 0 && errno != EEXIST) return fail("mkdir " + vdir);
  ::chmod(tmp.c_str(), 0755);
  if (::rename(tmp.c_str(), target.c_str()) != 0) return fail("rename to " + target);
  log::info("installed " + v + " as " + target + " (SHA-256 verified)");
  return target;
}

Result<std::string> ControllerLink::install_config(const std::string& tok, const json& d) {
  std::int64_t rev = d.value("config_revision", std::int64_t{0});
  std::string dir = o_.root_dir + "/configs";
  std::string target = dir + "/" + std::to_string(rev) + ".conf";
  if (auto s = fs::ensure_private_dir(dir, 0750); !s) return std::unexpected(s.error());
  std::string sha = d.contains("config") ? d["config"].value("sha256", "") : "";
  if (auto f = fs::File::open(target, O_RDONLY); f) {
    auto text = fs::read_all(f->fd(), target);
    if (text && digest::sha256_hex(*text) == sha) return target;
  }
  auto c = client(o_, url());
  auto r = c->Get("/v1/configs/" + std::to_string(rev), {{"Authorization", "Bearer " + tok}});
  if (!r || r->status != 200) {
    return make_error(!r || r->status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kNotFound,
                      "config " + std::to_string(rev) + ": " + describe(r, *c));
  }
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    return make_error(ErrorCode::kUnavailable, "config " + std::to_string(rev) + ": bad answer");
  }
  std::string text = j["text"];
  if (digest::sha256_hex(text) != sha) {
    return make_error(ErrorCode::kCorrupt,
                      "config " + std::to_string(rev) + ": SHA-256 does not match the revision");
  }
  if (auto s = fs::write_file_atomic(target, text, fs::Sync::kYes, 0640); !s) {
    return std::unexpected(s.error());
  }
  return target;
}

void ControllerLink::prune_versions(const std::string& keep_a, const std::string& keep_b) {
  std::string dir = o_.root_dir + "/versions";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<std::int64_t, std::string>> found;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (!valid_version_dir(name) || name == keep_a || name == keep_b) continue;
    struct stat st {};
    if (::fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      found.emplace_back(st.st_mtime, name);
    }
  }
  ::closedir(d);
  std::sort(found.rbegin(), found.rend());  // newest first
  for (std::size_t i = static_cast<std::size_t>(std::max(0, o_.keep_versions - 2));
       i < found.size(); ++i) {
    std::string vdir = dir + "/" + found[i].second;
    ::unlink((vdir + "/agentd").c_str());
    ::rmdir(vdir.c_str());
  }
}

void ControllerLink::converge(const std::string& tok, const json& d) {
  auto [binary, config] = h_.current_spec();
  std::string want_v = d.value("version", "");
  std::int64_t want_c = d.value("config_revision", std::int64_t{0});
  json actual = h_.actual();
  std::string have_v = actual.value("version", "");
  std::int64_t have_c = actual.value("config_revision", std::int64_t{0});
  bool want_running = d.value("running", true);
  bool running = actual.value("running", false);
  if (!want_running) {
    if (running) {
      bool flush = d.value("flush", false);
      log::info(std::string("controller: stopping the worker (cluster shutdown") +
                (flush ? ", every buffer delivered first)" : ")"));
      json r = h_.stop(flush ? Drain::kEverything : Drain::kAsConfigured);
      std::lock_guard lock(mu_);
      converge_ = {{"running", false}, {"state", r.value("ok", false) ? "ok" : "failed"}};
    }
    return;
  }
  bool move_v = !want_v.empty() && want_v != have_v;
  bool move_c = want_c != 0 && want_c != have_c;
  std::int64_t want_r = d.value("redeploy", std::int64_t{0});
  bool again;
  {
    std::lock_guard lock(mu_);
    again = want_r != 0 && want_r != redeployed_;
  }
  if (!move_v && !move_c && !again && running) return;
  std::string key = want_v + "|" + std::to_string(want_c) + "|" + std::to_string(want_r);
  {
    std::lock_guard lock(mu_);
    if (key == failed_key_ &&
        std::chrono::steady_clock::now() - failed_at_ < std::chrono::minutes(1)) {
      return;  // failed a moment ago: wait for the controller to change its mind
    }
    converge_ = {{"version", want_v}, {"config_revision", want_c}, {"state", "working"}};
  }
  auto failed = [&](const std::string& why, const json& report) {
    log::warn("controller: cannot converge to " + (want_v.empty() ? have_v : want_v) +
              " / config " + std::to_string(want_c) + ": " + why);
    std::lock_guard lock(mu_);
    failed_key_ = key;
    failed_at_ = std::chrono::steady_clock::now();
    converge_ = {{"version", want_v},
                 {"config_revision", want_c},
                 {"state", "failed"},
                 {"error", why},
                 {"handover", report}};
  };
  // The controller out of reach mid-download is not this release failing:
  // report it, and the next heartbeat's desired state tries again.
  auto unreachable = [&](const std::string& why) {
    log::warn("controller: converging to " + (want_v.empty() ? have_v : want_v) + " / config " +
              std::to_string(want_c) + " waits: " + why);
    std::lock_guard lock(mu_);
    converge_ = {
        {"version", want_v}, {"config_revision", want_c}, {"state", "retrying"}, {"error", why}};
  };
  if (move_v) {
    auto b = install_version(tok, d);
    if (!b && b.error().code == ErrorCode::kUnavailable) return unreachable(b.error().message);
    if (!b) return failed(b.error().message, json());
    binary = *b;
  }
  if (move_c) {
    auto c = install_config(tok, d);
    if (!c && c.error().code == ErrorCode::kUnavailable) return unreachable(c.error().message);
    if (!c) return failed(c.error().message, json());
    config = *c;
  }
  // The node's own limit on what a controller's config may name.
  if (want_c != 0) {
    if (auto ok = check_config_paths(config, o_.allowed_paths); !ok) {
      return failed("config revision " + std::to_string(want_c) +
                        " refused by this node: " + ok.error().message,
                    json());
    }
  }
  json report;
  if (running) {
    log::info("controller: staged handover to " + binary + " with " + config);
    report = h_.handover(binary, config);
  } else {
    log::info("controller: starting the worker on " + binary + " with " + config);
    report = h_.start(binary, config);
  }
  if (!report.value("ok", false)) {
    return failed("handover " + report.value("result", std::string("failed")) + ": " +
                      report.value("reason", std::string("?")),
                  report);
  }
  std::lock_guard lock(mu_);
  failed_key_.clear();
  if (want_r != 0) redeployed_ = want_r;
  converge_ = {
      {"version", want_v}, {"config_revision", want_c}, {"state", "ok"}, {"handover", report}};
  prune_versions(want_v, have_v);
}

// The binary the node was started with becomes an installed version too, so
// a rollback to it needs no download (and no release record).
void ControllerLink::keep_running_binary() {
  auto [binary, config] = h_.current_spec();
  if (!version_of(o_.root_dir, binary).empty()) return;
  std::string v = h_.actual().value("version", "");
  if (!valid_version_dir(v)) return;
  std::string dir = o_.root_dir + "/versions", vdir = dir + "/" + v, target = vdir + "/agentd";
  if (::access(target.c_str(), X_OK) == 0) return;
  ::mkdir(dir.c_str(), 0755);
  ::mkdir(vdir.c_str(), 0755);
  auto src = fs::File::open(binary, O_RDONLY, 0, fs::Follow::kYes);
  if (!src) return;
  auto bytes = fs::read_all(src->fd(), binary);
  if (!bytes) return;
  if (auto s = fs::write_file_atomic(target, *bytes, fs::Sync::kYes, 0755); !s) {
    log::warn("controller: cannot keep " + binary + " as version " + v + ": " + s.error().message);
  }
}

// The highest cluster revision the controller told this node, kept in
// ROOT/cluster.revision across restarts: reported in every heartbeat, so a
// controller whose database went back (a backup restored) notices and holds
// the fleet instead of moving it (docs/operations.md, "Restore a backup").
void ControllerLink::note_revision(std::int64_t revision) {
  {
    std::lock_guard lock(mu_);
    if (revision <= seen_revision_) return;
    seen_revision_ = revision;
  }
  (void)fs::write_file_atomic(o_.root_dir + "/cluster.revision", std::to_string(revision) + "\n",
                              fs::Sync::kNo, 0600);
}

void ControllerLink::load_revision() {
  auto text = fs::read_file(o_.root_dir + "/cluster.revision", fs::Follow::kNo);
  if (!text) return;
  std::int64_t v = std::strtoll(text->c_str(), nullptr, 10);
  std::lock_guard lock(mu_);
  if (v > 0) seen_revision_ = v;
}

void ControllerLink::loop() {
  load_revision();
  keep_running_binary();
  std::mt19937 rng(std::random_device{}());
  milliseconds backoff{0};
  // Several controllers: a failure is most likely a failover (a new leader
  // within seconds), so the link retries sooner than with one.
  const milliseconds cap = urls_.size() > 1 ? milliseconds(2000) : milliseconds(10000);
  std::string tok;
  for (;;) {
    milliseconds wait = o_.interval;
    if (tok.empty()) {
      auto t = token();
      if (t) {
        tok = *t;
      } else {
        log::warn("controller: " + t.error().message);
      }
    }
    if (!tok.empty()) {
      auto r = heartbeat(tok);
      if (r) {
        backoff = milliseconds(0);
        auto iv = r->value("heartbeat_interval_ms", std::int64_t{0});
        if (iv >= 100 && iv <= 600000) o_.interval = milliseconds(iv);
        wait = o_.interval;
        note_revision((*r)["desired"].value("cluster_revision", std::int64_t{0}));
        offer(tok, (*r)["desired"]);
      } else {
        log::warn("controller: " + r.error().message + " (the node keeps serving)");
      }
      if (!r) {
        backoff = std::min(cap, std::max(o_.interval, backoff * 2));
        wait = backoff;
      }
    } else {
      backoff = std::min(cap, std::max(o_.interval, backoff * 2));
      wait = backoff;
    }
    // +-10 % jitter: a fleet restarted together does not heartbeat in step.
    std::uniform_int_distribution<std::int64_t> jitter(-wait.count() / 10, wait.count() / 10);
    wait += milliseconds(jitter(rng));
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, wait, [this] { return stop_; })) return;
  }
}

}  // namespace logctl::agentd
