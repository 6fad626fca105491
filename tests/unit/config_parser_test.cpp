#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "logctl/schema/config.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/values.h"
#include "support/harness.h"

using namespace logctl::config;

namespace {
Element parse_ok(const std::string& text) {
  auto r = parse_string(text, "t.conf", [](const char* n) -> const char* {
    return std::string(n) == "HOME_DIR" ? "/home/x" : nullptr;
  });
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
  return *r;
}
std::string parse_err(const std::string& text) {
  auto r = parse_string(text, "t.conf");
  REQUIRE_FALSE(r);
  return r.error().message;
}
std::string validate_err(const std::string& text) {
  auto tree = parse_string(text, "t.conf");
  REQUIRE(tree);
  auto r = validate(*tree);
  REQUIRE_FALSE(r);
  return r.error().message;
}
const char* kMinimal = R"(
<source>
  @type tcp
  tag a
  <parse>
    @type none
  </parse>
</source>
<match **>
  @type null
</match>
)";
}  // namespace

TEST_CASE("config: sections, arguments, parameters and comments") {
  auto root = parse_ok(R"(# comment
<source>
  @type tcp   # trailing comment
  tag app.logs
  path /var/log/a#b
  <parse>
    @type none
  </parse>
</source>
<match app.** other.*>
  @type stdout
</match>
)");
  REQUIRE(root.children.size() == 2);
  const auto& src = root.children[0];
  CHECK(src.name == "source");
  CHECK(src.find("@type")->value == "tcp");
  CHECK(src.find("path")->value == "/var/log/a#b");
  CHECK(src.find("tag")->where.line == 4);
  CHECK(src.children[0].name == "parse");
  CHECK(root.children[1].arg == "app.** other.*");
}

TEST_CASE("config: quoted strings, escapes, ENV idiom, JSON arrays over lines") {
  auto root = parse_ok(R"(<source>
  a "tab\there\nnew \"q\""
  b 'single \'x\''
  c "#{ENV['HOME_DIR']}/logs"
  d "#{ENV["MISSING"]}"
  e ["x",
     "y"]
  f
</source>)");
  const auto& s = root.children[0];
  CHECK(s.find("a")->value == "tab\there\nnew \"q\"");
  CHECK(s.find("b")->value == "single 'x'");
  CHECK(s.find("c")->value == "/home/x/logs");
  CHECK(s.find("d")->value == "");
  CHECK(s.find("e")->value == "[\"x\",\n     \"y\"]");
  CHECK(s.find("f")->value == "");
}

TEST_CASE("config: syntax errors name file and line") {
  CHECK_THAT(parse_err("<source>\n  @type tcp\n"),
             Catch::Contains("t.conf:1: <source> is never closed"));
  CHECK_THAT(parse_err("<source>\n</match>\n"), Catch::Contains("t.conf:2:"));
  CHECK_THAT(parse_err("<source>\n a \"#{`rm -rf /`}\"\n</source>"),
             Catch::Contains("t.conf:2: embedded Ruby"));
  CHECK_THAT(parse_err("<source>\n a \"open\n</source>"), Catch::Contains("unterminated"));
  CHECK_THAT(parse_err("</source>"), Catch::Contains("t.conf:1: unexpected </source>"));
}

TEST_CASE("config: @include expands relative paths and globs in order") {
  logctl::test::TempDir dir;
  logctl::test::write_file(dir / "conf.d/10-a.conf", "<match a>\n  @type null\n</match>\n");
  logctl::test::write_file(dir / "conf.d/20-b.conf", "<match b>\n  @type null\n</match>\n");
  logctl::test::write_file(dir / "main.conf", "@include conf.d/*.conf\n");
  auto root = parse_file(dir / "main.conf");
  REQUIRE(root);
  REQUIRE(root->children.size() == 2);
  CHECK(root->children[0].arg == "a");
  CHECK(root->children[1].arg == "b");
  CHECK(root->children[1].where.file == dir / "conf.d/20-b.conf");
  // What a watcher must watch: every file read and the include's pattern.
  ConfigSources sources;
  REQUIRE(parse_file(dir / "main.conf", nullptr, &sources));
  CHECK(sources.files == std::vector<std::string>{dir / "main.conf", dir / "conf.d/10-a.conf",
                                                  dir / "conf.d/20-b.conf"});
  CHECK(sources.patterns == std::vector<std::string>{dir / "conf.d/*.conf"});
  logctl::test::write_file(dir / "bad.conf", "@include nope.conf\n");
  auto bad = parse_file(dir / "bad.conf");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("bad.conf:1: @include file"));
}

