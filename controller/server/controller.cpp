#include "controller/server/controller.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include "controller/compat/checks.h"
#include "controller/compat/config_schema.h"
#include "controller/compat/semver.h"
#include "logctl/schema/config.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/plugin_schema.h"
#include "logctl/schema/release_manifest.h"

namespace logctl::controller {
namespace {

using lifecycle::Command;
using store::ClusterState;

constexpr std::size_t kMaxName = 63;
constexpr std::size_t kMaxLabels = 32;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Node names and label keys: what is safe in a path, a log line and a URL.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxName || s == "." || s == "..") return false;
  if (!std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
  });
}

bool valid_label_value(std::string_view s) {
  return s.size() <= kMaxName &&
         std::all_of(s.begin(), s.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
}

json cluster_json(const store::Cluster& c) {
  json strategy = json::parse(c.target_strategy, nullptr, false);
  json j = {{"state", store::cluster_state_name(c.state)},
            {"current_version", c.current_version},
            {"target_version", c.target_version},
            {"previous_version", c.previous_version},
            {"current_config", c.current_config},
            {"target_config", c.target_config},
            {"previous_config", c.previous_config},
            {"pending", !c.target_version.empty() || c.target_config != 0},
            {"revision", c.revision},
            {"updated_at", c.updated_at}};
  if (!c.target_version.empty() || c.target_config != 0) {
    j["target_strategy"] = strategy.is_discarded() ? json::object() : strategy;
    j["target_forced"] = c.target_forced;
  }
  if (c.state == ClusterState::kStopped) j["stop_flush"] = c.stop_flush;
  j["adopting"] = c.adopting;
  json legal = json::array();
  for (auto cmd : lifecycle::legal_commands(c)) {
    if (c.held.empty() || cmd == Command::kUpgrade || cmd == Command::kAbort) {
      legal.push_back(lifecycle::command_name(cmd));
    }
  }
  if (!c.held.empty()) {
    legal.push_back("resume");
    j["held"] = c.held;
  }
  j["legal_commands"] = legal;
  return j;
}

// A line diff of two config texts (for plans): "-old" / "+new" lines with
// their line numbers, shared lines left out. Longest-common-subsequence on
// lines; configs are small.
json config_diff(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& t) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < t.size()) {
      auto nl = t.find('\n', start);
      if (nl == std::string::npos) nl = t.size();
      out.push_back(t.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  };
  auto x = lines(a), y = lines(b);
  if (x.size() * y.size() > 4'000'000) return json::array({"(configs too large to diff)"});
  std::vector<std::vector<int>> l(x.size() + 1, std::vector<int>(y.size() + 1, 0));
  for (std::size_t i = x.size(); i-- > 0;)
    for (std::size_t k = y.size(); k-- > 0;)
      l[i][k] = x[i] == y[k] ? l[i + 1][k + 1] + 1 : std::max(l[i + 1][k], l[i][k + 1]);
  json out = json::array();
  std::size_t i = 0, k = 0;
  while (i < x.size() || k < y.size()) {
    if (i < x.size() && k < y.size() && x[i] == y[k]) {
      ++i, ++k;
    } else if (i < x.size() && (k == y.size() || l[i + 1][k] >= l[i][k + 1])) {
      out.push_back("-" + std::to_string(i + 1) + ": " + x[i]);  // removals first, as diff(1)
      ++i;
    } else {
      out.push_back("+" + std::to_string(k + 1) + ": " + y[k]);
      ++k;
    }
  }
  return out;
}

}  // namespace

ApiError api_error(int status, std::string code, std::string message, json details) {
  return ApiError{status, std::move(code), std::move(message), std::move(details)};
}

ApiError api_error(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return api_error(400, "bad_request", e.message);
    case ErrorCode::kNotFound:
      return api_error(404, "not_found", e.message);
    case ErrorCode::kAlreadyExists:
      return api_error(409, "conflict", e.message);
    default:
      return api_error(500, "internal", e.message);
  }
}

std::string Principal::name() const {
  std::string out = store::token_kind_name(kind);
  if (kind == store::TokenKind::kNode) out += ":" + node;
  return out + "#" + std::to_string(token_id);
}

Result<std::unique_ptr<Controller>> Controller::open(ControllerOptions o) {
  auto s = store::open_sqlite_store(o.data_dir + "/controller.db");
  if (!s) return std::unexpected(s.error());
  std::unique_ptr<Controller> c(new Controller(std::move(o), std::move(*s)));
  if (auto st = c->load(); !st) return std::unexpected(st.error());
  return c;
}

Controller::Controller(ControllerOptions o, std::unique_ptr<store::Store> s)
    : o_(std::move(o)),
      store_(std::move(s)),
      nodes_(o_.node_timeout, Clock::now(), now_ms()),
      runner_(*store_, nodes_) {}

Now Controller::now() const {
  return Now{Clock::now(), now_ms()};
}

Controller::~Controller() {
  stop();
  std::lock_guard lock(mu_);
  flush_nodes();
}

Status Controller::load() {
  auto nodes = store_->nodes();
  if (!nodes) return std::unexpected(nodes.error());
  for (auto& n : *nodes) {
    auto valid = store_->valid_node_tokens(n.name);
    if (!valid) return std::unexpected(valid.error());
    nodes_.add(std::move(n)).revoked = *valid == 0;
  }
  if (auto st = runner_.load(); !st) return st;
  std::error_code ec;
  std::filesystem::create_directories(artifacts_dir(), ec);
  ::chmod(artifacts_dir().c_str(), 0750);
  return {};
}

void Controller::start() {
  loop_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, o_.tick, [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      reconcile();
      lock.lock();
    }
  });
}

void Controller::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
}

std::string Controller::artifacts_dir() const {
  return o_.data_dir + "/artifacts";
}

