#include "controller/server/rollout_runner.h"

#include <algorithm>
#include <array>

namespace logctl::controller {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<StepState, const char*>, 9> kStepNames = {{
    {StepState::kPending, "pending"},
    {StepState::kMoving, "moving"},
    {StepState::kSettling, "settling"},
    {StepState::kDone, "done"},
    {StepState::kFailed, "failed"},
    {StepState::kSkipped, "skipped"},
    {StepState::kReverting, "reverting"},
    {StepState::kReverted, "reverted"},
    {StepState::kStranded, "stranded"},
}};

constexpr std::array<std::pair<RolloutState, const char*>, 7> kRolloutNames = {{
    {RolloutState::kRunning, "running"},
    {RolloutState::kPaused, "paused"},
    {RolloutState::kRollingBack, "rolling_back"},
    {RolloutState::kSucceeded, "succeeded"},
    {RolloutState::kSucceededPartial, "succeeded_partial"},
    {RolloutState::kRolledBack, "rolled_back"},
    {RolloutState::kAborted, "aborted"},
}};

template <typename E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E e) {
  for (const auto& [v, n] : table) {
    if (v == e) return n;
  }
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> parse_name(const std::array<std::pair<E, const char*>, N>& table,
                            std::string_view s) {
  for (const auto& [v, n] : table) {
    if (s == n) return v;
  }
  return std::nullopt;
}

std::int64_t figure(const json& health, const char* key) {
  if (!health.contains("figures")) return 0;
  const auto& f = health["figures"];
  if (!f.is_object() || !f.contains(key) || !f[key].is_number_integer()) return 0;
  return f[key].get<std::int64_t>();
}

json report_of(const store::RolloutStep& s) {
  json rep = json::parse(s.report, nullptr, false);
  return rep.is_object() ? rep : json::object();
}

// The figures a gate compares against its baseline.
json gate_figures(const json& health) {
  json base = json::object();
  for (const char* k : {"drops", "parse_errors", "events_in", "buffer_queue_bytes"}) {
    base[k] = figure(health, k);
  }
  return base;
}

bool runs(const LiveNode& n, const Pair& p) {
  return n.row.version == p.version && (p.config == 0 || n.row.config_revision == p.config);
}

}  // namespace

const char* step_state_name(StepState s) {
  return name_of(kStepNames, s);
}
std::optional<StepState> parse_step_state(std::string_view s) {
  return parse_name(kStepNames, s);
}
const char* rollout_state_name(RolloutState s) {
  return name_of(kRolloutNames, s);
}
std::optional<RolloutState> parse_rollout_state(std::string_view s) {
  return parse_name(kRolloutNames, s);
}

json rollout_json(const store::Rollout& r) {
  json strategy = json::parse(r.strategy, nullptr, false);
  return {{"id", r.id},
          {"state", r.state},
          {"from_version", r.from_version},
          {"to_version", r.to_version},
          {"from_config", r.from_config},
          {"to_config", r.to_config},
          {"strategy", strategy.is_discarded() ? json::object() : strategy},
          {"forced", r.forced},
          {"reason", r.reason},
          {"created_at", r.created_at},
          {"updated_at", r.updated_at}};
}

json step_json(const store::RolloutStep& s) {
  return {{"node", s.node},
          {"batch", s.batch},
          {"state", s.state},
          {"report", report_of(s)},
          {"updated_at", s.updated_at}};
}

Status RolloutRunner::load() {
  auto rs = store_.rollouts(1);
  if (!rs) return std::unexpected(rs.error());
  // Read again (a controller that takes over, a follower's view): nothing
  // of what was in memory stays.
  rollout_.reset();
  state_ = RolloutState::kSucceeded;
  steps_.clear();
  if (rs->empty()) return {};
  rollout_ = rs->front();
  auto state = parse_rollout_state(rollout_->state);
  if (!state) {
    return make_error(ErrorCode::kCorrupt, "rollout " + std::to_string(rollout_->id) +
                                               ": unknown state '" + rollout_->state + "'");
  }
  state_ = *state;
  auto st = store_.steps(rollout_->id);
  if (!st) return std::unexpected(st.error());
  for (auto& row : *st) {
    auto s = parse_step_state(row.state);
    if (!s) {
      return make_error(ErrorCode::kCorrupt,
                        "rollout step " + row.node + ": unknown state '" + row.state + "'");
    }
    steps_[row.node] = Step{row, *s};
  }
  return {};
}

bool RolloutRunner::active() const {
  return rollout_ && (state_ == RolloutState::kRunning || state_ == RolloutState::kPaused ||
                      state_ == RolloutState::kRollingBack);
}

