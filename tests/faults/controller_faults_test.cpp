// The fault matrix (ctest -L faults, release build): a controller and three
// agentd nodes as real processes under numbered load, a rollout in a given
// state, and a fault — the controller killed with -9 and restarted, the
// controller stopped (SIGSTOP) past the node timeout, a node supervisor
// killed with -9 and restarted as its unit would, a node gone for good, a
// node frozen. Each ends in a defined state within the bound the test
// states, never a wedge; a controller fault never changes the outcome; no
// event sent to a serving node is lost. The matrix is at the end (its table
// says what each cell must end in); before it, a dead node as the operator
// handles it (reported, skipped or failing fast, deleted) and a node
// restarted while the controller is away.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/fleet.h"
#include "support/harness.h"
#include "support/local_cluster.h"
#include "support/netns.h"

using namespace logctl;
using namespace logctl::test;
using nlohmann::json;

namespace {

// The rollout ended (any final state) within `limit`; its document.
json rollout_end(const Controller& c, std::chrono::seconds limit) {
  json last;
  wait_until(
      [&] {
        last = c.cluster();
        std::string s = last["rollout"].value("state", "");
        return s == "succeeded" || s == "succeeded_partial" || s == "rolled_back" || s == "aborted";
      },
      limit);
  return last;
}

// The processes of a node: its supervisor and its serving worker.
std::vector<pid_t> node_pids(Node& n) {
  std::vector<pid_t> pids = {n.agent->process().pid()};
  long w = n.agent->worker_pid();
  if (w > 0) pids.push_back(static_cast<pid_t>(w));
  return pids;
}

void signal_all(const std::vector<pid_t>& pids, int sig) {
  for (pid_t p : pids) ::kill(p, sig);
}

std::map<std::string, std::string> cli_env(const Controller& c) {
  return {{"LOGCTL_SERVER", c.url()}, {"LOGCTL_CA", c.ca()}, {"LOGCTL_TOKEN", c.admin_token()}};
}

}  // namespace

