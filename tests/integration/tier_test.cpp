// Agent -> collector tiers over the forward protocol, all real agentd
// processes on loopback: agents read numbered lines over TCP and send them
// with out_forward (file buffers, acks) through a failover or load_balance
// group to collectors (in_forward -> file buffer -> file). Every number is
// counted at the collectors' outputs.
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "support/harness.h"

using namespace logctl::test;

namespace {

// A collector: in_forward -> file buffer -> JSON lines under DIR/out.
struct Collector {
  explicit Collector(const std::string& name) : port(free_port()) {
    agent = std::make_unique<Agent>(
        "<source>\n  @type forward\n  bind 127.0.0.1\n  port " + std::to_string(port) +
            "\n</source>\n" + fluent_log_fence() + "<match **>\n  @type file\n  path " +
            dir.path() +
            "/out/${tag}\n  <format>\n    @type json\n  </format>\n  <buffer tag>\n"
            "    @type file\n    path " +
            dir.path() +
            "/buffer\n    flush_mode interval\n    flush_interval 0.2s\n"
            "    chunk_limit_records 2000\n    flush_at_shutdown true\n  </buffer>\n</match>\n",
        dir, name);
  }
  long count(long first, long last) const {
    auto c = count_numbers(files_under(dir / "out"));
    return (last - first + 1) - c.missing_in(first, last);
  }
  TempDir dir;
  int port;
  std::unique_ptr<Agent> agent;
};

// One <store> of out_forward to `c`, with its own file buffer.
std::string store(const Collector& c, const TempDir& dir, const std::string& name,
                  const std::string& extra = "") {
  return "  <store>\n    @type forward\n    @id " + name + "\n" + extra +
         "    require_ack_response true\n    ack_response_timeout 10s\n"
         "    heartbeat_interval 0.5s\n    <server>\n      host 127.0.0.1\n      port " +
         std::to_string(c.port) +
         "\n    </server>\n    <buffer tag>\n      @type file\n      path " + dir / name +
         "\n      flush_mode interval\n      flush_interval 0.2s\n"
         "      retry_wait 0.2s\n      retry_max_interval 1s\n"
         "      retry_forever true\n    </buffer>\n  </store>\n";
}

std::string agent_config(int tcp_port, const std::string& group, const std::string& stores) {
  return tcp_lines_source(tcp_port, "app") + fluent_log_fence() + "<match **>\n  @type " + group +
         "\n  @id tier\n  max_penalty 2s\n" + stores + "</match>\n";
}

Count count_all(const std::vector<const Collector*>& cs) {
  std::vector<std::string> files;
  for (const auto* c : cs) {
    for (auto& f : files_under(c->dir / "out")) files.push_back(f);
  }
  return count_numbers(files);
}

void kill_hard(Agent& a) {
  long worker = a.worker_pid();
  a.process().signal(SIGKILL);
  if (worker > 0) ::kill(static_cast<pid_t>(worker), SIGKILL);
  a.process().wait();
}

}  // namespace