ApiResult<Principal> Controller::authenticate(std::string_view header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) {
    return std::unexpected(api_error(401, "unauthenticated", "no Authorization: Bearer token"));
  }
  if (!header.starts_with(kBearer) || header.size() > 512) {
    return std::unexpected(
        api_error(401, "unauthenticated", "the Authorization header is not a Bearer token"));
  }
  std::string hash = digest::sha256_hex(header.substr(kBearer.size()));
  std::lock_guard lock(mu_);
  auto t = store_->token_by_hash(hash);
  if (!t) return std::unexpected(api_error(t.error()));
  if (!*t) return std::unexpected(api_error(401, "unauthenticated", "unknown token"));
  if ((*t)->revoked_at != 0) {
    return std::unexpected(api_error(401, "unauthenticated", "the token was revoked"));
  }
  return Principal{(*t)->kind, (*t)->id, (*t)->node};
}

Status Controller::add_token_for_init(store::TokenKind kind, const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto id = store_->add_token(store::Token{0, kind, sha256, "", 0, 0});
  if (!id) return std::unexpected(id.error());
  return {};
}

Result<int> Controller::rotate_token(store::TokenKind kind, const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto id = store_->add_token(store::Token{0, kind, sha256, "", 0, 0});
  if (!id) return std::unexpected(id.error());
  auto n = store_->revoke_tokens_of_kind(kind, *id);
  if (!n) return std::unexpected(n.error());
  record_system("token.rotate", {{"kind", store::token_kind_name(kind)}, {"revoked", *n}},
                "accepted");
  return *n;
}

Status Controller::record(const Principal& who, const std::string& action, const json& detail,
                          bool forced, const std::string& outcome) {
  auto r = store_->append_history(
      store::HistoryEntry{0, 0, who.name(), action, detail.dump(), forced, outcome});
  if (!r) return std::unexpected(r.error());
  return {};
}

void Controller::record_system(const std::string& action, const json& detail,
                               const std::string& outcome) {
  (void)store_->append_history(
      store::HistoryEntry{0, 0, "controller", action, detail.dump(), false, outcome});
}

bool Controller::healthy(const LiveNode& n, const store::Cluster& c) const {
  return nodes_.healthy(n, c.state == ClusterState::kStopped, Clock::now());
}

// ---- desired state ---------------------------------------------------------

Controller::Desired Controller::desired_for(const std::string& node, const store::Cluster& c) {
  Desired d;
  d.running = c.state != ClusterState::kStopped;
  if (!c.held.empty()) {
    // Held after a restore: every node keeps what it runs, running or not.
    const LiveNode* n = nodes_.find(node);
    d.running = n && n->health.value("running", false);
    return d;
  }
  if (c.adopting) {
    // A new controller adopts a live fleet: a node keeps running (or not)
    // what it runs until the operator starts or resumes the cluster.
    const LiveNode* n = nodes_.find(node);
    d.running = n && n->health.value("running", false);
  }
  d.flush = !d.running && c.stop_flush;
  d.version = c.current_version;
  d.config = c.current_config;
  if (runner_.governs(c)) {
    if (auto p = runner_.desired(node, &d.redeploy)) {
      d.version = p->version;
      d.config = p->config;
    }
  }
  return d;
}

json Controller::desired_json(const Desired& d, std::int64_t cluster_revision) {
  json j = {{"running", d.running}, {"version", d.version}, {"config_revision", d.config}};
  if (cluster_revision != 0) j["cluster_revision"] = cluster_revision;
  if (d.flush) j["flush"] = true;
  if (d.redeploy != 0) j["redeploy"] = d.redeploy;
  if (!d.version.empty()) {
    if (auto r = store_->release(d.version); r && *r) {
      j["artifact"] = {{"url", "/v1/releases/" + d.version + "/artifact"},
                       {"sha256", (*r)->sha256},
                       {"size", (*r)->size}};
    }
  }
  if (d.config != 0) {
    if (auto r = store_->config(d.config); r && *r) {
      j["config"] = {{"url", "/v1/configs/" + std::to_string(d.config)}, {"sha256", (*r)->sha256}};
    }
  }
  return j;
}

// ---- nodes -----------------------------------------------------------------

ApiResult<json> Controller::enroll(const json& body, const Principal& who) {
  if (who.kind != store::TokenKind::kEnrollment && who.kind != store::TokenKind::kAdmin) {
    return std::unexpected(api_error(403, "forbidden", "enrolment needs an enrolment token"));
  }
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
    return std::unexpected(api_error(400, "bad_request", "body: 'name' (string) is required"));
  }
  std::string name = body["name"].get<std::string>();
  if (!valid_name(name)) {
    return std::unexpected(
        api_error(400, "bad_request",
                  "node name: 1 to 63 of [A-Za-z0-9._-], starting with a letter or digit"));
  }
  json labels = json::object();
  if (body.contains("labels")) {
    const auto& l = body["labels"];
    if (!l.is_object() || l.size() > kMaxLabels) {
      return std::unexpected(
          api_error(400, "bad_request", "labels: an object of at most 32 string values"));
    }
    for (const auto& [k, v] : l.items()) {
      if (!valid_name(k) || !v.is_string() || !valid_label_value(v.get<std::string>())) {
        return std::unexpected(api_error(400, "bad_request",
                                         "label '" + json(k).dump() +
                                             "': keys as node names, values up to 63 printable "
                                             "characters"));
      }
    }
    labels = l;
  }
  std::lock_guard lock(mu_);
  auto existing = store_->node(name);
  if (!existing) return std::unexpected(api_error(existing.error()));
  if (*existing) {
    // A node that lost its token enrols again only after an admin revoked
    // the old one: an enrolment token alone cannot take over a live node.
    auto valid = store_->valid_node_tokens(name);
    if (!valid) return std::unexpected(api_error(valid.error()));
    if (*valid > 0) {
      return std::unexpected(api_error(409, "conflict",
                                       "node '" + name +
                                           "' is enrolled and holds a valid token; revoke it first "
                                           "(POST /v1/nodes/" +
                                           name + "/revoke) to enrol it again"));
    }
  }
  std::string secret = "lct_node_" + digest::random_hex(32);
  if (!*existing) {
    store::Node n;
    n.name = name;
    n.labels = labels.dump();
    n.enrolled_at = now_ms();
    if (auto s = store_->add_node(n); !s) return std::unexpected(api_error(s.error()));
    nodes_.add(n);
  }
  auto id = store_->add_token(
      store::Token{0, store::TokenKind::kNode, digest::sha256_hex(secret), name, 0, 0});
  if (!id) return std::unexpected(api_error(id.error()));
  if (auto* n = nodes_.find(name)) n->revoked = false;
  (void)record(who, "node.enroll",
               {{"node", name}, {"labels", labels}, {"reenrolled", bool(*existing)}}, false,
               "accepted");
  return json{
      {"name", name}, {"token", secret}, {"heartbeat_interval_ms", o_.heartbeat_interval.count()}};
}

