// <parse> plugins built from real validated config sections.
#include <catch2/catch.hpp>

#include "agentd/core/msgpack_view.h"
#include "agentd/parsers/parser.h"
#include "logctl/schema/json_bounded.h"
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

// The examples of Fluentd's parser documentation, with the records it gives.
TEST_CASE("apache2 nginx and apache_error parsers give Fluentd's records") {
  auto [t, json] =
      parse_one(load("@type apache2"), R"(192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] )"
                                       R"("GET / HTTP/1.1" 200 777 "-" "Opera/12.0")");
  CHECK(json == R"({"host":"192.168.0.1","user":null,"method":"GET","path":"/","code":200,)"
                R"("size":777,"referer":null,"agent":"Opera/12.0","src":"10.0.0.1"})");
  CHECK(t.ns == 1362020400LL * 1'000'000'000);  // 2013-02-28T03:00:00Z
  // Common log format (no referer/agent), a request with an escaped quote.
  auto common = parse_one(load("@type apache2"),
                          R"(::1 - bob [28/Feb/2013:12:00:00 +0900] "GET /a\"b HTTP/1.0" 404 -)");
  CHECK(common.second == R"({"host":"::1","user":"bob","method":"GET","path":"/a\\\"b",)"
                         R"("code":404,"size":null,"referer":null,"agent":null,"src":"10.0.0.1"})");
  parse_one(load("@type apache2"), "not an access log", false);

  auto nginx =
      parse_one(load("@type nginx"), R"(127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] )"
                                     R"("GET / HTTP/1.1" 200 777 "-" "Opera/12.0")");
  CHECK(nginx.second == R"({"remote":"127.0.0.1","host":"192.168.0.1","user":"-","method":"GET",)"
                        R"("path":"/","code":"200","size":"777","referer":"-",)"
                        R"("agent":"Opera/12.0","src":"10.0.0.1"})");
  CHECK(nginx.first.ns == 1362020400LL * 1'000'000'000);

  auto err = parse_one(load("@type apache_error\n  utc true"),
                       "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by "
                       "server configuration");
  CHECK(err.second == R"({"level":"error","client":"127.0.0.1","message":"client denied by )"
                      R"(server configuration","src":"10.0.0.1"})");
  CHECK(err.first.ns == 971274772LL * 1'000'000'000);
  auto err24 =
      parse_one(load("@type apache_error\n  utc true"),
                "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] "
                "[client 72.15.99.187] File does not exist: /x");
  CHECK(err24.second == R"({"level":"core:error","pid":"35708:tid 4328636416",)"
                        R"("client":"72.15.99.187","message":"File does not exist: /x",)"
                        R"("src":"10.0.0.1"})");
}

