// logctl-controller with real processes: the HTTPS API on loopback (tokens,
// bad requests, conflicts; hostile clients are controller_security_test's),
// and real agentd nodes that enrol, heartbeat and
// converge: an online upgrade under load with every numbered event counted,
// a release whose worker never becomes ready rolled back by itself, and a
// controller killed mid-rollout that finishes it after a restart.
#include <httplib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "support/fleet.h"
#include "support/harness.h"
#include "support/local_cluster.h"

using namespace logctl;
using namespace logctl::test;
using nlohmann::json;

TEST_CASE("controller: admin and enrolment tokens and the server certificate are rotated") {
  TempDir dir;
  Controller c(dir);
  std::string ctl = dir / "ctl";
  std::string old_admin = c.admin_token(), old_enroll = trim(read_file(c.enroll_file()));
  REQUIRE(c.get("/v1/cluster", old_admin).first == 200);
  // While it serves: the new token works at once, the old one is refused.
  REQUIRE(sh(controller_bin() + " rotate-token --data-dir " + ctl + " --kind admin > " +
             dir / "rot.out 2>&1") == 0);
  CHECK_THAT(read_file(dir / "rot.out"), Catch::Contains("1 old one(s) revoked"));
  CHECK(c.admin_token() != old_admin);
  CHECK(c.get("/v1/cluster", old_admin).first == 401);
  CHECK(c.get("/v1/cluster").first == 200);
  struct stat st {};
  REQUIRE(::stat((ctl + "/admin.token").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // The docs' spelling (enrolment); "enrollment" is accepted too.
  REQUIRE(sh(controller_bin() + " rotate-token --data-dir " + ctl + " --kind enrolment > " +
             dir / "rot.out 2>&1") == 0);
  std::string new_enroll = trim(read_file(c.enroll_file()));
  CHECK(c.post("/v1/nodes/enroll", R"({"name":"late"})", old_enroll).first == 401);
  CHECK(c.post("/v1/nodes/enroll", R"({"name":"late"})", new_enroll).first == 201);
  CHECK(sh(controller_bin() + " rotate-token --data-dir " + ctl +
           " --kind node > /dev/null 2>&1") != 0);
  // The certificate: re-issued from the same CA, used after a restart, and
  // clients that pin the CA do not notice.
  std::string old_cert = read_file(ctl + "/tls/server.pem");
  REQUIRE(sh(controller_bin() + " rotate-cert --data-dir " + ctl + " --san logs.example > " +
             dir / "rot.out 2>&1") == 0);
  CHECK(read_file(ctl + "/tls/server.pem") != old_cert);
  c.stop();
  c.start();
  CHECK(c.get("/v1/version").first == 200);
  CHECK(sh("openssl x509 -noout -ext subjectAltName -in " + ctl +
           "/tls/server.pem | grep -q logs.example") == 0);
  auto h = c.get("/v1/cluster/history?limit=20").second["history"];
  int rotations = 0;
  for (const auto& e : h) rotations += e["action"] == "token.rotate";
  CHECK(rotations == 2);
}

TEST_CASE(
    "controller: the API over HTTPS refuses bad tokens and bad requests and names conflicts") {
  TempDir dir;
  Controller c(dir);
  SECTION("tokens") {
    CHECK(c.get("/v1/cluster", "lct_admin_wrong").first == 401);
    auto r = c.client()->Get("/v1/cluster");
    REQUIRE(r);
    CHECK(r->status == 401);
    CHECK(json::parse(r->body)["error"]["code"] == "unauthenticated");
    std::string enroll = trim(read_file(c.enroll_file()));
    CHECK(c.get("/v1/cluster", enroll).first == 403);  // enrolment token: no admin
    auto [st, node] = c.post("/v1/nodes/enroll", R"({"name":"n1"})", enroll);
    REQUIRE(st == 201);
    std::string tok = node["token"];
    CHECK(c.post("/v1/nodes/n1/heartbeat", R"({"version":"0.1.0"})", tok).first == 200);
    CHECK(c.post("/v1/nodes/n2/heartbeat", R"({"version":"0.1.0"})", tok).first == 403);
    CHECK(c.get("/v1/cluster", tok).first == 403);
    // A second enrolment of a live name is refused; after revocation it works.
    CHECK(c.post("/v1/nodes/enroll", R"({"name":"n1"})", enroll).first == 409);
    CHECK(c.post("/v1/nodes/n1/revoke", "").first == 200);
    auto [st2, j2] = c.post("/v1/nodes/n1/heartbeat", R"({"version":"0.1.0"})", tok);
    CHECK(st2 == 401);
    CHECK(j2["error"]["message"] == "the token was revoked");
    CHECK(c.post("/v1/nodes/enroll", R"({"name":"n1"})", enroll).first == 201);
    // Tokens are stored hashed: the secret is nowhere in the database.
    CHECK(read_file(dir / "ctl/controller.db").find(tok) == std::string::npos);
    CHECK(read_file(dir / "ctl/controller.db").find(c.admin_token()) == std::string::npos);
  }
  SECTION("hostile and malformed requests") {
    std::string enroll = trim(read_file(c.enroll_file()));
    for (const char* name :
         {"n1'; DROP TABLE nodes;--", "../../etc/passwd", "", ".", "a/b", "x\nInjected: yes"}) {
      auto [st, j] = c.post("/v1/nodes/enroll", json{{"name", name}}.dump(), enroll);
      CHECK(st == 400);
      CHECK(j["error"]["code"] == "bad_request");
    }
    // A hostile label value is stored as a value.
    auto [st, j] = c.post("/v1/nodes/enroll",
                          R"({"name":"n9","labels":{"zone":"a');DELETE_FROM_nodes;--"}})", enroll);
    CHECK(st == 201);
    CHECK(c.get("/v1/nodes/n9").second["labels"]["zone"] == "a');DELETE_FROM_nodes;--");
    CHECK(c.post("/v1/cluster/upgrade", "{not json").first == 400);
    CHECK(c.post("/v1/cluster/upgrade", R"({"version":"1.0.0","bogus":1})").first == 400);
    CHECK(c.post("/v1/cluster/upgrade", R"({"version":"../../x"})").first == 400);
    CHECK(c.get("/v1/releases/..%2F..%2Fetc").first == 404);
    CHECK(c.get("/v1/nowhere").first == 404);
    // Oversized: refused from the Content-Length, before a byte of the body.
    auto big = c.raw("POST /v1/cluster/upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     c.admin_token() + "\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n");
    CHECK_THAT(big, Catch::StartsWith("HTTP/1.1 413") && Catch::Contains("payload_too_large"));
    // A body that stops short of its Content-Length: 408 when the request's time is up.
    auto cut = c.raw("POST /v1/cluster/start HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     c.admin_token() + "\r\nContent-Length: 100\r\n\r\n{\"a\"");
    CHECK_THAT(cut, Catch::StartsWith("HTTP/1.1 408") && Catch::Contains("request_timeout"));
    auto no_length = c.raw("POST /v1/cluster/start HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           c.admin_token() + "\r\nConnection: close\r\n\r\n");
    CHECK_THAT(no_length, Catch::StartsWith("HTTP/1.1 411") && Catch::Contains("length_required"));
    CHECK(c.get("/v1/version").first == 200);
    CHECK(c.cluster()["cluster"]["state"] == "stopped");
  }
  SECTION("illegal transitions are conflicts naming the state and what is legal") {
    auto [st, j] = c.post("/v1/cluster/resume", "");
    CHECK(st == 409);
    CHECK(j["error"]["details"]["state"] == "stopped");
    CHECK(j["error"]["details"]["legal_commands"] == json::array({"start", "upgrade"}));
    CHECK(c.post("/v1/cluster/start", "").first == 200);
    CHECK(c.post("/v1/cluster/start", "").first == 409);
    auto h = c.get("/v1/cluster/history").second["history"];
    REQUIRE(h.size() >= 3);
    CHECK(h[0]["outcome"].get<std::string>().starts_with("refused"));
    CHECK(h[1]["action"] == "start");
    CHECK(h[1]["outcome"] == "accepted");
  }
  SECTION("the CA is pinned: a client trusting another CA cannot talk to it") {
    httplib::Client other(c.url());
    other.set_ca_cert_path("/etc/ssl/certs/ca-certificates.crt");
    other.enable_server_certificate_verification(true);
    auto r = other.Get("/v1/version");
    CHECK_FALSE(r);
  }
}

TEST_CASE(
    "controller: three real nodes upgraded online under load with zero loss and a stale plan "
    "refused") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  std::string next = push(c, "agentd-next");
  CHECK(next == std::string(LOGCTL_NEXT_PATCH) + "-next");

  // A dry run's plan token is refused once the cluster changed; a fresh one applies.
  const json strategy = {{"batch_size", 1}, {"min_healthy_time_ms", 1000}};
  auto dry_run = [&] {
    auto [st, j] =
        c.post("/v1/cluster/upgrade",
               json{{"version", next}, {"dry_run", true}, {"strategy", strategy}}.dump());
    REQUIRE(st == 200);
    return j["plan"];
  };
  auto old_plan = dry_run();
  for (const auto& ch : old_plan["checks"]) CHECK(ch["outcome"] == "passed");
  CHECK(old_plan["batches"].size() == 3);
  start_cluster(c, 3);
  auto [s1, j1] =
      c.post("/v1/cluster/upgrade",
             json{{"version", next}, {"plan_token", old_plan["plan_token"]}, {"strategy", strategy}}
                 .dump());
  CHECK(s1 == 409);
  CHECK(j1["error"]["code"] == "stale_plan");
  auto plan = dry_run();
  CHECK(plan["plan_token"] != old_plan["plan_token"]);

  NodeTraffic traffic(nodes);
  REQUIRE(wait_until([&] { return traffic.sent() > 20000; }));
  auto [ust, uj] = c.post(
      "/v1/cluster/upgrade",
      json{{"version", next}, {"plan_token", plan["plan_token"]}, {"strategy", strategy}}.dump());
  INFO(uj.dump());
  REQUIRE(ust == 200);
  // The approved plan runs as it was shown: a resume changing its strategy is refused.
  auto [cst, cj] = c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":2,"canary":1}})");
  CHECK(cst == 409);
  CHECK_THAT(cj["error"]["message"].get<std::string>(),
             Catch::Contains("batch_size 1 -> 2") && Catch::Contains("canary 0 -> 1"));
  auto [rst, rj] = c.post("/v1/cluster/resume", "");
  REQUIRE(rst == 200);
  bool done = cluster_on(c, next);
  auto status = c.cluster();
  INFO(status.dump(2));
  REQUIRE(done);
  CHECK(status["rollout"]["state"] == "succeeded");
  for (const auto& s : status["rollout"]["steps"]) {
    CHECK(s["state"] == "done");
    CHECK(s["report"]["handover"]["result"] == "committed");
    // What crossed each node's handover: its one long-lived sender connection.
    CHECK(s["report"]["handover"]["connections_handed_over"] == 1);
    CHECK(s["report"]["handover"].contains("events_through_spool"));
  }
  for (const auto& n : nodes) CHECK(node_version(c, n.name) == next);

  // The same version again: refused without force; with force (CI re-running
  // a deploy) every node hands over to what it runs, under the same load.
  std::map<std::string, std::int64_t> generation;
  for (const auto& n : nodes)
    generation[n.name] = c.get("/v1/nodes/" + n.name).second["generation"];
  CHECK(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 422);
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}, {"force", true}}.dump()).first ==
          200);
  auto [r2, rj2] =
      c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":2,"min_healthy_time_ms":500}})");
  REQUIRE(r2 == 200);
  std::int64_t again = rj2["rollout"];
  REQUIRE(wait_until(
      [&] {
        auto r = c.get("/v1/rollouts/" + std::to_string(again)).second;
        return r.value("state", "") != "running";
      },
      120s));
  auto rerun = c.get("/v1/rollouts/" + std::to_string(again)).second;
  INFO(rerun.dump(2));
  CHECK(rerun["state"] == "succeeded");
  CHECK(rerun["forced"] == true);
  for (const auto& s : rerun["steps"]) {
    CHECK(s["state"] == "done");
    CHECK(s["report"]["handover"]["result"] == "committed");
  }
  for (const auto& n : nodes) {
    auto j = c.get("/v1/nodes/" + n.name).second;
    CHECK(j["version"] == next);
    CHECK(j["generation"].get<std::int64_t>() > generation[n.name]);
  }

  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
  auto h = c.get("/v1/cluster/history?limit=50").second["history"];
  bool succeeded = false, forced = false;
  for (const auto& e : h) {
    succeeded = succeeded || e["action"] == "rollout.succeeded";
    forced = forced || (e["action"] == "upgrade" && e["forced"] == true);
  }
  CHECK(succeeded);
  CHECK(forced);
}