bool RolloutRunner::governs(const store::Cluster& c) const {
  if (!rollout_) return false;
  if (active()) return true;
  bool moved = state_ == RolloutState::kSucceeded || state_ == RolloutState::kSucceededPartial;
  Pair end = moved ? target() : Pair{rollout_->from_version, rollout_->from_config};
  return Pair{c.current_version, c.current_config} == end;
}

Pair RolloutRunner::target() const {
  return {rollout_->to_version, rollout_->to_config};
}

bool RolloutRunner::redeploy() const {
  // A forced rollout to what the cluster already runs (CI re-running a
  // deploy): every node hands over to the same version and config once.
  return rollout_->forced && rollout_->from_version == rollout_->to_version &&
         rollout_->from_config == rollout_->to_config;
}

Pair RolloutRunner::source_of(const Step& st) const {
  json src = report_of(st.row).value("source", json());
  if (src.is_object() && src.value("version", json()).is_string()) {
    return {src["version"].get<std::string>(), src.value("config", std::int64_t{0})};
  }
  return {rollout_->from_version, rollout_->from_config};
}

std::optional<Pair> RolloutRunner::desired(const std::string& node,
                                           std::int64_t* redeploy_id) const {
  if (!rollout_) return std::nullopt;
  auto it = steps_.find(node);
  if (it == steps_.end()) return std::nullopt;
  switch (it->second.state) {
    case StepState::kMoving:
    case StepState::kSettling:
    case StepState::kDone:
      if (redeploy_id && redeploy()) *redeploy_id = rollout_->id;
      return target();
    case StepState::kSkipped:
      // Not moved: while the rollout runs it keeps its source; once it ended,
      // what the cluster runs (it converges when it is back).
      if (!active()) return std::nullopt;
      return source_of(it->second);
    default:
      return source_of(it->second);
  }
}

bool RolloutRunner::in_flight(const std::string& node) const {
  if (!active()) return false;
  auto it = steps_.find(node);
  if (it == steps_.end()) return false;
  auto s = it->second.state;
  return s == StepState::kMoving || s == StepState::kSettling || s == StepState::kReverting;
}

Result<std::int64_t> RolloutRunner::begin(const store::Cluster& c, const rollout::Strategy& s,
                                          bool forced, const std::map<std::string, Pair>& sources,
                                          Now now) {
  store::Rollout r;
  r.state = rollout_state_name(RolloutState::kRunning);
  r.from_version = c.current_version;
  r.to_version = c.target_version.empty() ? c.current_version : c.target_version;
  r.from_config = c.current_config;
  r.to_config = c.target_config ? c.target_config : c.current_config;
  r.strategy = rollout::to_json(s).dump();
  r.forced = forced;
  std::vector<rollout::NodeRef> refs = nodes_.plannable();
  std::vector<store::RolloutStep> rows;
  if (!refs.empty()) {
    auto batches = rollout::plan_batches(refs, s);
    if (!batches) return std::unexpected(batches.error());
    for (std::size_t b = 0; b < batches->size(); ++b) {
      for (const auto& n : (*batches)[b]) {
        Pair src{r.from_version, r.from_config};
        if (auto it = sources.find(n); it != sources.end()) src = it->second;
        json rep = {{"source", {{"version", src.version}, {"config", src.config}}}};
        rows.push_back({0, n, static_cast<int>(b), "pending", rep.dump(), now.ms});
      }
    }
  }
  auto id = store_.add_rollout(r, rows);
  if (!id) return std::unexpected(id.error());
  r.id = *id;
  r.created_at = r.updated_at = now.ms;
  rollout_ = r;
  state_ = RolloutState::kRunning;
  steps_.clear();
  for (auto& row : rows) {
    row.rollout_id = *id;
    steps_[row.node] = Step{row, StepState::kPending};
  }
  return *id;
}

void RolloutRunner::put(Step& st, StepState next, const json& report, Now now) {
  st.state = next;
  st.row.state = step_state_name(next);
  st.row.report = report.dump();
  st.row.updated_at = now.ms;
  (void)store_.put_step(st.row);
}

bool RolloutRunner::at_target(const LiveNode& n) const {
  return runs(n, target()) &&
         (!redeploy() || n.health.value("redeployed", std::int64_t{0}) == rollout_->id);
}

void RolloutRunner::put_rollout(RolloutState next, const std::string& reason) {
  state_ = next;
  rollout_->state = rollout_state_name(next);
  if (!reason.empty()) rollout_->reason = reason;
  (void)store_.put_rollout(*rollout_);
}

