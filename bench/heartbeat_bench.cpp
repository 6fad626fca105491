// heartbeat_bench: N simulated nodes speaking the node API to a real
// logctl-controller over TLS, each heartbeating at its interval (spread
// evenly, so the load is N/interval requests per second). Prints request
// latency percentiles and, with --rollout-to, the time to roll every
// simulated node to a release: a node "hands over" (reports the version it
// was told) one heartbeat after it is told, with its ingest figures growing.
//
//   heartbeat_bench --url https://127.0.0.1:P --ca CA --admin-token-file F
//                   --nodes N --seconds S [--threads T]
//                   [--keep-alive | --connection-per-node]
//                   [--rollout-to V --batch-size B --min-healthy-ms M]
//
// --keep-alive: each thread reuses one connection for its share of nodes;
// --connection-per-node: every node keeps its own TLS connection open, as
// agentd's link does (each node's first heartbeat, which opens it, is not in
// the latencies).
// Enrols its nodes through the API (names bench-00001...), so run it on a
// fresh controller. Every loop is bounded by --seconds (and 300 s overall).
#include <httplib.h>
#include <signal.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string url, ca, admin_token_file, rollout_to;
  // --url URL1,URL2,URL3 (several controllers on one database): enrolment
  // and the admin calls go to the first; node i starts at URL i mod 3 and
  // follows a follower's 503 not_leader to the leader, as agentd does.
  std::vector<std::string> urls;
  int nodes = 1000, seconds = 30, threads = 8, batch_size = 100, min_healthy_ms = 1000;
  bool keep_alive = false;
  bool per_node = false;
  std::vector<int> controller_pids;  // for their CPU time over the heartbeat phase
};

// utime + stime of a process, in seconds (0 if unknown).
double cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct SimNode {
  std::string name, token;
  std::string version = "0.1.0";
  std::string pending;  // told to move here; reported at the next heartbeat
  std::int64_t events = 0;
  std::chrono::milliseconds interval{1000};  // as the controller says
  Clock::time_point next{};
  std::size_t at = 0;                     // which of --url it talks to
  std::unique_ptr<httplib::Client> conn;  // --connection-per-node
  bool warm = false;                      // its first heartbeat is done
};

std::unique_ptr<httplib::Client> client(const Options& o, const std::string& url = "") {
  auto c = std::make_unique<httplib::Client>(url.empty() ? o.url : url);
  c->set_ca_cert_path(o.ca.c_str());
  c->enable_server_certificate_verification(true);
  c->set_keep_alive(o.keep_alive);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(10, 0);
  return c;
}