TEST_CASE(
    "a node gone for good: reported, skipped or failing fast by the operator's choice, "
    "and deleted in one command") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  Logctl logctl(dir);
  auto env = cli_env(c);
  std::string next = push(c, "agentd-next");
  signal_all(node_pids(nodes[2]), SIGKILL);
  // Reported as such everywhere, not as its last report.
  REQUIRE(wait_until([&] { return c.get("/v1/nodes/node-3").second["liveness"] == "unreachable"; },
                     30s));
  CHECK(c.cluster()["nodes"]["unreachable"] == 1);
  Run list = logctl({"node", "list"}, env);
  INFO(describe(list));
  CHECK_THAT(list.out, Catch::Contains("unreachable"));
  // The plan knows before anything moves.
  auto [dst, dry] =
      c.post("/v1/cluster/upgrade", json{{"version", next}, {"dry_run", true}}.dump());
  REQUIRE(dst == 200);
  std::string healthy_detail;
  for (const auto& ch : dry["plan"]["checks"]) {
    if (ch["name"] == "nodes_healthy")
      healthy_detail = ch["outcome"].get<std::string>() + ": " + ch["detail"].get<std::string>();
  }
  CHECK_THAT(healthy_detail, Catch::Contains("failed") && Catch::Contains("node-3") &&
                                 Catch::Contains("unreachable"));

  NodeTraffic traffic(std::vector<int>{nodes[0].port, nodes[1].port});
  // --skip-unreachable: the others move; the outcome says not all did, and
  // the CLI's exit code (9) fails a CI job.
  Run up = logctl({"cluster", "upgrade", "--to", next, "--batch-size", "1", "--min-healthy-time",
                   "1s", "--skip-unreachable"},
                  env);
  INFO(describe(up));
  REQUIRE(up.rc == 0);
  Run resume = logctl({"cluster", "resume", "--wait", "--timeout", "2m", "--output", "json"}, env);
  INFO(describe(resume));
  CHECK(resume.rc == 9);
  // A failure's one document: the error, with the rollout in its details.
  CHECK(resume.doc()["exit_code"] == 9);
  json partial = resume.doc()["error"]["details"]["rollout"];
  CHECK(partial["state"] == "succeeded_partial");
  CHECK(step_of(partial, "node-3") == "skipped");
  CHECK(c.cluster()["cluster"]["current_version"] == next);

  // Without it: the unreachable node fails at the start of its batch, named,
  // well before healthy_deadline (120 s), and the moved nodes go back.
  auto t0 = std::chrono::steady_clock::now();
  Run back = logctl({"cluster", "rollback", "--wait", "--timeout", "2m", "--batch-size", "1",
                     "--min-healthy-time", "1s", "--output", "json"},
                    env);
  INFO(describe(back));
  CHECK(back.rc == 5);
  CHECK(std::chrono::steady_clock::now() - t0 < 90s);
  json back_rollout = back.doc()["error"]["details"]["rollout"];
  CHECK_THAT(back_rollout.value("reason", ""), Catch::Contains("node node-3: unreachable") &&
                                                   Catch::Contains("at the start of batch"));
  CHECK(c.cluster()["cluster"]["current_version"] == next);

  // Decommissioned in one command: out of lists, plans and checks.
  Run del = logctl({"node", "delete", "node-3"}, env);
  INFO(describe(del));
  CHECK(del.rc == 0);
  CHECK(c.get("/v1/nodes/node-3").first == 404);
  CHECK(c.cluster()["nodes"]["total"] == 2);
  Run again = logctl({"cluster", "rollback", "--wait", "--timeout", "2m", "--batch-size", "2",
                      "--min-healthy-time", "1s", "--output", "json"},
                     env);
  INFO(describe(again));
  CHECK(again.rc == 0);
  CHECK(again.doc()["state"] == "succeeded");
  CHECK(node_version(c, "node-1") == LOGCTL_VERSION);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  std::vector<Node> served;
  for (int i = 0; i < 2; ++i) served.push_back(std::move(nodes[i]));
  expect_all_delivered(dir, served, sent);
}