TEST_CASE(
    "controller: a release whose worker never becomes ready is rolled back by itself with zero "
    "loss") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  std::string bad = push(c, "agentd-broken-hang");
  NodeTraffic traffic(nodes);
  REQUIRE(wait_until([&] { return traffic.sent() > 20000; }));
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", bad}}.dump()).first == 200);
  REQUIRE(
      c.post(
           "/v1/cluster/resume",
           R"({"strategy":{"canary":1,"batch_size":2,"min_healthy_time_ms":500,"healthy_deadline_ms":30000}})")
          .first == 200);
  bool back = wait_until([&] { return c.cluster()["rollout"]["state"] == "rolled_back"; }, 120s);
  auto status = c.cluster();
  INFO(status.dump(2));
  REQUIRE(back);
  CHECK(status["cluster"]["state"] == "running");
  CHECK(status["cluster"]["current_version"] == LOGCTL_VERSION);
  std::string reason = status["rollout"]["reason"];
  CHECK_THAT(reason, Catch::Contains("node-") && Catch::Contains("gate handover") &&
                         Catch::Contains("batch 1"));
  int untouched = 0;
  for (const auto& s : status["rollout"]["steps"]) untouched += s["state"] == "pending";
  CHECK(untouched == 2);  // the canary failed: nothing else moved
  for (const auto& n : nodes) CHECK(node_version(c, n.name) == LOGCTL_VERSION);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE("controller: killed with -9 mid-rollout and restarted it finishes the rollout") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  std::string next = push(c, "agentd-next");
  NodeTraffic traffic(nodes);
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  REQUIRE(
      c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":1,"min_healthy_time_ms":1500}})")
          .first == 200);
  // Once the first node has moved, the controller dies without warning.
  REQUIRE(wait_until([&] { return node_version(c, "node-1") == next; }, 60s));
  c.kill9();
  // The nodes keep serving while it is gone.
  long before = traffic.sent();
  REQUIRE(wait_until([&] { return traffic.sent() > before + 5000; }));
  c.start();
  bool done = cluster_on(c, next);
  INFO(c.cluster().dump(2));
  REQUIRE(done);
  for (const auto& n : nodes) CHECK(node_version(c, n.name) == next);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE(
    "controller: offline path shutdown then upgrade then resume brings nodes back on the new "
    "version") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2);
  start_cluster(c, 2);
  std::string next = push(c, "agentd-next");
  long seq = 0;
  auto send_batch = [&](int port, int n) {
    TcpSender s(port);
    std::string data;
    for (int i = 0; i < n; ++i) data += "seq=" + std::to_string(++seq) + " x\n";
    REQUIRE(s.send(data));
    return s.finish();
  };
  for (const auto& n : nodes) CHECK(send_batch(n.port, 5000));
  REQUIRE(c.post("/v1/cluster/shutdown", "").first == 200);
  REQUIRE(wait_until([&] {
    auto j = c.get("/v1/nodes").second;
    for (const auto& n : j["nodes"]) {
      if (n["running"].get<bool>()) return false;
    }
    return true;
  }));
  // Stopped: the supervisor keeps the listeners, so a sender's connection is
  // accepted by the kernel and its data waits there for the next worker.
  TcpSender waiting(nodes[0].port);
  REQUIRE(waiting.connected());
  std::string held;
  for (int i = 0; i < 1000; ++i) held += "seq=" + std::to_string(++seq) + " x\n";
  REQUIRE(waiting.send(held));
  auto [ust, uj] = c.post("/v1/cluster/upgrade", json{{"version", next}}.dump());
  INFO(uj.dump());
  REQUIRE(ust == 200);
  REQUIRE(c.post("/v1/cluster/resume", "").first == 200);
  CHECK(c.cluster()["cluster"]["state"] == "running");
  REQUIRE(wait_until(
      [&] {
        auto j = c.get("/v1/nodes").second;
        for (const auto& n : j["nodes"]) {
          if (n["version"] != next || !n["worker_up"].get<bool>()) return false;
        }
        return true;
      },
      60s));
  CHECK(waiting.finish());
  for (const auto& n : nodes) CHECK(send_batch(n.port, 5000));
  expect_all_delivered(dir, nodes, seq);
  CHECK_FALSE(c.cluster().contains("rollout"));  // the offline path needs no rollout
}