ApiResult<json> Controller::heartbeat(const std::string& node, const json& body,
                                      const Principal& who) {
  if (who.kind != store::TokenKind::kNode || who.node != node) {
    return std::unexpected(
        api_error(403, "forbidden", "only node '" + node + "''s own token may heartbeat for it"));
  }
  if (!body.is_object())
    return std::unexpected(api_error(400, "bad_request", "body: not an object"));
  // Validate what the gate and the checks read; unknown fields are ignored
  // (a newer agent may send more).
  auto bad = [](const std::string& what) {
    return std::unexpected(api_error(400, "bad_request", "heartbeat: " + what));
  };
  std::string version = body.value("version", std::string());
  if (body.contains("version") && !body["version"].is_string()) return bad("'version' is a string");
  if (!version.empty() && !compat::SemVer::parse(version)) return bad("'version' is not SemVer");
  for (const char* k : {"config_revision", "generation", "chunk_format_written", "redeployed",
                        "seen_cluster_revision"}) {
    if (body.contains(k) && (!body[k].is_number_integer() || body[k].get<std::int64_t>() < 0)) {
      return bad(std::string("'") + k + "' is an integer >= 0");
    }
  }
  for (const char* k : {"running", "worker_up"}) {
    if (body.contains(k) && !body[k].is_boolean())
      return bad(std::string("'") + k + "' is a boolean");
  }
  if (body.contains("figures")) {
    if (!body["figures"].is_object()) return bad("'figures' is an object");
    for (const auto& [k, v] : body["figures"].items()) {
      if (!v.is_number_integer()) return bad("figure '" + json(k).dump() + "' is an integer");
    }
  }
  if (body.contains("handover_protocol")) {
    const auto& h = body["handover_protocol"];
    if (!h.is_object() || !h.value("min", json()).is_number_integer() ||
        !h.value("max", json()).is_number_integer()) {
      return bad("'handover_protocol' is {\"min\": int, \"max\": int}");
    }
  }
  for (const char* k : {"handover", "converge"}) {
    if (body.contains(k) && !body[k].is_object())
      return bad(std::string("'") + k + "' is an object");
  }
  std::int64_t config = body.value("config_revision", std::int64_t{0});
  std::lock_guard lock(mu_);
  LiveNode* found = nodes_.find(node);
  if (!found) return std::unexpected(api_error(404, "not_found", "node '" + node + "'"));
  if (config != 0) {
    // Only a revision this controller knows (the nodes table points at it).
    auto known = store_->config(config);
    if (!known || !*known) config = 0;
  }
  LiveNode& l = *found;
  l.previous_health = l.health;
  l.health = body;
  l.seen = Clock::now();
  l.row.version = version;
  l.row.config_revision = config;
  l.row.generation = body.value("generation", std::int64_t{0});
  l.row.last_heartbeat = now_ms();
  l.dirty = true;
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  // A node was told a newer revision than this database has: it went back in
  // time (a backup restored). Hold everything until the operator resumes.
  std::int64_t seen = body.value("seen_cluster_revision", std::int64_t{0});
  max_seen_revision_ = std::max(max_seen_revision_, seen);
  if (seen > c->revision && c->held.empty()) {
    auto held = hold(*c, "node " + node + " was told cluster revision " + std::to_string(seen) +
                             " but this database is at revision " + std::to_string(c->revision) +
                             " (restored from a backup?)");
    if (!held) return std::unexpected(api_error(held.error()));
    *c = *held;
  }
  // A node whose rollout step is in flight reports 4x as often: its gate is
  // judged on fresh figures and the batch does not wait out a full interval.
  auto interval = o_.heartbeat_interval;
  if (runner_.in_flight(node)) interval = std::max(std::chrono::milliseconds(100), interval / 4);
  return json{{"desired", desired_json(desired_for(node, *c), c->revision)},
              {"heartbeat_interval_ms", interval.count()}};
}

Result<store::Cluster> Controller::hold(store::Cluster c, const std::string& why) {
  if (runner_.active()) {
    // The rollout's steps are from before the restore: it is not continued.
    runner_.abort("aborted: " + why);
    if (auto a = lifecycle::apply(c, Command::kAbort)) c = *a;
  }
  c.held = why;
  auto rev = store_->put_cluster(c);
  if (!rev) return std::unexpected(rev.error());
  record_system("restore.detected", {{"reason", why}},
                "held: nothing moves until `logctl cluster resume` (gated)");
  return store_->cluster();
}

