// The rollout executor against a real SQLite store, with time driven by the
// test: a controller restart or stall never fails a gate before the nodes had
// one node timeout to report; unreachable nodes are skipped or fail at the
// start of their batch; a revert has a deadline and ends with the stranded
// nodes named; abort ends a rollback; a new rollout starts each node from
// what it was told last.
#include <catch2/catch.hpp>

#include "controller/server/rollout_runner.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::controller;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr auto kTimeout = 10s;
constexpr std::int64_t kT0 = 1'700'000'000'000;  // Unix ms at the test's start

struct Fleet {
  test::TempDir dir;
  std::unique_ptr<store::Store> store = store::open_sqlite_store(dir / "c.db").value();
  Clock::time_point base = Clock::now();
  std::unique_ptr<NodeRegistry> nodes;
  std::unique_ptr<RolloutRunner> runner;
  store::Cluster cluster;

  explicit Fleet(int n) {
    for (int i = 1; i <= n; ++i) {
      REQUIRE(store->add_node({"node-" + std::to_string(i), "{}", "", 0, 0, "{}", 0, 0}));
    }
    cluster.state = store::ClusterState::kUpgrading;
    cluster.current_version = "1.0.0";
    cluster.target_version = "2.0.0";
    open(0ms);
  }
  Now at(std::chrono::milliseconds t) const { return Now{base + t, kT0 + t.count()}; }
  // A controller process starting at `t`: what it knows is what the store has.
  void open(std::chrono::milliseconds t) {
    nodes = std::make_unique<NodeRegistry>(kTimeout, at(t).steady, at(t).ms);
    auto rows = store->nodes().value();
    for (auto& row : rows) nodes->add(row);
    runner = std::make_unique<RolloutRunner>(*store, *nodes);
    REQUIRE(runner->load());
  }
  void heartbeat(const std::string& name, const std::string& version, std::chrono::milliseconds t,
                 bool worker_up = true) {
    LiveNode* n = nodes->find(name);
    REQUIRE(n);
    n->seen = at(t).steady;
    n->row.version = version;
    n->row.last_heartbeat = at(t).ms;
    n->previous_health = n->health;
    n->health = {{"worker_up", worker_up}, {"figures", {{"events_in", t.count()}}}};
    REQUIRE(store->put_node_states({n->row}));
  }
  void heartbeat_all(const std::string& version, std::chrono::milliseconds t) {
    for (const auto& [name, n] : nodes->all()) heartbeat(name, version, t);
  }
  std::int64_t begin(json strategy) {
    auto s = rollout::parse_strategy(strategy).value();
    return runner->begin(cluster, s, false, {}, at(0ms)).value();
  }
  std::string step(const std::string& name) const {
    json r = runner->to_json();
    for (const auto& s : r["steps"]) {
      if (s["node"] == name) return s["state"];
    }
    return "?";
  }
  std::string state() const { return runner->to_json()["state"]; }
};

const json kAllAtOnce = {{"batch_size", 3}, {"min_healthy_time_ms", 2000}};

}  // namespace

TEST_CASE(
    "rollout runner: a controller restarted mid-settle judges no node before it could hear it") {
  Fleet f(3);
  f.heartbeat_all("1.0.0", 0ms);
  f.begin(kAllAtOnce);
  CHECK_FALSE(f.runner->advance(f.at(100ms)));
  CHECK(f.step("node-1") == "moving");
  f.heartbeat_all("2.0.0", 500ms);
  CHECK_FALSE(f.runner->advance(f.at(600ms)));
  CHECK(f.step("node-1") == "settling");
  // kill -9 and a restart 1 s later: a new process, no heartbeat heard yet.
  f.open(1600ms);
  CHECK(f.runner->state() == RolloutState::kRunning);
  f.nodes->note_pass(f.at(1700ms).steady, f.at(1700ms).ms);
  CHECK_FALSE(f.runner->advance(f.at(1700ms)));
  CHECK(f.step("node-1") == "settling");  // before the fix: failed, "no heartbeat"
  CHECK(f.nodes->liveness(*f.nodes->find("node-1"), f.at(1700ms).steady) == Liveness::kUnknown);
  // The nodes report to the new process; the gate is judged on that, and
  // min_healthy_time counts from when this process began listening.
  f.heartbeat_all("2.0.0", 2000ms);
  CHECK_FALSE(f.runner->advance(f.at(2100ms)));
  CHECK(f.step("node-1") == "settling");
  f.heartbeat_all("2.0.0", 3700ms);
  auto done = f.runner->advance(f.at(3700ms));
  REQUIRE(done);
  CHECK(*done == lifecycle::Event::kRolloutDone);
  CHECK(f.state() == "succeeded");
}