TEST_CASE("controller: stopped for 15 s the nodes keep serving and reconverge when it is back") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2);
  start_cluster(c, 2);
  std::string next = push(c, "agentd-next");
  NodeTraffic traffic(nodes);
  c.stop();
  auto down_until = std::chrono::steady_clock::now() + 15s;
  long before = traffic.sent();
  // Not a fixed sleep: the condition is "15 s have passed with events still flowing"
  // (several failed heartbeats and backoff steps of every node).
  REQUIRE(wait_until([&] { return std::chrono::steady_clock::now() >= down_until; }, 25s));
  CHECK(traffic.sent() > before + 100000);  // events flowed all the while
  c.start();
  REQUIRE(wait_until([&] { return c.cluster()["nodes"]["connected"] == 2; }, 30s));
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  REQUIRE(c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":2,"min_healthy_time_ms":500}})")
              .first == 200);
  REQUIRE(wait_until([&] { return c.cluster()["cluster"]["current_version"] == next; }, 60s));
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE("controller: a config revision is rolled out to every node under load with zero loss") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2, /*env_wrapper=*/true);
  start_cluster(c, 2);
  const std::string fleet_config = kFleetConfig;  // one config for every node
  // A config the release cannot run is refused before anything moves.
  auto [bst, bj] = c.post("/v1/configs", "<source>\n  @type kafka\n  tag t\n</source>\n");
  CHECK(bst == 422);
  CHECK(bj["error"]["code"] == "invalid_config");
  auto [cst, cj] = c.post("/v1/configs", fleet_config);
  INFO(cj.dump());
  REQUIRE(cst == 201);
  std::int64_t rev = cj["revision"];
  NodeTraffic traffic(nodes);
  REQUIRE(wait_until([&] { return traffic.sent() > 20000; }));
  auto [dst, dj] = c.post("/v1/cluster/upgrade", json{{"config", rev}, {"dry_run", true}}.dump());
  REQUIRE(dst == 200);
  CHECK_FALSE(dj["plan"]["config_diff"].empty());
  auto [ust, uj] = c.post("/v1/cluster/upgrade", json{{"config", rev}}.dump());
  INFO(uj.dump());
  REQUIRE(ust == 200);
  REQUIRE(c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":1,"min_healthy_time_ms":500}})")
              .first == 200);
  bool done = wait_until(
      [&] {
        auto j = c.cluster();
        return j["cluster"]["state"] == "running" && j["cluster"]["current_config"] == rev;
      },
      120s);
  auto status = c.cluster();
  INFO(status.dump(2));
  REQUIRE(done);
  CHECK(status["rollout"]["state"] == "succeeded");
  json after = c.get("/v1/nodes").second;
  for (const auto& n : after["nodes"]) CHECK(n["config_revision"] == rev);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE("controller: a node configured by <system> alone enrols with its name and labels") {
  TempDir dir;
  Controller c(dir);
  int port = free_port();
  std::string system = "<system>\n  controller " + c.url() + "\n  controller_ca " + c.ca() +
                       "\n  enroll_token_file " + c.enroll_file() +
                       "\n  node_name from-system\n  node_labels rack=r9,zone=z1\n</system>\n";
  Agent agent(system + node_config(dir, "from-system", port), dir, "from-system");
  REQUIRE(agent.ready());
  REQUIRE(wait_until([&] { return c.get("/v1/nodes/from-system").first == 200; }));
  auto node = c.get("/v1/nodes/from-system").second;
  CHECK(node["labels"] == json{{"rack", "r9"}, {"zone", "z1"}});
  CHECK(wait_until([&] { return c.get("/v1/nodes/from-system").second["connected"] == true; }));
}

