#include "controller/server/controller.h"

#include "controller/server/controller_internal.h"

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
#include "controller/store/read_cache.h"
#include "logctl/schema/config.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/plugin_schema.h"
#include "logctl/schema/release_manifest.h"

namespace logctl::controller {
namespace detail {

using lifecycle::Command;
using store::ClusterState;

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

ApiError no_node(const std::string& name) {
  return api_error(404, "not_found",
                   "no node '" + name + "' is enrolled (`logctl node list` lists them)");
}

ApiError no_release(const std::string& version) {
  return api_error(
      404, "not_found",
      "no release '" + version + "' on the controller (push it with `logctl release push`)");
}

ApiError no_config(std::int64_t revision) {
  return api_error(
      404, "not_found",
      "no config revision " + std::to_string(revision) + " (`logctl config list` lists them)");
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

}  // namespace detail

using namespace detail;
using lifecycle::Command;
using store::ClusterState;

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
  const bool shared = !o.store.empty();
  auto s = shared ? store::open_postgres_store(o.store, o.store_password)
                  : store::open_sqlite_store(o.data_dir + "/controller.db");
  if (!s) return std::unexpected(s.error());
  store::ReadCache* cache = nullptr;
  if (shared) {
    // The leader's per-heartbeat reads from memory (read_cache.h).
    auto wrapped = std::make_unique<store::ReadCache>(std::move(*s));
    cache = wrapped.get();
    *s = std::move(wrapped);
  }
  std::unique_ptr<Controller> c(new Controller(std::move(o), std::move(*s)));
  c->cache_ = cache;
  c->shared_ = shared;
  c->leading_ = !shared;  // one controller on its own database always leads
  c->started_ms_ = now_ms();
  if (shared) {
    auto a = store::open_postgres_store(c->o_.store, c->o_.store_password);
    if (!a) return std::unexpected(a.error());
    c->artifact_store_ = std::move(*a);
    auto st = store::open_postgres_store(c->o_.store, c->o_.store_password);
    if (!st) return std::unexpected(st.error());
    c->state_store_ = std::move(*st);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    // Unique per process: a restarted controller is a new holder (and term).
    c->holder_ = std::string(host) + ":" + std::to_string(::getpid()) + "#" + digest::random_hex(4);
  }
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
  if (!leads(Clock::now())) return;
  flush_nodes();
  // A clean stop hands the lease over at once: a follower need not wait it out.
  if (shared_) (void)store_->release_lease(holder_, term_);
}

Status Controller::load() {
  if (auto st = reload(); !st) return st;
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
      if (shared_) lead_pass();
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
  if ((*t)->expires_at != 0 && (*t)->expires_at <= now_ms()) {
    return std::unexpected(api_error(401, "unauthenticated", "the token expired"));
  }
  if ((*t)->uses_left && *(*t)->uses_left <= 0) {
    return std::unexpected(api_error(401, "unauthenticated", "the token has no uses left"));
  }
  return Principal{(*t)->kind, (*t)->id, (*t)->node, (*t)->uses_left, (*t)->names};
}

Status Controller::add_token_for_init(store::TokenKind kind, const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto id = store_->add_token(store::Token::of(kind, sha256));
  if (!id) return std::unexpected(id.error());
  return {};
}

Result<int> Controller::rotate_token(store::TokenKind kind, const std::string& sha256) {
  std::lock_guard lock(mu_);
  auto id = store_->add_token(store::Token::of(kind, sha256));
  if (!id) return std::unexpected(id.error());
  auto n = store_->revoke_tokens_of_kind(kind, *id);
  if (!n) return std::unexpected(n.error());
  record_system("token.rotate", {{"kind", store::token_kind_name(kind)}, {"revoked", *n}},
                "accepted");
  return *n;
}

Result<std::int64_t> Controller::add_enrollment_token(store::Token t,
                                                      const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (!valid_name(n)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "'" + n +
                            "' is not a node name (1 to 63 of [A-Za-z0-9._-], starting with a "
                            "letter or digit)");
    }
  }
  if (!names.empty()) t.names = json(names).dump();
  std::lock_guard lock(mu_);
  auto id = store_->add_token(t);
  if (!id) return std::unexpected(id.error());
  record_system("token.create",
                {{"kind", "enrollment"},
                 {"id", *id},
                 {"uses", t.uses_left ? json(*t.uses_left) : json()},
                 {"expires_at", t.expires_at},
                 {"names", json::parse(t.names.empty() ? "null" : t.names, nullptr, false)}},
                "accepted");
  return *id;
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

// ---- status and history -----------------------------------------------------

ApiResult<json> Controller::status() {
  std::lock_guard lock(mu_);
  refresh_follower_view();
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  json j = {{"cluster", cluster_json(*c)}};
  int total = 0, healthy_n = 0, connected = 0, unreachable = 0, revoked = 0;
  json versions = json::object();  // what the nodes run: more than one is a mixed fleet
  auto t = Clock::now();
  for (const auto& [name, l] : nodes_.all()) {
    ++total;
    if (!l.revoked && l.ever_heard()) {
      std::string key = l.row.version + " config " + std::to_string(l.row.config_revision);
      versions[key] = versions.value(key, 0) + 1;
    }
    healthy_n += healthy(l, *c);
    connected += nodes_.connected(l, t);
    unreachable += nodes_.liveness(l, t) == Liveness::kUnreachable;
    revoked += l.revoked;
  }
  j["nodes"] = {{"total", total},     {"connected", connected}, {"unreachable", unreachable},
                {"revoked", revoked}, {"healthy", healthy_n},   {"running", versions}};
  if (runner_.exists()) j["rollout"] = runner_.to_json();
  j["controllers"] = leadership_json(true);
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
  if (!*r) return std::unexpected(api_error(404, "not_found", "no rollout " + std::to_string(id)));
  auto steps = store_->steps(id);
  if (!steps) return std::unexpected(api_error(steps.error()));
  json j = rollout_json(**r);
  json s = json::array();
  for (const auto& st : *steps) s.push_back(step_json(st));
  j["steps"] = s;
  return j;
}

// ---- the reconcile loop ---------------------------------------------------------

void Controller::reconcile() {
  std::vector<store::Node> dirty;
  {
    std::lock_guard lock(mu_);
    Now t = now();
    if (!leads(t.steady)) return;      // a follower reads; only the leader drives
    nodes_.note_pass(t.steady, t.ms);  // before any gate: was this process stopped?
    if (state_store_) {
      dirty = nodes_.take_dirty();  // written below, on its own connection
    } else {
      flush_nodes();
    }
    if (runner_.active()) {
      if (auto event = runner_.advance(t)) {
        if (auto c = store_->cluster()) {
          if (auto next = lifecycle::apply(*c, *event)) (void)store_->put_cluster(*next);
        }
      }
    }
  }
  // A shared database: the pass's node figures in one statement, without
  // holding mu_ (heartbeats go on meanwhile). Fenced as every leader write.
  if (!dirty.empty()) {
    std::lock_guard lock(state_mu_);
    (void)state_store_->put_node_states(dirty);
  }
}

}  // namespace logctl::controller