TEST_CASE(
    "a node supervisor killed with -9 and restarted as its unit would: back on the version and "
    "config the controller last gave it, also while the controller is away") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2, /*env_wrapper=*/true);
  start_cluster(c, 2);
  auto [cst, cj] = c.post("/v1/configs", kFleetConfig);
  REQUIRE(cst == 201);
  std::int64_t rev = cj["revision"];
  std::string next = push(c, "agentd-next");
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}, {"config", rev}}.dump()).first ==
          200);
  REQUIRE(c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":2,"min_healthy_time_ms":500}})")
              .first == 200);
  REQUIRE(wait_until(
      [&] {
        auto j = c.cluster()["cluster"];
        return j["state"] == "running" && j["current_version"] == next &&
               j["current_config"] == rev;
      },
      120s));
  Node& n1 = nodes[0];
  std::string root = n1.agent->root();
  CHECK(::access((root + "/desired.json").c_str(), F_OK) == 0);
  c.stop();  // the controller is away for all that follows
  NodeTraffic traffic(std::vector<int>{nodes[1].port});
  n1.agent->process().signal(SIGKILL);
  n1.agent->process().wait(10s);
  n1.agent->restart();  // the unit's ExecStart: the package binary and the bootstrap config
  REQUIRE(n1.agent->ready());
  json status = json::parse(n1.agent->control(R"({"op":"status"})"), nullptr, false);
  INFO(status.dump() << "\n" << read_file(dir / "node-1.log"));
  CHECK(status["version"] == next);
  CHECK(status["config"] == root + "/configs/" + std::to_string(rev) + ".conf");
  // Its data plane serves on that config (port and output from the fleet config).
  long seq = 1'000'000;
  {
    TcpSender s(n1.port);
    std::string batch;
    for (int i = 0; i < 500; ++i) batch += "seq=" + std::to_string(++seq) + " x\n";
    REQUIRE(s.send(batch));
    CHECK(s.finish());
  }
  // ExecStartPre (--dry-run, same flags) validates what will run, not the bootstrap config.
  std::string dry_log = dir / "dry-run.log";
  std::string cmd = dir / "node-1.sh";
  for (const auto& a :
       std::vector<std::string>{"-c", dir / "node-1.conf", "--root-dir", root, "--controller",
                                c.url(), "--controller-ca", c.ca(), "--enroll-token-file",
                                c.enroll_file(), "--node-name", "node-1", "--dry-run"}) {
    cmd += " " + shell_quote(a);
  }
  CHECK(sh(cmd + " > " + dry_log + " 2>&1") == 0);
  std::string dry = read_file(dry_log);
  CHECK_THAT(dry, Catch::Contains("starting version " + next) &&
                      Catch::Contains("configs/" + std::to_string(rev) + ".conf is valid"));
  // A local reload to another config says who owns it instead of being undone later.
  std::string other = dir / "other.conf";
  write_file(other, read_file(dir / "node-1.conf"));
  json refused = json::parse(n1.agent->control(json{{"op", "reload"}, {"config", other}}.dump()),
                             nullptr, false);
  CHECK(refused["ok"] == false);
  CHECK_THAT(refused.value("error", ""),
             Catch::Contains("managed by the controller at " + c.url()));
  // Reloading what runs is still fine.
  CHECK(json::parse(n1.agent->control(R"({"op":"reload"})"), nullptr, false)["ok"] == true);
  c.start();
  CHECK(wait_until([&] { return c.cluster()["nodes"]["healthy"] == 2; }, 60s));
  CHECK(c.cluster()["rollout"]["state"] == "succeeded");
  long sent = traffic.stop();
  CHECK(traffic.ok());
  CHECK(wait_until(
      [&] {
        return count_numbers(files_under(dir / "out-node-1")).missing_in(1'000'001, seq) == 0;
      },
      30s));
  std::vector<Node> served;
  served.push_back(std::move(nodes[1]));
  expect_all_delivered(dir, served, sent);
}

// ---- the matrix: every rollout step state x every fault ---------------------
//
// Three nodes (node-2 is the one a node fault hits), a controller whose node
// timeout is 3 s, handovers that take 2 s (settle), numbered traffic into
// every node a fault does not hit. The step state is node-2's when the
// fault lands. What each cell must end in, within kBound of the fault:
//
//   state \ fault   ctl kill -9  ctl SIGSTOP 6s  node kill -9+restart  node gone   node frozen
//                   (down 2 s)
//   pending         succeeded    succeeded       succeeded             rolled_back rolled_back
//   moving          succeeded    succeeded       succeeded             rolled_back rolled_back
//   settling        succeeded    succeeded       succeeded             rolled_back rolled_back
//   reverting       rolled_back  rolled_back     rolled_back           rolled_back rolled_back
//
// (reverting: the operator rolled back; node-2 reverted, or stranded when it
// cannot be heard.) A controller fault never changes the outcome; a node
// that is gone or frozen fails (or is stranded) naming itself, never a wedge;
// a frozen node converges when thawed.
namespace {

enum class Fault { kControllerKill9, kControllerStop, kNodeKill9Restart, kNodeGone, kNodeFrozen };
enum class At { kPending, kMoving, kSettling, kReverting };

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::kControllerKill9:
      return "controller kill -9 + restart";
    case Fault::kControllerStop:
      return "controller SIGSTOP past the node timeout";
    case Fault::kNodeKill9Restart:
      return "node supervisor kill -9 + restart";
    case Fault::kNodeGone:
      return "node gone for good";
    case Fault::kNodeFrozen:
      return "node frozen";
  }
  return "?";
}

constexpr auto kBound = 60s;  // from the fault to the rollout's end
constexpr int kNodeTimeoutMs = 3000;

bool node_fault(Fault f) {
  return f == Fault::kNodeKill9Restart || f == Fault::kNodeGone || f == Fault::kNodeFrozen;
}