TEST_CASE(
    "controller: pause holds a rollout between batches and abort leaves nodes where they are") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 3);
  start_cluster(c, 3);
  std::string next = push(c, "agentd-next");
  auto step_state = [&](const std::string& node) {
    json status = c.cluster();
    for (const auto& s : status["rollout"]["steps"]) {
      if (s["node"] == node) return s["state"].get<std::string>();
    }
    return std::string();
  };
  // Two heartbeats of `node` seen by the controller: time passed, observed.
  auto two_heartbeats = [&](const std::string& node) {
    std::int64_t first = c.get("/v1/nodes/" + node).second["last_heartbeat"];
    std::int64_t seen = first;
    int beats = 0;
    return wait_until([&] {
      std::int64_t now = c.get("/v1/nodes/" + node).second["last_heartbeat"];
      if (now != seen) ++beats, seen = now;
      return beats >= 2;
    });
  };
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  REQUIRE(
      c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":1,"min_healthy_time_ms":1000}})")
          .first == 200);
  REQUIRE(wait_until(
      [&] { return step_state("node-1") == "moving" || step_state("node-1") == "settling"; }));
  auto [pst, pj] = c.post("/v1/cluster/pause", "");
  REQUIRE(pst == 200);
  CHECK(pj["cluster"]["state"] == "paused");
  // The batch in flight finishes its gate; the next one does not start.
  REQUIRE(wait_until([&] { return step_state("node-1") == "done"; }, 60s));
  REQUIRE(two_heartbeats("node-2"));
  CHECK(step_state("node-2") == "pending");
  CHECK(node_version(c, "node-2") == LOGCTL_VERSION);
  CHECK(c.cluster()["rollout"]["state"] == "paused");
  // Abort: the rollout ends, node-1 keeps the new version, the others the old.
  auto [ast, aj] = c.post("/v1/cluster/abort", "");
  REQUIRE(ast == 200);
  CHECK(aj["cluster"]["state"] == "running");
  CHECK(aj["cluster"]["current_version"] == LOGCTL_VERSION);
  REQUIRE(two_heartbeats("node-1"));
  CHECK(c.cluster()["rollout"]["state"] == "aborted");
  CHECK(node_version(c, "node-1") == next);
  CHECK(node_version(c, "node-2") == LOGCTL_VERSION);
  CHECK(node_version(c, "node-3") == LOGCTL_VERSION);
  auto h = c.get("/v1/cluster/history?limit=20").second["history"];
  bool paused = false, aborted = false;
  for (const auto& e : h) {
    paused = paused || (e["action"] == "pause" && e["outcome"] == "accepted");
    aborted = aborted || (e["action"] == "abort" && e["outcome"] == "accepted");
  }
  CHECK(paused);
  CHECK(aborted);
}

