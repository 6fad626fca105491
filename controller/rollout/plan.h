// Rollout planning (pure): the strategy an operator asks for, parsed and
// validated, and the batches it makes of the cluster's nodes. The rollout
// executor (rollout.h) carries a plan out; a dry run returns it as is.
//
//   batch_size N        N nodes per batch
//   max_unavailable N   the same for a staged handover (a node never stops
//                       serving while it moves; N is how many move at once)
//   ramp 1,10%,100%     cumulative targets: 1 node, then up to 10 %, then all
//   canary N            a first batch of N nodes, before any of the above
//   order_label L       nodes sorted by label L's value (unlabelled last), then name
//   skip_unreachable    a node that cannot be heard when its batch starts is
//                       skipped (and the rollout ends succeeded_partial)
//                       instead of failing its step at once
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "logctl/schema/result.h"

namespace logctl::rollout {

// When a batch counts as healthy (judged on the data plane, rollout.h).
struct Gate {
  std::chrono::milliseconds min_healthy_time{5000};    // healthy this long after the handover
  std::chrono::milliseconds healthy_deadline{120000};  // from the batch's start
  std::int64_t max_new_drops = 0;                      // per node, during the gate
  std::int64_t max_new_parse_errors = 0;
  std::int64_t max_backlog_growth_bytes = 64 << 20;  // buffer queue growth per node
};

struct Strategy {
  int batch_size = 0;       // 0 = not given
  int max_unavailable = 0;  // 0 = not given
  std::vector<std::string> ramp;
  int canary = 0;
  std::string order_label;
  int max_failed = 0;  // nodes that may fail their gate before the rollout fails
  // A node unreachable at the start of its batch: skipped (true) or failed.
  bool skip_unreachable = false;
  Gate gate;
};

// From the API's JSON ({"batch_size":2,"canary":1,"ramp":"1,10%,100%",
// "min_healthy_time_ms":..}); kInvalidArgument names the field.
Result<Strategy> parse_strategy(const nlohmann::json& j);
nlohmann::json to_json(const Strategy& s);

struct NodeRef {
  std::string name;
  std::map<std::string, std::string> labels;
};

// The batches, in order; every node exactly once. kInvalidArgument when the
// strategy cannot be applied (a ramp that does not reach 100 %, no nodes).
Result<std::vector<std::vector<std::string>>> plan_batches(std::vector<NodeRef> nodes,
                                                           const Strategy& s);

}  // namespace logctl::rollout