json Controller::node_json(const LiveNode& l, const store::Cluster& c) {
  json labels = json::parse(l.row.labels, nullptr, false);
  json j = {{"name", l.row.name},
            {"labels", labels.is_discarded() ? json::object() : labels},
            {"version", l.row.version},
            {"config_revision", l.row.config_revision},
            {"generation", l.row.generation},
            {"last_heartbeat", l.row.last_heartbeat},
            {"enrolled_at", l.row.enrolled_at},
            {"connected", nodes_.connected(l, Clock::now())},
            {"liveness", liveness_name(nodes_.liveness(l, Clock::now()))},
            {"liveness_detail", nodes_.describe(l, Clock::now(), now_ms())},
            {"revoked", l.revoked},
            {"healthy", healthy(l, c)},
            {"running", l.health.value("running", false)},
            {"worker_up", l.health.value("worker_up", false)},
            {"figures", l.health.value("figures", json::object())},
            {"listeners", l.health.value("listeners", json::array())},
            {"last_handover", l.health.value("handover", json())},
            {"converge", l.health.value("converge", json())}};
  Desired d = desired_for(l.row.name, c);
  j["desired"] = {{"running", d.running}, {"version", d.version}, {"config_revision", d.config}};
  return j;
}

ApiResult<json> Controller::nodes() {
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  json out = json::array();
  for (const auto& [name, l] : nodes_.all()) out.push_back(node_json(l, *c));
  return json{{"nodes", out}};
}

ApiResult<json> Controller::node(const std::string& name) {
  std::lock_guard lock(mu_);
  const LiveNode* n = nodes_.find(name);
  if (!n) return std::unexpected(api_error(404, "not_found", "node '" + name + "'"));
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  return node_json(*n, *c);
}

ApiResult<json> Controller::revoke_node(const std::string& name, const Principal& who) {
  std::lock_guard lock(mu_);
  LiveNode* live = nodes_.find(name);
  if (!live) return std::unexpected(api_error(404, "not_found", "node '" + name + "'"));
  auto n = store_->revoke_node_tokens(name);
  if (!n) return std::unexpected(api_error(n.error()));
  live->revoked = true;
  (void)record(who, "node.revoke", {{"node", name}, {"tokens", *n}}, false, "accepted");
  return json{{"node", name}, {"revoked_tokens", *n}};
}

ApiResult<json> Controller::delete_node(const std::string& name, const Principal& who) {
  std::lock_guard lock(mu_);
  if (!nodes_.find(name))
    return std::unexpected(api_error(404, "not_found", "node '" + name + "'"));
  auto n = store_->delete_node(name);
  if (!n) return std::unexpected(api_error(n.error()));
  nodes_.erase(name);
  runner_.forget(name, now());
  (void)record(who, "node.delete", {{"node", name}, {"revoked_tokens", *n}}, false, "accepted");
  cv_.notify_all();
  return json{{"node", name}, {"deleted", true}, {"revoked_tokens", *n}};
}

void Controller::flush_nodes() {
  (void)store_->put_node_states(nodes_.take_dirty());
}

// ---- releases and configs ---------------------------------------------------

ApiResult<json> Controller::add_release(const std::string& manifest_text,
                                        const std::string& artifact_tmp, const std::string& sha256,
                                        std::int64_t size, const Principal& who) {
  auto drop = [&] { ::unlink(artifact_tmp.c_str()); };
  json mj = json::parse(manifest_text, nullptr, false);
  if (mj.is_discarded()) {
    drop();
    return std::unexpected(api_error(400, "bad_request", "manifest: not JSON"));
  }
  auto m = release::manifest_from_json(mj);
  if (!m) {
    drop();
    return std::unexpected(api_error(422, "invalid_manifest", "manifest: " + m.error().message));
  }
  if (!compat::SemVer::parse(m->version)) {
    drop();
    return std::unexpected(
        api_error(422, "invalid_manifest", "manifest: version '" + m->version + "' is not SemVer"));
  }
  if (size <= 0) {
    drop();
    return std::unexpected(api_error(400, "bad_request", "the artifact is empty"));
  }
  std::lock_guard lock(mu_);
  store::Release r{m->version, sha256, size, release::to_json(*m).dump(), 0};
  if (auto s = store_->add_release(r); !s) {
    drop();
    return std::unexpected(api_error(s.error()));
  }
  // Content-addressed: the same bytes land on the same name.
  std::string final_path = artifacts_dir() + "/" + sha256;
  if (::rename(artifact_tmp.c_str(), final_path.c_str()) != 0) {
    drop();
    return std::unexpected(
        api_error(500, "internal", "store artifact: " + std::string(std::strerror(errno))));
  }
  ::chmod(final_path.c_str(), 0640);
  (void)record(who, "release.push", {{"version", m->version}, {"sha256", sha256}, {"size", size}},
               false, "accepted");
  return json{{"version", m->version}, {"sha256", sha256}, {"size", size}};
}

ApiResult<json> Controller::releases() {
  std::lock_guard lock(mu_);
  auto rs = store_->releases();
  if (!rs) return std::unexpected(api_error(rs.error()));
  json out = json::array();
  for (const auto& r : *rs) {
    json m = json::parse(r.manifest, nullptr, false);
    out.push_back({{"version", r.version},
                   {"sha256", r.sha256},
                   {"size", r.size},
                   {"created_at", r.created_at},
                   {"min_upgrade_from", m.is_discarded() ? "" : m.value("min_upgrade_from", "")}});
  }
  return json{{"releases", out}};
}

ApiResult<json> Controller::release(const std::string& version) {
  std::lock_guard lock(mu_);
  auto r = store_->release(version);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r) return std::unexpected(api_error(404, "not_found", "release '" + version + "'"));
  json m = json::parse((*r)->manifest, nullptr, false);
  return json{{"version", (*r)->version},
              {"sha256", (*r)->sha256},
              {"size", (*r)->size},
              {"created_at", (*r)->created_at},
              {"manifest", m.is_discarded() ? json() : m}};
}

ApiResult<std::string> Controller::artifact_path(const std::string& version, const Principal& who) {
  if (who.kind == store::TokenKind::kEnrollment) {
    return std::unexpected(
        api_error(403, "forbidden", "an enrolment token cannot download releases"));
  }
  std::lock_guard lock(mu_);
  auto r = store_->release(version);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r) return std::unexpected(api_error(404, "not_found", "release '" + version + "'"));
  return artifacts_dir() + "/" + (*r)->sha256;
}