TEST_CASE("config: typed values") {
  CHECK(parse_size("8m").value() == 8u << 20);
  CHECK(parse_size("1G").value() == 1ull << 30);
  CHECK(parse_size("512").value() == 512u);
  CHECK_FALSE(parse_size("8q"));
  CHECK(parse_time("30s").value() == 30);
  CHECK(parse_time("1h").value() == 3600);
  CHECK(parse_time("0.5").value() == 0.5);
  CHECK(parse_bool("").value());
  CHECK_FALSE(parse_bool("false").value());
  CHECK_FALSE(parse_bool("maybe"));
  CHECK(parse_array("a, b,c").value() == std::vector<std::string>{"a", "b", "c"});
  CHECK(parse_array(R"(["a","b"])").value() == std::vector<std::string>{"a", "b"});
  CHECK(parse_hash("k1:v1,k2:v2").value().size() == 2);
}

TEST_CASE("validate: unknown plugins, parameters, sections and bad values are errors") {
  std::string base = kMinimal;
  CHECK_THAT(validate_err("<source>\n  @type kafka\n</source>"),
             Catch::Contains("t.conf:2: unknown input plugin 'kafka'"));
  {  // an unknown parameter: a warning, as Fluentd's (the config runs)
    auto root = parse_string(
        "<source>\n @type tcp\n tag a\n prot 1\n <parse>\n @type none\n "
        "</parse>\n</source>\n<match **>\n @type null\n</match>",
        "t.conf");
    REQUIRE(root);
    auto cfg = validate(*root);
    REQUIRE(cfg);
    REQUIRE(cfg->warnings.size() == 1);
    CHECK_THAT(cfg->warnings[0],
               Catch::Contains("t.conf:4: unknown parameter 'prot' in <source> @type tcp") &&
                   Catch::Contains("is ignored; did you mean 'port'?"));
  }
  CHECK_THAT(validate_err("<source>\n @type tcp\n <parse>\n @type none\n "
                          "</parse>\n</source>\n<match **>\n @type null\n</match>"),
             Catch::Contains("t.conf:1: <source> @type tcp needs parameter 'tag'"));
  CHECK_THAT(validate_err("<source>\n @type tcp\n tag a\n port abc\n <parse>\n @type none\n "
                          "</parse>\n</source>\n<match **>\n @type null\n</match>"),
             Catch::Contains("t.conf:4: parameter 'port'"));
  CHECK_THAT(
      validate_err("<source>\n @type tcp\n tag a\n</source>\n<match **>\n @type null\n</match>"),
      Catch::Contains("needs a <parse> section"));
  CHECK_THAT(validate_err(base + "<match x>\n @type file\n path /tmp/x\n <buffer>\n flush_mode "
                                 "sometimes\n </buffer>\n</match>"),
             Catch::Contains("'sometimes' is not one of: default, lazy, interval, immediate"));
  CHECK_THAT(validate_err(base + "<filter **>\n @type grepp\n</filter>"),
             Catch::Contains("unknown filter plugin 'grepp'"));
  CHECK_THAT(validate_err(base + "<system>\n workers 0\n</system>"),
             Catch::Contains("workers must be at least 1"));
  CHECK_THAT(validate_err(base + "<system>\n workers 2\n</system>\n<worker 2>\n</worker>"),
             Catch::Contains("t.conf:15: <worker 2>: worker ids go from 0 to 1"));
  CHECK_THAT(validate_err(base + "<system>\n workers 4\n</system>\n<worker 3-1>\n</worker>"),
             Catch::Contains("a worker id N or a range N-M"));
}

