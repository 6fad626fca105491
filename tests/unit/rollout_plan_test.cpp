// Rollout planning, table-driven: every strategy's batches over real node
// lists, the strategy parser's refusals, and the config-against-release-schema
// check the upgrade runs before it records a target.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "controller/compat/config_schema.h"
#include "controller/rollout/plan.h"
#include "logctl/schema/config.h"
#include "logctl/schema/plugin_schema.h"

using namespace logctl;
using namespace logctl::rollout;
using nlohmann::json;

namespace {

std::vector<NodeRef> nodes(int n) {
  std::vector<NodeRef> out;
  for (int i = 1; i <= n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "n%02d", i);
    out.push_back({name, {}});
  }
  return out;
}

std::vector<std::size_t> sizes(const std::vector<std::vector<std::string>>& batches) {
  std::vector<std::size_t> out;
  for (const auto& b : batches) out.push_back(b.size());
  return out;
}

}  // namespace

TEST_CASE("plan: batch sizes for every strategy") {
  struct Case {
    const char* strategy;
    int nodes;
    std::vector<std::size_t> want;
  };
  const Case cases[] = {
      {"null", 3, {1, 1, 1}},
      {R"({"batch_size":2})", 5, {2, 2, 1}},
      {R"({"batch_size":10})", 3, {3}},
      {R"({"max_unavailable":3})", 7, {3, 3, 1}},
      {R"({"canary":1,"batch_size":2})", 5, {1, 2, 2}},
      {R"({"canary":5})", 5, {5}},
      {R"({"ramp":"1,10%,50%,100%"})", 20, {1, 1, 8, 10}},
      {R"({"ramp":["2","100%"]})", 3, {2, 1}},
      {R"({"ramp":"1,10%,100%"})", 3, {1, 2}},  // 10 % of 3 rounds up to 1: merged
      {R"({"canary":1,"ramp":"50%,100%"})", 10, {1, 4, 5}},
      {R"({"ramp":"100%"})", 1000, {1000}},
      {R"({"batch_size":100})", 1000, {100, 100, 100, 100, 100, 100, 100, 100, 100, 100}},
  };
  for (const auto& c : cases) {
    INFO(c.strategy << " over " << c.nodes << " nodes");
    auto s = parse_strategy(json::parse(c.strategy));
    REQUIRE(s);
    auto b = plan_batches(nodes(c.nodes), *s);
    REQUIRE(b);
    CHECK(sizes(*b) == c.want);
    // Every node exactly once.
    std::set<std::string> seen;
    for (const auto& batch : *b) seen.insert(batch.begin(), batch.end());
    CHECK(seen.size() == static_cast<std::size_t>(c.nodes));
  }
}

TEST_CASE("plan: nodes ordered by a label then by name, unlabelled last") {
  std::vector<NodeRef> ns = {
      {"a", {{"zone", "z2"}}}, {"b", {}}, {"c", {{"zone", "z1"}}}, {"d", {{"zone", "z1"}}}};
  auto s = parse_strategy(json::parse(R"({"batch_size":1,"order_label":"zone"})"));
  REQUIRE(s);
  auto b = plan_batches(ns, *s);
  REQUIRE(b);
  std::vector<std::string> order;
  for (const auto& batch : *b) order.push_back(batch.at(0));
  CHECK(order == std::vector<std::string>{"c", "d", "a", "b"});
}

TEST_CASE("plan: bad strategies are refused naming the field") {
  struct Case {
    const char* strategy;
    const char* says;
  };
  const Case cases[] = {
      {R"({"batch_size":2,"ramp":"100%"})", "give one of"},
      {R"({"batch_size":0})", "'batch_size'"},
      {R"({"batch_size":"2"})", "'batch_size'"},
      {R"({"bacth_size":2})", "unknown field 'bacth_size'"},
      {R"({"ramp":"0,100%"})", "ramp step '0'"},
      {R"({"ramp":"1,101%"})", "ramp step '101%'"},
      {R"({"ramp":"1,,100%"})", "ramp step ''"},
      {R"({"ramp":"x"})", "ramp step 'x'"},
      {R"({"ramp":7})", "'ramp' must be"},
      {R"({"canary":-1})", "'canary'"},
      {R"({"min_healthy_time_ms":5000,"healthy_deadline_ms":1000})", "shorter than"},
      {R"({"max_new_drops":-3})", "'max_new_drops'"},
      {R"({"order_label":""})", "'order_label'"},
      {R"({"skip_unreachable":"yes"})", "'skip_unreachable' is a boolean"},
      {R"([1,2])", "not an object"},
  };
  for (const auto& c : cases) {
    INFO(c.strategy);
    auto s = parse_strategy(json::parse(c.strategy));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == ErrorCode::kInvalidArgument);
    CHECK_THAT(s.error().message, Catch::Contains(c.says));
  }
  // Valid to parse, impossible to apply to this cluster.
  auto ramp = parse_strategy(json::parse(R"({"ramp":"1,50%"})"));
  REQUIRE(ramp);
  auto b = plan_batches(nodes(10), *ramp);
  REQUIRE_FALSE(b);
  CHECK_THAT(b.error().message, Catch::Contains("ends at 5 of 10 nodes"));
  auto canary = parse_strategy(json::parse(R"({"canary":4})"));
  CHECK_FALSE(plan_batches(nodes(3), *canary));
  CHECK_FALSE(plan_batches({}, *canary));
}