ApiResult<std::string> Controller::validate_config_text(const std::string& text,
                                                        const std::string& version) {
  auto root = config::parse_string(
      text, "config", [](const char*) -> const char* { return compat::kNodeEnvironment; });
  if (!root) return std::unexpected(api_error(422, "invalid_config", root.error().message));
  auto r = version.empty() ? Result<std::optional<store::Release>>(std::nullopt)
                           : store_->release(version);
  json m = r && *r ? json::parse((*r)->manifest, nullptr, false) : json();
  if (!m.is_object() || !m.contains("plugin_schema")) {
    // No release record for this version (e.g. what nodes were installed
    // with): the controller's own schema is the best knowledge there is.
    // Values from each node's environment ("#{ENV['…']}") are checked there.
    if (auto v = compat::config_fits_schema(*root, config::plugin_schema_json()); !v) {
      return std::unexpected(
          api_error(422, "invalid_config",
                    v.error().message +
                        " (checked with this controller's plugin schema: no release "
                        "record for " +
                        (version.empty() ? std::string("the running version") : version) + ")"));
    }
    return std::string();
  }
  if (auto s = compat::config_fits_schema(*root, m["plugin_schema"]); !s) {
    return std::unexpected(api_error(422, "invalid_config",
                                     "does not fit release " + version + ": " + s.error().message));
  }
  return std::string();
}

std::set<std::string> Controller::cluster_versions(const store::Cluster& c) const {
  std::set<std::string> versions;
  for (const auto& v : {c.current_version, c.target_version}) {
    if (!v.empty()) versions.insert(v);
  }
  for (const auto& [name, l] : nodes_.all()) {
    if (!l.revoked && !l.row.version.empty()) versions.insert(l.row.version);
  }
  if (versions.empty()) versions.insert("");
  return versions;
}

ApiResult<json> Controller::check_config(const std::string& text, const std::string& version) {
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  std::set<std::string> versions = {version};
  if (version.empty()) {
    versions = cluster_versions(*c);
  } else if (auto r = store_->release(version); !r || !*r) {
    return std::unexpected(api_error(404, "not_found", "no release " + version));
  }
  for (const auto& v : versions) {
    if (auto ok = validate_config_text(text, v); !ok) return std::unexpected(ok.error());
  }
  std::string current;
  if (c->current_config != 0) {
    if (auto r = store_->config(c->current_config); r && *r) current = (*r)->text;
  }
  json checked = json::array();
  for (const auto& v : versions) checked.push_back(v);
  return json{{"valid", true},
              {"checked_against", checked},
              {"sha256", digest::sha256_hex(text)},
              {"diff_from", c->current_config},
              {"diff", config_diff(current, text)}};
}

ApiResult<json> Controller::add_config(const std::string& text, const Principal& who) {
  std::lock_guard lock(mu_);
  // Validated against every version the cluster runs or is moving to.
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  for (const auto& v : cluster_versions(*c)) {
    if (auto ok = validate_config_text(text, v); !ok) return std::unexpected(ok.error());
  }
  store::ConfigRevision rev{0, text, digest::sha256_hex(text), who.name(), 0};
  auto id = store_->add_config(rev);
  if (!id) return std::unexpected(api_error(id.error()));
  (void)record(who, "config.add", {{"revision", *id}, {"sha256", rev.sha256}}, false, "accepted");
  return json{{"revision", *id}, {"sha256", rev.sha256}};
}

ApiResult<json> Controller::config(std::int64_t id, const Principal& who) {
  if (who.kind == store::TokenKind::kEnrollment) {
    return std::unexpected(api_error(403, "forbidden", "an enrolment token cannot read configs"));
  }
  std::lock_guard lock(mu_);
  auto r = store_->config(id);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r)
    return std::unexpected(api_error(404, "not_found", "config revision " + std::to_string(id)));
  return json{{"revision", (*r)->id},
              {"sha256", (*r)->sha256},
              {"author", (*r)->author},
              {"created_at", (*r)->created_at},
              {"text", (*r)->text}};
}

ApiResult<json> Controller::configs() {
  std::lock_guard lock(mu_);
  auto rs = store_->configs(100);
  if (!rs) return std::unexpected(api_error(rs.error()));
  json out = json::array();
  for (const auto& r : *rs) {
    out.push_back({{"revision", r.id},
                   {"sha256", r.sha256},
                   {"author", r.author},
                   {"created_at", r.created_at}});
  }
  return json{{"configs", out}};
}

// ---- status and history -----------------------------------------------------

ApiResult<json> Controller::status() {
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  json j = {{"cluster", cluster_json(*c)}};
  int total = 0, healthy_n = 0, connected = 0, unreachable = 0, revoked = 0;
  auto t = Clock::now();
  for (const auto& [name, l] : nodes_.all()) {
    ++total;
    healthy_n += healthy(l, *c);
    connected += nodes_.connected(l, t);
    unreachable += nodes_.liveness(l, t) == Liveness::kUnreachable;
    revoked += l.revoked;
  }
  j["nodes"] = {{"total", total},
                {"connected", connected},
                {"unreachable", unreachable},
                {"revoked", revoked},
                {"healthy", healthy_n}};
  if (runner_.exists()) j["rollout"] = runner_.to_json();
  return j;
}

ApiResult<json> Controller::history(std::size_t limit) {
  std::lock_guard lock(mu_);
  auto h = store_->history(limit);
  if (!h) return std::unexpected(api_error(h.error()));
  json out = json::array();
  for (const auto& e : *h) {
    json d = json::parse(e.detail, nullptr, false);
    out.push_back({{"id", e.id},
                   {"at", e.at},
                   {"actor", e.actor},
                   {"action", e.action},
                   {"detail", d.is_discarded() ? json(e.detail) : d},
                   {"forced", e.forced},
                   {"outcome", e.outcome}});
  }
  return json{{"history", out}};
}