void RolloutRunner::record(const std::string& action, const json& detail,
                           const std::string& outcome) {
  (void)store_.append_history(
      store::HistoryEntry{0, 0, "controller", action, detail.dump(), false, outcome});
}

void RolloutRunner::pause() {
  if (state_ == RolloutState::kRunning) put_rollout(RolloutState::kPaused, "");
}

void RolloutRunner::resume() {
  if (state_ == RolloutState::kPaused) put_rollout(RolloutState::kRunning, "");
}

void RolloutRunner::abort(const std::string& why) {
  if (active()) put_rollout(RolloutState::kAborted, why);
}

void RolloutRunner::rollback(const std::string& why, Now now) {
  if (state_ != RolloutState::kRunning && state_ != RolloutState::kPaused) return;
  for (auto& [n, st] : steps_) {
    if (st.state == StepState::kPending || st.state == StepState::kSkipped) continue;
    json rep = report_of(st.row);
    rep["revert_started_at"] = now.ms;
    put(st, StepState::kReverting, rep, now);
  }
  put_rollout(RolloutState::kRollingBack, why);
}

void RolloutRunner::forget(const std::string& node, Now now) {
  if (!active()) return;
  auto it = steps_.find(node);
  if (it == steps_.end()) return;
  Step& st = it->second;
  auto s = st.state;
  if (s != StepState::kPending && s != StepState::kMoving && s != StepState::kSettling &&
      s != StepState::kReverting) {
    return;
  }
  json rep = report_of(st.row);
  rep["reason"] = "node " + node + ": deleted by the operator";
  put(st, s == StepState::kReverting ? StepState::kStranded : StepState::kSkipped, rep, now);
}

// A step in flight (moving or settling) against its gate.
void RolloutRunner::judge(Step& st, const rollout::Gate& g, Now now) {
  json rep = report_of(st.row);
  const LiveNode* n = nodes_.find(st.row.node);
  Liveness live = n ? nodes_.liveness(*n, now.steady) : Liveness::kUnreachable;
  if (live == Liveness::kUnknown) return;  // not heard since this controller listens: no verdict
  StepState next = st.state;
  auto fail = [&](const std::string& gate, const std::string& why) {
    next = StepState::kFailed;
    rep["gate"] = gate;
    rep["reason"] = "node " + st.row.node + ": " + why;
    if (n) rep["figures"] = n->health.value("figures", json::object());
  };
  // Deadlines count from when this controller began listening, at the latest.
  std::int64_t listening = nodes_.listening_since_ms();
  if (!n) {
    fail("node", "no longer enrolled");
  } else if (live == Liveness::kUnreachable) {
    fail("heartbeat", nodes_.describe(*n, now.steady, now.ms));
  } else if (st.state == StepState::kMoving) {
    const json& h = n->health;
    const json conv = h.value("converge", json::object());
    std::int64_t started = std::max(rep.value("started_at", now.ms), listening);
    if (at_target(*n) && h.value("worker_up", false)) {
      next = StepState::kSettling;
      rep["healthy_since"] = now.ms;
      rep["settle_events_in"] = figure(h, "events_in");
      rep["settle_heartbeat"] = n->row.last_heartbeat;
      rep["handover"] = h.value("handover", json());
    } else if (conv.value("state", "") == "failed" &&
               conv.value("version", "") == rollout_->to_version &&
               conv.value("config_revision", std::int64_t{0}) == rollout_->to_config) {
      rep["handover"] = h.value("handover", json());
      fail("handover",
           "could not move to " + rollout_->to_version + ": " + conv.value("error", "?"));
    } else if (now.ms - started > g.healthy_deadline.count()) {
      fail("healthy_deadline", "not running " + rollout_->to_version +
                                   " with its worker up within " +
                                   std::to_string(g.healthy_deadline.count()) + " ms (runs " +
                                   (n->row.version.empty() ? "?" : n->row.version) + ", config " +
                                   std::to_string(n->row.config_revision) + ", worker " +
                                   (h.value("worker_up", false) ? "up" : "down") + ")");
    }
  } else if (figure(n->health, "events_in") < rep.value("settle_events_in", std::int64_t{0})) {
    // Its counters went back: the node's supervisor restarted (and came back
    // on the target, desired_state.h). Judge it from its new counters, and
    // its min_healthy_time starts over.
    const json& h = n->health;
    rep["baseline"].update(gate_figures(h));  // its flowing flag stays
    rep["settle_events_in"] = figure(h, "events_in");
    rep["settle_heartbeat"] = n->row.last_heartbeat;
    rep["healthy_since"] = now.ms;
    rep["restarts_seen"] = rep.value("restarts_seen", 0) + 1;
    return put(st, st.state, rep, now);
  } else {
    const json& h = n->health;
    const json& base = rep["baseline"];
    std::int64_t drops = figure(h, "drops") - base.value("drops", std::int64_t{0});
    std::int64_t perr = figure(h, "parse_errors") - base.value("parse_errors", std::int64_t{0});
    std::int64_t growth =
        figure(h, "buffer_queue_bytes") - base.value("buffer_queue_bytes", std::int64_t{0});
    std::int64_t since = std::max(rep.value("healthy_since", now.ms), listening);
    if (!h.value("worker_up", false)) {
      fail("worker_up", "its worker is down");
    } else if (!at_target(*n)) {
      fail("version", "left " + rollout_->to_version + " (runs " + n->row.version + ")");
    } else if (drops > g.max_new_drops) {
      fail("drops",
           std::to_string(drops) + " new drops (at most " + std::to_string(g.max_new_drops) + ")");
    } else if (perr > g.max_new_parse_errors) {
      fail("parse_errors", std::to_string(perr) + " new parse errors (at most " +
                               std::to_string(g.max_new_parse_errors) + ")");
    } else if (growth > g.max_backlog_growth_bytes) {
      fail("backlog", "buffer backlog grew by " + std::to_string(growth) + " bytes (at most " +
                          std::to_string(g.max_backlog_growth_bytes) + ")");
    } else if (now.ms - since >= g.min_healthy_time.count() &&
               n->row.last_heartbeat > rep.value("settle_heartbeat", std::int64_t{0})) {
      // Judged on a report made after the gate began, never on the one that began it.
      if (base.value("flowing", false) &&
          figure(h, "events_in") <= rep.value("settle_events_in", std::int64_t{0})) {
        fail("ingest", "ingest stopped: events_in did not grow during min_healthy_time");
      } else {
        next = StepState::kDone;
        rep["figures"] = h.value("figures", json::object());
        rep["handover"] = h.value("handover", json());
      }
    }
  }
  if (next != st.state) put(st, next, rep, now);
}

