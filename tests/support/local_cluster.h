// Helpers for tests that drive the real `logctl` binary against a local
// cluster it boots (`logctl cluster start --local`): the CLI runner, the
// cluster (deleted afterwards), paced numbered traffic into every node, a
// connection prober, and the count of what reached the nodes' outputs.
// Shared by tests/integration/cli_test.cpp and tests/e2e/.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace logctl::test {

std::string bin_dir();
std::string shell_quote(const std::string& s);

struct Run {
  int rc = -1;
  std::string out, err;
  nlohmann::json doc() const { return nlohmann::json::parse(out, nullptr, false); }
};

std::string describe(const Run& r);

// Runs logctl with HOME in the test's directory and no LOGCTL_* from outside.
class Logctl {
 public:
  explicit Logctl(const TempDir& dir) : dir_(dir) {}
  Run operator()(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {}) const;

 private:
  const TempDir& dir_;
};

// A local cluster for one test, deleted afterwards. Nodes listen on
// SUBNET.I:5170, SUBNET = 127.0.X with X from this process, so another
// local cluster on this machine (a developer's, a parallel run) is not hit.
struct LocalCluster {
  LocalCluster(int nodes, const TempDir& d, const std::vector<std::string>& extra = {});
  ~LocalCluster();
  nlohmann::json nodes() const;
  nlohmann::json record() const;  // local.json
  std::string out_dir(int i) const;
  // Every node connected, running or not as asked.
  bool nodes_running(bool running) const;

  const TempDir& dir;
  Logctl logctl;
  std::string data;
  std::string subnet;
  Run started;
};

// Numbered lines ("seq=N cli") to nodes SUBNET.1..N:5170, one long-lived
// connection per node, 100 at a time round robin, paced to `per_second`;
// a reset is a failure, never retried. Nodes in `skip` get nothing.
class Traffic {
 public:
  Traffic(std::string subnet, int nodes, long per_second = kSanitized ? 12000 : 40000,
          std::set<int> skip = {});
  ~Traffic();
  long stop();  // the number sent
  long sent() const { return sent_; }
  bool ok() const { return ok_; }
  double rate() const;  // events/s achieved

 private:
  void run();
  std::string subnet_;
  int nodes_;
  long per_second_;
  std::set<int> skip_;
  std::atomic<bool> stop_{false}, ok_{true};
  std::atomic<long> sent_{0};
  std::chrono::steady_clock::time_point start_, end_;
  std::thread thread_;
};

// Opens a new TCP connection to each node in turn, every few ms, and counts
// the ones refused or failed: a node that stops listening shows here.
class Prober {
 public:
  Prober(std::string subnet, int nodes);
  ~Prober();
  void stop();
  long attempts() const { return attempts_; }
  long refused() const { return refused_; }

 private:
  std::string subnet_;
  int nodes_;
  std::atomic<bool> stop_{false};
  std::atomic<long> attempts_{0}, refused_{0};
  std::thread thread_;
};

// Numbers 0..sent-1 not found in any node's output.
long missing(const LocalCluster& c, int nodes, long sent);

// The version `binary version` prints.
std::string version_of(const std::string& binary);

}  // namespace logctl::test