TEST_CASE("an @include glob that matches nothing includes nothing, with a warning") {
  // Fluentd's glob semantics; a path without a glob that is not there stays an error.
  auto tree =
      parse_string(std::string("@include /nonexistent-logctl-dir/*.conf\n") + kMinimal, "g.conf");
  REQUIRE(tree);
  auto cfg = validate(*tree);
  REQUIRE(cfg);
  REQUIRE_FALSE(cfg->warnings.empty());
  CHECK_THAT(cfg->warnings[0],
             Catch::Contains("g.conf:1: @include '/nonexistent-logctl-dir/*.conf' "
                             "matches no file: nothing is included"));
  CHECK_THAT(parse_err("@include /nonexistent-logctl-dir/x.conf\n"),
             Catch::Contains("does not exist"));
}

TEST_CASE("validate: <system> workers N with <worker N> sections run in one worker") {
  // Fluentd's multi-process configs: every worker's sections, #{worker_id}
  // the section's own worker id.
  auto tree = parse_string(R"(<system>
  workers 2
</system>
<worker 1>
  <source>
    @type tcp
    tag "w#{worker_id}"
    <parse>
      @type none
    </parse>
  </source>
</worker>
<match **>
  @type file
  path "/tmp/out-#{worker_id}"
</match>
)",
                           "w.conf");
  REQUIRE(tree);
  auto cfg = validate(*tree);
  REQUIRE(cfg);
  REQUIRE(cfg->sources.size() == 1);
  CHECK(cfg->sources[0].str("tag") == "w1");
  CHECK(cfg->matches[0].output.str("path") == "/tmp/out-0");
  REQUIRE_FALSE(cfg->warnings.empty());
  CHECK_THAT(cfg->warnings[0],
             Catch::Contains("workers 2: agentd runs the sections of every worker"));
}

TEST_CASE("validate: Fluentd defaults are applied, per plugin and per buffer type") {
  auto tree = parse_string(std::string(kMinimal) +
                               "<match f>\n @type file\n path /tmp/o\n</match>\n"
                               "<match s>\n @type stdout\n</match>\n",
                           "t.conf");
  REQUIRE(tree);
  auto cfg = validate(*tree);
  REQUIRE(cfg);
  const auto& tcp = cfg->sources[0];
  CHECK(tcp.integer("port") == 5170);
  CHECK(tcp.str("bind") == "0.0.0.0");
  CHECK(tcp.str("delimiter") == "\n");
  const auto& file = cfg->matches[1].output;
  const auto* fb = file.child("buffer");
  REQUIRE(fb);
  CHECK(fb->type() == "file");
  CHECK(fb->arg() == "time");
  CHECK(fb->number("timekey") == 86400);
  CHECK(fb->size("chunk_limit_size") == 256u << 20);
  CHECK_FALSE(fb->flag("flush_at_shutdown"));
  CHECK(file.child("format")->type() == "out_file");
  const auto* sb = cfg->matches[2].output.child("buffer");
  CHECK(sb->type() == "memory");
  CHECK(sb->arg() == "tag");
  CHECK(sb->flag("flush_at_shutdown"));
  CHECK(sb->size("total_limit_size") == 512u << 20);
}

TEST_CASE("schema: every plugin is described as JSON with its parameters") {
  auto j = plugin_schema_json();
  CHECK(j["schema_version"] == kPluginSchemaVersion);
  bool saw_tail_path = false;
  for (const auto& p : j["plugins"]) {
    if (p["type"] == "tail") {
      for (const auto& param : p["params"])
        saw_tail_path |= param["name"] == "path" && param["required"] == true;
    }
  }
  CHECK(saw_tail_path);
}
