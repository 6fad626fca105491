// End to end, as an operator meets the product: `logctl cluster start
// --local` boots a real controller and five real agentd nodes, numbered
// events flow into every node at a sustained rate, and logctl drives the
// rollouts. Every event is counted at the nodes' outputs; a prober opens new
// connections all along, so "zero downtime" means no connection refused.
//
// Covered elsewhere against the same binaries (tests/integration): the offline
// path, flush, config rollouts, forced re-runs and the controller killed with
// -9 mid-rollout (controller_test.cpp); exit codes and CI scripting
// (cli_test.cpp).
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/harness.h"
#include "support/local_cluster.h"

using namespace logctl::test;
using nlohmann::json;

namespace {

constexpr int kNodes = 5;
constexpr long kRate = 25000;  // events/s into the whole cluster

std::string push(const LocalCluster& c, const std::string& build) {
  auto r = c.logctl({"release", "push", bin_dir() + "/" + build, "-o", "json"});
  INFO(describe(r));
  REQUIRE(r.rc == 0);
  return r.doc()["version"].get<std::string>();
}

json status(const LocalCluster& c) {
  return c.logctl({"cluster", "status", "-o", "json"}).doc();
}

json history(const LocalCluster& c) {
  return c.logctl({"cluster", "history", "--limit", "200", "-o", "json"}).doc()["history"];
}

bool has(const json& h, const std::string& action, const std::string& outcome_prefix = "") {
  for (const auto& e : h) {
    if (e["action"] == action && e["outcome"].get<std::string>().starts_with(outcome_prefix))
      return true;
  }
  return false;
}

// Waits until every event sent is at the outputs, then returns what is missing.
long settled_missing(const LocalCluster& c, long sent) {
  wait_until([&] { return missing(c, kNodes, sent) == 0; }, 60s);
  return missing(c, kNodes, sent);
}

// A local cluster of kNodes, started; `before` is the version it runs.
struct Fleet {
  Fleet() {
    INFO(describe(c.started));
    REQUIRE(c.started.rc == 0);
  }
  TempDir dir;
  LocalCluster c{kNodes, dir};
  std::string before = version_of(agentd_bin());
};

// `logctl cluster resume` with a canary of one, then batches of two.
std::vector<std::string> resume_canary(std::vector<std::string> extra) {
  std::vector<std::string> a = {"cluster",      "resume", "--canary",           "1",
                                "--batch-size", "2",      "--min-healthy-time", "2s"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// A running process's argv (/proc/PID/cmdline) or environment (environ).
std::vector<std::string> proc_strings(long pid, const std::string& what) {
  std::string raw = read_file("/proc/" + std::to_string(pid) + "/" + what);
  std::vector<std::string> argv;
  std::string cur;
  for (char ch : raw) {
    if (ch == '\0') {
      argv.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  return argv;
}

}  // namespace

TEST_CASE("five nodes upgraded online under load with a canary and batches of two") {
  Fleet f;
  auto& c = f.c;
  std::string next = push(c, "agentd-next");

  Prober probe(c.subnet, kNodes);
  Traffic traffic(c.subnet, kNodes, kRate);
  REQUIRE(wait_until([&] { return traffic.sent() >= kRate; }));
  auto up = c.logctl({"cluster", "upgrade", "--to", next});
  INFO(describe(up));
  REQUIRE(up.rc == 0);
  auto resume = c.logctl(resume_canary({"--wait", "--timeout", "4m", "-o", "ndjson"}));
  INFO(describe(resume));
  CHECK(resume.rc == 0);
  // A little more traffic on the new version, then the count.
  long at_end = traffic.sent();
  REQUIRE(wait_until([&] { return traffic.sent() >= at_end + kRate / 2; }));
  long sent = traffic.stop();
  probe.stop();
  INFO("sent " << sent << " at " << traffic.rate() << " events/s; probes " << probe.attempts()
               << ", refused " << probe.refused());
  CHECK(traffic.ok());  // no connection reset through the rollout
  CHECK(traffic.rate() >= 20000);
  CHECK(probe.attempts() > 100);
  CHECK(probe.refused() == 0);  // every node listened all along
  CHECK(settled_missing(c, sent) == 0);

  for (const auto& n : c.nodes()) CHECK(n["version"] == next);
  json st = status(c);
  INFO(st.dump(2));
  CHECK(st["cluster"]["current_version"] == next);
  CHECK(st["cluster"]["previous_version"] == f.before);
  const json& r = st["rollout"];
  CHECK(r["state"] == "succeeded");
  REQUIRE(r["steps"].size() == kNodes);
  std::map<int, int> per_batch;
  for (const auto& s : r["steps"]) {
    ++per_batch[s["batch"].get<int>()];
    CHECK(s["state"] == "done");
    // Each node's handover report: committed, its sender's connection
    // handed over, what went through the spool.
    CHECK(s["report"]["handover"]["result"] == "committed");
    CHECK(s["report"]["handover"]["connections_handed_over"].get<int>() >= 1);
    CHECK(s["report"]["handover"].contains("events_through_spool"));
    CHECK(s["report"]["handover"].contains("phases_ms"));
  }
  CHECK(per_batch == std::map<int, int>{{0, 1}, {1, 2}, {2, 2}});  // canary, then twos
  json h = history(c);
  CHECK(has(h, "upgrade", "accepted"));
  CHECK(has(h, "resume", "accepted"));
  CHECK(has(h, "rollout.start"));
  CHECK(has(h, "rollout.succeeded"));
}

TEST_CASE("a release that never becomes ready fails its canary and is rolled back") {
  TempDir dir;
  LocalCluster c(kNodes, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  std::string bad = push(c, "agentd-broken-hang");
  std::string before = version_of(agentd_bin());

  Prober probe(c.subnet, kNodes);
  Traffic traffic(c.subnet, kNodes, kRate);
  REQUIRE(wait_until([&] { return traffic.sent() >= kRate; }));
  REQUIRE(c.logctl({"cluster", "upgrade", "--to", bad, "--force"}).rc == 0);
  auto resume =
      c.logctl({"cluster", "resume", "--wait", "--timeout", "4m", "--canary", "1", "--batch-size",
                "2", "--min-healthy-time", "2s", "--healthy-deadline", "60s"});
  INFO(describe(resume));
  CHECK(resume.rc == 5);  // rolled back
  CHECK_THAT(resume.out, Catch::Contains("rolled_back"));
  long sent = traffic.stop();
  probe.stop();
  CHECK(traffic.ok());
  CHECK(probe.refused() == 0);
  CHECK(settled_missing(c, sent) == 0);

  for (const auto& n : c.nodes()) CHECK(n["version"] == before);
  json st = status(c);
  INFO(st.dump(2));
  CHECK(st["cluster"]["state"] == "running");
  CHECK(st["cluster"]["current_version"] == before);
  const json& r = st["rollout"];
  CHECK(r["state"] == "rolled_back");
  CHECK_THAT(r["reason"].get<std::string>(), Catch::Contains("node-"));
  int started = 0;
  for (const auto& s : r["steps"]) {
    if (s["batch"] == 0) {
      CHECK((s["state"] == "failed" || s["state"] == "reverted"));
      // The canary's report names its handover's outcome.
      CHECK(s["report"]["handover"]["result"] != "committed");
      ++started;
    } else {
      CHECK(s["state"] == "pending");  // never touched
    }
  }
  CHECK(started == 1);
  CHECK(has(history(c), "rollout.rolled_back"));
}

TEST_CASE("a node supervisor killed with -9 mid-rollout is rolled back and the rest lose nothing") {
  Fleet f;
  auto& c = f.c;
  const std::string& before = f.before;
  std::string next = push(c, "agentd-next");
  json rec = c.record();
  long victim = rec["nodes"][4]["pid"];  // node-5: in the last batch
  REQUIRE(victim > 0);
  std::vector<std::string> argv = proc_strings(victim, "cmdline");
  REQUIRE(argv.size() > 2);
  std::vector<std::string> env;  // the node's own settings (its address, name, dir)
  for (const auto& e : proc_strings(victim, "environ")) {
    if (e.starts_with("LOGCTL_NODE_")) env.push_back(e);
  }

  // Traffic to nodes 1-4; node-5 is killed.
  Traffic traffic(c.subnet, kNodes, kRate * 4 / 5, {5});
  REQUIRE(wait_until([&] { return traffic.sent() >= kRate; }));
  REQUIRE(c.logctl({"cluster", "upgrade", "--to", next}).rc == 0);
  auto resume = c.logctl(resume_canary({"--healthy-deadline", "20s"}));
  INFO(describe(resume));
  REQUIRE(resume.rc == 0);
  REQUIRE(wait_until([&] {
    json st = status(c);  // kept: a range-for over a member of a temporary dangles
    for (const auto& s : st["rollout"]["steps"]) {
      if (s["state"] != "pending") return true;  // the canary moves
    }
    return false;
  }));
  REQUIRE(::kill(static_cast<pid_t>(victim), SIGKILL) == 0);
  // The rollout reaches node-5's batch, its gate fails (no heartbeat), and
  // every node already moved goes back.
  REQUIRE(wait_until(
      [&] {
        std::string s = status(c)["rollout"]["state"];
        return s == "rolled_back" || s == "succeeded";
      },
      180s));
  json st = status(c);
  INFO(st.dump(2));
  CHECK(st["rollout"]["state"] == "rolled_back");
  CHECK_THAT(st["rollout"]["reason"].get<std::string>(), Catch::Contains("node-5"));
  REQUIRE(wait_until(
      [&] {
        for (const auto& n : c.nodes()) {
          if (n["name"] != "node-5" && n["version"] != before) return false;
        }
        return true;
      },
      60s));

  // The node comes back (what its service manager would do): same command,
  // same root; it rejoins on the cluster's version and serves.
  std::string cmd = "cd " + shell_quote(rec["nodes"][4]["dir"].get<std::string>()) + " && exec env";
  for (const auto& e : env) cmd += " " + shell_quote(e);
  for (const auto& a : argv) cmd += " " + shell_quote(a);
  std::string log = rec["nodes"][4]["dir"].get<std::string>() + "/agentd.log";
  Process revived({"/bin/sh", "-c", cmd}, log + ".revived");
  INFO(revived.log());
  REQUIRE(wait_until(
      [&] {
        for (const auto& n : c.nodes()) {
          if (n["name"] == "node-5")
            return n["connected"] == true && n["worker_up"] == true && n["version"] == before;
        }
        return false;
      },
      60s));
  long sent = traffic.stop();
  CHECK(traffic.ok());
  CHECK(settled_missing(c, sent) == 0);
  {
    TcpSender to5(5170, c.subnet + ".5");
    std::string lines;
    for (int i = 0; i < 1000; ++i) lines += "after=" + std::to_string(i) + "\n";
    REQUIRE(to5.send(lines));
    REQUIRE(to5.finish());
  }
  CHECK(wait_until(
      [&] { return count_numbers(files_under(c.out_dir(5)), "after=").missing_in(0, 999) == 0; }));
  revived.signal(SIGTERM);
  CHECK(revived.wait(30s) >= 0);
}

TEST_CASE("wrong tokens and a revoked node and bad requests are refused and change nothing") {
  Fleet f;
  auto& c = f.c;
  auto& dir = f.dir;
  std::string next = push(c, "agentd-next");
  json before = status(c);
  std::size_t entries = history(c).size();

  Traffic traffic(c.subnet, kNodes, kRate);
  REQUIRE(wait_until([&] { return traffic.sent() >= kRate / 2; }));

  // A wrong admin token: exit 3, the message says why; the token is not echoed.
  auto wrong = c.logctl({"cluster", "upgrade", "--to", next}, {{"LOGCTL_TOKEN", "lct_admin_nope"}});
  CHECK(wrong.rc == 3);
  CHECK_THAT(wrong.err, Catch::Contains("token"));
  CHECK_THAT(wrong.out + wrong.err, !Catch::Contains("lct_admin_nope"));
  // Bad requests: a version that is no version, a batch size of 0, an unknown
  // release, an invalid config.
  CHECK(c.logctl({"cluster", "upgrade", "--to", "../../etc"}).rc == 2);
  CHECK(c.logctl({"cluster", "resume", "--batch-size", "0"}).rc != 0);
  auto unknown = c.logctl({"cluster", "upgrade", "--to", "9.9.9"});
  CHECK(unknown.rc == 4);
  CHECK_THAT(unknown.out + unknown.err, Catch::Contains("release_exists"));
  write_file(dir / "bad.conf", "<source>\n  @type tcp\n  port nope\n</source>\n");
  auto bad_conf = c.logctl({"config", "apply", dir / "bad.conf"});
  CHECK(bad_conf.rc != 0);
  CHECK_THAT(bad_conf.out + bad_conf.err, Catch::Contains("port"));

  // A revoked node is refused by the controller but keeps serving its data
  // plane; it is listed as revoked and out of every plan and check.
  auto revoke = c.logctl({"node", "revoke", "node-2"});
  INFO(describe(revoke));
  CHECK(revoke.rc == 0);
  REQUIRE(wait_until(
      [&] {
        for (const auto& n : c.nodes()) {
          if (n["name"] == "node-2") return n["connected"] == false;
        }
        return false;
      },
      60s));
  std::string log2 = read_file(c.record()["nodes"][1]["dir"].get<std::string>() + "/agentd.log");
  CHECK_THAT(log2, Catch::Contains("revoked"));
  auto plan = c.logctl({"cluster", "upgrade", "--to", next, "--dry-run", "--output", "json"});
  INFO(describe(plan));
  CHECK(plan.rc == 0);
  json planned_doc = plan.doc();
  std::string planned = planned_doc["plan"]["batches"].dump();
  CHECK_THAT(planned, !Catch::Contains("node-2") && Catch::Contains("node-1"));
  for (const auto& ch : planned_doc["plan"]["checks"]) {
    if (ch["name"] == "nodes_healthy") CHECK(ch["outcome"] == "passed");
  }
  for (const auto& n : c.nodes()) {
    if (n["name"] == "node-2") CHECK(n["revoked"] == true);
  }

  long sent = traffic.stop();
  CHECK(traffic.ok());
  CHECK(settled_missing(c, sent) == 0);  // node-2 delivered all it got
  // Nothing changed: same state, versions, config; the history holds only
  // the refusals (and the revocation).
  json after = status(c);
  for (const char* k : {"state", "current_version", "current_config", "target_version"}) {
    CHECK(after["cluster"][k] == before["cluster"][k]);
  }
  for (const auto& n : c.nodes()) CHECK(n["version"] == f.before);
  json h = history(c);
  for (std::size_t i = 0; i + entries < h.size(); ++i) {
    std::string outcome = h[i]["outcome"];
    INFO(h[i].dump());
    CHECK((outcome.starts_with("refused") || h[i]["action"] == "node.revoke"));
  }
}
