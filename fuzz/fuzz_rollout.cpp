// The controller's request parsers that take JSON from the network: a rollout
// strategy (then planned over a small fleet), and a config checked against a
// release manifest's plugin schema (both the config text and the schema come
// from an admin's upload). First byte picks the parser; the rest is input.
// Invariants: no crash, no hang, every node planned exactly once.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "controller/compat/config_schema.h"
#include "controller/rollout/plan.h"
#include "logctl/schema/config.h"
#include "logctl/schema/plugin_schema.h"

using namespace logctl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded()) return 0;
    auto s = rollout::parse_strategy(j);
    if (!s) return 0;
    std::vector<rollout::NodeRef> nodes;
    for (int i = 0; i < 1 + (data[0] >> 2); ++i) {
      nodes.push_back({"n" + std::to_string(i), {{"zone", std::to_string(i % 3)}}});
    }
    auto b = rollout::plan_batches(nodes, *s);
    if (!b) return 0;
    std::set<std::string> seen;
    std::size_t total = 0;
    for (const auto& batch : *b) {
      total += batch.size();
      seen.insert(batch.begin(), batch.end());
    }
    if (total != nodes.size() || seen.size() != nodes.size()) __builtin_trap();
    (void)rollout::parse_strategy(rollout::to_json(*s));
  } else {
    // "<config>\0<schema JSON>": a hostile schema as well as a hostile config.
    auto nul = in.find('\0');
    std::string text = in.substr(0, nul);
    auto root =
        config::parse_string(text, "fuzz.conf", [](const char*) -> const char* { return ""; });
    if (!root) return 0;
    static const nlohmann::json kOwn = config::plugin_schema_json();
    nlohmann::json schema = kOwn;
    if (nul != std::string::npos) {
      auto j = nlohmann::json::parse(in.substr(nul + 1), nullptr, false);
      if (!j.is_discarded()) schema = j;
    }
    (void)compat::config_fits_schema(*root, schema);
  }
  return 0;
}