ApiResult<json> Controller::rollouts(std::size_t limit) {
  std::lock_guard lock(mu_);
  auto rs = store_->rollouts(limit);
  if (!rs) return std::unexpected(api_error(rs.error()));
  json out = json::array();
  for (const auto& r : *rs) out.push_back(rollout_json(r));
  return json{{"rollouts", out}};
}

ApiResult<json> Controller::rollout(std::int64_t id) {
  std::lock_guard lock(mu_);
  auto r = store_->rollout(id);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r) return std::unexpected(api_error(404, "not_found", "rollout " + std::to_string(id)));
  auto steps = store_->steps(id);
  if (!steps) return std::unexpected(api_error(steps.error()));
  json j = rollout_json(**r);
  json s = json::array();
  for (const auto& st : *steps) s.push_back(step_json(st));
  j["steps"] = s;
  return j;
}

// ---- upgrade: checks and the plan ---------------------------------------------

ApiResult<json> Controller::plan(const store::Cluster& c, const json& body,
                                 const std::string& version, std::int64_t config, bool& ok) {
  compat::CheckInput in;
  in.current_version = c.current_version;
  in.target_version = version.empty() ? c.current_version : version;
  in.force = body.value("force", false);
  in.allow_downgrade = body.value("allow_downgrade", false);
  for (const auto& n : body.value("ignore_checks", json::array())) {
    if (!n.is_string()) {
      return std::unexpected(api_error(400, "bad_request", "ignore_checks: a list of check names"));
    }
    in.ignore.insert(n.get<std::string>());
  }
  if (!version.empty()) {
    auto r = store_->release(version);
    if (!r) return std::unexpected(api_error(r.error()));
    if (*r) {
      json mj = json::parse((*r)->manifest, nullptr, false);
      if (auto m = release::manifest_from_json(mj); m) in.target = *m;
      auto h = digest::sha256_file(artifacts_dir() + "/" + (*r)->sha256);
      in.artifact_verified = h && *h == (*r)->sha256;
    }
  }
  auto strategy = rollout::parse_strategy(body.value("strategy", json()));
  if (!strategy) return std::unexpected(api_error(strategy.error()));
  auto t = Clock::now();
  for (const auto& [name, l] : nodes_.all()) {
    if (l.revoked) continue;  // out of plans and checks
    if (strategy->skip_unreachable && nodes_.liveness(l, t) == Liveness::kUnreachable) {
      in.skipped_unreachable.push_back(name);
      continue;
    }
    compat::NodeFacts f;
    f.name = name;
    f.version = l.row.version;
    f.chunk_format_written = l.health.value("chunk_format_written", 0);
    auto hp = l.health.value("handover_protocol", json::object());
    f.handover_protocol = {hp.value("min", 0), hp.value("max", 0)};
    f.healthy = healthy(l, c);
    if (!f.healthy) {
      f.unhealthy_because =
          nodes_.connected(l, t) ? "worker down" : nodes_.describe(l, t, now_ms());
    }
    in.nodes.push_back(f);
  }
  in.rollout_in_flight = runner_.active();
  // The config the cluster will run, against the version it will run.
  std::int64_t cfg = config ? config : c.current_config;
  if (cfg != 0) {
    auto text = store_->config(cfg);
    if (!text) return std::unexpected(api_error(text.error()));
    if (!*text) {
      return std::unexpected(api_error(404, "not_found", "config revision " + std::to_string(cfg)));
    }
    if (auto v = validate_config_text((*text)->text, in.target_version); !v) {
      in.config_error = v.error().message;
    }
  }
  auto results = compat::run_checks(in);
  if (!results) return std::unexpected(api_error(results.error()));
  if (version.empty()) {
    // A config change only: the version checks have nothing to judge.
    for (auto& r : *results) {
      if (r.name != compat::kConfigSchema && r.name != compat::kNodesHealthy &&
          r.name != compat::kNoRolloutInFlight && r.outcome != compat::Outcome::kSkipped) {
        r = {r.name, compat::Outcome::kSkipped, "skipped: the version does not change"};
      }
    }
  }
  ok = compat::all_passed(*results);
  json checks = json::array();
  for (const auto& r : *results) {
    checks.push_back({{"name", r.name},
                      {"outcome", r.outcome == compat::Outcome::kPassed   ? "passed"
                                  : r.outcome == compat::Outcome::kFailed ? "failed"
                                                                          : "skipped"},
                      {"detail", r.detail}});
  }
  std::vector<rollout::NodeRef> refs = nodes_.plannable();
  json batches = json::array();
  if (!refs.empty()) {
    auto b = rollout::plan_batches(refs, *strategy);
    if (!b) return std::unexpected(api_error(b.error()));
    batches = *b;
  }
  json changes = json::array();
  for (const auto& [name, l] : nodes_.all()) {
    if (l.revoked) continue;
    changes.push_back({{"node", name},
                       {"liveness", liveness_name(nodes_.liveness(l, t))},
                       {"from_version", l.row.version},
                       {"to_version", version.empty() ? l.row.version : version},
                       {"from_config", l.row.config_revision},
                       {"to_config", config ? config : l.row.config_revision}});
  }
  json diff = json::array();
  if (config != 0 && config != c.current_config) {
    std::string before, after;
    if (auto r = store_->config(c.current_config); r && *r) before = (*r)->text;
    if (auto r = store_->config(config); r && *r) after = (*r)->text;
    diff = config_diff(before, after);
  }
  json p = {{"cluster_revision", c.revision},
            {"version", version},
            {"config", config},
            {"checks", checks},
            {"strategy", rollout::to_json(*strategy)},
            {"batches", batches},
            {"nodes", changes},
            {"config_diff", diff},
            {"forced", in.force}};
  p["plan_token"] = digest::sha256_hex(p.dump()).substr(0, 32);
  return p;
}

