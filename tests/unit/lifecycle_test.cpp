// The cluster lifecycle, table-driven: every state (with and without a
// pending target or a previous release) × every command, then the rollout
// events. "409" marks a refused transition.
#include <catch2/catch.hpp>

#include "controller/lifecycle/lifecycle.h"

using namespace logctl;
using namespace logctl::lifecycle;

namespace {

Cluster make(ClusterState s, std::string target = "", std::string previous = "") {
  Cluster c;
  c.state = s;
  c.current_version = "1.3.0";
  c.target_version = std::move(target);
  c.previous_version = std::move(previous);
  c.revision = 7;
  return c;
}

// The state after the command, or "409".
std::string outcome(const Cluster& c, Command cmd) {
  auto r = apply(c, cmd, cmd == Command::kUpgrade ? UpgradeTarget{"1.4.0", 0} : UpgradeTarget{});
  if (!r) return r.error().code == ErrorCode::kAlreadyExists ? "409" : "error";
  return store::cluster_state_name(r->state);
}

}  // namespace

TEST_CASE("lifecycle: every state x every command") {
  struct Row {
    const char* name;
    Cluster cluster;
    // start, shutdown, upgrade, resume, rollback, pause, abort
    std::vector<std::string> expect;
  };
  using S = ClusterState;
  const std::vector<Row> rows = {
      {"stopped", make(S::kStopped), {"running", "409", "stopped", "409", "409", "409", "409"}},
      {"stopped, pending",
       make(S::kStopped, "1.4.0"),
       {"running", "409", "stopped", "running", "409", "409", "409"}},
      {"running", make(S::kRunning), {"409", "stopped", "running", "409", "409", "409", "409"}},
      {"running, pending",
       make(S::kRunning, "1.4.0"),
       {"409", "stopped", "running", "upgrading", "409", "409", "409"}},
      {"running, with a previous release",
       make(S::kRunning, "", "1.2.0"),
       {"409", "stopped", "running", "409", "upgrading", "409", "409"}},
      {"upgrading",
       make(S::kUpgrading, "1.4.0"),
       {"409", "409", "409", "409", "rolling_back", "paused", "running"}},
      {"paused",
       make(S::kPaused, "1.4.0"),
       {"409", "409", "409", "upgrading", "rolling_back", "409", "running"}},
      // abort is the way out of every rollout state, rolling back included.
      {"rolling_back",
       make(S::kRollingBack, "1.4.0"),
       {"409", "409", "409", "409", "409", "409", "running"}},
  };
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < all_commands().size(); ++i) {
      INFO(row.name << " + " << command_name(all_commands()[i]));
      CHECK(outcome(row.cluster, all_commands()[i]) == row.expect[i]);
    }
  }
}

TEST_CASE("lifecycle: a refusal names the state and what is legal, and changes nothing") {
  auto c = make(ClusterState::kUpgrading, "1.4.0");
  auto r = apply(c, Command::kUpgrade, UpgradeTarget{"1.5.0", 0});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("cannot upgrade: the cluster is upgrading"));
  CHECK_THAT(r.error().message, Catch::Contains("a rollout is in flight"));
  CHECK_THAT(r.error().message, Catch::Contains("legal now: rollback, pause, abort"));
  auto nothing = apply(make(ClusterState::kRunning), Command::kResume);
  REQUIRE_FALSE(nothing);
  CHECK_THAT(nothing.error().message, Catch::Contains("nothing to resume: run upgrade"));
}

