// The controller's brain (docs/architecture.md, "Control plane"): every API
// operation and the reconcile loop. Level-triggered: a node's heartbeat
// reports what it runs and is answered with what it should run
// (desired_for); the nodes and their liveness are the NodeRegistry's, the
// rollout in flight the RolloutRunner's (which nodes should run what, batch
// by batch, judged by what the nodes then report). Everything a restart must
// not forget is in the store; heartbeat figures are soft state, written back
// in batches.
//
// Thread safety: every public function may be called from any thread (the
// HTTP server's pool); one mutex serialises them with the reconcile loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "controller/lifecycle/lifecycle.h"
#include "controller/rollout/plan.h"
#include "controller/server/node_registry.h"
#include "controller/server/rollout_runner.h"
#include "controller/store/store.h"

namespace logctl::store {
class ReadCache;
}

namespace logctl::controller {

using nlohmann::json;

// An API error: the HTTP status, a stable code and a human message
// (docs/api.md lists the codes).
struct ApiError {
  int status = 500;
  std::string code;
  std::string message;
  json details = json::object();
};
template <typename T>
using ApiResult = std::expected<T, ApiError>;
ApiError api_error(int status, std::string code, std::string message,
                   json details = json::object());
// From a store / domain error: kInvalidArgument 400, kNotFound 404,
// kAlreadyExists 409, the rest 500.
ApiError api_error(const Error& e);

// Who is calling (from the bearer token).
struct Principal {
  store::TokenKind kind = store::TokenKind::kNode;
  std::int64_t token_id = 0;
  std::string node;          // kNode
  std::string name() const;  // "admin#1", "node:web-1#7": for the history
  // An enrolment token's bounds (store::Token): uses left, names allowed.
  std::optional<std::int64_t> uses_left;
  std::string names;
};

struct ControllerOptions {
  std::string data_dir;
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds tick{200};
  // A node not heard from for this long is unhealthy.
  std::chrono::milliseconds node_timeout{10000};
  // Enrolled nodes at most (deleted ones do not count): enrolment beyond is 409.
  std::size_t max_nodes = 10000;
  // Where the fleet's state lives: "" is DATA_DIR/controller.db (SQLite: one
  // controller, which always leads); a PostgreSQL conninfo (postgresql://…
  // or key=value) is shared by several controllers, one of which leads at a
  // time (docs/architecture.md, "Several controllers").
  std::string store;
  std::string store_password;  // from a file; never logged
  // This controller's URL as nodes and operators reach it: followers name
  // the leader's in their refusals; `cluster status` lists every one.
  std::string advertise_url;
  // The leader's lease: renewed every third of it; a follower takes over
  // once it has run out (a dead leader is replaced within about this).
  std::chrono::milliseconds lease_ttl{6000};
};

class Controller {
 public:
  static Result<std::unique_ptr<Controller>> open(ControllerOptions o);
  ~Controller();
  void start();  // the reconcile loop
  void stop();

  ApiResult<Principal> authenticate(std::string_view authorization_header);
  // `init` only: stores the hash of an admin or enrolment token.
  Status add_token_for_init(store::TokenKind kind, const std::string& sha256);
  // Token rotation (`logctl-controller rotate-token`): the token with this
  // hash becomes the only valid one of its kind; how many were revoked.
  Result<int> rotate_token(store::TokenKind kind, const std::string& sha256);
  // A bounded enrolment token (`logctl-controller enroll-token create`),
  // beside the others, that may enrol only `names` (any when empty; each a
  // node name, else kInvalidArgument); its id.
  Result<std::int64_t> add_enrollment_token(store::Token t, const std::vector<std::string>& names);

  // Operator commands (admin): start, shutdown, resume, rollback, pause, abort.
  ApiResult<json> command(lifecycle::Command cmd, const json& body, const Principal& who);
  // upgrade: checks, then records the target (or, dry_run, only the plan).
  ApiResult<json> upgrade(const json& body, const Principal& who);
  ApiResult<json> status();
  ApiResult<json> history(std::size_t limit);
  ApiResult<json> rollouts(std::size_t limit);
  ApiResult<json> rollout(std::int64_t id);

  // Releases: the artifact is already at `artifact_tmp` (in data_dir/artifacts)
  // with the SHA-256 computed while it arrived.
  ApiResult<json> add_release(const std::string& manifest_text, const std::string& artifact_tmp,
                              const std::string& sha256, std::int64_t size, const Principal& who);
  ApiResult<json> releases();
  ApiResult<json> release(const std::string& version);
  // The artifact's path (for streaming), after checking the caller may read it.
  // Deletes a release no one needs (not the cluster's current, target or
  // previous version, not run by a node, not in a rollout in flight) and its
  // artifact when no other release has the same bytes.
  ApiResult<json> delete_release(const std::string& version, const Principal& who);
  ApiResult<std::string> artifact_path(const std::string& version, const Principal& who);
  std::string artifacts_dir() const;

  ApiResult<json> add_config(const std::string& text, const Principal& who, bool strict = false);
  // Validates a config without storing it: against `version`'s plugin schema,
  // or every version the cluster runs or targets; with its diff from the
  // cluster's current config revision.
  ApiResult<json> check_config(const std::string& text, const std::string& version,
                               bool strict = false);
  ApiResult<json> config(std::int64_t id, const Principal& who);
  ApiResult<json> configs();