TEST_CASE("rollout runner: a node silent for a node timeout after the restart fails its gate") {
  Fleet f(3);
  f.heartbeat_all("1.0.0", 0ms);
  f.begin(kAllAtOnce);
  f.runner->advance(f.at(100ms));
  f.heartbeat_all("2.0.0", 500ms);
  f.runner->advance(f.at(600ms));
  f.open(1000ms);
  // node-1 and node-2 report to the new process; node-3 never does.
  for (auto t : {2000ms, 5000ms, 8000ms, 10500ms}) {
    f.heartbeat("node-1", "2.0.0", t);
    f.heartbeat("node-2", "2.0.0", t);
  }
  CHECK_FALSE(f.runner->advance(f.at(10500ms)));  // 9.5 s of listening: no verdict on node-3
  CHECK(f.step("node-3") == "settling");
  CHECK(f.step("node-1") == "done");
  auto failed = f.runner->advance(f.at(11100ms));
  REQUIRE(failed);
  CHECK(*failed == lifecycle::Event::kGateFailed);
  CHECK(f.step("node-3") == "reverting");
  f.heartbeat("node-1", "1.0.0", 11200ms);
  f.heartbeat("node-2", "1.0.0", 11200ms);
  auto back = f.runner->advance(f.at(11200ms));
  REQUIRE(back);
  CHECK(*back == lifecycle::Event::kRollbackDone);
  CHECK(f.step("node-3") == "stranded");  // unreachable: no wait for a node that is gone
  CHECK_THAT(f.runner->rollout().reason,
             Catch::Contains("node node-3: unreachable: no heartbeat") &&
                 Catch::Contains("gate heartbeat"));
}

TEST_CASE(
    "rollout runner: a controller stopped longer than a node timeout starts listening again") {
  Fleet f(1);
  f.nodes->note_pass(f.at(0ms).steady, f.at(0ms).ms);
  f.heartbeat("node-1", "1.0.0", 11000ms);
  f.nodes->note_pass(f.at(11000ms).steady, f.at(11000ms).ms);
  const LiveNode& n = *f.nodes->find("node-1");
  CHECK(f.nodes->liveness(n, f.at(12000ms).steady) == Liveness::kConnected);
  f.nodes->note_pass(f.at(12000ms).steady, f.at(12000ms).ms);
  // SIGSTOP for 15 s: the first pass after it sees the gap.
  f.nodes->note_pass(f.at(27000ms).steady, f.at(27000ms).ms);
  CHECK(f.nodes->liveness(n, f.at(27000ms).steady) == Liveness::kUnknown);
  CHECK(f.nodes->listening_since_ms() == kT0 + 27000);
  CHECK(f.nodes->liveness(n, f.at(37000ms).steady) == Liveness::kUnreachable);
  // Passes at the normal rhythm never reset it.
  f.nodes->note_pass(f.at(27200ms).steady, f.at(27200ms).ms);
  CHECK(f.nodes->listening_since_ms() == kT0 + 27000);
}

TEST_CASE("rollout runner: an unreachable node is skipped or fails at the start of its batch") {
  for (bool skip : {true, false}) {
    INFO("skip_unreachable " << skip);
    Fleet f(3);
    // node-3 was heard once, then never again.
    f.heartbeat_all("1.0.0", 0ms);
    for (auto t : {5000ms, 10000ms, 15000ms}) {
      f.heartbeat("node-1", "1.0.0", t);
      f.heartbeat("node-2", "1.0.0", t);
    }
    f.begin({{"batch_size", 1}, {"min_healthy_time_ms", 1000}, {"skip_unreachable", skip}});
    auto run = [&](std::chrono::milliseconds from, const std::string& version) {
      std::optional<lifecycle::Event> e;
      for (auto t = from; t < from + 10000ms && !e; t += 500ms) {
        f.heartbeat("node-1", f.step("node-1") == "pending" ? "1.0.0" : version, t);
        f.heartbeat("node-2", f.step("node-2") == "pending" ? "1.0.0" : version, t);
        e = f.runner->advance(f.at(t));
      }
      return e;
    };
    auto e = run(15500ms, "2.0.0");
    REQUIRE(e);
    if (skip) {
      CHECK(*e == lifecycle::Event::kRolloutDone);
      CHECK(f.state() == "succeeded_partial");
      CHECK(f.step("node-3") == "skipped");
      CHECK_THAT(f.runner->rollout().reason, Catch::Contains("skipped: node-3"));
      // Once over, a skipped node runs what the cluster runs when it is back.
      CHECK_FALSE(f.runner->desired("node-3", nullptr).has_value());
      CHECK(f.runner->desired("node-1", nullptr)->version == "2.0.0");
    } else {
      CHECK(*e == lifecycle::Event::kGateFailed);
      CHECK_THAT(f.runner->rollout().reason, Catch::Contains("node node-3: unreachable") &&
                                                 Catch::Contains("at the start of batch 3") &&
                                                 Catch::Contains("gate unreachable"));
      auto back = run(20000ms, "1.0.0");
      REQUIRE(back);
      CHECK(*back == lifecycle::Event::kRollbackDone);
      CHECK(f.step("node-1") == "reverted");
      CHECK(f.step("node-3") == "stranded");
      CHECK(f.state() == "rolled_back");
      CHECK_THAT(f.runner->rollout().reason,
                 Catch::Contains("not back") && Catch::Contains("node-3"));
    }
  }
}