void run_cell(At at, Fault fault) {
  INFO("step state " << static_cast<int>(at) << ", fault: " << fault_name(fault));
  TempDir dir;
  Controller c(dir, "127.0.0.1", "", {"--node-timeout-ms", std::to_string(kNodeTimeoutMs)});
  auto nodes = start_nodes(dir, c, 3, false, /*settle_ms=*/2000);
  start_cluster(c, 3);
  std::vector<int> ports;
  for (int i = 0; i < 3; ++i) {
    if (i != 1 || !node_fault(fault)) ports.push_back(nodes[i].port);
  }
  NodeTraffic traffic(ports);
  std::string next = push(c, "agentd-next");
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  json strategy = {{"batch_size", at == At::kPending ? 1 : 3},
                   {"min_healthy_time_ms", at == At::kSettling    ? 6000
                                           : at == At::kReverting ? 60000
                                                                  : 1500},
                   {"healthy_deadline_ms", 60000}};
  REQUIRE(c.post("/v1/cluster/resume", json{{"strategy", strategy}}.dump()).first == 200);
  auto node2 = [&] { return step_of(c.cluster()["rollout"], "node-2"); };
  switch (at) {
    case At::kPending:
      REQUIRE(wait_until([&] { return step_of(c.cluster()["rollout"], "node-1") == "moving"; }));
      REQUIRE(node2() == "pending");
      break;
    case At::kMoving:
      REQUIRE(wait_until([&] { return node2() == "moving"; }));
      break;
    case At::kSettling:
      REQUIRE(wait_until([&] { return node2() == "settling"; }, 30s));
      break;
    case At::kReverting:
      REQUIRE(wait_until([&] { return all_steps(c, "settling"); }, 30s));
      REQUIRE(c.post("/v1/cluster/rollback", "").first == 200);
      REQUIRE(node2() == "reverting");
      break;
  }
  std::vector<pid_t> victim = node_pids(nodes[1]);
  switch (fault) {
    case Fault::kControllerKill9: {
      c.kill9();
      // Down as long as its unit's RestartSec (2 s): the nodes' heartbeats
      // back off meanwhile, so the restarted controller's first passes come
      // before their next report.
      auto until = std::chrono::steady_clock::now() + 2s;
      REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() >= until; }, 10s));
      c.start();
      break;
    }
    case Fault::kControllerStop: {
      c.signal(SIGSTOP);
      auto until = std::chrono::steady_clock::now() + 6s;  // twice the node timeout
      REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() >= until; }, 20s));
      c.signal(SIGCONT);
      break;
    }
    case Fault::kNodeKill9Restart:
      nodes[1].agent->process().signal(SIGKILL);
      nodes[1].agent->process().wait(10s);
      nodes[1].agent->restart();  // as its unit would
      REQUIRE(nodes[1].agent->ready());
      break;
    case Fault::kNodeGone:
      signal_all(victim, SIGKILL);
      break;
    case Fault::kNodeFrozen:
      signal_all(victim, SIGSTOP);
      break;
  }
  json end = rollout_end(c, kBound);
  INFO(end.dump(2));
  std::string state = end["rollout"].value("state", "");
  bool lost = fault == Fault::kNodeGone || fault == Fault::kNodeFrozen;
  if (at == At::kReverting) {
    CHECK(state == "rolled_back");
    CHECK(step_of(end["rollout"], "node-1") == "reverted");
    CHECK(step_of(end["rollout"], "node-2") == (lost ? "stranded" : "reverted"));
  } else if (lost) {
    CHECK(state == "rolled_back");
    std::string reason = end["rollout"].value("reason", "");
    CHECK_THAT(reason, Catch::Contains("node node-2: unreachable"));
    CHECK(step_of(end["rollout"], "node-1") != "done");
  } else {
    CHECK(state == "succeeded");
    CHECK(end["cluster"]["current_version"] == next);
  }
  CHECK(end["cluster"]["state"] == "running");
  CHECK_FALSE(end["cluster"]["legal_commands"].empty());
  if (fault == Fault::kNodeFrozen) {
    signal_all(victim, SIGCONT);
    CHECK(wait_until([&] { return node_version(c, "node-2") == LOGCTL_VERSION; }, 60s));
  }
  long sent = traffic.stop();
  CHECK(traffic.ok());
  std::vector<Node> served;
  for (int i = 0; i < 3; ++i) {
    if (i != 1 || !node_fault(fault)) served.push_back(std::move(nodes[i]));
  }
  expect_all_delivered(dir, served, sent);
}