  ApiResult<json> enroll(const json& body, const Principal& who);
  ApiResult<json> heartbeat(const std::string& node, const json& body, const Principal& who);
  ApiResult<json> nodes();
  ApiResult<json> node(const std::string& name);
  ApiResult<json> revoke_node(const std::string& name, const Principal& who);
  // Decommission: tokens revoked, out of every list, plan and check; its step
  // in a rollout in flight is skipped. The name may enrol again later.
  ApiResult<json> delete_node(const std::string& name, const Principal& who);

  // One pass of the reconcile loop (tests drive it directly too).
  void reconcile();

  // Leadership among controllers on a shared database (controller_lead.cpp).
  // This controller's role, term and the leader's URL; `controllers`: every
  // controller seen lately (GET /v1/cluster, /readyz).
  json leadership(bool controllers = false);
  // Whether it leads now (a single controller always does).
  bool leading();
  // The URL when only known once bound (serve --listen HOST:0).
  void set_advertise_url(const std::string& url);

 private:
  struct Desired {
    bool running = false;
    bool flush = false;  // stopped by `shutdown --flush`
    std::string version;
    std::int64_t config = 0;
    // A forced rollout to what the node runs: hand over to it once; the
    // rollout id names the request (0: none).
    std::int64_t redeploy = 0;
  };

  Controller(ControllerOptions o, std::unique_ptr<store::Store> s);
  Status load();
  Desired desired_for(const std::string& node, const store::Cluster& c);
  json desired_json(const Desired& d, std::int64_t cluster_revision = 0);
  Now now() const;
  bool healthy(const LiveNode& n, const store::Cluster& c) const;
  ApiResult<json> plan(const store::Cluster& c, const json& body, const std::string& version,
                       std::int64_t config, bool& ok);
  // Where each node's step starts from: what it was told, or (after a
  // restore) what it reports.
  enum class Sources { kDesired, kReported };
  ApiResult<std::int64_t> begin_rollout(const store::Cluster& c, const rollout::Strategy& s,
                                        bool forced, const Principal& who,
                                        Sources from = Sources::kDesired);
  // The database went back in time: abort any rollout, hold every node.
  Result<store::Cluster> hold(store::Cluster c, const std::string& why);
  ApiResult<json> resume_held(store::Cluster c, const std::optional<rollout::Strategy>& asked,
                              const Principal& who);
  // What the fleet ran before the last rollout, as one pair (rollback's target).
  Pair rollback_target(const store::Cluster& c) const;
  Status record(const Principal& who, const std::string& action, const json& detail, bool forced,
                const std::string& outcome);
  void record_system(const std::string& action, const json& detail, const std::string& outcome);
  void flush_nodes();
  json node_json(const LiveNode& l, const store::Cluster& c);
  // Checks a config against `version`'s plugin schema, opening no file: the
  // @include paths it names (resolved on each node when it applies the
  // config) are returned unchecked, and the parameters the plugins do not
  // take (agentd ignores them with a warning, as Fluentd) as warnings.
  struct ConfigCheck {
    std::vector<std::string> includes;
    std::vector<std::string> warnings;
  };
  ApiResult<ConfigCheck> validate_config_text(const std::string& text, const std::string& version);
  ApiResult<std::vector<std::string>> checked_for_versions(const std::string& text,
                                                           const std::set<std::string>& versions,
                                                           bool strict,
                                                           std::vector<std::string>* includes);
  std::set<std::string> cluster_versions(const store::Cluster& c) const;

  // Leadership (controller_lead.cpp): one pass of taking or renewing the
  // lease; a follower's view of the nodes and the rollout read again.
  void lead_pass();
  json leadership_json(bool controllers);  // under mu_
  bool leads(Clock::time_point now) const { return !shared_ || (leading_ && now < lease_until_); }
  // A write asked of a follower: 503 not_leader naming the leader (nullopt: it leads).
  std::optional<ApiError> refuse_if_following();
  Status take_over(const store::Lease& l);
  void step_down(const std::string& why);
  Status reload();  // nodes and rollout from the store, listening afresh (open, take-over)
  void refresh_follower_view();
  // Shared database: a release's bytes into it, and out of it into the
  // local artifact cache (verified against the release's SHA-256 and size).
  Status share_artifact(const std::string& path, const std::string& sha256);
  Status fetch_artifact(const store::Release& r, const std::string& path);

  ControllerOptions o_;
  std::unique_ptr<store::Store> store_;
  store::ReadCache* cache_ = nullptr;  // store_ itself on a shared database; on while leading
  // Shared database: its own connection for artifact bytes, so that a large
  // transfer never holds mu_ (heartbeats, the reconcile loop).
  std::unique_ptr<store::Store> artifact_store_;
  std::mutex artifact_mu_;
  // Shared database: the nodes' figures are written back on this connection
  // (fenced with the leader's term), outside mu_.
  std::unique_ptr<store::Store> state_store_;
  std::mutex state_mu_;
  bool shared_ = false;
  std::string holder_;  // this process's lease name (host, pid, random)
  std::int64_t started_ms_ = 0;
  bool leading_ = false;
  std::int64_t term_ = 0;
  store::Lease lease_;      // as last read
  std::string leader_url_;  // of lease_.holder, from the controllers table
  Clock::time_point lease_until_{}, renewed_at_{}, refreshed_at_{};
  bool db_ok_ = true;  // the last lease pass reached the database
  std::mutex mu_;
  NodeRegistry nodes_;
  RolloutRunner runner_;
  // The highest cluster revision a node reported it was told (restores).
  std::int64_t max_seen_revision_ = 0;  // the newest rollout (the store has it too)
  std::thread loop_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace logctl::controller
