#include "controller/compat/checks.h"

#include <functional>

#include "controller/compat/semver.h"

namespace logctl::compat {
namespace {

using Check = std::function<CheckResult(const CheckInput&)>;

CheckResult pass(const char* name, std::string detail) {
  return {name, Outcome::kPassed, std::move(detail)};
}
CheckResult fail(const char* name, std::string detail) {
  return {name, Outcome::kFailed, std::move(detail)};
}

CheckResult release_exists(const CheckInput& in) {
  if (in.target) return pass(kReleaseExists, "release " + in.target_version + " is stored");
  return fail(kReleaseExists,
              "no release " + in.target_version + ": push it with `logctl release push`");
}

CheckResult artifact_hash(const CheckInput& in) {
  if (!in.target) return fail(kArtifactHash, "no release to verify");
  return in.artifact_verified ? pass(kArtifactHash, "SHA-256 matches the release record")
                              : fail(kArtifactHash, "the artifact does not match its SHA-256");
}

CheckResult semver_policy(const CheckInput& in) {
  auto to = SemVer::parse(in.target_version);
  if (!to) return fail(kSemverPolicy, to.error().message);
  if (in.current_version.empty()) return pass(kSemverPolicy, "first version of the cluster");
  auto from = SemVer::parse(in.current_version);
  if (!from) return fail(kSemverPolicy, "current " + from.error().message);
  if (*to == *from) {
    return fail(kSemverPolicy, "already at " + in.current_version + " (force re-runs it)");
  }
  if (*to < *from && !in.allow_downgrade) {
    return fail(kSemverPolicy, in.target_version + " is older than " + in.current_version +
                                   ": a downgrade needs allow_downgrade");
  }
  return pass(kSemverPolicy, in.current_version + " -> " + in.target_version +
                                 (*to < *from ? " (downgrade allowed)" : ""));
}

CheckResult min_upgrade_from(const CheckInput& in) {
  if (!in.target) return fail(kMinUpgradeFrom, "no release manifest");
  auto min = SemVer::parse(in.target->min_upgrade_from);
  if (!min) return fail(kMinUpgradeFrom, "manifest " + min.error().message);
  for (const auto& n : in.nodes) {
    auto v = SemVer::parse(n.version);
    if (!v || *v < *min) {
      return fail(kMinUpgradeFrom, "node " + n.name + " runs " + n.version + "; " +
                                       in.target_version + " upgrades from " +
                                       in.target->min_upgrade_from + " or later");
    }
  }
  return pass(kMinUpgradeFrom, "every node runs " + in.target->min_upgrade_from + " or later");
}

CheckResult buffer_format(const CheckInput& in) {
  if (!in.target) return fail(kBufferFormat, "no release manifest");
  for (const auto& n : in.nodes) {
    if (!in.target->chunk_format_read.contains(n.chunk_format_written)) {
      return fail(kBufferFormat, "node " + n.name + " holds chunk format " +
                                     std::to_string(n.chunk_format_written) + "; " +
                                     in.target_version + " reads " +
                                     std::to_string(in.target->chunk_format_read.min) + ".." +
                                     std::to_string(in.target->chunk_format_read.max));
    }
  }
  std::string flagged;
  for (const auto& n : in.nodes) {
    if (!n.disbelieved.empty())
      flagged += "; node " + n.name + " " + n.disbelieved + " (not believed)";
  }
  return pass(kBufferFormat, "every node's buffers are readable by " + in.target_version + flagged);
}

CheckResult handover_protocol(const CheckInput& in) {
  if (!in.target) return fail(kHandoverProtocol, "no release manifest");
  for (const auto& n : in.nodes) {
    if (!in.target->handover_protocol.overlaps(n.handover_protocol)) {
      return fail(kHandoverProtocol, "node " + n.name + " speaks handover protocol " +
                                         std::to_string(n.handover_protocol.min) + ".." +
                                         std::to_string(n.handover_protocol.max) + "; " +
                                         in.target_version + " speaks " +
                                         std::to_string(in.target->handover_protocol.min) + ".." +
                                         std::to_string(in.target->handover_protocol.max));
    }
  }
  return pass(kHandoverProtocol, "every node can hand over to " + in.target_version);
}

CheckResult config_schema(const CheckInput& in) {
  if (in.config_error) return fail(kConfigSchema, *in.config_error);
  return pass(kConfigSchema, "the current config validates against " + in.target_version);
}

CheckResult nodes_healthy(const CheckInput& in) {
  for (const auto& n : in.nodes) {
    if (!n.healthy) {
      return fail(kNodesHealthy,
                  "node " + n.name + " is not healthy" +
                      (n.unhealthy_because.empty() ? "" : " (" + n.unhealthy_because + ")"));
    }
  }
  std::string skipped;
  for (const auto& n : in.skipped_unreachable) skipped += (skipped.empty() ? "" : ", ") + n;
  return pass(kNodesHealthy,
              std::to_string(in.nodes.size()) + " node(s) healthy" +
                  (skipped.empty() ? "" : "; unreachable, to be skipped: " + skipped));
}

CheckResult no_rollout_in_flight(const CheckInput& in) {
  return in.rollout_in_flight
             ? fail(kNoRolloutInFlight, "a rollout is in flight: wait, pause or abort it")
             : pass(kNoRolloutInFlight, "no rollout in flight");
}

const std::vector<std::pair<std::string, Check>>& checks() {
  static const std::vector<std::pair<std::string, Check>> all = {
      {kReleaseExists, release_exists},
      {kArtifactHash, artifact_hash},
      {kSemverPolicy, semver_policy},
      {kMinUpgradeFrom, min_upgrade_from},
      {kBufferFormat, buffer_format},
      {kHandoverProtocol, handover_protocol},
      {kConfigSchema, config_schema},
      {kNodesHealthy, nodes_healthy},
      {kNoRolloutInFlight, no_rollout_in_flight}};
  return all;
}

}  // namespace

const std::vector<std::string>& all_check_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, fn] : checks()) n.push_back(name);
    return n;
  }();
  return names;
}

Result<std::vector<CheckResult>> run_checks(const CheckInput& in) {
  for (const auto& name : in.ignore) {
    bool known = false;
    for (const auto& n : all_check_names()) known = known || n == name;
    if (!known) {
      std::string list;
      for (const auto& n : all_check_names()) list += (list.empty() ? "" : ", ") + n;
      return make_error(ErrorCode::kInvalidArgument,
                        "unknown check '" + name + "' (checks: " + list + ")");
    }
  }
  std::vector<CheckResult> out;
  for (const auto& [name, fn] : checks()) {
    if (in.force || in.ignore.count(name)) {
      out.push_back({name, Outcome::kSkipped, in.force ? "skipped: forced" : "skipped: ignored"});
    } else {
      out.push_back(fn(in));
    }
  }
  return out;
}

bool all_passed(const std::vector<CheckResult>& results) {
  for (const auto& r : results) {
    if (r.outcome == Outcome::kFailed) return false;
  }
  return true;
}

}  // namespace logctl::compat
