// The fault matrix (ctest -L faults, release build): a controller and three
// agentd nodes as real processes under numbered load, a rollout in a given
// state, and a fault — the controller killed with -9 and restarted, the
// controller stopped (SIGSTOP) past the node timeout, a node frozen, a node
// gone for good. Each ends in a defined state within the bound the test
// states, never a wedge; a controller fault never changes the outcome; no
// event sent to a serving node is lost. The node timeout here is 10 s (the
// controller's floor; nodes heartbeat every 250 ms).
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/fleet.h"
#include "support/harness.h"
#include "support/local_cluster.h"

using namespace logctl;
using namespace logctl::test;
using nlohmann::json;

namespace {

// Every step of the rollout in `state`.
bool all_steps(const Controller& c, const std::string& state) {
  auto r = c.cluster()["rollout"];
  if (!r.is_object() || r["steps"].empty()) return false;
  for (const auto& s : r["steps"]) {
    if (s["state"] != state) return false;
  }
  return true;
}

std::string step_of(const json& rollout, const std::string& node) {
  for (const auto& s : rollout["steps"]) {
    if (s["node"] == node) return s["state"];
  }
  return "?";
}

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

// Upgrades to agentd-next with every node in one batch and a long
// min_healthy_time, and waits until every step is settling.
std::string settle_all(const Controller& c, int min_healthy_ms) {
  std::string next = push(c, "agentd-next");
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  json strategy = {{"batch_size", 3}, {"min_healthy_time_ms", min_healthy_ms}};
  REQUIRE(c.post("/v1/cluster/resume", json{{"strategy", strategy}}.dump()).first == 200);
  REQUIRE(wait_until([&] { return all_steps(c, "settling"); }, 60s));
  return next;
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

TEST_CASE("controller killed with -9 while a batch settles: the rollout still succeeds") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  NodeTraffic traffic(nodes);
  std::string next = settle_all(c, 15000);
  c.kill9();
  c.start();  // as the service manager would, at once
  // Before: the first pass after the restart failed every gate ("no
  // heartbeat for 10000 ms") and rolled the fleet back.
  json end = rollout_end(c, 90s);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_version"] == next);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE("controller stopped past the node timeout while a batch settles: it succeeds") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  NodeTraffic traffic(nodes);
  std::string next = settle_all(c, 5000);
  c.signal(SIGSTOP);
  auto until = std::chrono::steady_clock::now() + 15s;  // past the 10 s node timeout
  long before = traffic.sent();
  REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() >= until; }, 25s));
  c.signal(SIGCONT);
  CHECK(traffic.sent() > before);  // the nodes served all the while
  json end = rollout_end(c, 90s);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_version"] == next);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE("a node frozen while its batch settles: rolled back without it, never wedged") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  NodeTraffic traffic(std::vector<int>{nodes[0].port, nodes[1].port});
  settle_all(c, 60000);
  auto frozen = node_pids(nodes[2]);
  signal_all(frozen, SIGSTOP);
  // Bound: the node timeout (10 s) to fail its gate, then the others revert
  // (a handover each) and node-3 is stranded at once (it cannot be heard).
  json end = rollout_end(c, 60s);
  INFO(end.dump(2));
  REQUIRE(end["rollout"]["state"] == "rolled_back");
  CHECK(step_of(end["rollout"], "node-3") == "stranded");
  CHECK(step_of(end["rollout"], "node-1") == "reverted");
  std::string reason = end["rollout"]["reason"];
  CHECK_THAT(reason, Catch::Contains("node node-3: unreachable") &&
                         Catch::Contains("gate heartbeat") && Catch::Contains("not back"));
  CHECK(end["cluster"]["state"] == "running");
  CHECK_FALSE(end["cluster"]["legal_commands"].empty());
  auto [st, n3] = c.get("/v1/nodes/node-3");
  CHECK(n3["liveness"] == "unreachable");
  CHECK(n3["connected"] == false);
  // Thawed, it converges to what the cluster runs by itself.
  signal_all(frozen, SIGCONT);
  CHECK(wait_until([&] { return node_version(c, "node-3") == LOGCTL_VERSION; }, 60s));
  long sent = traffic.stop();
  CHECK(traffic.ok());
  std::vector<Node> served;
  for (int i = 0; i < 2; ++i) served.push_back(std::move(nodes[i]));
  expect_all_delivered(dir, served, sent);
}

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
  json partial = resume.doc();
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
  CHECK_THAT(back.doc().value("reason", ""), Catch::Contains("node node-3: unreachable") &&
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

TEST_CASE(
    "a node supervisor killed with -9 while its batch settles: restarted, the rollout succeeds") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  NodeTraffic traffic(std::vector<int>{nodes[0].port, nodes[1].port});
  std::string next = settle_all(c, 8000);
  Node& n3 = nodes[2];
  n3.agent->process().signal(SIGKILL);
  n3.agent->process().wait(10s);
  n3.agent->restart();
  REQUIRE(n3.agent->ready());
  json end = rollout_end(c, 90s);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_version"] == next);
  CHECK(node_version(c, "node-3") == next);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  std::vector<Node> served;
  for (int i = 0; i < 2; ++i) served.push_back(std::move(nodes[i]));
  expect_all_delivered(dir, served, sent);
}
