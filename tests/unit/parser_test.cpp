// <parse> plugins built from real validated config sections.
#include <catch2/catch.hpp>

#include "agentd/core/msgpack_view.h"
#include "agentd/parsers/parser.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

config::PipelineConfig load(const std::string& parse_body) {
  auto tree =
      config::parse_string("<source>\n @type tcp\n tag t\n <parse>\n" + parse_body +
                               "\n </parse>\n</source>\n<match **>\n @type null\n</match>\n",
                           "p.conf");
  REQUIRE(tree);
  auto cfg = config::validate(*tree);
  INFO((cfg ? "" : cfg.error().message));
  REQUIRE(cfg);
  return *cfg;
}

std::pair<EventTime, std::string> parse_one(const config::PipelineConfig& cfg,
                                            std::string_view text, bool expect_ok = true) {
  auto p = make_parser(*cfg.sources[0].child("parse"));
  REQUIRE(p);
  EventBatch b;
  Extra extra[] = {{"src", "10.0.0.1"}};
  auto s = (*p)->parse(text, EventTime{42'000'000'000}, extra, b);
  REQUIRE(s.has_value() == expect_ok);
  if (!expect_ok) return {};
  std::pair<EventTime, std::string> out;
  REQUIRE(for_each_entry(b.data, [&](EventTime t, std::string_view rec) {
    out.first = t;
    append_json(out.second, rec);
  }));
  return out;
}

}  // namespace

TEST_CASE("regexp parser: named captures, time field and format, no match is an error") {
  auto cfg = load(R"(@type regexp
  expression /^(?<host>[^ ]+) \[(?<time>[^\]]+)\] (?<msg>.*)$/
  time_format %d/%b/%Y:%H:%M:%S %z)");
  auto [t, json] = parse_one(cfg, "web1 [23/Nov/2026:10:00:00 +0200] GET /");
  CHECK(json == R"({"host":"web1","msg":"GET /","src":"10.0.0.1"})");
  CHECK(t.ns == (1795392000LL + 8 * 3600) * 1'000'000'000);
  parse_one(cfg, "no brackets here", false);
}

TEST_CASE("regexp parser: a bad expression is a config error naming where") {
  auto cfg = load("@type regexp\n  expression /(?<a>[/");
  auto p = make_parser(*cfg.sources[0].child("parse"));
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error().message, Catch::Contains("p.conf:4: bad expression"));
}

TEST_CASE("json parser: time_key with time_type float, keep_time_key, non-objects fail") {
  auto cfg = load("@type json\n  time_type float");
  auto [t, json] = parse_one(cfg, R"({"time": 1795392000.5, "a": [1, {"b": null}]})");
  CHECK(t.ns == 1795392000'500'000'000);
  CHECK(json == R"({"a":[1,{"b":null}],"src":"10.0.0.1"})");
  parse_one(cfg, "[1,2]", false);
  parse_one(cfg, "{broken", false);
  auto keep = load("@type json\n  keep_time_key true\n  time_format %Y-%m-%dT%H:%M:%S.%L%z");
  auto [t2, json2] = parse_one(keep, R"({"time":"2026-11-23T00:00:01.250+0000"})");
  CHECK(t2.ns == 1795392001'250'000'000);
  CHECK_THAT(json2, Catch::Contains("\"time\":\"2026-11-23T00:00:01.250+0000\""));
}

TEST_CASE("none parser: the whole text under message_key, event time is now") {
  auto cfg = load("@type none\n  message_key log");
  auto [t, json] = parse_one(cfg, "raw \"text\"");
  CHECK(t.ns == 42'000'000'000);
  CHECK(json == R"({"log":"raw \"text\"","src":"10.0.0.1"})");
}