std::string read_token(const std::string& path) {
  std::ifstream f(path);
  std::string t;
  std::getline(f, t);
  return t;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Options o;
  CLI::App app{"heartbeat_bench: simulated nodes against logctl-controller"};
  app.add_option("--url", o.url)->required();
  app.add_option("--ca", o.ca)->required();
  app.add_option("--admin-token-file", o.admin_token_file)->required();
  app.add_option("--nodes", o.nodes)->check(CLI::Range(1, 20000));
  app.add_option("--seconds", o.seconds)->check(CLI::Range(1, 300));
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 256));
  auto* ka = app.add_flag("--keep-alive", o.keep_alive, "Reuse each thread's connection");
  app.add_flag("--connection-per-node", o.per_node, "Every node keeps its own connection")
      ->excludes(ka);
  app.add_option("--rollout-to", o.rollout_to, "Release to roll the simulated nodes to");
  app.add_option("--batch-size", o.batch_size);
  app.add_option("--min-healthy-ms", o.min_healthy_ms);
  app.add_option("--controller-pid", o.controller_pids,
                 "Report these processes' CPU use (repeat, or A,B,C)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  for (std::size_t s = 0; s <= o.url.size();) {
    auto comma = std::min(o.url.find(',', s), o.url.size());
    if (comma > s) o.urls.push_back(o.url.substr(s, comma - s));
    s = comma + 1;
  }
  if (o.urls.empty()) o.urls.push_back(o.url);
  o.url = o.urls[0];
  auto cpu_all = [&o] {
    double sum = 0;
    for (int pid : o.controller_pids) sum += cpu_seconds(pid);
    return sum;
  };
  const std::string admin = read_token(o.admin_token_file);
  auto hard_deadline = Clock::now() + 300s;

  // Enrol.
  std::vector<SimNode> nodes(static_cast<std::size_t>(o.nodes));
  {
    Options enrol_opts = o;
    enrol_opts.keep_alive = true;
    auto c = client(enrol_opts);
    for (int i = 0; i < o.nodes; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "bench-%05d", i + 1);
      auto r = c->Post("/v1/nodes/enroll", {{"Authorization", "Bearer " + admin}},
                       json{{"name", name}}.dump(), "application/json");
      if (!r || r->status != 201) {
        std::cerr << "enrol " << name << ": " << (r ? r->body : httplib::to_string(r.error()))
                  << "\n";
        return 1;
      }
      nodes[static_cast<std::size_t>(i)].name = name;
      nodes[static_cast<std::size_t>(i)].token = json::parse(r->body)["token"];
    }
  }
  std::cerr << "enrolled " << o.nodes << " nodes\n";

  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<long> errors{0}, redirects{0};
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  double cpu0 = cpu_all();
  const auto interval = 1000ms;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].next = start + interval * static_cast<long>(i) / static_cast<long>(nodes.size());
    nodes[i].at = i % o.urls.size();
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      auto shared = client(o);
      std::vector<double> mine;
      while (!stop && Clock::now() < hard_deadline) {
        // The due node of this thread's share with the earliest time.
        SimNode* due = nullptr;
        for (std::size_t i = static_cast<std::size_t>(t); i < nodes.size();
             i += static_cast<std::size_t>(o.threads)) {
          if (!due || nodes[i].next < due->next) due = &nodes[i];
        }
        if (!due) break;
        std::this_thread::sleep_until(due->next);  // pacing of the load, not a wait for a result
        if (!due->pending.empty()) {
          due->version = due->pending;
          due->pending.clear();
        }
        due->events += 1000;
        json hb = {{"version", due->version},
                   {"running", true},
                   {"worker_up", true},
                   {"generation", 1},
                   {"chunk_format_written", 2},
                   {"handover_protocol", {{"min", 2}, {"max", 2}}},
                   {"figures",
                    {{"events_in", due->events},
                     {"events_out", due->events},
                     {"drops", 0},
                     {"parse_errors", 0},
                     {"buffer_queue_bytes", 0}}},
                   {"handover", {{"result", "committed"}}}};
        auto t0 = Clock::now();
        std::optional<httplib::Result> res;
        for (std::size_t tries = 0; tries < o.urls.size(); ++tries) {
          httplib::Client* c = shared.get();
          if (o.per_node) {
            if (!due->conn) {
              Options one = o;
              one.keep_alive = true;
              due->conn = client(one, o.urls[due->at]);
            }
            c = due->conn.get();
          }
          res.emplace(c->Post("/v1/nodes/" + due->name + "/heartbeat",
                              {{"Authorization", "Bearer " + due->token}}, hb.dump(),
                              "application/json"));
          if (!*res || (*res)->status != 503 || o.urls.size() < 2) break;
          // A follower: to the leader it names (else the next), as agentd.
          ++redirects;
          auto e = json::parse((*res)->body, nullptr, false);
          std::string leader =
              e.is_object() ? e["error"]["details"].value("leader", std::string()) : "";
          auto it = std::find(o.urls.begin(), o.urls.end(), leader);
          due->at = it != o.urls.end() ? static_cast<std::size_t>(it - o.urls.begin())
                                       : (due->at + 1) % o.urls.size();
          due->conn.reset();
          due->warm = false;  // a new connection's handshake is not a heartbeat's cost
        }
        auto& r = *res;
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r || r->status != 200) {
          ++errors;
        } else {
          if (due->warm || !o.per_node) mine.push_back(ms);
          due->warm = true;
          auto j = json::parse(r->body, nullptr, false);
          if (j.is_object()) {
            std::string want = j["desired"].value("version", "");
            if (!want.empty() && want != due->version) due->pending = want;
            auto iv = j.value("heartbeat_interval_ms", std::int64_t{1000});
            if (iv >= 100 && iv <= 60000) due->interval = std::chrono::milliseconds(iv);
          }
        }
        due->next += due->interval;
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }

  double rollout_s = -1;
  Options admin_opts = o;
  admin_opts.keep_alive = true;
  auto admin_client = client(admin_opts);
  auto api = [&](const std::string& path, const std::string& body) {
    auto r =
        admin_client->Post(path, {{"Authorization", "Bearer " + admin}}, body, "application/json");
    return r ? std::pair{r->status, r->body} : std::pair{0, std::string()};
  };
  if (!o.rollout_to.empty()) {
    // Warm-up: every node heard from (polled, bounded).
    for (auto until = Clock::now() + 60s; Clock::now() < until;) {
      auto g = admin_client->Get("/v1/cluster", {{"Authorization", "Bearer " + admin}});
      if (g && g->status == 200 &&
          json::parse(g->body)["nodes"]["connected"].get<int>() == o.nodes) {
        break;
      }
      std::this_thread::sleep_for(200ms);  // polling interval
    }
    auto s = api("/v1/cluster/start", "");
    auto u = api("/v1/cluster/upgrade", json{{"version", o.rollout_to}}.dump());
    auto brief = [](const std::string& body) {
      auto j = json::parse(body, nullptr, false);
      std::string m = j.is_object() && j.contains("error") ? j["error"].value("message", "") : body;
      return m.substr(0, 400);
    };
    if (u.first != 200) std::cerr << "upgrade: " << brief(u.second) << "\n";
    auto t0 = Clock::now();
    auto r = api("/v1/cluster/resume",
                 json{{"strategy",
                       {{"batch_size", o.batch_size}, {"min_healthy_time_ms", o.min_healthy_ms}}}}
                     .dump());
    if (r.first != 200) std::cerr << "resume: " << brief(r.second) << "\n";
    while (Clock::now() < hard_deadline && r.first == 200) {
      auto g = admin_client->Get("/v1/cluster", {{"Authorization", "Bearer " + admin}});
      if (g && g->status == 200) {
        auto j = json::parse(g->body);
        if (j["cluster"]["current_version"] == o.rollout_to && j["cluster"]["state"] == "running") {
          rollout_s = std::chrono::duration<double>(Clock::now() - t0).count();
          break;
        }
        if (j.contains("rollout") && j["rollout"]["state"] == "rolled_back") {
          std::cerr << "rollout rolled back: " << j["rollout"]["reason"] << "\n";
          break;
        }
      }
      std::this_thread::sleep_for(200ms);  // polling interval
    }
    (void)s;
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(o.seconds));  // the measured run
  }
  stop = true;
  for (auto& w : workers) w.join();
  for (auto& n : nodes) n.conn.reset();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  double cpu = cpu_all() - cpu0;
  std::printf(
      "nodes=%d keep_alive=%d connection_per_node=%d threads=%d seconds=%.1f requests=%zu "
      "errors=%ld rate=%.0f/s "
      "p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms",
      o.nodes, o.keep_alive ? 1 : 0, o.per_node ? 1 : 0, o.threads, secs, latencies.size(),
      errors.load(), static_cast<double>(latencies.size()) / secs, pct(latencies, 50),
      pct(latencies, 90), pct(latencies, 99), pct(latencies, 100));
  if (!o.rollout_to.empty()) {
    std::printf(" rollout_to=%s batch_size=%d min_healthy_ms=%d rollout_seconds=%.1f",
                o.rollout_to.c_str(), o.batch_size, o.min_healthy_ms, rollout_s);
  }
  if (o.urls.size() > 1)
    std::printf(" controllers=%zu redirects=%ld", o.urls.size(), redirects.load());
  if (!o.controller_pids.empty()) std::printf(" controller_cpu=%.2fcores", cpu / secs);
  std::printf("\n");
  return errors.load() == 0 && (o.rollout_to.empty() || rollout_s > 0) ? 0 : 1;
}
