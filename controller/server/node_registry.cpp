#include "controller/server/node_registry.h"

namespace logctl::controller {

using nlohmann::json;

const char* liveness_name(Liveness l) {
  switch (l) {
    case Liveness::kConnected:
      return "connected";
    case Liveness::kUnknown:
      return "unknown";
    case Liveness::kUnreachable:
      return "unreachable";
  }
  return "?";
}

NodeRegistry::NodeRegistry(std::chrono::milliseconds node_timeout, Clock::time_point now,
                           std::int64_t now_ms)
    : timeout_(node_timeout), listening_since_(now), last_pass_(now), listening_since_ms_(now_ms) {}

void NodeRegistry::note_pass(Clock::time_point now, std::int64_t now_ms) {
  if (now - last_pass_ > timeout_ / 2) {
    listening_since_ = now;
    listening_since_ms_ = now_ms;
  }
  last_pass_ = now;
}

Liveness NodeRegistry::liveness(const LiveNode& n, Clock::time_point now) const {
  if (n.seen != Clock::time_point{} && now - n.seen < timeout_) return Liveness::kConnected;
  // Not heard lately. If this process has not listened a whole timeout since
  // the node's last chance to report, say nothing yet.
  if (now - listening_since_ < timeout_) return Liveness::kUnknown;
  return Liveness::kUnreachable;
}

bool NodeRegistry::healthy(const LiveNode& n, bool cluster_stopped, Clock::time_point now) const {
  if (!connected(n, now)) return false;
  return cluster_stopped || n.health.value("worker_up", false);
}

std::string NodeRegistry::describe(const LiveNode& n, Clock::time_point now,
                                   std::int64_t now_ms) const {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  switch (liveness(n, now)) {
    case Liveness::kConnected:
      return "connected";
    case Liveness::kUnknown:
      return "unknown: the controller has listened for " +
             std::to_string(duration_cast<seconds>(now - listening_since_).count()) + " s of " +
             std::to_string(duration_cast<seconds>(timeout_).count()) + " s";
    case Liveness::kUnreachable:
      if (n.row.last_heartbeat == 0) return "unreachable: never heard from";
      return "unreachable: no heartbeat for " +
             std::to_string((now_ms - n.row.last_heartbeat) / 1000) + " s";
  }
  return "?";
}

LiveNode* NodeRegistry::find(const std::string& name) {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const LiveNode* NodeRegistry::find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

LiveNode& NodeRegistry::add(store::Node row) {
  LiveNode n;
  n.health = json::parse(row.health, nullptr, false);
  if (!n.health.is_object()) n.health = json::object();
  std::string name = row.name;
  n.row = std::move(row);
  return nodes_[name] = std::move(n);
}

std::vector<rollout::NodeRef> NodeRegistry::plannable() const {
  std::vector<rollout::NodeRef> refs;
  for (const auto& [name, n] : nodes_) {
    if (n.revoked || !n.ever_heard()) continue;
    rollout::NodeRef ref{name, {}};
    json labels = json::parse(n.row.labels, nullptr, false);
    if (labels.is_object()) {
      for (const auto& [k, v] : labels.items()) {
        if (v.is_string()) ref.labels[k] = v.get<std::string>();
      }
    }
    refs.push_back(std::move(ref));
  }
  return refs;
}

std::vector<store::Node> NodeRegistry::take_dirty() {
  std::vector<store::Node> dirty;
  for (auto& [name, n] : nodes_) {
    if (!n.dirty) continue;
    n.row.health = n.health.dump();
    dirty.push_back(n.row);
    n.dirty = false;
  }
  return dirty;
}

}  // namespace logctl::controller