TEST_CASE("plan: a strategy survives its JSON round trip") {
  auto s = parse_strategy(json::parse(
      R"({"canary":1,"ramp":"1,10%,100%","order_label":"rack","max_failed":2,"min_healthy_time_ms":700,"skip_unreachable":true})"));
  REQUIRE(s);
  auto again = parse_strategy(to_json(*s));
  REQUIRE(again);
  CHECK(to_json(*again) == to_json(*s));
  CHECK(again->skip_unreachable);
  CHECK(again->gate.min_healthy_time.count() == 700);
}

TEST_CASE("config schema: a config is checked against a release's plugin schema") {
  json schema = config::plugin_schema_json();
  auto check = [&](const std::string& text) {
    auto root = config::parse_string(text, "c.conf", [](const char*) -> const char* { return ""; });
    REQUIRE(root);
    return compat::config_fits_schema(*root, schema);
  };
  const std::string ok = R"(
<source>
  @type udp
  port 5160
  tag x
  body_size_limit 4k
  <parse>
    @type json
  </parse>
</source>
<match **>
  @type file
  path /tmp/x
  <buffer>
    flush_interval 1s
  </buffer>
</match>
)";
  CHECK(check(ok));  // body_size_limit: an alias the schema lists
  auto unknown_plugin = check("<source>\n  @type kafka\n  tag x\n</source>\n");
  REQUIRE_FALSE(unknown_plugin);
  CHECK_THAT(unknown_plugin.error().message,
             Catch::Contains("c.conf:1") && Catch::Contains("no input plugin 'kafka'"));
  auto unknown_param = check("<match **>\n  @type stdout\n  colour red\n</match>\n");
  REQUIRE_FALSE(unknown_param);
  CHECK_THAT(unknown_param.error().message, Catch::Contains("no parameter 'colour'"));
  // Asked for warnings (the controller's config check): the config fits,
  // the parameter is a warning naming the line, with a hint.
  std::vector<std::string> warnings;
  auto typo = config::parse_string(
      "<match **>\n  @type file\n  path /tmp/x\n  <buffer>\n    flush_intervl 1s\n"
      "  </buffer>\n</match>\n",
      "c.conf", [](const char*) -> const char* { return ""; });
  REQUIRE(typo);
  CHECK(compat::config_fits_schema(*typo, schema, &warnings));
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("c.conf:5") &&
                              Catch::Contains("did you mean 'flush_interval'?") &&
                              Catch::Contains("(ignored)"));
  auto unknown_section = check("<match **>\n  @type null\n  <store>\n  </store>\n</match>\n");
  REQUIRE_FALSE(unknown_section);
  CHECK_THAT(unknown_section.error().message, Catch::Contains("takes no <store> section"));
  // Values against the declared types, and required parameters.
  auto bad_port = check("<source>\n  @type tcp\n  tag x\n  port nope\n</source>\n");
  REQUIRE_FALSE(bad_port);
  CHECK_THAT(bad_port.error().message,
             Catch::Contains("c.conf:4") && Catch::Contains("'port'") && Catch::Contains("nope"));
  auto bad_enum = check("<source>\n  @type tcp\n  tag x\n  frame_type nope\n</source>\n");
  REQUIRE_FALSE(bad_enum);
  CHECK_THAT(bad_enum.error().message, Catch::Contains("not one of"));
  auto no_tag = check("<source>\n  @type tcp\n  port 5170\n</source>\n");
  REQUIRE_FALSE(no_tag);
  CHECK_THAT(no_tag.error().message, Catch::Contains("needs parameter 'tag'"));
  // A value from each node's environment is checked on the node, not here.
  auto from_env = config::parse_string(
      "<source>\n  @type tcp\n  tag x\n  port \"#{ENV['PORT']}\"\n</source>\n", "c.conf",
      [](const char*) -> const char* { return compat::kNodeEnvironment; });
  REQUIRE(from_env);
  CHECK(compat::config_fits_schema(*from_env, schema));
  // A release whose schema lacks a plugin the config uses.
  json older = schema;
  auto& plugins = older["plugins"];
  plugins.erase(std::remove_if(plugins.begin(), plugins.end(),
                               [](const json& p) { return p["type"] == "udp"; }),
                plugins.end());
  auto root = config::parse_string(ok, "c.conf", [](const char*) -> const char* { return ""; });
  REQUIRE(root);
  CHECK_FALSE(compat::config_fits_schema(*root, older));
}
