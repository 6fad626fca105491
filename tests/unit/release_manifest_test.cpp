// The release manifest contract: what agentd prints is what the controller
// reads; anything malformed or newer is refused naming the field.
#include <catch2/catch.hpp>

#include "agentd/app/manifest.h"
#include "agentd/buffer/file_chunk.h"
#include "logctl/schema/release_manifest.h"

using namespace logctl;

TEST_CASE("release manifest: this build's manifest round-trips") {
  auto m = agentd::build_manifest("1.4.0");
  auto back = release::manifest_from_json(release::to_json(m));
  REQUIRE(back);
  CHECK(back->version == "1.4.0");
  CHECK(back->min_upgrade_from == agentd::kMinUpgradeFrom);
  CHECK(back->chunk_format_write == agentd::kChunkFormatVersion);
  CHECK(back->chunk_format_read.contains(1));
  CHECK(back->handover_protocol.contains(2));
  CHECK(back->plugin_schema.dump().find("\"tcp\"") != std::string::npos);
}

TEST_CASE("release manifest: malformed or newer manifests are refused naming the field") {
  auto good = release::to_json(agentd::build_manifest("1.4.0"));
  auto refused = [&](const std::function<void(nlohmann::json&)>& spoil) {
    auto j = good;
    spoil(j);
    auto m = release::manifest_from_json(j);
    return m ? std::string() : m.error().message;
  };
  CHECK_THAT(refused([](auto& j) { j["manifest_version"] = 99; }),
             Catch::Contains("version 99 is not one this build reads"));
  CHECK_THAT(refused([](auto& j) { j.erase("version"); }), Catch::Contains("'version'"));
  CHECK_THAT(refused([](auto& j) { j["chunk_format"]["write"] = 7; }),
             Catch::Contains("chunk_format.write"));
  CHECK_THAT(refused([](auto& j) {
               j["handover_protocol"] = {{"min", 3}, {"max", 2}};
             }),
             Catch::Contains("handover_protocol"));
  CHECK_THAT(refused([](auto& j) { j["plugin_schema"] = "x"; }), Catch::Contains("plugin_schema"));
  CHECK_THAT(refused([](auto& j) { j = nlohmann::json::array(); }),
             Catch::Contains("not an object"));
}
