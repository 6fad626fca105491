// The Controller's operator commands: upgrade (checks and the plan), the
// lifecycle verbs, rollouts begun, rollback's target, resume after a hold.
#include "controller/server/controller.h"

#include <algorithm>
#include <set>

#include "controller/compat/checks.h"
#include "controller/compat/semver.h"
#include "controller/server/controller_internal.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/release_manifest.h"

namespace logctl::controller {

using namespace detail;
using lifecycle::Command;
using store::ClusterState;

namespace {

// The strategy a target was recorded with (cluster.target_strategy), and the
// plan token that approved it ("" when none did).
struct RecordedStrategy {
  rollout::Strategy strategy;
  std::string approved_plan;
};

Result<RecordedStrategy> recorded_strategy(const std::string& text) {
  json stored = json::parse(text, nullptr, false);
  if (!stored.is_object()) stored = json::object();
  std::string approved = stored.value("approved_plan", "");
  stored.erase("approved_plan");
  auto s = rollout::parse_strategy(stored.empty() ? json() : stored);
  if (!s) return std::unexpected(s.error());
  return RecordedStrategy{*s, approved};
}

// A stored release's manifest (nullopt when it does not parse).
std::optional<release::Manifest> manifest_of(const store::Release& r) {
  auto m = release::manifest_from_json(json::parse(r.manifest, nullptr, false));
  return m ? std::optional<release::Manifest>(*m) : std::nullopt;
}

}  // namespace

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
      in.target = manifest_of(**r);
      auto h = digest::sha256_file(artifacts_dir() + "/" + (*r)->sha256);
      in.artifact_verified = h && *h == (*r)->sha256;
    }
  }
  auto strategy = rollout::parse_strategy(body.value("strategy", json()));
  if (!strategy) return std::unexpected(api_error(strategy.error()));
  auto t = Clock::now();
  // The manifests of the releases the nodes run (nullopt: not stored here).
  std::map<std::string, std::optional<release::Manifest>> manifests;
  auto stored_manifest = [&](const std::string& v) -> const std::optional<release::Manifest>& {
    auto it = manifests.find(v);
    if (it != manifests.end()) return it->second;
    auto r = store_->release(v);
    return manifests[v] = r && *r ? manifest_of(**r) : std::nullopt;
  };
  for (const auto& [name, l] : nodes_.all()) {
    if (l.revoked || !l.ever_heard()) continue;  // out of plans and checks
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
    if (const auto& m = stored_manifest(l.row.version)) {
      if (f.chunk_format_written != m->chunk_format_write) {
        f.disbelieved = "reported chunk format " + std::to_string(f.chunk_format_written) +
                        "; release " + l.row.version + "'s manifest says " +
                        std::to_string(m->chunk_format_write);
      } else if (f.handover_protocol.min != m->handover_protocol.min ||
                 f.handover_protocol.max != m->handover_protocol.max) {
        f.disbelieved = "reported handover protocol " + std::to_string(f.handover_protocol.min) +
                        ".." + std::to_string(f.handover_protocol.max) + "; release " +
                        l.row.version + "'s manifest says " +
                        std::to_string(m->handover_protocol.min) + ".." +
                        std::to_string(m->handover_protocol.max);
      }
      f.chunk_format_written = m->chunk_format_write;
      f.handover_protocol = m->handover_protocol;
    }
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
      return std::unexpected(no_config(cfg));
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
  if (dry) {
    refresh_follower_view();  // a plan is a read: any controller makes it
  } else if (auto e = refuse_if_following()) {
    return std::unexpected(*e);
  }
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
  // A target approved by its plan token runs exactly as planned: the token
  // is kept beside the strategy, and a resume may not change it.
  json recorded = (*p)["strategy"];
  if (body.contains("plan_token")) recorded["approved_plan"] = (*p)["plan_token"];
  next->target_strategy = recorded.dump();
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
  if (auto e = refuse_if_following()) return std::unexpected(*e);
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
    auto recorded = recorded_strategy(cmd == Command::kResume ? c->target_strategy : "{}");
    if (!recorded) return std::unexpected(api_error(recorded.error()));
    const rollout::Strategy& planned = recorded->strategy;
    const std::string& approved = recorded->approved_plan;
    if (strategy && !approved.empty()) {
      // What the approved plan showed is what runs: a different strategy is
      // refused, naming each change.
      json want = rollout::to_json(*strategy), had = rollout::to_json(planned);
      std::string changed;
      for (const auto& [k, v] : want.items()) {
        if (had.value(k, json()) != v) {
          changed += (changed.empty() ? "" : ", ") + k + " " + had.value(k, json()).dump() +
                     " -> " + v.dump();
        }
      }
      if (!changed.empty()) {
        (void)record(who, name, {{"strategy", want}}, false,
                     "refused: the approved plan's strategy differs");
        return std::unexpected(api_error(
            409, "conflict",
            "the target was approved with plan token " + approved +
                "; this resume changes its strategy (" + changed +
                "): resume without strategy flags, or make and approve a new plan",
            {{"approved_plan", approved}, {"planned_strategy", had}, {"asked_strategy", want}}));
      }
    }
    if (!strategy) strategy = planned;
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
    auto recorded = recorded_strategy(c.target_strategy);
    if (!recorded) return std::unexpected(api_error(recorded.error()));
    s = recorded->strategy;
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

}  // namespace logctl::controller