TEST_CASE("csv tsv and ltsv parsers with keys time_key and types") {
  auto csv = parse_one(load("@type csv\n  keys time,host,req_id,user\n  time_key time\n"
                            "  time_format %Y/%m/%d %H:%M:%S\n  utc true"),
                       "2013/02/28 12:00:00,192.168.0.1,111,-");
  CHECK(csv.second == R"({"host":"192.168.0.1","req_id":"111","user":"-","src":"10.0.0.1"})");
  CHECK(csv.first.ns == 1362052800LL * 1'000'000'000);
  auto quoted =
      parse_one(load("@type csv\n  keys a,b,c\n  types b:integer,c:bool"), R"("x, ""y""",42,true)");
  CHECK(quoted.second == R"({"a":"x, \"y\"","b":42,"c":true,"src":"10.0.0.1"})");
  auto short_row = parse_one(load("@type csv\n  keys a,b,c"), "1,2");
  CHECK(short_row.second == R"({"a":"1","b":"2","c":null,"src":"10.0.0.1"})");
  parse_one(load("@type csv\n  keys a"), "\"open", false);

  auto tsv = parse_one(load("@type tsv\n  keys a,b\n  types a:float"), "1.5\tx y");
  CHECK(tsv.second == R"({"a":1.5,"b":"x y","src":"10.0.0.1"})");

  auto ltsv = parse_one(load("@type ltsv\n  time_format %Y/%m/%d %H:%M:%S\n  utc true\n"
                             "  types ids:array"),
                        "time:2013/02/28 12:00:00\thost:192.168.0.1\treq_id:111\tuser:-\tids:1,2");
  CHECK(ltsv.second == R"({"host":"192.168.0.1","req_id":"111","user":"-","ids":["1","2"],)"
                       R"("src":"10.0.0.1"})");
  CHECK(ltsv.first.ns == 1362052800LL * 1'000'000'000);
}

TEST_CASE("cri parser: containerd lines with and without a nested parse") {
  auto [t, json] =
      parse_one(load("@type cri"), "2020-10-10T00:10:00.333333333Z stdout F Hello Fluentd");
  CHECK(json == R"({"stream":"stdout","logtag":"F","message":"Hello Fluentd",)"
                R"("time":"2020-10-10T00:10:00.333333333Z","src":"10.0.0.1"})");
  CHECK(t.ns == 1602288600333333333LL);
  auto nested = parse_one(load("@type cri\n  <parse>\n   @type json\n   time_key time\n"
                               "  </parse>"),
                          R"(2020-10-10T00:10:00.333333333Z stderr P {"foo":"bar","num":100})");
  CHECK(nested.second ==
        R"({"foo":"bar","num":100,"src":"10.0.0.1","stream":"stderr","logtag":"P"})");
  parse_one(load("@type cri"), "2020-10-10T00:10:00Z stdout", false);
}

TEST_CASE("time_format: texts within one second reuse its seconds and still parse exactly") {
  auto frac = make_parser(*load("@type json\n  time_format %Y-%m-%dT%H:%M:%S.%NZ\n  utc true")
                               .sources[0]
                               .child("parse"));
  auto plain =
      make_parser(*load("@type json\n  time_format %Y-%m-%d %H:%M:%S").sources[0].child("parse"));
  REQUIRE(frac);
  REQUIRE(plain);
  auto parse = [](Parser& p, const std::string& time) -> std::optional<std::int64_t> {
    EventBatch b;
    if (!p.parse(R"({"time":")" + time + R"("})", EventTime{0}, {}, b)) return std::nullopt;
    return b.entries.at(0).time.ns;
  };
  constexpr std::int64_t s0 = 1795392000LL * 1'000'000'000;  // 2026-11-23T00:00:00Z
  CHECK(parse(**frac, "2026-11-23T00:00:01.250Z") == s0 + 1'250'000'000);
  CHECK(parse(**frac, "2026-11-23T00:00:01.5Z") == s0 + 1'500'000'000);  // Docker trims zeros
  CHECK(parse(**plain, "2026-11-23 00:00:01") == s0 + 1'000'000'000);    // another parser between
  CHECK(parse(**frac, "2026-11-23T00:00:01.000000007Z") == s0 + 1'000'000'007);
  CHECK_FALSE(parse(**frac, "2026-11-23T00:00:01.7Zjunk"));  // same second, bad tail
  CHECK_FALSE(parse(**frac, "2026-11-23T00:00:01Z"));        // no fraction where one must be
  CHECK(parse(**frac, "2026-11-23T00:00:02.1Z") == s0 + 2'100'000'000);
  CHECK(parse(**frac, "2026-11-24T00:00:02.1Z") == s0 + 86400'000'000'000 + 2'100'000'000);
  CHECK(parse(**plain, "2026-11-23 00:00:01") == s0 + 1'000'000'000);
  CHECK_FALSE(parse(**plain, "2026-11-23 00:00:01x"));
  CHECK(parse(**plain, "2026-11-23 00:00:03") == s0 + 3'000'000'000);
  // Past 2262 nanoseconds overflow 64 bits: the time does not parse (found by fuzz_parse).
  CHECK_FALSE(parse(**frac, "7243-12-03T07:00:00.1Z"));
  auto fl = make_parser(*load("@type json\n  time_type float").sources[0].child("parse"));
  REQUIRE(fl);
  EventBatch b;
  CHECK_FALSE((*fl)->parse(R"({"time":1e300})", EventTime{0}, {}, b));
}

TEST_CASE("JSON from outside is parsed with its nesting bounded") {
  auto at = [](std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  CHECK(parse_json_bounded(at(512)));
  auto deep = parse_json_bounded(at(513));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == ErrorCode::kResourceExhausted);
  CHECK(deep.error().message == "JSON nested deeper than 512 levels");
  // Closing and opening again stays within the bound: depth, not count.
  std::string wide;
  for (int i = 0; i < 2000; ++i) wide += (i ? "," : "") + at(10);
  CHECK(parse_json_bounded("[" + wide + "]"));
  auto bad = parse_json_bounded("{\"a\":");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::kInvalidArgument);
  CHECK_THAT(bad.error().message, Catch::StartsWith("not valid JSON"));
  // Ten million levels: refused at 513, no stack overflow, no big allocation.
  CHECK_FALSE(parse_json_bounded(at(10'000'000)));
  // The json <parse> plugin refuses such a line and names why.
  auto cfg = load("@type json");
  auto p = make_parser(*cfg.sources[0].child("parse"));
  REQUIRE(p);
  EventBatch b;
  auto s = (*p)->parse("{\"a\":" + at(1'000'000) + "}", EventTime{1}, {}, b);
  REQUIRE_FALSE(s);
  CHECK(s.error().message == "JSON nested deeper than 512 levels");
  CHECK(b.entries.empty());
}
