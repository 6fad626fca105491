// The nodes the controller knows, with what each last reported and whether
// it can be heard (docs/architecture.md, "Liveness"). Liveness is judged
// only over time this controller process was able to listen: it starts
// listening when it opens and again after it was itself stopped (SIGSTOP, a
// frozen VM, a stalled disk) for longer than half a node timeout. Until a
// node has had one node timeout of listening to report, it is kUnknown and
// no gate may judge it, so a controller restart or pause never fails a node
// that kept reporting to nobody.
//
//   (enrol) --> unknown --heartbeat--> connected --node_timeout--> unreachable
//                  |                      ^                           |
//                  +---node_timeout-------+----------heartbeat--------+
//                      (-> unreachable)
//
// Thread safety: none; the Controller calls it under its mutex. Time comes
// in as arguments (the Controller reads the clocks).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/rollout/plan.h"
#include "controller/store/store.h"

namespace logctl::controller {

using Clock = std::chrono::steady_clock;

enum class Liveness {
  kConnected,    // a heartbeat within the node timeout
  kUnknown,      // not heard since this controller began listening, less than a timeout ago
  kUnreachable,  // not heard for a node timeout while this controller listened
};
const char* liveness_name(Liveness l);

struct LiveNode {
  store::Node row;
  nlohmann::json health = nlohmann::json::object();  // as last reported
  nlohmann::json previous_health = nlohmann::json::object();
  Clock::time_point seen{};  // this process's last heartbeat from it ({}: none)
  bool revoked = false;      // no valid token: out of plans and checks
  bool dirty = false;        // figures not yet written back
  // Has reported at least once: a node enrolled and never heard from is in
  // no plan and no check (it cannot veto or wedge a rollout).
  bool ever_heard() const { return row.last_heartbeat != 0; }
};

class NodeRegistry {
 public:
  NodeRegistry(std::chrono::milliseconds node_timeout, Clock::time_point now, std::int64_t now_ms);

  // Called once per reconcile pass, before any gate is judged: a pass that
  // comes more than half a node timeout after the last one means this
  // process was not running (stopped or starved), and listening starts over.
  void note_pass(Clock::time_point now, std::int64_t now_ms);
  // When listening last (re)started, as Unix ms: deadlines do not count the
  // time before it (docs/operations.md, "Restart the controller").
  std::int64_t listening_since_ms() const { return listening_since_ms_; }

  Liveness liveness(const LiveNode& n, Clock::time_point now) const;
  bool connected(const LiveNode& n, Clock::time_point now) const {
    return liveness(n, now) == Liveness::kConnected;
  }
  // Connected, and (unless the cluster is stopped) its worker up.
  bool healthy(const LiveNode& n, bool cluster_stopped, Clock::time_point now) const;
  // "connected", "unknown (controller listening for 3 s of 10 s)",
  // "unreachable: no heartbeat for 42 s" / "never heard from".
  std::string describe(const LiveNode& n, Clock::time_point now, std::int64_t now_ms) const;

  LiveNode* find(const std::string& name);
  const LiveNode* find(const std::string& name) const;
  LiveNode& add(store::Node row);
  void erase(const std::string& name) { nodes_.erase(name); }
  const std::map<std::string, LiveNode>& all() const { return nodes_; }
  std::map<std::string, LiveNode>& all() { return nodes_; }

  // Nodes a rollout plans with (enrolled, heard from, not revoked), with their labels.
  std::vector<rollout::NodeRef> plannable() const;
  // The rows whose figures changed since the last call (for one write).
  std::vector<store::Node> take_dirty();

 private:
  std::chrono::milliseconds timeout_;
  Clock::time_point listening_since_, last_pass_;
  std::int64_t listening_since_ms_ = 0;
  std::map<std::string, LiveNode> nodes_;
};

}  // namespace logctl::controller