const Fault kFaults[] = {Fault::kControllerKill9, Fault::kControllerStop, Fault::kNodeKill9Restart,
                         Fault::kNodeGone, Fault::kNodeFrozen};

}  // namespace

TEST_CASE("matrix: a pending step meets every fault") {
  for (Fault f : kFaults) run_cell(At::kPending, f);
}

TEST_CASE("matrix: a moving step meets every fault") {
  for (Fault f : kFaults) run_cell(At::kMoving, f);
}

TEST_CASE("matrix: a settling step meets every fault") {
  for (Fault f : kFaults) run_cell(At::kSettling, f);
}

TEST_CASE("matrix: a reverting step meets every fault") {
  for (Fault f : kFaults) run_cell(At::kReverting, f);
}

TEST_CASE(
    "a node host that vanishes (its link goes down) while its batch settles: rolled back "
    "without it in a bound, and it converges when the link returns") {
  TempDir dir;
  NetNs host;  // node-3 lives there; the controller listens on this side of its link
  Controller c(dir, host.root_ip(), "--san " + host.root_ip(),
               {"--node-timeout-ms", std::to_string(kNodeTimeoutMs)});
  auto nodes = start_nodes(dir, c, 2);
  int port3 = free_port();
  write_file(dir / "node-3.conf", node_config(dir, "node-3", port3));
  std::vector<std::string> argv = host.exec();
  for (const auto& a : std::vector<std::string>{
           agentd_bin(), "-c", dir / "node-3.conf", "--root-dir", dir / "node-3-data", "--admin",
           "127.0.0.1:" + std::to_string(free_port()), "--controller", c.url(), "--controller-ca",
           c.ca(), "--enroll-token-file", c.enroll_file(), "--node-name", "node-3",
           "--ready-timeout-ms", "3000", "--settle-ms", "200"}) {
    argv.push_back(a);
  }
  Process node3(argv, dir / "node-3.log");
  bool enrolled =
      wait_until([&] { return c.get("/v1/nodes/node-3").second["connected"] == true; }, 30s);
  INFO(read_file(dir / "node-3.log"));
  REQUIRE(enrolled);
  start_cluster(c, 3);
  NodeTraffic traffic(nodes);  // node-1 and node-2, on this side
  std::string next = push(c, "agentd-next");
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  json strategy = {{"batch_size", 3}, {"min_healthy_time_ms", 60000}};
  REQUIRE(c.post("/v1/cluster/resume", json{{"strategy", strategy}}.dump()).first == 200);
  REQUIRE(wait_until([&] { return all_steps(c, "settling"); }, 30s));
  host.down();  // the host is gone: no RST, no FIN, nothing
  json end = rollout_end(c, kBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "rolled_back");
  CHECK_THAT(end["rollout"].value("reason", ""), Catch::Contains("node node-3: unreachable"));
  CHECK(step_of(end["rollout"], "node-3") == "stranded");
  CHECK(step_of(end["rollout"], "node-1") == "reverted");
  CHECK(c.get("/v1/nodes/node-3").second["liveness"] == "unreachable");
  host.up();  // back: it heartbeats again and returns to what the cluster runs
  CHECK(wait_until([&] { return node_version(c, "node-3") == LOGCTL_VERSION; }, 60s));
  CHECK(wait_until([&] { return c.cluster()["nodes"]["healthy"] == 3; }, 60s));
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
  node3.signal(SIGTERM);
  node3.wait(30s);
}
