// A controller and agentd nodes as real processes, for the tests that drive
// a fleet through its API (tests/integration/controller_test.cpp and the
// fault matrix, tests/faults/): the controller (init once, serve restartable,
// kill -9, SIGSTOP), nodes enrolled with it, paced numbered traffic and the
// count of every number at the nodes' outputs. Header-only test support.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/harness.h"

namespace logctl::test {

using nlohmann::json;

inline std::string controller_bin() {
  return std::string(AGENTD_BIN).substr(0, std::string(AGENTD_BIN).rfind('/')) +
         "/logctl-controller";
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A controller: `init` once, then `serve` (restartable) on a fixed port.
class Controller {
 public:
  // `host`: the loopback address it listens on (clients under test use it in
  // url(); the test's own requests name "localhost", which every certificate has).
  // `serve_args`: more flags for every `serve` (e.g. a shorter node timeout).
  explicit Controller(const TempDir& dir, std::string host = "127.0.0.1",
                      const std::string& init_args = "", std::vector<std::string> serve_args = {})
      : dir_(dir / "ctl"),
        log_(dir / "ctl.log"),
        host_(std::move(host)),
        serve_args_(std::move(serve_args)) {
    REQUIRE(sh(controller_bin() + " init --data-dir " + dir_ + " " + init_args + " > " +
               dir / "init.log" + " 2>&1") == 0);
    port_ = free_port();
    start();
  }
  // Another controller on `from`'s (shared) database: its data directory is
  // a copy of `from`'s, as an operator copies it to each controller host.
  Controller(const TempDir& dir, const std::string& name, const Controller& from,
             std::vector<std::string> serve_args)
      : dir_(dir / name),
        log_(dir / (name + ".log")),
        host_(from.host_),
        serve_args_(std::move(serve_args)) {
    REQUIRE(sh("cp -a " + from.dir_ + " " + dir_) == 0);
    port_ = free_port();
    start();
  }
  bool running() const { return proc_ && proc_->running(); }
  ~Controller() { stop(); }
  void start() {
    // Nodes heartbeat every 250 ms: rollout steps wait on heartbeats.
    std::vector<std::string> argv{controller_bin(),
                                  "serve",
                                  "--data-dir",
                                  dir_,
                                  "--listen",
                                  host_ + ":" + std::to_string(port_),
                                  "--heartbeat-interval-ms",
                                  "250"};
    argv.insert(argv.end(), serve_args_.begin(), serve_args_.end());
    proc_ = std::make_unique<Process>(argv, log_);
    REQUIRE(wait_until([&] { return get("/v1/version").first == 200; }));
  }
  void stop() {
    if (proc_ && proc_->running()) {
      proc_->signal(SIGTERM);
      if (proc_->wait(20s) < 0) proc_->signal(SIGKILL);
    }
  }
  void kill9() {
    proc_->signal(SIGKILL);
    proc_->wait(10s);
  }
  void signal(int sig) { proc_->signal(sig); }
  std::string url() const { return "https://" + host_ + ":" + std::to_string(port_); }
  int port() const { return port_; }
  // GET /v1/metrics: the value of one counter (-1 when absent).
  double metric(const std::string& name) const {
    auto r = client()->Get("/v1/metrics", {{"Authorization", "Bearer " + admin_token()}});
    if (!r || r->status != 200) return -1;
    auto at = r->body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(r->body.substr(at + name.size() + 2));
  }
  std::string ca() const { return dir_ + "/tls/ca.pem"; }
  std::string admin_token() const { return trim(read_file(dir_ + "/admin.token")); }
  std::string enroll_file() const { return dir_ + "/enroll.token"; }
  std::string log() const { return proc_->log(); }

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("https://localhost:" + std::to_string(port_));
    c->set_hostname_addr_map({{"localhost", host_}});
    c->set_ca_cert_path(ca().c_str());
    c->enable_server_certificate_verification(true);
    c->set_tcp_nodelay(true);
    c->set_read_timeout(30, 0);
    return c;
  }
  std::pair<int, json> get(const std::string& path, std::string token = "") const {
    if (token.empty()) token = admin_token();
    auto r = client()->Get(path, {{"Authorization", "Bearer " + token}});
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  std::pair<int, json> post(const std::string& path, const std::string& body,
                            std::string token = "") const {
    if (token.empty()) token = admin_token();
    auto r = client()->Post(path, {{"Authorization", "Bearer " + token}}, body, "application/json");
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  // Uploads a binary with its manifest (what `logctl release push` does).
  std::pair<int, json> push(const std::string& binary) const {
    std::string manifest_path = dir_ + "/../manifest.json";
    REQUIRE(sh(binary + " manifest > " + manifest_path) == 0);
    httplib::MultipartFormDataItems items = {
        {"manifest", read_file(manifest_path), "manifest.json", "application/json"},
        {"artifact", read_file(binary), "agentd", "application/octet-stream"}};
    auto r = client()->Post("/v1/releases", {{"Authorization", "Bearer " + admin_token()}}, items);
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  json cluster() const { return get("/v1/cluster").second; }
  // Raw bytes over TLS (openssl s_client): for requests no client library sends.
  std::string raw(const std::string& request) const {
    std::string req_file = dir_ + "/../raw-request", out_file = dir_ + "/../raw-response";
    write_file(req_file, request);
    sh("timeout 30 openssl s_client -quiet -ign_eof -connect " + host_ + ":" +
       std::to_string(port_) + " -CAfile " + ca() + " < " + req_file + " > " + out_file +
       " 2>/dev/null");
    return read_file(out_file);
  }

 private:
  std::string dir_, log_, host_;
  std::vector<std::string> serve_args_;
  int port_ = 0;
  std::unique_ptr<Process> proc_;
};

// A TCP source of numbered lines into JSON files under DIR/out-NAME/.
inline std::string node_config(const TempDir& dir, const std::string& name, int port) {
  return tcp_lines_source(port) + fluent_log_fence() + R"(
<match **>
  @type file
  path )" +
         dir / ("out-" + name) + R"(/events
  <format>
    @type json
  </format>
  <buffer>
    flush_mode interval
    flush_interval 0.1s
  </buffer>
</match>
)";
}

struct Node {
  std::string name;
  int port;
  std::unique_ptr<Agent> agent;
};

// `env_wrapper`: each node runs through a script that exports its port and
// output directory (LOGCTL_TEST_PORT, LOGCTL_TEST_OUT) for fleet-wide configs.
// `settle_ms`: how long each handover's new worker must stay up before it
// takes over (a longer one keeps a step moving or reverting longer).
template <typename C = Controller>
inline std::vector<Node> start_nodes(const TempDir& dir, const C& c, int n,
                                     bool env_wrapper = false, int settle_ms = 200) {
  std::vector<Node> nodes;
  for (int i = 1; i <= n; ++i) {
    Node node{"node-" + std::to_string(i), free_port(), nullptr};
    std::string binary;
    if (env_wrapper) {
      binary = dir / (node.name + ".sh");
      write_file(binary, "#!/bin/sh\nexport LOGCTL_TEST_PORT=" + std::to_string(node.port) +
                             "\nexport LOGCTL_TEST_OUT=" + dir / ("out-" + node.name) + "\nexec " +
                             agentd_bin() + " \"$@\"\n");
      REQUIRE(::chmod(binary.c_str(), 0755) == 0);
    }
    node.agent = std::make_unique<Agent>(
        node_config(dir, node.name, node.port), dir, node.name,
        std::vector<std::string>{"--controller", c.url(), "--controller-ca", c.ca(),
                                 "--enroll-token-file", c.enroll_file(), "--node-name", node.name,
                                 "--labels", "rack=r" + std::to_string(i), "--ready-timeout-ms",
                                 "3000", "--settle-ms", std::to_string(settle_ms)},
        binary);
    REQUIRE(node.agent->ready());
    nodes.push_back(std::move(node));
  }
  // Enrolled, and converged: a stopped cluster stops its nodes' workers.
  REQUIRE(wait_until([&] {
    std::pair<int, json> got = c.get("/v1/nodes");
    const json& j = got.second;
    if (got.first != 200 || j["nodes"].size() != static_cast<std::size_t>(n)) return false;
    // A stopped cluster stops its nodes' workers; a new one (adopting) leaves
    // them running.
    json cl = c.cluster()["cluster"];
    bool stopped = cl["state"] == "stopped" && !cl.value("adopting", false);
    for (const auto& node : j["nodes"]) {
      if (!node["connected"].get<bool>() || node["running"].get<bool>() == stopped) return false;
    }
    return true;
  }));
  return nodes;
}

// Sends numbered lines to every node, round robin, until stopped; one
// connection per node, reconnecting never (a reset would be a failure).
class NodeTraffic {
 public:
  explicit NodeTraffic(const std::vector<Node>& nodes) {
    for (const auto& n : nodes) ports_.push_back(n.port);
    thread_ = std::thread([this] { run(); });
  }
  // Into some nodes only (the others are frozen or gone).
  explicit NodeTraffic(std::vector<int> ports) : ports_(std::move(ports)) {
    thread_ = std::thread([this] { run(); });
  }
  ~NodeTraffic() { stop(); }
  long stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return sent_;
  }
  bool ok() const { return ok_; }
  long sent() const { return sent_; }

 private:
  void run() {
    std::vector<std::unique_ptr<TcpSender>> s;
    for (int p : ports_) s.push_back(std::make_unique<TcpSender>(p));
    auto deadline = std::chrono::steady_clock::now() + 240s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline && sent_ < 2'000'000) {
      std::string batch;
      auto& to = *s[static_cast<std::size_t>(sent_ / 100) % s.size()];
      for (int i = 0; i < 100; ++i) batch += "seq=" + std::to_string(++sent_) + " x\n";
      if (!to.send(batch)) {
        ok_ = false;
        break;
      }
      // Pacing (~50k events/s; ~17k/s in the sanitizer build), not a wait.
      std::this_thread::sleep_for(kSanitized ? 6ms : 2ms);
    }
    for (auto& c : s) ok_ = c->finish() && ok_;
  }
  std::vector<int> ports_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, ok_{true};
  std::atomic<long> sent_{0};
};

