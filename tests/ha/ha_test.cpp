// Several controllers on one PostgreSQL (ctest -L ha, release build): three
// logctl-controller processes on a database of a real PostgreSQL server
// (support/pg_server.h), agentd nodes that know all three
// (--controller URL1,URL2,URL3) under numbered load, and the faults a
// control plane on several hosts meets — the leader killed with -9 in each
// rollout step state, the leader stopped past its lease and woken, the
// database restarted mid-rollout. Each ends with the outcome the rollout
// would have had without the fault, a new leader within kFailoverBound, one
// leader per term in the history, and every event delivered once.
#include <signal.h>

#include <catch2/catch.hpp>

#include "support/fleet.h"
#include "support/harness.h"
#include "support/local_cluster.h"
#include "support/pg_server.h"

using namespace logctl;
using namespace logctl::test;
using nlohmann::json;

namespace {

constexpr int kLeaseMs = 3000;
// A node that was heartbeating to a leader stopped mid-answer moves on after
// its heartbeat's 2 s read timeout: well inside this.
constexpr int kNodeTimeoutMs = 5000;
// From the leader's death to another controller leading: its lease (3 s)
// plus a follower's next try (a sixth of it), with room for a loaded machine.
constexpr auto kFailoverBound = 10s;
constexpr auto kRolloutBound = 90s;  // from a fault to the rollout's end

// Three controllers on one fresh database; what start_nodes() and the
// fleet helpers ask of a controller, answered by whichever leads.
class Ha {
 public:
  explicit Ha(const TempDir& dir) : pg_(PgServer::shared()) {
    INFO(pg_.error());
    REQUIRE(pg_.ready());
    std::string conninfo = pg_.fresh_database();
    std::vector<std::string> serve = {"--node-timeout-ms", std::to_string(kNodeTimeoutMs),
                                      "--lease-ttl-ms", std::to_string(kLeaseMs)};
    c_.push_back(
        std::make_unique<Controller>(dir, "127.0.0.1", "--store " + shell_quote(conninfo), serve));
    for (int i = 2; i <= 3; ++i) {
      c_.push_back(std::make_unique<Controller>(dir, "ctl-" + std::to_string(i), *c_[0], serve));
    }
    REQUIRE(wait_leader(kFailoverBound) >= 0);
  }

  PgServer& pg() { return pg_; }
  Controller& at(int i) { return *c_[static_cast<std::size_t>(i)]; }
  std::string url() const {
    std::string out;
    for (const auto& c : c_) out += (out.empty() ? "" : ",") + c->url();
    return out;
  }
  std::string ca() const { return c_[0]->ca(); }
  std::string enroll_file() const { return c_[0]->enroll_file(); }
  std::string admin_token() const { return c_[0]->admin_token(); }

  // The controller whose /readyz says it leads (-1: none now).
  int leader() const {
    for (std::size_t i = 0; i < c_.size(); ++i) {
      if (!c_[i]->running()) continue;
      auto cl = c_[i]->client();
      cl->set_connection_timeout(1, 0);
      cl->set_read_timeout(2, 0);
      auto r = cl->Get("/readyz?role=leader");
      if (r && r->status == 200) return static_cast<int>(i);
    }
    return -1;
  }
  int wait_leader(std::chrono::milliseconds limit, int not_this = -1) const {
    int found = -1;
    wait_until(
        [&] {
          found = leader();
          return found >= 0 && found != not_this;
        },
        limit);
    return found != not_this ? found : -1;
  }
  // Reads: from the leader (its view of the nodes is the freshest), else
  // from any controller that runs (followers read the database).
  const Controller& reader() const {
    int l = leader();
    if (l >= 0) return *c_[static_cast<std::size_t>(l)];
    for (const auto& c : c_) {
      if (c->running()) return *c;
    }
    return *c_[0];
  }
  std::pair<int, json> get(const std::string& path) const { return reader().get(path); }
  json cluster() const { return get("/v1/cluster").second; }
  // Writes go to the leader (waiting out a failover).
  std::pair<int, json> post(const std::string& path, const std::string& body) const {
    int l = wait_leader(kFailoverBound);
    if (l < 0) return {0, json()};
    return c_[static_cast<std::size_t>(l)]->post(path, body);
  }
  std::pair<int, json> push(const std::string& binary) const {
    int l = wait_leader(kFailoverBound);
    if (l < 0) return {0, json()};
    return c_[static_cast<std::size_t>(l)]->push(binary);
  }

