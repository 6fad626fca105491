// logctl, the real binary, against a real controller and real agentd nodes
// that `logctl cluster start --local` boots: every command group, human and
// JSON output, every exit code, the precedence of flags, environment and
// config file, the live progress view on a terminal, examples/ci-upgrade.sh,
// and upgrades under load with every numbered event counted at the nodes'
// outputs.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/harness.h"
#include "support/local_cluster.h"

using namespace logctl::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kFastGate = {"--batch-size", "3", "--min-healthy-time", "1s"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("cli: a local cluster in one command runs the lifecycle verbs and is deleted whole") {
  TempDir dir;
  // The nodes' config: file buffers that hold their chunks for a minute, so
  // only `shutdown --flush` can deliver them before the workers stop.
  write_file(dir / "slow.conf", R"(<source>
  @type tcp
  tag app
  bind "#{ENV['LOGCTL_NODE_ADDR']}"
  port 5170
  <parse>
    @type none
  </parse>
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type file
  path "#{ENV['LOGCTL_NODE_DIR']}/out/events"
  append true
  <buffer>
    @type file
    path "#{ENV['LOGCTL_NODE_DIR']}/buffer"
    flush_mode interval
    flush_interval 60s
  </buffer>
</match>
)");
  LocalCluster c(3, dir, {"--pipeline-config", dir / "slow.conf"});
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  CHECK_THAT(c.started.out, Catch::Contains(c.subnet + ".3"));
  // Each node has its own address for one config with fixed ports.
  auto nodes = c.nodes();
  REQUIRE(nodes.size() == 3);
  for (const auto& n : nodes) {
    std::string i = n["name"].get<std::string>().substr(5);
    CHECK(n["listeners"] == json::array({"tcp://" + c.subnet + "." + i + ":5170"}));
    CHECK(n["healthy"] == true);
  }
  // The context is written: later commands need no flags.
  auto status = c.logctl({"cluster", "status"});
  CHECK(status.rc == 0);
  CHECK_THAT(status.out, Catch::Contains("running"));
  CHECK_THAT(status.out, Catch::Contains("3 total, 3 connected, 3 healthy"));
  auto sj = c.logctl({"cluster", "status", "-o", "json"});
  CHECK(sj.doc()["cluster"]["state"] == "running");
  CHECK(sj.doc()["cluster"]["current_config"] == 1);

  // A second start on a running one says so.
  auto again = c.logctl({"cluster", "start", "--local", "--data-dir", c.data});
  CHECK(again.rc == 7);
  CHECK_THAT(again.err, Catch::Contains("already running"));

  // Events flow into the nodes' file buffers; shutdown --flush delivers
  // every one before the workers stop; start brings them back.
  long sent = 0;
  {
    Traffic t(c.subnet, 3);
    REQUIRE(wait_until([&] { return t.sent() >= 3000; }));
    t.stop();
    REQUIRE(t.ok());
    sent = t.sent();
  }
  REQUIRE(wait_until([&] {
    double in = 0;
    for (const auto& n : c.nodes()) in += n["figures"].value("events_in", 0.0);
    return in >= static_cast<double>(sent);
  }));
  CHECK(missing(c, 3, sent) == sent);  // all of it still in the buffers
  // --wait returns once every node reports its worker stopped: by then
  // every buffer was delivered.
  auto down = c.logctl({"cluster", "shutdown", "--flush", "--wait", "--timeout", "2m"});
  INFO(describe(down));
  CHECK(down.rc == 0);
  CHECK(c.nodes_running(false));
  CHECK(missing(c, 3, sent) == 0);  // delivered before the workers stopped
  auto nothing = c.logctl({"cluster", "resume"});
  CHECK(nothing.rc == 7);  // nothing pending: start is the verb
  CHECK_THAT(nothing.err, Catch::Contains("legal now: start"));
  auto up = c.logctl({"cluster", "start"});
  CHECK(up.rc == 0);
  REQUIRE(wait_until([&] { return c.nodes_running(true); }, 60s));
  auto history = c.logctl({"cluster", "history", "-o", "json"});
  REQUIRE(history.rc == 0);
  std::set<std::string> actions;
  json entries = history.doc()["history"];
  for (const auto& e : entries) actions.insert(e["action"].get<std::string>());
  CHECK(actions.count("shutdown") == 1);
  CHECK(actions.count("start") == 1);

  // delete stops every recorded process and removes the directory and context.
  auto rec = c.record();
  auto del = c.logctl({"cluster", "delete", "--local", "--data-dir", c.data});
  INFO(describe(del));
  CHECK(del.rc == 0);
  CHECK(sh("test -e " + shell_quote(c.data)) != 0);
  for (const auto& n : rec["nodes"]) {
    long pid = n["pid"].get<long>();
    CHECK(wait_until([&] {
      std::string st = read_file("/proc/" + std::to_string(pid) + "/stat");
      return st.empty() || st.find(") Z") != std::string::npos;
    }));
  }
  auto cfg = json::parse(read_file(dir / "home/.config/logctl/config"), nullptr, false);
  CHECK_FALSE(cfg["contexts"].contains("local"));
  auto gone = c.logctl({"cluster", "delete", "--local", "--data-dir", c.data});
  CHECK(gone.rc == 8);
}

TEST_CASE("cli: a stale local cluster is detected and replaced") {
  TempDir dir;
  LocalCluster c(1, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  long pid = c.record()["nodes"][0]["pid"].get<long>();
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  auto again = c.logctl({"cluster", "start", "--local", "--nodes", "1", "--data-dir", c.data});
  INFO(describe(again));
  CHECK(again.rc == 0);
  CHECK_THAT(again.err, Catch::Contains("stale local cluster"));
  CHECK(c.record()["nodes"][0]["pid"].get<long>() != pid);
  CHECK(c.nodes_running(true));
}

TEST_CASE(
    "cli: upgrades under load through logctl lose nothing and a broken release is rolled back") {
  TempDir dir;
  LocalCluster c(3, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  const std::string next = agentd_build("agentd-next"), hang = agentd_build("agentd-broken-hang");
  auto push = c.logctl({"release", "push", next, "-o", "json"});
  INFO(describe(push));
  REQUIRE(push.rc == 0);
  std::string v = push.doc()["version"].get<std::string>();
  CHECK(v == version_of(next));
  CHECK(push.doc()["sha256"].get<std::string>().size() == 64);

  Traffic t(c.subnet, 3);
  REQUIRE(wait_until([&] { return t.sent() >= 2000; }));

  // A dry run's plan (its strategy included), applied by its token; then
  // resume --wait as ndjson runs exactly that plan.
  auto dry =
      c.logctl(with({"cluster", "upgrade", "--to", v, "--dry-run", "-o", "json"}, kFastGate));
  REQUIRE(dry.rc == 0);
  std::string token = dry.doc()["plan"]["plan_token"].get<std::string>();
  auto human_plan = c.logctl(with({"cluster", "upgrade", "--to", v, "--dry-run"}, kFastGate));
  CHECK_THAT(human_plan.out, Catch::Contains("semver_policy"));
  CHECK_THAT(human_plan.out, Catch::Contains("plan token: " + token));
  auto apply = c.logctl(with({"cluster", "upgrade", "--to", v, "--plan-token", token}, kFastGate));
  CHECK(apply.rc == 0);
  auto resume = c.logctl({"cluster", "resume", "--wait", "--timeout", "3m", "-o", "ndjson"});
  INFO(describe(resume));
  REQUIRE(resume.rc == 0);
  std::istringstream lines(resume.out);
  std::set<std::string> done_nodes;
  json last;
  for (std::string line; std::getline(lines, line);) {
    last = json::parse(line, nullptr, false);
    REQUIRE_FALSE(last.is_discarded());  // nothing but JSON lines on stdout
    if (last["event"] == "step" && last["state"] == "done") {
      done_nodes.insert(last["node"].get<std::string>());
    }
  }
  CHECK(done_nodes.size() == 3);
  CHECK(last["event"] == "rollout");
  CHECK(last["state"] == "succeeded");
  for (const auto& n : c.nodes()) CHECK(n["version"] == v);

  // Back with rollback, watched on a terminal: the live view, 80 columns.
  std::string typescript = dir / "typescript";
  std::string cmd = "env HOME=" + shell_quote(dir / "home") + " " + bin_dir() +
                    "/logctl cluster rollback --wait --timeout 3m --batch-size 3 "
                    "--min-healthy-time 1s";
  int rc =
      sh("script -q -e -c " + shell_quote(cmd) + " " + shell_quote(typescript) + " > /dev/null");
  std::string screen = read_file(typescript);
  INFO(screen);
  CHECK(rc == 0);
  CHECK_THAT(screen, Catch::Contains("3/3 nodes"));
  CHECK_THAT(screen, Catch::Contains("[#####"));
  CHECK_THAT(screen, Catch::Contains("\x1b[1A"));  // redrawn in place
  CHECK_THAT(screen, Catch::Contains("succeeded"));
  std::istringstream rows(screen);
  for (std::string row; std::getline(rows, row);) {
    auto last_clear = row.rfind("\x1b[2K");
    std::string visible = last_clear == std::string::npos ? row : row.substr(last_clear + 4);
    if (!visible.empty() && visible.back() == '\r') visible.pop_back();
    if (visible.rfind("Script ", 0) == 0) continue;  // script(1)'s own trailer
    CHECK(visible.size() <= 80);
  }

  // A release whose worker never becomes ready: the batch fails its gate, the
  // rollout rolls back by itself, exit 5, every node still on the old version.
  auto pushed = c.logctl({"release", "push", hang, "-o", "json"});
  REQUIRE(pushed.rc == 0);
  std::string bad = pushed.doc()["version"].get<std::string>();
  CHECK(c.logctl({"cluster", "upgrade", "--to", bad, "--force"}).rc == 0);
  auto failed = c.logctl(with(
      {"cluster", "resume", "--wait", "--timeout", "3m", "--healthy-deadline", "60s", "-o", "json"},
      kFastGate));
  INFO(describe(failed));
  CHECK(failed.rc == 5);
  // One document, the error one (as for every failure), the rollout in its details.
  auto failure = failed.doc();
  CHECK(failure["exit_code"] == 5);
  CHECK(failure["error"]["code"] == "rollout_failed");
  CHECK(failure["error"]["details"]["rollout"]["state"] == "rolled_back");
  CHECK_THAT(failed.err, Catch::Contains("logctl: rollout #") && Catch::Contains("rolled_back"));
  std::string before = version_of(agentd_bin());
  for (const auto& n : c.nodes()) CHECK(n["version"] == before);

  // The scripted CI upgrade (examples/ci-upgrade.sh): given too little time
  // it fails with logctl's exit 6 and says where the rollout is, then (the
  // rollout done) to the good release.
  std::string script = std::string(LOGCTL_TESTS_DIR) + "/../examples/ci-upgrade.sh";
  // The script with `args`, as a CI job runs it; its output in DIR/NAME.out.
  auto ci_upgrade = [&](const std::string& args, const std::string& name) {
    Run r;
    r.rc = sh("env HOME=" + shell_quote(dir / "home") + " LOGCTL=" + bin_dir() + "/logctl bash " +
              shell_quote(script) + " " + args + " > " + dir / (name + ".out") + " 2>&1");
    r.out = read_file(dir / (name + ".out"));
    return r;
  };
  Run late = ci_upgrade(shell_quote(next) + " 1s", "late");
  INFO(late.out);
  CHECK(late.rc == 6);
  CHECK_THAT(late.out, Catch::Contains("failed: rollout ") && !Catch::Contains("rollout unknown"));
  CHECK(wait_until(
      [&] {
        auto st = c.logctl({"cluster", "status", "-o", "json"}).doc();
        return st.is_object() && st["cluster"]["state"] == "running" &&
               st["cluster"]["current_version"] == v;
      },
      120s));
  Run ci = ci_upgrade(shell_quote(next), "ci");
  INFO(ci.out);
  CHECK(ci.rc == 0);
  CHECK_THAT(ci.out, Catch::Contains("upgraded to " + v));
  for (const auto& n : c.nodes()) CHECK(n["version"] == v);

  t.stop();
  REQUIRE(t.ok());  // no connection reset through four rollouts
  long sent = t.sent();
  CHECK(wait_until([&] { return missing(c, 3, sent) == 0; }, 60s));
  INFO("sent " << sent << ", missing " << missing(c, 3, sent));
  CHECK(missing(c, 3, sent) == 0);
}

TEST_CASE("cli: exit codes name each failure and settings go flag then env then file") {
  TempDir dir;
  LocalCluster c(1, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  auto& l = c.logctl;
  std::string ctl = c.data + "/controller";
  auto ctx = json::parse(read_file(dir / "home/.config/logctl/config"))["contexts"]["local"];
  std::string server = ctx["server"], ca = ctx["ca"];

  // 2: usage.
  CHECK(l({"cluster", "upgrade"}).rc == 2);
  CHECK(l({"cluster", "status", "--no-such-flag"}).rc == 2);
  CHECK(l({"cluster", "status", "-o", "yaml"}).rc == 2);
  CHECK(l({"cluster", "resume", "--timeout", "soon", "--wait"}).rc == 2);
  // 3: cannot reach, trust or authenticate.
  CHECK(l({"cluster", "status", "--server", "https://127.0.0.1:1"}).rc == 3);
  auto bad_token = l({"cluster", "status", "--token", "not-the-token"});
  CHECK(bad_token.rc == 3);
  CHECK_THAT(bad_token.err, Catch::Contains("token"));
  CHECK(bad_token.err.find("not-the-token") == std::string::npos);  // never echoed
  write_file(dir / "other-ca.pem", read_file("/etc/ssl/certs/ca-certificates.crt"));
  auto untrusted = l({"cluster", "status", "--ca", dir / "other-ca.pem"});
  CHECK(untrusted.rc == 3);
  CHECK_THAT(untrusted.err, Catch::Contains("certificate"));
  // 4: checks failed / invalid.
  write_file(dir / "bad.conf", "<source>\n  @type tcpx\n</source>\n");
  auto invalid = l({"config", "validate", dir / "bad.conf"});
  CHECK(invalid.rc == 4);
  CHECK_THAT(invalid.err, Catch::Contains("tcpx"));
  auto same = l({"cluster", "upgrade", "--to", version_of(agentd_bin())});
  CHECK(same.rc == 4);
  CHECK_THAT(same.err, Catch::Contains("semver_policy"));
  // 8: not found.
  CHECK(l({"node", "show", "nope"}).rc == 8);
  CHECK(l({"node", "show", "../etc"}).rc == 2);
  write_file(dir / "good.conf", read_file(c.data + "/pipeline.conf"));
  auto no_release = l({"config", "validate", dir / "good.conf", "--version", "9.9.9"});
  CHECK(no_release.rc == 8);
  CHECK_THAT(no_release.err, Catch::Contains("logctl release push"));
  CHECK(l({"cluster", "status", "--context", "nope"}).rc == 8);
  // 7: conflicts.
  CHECK(l({"cluster", "resume"}).rc == 7);
  CHECK(l({"cluster", "abort"}).rc == 7);
  CHECK(l({"cluster", "pause"}).rc == 7);

  // The read commands, human and JSON.
  auto node = l({"node", "show", "node-1"});
  CHECK(node.rc == 0);
  CHECK_THAT(node.out, Catch::Contains("tcp://" + c.subnet + ".1:5170"));
  CHECK_THAT(node.out, Catch::Contains("events_in"));
  CHECK(l({"node", "show", "node-1", "-o", "json"}).doc()["name"] == "node-1");
  auto shown = l({"config", "show"});
  CHECK(shown.rc == 0);
  CHECK(shown.out == read_file(c.data + "/pipeline.conf"));
  CHECK(l({"config", "show", "1", "-o", "json"}).doc()["text"] == shown.out);
  auto unchanged = l({"config", "diff", dir / "good.conf"});
  CHECK(unchanged.rc == 0);
  CHECK_THAT(unchanged.out, Catch::Contains("(no change)"));
  auto valid = l({"config", "validate", dir / "good.conf"});
  CHECK(valid.rc == 0);
  CHECK_THAT(valid.out, Catch::Contains("valid for " + version_of(agentd_bin())));
  // A parameter no plugin takes: a warning naming the line, with a hint (as
  // agentd and Fluentd only warn); --strict makes it an error (4).
  std::string typo = read_file(c.data + "/pipeline.conf");
  typo.replace(typo.find("  tag app\n"), 10, "  tag app\n  delimitr \"|\"\n");
  write_file(dir / "typo.conf", typo);
  auto warned = l({"config", "validate", dir / "typo.conf"});
  CHECK(warned.rc == 0);
  CHECK_THAT(warned.err, Catch::Contains("warning: config:") &&
                             Catch::Contains("no parameter 'delimitr'; did you mean 'delimiter'?"));
  CHECK(l({"config", "validate", dir / "typo.conf", "-o", "json"}).doc()["warnings"].size() == 1);
  auto strict = l({"config", "validate", dir / "typo.conf", "--strict"});
  CHECK(strict.rc == 4);
  CHECK_THAT(strict.err, Catch::Contains("strict") && Catch::Contains("delimitr"));
  CHECK(l({"config", "apply", dir / "typo.conf", "--strict"}).rc == 4);  // nothing stored
  auto releases = l({"release", "list"});
  CHECK(releases.rc == 0);
  CHECK_THAT(releases.out, Catch::Contains(version_of(agentd_bin())));
  auto versions = l({"version"});
  CHECK(versions.rc == 0);
  CHECK_THAT(versions.out, Catch::Contains("controller " + version_of(agentd_bin())));
  auto watched = l({"cluster", "status", "--watch", "--timeout", "2s"});
  CHECK(watched.rc == 0);
  CHECK(std::count(watched.out.begin(), watched.out.end(), '\n') > 10);  // refreshed
  auto next = l({"release", "push", agentd_build("agentd-next"), "-o", "json"});
  REQUIRE(next.rc == 0);
  std::string v = next.doc()["version"];
  auto dry = l({"cluster", "upgrade", "--to", v, "--dry-run", "-o", "json"});
  std::string token = dry.doc()["plan"]["plan_token"];
  write_file(dir / "changed.conf",
             read_file(c.data + "/pipeline.conf") + "# a comment changes the revision\n");
  auto diff = l({"config", "diff", dir / "changed.conf"});
  CHECK_THAT(diff.out, Catch::Contains("+"));
  CHECK_THAT(diff.out, Catch::Contains("# a comment changes the revision"));
  auto applied = l({"config", "apply", dir / "changed.conf"});  // the cluster moved on
  REQUIRE(applied.rc == 0);
  CHECK_THAT(applied.out, Catch::Contains("config revision 2"));
  auto stale = l({"cluster", "upgrade", "--to", v, "--plan-token", token, "-o", "json"});
  CHECK(stale.rc == 7);
  CHECK(stale.doc()["error"]["code"] == "stale_plan");  // one JSON document on stdout
  CHECK(stale.doc()["exit_code"] == 7);
  // 6: a wait that gives up (the rollout goes on, and then succeeds).
  REQUIRE(l({"cluster", "upgrade", "--to", v}).rc == 0);
  auto impatient =
      l({"cluster", "resume", "--wait", "--timeout", "1s", "--min-healthy-time", "5s"});
  CHECK(impatient.rc == 6);
  CHECK_THAT(impatient.err, Catch::Contains("goes on"));
  auto patient = l({"cluster", "status", "-o", "json"});
  std::int64_t id = patient.doc()["rollout"]["id"];
  CHECK(wait_until(
      [&] {
        return l({"cluster", "status", "-o", "json"}).doc()["rollout"]["state"] == "succeeded";
      },
      120s));
  CHECK(l({"cluster", "status", "-o", "json"}).doc()["rollout"]["id"] == id);

  // Precedence: flag over environment over the config file's context.
  std::map<std::string, std::string> bad_env = {{"LOGCTL_SERVER", "https://127.0.0.1:1"}};
  CHECK(l({"cluster", "status"}, bad_env).rc == 3);                      // env over file
  CHECK(l({"cluster", "status", "--server", server}, bad_env).rc == 0);  // flag over env
  std::map<std::string, std::string> bad_token_env = {{"LOGCTL_TOKEN", "wrong"}};
  CHECK(l({"cluster", "status"}, bad_token_env).rc == 3);
  CHECK(l({"cluster", "status", "--token-file", ctl + "/admin.token"}, bad_token_env).rc == 0);
  // Environment alone, with no config file at all.
  std::map<std::string, std::string> env_only = {{"LOGCTL_SERVER", server},
                                                 {"LOGCTL_CA", ca},
                                                 {"LOGCTL_TOKEN", read_file(ctl + "/admin.token")},
                                                 {"LOGCTL_CONFIG", dir / "no-such-config"}};
  auto by_env = l({"version", "-o", "json"}, env_only);
  CHECK(by_env.rc == 0);
  CHECK(by_env.doc()["controller"] == by_env.doc()["client"]);
  auto none = l({"cluster", "status"}, {{"LOGCTL_CONFIG", dir / "no-such-config"}});
  CHECK(none.rc == 2);
  CHECK_THAT(none.err, Catch::Contains("cluster start --local"));
}

TEST_CASE("cli: docs/cli.md holds the command reference that logctl docs prints") {
  TempDir dir;
  Logctl l(dir);
  auto r = l({"docs"});
  REQUIRE(r.rc == 0);
  std::string doc = read_file(std::string(LOGCTL_TESTS_DIR) + "/../docs/cli.md");
  const std::string marker = "fails when this part is not current. -->\n\n";
  auto at = doc.find(marker);
  REQUIRE(at != std::string::npos);
  // Regenerate with: (sed '/not current. -->/q' docs/cli.md; echo; logctl docs) > new
  CHECK(doc.substr(at + marker.size()) == r.out);
  // Every command has an example.
  CHECK(r.out.find("### `logctl cluster resume`") != std::string::npos);
  std::size_t commands = 0, examples = 0;
  for (std::size_t p = 0; (p = r.out.find("### `", p)) != std::string::npos; ++p) ++commands;
  for (std::size_t p = 0; (p = r.out.find("Example", p)) != std::string::npos; ++p) ++examples;
  CHECK(examples >= commands - 1);  // all but `logctl` itself
}

TEST_CASE("cli: text a node sends never reaches the terminal raw") {
  TempDir dir;
  LocalCluster c(1, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  auto ctx = json::parse(read_file(dir / "home/.config/logctl/config"))["contexts"]["local"];
  std::string server = ctx["server"], ca = ctx["ca"];
  httplib::Client api(server);
  api.set_ca_cert_path(ca.c_str());
  api.enable_server_certificate_verification(true);
  std::string enroll = read_file(c.data + "/controller/enroll.token");
  enroll.erase(enroll.find_last_not_of("\n") + 1);
  auto e = api.Post("/v1/nodes/enroll", {{"Authorization", "Bearer " + enroll}},
                    R"({"name":"evil"})", "application/json");
  REQUIRE(e);
  REQUIRE(e->status == 201);
  std::string token = json::parse(e->body)["token"];
  // Clear screen, window title, a clipboard write (OSC 52), a C1 CSI, a
  // forged table row.
  const std::string nasty =
      "\x1b[2J\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\xc2\x9b"
      "31m\r\nnode-9  RUNNING";
  json hb = {{"version", "0.1.0"},
             {"running", true},
             {"worker_up", true},
             {"listeners", {"tcp:" + nasty}},
             {"handover", {{"ok", false}, {"result", nasty}, {"reason", nasty}}},
             {"converge", {{"state", "failed"}, {"error", nasty}}}};
  auto h = api.Post("/v1/nodes/evil/heartbeat", {{"Authorization", "Bearer " + token}}, hb.dump(),
                    "application/json");
  REQUIRE(h);
  REQUIRE(h->status == 200);
  auto raw = [](const std::string& s) {
    return s.find('\x1b') != std::string::npos || s.find('\x07') != std::string::npos ||
           s.find('\r') != std::string::npos || s.find("\xc2\x9b") != std::string::npos ||
           s.find("\nnode-9") != std::string::npos;
  };
  for (const auto& args : std::vector<std::vector<std::string>>{{"node", "list"},
                                                                {"node", "show", "evil"},
                                                                {"cluster", "status"},
                                                                {"cluster", "history"}}) {
    auto r = c.logctl(args);
    INFO(describe(r));
    CHECK(r.rc == 0);
    CHECK(!raw(r.out));
    CHECK(!raw(r.err));
  }
  // JSON output stays exact JSON, its strings what the controller stored.
  auto j = c.logctl({"node", "show", "evil", "-o", "json"});
  REQUIRE(j.rc == 0);
  auto doc = j.doc();
  REQUIRE(doc.is_object());
  CHECK(!raw(doc["converge"]["error"].get<std::string>()));
}

TEST_CASE("cli: the contract: dry runs, plan tokens, exit codes and messages as docs/cli.md says") {
  TempDir dir;
  LocalCluster c(1, dir);
  INFO(describe(c.started));
  REQUIRE(c.started.rc == 0);
  auto& l = c.logctl;
  // A dry run whose checks fail exits 4, as the real run would, with no
  // token to apply.
  auto same = l({"cluster", "upgrade", "--to", version_of(agentd_bin()), "--dry-run"});
  INFO(describe(same));
  CHECK(same.rc == 4);
  CHECK_THAT(same.err, Catch::Contains("semver_policy"));
  CHECK(same.out.find("plan token") == std::string::npos);
  CHECK(same.err.find("--plan-token") == std::string::npos);
  auto same_json =
      l({"cluster", "upgrade", "--to", version_of(agentd_bin()), "--dry-run", "-o", "json"});
  CHECK(same_json.rc == 4);
  CHECK(same_json.doc()["exit_code"] == 4);
  CHECK(same_json.doc()["error"]["code"] == "checks_failed");
  // A plan approved with its token runs with the strategy it showed.
  auto pushed = l({"release", "push", agentd_build("agentd-next"), "-o", "json"});
  REQUIRE(pushed.rc == 0);
  std::string next = pushed.doc()["version"];
  auto plan =
      l({"cluster", "upgrade", "--to", next, "--batch-size", "1", "--dry-run", "-o", "json"});
  REQUIRE(plan.rc == 0);
  std::string token = plan.doc()["plan"]["plan_token"];
  // The token covers the strategy: other flags are another plan.
  CHECK(l({"cluster", "upgrade", "--to", next, "--batch-size", "2", "--plan-token", token}).rc ==
        7);
  CHECK(l({"cluster", "upgrade", "--to", next, "--batch-size", "1", "--plan-token", token}).rc ==
        0);
  auto changed = l({"cluster", "resume", "--canary", "1", "--batch-size", "2"});
  CHECK(changed.rc == 7);
  CHECK_THAT(changed.err, Catch::Contains("batch_size 1 -> 2"));
  CHECK(l({"cluster", "abort"}).rc == 7);  // nothing began
  // Releases: one in use is kept, naming why; one no one needs is deleted, its bytes too.
  auto in_use = l({"release", "delete", next});
  CHECK(in_use.rc == 7);
  CHECK_THAT(in_use.err, Catch::Contains("target version"));
  auto spare = l({"release", "push", agentd_build("agentd-broken-exit"), "-o", "json"});
  REQUIRE(spare.rc == 0);
  std::string sha = spare.doc()["sha256"];
  REQUIRE(::access((c.data + "/controller/artifacts/" + sha).c_str(), F_OK) == 0);
  auto gone = l({"release", "delete", spare.doc()["version"], "-o", "json"});
  CHECK(gone.rc == 0);
  CHECK(gone.doc()["artifact_removed"] == true);
  CHECK(::access((c.data + "/controller/artifacts/" + sha).c_str(), F_OK) != 0);
  CHECK(l({"release", "delete", spare.doc()["version"]}).rc == 8);
  // A token file that cannot be read is a local I/O error (1), not "not found" (8).
  auto no_file = l({"cluster", "status", "--token-file", dir / "nope.token"});
  CHECK(no_file.rc == 1);
  CHECK_THAT(no_file.err, Catch::Contains("nope.token"));
  // 404s say what is missing and what to do.
  auto nosuch = l({"node", "show", "nosuch"});
  CHECK(nosuch.rc == 8);
  CHECK_THAT(nosuch.err, Catch::Contains("no node 'nosuch' is enrolled") &&
                             Catch::Contains("logctl node list"));
  // A binary that is not agentd is named as such, before any upload.
  auto not_agentd = l({"release", "push", "/bin/true"});
  CHECK(not_agentd.rc == 4);
  CHECK_THAT(not_agentd.err, Catch::Contains("is it an agentd binary"));
  // `config apply --dry-run` stores nothing.
  auto before = l({"config", "list", "-o", "json"});
  write_file(dir / "new.conf", read_file(c.data + "/pipeline.conf") + "\n# changed\n");
  auto dry = l({"config", "apply", dir / "new.conf", "--dry-run"});
  CHECK(dry.rc == 0);
  CHECK_THAT(dry.out, Catch::Contains("+"));
  CHECK(l({"config", "list", "-o", "json"}).out == before.out);
  // Transport failures say what happened, not the library's enum name.
  auto refused = l({"cluster", "status", "--server", "https://127.0.0.1:1"});
  CHECK(refused.rc == 3);
  CHECK_THAT(refused.err, Catch::Contains("cannot connect"));
  CHECK(refused.err.find("Connection") == std::string::npos);
  // --request-timeout bounds the whole request: a stopped controller
  // (connection accepted by the kernel, nothing answered).
  long ctl = c.record().value("controller_pid", 0L);
  REQUIRE(ctl > 0);
  REQUIRE(::kill(static_cast<pid_t>(ctl), SIGSTOP) == 0);
  auto t0 = std::chrono::steady_clock::now();
  auto slow = l({"cluster", "status", "--request-timeout", "2"});
  auto took = std::chrono::steady_clock::now() - t0;
  ::kill(static_cast<pid_t>(ctl), SIGCONT);
  INFO(describe(slow));
  CHECK(slow.rc == 3);
  CHECK_THAT(slow.err, Catch::Contains("no answer within 2 s"));
  CHECK(took < 3500ms);
  // Contexts without hand-written JSON; a second local cluster does not take over.
  auto ctx = json::parse(read_file(dir / "home/.config/logctl/config"))["contexts"]["local"];
  CHECK(l({"context", "set", "prod", "--server", ctx["server"], "--ca", ctx["ca"], "--token-file",
           ctx["token_file"], "--use"})
            .rc == 0);
  auto list = l({"context", "list"});
  CHECK_THAT(list.out, Catch::Matches("[\\s\\S]*\n\\*\\s+prod\\s[\\s\\S]*"));
  CHECK(l({"cluster", "status"}).rc == 0);  // through the context `prod`
  CHECK(l({"context", "set", "bad", "--server", "ftp://x"}).rc == 2);
  CHECK(l({"context", "use", "nope"}).rc == 8);
  CHECK(l({"context", "use", "local"}).rc == 0);
  CHECK(l({"context", "use", "prod"}).rc == 0);
  auto doc = json::parse(read_file(dir / "home/.config/logctl/config"));
  CHECK(doc["current_context"] == "prod");
  CHECK(!doc["contexts"]["prod"].contains("token"));
  // A second local cluster does not take over the context in use.
  const std::string second = dir / "second";
  auto started = l({"cluster", "start", "--local", "--nodes", "1", "--data-dir", second, "--subnet",
                    "127.0." + std::to_string(10 + (::getpid() + 3) % 240)});
  INFO(describe(started));
  CHECK(started.rc == 0);
  CHECK_THAT(started.err, Catch::Contains("the current context stays 'prod'"));
  CHECK(json::parse(read_file(dir / "home/.config/logctl/config"))["current_context"] == "prod");
  CHECK(l({"cluster", "delete", "--local", "--data-dir", second}).rc == 0);
}

TEST_CASE("cli: a local cluster that fails to start leaves nothing running") {
  TempDir dir;
  Logctl l(dir);
  const std::string data = dir / "broken";
  // Nodes whose worker crashes at once never become ready.
  auto r = l({"cluster", "start", "--local", "--nodes", "2", "--data-dir", data,
              "--node-ready-timeout", "3s", "--up-timeout", "15s", "--subnet",
              "127.0." + std::to_string(10 + (::getpid() + 7) % 240), "--agentd",
              agentd_build("agentd-broken-crash")});
  INFO(describe(r));
  CHECK(r.rc != 0);
  CHECK_THAT(r.err, Catch::Contains("stopped"));
  // No process of this cluster is left: every command line naming its directory is gone.
  auto running = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = read_file(e.path() / "cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      if (cmd.find(data) != std::string::npos) ++n;
    }
    return n;
  };
  CHECK(wait_until([&] { return running() == 0; }, 15s));
  // The current context was not switched to a cluster that is not there.
  auto cfg = json::parse(read_file(dir / "home/.config/logctl/config"), nullptr, false);
  CHECK((cfg.is_discarded() || cfg.value("current_context", "") != "local"));
}