TEST_CASE("controller: a new controller adopts a running fleet: enrolment stops no node's worker") {
  TempDir dir;
  Controller c(dir);
  CHECK(c.cluster()["cluster"]["adopting"] == true);
  // start_nodes waits until every node is enrolled, connected and (the
  // cluster adopting) running.
  auto nodes = start_nodes(dir, c, 2);
  // Several heartbeats answered: each would have stopped a worker before.
  std::int64_t since = oldest_heartbeat(c);
  REQUIRE(wait_until([&] { return oldest_heartbeat(c) > since + 1000; }, 30s));
  NodeTraffic traffic(nodes);
  REQUIRE(wait_until([&] { return traffic.sent() > 5000; }));
  for (auto& n : nodes) {
    json st = json::parse(n.agent->control(R"({"op":"status"})"), nullptr, false);
    CHECK(st["state"] == "running");
    CHECK(st["generation"] == 1);
    CHECK_THAT(read_file(dir / (n.name + ".log")), !Catch::Contains("stopping the worker"));
  }
  CHECK(c.cluster()["cluster"]["state"] == "stopped");
  // start ends the adoption; the nodes keep what they run (no handover).
  REQUIRE(c.post("/v1/cluster/start", "").first == 200);
  CHECK(c.cluster()["cluster"]["adopting"] == false);
  REQUIRE(wait_until([&] { return c.cluster()["nodes"]["healthy"] == 2; }, 30s));
  for (auto& n : nodes) {
    json st = json::parse(n.agent->control(R"({"op":"status"})"), nullptr, false);
    CHECK(st["generation"] == 1);
  }
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE(
    "controller: clients verify the host in the certificate on every connection, and rotate-cert "
    "keeps the names init gave") {
  TempDir dir;
  // Listening on 127.0.0.2, which the certificate does not name (it names
  // 127.0.0.3 from init, and localhost, 127.0.0.1, ::1).
  Controller c(dir, "127.0.0.2", "--san 127.0.0.3 --san ctl.test");
  std::string ctl = dir / "ctl";
  Logctl logctl(dir);
  std::map<std::string, std::string> env = {
      {"LOGCTL_SERVER", c.url()}, {"LOGCTL_CA", c.ca()}, {"LOGCTL_TOKEN", c.admin_token()}};
  // Before: the HTTP library's IP check read uninitialised memory, and some
  // of these completed TLS and sent the token.
  for (int i = 0; i < 20; ++i) {
    Run r = logctl({"cluster", "status"}, env);
    INFO("attempt " << i << ": " << describe(r));
    CHECK(r.rc == 3);
    CHECK_THAT(r.err + r.out, Catch::Contains("certificate") || Catch::Contains("IP address"));
  }
  // A node pointed there never sends its enrolment token, and says it is TLS.
  int port = free_port();
  Agent node(node_config(dir, "n", port), dir, "n",
             {"--controller", c.url(), "--controller-ca", c.ca(), "--enroll-token-file",
              c.enroll_file(), "--node-name", "n"});
  REQUIRE(node.ready());
  auto attempts = [&] {
    std::string log = read_file(dir / "n.log");
    std::size_t n = 0;
    for (std::size_t p = 0;
         (p = log.find("enrol: cannot reach the controller (TLS", p)) != std::string::npos; ++p) {
      ++n;
    }
    return n;
  };
  CHECK(wait_until([&] { return attempts() >= 3; }, 60s));
  CHECK(c.get("/v1/nodes").second["nodes"].empty());
  // rotate-cert without --san keeps 127.0.0.3 and ctl.test; with one it adds.
  REQUIRE(sh(controller_bin() + " rotate-cert --data-dir " + ctl + " > " + dir / "rot.out 2>&1") ==
          0);
  std::string names = dir / "names";
  sh("openssl x509 -noout -ext subjectAltName -in " + ctl + "/tls/server.pem > " + names);
  CHECK_THAT(read_file(names), Catch::Contains("127.0.0.3") && Catch::Contains("ctl.test"));
  REQUIRE(sh(controller_bin() + " rotate-cert --data-dir " + ctl + " --san 127.0.0.2 > " +
             dir / "rot.out 2>&1") == 0);
  c.stop();
  c.start();
  sh("openssl x509 -noout -ext subjectAltName -in " + ctl + "/tls/server.pem > " + names);
  CHECK_THAT(read_file(names), Catch::Contains("127.0.0.3") && Catch::Contains("127.0.0.2"));
  Run ok = logctl({"cluster", "status"}, env);
  INFO(describe(ok));
  CHECK(ok.rc == 0);
  CHECK(wait_until([&] { return c.get("/v1/nodes").second["nodes"].size() == 1; }, 60s));
}

TEST_CASE(
    "controller: a restored backup holds the fleet until resume re-converges it in gated "
    "batches, and a data dir that is not 0700 is refused") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2);
  start_cluster(c, 2);
  std::string next = push(c, "agentd-next");
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  const std::string quick = R"({"strategy":{"batch_size":2,"min_healthy_time_ms":500}})";
  REQUIRE(c.post("/v1/cluster/resume", quick).first == 200);
  REQUIRE(cluster_on(c, next));
  // The backup says: the fleet runs next.
  std::string db = dir / "ctl/controller.db", backup = dir / "backup.db";
  REQUIRE(sh("sqlite3 " + db + " \".backup " + backup + "\"") == 0);  // docs/operations.md
  // Then the fleet moves on (back to the version before), and the database is lost.
  REQUIRE(c.post("/v1/cluster/rollback", quick).first == 200);
  REQUIRE(cluster_on(c, LOGCTL_VERSION));
  std::int64_t told = c.cluster()["cluster"]["revision"];
  NodeTraffic traffic(nodes);
  // Restore: stop, put the old database back, start.
  c.stop();
  REQUIRE(sh("cp " + backup + " " + db + " && rm -f " + db + "-wal " + db + "-shm") == 0);
  c.start();
  REQUIRE(wait_until([&] { return c.cluster()["cluster"].contains("held"); }, 30s));
  json held = c.cluster();
  INFO(held.dump(2));
  CHECK_THAT(held["cluster"]["held"].get<std::string>(), Catch::Contains("restored"));
  CHECK(held["cluster"]["current_version"] == next);  // what the backup says
  // Nothing moves: several heartbeats later every node still runs next.
  std::int64_t since = oldest_heartbeat(c);
  REQUIRE(wait_until([&] { return oldest_heartbeat(c) > since + 2000; }, 30s));
  for (const auto& n : nodes) CHECK(node_version(c, n.name) == LOGCTL_VERSION);
  auto refused = c.post("/v1/cluster/rollback", "");
  CHECK(refused.first == 409);
  CHECK(refused.second["error"]["code"] == "held");
  bool noted = false;
  json history = c.get("/v1/cluster/history?limit=20").second;
  for (const auto& e : history["history"]) noted = noted || e["action"] == "restore.detected";
  CHECK(noted);
  // resume: a gated rollout from what each node runs to the cluster's pair.
  auto [rst, rj] =
      c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":1,"min_healthy_time_ms":500}})");
  INFO(rj.dump());
  REQUIRE(rst == 200);
  REQUIRE(wait_until([&] { return c.cluster()["rollout"]["state"] == "succeeded"; }, 120s));
  json after = c.cluster();
  INFO(after.dump(2));
  CHECK(after["cluster"]["state"] == "running");
  CHECK(after["cluster"]["current_version"] == next);
  CHECK_FALSE(after["cluster"].contains("held"));
  CHECK(after["cluster"]["revision"].get<std::int64_t>() > told);
  for (const auto& n : nodes) CHECK(node_version(c, n.name) == next);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
  // A data directory restored with a wider mode is refused, naming the fix.
  c.stop();
  REQUIRE(::chmod((dir / "ctl").c_str(), 0750) == 0);
  Process serve({controller_bin(), "serve", "--data-dir", dir / "ctl", "--listen", "127.0.0.1:0"},
                dir / "serve.log");
  CHECK(serve.wait(20s) == 1);
  CHECK_THAT(read_file(dir / "serve.log"),
             Catch::Contains("mode 0700") && Catch::Contains("chmod 0700"));
}

