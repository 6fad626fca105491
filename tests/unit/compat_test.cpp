// SemVer precedence and the compatibility checks, table-driven.
#include <catch2/catch.hpp>

#include "agentd/app/manifest.h"
#include "agentd/buffer/file_chunk.h"
#include "controller/compat/checks.h"
#include "controller/compat/semver.h"

using namespace logctl;
using namespace logctl::compat;

TEST_CASE("semver: parsing is strict") {
  for (const char* good : {"1.4.0", "0.1.0-next", "1.0.0-rc.1+build.7", "10.20.30"}) {
    INFO(good);
    auto v = SemVer::parse(good);
    REQUIRE(v);
    CHECK(v->str() == good);
  }
  for (const char* bad : {"", "1.4", "1.4.0.1", "01.4.0", "1.4.0-", "1.4.0-01", "1.4.0-a..b",
                          "v1.4.0", "1.4.0-a_b", "1.4.0+"}) {
    INFO(bad);
    CHECK_FALSE(SemVer::parse(bad));
  }
}

TEST_CASE("semver: precedence as SemVer 2.0.0 orders it") {
  // Each is lower than the next (the specification's own example chain).
  const std::vector<std::string> chain = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                          "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                          "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                          "1.1.0",       "2.0.0"};
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    INFO(chain[i] << " < " << chain[i + 1]);
    CHECK(SemVer::parse(chain[i]).value() < SemVer::parse(chain[i + 1]).value());
    CHECK_FALSE(SemVer::parse(chain[i + 1]).value() < SemVer::parse(chain[i]).value());
  }
  CHECK(SemVer::parse("1.0.0+a").value() == SemVer::parse("1.0.0+b").value());
}

namespace {

CheckInput upgrade_to(const std::string& to, const std::string& from = "1.3.0") {
  CheckInput in;
  in.current_version = from;
  in.target_version = to;
  in.target = agentd::build_manifest(to);
  in.artifact_verified = true;
  for (const char* n : {"node-1", "node-2"}) {
    in.nodes.push_back({n, from, agentd::kChunkFormatVersion, {2, 2}, true, "", ""});
  }
  return in;
}

// "passed" / "failed" / "skipped" for the named check.
std::string outcome(const CheckInput& in, const std::string& name) {
  auto r = run_checks(in);
  REQUIRE(r);
  for (const auto& c : *r) {
    if (c.name == name) {
      return c.outcome == Outcome::kPassed   ? "passed"
             : c.outcome == Outcome::kFailed ? "failed"
                                             : "skipped";
    }
  }
  return "missing";
}

}  // namespace

TEST_CASE("checks: a compatible upgrade passes every check") {
  auto r = run_checks(upgrade_to("1.4.0"));
  REQUIRE(r);
  CHECK(r->size() == all_check_names().size());
  CHECK(all_passed(*r));
}

TEST_CASE("checks: each check fails for its own reason, naming it") {
  struct Row {
    const char* check;
    std::function<void(CheckInput&)> spoil;
    const char* detail;
  };
  const std::vector<Row> rows = {
      {kReleaseExists, [](auto& in) { in.target.reset(); }, "logctl release push"},
      {kArtifactHash, [](auto& in) { in.artifact_verified = false; }, "SHA-256"},
      {kSemverPolicy, [](auto& in) { in.target_version = "1.2.0"; }, "allow_downgrade"},
      {kSemverPolicy, [](auto& in) { in.target_version = "1.3.0"; }, "already at 1.3.0"},
      {kMinUpgradeFrom, [](auto& in) { in.target->min_upgrade_from = "1.3.5"; },
       "node-1 runs 1.3.0"},
      {kBufferFormat, [](auto& in) { in.nodes[1].chunk_format_written = 9; },
       "node-2 holds chunk format 9"},
      {kHandoverProtocol,
       [](auto& in) {
         in.nodes[0].handover_protocol = {3, 4};
       },
       "node-1 speaks"},
      {kConfigSchema, [](auto& in) { in.config_error = "x.conf:3: unknown parameter"; },
       "x.conf:3"},
      {kNodesHealthy, [](auto& in) { in.nodes[1].healthy = false; }, "node-2 is not healthy"},
      {kNoRolloutInFlight, [](auto& in) { in.rollout_in_flight = true; }, "in flight"},
  };
  for (const auto& row : rows) {
    INFO(row.check << ": " << row.detail);
    auto in = upgrade_to("1.4.0");
    row.spoil(in);
    auto r = run_checks(in).value();
    CHECK_FALSE(all_passed(r));
    bool found = false;
    for (const auto& c : r) {
      if (c.name == row.check && c.outcome == Outcome::kFailed) {
        found = true;
        CHECK_THAT(c.detail, Catch::Contains(row.detail));
      }
    }
    CHECK(found);
  }
}

TEST_CASE("checks: allow_downgrade, ignore and force are explicit and reported") {
  auto down = upgrade_to("1.2.0");
  down.allow_downgrade = true;
  CHECK(outcome(down, kSemverPolicy) == "passed");
  auto ignored = upgrade_to("1.4.0");
  ignored.nodes[0].healthy = false;
  ignored.ignore = {kNodesHealthy};
  CHECK(outcome(ignored, kNodesHealthy) == "skipped");
  CHECK(all_passed(run_checks(ignored).value()));
  auto forced = upgrade_to("1.3.0");  // a CI re-run to the same version
  forced.force = true;
  auto r = run_checks(forced).value();
  CHECK(all_passed(r));
  for (const auto& c : r) CHECK(c.detail == "skipped: forced");
  auto unknown = upgrade_to("1.4.0");
  unknown.ignore = {"nodes_happy"};
  auto u = run_checks(unknown);
  REQUIRE_FALSE(u);
  CHECK_THAT(u.error().message, Catch::Contains("unknown check 'nodes_happy'"));
}