inline void expect_all_delivered(const TempDir& dir, const std::vector<Node>& nodes, long sent) {
  std::vector<std::string> files;
  auto collect = [&] {
    files.clear();
    for (const auto& n : nodes) {
      for (const auto& f : files_under(dir / ("out-" + n.name))) files.push_back(f);
    }
    return count_numbers(files);
  };
  bool all =
      wait_until([&] { return collect().distinct() == static_cast<std::size_t>(sent); }, 60s);
  auto count = collect();
  INFO("sent " << sent << ", distinct " << count.distinct());
  CHECK(all);
  CHECK(count.missing_in(1, sent) == 0);
  CHECK(count.duplicates() == 0);
}

// `start`, then every node's worker up again (a stopped cluster had stopped them).
template <typename C = Controller>
inline void start_cluster(const C& c, int n) {
  auto [st, j] = c.post("/v1/cluster/start", "");
  INFO(j.dump());
  REQUIRE(st == 200);
  REQUIRE(wait_until([&] { return c.cluster()["nodes"]["healthy"] == n; }, 30s));
}

// Pushes a test build as a release; its version.
template <typename C = Controller>
inline std::string push(const C& c, const std::string& build) {
  auto [st, j] = c.push(agentd_build(build));
  INFO(j.dump());
  REQUIRE(st == 201);
  return j["version"];
}