TEST_CASE(
    "controller: rollback returns to the (version, config) pair as one, and after an abort to "
    "the aborted rollout's source") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 2, /*env_wrapper=*/true);
  start_cluster(c, 2);
  const std::string quick = R"({"strategy":{"batch_size":2,"min_healthy_time_ms":300}})";
  auto roll = [&](const json& upgrade) {
    auto [st, j] = c.post("/v1/cluster/upgrade", upgrade.dump());
    INFO(j.dump());
    REQUIRE(st == 200);
    REQUIRE(c.post("/v1/cluster/resume", quick).first == 200);
    REQUIRE(wait_until([&] { return c.cluster()["rollout"]["state"] == "succeeded"; }, 60s));
  };
  auto runs = [&](const std::string& version, std::int64_t config) {
    return wait_until(
        [&] {
          json all = c.get("/v1/nodes").second;
          for (const auto& n : all["nodes"]) {
            if (n["version"] != version || n["config_revision"] != config) return false;
          }
          return true;
        },
        60s);
  };
  std::string next = push(c, "agentd-next");
  auto [c1s, c1] = c.post("/v1/configs", kFleetConfig);
  auto [c2s, c2] = c.post("/v1/configs", kFleetConfig + "# the second revision\n");
  REQUIRE(c1s == 201);
  REQUIRE(c2s == 201);
  std::int64_t r1 = c1["revision"], r2 = c2["revision"];
  roll({{"version", std::string(LOGCTL_VERSION)}, {"config", r1}, {"force", true}});
  roll({{"config", r2}});     // config only
  roll({{"version", next}});  // version only
  REQUIRE(runs(next, r2));
  // Back to what ran before the last rollout: this version with rev 2, not
  // rev 1 from two rollouts earlier.
  auto [bst, bj] = c.post("/v1/cluster/rollback", quick);
  INFO(bj.dump());
  REQUIRE(bst == 200);
  CHECK(bj["rollback_to"] == json{{"version", LOGCTL_VERSION}, {"config", r2}});
  REQUIRE(wait_until([&] { return c.cluster()["rollout"]["state"] == "succeeded"; }, 60s));
  CHECK(runs(LOGCTL_VERSION, r2));
  // An aborted rollout leaves the fleet split; rollback returns every node
  // to that rollout's source, not to the pair before it.
  REQUIRE(c.post("/v1/cluster/upgrade", json{{"version", next}}.dump()).first == 200);
  REQUIRE(
      c.post("/v1/cluster/resume", R"({"strategy":{"batch_size":1,"min_healthy_time_ms":60000}})")
          .first == 200);
  REQUIRE(wait_until([&] { return node_version(c, "node-1") == next; }, 60s));
  REQUIRE(c.post("/v1/cluster/abort", "").first == 200);
  CHECK(node_version(c, "node-2") == LOGCTL_VERSION);
  auto [ast, aj] = c.post("/v1/cluster/rollback", quick);
  INFO(aj.dump());
  REQUIRE(ast == 200);
  CHECK(aj["rollback_to"] == json{{"version", LOGCTL_VERSION}, {"config", r2}});
  REQUIRE(wait_until([&] { return c.cluster()["rollout"]["state"] == "succeeded"; }, 60s));
  CHECK(runs(LOGCTL_VERSION, r2));
}