TEST_CASE(
    "rollout runner: a revert that cannot finish ends by its deadline, and abort ends it sooner") {
  Fleet f(2);
  f.heartbeat_all("1.0.0", 0ms);
  f.begin({{"batch_size", 2}, {"min_healthy_time_ms", 1000}, {"healthy_deadline_ms", 5000}});
  f.runner->advance(f.at(100ms));
  f.heartbeat_all("2.0.0", 500ms);
  f.runner->advance(f.at(600ms));
  f.runner->rollback("rolled back by admin#1", f.at(700ms));
  CHECK(f.step("node-1") == "reverting");
  CHECK(f.runner->desired("node-1", nullptr)->version == "1.0.0");
  SECTION("deadline: node-2 heard but stuck on the target") {
    for (auto t = 1000ms; t <= 5500ms; t += 500ms) {
      f.heartbeat("node-1", "1.0.0", t);
      f.heartbeat("node-2", "2.0.0", t);
      CHECK_FALSE(f.runner->advance(f.at(t)));
    }
    CHECK(f.step("node-1") == "reverted");
    CHECK(f.step("node-2") == "reverting");
    f.heartbeat("node-2", "2.0.0", 6000ms);
    auto e = f.runner->advance(f.at(6000ms));
    REQUIRE(e);
    CHECK(*e == lifecycle::Event::kRollbackDone);
    CHECK(f.step("node-2") == "stranded");
    CHECK_THAT(f.runner->rollout().reason,
               Catch::Contains("rolled back by admin#1") && Catch::Contains("node-2"));
  }
  SECTION("abort: legal while rolling back; every node keeps what it was told") {
    REQUIRE(f.runner->active());
    f.runner->abort("aborted by admin#1");
    CHECK(f.state() == "aborted");
    CHECK_FALSE(f.runner->active());
    CHECK_FALSE(f.runner->advance(f.at(800ms)));
    store::Cluster c = f.cluster;
    c.target_version.clear();
    CHECK(f.runner->governs(c));
    CHECK(f.runner->desired("node-2", nullptr)->version == "1.0.0");
  }
}

TEST_CASE("rollout runner: a new rollout starts each node from what it was told last") {
  Fleet f(2);
  f.heartbeat_all("1.0.0", 0ms);
  f.begin({{"batch_size", 1}, {"min_healthy_time_ms", 1000}});
  f.runner->advance(f.at(100ms));  // node-1 moving
  f.runner->abort("aborted by admin#1");
  store::Cluster c = f.cluster;
  c.state = store::ClusterState::kUpgrading;
  c.target_version = "1.0.0";  // rollback after an abort: to the current pair
  std::map<std::string, Pair> sources = {{"node-1", {"2.0.0", 0}}, {"node-2", {"1.0.0", 0}}};
  auto s = rollout::parse_strategy(json{{"batch_size", 1}}).value();
  REQUIRE(f.runner->begin(c, s, false, sources, f.at(200ms)));
  // Pending: each keeps its own source; node-1 is not sent back ungated.
  CHECK(f.runner->desired("node-1", nullptr)->version == "2.0.0");
  CHECK(f.runner->desired("node-2", nullptr)->version == "1.0.0");
  f.heartbeat("node-1", "2.0.0", 300ms);
  f.heartbeat("node-2", "1.0.0", 300ms);
  f.runner->advance(f.at(300ms));
  CHECK(f.step("node-1") == "moving");
  CHECK(f.runner->desired("node-1", nullptr)->version == "1.0.0");
}