TEST_CASE("lifecycle: versions move with the transitions") {
  // Online: upgrade marks, resume rolls out, done promotes.
  auto c = apply(make(ClusterState::kRunning), Command::kUpgrade, UpgradeTarget{"1.4.0", 0});
  REQUIRE(c);
  CHECK(c->current_version == "1.3.0");
  CHECK(c->target_version == "1.4.0");
  c = apply(*c, Command::kResume);
  REQUIRE(c);
  c = apply(*c, Event::kRolloutDone);
  REQUIRE(c);
  CHECK(c->state == ClusterState::kRunning);
  CHECK(c->current_version == "1.4.0");
  CHECK(c->previous_version == "1.3.0");
  CHECK(c->target_version.empty());
  CHECK(c->revision == 7);  // the store bumps it
  // Rollback is a rollout to the previous release.
  c = apply(*c, Command::kRollback);
  REQUIRE(c);
  CHECK(c->state == ClusterState::kUpgrading);
  CHECK(c->target_version == "1.3.0");
  // A failed gate rolls back; done leaves the old version serving.
  auto failed = apply(*c, Event::kGateFailed);
  REQUIRE(failed);
  CHECK(failed->state == ClusterState::kRollingBack);
  auto back = apply(*failed, Event::kRollbackDone);
  REQUIRE(back);
  CHECK(back->state == ClusterState::kRunning);
  CHECK(back->current_version == "1.4.0");
  CHECK(back->target_version.empty());
  // Offline: stopped nodes start directly on the target.
  auto off = apply(make(ClusterState::kStopped, "1.4.0"), Command::kResume);
  REQUIRE(off);
  CHECK(off->state == ClusterState::kRunning);
  CHECK(off->current_version == "1.4.0");
  CHECK(off->previous_version == "1.3.0");
  // Events outside their state are bugs, not conflicts.
  CHECK_FALSE(apply(make(ClusterState::kStopped), Event::kRolloutDone));
  // Config revisions travel the same way.
  auto cfg = apply(make(ClusterState::kRunning), Command::kUpgrade, UpgradeTarget{"", 5});
  REQUIRE(cfg);
  CHECK(cfg->target_config == 5);
  CHECK_FALSE(apply(make(ClusterState::kRunning), Command::kUpgrade, UpgradeTarget{"", 0}));
}

TEST_CASE("lifecycle: the (version, config) pair moves as one, so rollback returns to it whole") {
  // (1.3.0, rev 1) -> config only (1.3.0, rev 2) -> version only (1.4.0, rev 2).
  Cluster c = make(ClusterState::kRunning);
  c.current_config = 1;
  auto step = [&](UpgradeTarget t) {
    auto up = apply(c, Command::kUpgrade, t);
    REQUIRE(up);
    auto rolling = apply(*up, Command::kResume);
    REQUIRE(rolling);
    auto done = apply(*rolling, Event::kRolloutDone);
    REQUIRE(done);
    c = *done;
  };
  step({"", 2});
  CHECK(c.previous_version == "1.3.0");
  CHECK(c.previous_config == 1);
  step({"1.4.0", 0});
  CHECK(c.current_version == "1.4.0");
  CHECK(c.current_config == 2);
  // Before: previous_config stayed 1 from two rollouts earlier.
  CHECK(c.previous_version == "1.3.0");
  CHECK(c.previous_config == 2);
  auto back = apply(c, Command::kRollback);
  REQUIRE(back);
  CHECK(back->target_version == "1.3.0");
  CHECK(back->target_config == 2);
  // A rollback to the pair that runs (after an abort) keeps the previous pair.
  auto same = apply(c, Command::kRollback, UpgradeTarget{"1.4.0", 2});
  REQUIRE(same);
  auto done = apply(*same, Event::kRolloutDone);
  REQUIRE(done);
  CHECK(done->current_version == "1.4.0");
  CHECK(done->previous_version == "1.3.0");
  CHECK(done->previous_config == 2);
  // Abort out of a rollback: running, the target cleared.
  auto rb = apply(make(ClusterState::kRollingBack, "1.4.0"), Command::kAbort);
  REQUIRE(rb);
  CHECK(rb->state == ClusterState::kRunning);
  CHECK(rb->target_version.empty());
  CHECK(legal_commands(make(ClusterState::kRollingBack, "1.4.0")) ==
        std::vector<Command>{Command::kAbort});
}
