#include "controller/lifecycle/lifecycle.h"

namespace logctl::lifecycle {
namespace {

bool pending(const Cluster& c) {
  return !c.target_version.empty() || c.target_config != 0;
}

// An illegal transition: the reason only; apply() adds the state and the
// legal commands.
Result<Cluster> refuse(const Cluster&, Command, const std::string& why) {
  return make_error(ErrorCode::kAlreadyExists, why);
}

// The (version, config) pair becomes the previous pair as one, and the
// target (each half defaulting to the current one) the current pair. A
// target equal to what runs (a forced re-run, a rollback after an abort)
// keeps the previous pair.
void promote(Cluster& c) {
  std::string version = c.target_version.empty() ? c.current_version : c.target_version;
  std::int64_t config = c.target_config != 0 ? c.target_config : c.current_config;
  if (version != c.current_version || config != c.current_config) {
    c.previous_version = c.current_version;
    c.previous_config = c.current_config;
    c.current_version = version;
    c.current_config = config;
  }
  c.target_version.clear();
  c.target_config = 0;
}

Result<Cluster> on_start(Cluster c) {
  if (c.state != ClusterState::kStopped) return refuse(c, Command::kStart, "");
  c.state = ClusterState::kRunning;
  return c;
}

Result<Cluster> on_shutdown(Cluster c) {
  if (c.state != ClusterState::kRunning) {
    return refuse(c, Command::kShutdown,
                  c.state == ClusterState::kStopped ? "" : "a rollout is in flight");
  }
  c.state = ClusterState::kStopped;
  return c;
}

Result<Cluster> on_upgrade(Cluster c, const UpgradeTarget& t) {
  if (c.state != ClusterState::kStopped && c.state != ClusterState::kRunning) {
    return refuse(c, Command::kUpgrade, "a rollout is in flight");
  }
  if (t.version.empty() && t.config == 0) {
    return make_error(ErrorCode::kInvalidArgument, "upgrade needs a version or a config");
  }
  c.target_version = t.version;
  c.target_config = t.config;
  return c;
}

Result<Cluster> on_resume(Cluster c) {
  switch (c.state) {
    case ClusterState::kStopped:  // offline path: the nodes start on the target
      if (!pending(c)) return refuse(c, Command::kResume, "nothing to resume: run upgrade");
      promote(c);
      c.state = ClusterState::kRunning;
      return c;
    case ClusterState::kRunning:  // online path: rolling staged handovers
      if (!pending(c)) return refuse(c, Command::kResume, "nothing to resume: run upgrade");
      c.state = ClusterState::kUpgrading;
      return c;
    case ClusterState::kPaused:
      c.state = ClusterState::kUpgrading;
      return c;
    default:
      return refuse(c, Command::kResume, "");
  }
}

Result<Cluster> on_rollback(Cluster c, const UpgradeTarget& t) {
  if (c.state == ClusterState::kUpgrading || c.state == ClusterState::kPaused) {
    c.state = ClusterState::kRollingBack;  // the moved nodes go back to current
    return c;
  }
  if (c.state != ClusterState::kRunning) return refuse(c, Command::kRollback, "");
  // A rollout to the pair the fleet ran before (the caller may name it: after
  // an aborted rollout that is the current pair, which not every node runs).
  UpgradeTarget back = t;
  if (back.version.empty() && back.config == 0) back = {c.previous_version, c.previous_config};
  if (back.version.empty() && back.config == 0) {
    return refuse(c, Command::kRollback, "there is no previous version or config");
  }
  c.target_version = back.version;
  c.target_config = back.config;
  c.state = ClusterState::kUpgrading;
  return c;
}

Result<Cluster> on_pause(Cluster c) {
  if (c.state != ClusterState::kUpgrading) return refuse(c, Command::kPause, "");
  c.state = ClusterState::kPaused;
  return c;
}

// Legal in every rollout state, rolling back included: the way out of any
// rollout that cannot finish.
Result<Cluster> on_abort(Cluster c) {
  if (c.state != ClusterState::kUpgrading && c.state != ClusterState::kPaused &&
      c.state != ClusterState::kRollingBack) {
    return refuse(c, Command::kAbort, "");
  }
  c.state = ClusterState::kRunning;
  c.target_version.clear();
  c.target_config = 0;
  return c;
}

}  // namespace

const char* command_name(Command c) {
  switch (c) {
    case Command::kStart:
      return "start";
    case Command::kShutdown:
      return "shutdown";
    case Command::kUpgrade:
      return "upgrade";
    case Command::kResume:
      return "resume";
    case Command::kRollback:
      return "rollback";
    case Command::kPause:
      return "pause";
    case Command::kAbort:
      return "abort";
  }
  return "?";
}

const std::vector<Command>& all_commands() {
  static const std::vector<Command> all = {Command::kStart,  Command::kShutdown, Command::kUpgrade,
                                           Command::kResume, Command::kRollback, Command::kPause,
                                           Command::kAbort};
  return all;
}

namespace {

Result<Cluster> dispatch(const Cluster& c, Command cmd, const UpgradeTarget& target) {
  switch (cmd) {
    case Command::kStart:
      return on_start(c);
    case Command::kShutdown:
      return on_shutdown(c);
    case Command::kUpgrade:
      return on_upgrade(c, target);
    case Command::kResume:
      return on_resume(c);
    case Command::kRollback:
      return on_rollback(c, target);
    case Command::kPause:
      return on_pause(c);
    case Command::kAbort:
      return on_abort(c);
  }
  return make_error(ErrorCode::kInternal, "unknown command");
}

}  // namespace

Result<Cluster> apply(const Cluster& c, Command cmd, const UpgradeTarget& target) {
  auto r = dispatch(c, cmd, target);
  if (r && (cmd == Command::kStart || cmd == Command::kResume)) r->adopting = false;
  if (r || r.error().code != ErrorCode::kAlreadyExists) return r;
  std::string legal;
  for (auto l : legal_commands(c))
    legal += std::string(legal.empty() ? "" : ", ") + command_name(l);
  const std::string& why = r.error().message;
  return make_error(ErrorCode::kAlreadyExists,
                    std::string("cannot ") + command_name(cmd) + ": the cluster is " +
                        store::cluster_state_name(c.state) + (pending(c) ? " (pending)" : "") +
                        (why.empty() ? "" : ", " + why) +
                        "; legal now: " + (legal.empty() ? "none" : legal));
}

Result<Cluster> apply(const Cluster& c, Event e) {
  Cluster n = c;
  if (e == Event::kRolloutDone && c.state == ClusterState::kUpgrading) {
    promote(n);
    n.state = ClusterState::kRunning;
    return n;
  }
  if (e == Event::kGateFailed &&
      (c.state == ClusterState::kUpgrading || c.state == ClusterState::kPaused)) {
    n.state = ClusterState::kRollingBack;
    return n;
  }
  if (e == Event::kRollbackDone && c.state == ClusterState::kRollingBack) {
    n.state = ClusterState::kRunning;
    n.target_version.clear();
    n.target_config = 0;
    return n;
  }
  return make_error(ErrorCode::kInternal,
                    std::string("rollout event in state ") + store::cluster_state_name(c.state));
}

std::vector<Command> legal_commands(const Cluster& c) {
  std::vector<Command> out;
  for (auto cmd : all_commands()) {
    // upgrade is probed with a target; rollback with none (the previous pair).
    auto probe = cmd == Command::kUpgrade ? UpgradeTarget{"0.0.0-probe", 0} : UpgradeTarget{};
    if (dispatch(c, cmd, probe)) out.push_back(cmd);
  }
  return out;
}

}  // namespace logctl::lifecycle
