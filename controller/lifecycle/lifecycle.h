// The cluster lifecycle (docs/architecture.md, the brief §5) as a state
// machine: a command or a rollout event moves the stored Cluster from one
// state to the next, or is refused as a conflict that names the state and
// what would be legal there. Compatibility checks run before `upgrade` and
// are not this file's business: upgrade only records the target.
//
//   stopped --start--> running --shutdown--> stopped
//   (a new cluster is stopped and `adopting`: its nodes keep running what
//    they run until the first start or resume)
//      |                  |
//    upgrade            upgrade                 (marks the target; "pending")
//      v                  v
//   stopped(pending)  running(pending) --resume--> upgrading --done--> running(new)
//      |                                      ^   |  |  pause      |
//    resume --> running(new)          resume  |   |  +---> paused  | gate failed
//                                             +---+---------+      v
//   upgrading / paused --rollback--> rolling_back --done--> running(old)
//   running --rollback--> upgrading: a rollout to the previous (version,
//                         config) pair as one (after an abort: to the current)
//   upgrading / paused / rolling_back --abort--> running: nodes keep what
//                         they were told last; always legal mid-rollout
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "controller/store/store.h"
#include "logctl/schema/result.h"

namespace logctl::lifecycle {

using store::Cluster;
using store::ClusterState;

// What an operator asks for (CLI verbs; wire names in command_name()).
enum class Command {
  kStart,     // stopped -> running
  kShutdown,  // running -> stopped (workers flush or persist their buffers)
  kUpgrade,   // stopped | running: record the target version / config
  kResume,    // carry out the target: stopped starts on it, running rolls out
  kRollback,  // back to the previous (version, config) pair, as one
  kPause,     // upgrading -> paused (the batch in flight finishes)
  kAbort,     // upgrading | paused | rolling_back -> running, nodes left as they are
};

// What the rollout reports.
enum class Event {
  kRolloutDone,   // every batch passed its gate
  kGateFailed,    // a batch failed: move the moved nodes back
  kRollbackDone,  // every moved node is back
};

struct UpgradeTarget {
  std::string version;      // "" = keep the version
  std::int64_t config = 0;  // 0 = keep the config revision
};

const char* command_name(Command c);
const std::vector<Command>& all_commands();

// The cluster after `cmd` (`target`: upgrade's, or rollback's from running
// when it is not the previous pair); kAlreadyExists (HTTP 409) when `cmd` is not legal
// in this state, naming the state and the legal commands. The revision is
// left as it was read: the store bumps it (and refuses a stale one).
Result<Cluster> apply(const Cluster& c, Command cmd, const UpgradeTarget& target = {});
Result<Cluster> apply(const Cluster& c, Event e);
// Commands legal in the cluster's state.
std::vector<Command> legal_commands(const Cluster& c);

}  // namespace logctl::lifecycle
