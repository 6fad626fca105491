// Carries a rollout out (docs/architecture.md, "A rollout"): the newest
// rollout and its per-node steps, what each node should run while the
// rollout governs it, and one pass of the executor that judges steps and
// starts batches. Every step state has a way out by a deadline, so no
// rollout can wedge (docs/operations.md, "Recover a failed rollout").
//
// Steps (one per node; `source` is what the node was told before the rollout):
//
//   state      node should run   leaves when                      to
//   pending    source            its batch starts, node heard     moving
//                                ... node unreachable             skipped (skip_unreachable) |
//                                failed
//   moving     target            reports target, worker up        settling
//                                handover failed / unreachable /  failed
//                                healthy_deadline
//   settling   target            min_healthy_time, gate holds     done
//                                a gate figure / unreachable      failed
//   done       target            the rollout rolls back           reverting
//   failed     source            the rollout rolls back           reverting
//   skipped    the cluster's     - (converges when it is back)
//   reverting  source            reports source, worker up        reverted
//                                unreachable / healthy_deadline   stranded
//   reverted   source            -
//   stranded   source            - (converges when it is back)
//
// Deadlines count only time this controller listened (NodeRegistry): a
// node it has not yet had a node timeout to hear from is never judged.
//
// The rollout: running --pause--> paused --resume--> running; running or
// paused --(more than max_failed failures | rollback)--> rolling_back -->
// rolled_back; running --every batch done--> succeeded, or
// succeeded_partial when a node failed (within max_failed) or was skipped;
// abort is legal in running, paused and rolling_back (nodes keep what they
// were told last; nothing more is judged).
//
// Thread safety: none; the Controller calls it under its mutex.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/lifecycle/lifecycle.h"
#include "controller/rollout/plan.h"
#include "controller/server/node_registry.h"
#include "controller/store/store.h"

namespace logctl::controller {

// Stored as text in rollout_steps.state: the words are part of the schema.
enum class StepState {
  kPending,
  kMoving,
  kSettling,
  kDone,
  kFailed,
  kSkipped,
  kReverting,
  kReverted,
  kStranded,
};
const char* step_state_name(StepState s);
std::optional<StepState> parse_step_state(std::string_view s);

// Stored as text in rollouts.state.
enum class RolloutState {
  kRunning,
  kPaused,
  kRollingBack,
  kSucceeded,
  kSucceededPartial,  // done, but some node failed (within max_failed) or was skipped
  kRolledBack,
  kAborted,
};
const char* rollout_state_name(RolloutState s);
std::optional<RolloutState> parse_rollout_state(std::string_view s);

// A (version, config revision) pair: what a node runs, as one.
struct Pair {
  std::string version;
  std::int64_t config = 0;
  bool operator==(const Pair&) const = default;
};

struct Now {
  Clock::time_point steady;
  std::int64_t ms = 0;  // Unix ms
};

class RolloutRunner {
 public:
  RolloutRunner(store::Store& store, NodeRegistry& nodes) : store_(store), nodes_(nodes) {}

  // The newest rollout from the store (at open, and again at a take-over).
  Status load();
  bool exists() const { return rollout_.has_value(); }
  const store::Rollout& rollout() const { return *rollout_; }
  RolloutState state() const { return state_; }
  // running, paused or rolling_back.
  bool active() const;

  // Whether the rollout still says what nodes run: while it is active, and
  // after it ended until the cluster's pair moves without it (the offline
  // path, a later rollout).
  bool governs(const store::Cluster& c) const;
  // What `node` should run under the rollout; nullopt: the cluster's pair.
  // `redeploy` is set for a forced rollout to what the node already runs.
  std::optional<Pair> desired(const std::string& node, std::int64_t* redeploy) const;
  // Its step is in flight (moving, settling, reverting): it should report often.
  bool in_flight(const std::string& node) const;

  // A new rollout from the cluster's current pair to its target. `sources`
  // gives each node's pair before it (what it was told last).
  Result<std::int64_t> begin(const store::Cluster& c, const rollout::Strategy& s, bool forced,
                             const std::map<std::string, Pair>& sources, Now now);
  void pause();
  void resume();
  void abort(const std::string& why);
  void rollback(const std::string& why, Now now);
  // A node deleted by the operator: its pending or in-flight step is skipped.
  void forget(const std::string& node, Now now);

  // One pass: judge the steps in flight, start the next batch, end the
  // rollout. Returns the cluster event when the rollout began rolling back
  // or ended.
  std::optional<lifecycle::Event> advance(Now now);

  // The rollout with its steps (GET /v1/cluster, /v1/rollouts/ID).
  nlohmann::json to_json() const;

 private:
  struct Step {
    store::RolloutStep row;
    StepState state = StepState::kPending;
  };
  // The step's new state and report, written through.
  void put(Step& st, StepState next, const nlohmann::json& report, Now now);
  // The node reports the rollout's target (and, for a redeploy, has redeployed).
  bool at_target(const LiveNode& n) const;
  void put_rollout(RolloutState next, const std::string& reason);
  void judge(Step& st, const rollout::Gate& g, Now now);
  void judge_revert(Step& st, const rollout::Gate& g, Now now);
  void start_batch(int batch, const rollout::Strategy& s, Now now);
  std::optional<lifecycle::Event> finish(RolloutState state, const std::string& reason);
  Pair source_of(const Step& st) const;
  Pair target() const;
  bool redeploy() const;
  void record(const std::string& action, const nlohmann::json& detail, const std::string& outcome);

  store::Store& store_;
  NodeRegistry& nodes_;
  std::optional<store::Rollout> rollout_;
  RolloutState state_ = RolloutState::kSucceeded;
  std::map<std::string, Step> steps_;
};

nlohmann::json rollout_json(const store::Rollout& r);
nlohmann::json step_json(const store::RolloutStep& s);

}  // namespace logctl::controller