ApiResult<json> Controller::upgrade(const json& body, const Principal& who) {
  if (!body.is_object())
    return std::unexpected(api_error(400, "bad_request", "body: not an object"));
  static const std::set<std::string> known = {"version",         "config",        "force",
                                              "allow_downgrade", "ignore_checks", "dry_run",
                                              "plan_token",      "strategy"};
  for (const auto& [k, v] : body.items()) {
    if (!known.contains(k)) {
      return std::unexpected(api_error(400, "bad_request", "upgrade: unknown field '" + k + "'"));
    }
  }
  std::string version;
  if (body.contains("version")) {
    if (!body["version"].is_string() ||
        !compat::SemVer::parse(body["version"].get<std::string>())) {
      return std::unexpected(api_error(400, "bad_request", "upgrade: 'version' must be SemVer"));
    }
    version = body["version"].get<std::string>();
  }
  std::int64_t config = 0;
  if (body.contains("config")) {
    if (!body["config"].is_number_integer() || body["config"].get<std::int64_t>() <= 0) {
      return std::unexpected(
          api_error(400, "bad_request", "upgrade: 'config' is a revision number"));
    }
    config = body["config"].get<std::int64_t>();
  }
  for (const char* k : {"force", "allow_downgrade", "dry_run"}) {
    if (body.contains(k) && !body[k].is_boolean()) {
      return std::unexpected(
          api_error(400, "bad_request", std::string("upgrade: '") + k + "' is a boolean"));
    }
  }
  if (version.empty() && config == 0) {
    return std::unexpected(
        api_error(400, "bad_request", "upgrade: give a version, a config or both"));
  }
  bool force = body.value("force", false);
  bool dry = body.value("dry_run", false);
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  if (c->current_version.empty()) {
    // A new cluster adopts the version its nodes run, when they agree.
    std::set<std::string> running;
    for (const auto& [name, l] : nodes_.all()) {
      if (!l.revoked) running.insert(l.row.version);
    }
    if (running.size() == 1 && !running.begin()->empty()) {
      c->current_version = *running.begin();
      auto rev = store_->put_cluster(*c);
      if (!rev) return std::unexpected(api_error(rev.error()));
      c->revision = *rev;
    }
  }
  auto next = lifecycle::apply(*c, Command::kUpgrade, {version, config});
  if (!next) {
    auto e = api_error(next.error());
    e.details = {{"state", store::cluster_state_name(c->state)}};
    return std::unexpected(e);
  }
  bool ok = false;
  auto p = plan(*c, body, version, config, ok);
  if (!p) return p;
  if (dry) return json{{"dry_run", true}, {"plan", *p}};
  json detail = {{"version", version}, {"config", config}, {"checks", (*p)["checks"]}};
  if (body.contains("plan_token")) {
    if (!body["plan_token"].is_string() ||
        body["plan_token"].get<std::string>() != (*p)["plan_token"]) {
      (void)record(who, "upgrade", detail, force, "refused: stale plan token");
      return std::unexpected(api_error(
          409, "stale_plan", "the cluster changed since that plan was made: run the dry run again",
          {{"plan", *p}}));
    }
  }
  if (!ok) {
    std::string failed;
    for (const auto& ch : (*p)["checks"]) {
      if (ch["outcome"] == "failed") {
        failed += (failed.empty() ? "" : "; ") + ch["name"].get<std::string>() + ": " +
                  ch["detail"].get<std::string>();
      }
    }
    (void)record(who, "upgrade", detail, force, "refused: checks failed");
    return std::unexpected(
        api_error(422, "checks_failed", "compatibility checks failed: " + failed, {{"plan", *p}}));
  }
  // Same version again without force is caught by semver_policy; a forced
  // re-run to the very version the cluster runs still rolls every node.
  next->target_strategy = (*p)["strategy"].dump();
  next->target_forced = force;
  if (version.empty() && config == c->current_config && !force) {
    return std::unexpected(
        api_error(409, "conflict", "the cluster already runs config " + std::to_string(config)));
  }
  auto rev = store_->put_cluster(*next);
  if (!rev) return std::unexpected(api_error(rev.error()));
  (void)record(who, "upgrade", detail, force, "accepted: target recorded; resume carries it out");
  auto after = store_->cluster();
  return json{{"plan", *p}, {"cluster", after ? cluster_json(*after) : json()}};
}

// ---- commands -----------------------------------------------------------------

ApiResult<std::int64_t> Controller::begin_rollout(const store::Cluster& c,
                                                  const rollout::Strategy& s, bool forced,
                                                  const Principal& who, Sources from) {
  // Each node's source is what it was told until now (after an aborted
  // rollout, not every node runs the cluster's pair), or after a restore
  // what it reports it runs.
  std::map<std::string, Pair> sources;
  for (const auto& ref : nodes_.plannable()) {
    if (from == Sources::kReported) {
      const LiveNode* n = nodes_.find(ref.name);
      sources[ref.name] = Pair{n->row.version, n->row.config_revision};
      continue;
    }
    Desired d = desired_for(ref.name, c);
    sources[ref.name] = Pair{d.version, d.config};
  }
  auto id = runner_.begin(c, s, forced, sources, now());
  if (!id) return std::unexpected(api_error(id.error()));
  const auto& r = runner_.rollout();
  (void)record(who, "rollout.start",
               {{"rollout", *id},
                {"from_version", r.from_version},
                {"to_version", r.to_version},
                {"from_config", r.from_config},
                {"to_config", r.to_config},
                {"nodes", sources.size()}},
               forced, "started");
  return *id;
}

Pair Controller::rollback_target(const store::Cluster& c) const {
  // After an aborted rollout the fleet is split between its source and its
  // target: back means every node on the source, which is what the cluster
  // still calls current. Otherwise back is the pair before the last change.
  if (runner_.exists() && runner_.state() == RolloutState::kAborted && runner_.governs(c)) {
    return {c.current_version, c.current_config};
  }
  return {c.previous_version, c.previous_config};
}