// A step going back to its source: reverted, or stranded by its deadline.
void RolloutRunner::judge_revert(Step& st, const rollout::Gate& g, Now now) {
  json rep = report_of(st.row);
  const LiveNode* n = nodes_.find(st.row.node);
  Liveness live = n ? nodes_.liveness(*n, now.steady) : Liveness::kUnreachable;
  if (live == Liveness::kUnknown) return;
  Pair src = source_of(st);
  std::int64_t started =
      std::max(rep.value("revert_started_at", now.ms), nodes_.listening_since_ms());
  StepState next = st.state;
  if (n && live == Liveness::kConnected && runs(*n, src) && n->health.value("worker_up", false)) {
    next = StepState::kReverted;
  } else if (!n || live == Liveness::kUnreachable) {
    next = StepState::kStranded;
    rep["reason"] = "node " + st.row.node + ": not back on " + src.version + ": " +
                    (n ? nodes_.describe(*n, now.steady, now.ms) : "no longer enrolled");
  } else if (now.ms - started > g.healthy_deadline.count()) {
    next = StepState::kStranded;
    rep["reason"] = "node " + st.row.node + ": not back on " + src.version + " within " +
                    std::to_string(g.healthy_deadline.count()) + " ms (runs " + n->row.version +
                    ", worker " + (n->health.value("worker_up", false) ? "up" : "down") + ")";
  }
  if (next != st.state) put(st, next, rep, now);
}

// Starts the pending steps of `batch` whose nodes can be heard; a node that
// cannot is skipped or failed by the strategy, one not yet judged waits.
void RolloutRunner::start_batch(int batch, const rollout::Strategy& s, Now now) {
  for (auto& [name, st] : steps_) {
    if (st.row.batch != batch || st.state != StepState::kPending) continue;
    json rep = report_of(st.row);
    const LiveNode* n = nodes_.find(name);
    Liveness live = n ? nodes_.liveness(*n, now.steady) : Liveness::kUnreachable;
    if (live == Liveness::kUnknown) continue;
    StepState next = StepState::kMoving;
    if (live == Liveness::kUnreachable) {
      next = s.skip_unreachable ? StepState::kSkipped : StepState::kFailed;
      rep["gate"] = "unreachable";
      rep["reason"] = "node " + name + ": " +
                      (n ? nodes_.describe(*n, now.steady, now.ms) : "no longer enrolled") +
                      " at the start of batch " + std::to_string(batch + 1) +
                      (s.skip_unreachable ? ": skipped" : "");
    } else {
      const json& h = n->health;
      json base = gate_figures(h);
      base["flowing"] = figure(h, "events_in") > figure(n->previous_health, "events_in");
      base["version"] = n->row.version;
      base["config_revision"] = n->row.config_revision;
      rep["started_at"] = now.ms;
      rep["baseline"] = base;
    }
    put(st, next, rep, now);
  }
}