TEST_CASE("tier: three agents to a failover pair survive kill -9 of the primary and its handover") {
  Collector primary("primary"), standby("standby");
  REQUIRE(primary.agent->ready());
  REQUIRE(standby.agent->ready());
  constexpr int kAgents = 3;
  constexpr int kPerTick = kSanitized ? 10 : 40;  // x 100/s x 3 agents
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<Agent>> agents;
  std::vector<int> ports;
  for (int i = 0; i < kAgents; ++i) {
    dirs.push_back(std::make_unique<TempDir>());
    ports.push_back(free_port());
    agents.push_back(std::make_unique<Agent>(
        agent_config(ports.back(), "failover",
                     store(primary, *dirs.back(), "to-primary", "    priority 2\n") +
                         store(standby, *dirs.back(), "to-standby", "    priority 1\n")),
        *dirs.back(), "agent"));
  }
  for (auto& a : agents) REQUIRE(a->ready());
  std::vector<std::unique_ptr<Feeder>> feeders;
  for (int i = 0; i < kAgents; ++i) {
    feeders.push_back(std::make_unique<Feeder>(ports[static_cast<std::size_t>(i)],
                                               (i + 1) * 10'000'000L, kPerTick, 2'000'000));
  }
  auto at_primary = [&] { return count_numbers(files_under(primary.dir / "out")).distinct(); };
  auto at_standby = [&] { return count_numbers(files_under(standby.dir / "out")).distinct(); };

  // 1. Everything goes to the primary.
  REQUIRE(wait_until([&] { return at_primary() > 3000; }));
  CHECK(at_standby() == 0);

  // 2. kill -9 of the primary: traffic moves to the standby.
  kill_hard(*primary.agent);
  auto standby_before = at_standby();
  CHECK(wait_until([&] { return at_standby() > standby_before + 3000; }));
  // Each agent penalises the primary at its next write to it.
  for (auto& a : agents) {
    CHECK(wait_until([&] {
      return a->metric("agentd_group_store_penalties_total",
                       "group=\"tier\",store=\"to-primary\"") >= 1;
    }));
  }

  // 3. The primary comes back: traffic returns to it.
  auto primary_before = at_primary();
  primary.agent->restart();
  REQUIRE(primary.agent->ready());
  // Every agent writes to it again (its penalty cleared by a successful
  // write), and new events arrive there.
  auto primary_up_everywhere = [&] {
    for (auto& a : agents) {
      if (a->metric("agentd_group_store_up", "group=\"tier\",store=\"to-primary\"") != 1) {
        return false;
      }
    }
    return true;
  };
  CHECK(wait_until(primary_up_everywhere, 30s));
  CHECK(wait_until([&] { return at_primary() > primary_before + 3000; }, 30s));

  // 4. A staged handover of the primary under load: no agent sees a failure.
  auto failures = [&] {
    double n = 0;
    for (auto& a : agents) n += a->metric("agentd_output_forward_server_failures_total");
    return n;
  };
  auto to_standby = [&] {  // events the agents routed or moved to the standby
    double n = 0;
    for (auto& a : agents) {
      n += a->metric("agentd_output_emit_records_total",
                     "plugin_id=\"to-standby\",type=\"forward\"");
    }
    return n;
  };
  double standby_now = to_standby();
  double failures_before = failures();
  CHECK_THAT(primary.agent->control(R"({"op":"reload"})"), Catch::Contains("committed"));
  auto after_handover = at_primary();
  CHECK(wait_until([&] { return at_primary() > after_handover + 3000; }));
  CHECK(failures() == failures_before);
  CHECK(to_standby() == standby_now);  // nothing had to fail over

  // 5. Stop the load; every number arrives once, duplicates bounded by the
  // unacked events (plus one collector chunk rewritten after its kill -9).
  for (auto& f : feeders) f->stop();
  for (auto& f : feeders) CHECK(f->failures() == 0);
  auto all_arrived = [&] {
    auto c = count_all({&primary, &standby});
    for (auto& f : feeders) {
      if (c.missing_in(f->base(), f->base() + f->sent() - 1) != 0) return false;
    }
    return true;
  };
  CHECK(wait_until(all_arrived, 60s));
  double unacked = 0;
  for (auto& a : agents) unacked += a->metric("agentd_output_forward_unacked_records_total");
  auto c = count_all({&primary, &standby});
  INFO("duplicates " << c.duplicates() << ", unacked " << unacked);
  CHECK(static_cast<double>(c.duplicates()) <= unacked + 2000);
  long sent = 0;
  for (auto& f : feeders) sent += f->sent();
  CHECK(static_cast<long>(c.distinct()) == sent);
}

TEST_CASE("tier: load_balance splits evenly across three collectors and routes around one down") {
  Collector a("a"), b("b"), c("c");
  for (auto* x : {&a, &b, &c}) REQUIRE(x->agent->ready());
  TempDir dir;
  int port = free_port();
  Agent agent(agent_config(port, "load_balance",
                           store(a, dir, "to-a") + store(b, dir, "to-b") + store(c, dir, "to-c")),
              dir, "agent");
  REQUIRE(agent.ready());
  constexpr long kFirst = 30000;
  {
    Feeder f(port, 0, 30, kFirst);
    REQUIRE(wait_until([&] { return f.sent() == kFirst; }, 60s));
    f.stop();
    CHECK(f.failures() == 0);
  }
  REQUIRE(wait_until([&] { return count_all({&a, &b, &c}).missing_in(0, kFirst - 1) == 0; }, 30s));
  for (auto* x : {&a, &b, &c}) {
    long n = x->count(0, kFirst - 1);
    INFO("one collector got " << n << " of " << kFirst);
    CHECK(std::abs(n - kFirst / 3) <= kFirst / 30);  // within 10 % of an even third
  }

  // c goes down: a and b take its share, nothing is lost.
  c.agent->process().signal(SIGTERM);
  CHECK(c.agent->process().wait() == 0);
  constexpr long kSecond = 30000;
  {
    Feeder f(port, 1'000'000, 30, kSecond);
    REQUIRE(wait_until([&] { return f.sent() == kSecond; }, 60s));
    f.stop();
    CHECK(f.failures() == 0);
  }
  CHECK(wait_until(
      [&] {
        return count_all({&a, &b}).missing_in(1'000'000, 1'000'000 + kSecond - 1) == 0;
      },
      30s));
  CHECK(c.count(1'000'000, 1'000'000 + kSecond - 1) == 0);
  for (auto* x : {&a, &b}) {
    long n = x->count(1'000'000, 1'000'000 + kSecond - 1);
    INFO("a remaining collector got " << n << " of " << kSecond);
    CHECK(std::abs(n - kSecond / 2) <= kSecond / 20);
  }
  CHECK(agent.metric("agentd_group_store_penalties_total", "group=\"tier\",store=\"to-c\"") >= 1);
  CHECK(count_all({&a, &b, &c}).duplicates() <=
        static_cast<long>(agent.metric("agentd_output_forward_unacked_records_total")));
}