ApiResult<json> Controller::command(Command cmd, const json& body, const Principal& who) {
  if (!body.is_object() && !body.is_null()) {
    return std::unexpected(api_error(400, "bad_request", "body: not an object"));
  }
  bool flush = false;
  if (body.is_object() && body.contains("flush")) {
    if (cmd != Command::kShutdown || !body["flush"].is_boolean()) {
      return std::unexpected(api_error(400, "bad_request", "flush: a boolean, for shutdown only"));
    }
    flush = body["flush"].get<bool>();
  }
  std::optional<rollout::Strategy> strategy;
  if (body.is_object() && body.contains("strategy")) {
    auto s = rollout::parse_strategy(body["strategy"]);
    if (!s) return std::unexpected(api_error(s.error()));
    strategy = *s;
  }
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  const char* name = lifecycle::command_name(cmd);
  if (!c->held.empty()) {
    if (cmd == Command::kResume) return resume_held(*c, strategy, who);
    (void)record(who, name, body.is_object() ? body : json::object(), false,
                 "refused: held after a restore");
    return std::unexpected(api_error(
        409, "held",
        "the controller holds the fleet: " + c->held +
            ". Nothing moves until `logctl cluster resume`, which re-converges every node to "
            "the cluster's pair (or to a target set with `upgrade` first) in gated batches",
        {{"state", store::cluster_state_name(c->state)}, {"held", c->held}}));
  }
  lifecycle::UpgradeTarget back;
  if (cmd == Command::kRollback && c->state == ClusterState::kRunning) {
    Pair p = rollback_target(*c);
    back = {p.version, p.config};
  }
  auto next = lifecycle::apply(*c, cmd, back);
  if (!next) {
    (void)record(who, name, body.is_object() ? body : json::object(), false,
                 "refused: " + next.error().message);
    auto e = api_error(next.error());
    json legal = json::array();
    for (auto l : lifecycle::legal_commands(*c)) legal.push_back(lifecycle::command_name(l));
    e.details = {{"state", store::cluster_state_name(c->state)}, {"legal_commands", legal}};
    return std::unexpected(e);
  }
  bool forced = false;
  std::optional<std::int64_t> started;
  if (next->state == ClusterState::kUpgrading && c->state == ClusterState::kRunning) {
    // resume (online path) or rollback from running: a new rollout.
    if (!strategy) {
      auto stored =
          json::parse(cmd == Command::kResume ? c->target_strategy : "{}", nullptr, false);
      auto s = rollout::parse_strategy(stored.is_discarded() || stored.empty() ? json() : stored);
      if (!s) return std::unexpected(api_error(s.error()));
      strategy = *s;
    }
    forced = cmd == Command::kResume && c->target_forced;
    auto id = begin_rollout(*next, *strategy, forced, who);
    if (!id) return std::unexpected(id.error());
    started = *id;
  } else if (runner_.active()) {
    if (cmd == Command::kPause) runner_.pause();
    if (cmd == Command::kResume) runner_.resume();
    if (cmd == Command::kAbort) {
      runner_.abort("aborted by " + who.name() +
                    "; every node keeps what it was told last (nothing more is judged)");
    }
    if (cmd == Command::kRollback) runner_.rollback("rolled back by " + who.name(), now());
  }
  if (cmd == Command::kShutdown) next->stop_flush = flush;
  if (cmd == Command::kResume && c->state == ClusterState::kStopped) {
    next->target_strategy = "{}";
    next->target_forced = false;
  }
  auto rev = store_->put_cluster(*next);
  if (!rev) return std::unexpected(api_error(rev.error()));
  json detail = body.is_object() ? body : json::object();
  if (started) detail["rollout"] = *started;
  (void)record(who, name, detail, forced, "accepted");
  auto after = store_->cluster();
  json out = {{"cluster", after ? cluster_json(*after) : json()}};
  if (started) out["rollout"] = *started;
  if (started && cmd == Command::kRollback) {
    out["rollback_to"] = {{"version", back.version}, {"config", back.config}};
  }
  cv_.notify_all();
  return out;
}

// Resume after a restore: the revision moves past every one a node was told,
// and a rollout (gated, batch by batch) takes every node from what it
// reports to the cluster's target, or back to its current pair.
ApiResult<json> Controller::resume_held(store::Cluster c,
                                        const std::optional<rollout::Strategy>& asked,
                                        const Principal& who) {
  auto rev = store_->advance_revision(max_seen_revision_ + 1);
  if (!rev) return std::unexpected(api_error(rev.error()));
  c.revision = *rev;
  std::string was = c.held;
  c.held.clear();
  c.adopting = false;
  if (c.target_version.empty() && c.target_config == 0) {
    c.target_version = c.current_version;
    c.target_config = c.current_config;
  }
  c.state = ClusterState::kUpgrading;
  rollout::Strategy s;
  if (asked) {
    s = *asked;
  } else {
    auto stored = json::parse(c.target_strategy, nullptr, false);
    auto parsed = rollout::parse_strategy(stored.is_object() && !stored.empty() ? stored : json());
    if (!parsed) return std::unexpected(api_error(parsed.error()));
    s = *parsed;
  }
  auto id = begin_rollout(c, s, false, who, Sources::kReported);
  if (!id) return std::unexpected(id.error());
  auto put = store_->put_cluster(c);
  if (!put) return std::unexpected(api_error(put.error()));
  (void)record(who, "resume", {{"rollout", *id}, {"after_hold", was}}, false, "accepted");
  auto after = store_->cluster();
  cv_.notify_all();
  return json{{"cluster", after ? cluster_json(*after) : json()}, {"rollout", *id}};
}

// ---- the reconcile loop ---------------------------------------------------------

void Controller::reconcile() {
  std::lock_guard lock(mu_);
  Now t = now();
  nodes_.note_pass(t.steady, t.ms);  // before any gate: was this process stopped?
  flush_nodes();
  if (!runner_.active()) return;
  auto event = runner_.advance(t);
  if (!event) return;
  auto c = store_->cluster();
  if (!c) return;
  if (auto next = lifecycle::apply(*c, *event)) (void)store_->put_cluster(*next);
}

}  // namespace logctl::controller