std::optional<lifecycle::Event> RolloutRunner::finish(RolloutState state,
                                                      const std::string& reason) {
  put_rollout(state, reason);
  json steps = json::array();
  for (const auto& [n, s] : steps_) steps.push_back(step_json(s.row));
  const char* name = rollout_state_name(state);
  record(std::string("rollout.") + name,
         {{"rollout", rollout_->id}, {"reason", rollout_->reason}, {"steps", steps}}, name);
  return state == RolloutState::kRolledBack ? lifecycle::Event::kRollbackDone
                                            : lifecycle::Event::kRolloutDone;
}

std::optional<lifecycle::Event> RolloutRunner::advance(Now now) {
  if (!active()) return std::nullopt;
  auto strategy = rollout::parse_strategy(json::parse(rollout_->strategy, nullptr, false));
  rollout::Strategy s = strategy ? *strategy : rollout::Strategy{};
  auto names_in = [&](StepState which) {
    std::string out;
    for (const auto& [n, st] : steps_) {
      if (st.state == which) out += (out.empty() ? "" : ", ") + n;
    }
    return out;
  };
  if (state_ == RolloutState::kRollingBack) {
    bool waiting = false;
    for (auto& [n, st] : steps_) {
      if (st.state != StepState::kReverting) continue;
      judge_revert(st, s.gate, now);
      waiting = waiting || st.state == StepState::kReverting;
    }
    if (waiting) return std::nullopt;
    std::string stranded = names_in(StepState::kStranded);
    return finish(RolloutState::kRolledBack, stranded.empty()
                                                 ? ""
                                                 : rollout_->reason +
                                                       "; not back (each converges when it "
                                                       "reports again): " +
                                                       stranded);
  }
  int failed = 0;
  std::string first_failure;
  for (auto& [n, st] : steps_) {
    if (st.state == StepState::kMoving || st.state == StepState::kSettling) judge(st, s.gate, now);
    if (st.state != StepState::kFailed) continue;
    ++failed;
    if (first_failure.empty()) {
      json rep = report_of(st.row);
      first_failure = rep.value("reason", "");
      if (rep.contains("gate") && rep["gate"].is_string()) {
        // Batches are stored from 0 and shown from 1, as every table shows them.
        first_failure += " (gate " + rep["gate"].get<std::string>() + ", batch " +
                         std::to_string(st.row.batch + 1) + ")";
      }
    }
  }
  if (failed > s.max_failed) {
    rollback(first_failure, now);
    record("rollout.gate_failed", {{"rollout", rollout_->id}, {"reason", first_failure}},
           "rolling back");
    return lifecycle::Event::kGateFailed;
  }
  int batch = -1;
  for (const auto& [n, st] : steps_) {
    bool open = st.state != StepState::kDone && st.state != StepState::kFailed &&
                st.state != StepState::kSkipped;
    if (open && (batch < 0 || st.row.batch < batch)) batch = st.row.batch;
  }
  if (batch < 0) {
    if (state_ != RolloutState::kRunning) return std::nullopt;  // paused: finish when resumed
    std::string failed_names = names_in(StepState::kFailed);
    std::string skipped = names_in(StepState::kSkipped);
    if (failed_names.empty() && skipped.empty()) return finish(RolloutState::kSucceeded, "");
    std::string reason = "not every node moved:";
    if (!failed_names.empty()) reason += " failed (within max_failed): " + failed_names + ";";
    if (!skipped.empty()) reason += " skipped: " + skipped + ";";
    reason.pop_back();
    return finish(RolloutState::kSucceededPartial, reason);
  }
  if (state_ == RolloutState::kRunning) start_batch(batch, s, now);
  return std::nullopt;
}

json RolloutRunner::to_json() const {
  json r = rollout_json(*rollout_);
  json steps = json::array();
  for (const auto& [n, s] : steps_) steps.push_back(step_json(s.row));
  std::sort(steps.begin(), steps.end(), [](const json& a, const json& b) {
    return std::pair(a["batch"].get<int>(), a["node"].get<std::string>()) <
           std::pair(b["batch"].get<int>(), b["node"].get<std::string>());
  });
  r["steps"] = steps;
  return r;
}

}  // namespace logctl::controller