  // kill -9 of the leader; how long until another one leads (kFailoverBound
  // + 1 s when none did). The killed one is started again, as its unit
  // would, once another leads: it follows.
  std::chrono::milliseconds kill_leader() {
    int l = wait_leader(kFailoverBound);
    REQUIRE(l >= 0);
    auto t0 = std::chrono::steady_clock::now();
    at(l).kill9();
    int next = wait_leader(kFailoverBound + 5s, l);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    if (next < 0) return std::chrono::duration_cast<std::chrono::milliseconds>(kFailoverBound) + 1s;
    at(l).start();
    return took;
  }

  // Every controller.lead entry of the history, oldest first: {term, holder}.
  std::vector<std::pair<std::int64_t, std::string>> leads() const {
    std::vector<std::pair<std::int64_t, std::string>> out;
    json doc = get("/v1/cluster/history?limit=10000").second;
    for (const auto& h : doc["history"]) {
      if (h["action"] == "controller.lead") {
        out.emplace_back(h["detail"]["term"].get<std::int64_t>(),
                         h["detail"]["holder"].get<std::string>());
      }
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  PgServer& pg_;
  std::vector<std::unique_ptr<Controller>> c_;
};

bool any_step(const Ha& ha, const std::string& state) {
  auto r = ha.cluster()["rollout"];
  for (const auto& s : r.value("steps", json::array())) {
    if (s["state"] == state) return true;
  }
  return false;
}

// The rollout `id` ended (any final state) within `limit`; the cluster document.
json rollout_end(const Ha& ha, std::int64_t id, std::chrono::seconds limit) {
  json last;
  wait_until(
      [&] {
        last = ha.cluster();
        if (last["rollout"].value("id", std::int64_t{0}) != id) return false;
        std::string s = last["rollout"].value("state", "");
        return s == "succeeded" || s == "rolled_back" || s == "aborted";
      },
      limit);
  return last;
}

// Starts a rollout to `target` ({"version": ..} and/or {"config": ..});
// its id.
std::int64_t roll(const Ha& ha, const json& target, const json& strategy) {
  auto [ust, uj] = ha.post("/v1/cluster/upgrade", target.dump());
  INFO(uj.dump());
  REQUIRE(ust == 200);
  auto [rst, rj] = ha.post("/v1/cluster/resume", json{{"strategy", strategy}}.dump());
  INFO(rj.dump());
  REQUIRE(rst == 200);
  std::int64_t id = 0;
  REQUIRE(wait_until([&] {
    id = ha.cluster()["rollout"].value("id", std::int64_t{0});
    return id != 0 && ha.cluster()["rollout"].value("state", "") == "running";
  }));
  return id;
}

// One holder per term, terms rising: no two controllers led at once.
void expect_one_leader_per_term(const Ha& ha, std::size_t at_least) {
  auto leads = ha.leads();
  INFO(json(leads).dump());
  INFO(ha.get("/v1/cluster/history?limit=20").second.dump());
  CHECK(leads.size() >= at_least);
  for (std::size_t i = 1; i < leads.size(); ++i) {
    CHECK(leads[i].first > leads[i - 1].first);
  }
}

std::int64_t add_config(const Ha& ha, const std::string& text) {
  auto [st, j] = ha.post("/v1/configs", text);
  INFO(j.dump());
  REQUIRE(st == 201);
  return j["revision"];
}

}  // namespace

TEST_CASE(
    "three controllers: kill -9 of the leader while a step moves, settles and reverts: a "
    "follower leads within the bound, each rollout ends as it would have, nothing lost") {
  TempDir dir;
  Ha ha(dir);
  auto nodes = start_nodes(dir, ha, 5, /*env_wrapper=*/true, /*settle_ms=*/2000);
  start_cluster(ha, 5);
  // Every controller serves reads, and lists the others; logctl takes all three.
  for (int i = 0; i < 3; ++i) {
    json ctl = ha.at(i).cluster()["controllers"];
    INFO(ctl.dump());
    CHECK(ctl["mode"] == "shared");
    CHECK(ctl["controllers"].size() == 3);
  }
  Logctl logctl(dir);
  std::map<std::string, std::string> env = {
      {"LOGCTL_SERVER", ha.url()}, {"LOGCTL_CA", ha.ca()}, {"LOGCTL_TOKEN", ha.admin_token()}};
  Run st = logctl({"cluster", "status"}, env);
  INFO(describe(st));
  CHECK(st.rc == 0);
  CHECK_THAT(st.out, Catch::Contains("leader") && Catch::Contains("term"));

  auto t0 = std::chrono::steady_clock::now();
  NodeTraffic traffic(nodes);
  std::string next = push(ha, "agentd-next");
  std::int64_t rev1 = add_config(ha, kFleetConfig);
  std::int64_t rev2 = add_config(ha, kFleetConfig + "# revision two\n");

  // 1. moving: the version, two nodes at a time.
  std::int64_t id =
      roll(ha, {{"version", next}},
           {{"batch_size", 2}, {"min_healthy_time_ms", 1500}, {"healthy_deadline_ms", 60000}});
  REQUIRE(wait_until([&] { return any_step(ha, "moving"); }, 30s));
  auto took = ha.kill_leader();
  CHECK(took <= kFailoverBound);
  json end = rollout_end(ha, id, kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_version"] == next);

  // 2. settling: a config to all five at once, settling 6 s.
  id = roll(ha, {{"config", rev1}},
            {{"batch_size", 5}, {"min_healthy_time_ms", 6000}, {"healthy_deadline_ms", 60000}});
  REQUIRE(wait_until([&] { return all_steps(ha, "settling"); }, 30s));
  took = ha.kill_leader();
  CHECK(took <= kFailoverBound);
  end = rollout_end(ha, id, kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_config"] == rev1);

  // 3. reverting: the operator rolls a settling config back; the leader dies
  // while the nodes revert.
  id = roll(ha, {{"config", rev2}},
            {{"batch_size", 5}, {"min_healthy_time_ms", 60000}, {"healthy_deadline_ms", 60000}});
  REQUIRE(wait_until([&] { return all_steps(ha, "settling"); }, 30s));
  auto [bst, bj] = ha.post("/v1/cluster/rollback", "");
  INFO(bj.dump());
  REQUIRE(bst == 200);
  REQUIRE(wait_until([&] { return any_step(ha, "reverting"); }, 30s));
  took = ha.kill_leader();
  CHECK(took <= kFailoverBound);
  end = rollout_end(ha, id, kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "rolled_back");
  CHECK(end["cluster"]["current_config"] == rev1);
  for (const auto& n : nodes) CHECK(step_of(end["rollout"], n.name) == "reverted");
  CHECK(wait_until(
      [&] {
        for (const auto& n : ha.get("/v1/nodes").second["nodes"]) {
          if (n["config_revision"] != rev1 || n["version"] != next) return false;
        }
        return true;
      },
      30s));

  long sent = traffic.stop();
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(traffic.ok());
  WARN("numbered load: " << sent << " events in " << secs << " s ("
                         << static_cast<long>(static_cast<double>(sent) / secs)
                         << " events/s into 5 nodes)");
  expect_all_delivered(dir, nodes, sent);
  expect_one_leader_per_term(ha, 4);  // the first leader and three successors
}

TEST_CASE(
    "three controllers: a leader stopped past its lease writes nothing when woken and follows, and "
    "PostgreSQL restarted mid-rollout: the controllers wait and carry on, nothing half-written") {
  TempDir dir;
  Ha ha(dir);
  auto nodes = start_nodes(dir, ha, 3, /*env_wrapper=*/true, /*settle_ms=*/2000);
  start_cluster(ha, 3);
  NodeTraffic traffic(nodes);
  std::string next = push(ha, "agentd-next");
  std::int64_t rev1 = add_config(ha, kFleetConfig);

  // SIGSTOP of the leader past its lease, mid-rollout.
  std::int64_t id =
      roll(ha, {{"version", next}},
           {{"batch_size", 1}, {"min_healthy_time_ms", 1500}, {"healthy_deadline_ms", 60000}});
  REQUIRE(wait_until([&] { return any_step(ha, "moving"); }, 30s));
  int stopped = ha.wait_leader(kFailoverBound);
  REQUIRE(stopped >= 0);
  auto lead_before = ha.leads().size();
  ha.at(stopped).signal(SIGSTOP);
  int successor = ha.wait_leader(kFailoverBound, stopped);
  CHECK(successor >= 0);
  // Past its lease twice over, then woken.
  auto until = std::chrono::steady_clock::now() + 2 * std::chrono::milliseconds(kLeaseMs);
  wait_until([&] { return std::chrono::steady_clock::now() >= until; }, 20s);
  ha.at(stopped).signal(SIGCONT);
  // It says it follows, answers writes and heartbeats 503, and only the
  // successor leads.
  auto readyz = [&] {
    auto r = ha.at(stopped).client()->Get("/readyz");
    return r ? json::parse(r->body, nullptr, false) : json();
  };
  CHECK(wait_until([&] { return readyz().value("role", "") == "follower"; }, 10s));
  CHECK_THAT(ha.at(stopped).log(), Catch::Contains("following: term"));
  auto [wst, wj] = ha.at(stopped).post("/v1/cluster/pause", "");
  CHECK(wst == 503);
  CHECK(wj["error"]["code"] == "not_leader");
  CHECK(ha.leader() == successor);
  json end = rollout_end(ha, id, kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  auto leads = ha.leads();
  CHECK(leads.size() == lead_before + 1);  // the successor's term, and no other
  expect_one_leader_per_term(ha, 2);

  // PostgreSQL restarted (as a crash) while a config rollout moves.
  id = roll(ha, {{"config", rev1}},
            {{"batch_size", 1}, {"min_healthy_time_ms", 1500}, {"healthy_deadline_ms", 60000}});
  REQUIRE(wait_until([&] { return any_step(ha, "moving"); }, 30s));
  REQUIRE(ha.pg().stop());
  // Down for longer than the lease: the leader steps down, nobody leads.
  CHECK(wait_until([&] { return ha.leader() < 0; }, 10s));
  REQUIRE(ha.pg().start());
  CHECK(ha.wait_leader(kFailoverBound) >= 0);
  end = rollout_end(ha, id, kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  // Nothing half-written: the cluster, every step and every node agree.
  CHECK(end["cluster"]["state"] == "running");
  CHECK(end["cluster"]["current_config"] == rev1);
  CHECK(end["cluster"]["target_config"] == 0);
  for (const auto& n : nodes) CHECK(step_of(end["rollout"], n.name) == "done");
  CHECK(wait_until(
      [&] {
        for (const auto& n : ha.get("/v1/nodes").second["nodes"]) {
          if (n["config_revision"] != rev1) return false;
        }
        return true;
      },
      30s));
  expect_one_leader_per_term(ha, 2);

  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}

TEST_CASE(
    "migrate: a single-host install with history, releases and a rollout in flight moves to "
    "PostgreSQL, and the rollout finishes there, served by any controller") {
  TempDir dir;
  auto& pg = PgServer::shared();
  INFO(pg.error());
  REQUIRE(pg.ready());
  std::vector<std::string> serve = {"--node-timeout-ms", std::to_string(kNodeTimeoutMs),
                                    "--lease-ttl-ms", std::to_string(kLeaseMs)};
  Controller c(dir, "127.0.0.1", "", serve);  // SQLite, as a single-host install is
  auto nodes = start_nodes(dir, c, 3, /*env_wrapper=*/true, /*settle_ms=*/2000);
  start_cluster(c, 3);
  NodeTraffic traffic(nodes);
  std::string next = push(c, "agentd-next");
  auto [ust, uj] = c.post("/v1/cluster/upgrade", json{{"version", next}}.dump());
  REQUIRE(ust == 200);
  json strategy = {
      {"batch_size", 1}, {"min_healthy_time_ms", 3000}, {"healthy_deadline_ms", 60000}};
  REQUIRE(c.post("/v1/cluster/resume", json{{"strategy", strategy}}.dump()).first == 200);
  // In flight: the first node done, the rest not.
  REQUIRE(wait_until([&] { return step_of(c.cluster()["rollout"], "node-1") == "done"; }, 60s));
  json before = c.cluster();
  REQUIRE(before["rollout"]["state"] == "running");
  std::int64_t id = before["rollout"]["id"];
  std::size_t history_before = c.get("/v1/cluster/history?limit=10000").second["history"].size();

  // The operator stops the controller (the nodes keep serving) and migrates.
  std::string conninfo = pg.fresh_database();
  std::string data = dir / "ctl";
  std::string migrate = controller_bin() + " migrate --from sqlite:" + data + " --to " +
                        shell_quote(conninfo) + " > " + dir / "migrate.log" + " 2>&1";
  CHECK(sh(migrate) != 0);  // refused while serve runs
  CHECK_THAT(read_file(dir / "migrate.log"), Catch::Contains("stop it first"));
  c.stop();
  REQUIRE(sh(migrate) == 0);
  std::string out = read_file(dir / "migrate.log");
  INFO(out);
  CHECK_THAT(out, Catch::Contains("history") && Catch::Contains("artifacts  1"));
  CHECK(sh(migrate) != 0);  // once: the data directory names its store now

  // The same serve, now on PostgreSQL; a second controller beside it.
  c.start();
  CHECK(c.cluster()["controllers"]["mode"] == "shared");
  Controller second(dir, "ctl-2", c, serve);
  // It has none of the artifact files: it serves the release from the database.
  REQUIRE(sh("rm -f " + dir / "ctl-2/artifacts/*") == 0);
  auto art = second.client()->Get("/v1/releases/" + next + "/artifact",
                                  {{"Authorization", "Bearer " + c.admin_token()}});
  REQUIRE(art);
  CHECK(art->status == 200);
  CHECK(art->body == read_file(agentd_build("agentd-next")));

  json end;
  wait_until(
      [&] {
        end = c.cluster();
        return end["rollout"].value("id", std::int64_t{0}) == id &&
               end["rollout"].value("state", "") == "succeeded";
      },
      kRolloutBound);
  INFO(end.dump(2));
  CHECK(end["rollout"]["state"] == "succeeded");
  CHECK(end["cluster"]["current_version"] == next);
  CHECK(end["cluster"]["revision"].get<std::int64_t>() >
        before["cluster"]["revision"].get<std::int64_t>());
  CHECK_FALSE(end["cluster"].contains("held"));  // the revision came along: no "restored" hold
  json history = c.get("/v1/cluster/history?limit=10000").second["history"];
  CHECK(history.size() > history_before);
  long sent = traffic.stop();
  CHECK(traffic.ok());
  expect_all_delivered(dir, nodes, sent);
}