// The cluster runs `version`, its rollout finished (bounded wait).
template <typename C = Controller>
inline bool cluster_on(const C& c, const std::string& version, std::chrono::seconds limit = 120s) {
  return wait_until(
      [&] {
        auto j = c.cluster();
        return j["cluster"]["state"] == "running" && j["cluster"]["current_version"] == version;
      },
      limit);
}

template <typename C = Controller>
inline std::string node_version(const C& c, const std::string& node) {
  auto [st, j] = c.get("/v1/nodes/" + node);
  return st == 200 ? j.value("version", "") : "";
}

// The last heartbeat (Unix ms) of the node heard from least recently: once
// it moves past a time, every node has reported since.
template <typename C = Controller>
inline std::int64_t oldest_heartbeat(const C& c) {
  std::int64_t least = INT64_MAX;
  json all = c.get("/v1/nodes").second;
  for (const auto& n : all["nodes"]) {
    least = std::min(least, n["last_heartbeat"].get<std::int64_t>());
  }
  return least;
}

// A node's step state in a rollout document ("?" when it has none).
inline std::string step_of(const json& rollout, const std::string& node) {
  for (const auto& s : rollout["steps"]) {
    if (s["node"] == node) return s["state"];
  }
  return "?";
}

// Every step of the rollout in flight is in `state`.
template <typename C = Controller>
bool all_steps(const C& c, const std::string& state) {
  json r = c.cluster()["rollout"];
  if (!r.is_object() || r["steps"].empty()) return false;
  for (const auto& s : r["steps"]) {
    if (s["state"] != state) return false;
  }
  return true;
}

// One config for every node of start_nodes(..., env_wrapper = true): its
// port and output directory come from the node's environment (Fluentd's
// "#{ENV['…']}" idiom).
inline const std::string kFleetConfig = R"(<source>
  @type tcp
  tag t
  bind 127.0.0.1
  port "#{ENV['LOGCTL_TEST_PORT']}"
  <parse>
    @type none
  </parse>
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type file
  path "#{ENV['LOGCTL_TEST_OUT']}/events"
  <format>
    @type json
  </format>
  <buffer>
    flush_mode interval
    flush_interval 0.2s
  </buffer>
</match>
)";

}  // namespace logctl::test
