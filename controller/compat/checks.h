// The compatibility checks `upgrade --to V` runs before it records a target.
// Every fact comes from release manifests and node reports, never guesses.
// Each check is reported by name with passed / failed / skipped and a detail;
// `ignore` skips named checks, `force` skips them all (and allows a re-run to
// the same version) — both are visible in the report and the history.
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "logctl/schema/release_manifest.h"
#include "logctl/schema/result.h"

namespace logctl::compat {

// Check names (stable: the API and CLI use them, e.g. --ignore-check).
inline constexpr const char* kReleaseExists = "release_exists";
inline constexpr const char* kArtifactHash = "artifact_hash";
inline constexpr const char* kSemverPolicy = "semver_policy";
inline constexpr const char* kMinUpgradeFrom = "min_upgrade_from";
inline constexpr const char* kBufferFormat = "buffer_format";
inline constexpr const char* kHandoverProtocol = "handover_protocol";
inline constexpr const char* kConfigSchema = "config_schema";
inline constexpr const char* kNodesHealthy = "nodes_healthy";
inline constexpr const char* kNoRolloutInFlight = "no_rollout_in_flight";
const std::vector<std::string>& all_check_names();

// What one node is known to be. Its chunk format and handover protocol come
// from the manifest of the release it runs when the controller has one (a
// node's own report is believed only for a version pushed elsewhere), so a
// lying node cannot veto an upgrade; a report that disagrees is named.
struct NodeFacts {
  std::string name;
  std::string version;
  int chunk_format_written = 0;  // the format its buffers hold on disk
  release::VersionRange handover_protocol;
  bool healthy = false;
  std::string unhealthy_because;  // e.g. "unreachable: no heartbeat for 40 s"
  std::string disbelieved;  // e.g. "reported chunk format 99; release 1.0.0's manifest says 1"
};

struct CheckInput {
  std::string current_version;              // the cluster's
  std::string target_version;               // what was asked for
  std::optional<release::Manifest> target;  // nullopt: no such release
  bool artifact_verified = false;           // its SHA-256 matched the record
  std::vector<NodeFacts> nodes;
  // Unreachable nodes the rollout will skip (strategy skip_unreachable):
  // not in `nodes`, named in nodes_healthy's detail.
  std::vector<std::string> skipped_unreachable;
  std::optional<std::string> config_error;  // validating the config against V's schema
  bool rollout_in_flight = false;
  bool allow_downgrade = false;
  bool force = false;
  std::set<std::string> ignore;
};

enum class Outcome { kPassed, kFailed, kSkipped };

struct CheckResult {
  std::string name;
  Outcome outcome = Outcome::kPassed;
  std::string detail;
};

// kInvalidArgument for an unknown name in `ignore`.
Result<std::vector<CheckResult>> run_checks(const CheckInput& in);
bool all_passed(const std::vector<CheckResult>& results);

}  // namespace logctl::compat
