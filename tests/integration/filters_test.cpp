// <filter> sections on the real agentd: grep, record_transformer and parser
// in order of appearance, only before the <match> that takes the events,
// with the exact records written.
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "support/harness.h"

using namespace logctl::test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("filters: grep then record_transformer then parser give Fluentd's records") {
  TempDir dir;
  int port = free_port(), raw = free_port();
  std::string config =
      "<source>\n @type tcp\n tag app.web.frontend\n bind 127.0.0.1\n port " +
      std::to_string(port) + "\n <parse>\n  @type json\n </parse>\n</source>\n" +
      tcp_lines_source(raw, "raw.kv") +
      R"(<filter app.**>
 @type grep
 @id levels
 <regexp>
  key level
  pattern /^(info|warn)$/
 </regexp>
 <exclude>
  key $.user.name
  pattern /^bot/
 </exclude>
</filter>
<filter other.**>
 @type grep
 <regexp>
  key nothing
  pattern /x/
 </regexp>
</filter>
<filter app.**>
 @type record_transformer
 <record>
  service ${tag_parts[1]}
  origin ${tag}
  summary ${record["level"]}:${record["msg"]}
  user ${record["user"]["name"]}
 </record>
 remove_keys level
</filter>
<filter raw.**>
 @type parser
 key_name message
 reserve_data true
 remove_key_name_field true
 <parse>
  @type ltsv
 </parse>
</filter>
)" + json_file_match(dir) +
      // After the <match>: never applied to what it took.
      "<filter **>\n @type grep\n <regexp>\n  key msg\n  pattern /never/\n </regexp>\n</filter>\n";
  Agent agent(config, dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(R"({"level":"info","msg":"seq=1 a","user":{"name":"alice"}})"
                 "\n"
                 R"({"level":"debug","msg":"seq=2 b","user":{"name":"alice"}})"
                 "\n"
                 R"({"level":"warn","msg":"seq=3 c","user":{"name":"bot-7"}})"
                 "\n"
                 R"({"level":"warn","msg":"seq=4 d"})"
                 "\n"));
  REQUIRE(s.finish());
  TcpSender r(raw);
  REQUIRE(r.send("seq:5\thost:web1\n"));
  REQUIRE(r.send("not ltsv at all\n"));  // no labels: an empty record (Fluentd's)
  REQUIRE(r.finish());
  std::string out;
  INFO(agent.process().log());
  REQUIRE(wait_until([&] {
    out.clear();
    for (const auto& f : files_under(dir / "out")) out += read_file(f);
    return lines_of(out).size() >= 4;
  }));
  auto lines = lines_of(out);
  REQUIRE(lines.size() == 4);
  std::set<std::string> got(lines.begin(), lines.end());
  CHECK(got.count(
      R"({"msg":"seq=1 a","user":null,"service":"web","origin":"app.web.frontend","summary":"info:seq=1 a"})"));
  CHECK(got.count(
      R"({"msg":"seq=4 d","service":"web","origin":"app.web.frontend","summary":"warn:seq=4 d","user":null})"));
  CHECK(got.count(R"({"seq":"5","host":"web1"})"));
  // ltsv, as Fluentd's: pieces without a label are skipped, so text without
  // any is an empty record (the message key removed).
  CHECK(got.count("{}"));
  CHECK(agent.metric("agentd_filter_dropped_records_total", "plugin_id=\"levels\",type=\"grep\"") ==
        2);
  CHECK(agent.metric("agentd_filter_errors_total") == 0);
}

TEST_CASE("filters: config mistakes are refused naming the line") {
  TempDir dir;
  auto refused = [&](const std::string& filter, const std::string& why) {
    write_file(dir / "f.conf", tcp_lines_source(free_port(), "t") + filter + null_match());
    Process dry({agentd_bin(), "-c", dir / "f.conf", "--dry-run"}, dir / "dry.log");
    INFO(filter);
    CHECK(dry.wait() == 1);
    CHECK_THAT(dry.log(), Catch::Contains("f.conf:") && Catch::Contains(why));
  };
  refused("<filter **>\n @type record_transformer\n enable_ruby true\n</filter>\n",
          "enable_ruby true is not supported");
  refused("<filter **>\n @type grep\n <regexp>\n  key a\n  pattern /(/\n </regexp>\n</filter>\n",
          "bad pattern");
  refused("<filter **>\n @type parser\n</filter>\n", "needs parameter 'key_name'");
  refused("<filter **>\n @type nope\n</filter>\n", "unknown filter plugin 'nope'");
}

TEST_CASE("labels: @label on sources, relabel, and a label's own filters and matches") {
  TempDir dir;
  int a = free_port(), b = free_port();
  std::string config = "<source>\n @type tcp\n tag in.a\n bind 127.0.0.1\n port " +
                       std::to_string(a) +
                       "\n @label @STAGED\n <parse>\n  @type none\n </parse>\n"
                       "</source>\n" +
                       tcp_lines_source(b, "in.b") + R"(<match in.b>
 @type relabel
 @label @STAGED
</match>
<label @STAGED>
 <filter **>
  @type record_transformer
  <record>
   via staged-${tag}
  </record>
 </filter>
 <match **>
  @type file
  path )" + dir / "out/staged" +
                       R"(
  append true
  <format>
   @type json
  </format>
  <buffer>
   @type memory
   flush_mode interval
   flush_interval 0.1s
  </buffer>
 </match>
</label>
<label @UNUSED>
 <match **>
  @type null
 </match>
</label>
)";
  Agent agent(config, dir);
  REQUIRE(agent.ready());
  TcpSender sa(a), sb(b);
  REQUIRE(sa.send("seq=1 a\n"));
  REQUIRE(sb.send("seq=2 b\n"));
  REQUIRE(sa.finish());
  REQUIRE(sb.finish());
  std::string out;
  REQUIRE(wait_until([&] {
    out.clear();
    for (const auto& f : files_under(dir / "out")) out += read_file(f);
    return lines_of(out).size() >= 2;
  }));
  CHECK_THAT(out, Catch::Contains(R"({"message":"seq=1 a","via":"staged-in.a"})"));
  CHECK_THAT(out, Catch::Contains(R"({"message":"seq=2 b","via":"staged-in.b"})"));
  // A handover keeps a labelled source's events on its label.
  CHECK_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  TcpSender again(a);
  REQUIRE(again.send("seq=3 a\n"));
  REQUIRE(again.finish());
  CHECK(wait_until([&] {
    out.clear();
    for (const auto& f : files_under(dir / "out")) out += read_file(f);
    return out.find(R"({"message":"seq=3 a","via":"staged-in.a"})") != std::string::npos;
  }));

  write_file(dir / "bad.conf",
             tcp_lines_source(free_port(), "t", " @label @NOPE\n") + null_match());
  Process dry({agentd_bin(), "-c", dir / "bad.conf", "--dry-run"}, dir / "dry.log");
  CHECK(dry.wait() == 1);
  CHECK_THAT(dry.log(), Catch::Contains("there is no <label @NOPE>"));
}

TEST_CASE("filters: a parser filter sends events it cannot parse to the @ERROR label") {
  TempDir dir;
  int port = free_port();
  std::string config =
      tcp_lines_source(port, "app") + R"(<filter app>
 @type parser
 @id kv
 key_name message
 reserve_data true
 <parse>
  @type regexp
  expression /^seq:(?<seq>\d+)\tuser:(?<user>\w+)$/
 </parse>
</filter>
)" + json_file_match(dir) +
      "<label @ERROR>\n <match app>\n  @type file\n  path " + (dir / "err/${tag}") +
      "\n  append true\n  <format>\n   @type json\n  </format>\n"
      "  <buffer tag>\n   flush_mode immediate\n  </buffer>\n </match>\n</label>\n";
  Agent agent(config, dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send("seq:1\tuser:a\nseq=2 no label here\nseq:3\tuser:c\n"));
  // Fluentd: the original record goes to @ERROR; with reserve_data it also
  // goes on unchanged. (The whole expected content, not the file's
  // existence: the line is written after the file is created.)
  const std::string expected = R"({"message":"seq=2 no label here"})"
                               "\n";
  wait_until([&] { return read_file(dir / "err/app.log") == expected; });
  CHECK(read_file(dir / "err/app.log") == expected);
  auto events = [&] {
    std::string all;
    for (const auto& f : files_under(dir / "out")) all += read_file(f);
    return lines_of(all);
  };
  REQUIRE(wait_until([&] { return events().size() == 3; }));
  auto out = events();
  CHECK(out[0] == R"({"message":"seq:1\tuser:a","seq":"1","user":"a"})");
  CHECK(out[1] == R"({"message":"seq=2 no label here"})");
  CHECK(agent.metric("agentd_filter_errors_total") == 1);
}

TEST_CASE("labels: @FLUENT_LOG gets agentd's own log as fluent.LEVEL events, <log> format json") {
  TempDir dir;
  int port = free_port();
  std::string config =
      "<system>\n <log>\n  format json\n </log>\n</system>\n"
      "<source>\n @type tcp\n @id in\n tag app\n bind 127.0.0.1\n port " +
      std::to_string(port) + "\n <parse>\n  @type json\n </parse>\n</source>\n" +
      json_file_match(dir) + "<label @FLUENT_LOG>\n <match fluent.**>\n  @type file\n  path " +
      (dir / "log/${tag}") +
      "\n  append true\n  <format>\n   @type json\n  </format>\n"
      "  <buffer tag>\n   flush_mode immediate\n  </buffer>\n </match>\n</label>\n";
  Agent agent(config, dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send("not json seq=1\n"));
  // The input's warning about it, as an event of tag fluent.warn.
  REQUIRE(wait_until([&] {
    return read_file(dir / "log/fluent.warn.log").find("not json seq=1") != std::string::npos;
  }));
  auto warn = lines_of(read_file(dir / "log/fluent.warn.log"));
  CHECK_THAT(warn.back(),
             Catch::Matches(
                 R"(\{"message":"input in: not a JSON object \(dropped\): 'not json seq=1'"\})"));
  CHECK(std::filesystem::exists(dir / "log/fluent.info.log"));  // e.g. "ready"
  // The process log itself is JSON lines.
  auto first = lines_of(agent.process().log()).front();
  CHECK_THAT(
      first,
      Catch::Matches(R"(\{"time":"[0-9T:.-]+Z","level":"info","process":".*","message":".*"\})"));
}

TEST_CASE("labels: without @FLUENT_LOG, a top-level <match> of fluent tags gets agentd's log") {
  TempDir dir;
  int port = free_port();
  auto file_match = [&](const std::string& pattern, const std::string& sub) {
    return "<match " + pattern + ">\n @type file\n path " + (dir / (sub + "/${tag}")) +
           "\n append true\n <format>\n  @type json\n </format>\n"
           " <buffer tag>\n  flush_mode immediate\n </buffer>\n</match>\n";
  };
  // As in Fluentd (deprecated there too): the warnings go to the first
  // top-level <match> that takes fluent.warn, through the top-level
  // filters; a <match **> takes every level; app events go on as before.
  std::string config = "<source>\n @type tcp\n @id in\n tag app\n bind 127.0.0.1\n port " +
                       std::to_string(port) + "\n <parse>\n  @type json\n </parse>\n</source>\n" +
                       "<filter fluent.**>\n @type record_transformer\n <record>\n  via top\n"
                       " </record>\n</filter>\n" +
                       file_match("fluent.warn", "warn") + file_match("**", "all");
  Agent agent(config, dir);
  REQUIRE(agent.ready());
  CHECK_THAT(agent.process().log(),
             Catch::Contains("define <match fluent.**> to capture agentd's own log") &&
                 Catch::Contains("use <label @FLUENT_LOG> instead"));
  TcpSender s(port);
  REQUIRE(s.send("not json seq=1\n{\"message\":\"seq=2 data\"}\n"));
  REQUIRE(wait_until([&] {
    return read_file(dir / "warn/fluent.warn.log").find("not json seq=1") != std::string::npos;
  }));
  CHECK_THAT(read_file(dir / "warn/fluent.warn.log"), Catch::Contains(R"("via":"top")"));
  CHECK(wait_until([&] {
    return read_file(dir / "all/app.log") == "{\"message\":\"seq=2 data\"}\n" &&
           read_file(dir / "all/fluent.info.log").find("ready") != std::string::npos;
  }));
  CHECK_FALSE(std::filesystem::exists(dir / "all/fluent.warn.log"));  // the first match took them

  // A top-level <match> that takes no fluent tag: nothing of the log goes there.
  TempDir dir2;
  int port2 = free_port();
  Agent quiet("<source>\n @type tcp\n tag app\n bind 127.0.0.1\n port " + std::to_string(port2) +
                  "\n <parse>\n  @type none\n </parse>\n</source>\n<match app.**>\n @type file\n"
                  " path " +
                  (dir2 / "out/${tag}") +
                  "\n append true\n <buffer tag>\n  flush_mode immediate\n </buffer>\n</match>\n",
              dir2);
  REQUIRE(quiet.ready());
  CHECK_THAT(quiet.process().log(), !Catch::Contains("to capture agentd's own log"));
}

TEST_CASE("system: without_source runs the outputs without the sources") {
  TempDir dir;
  int port = free_port();
  Agent agent(
      "<system>\n without_source true\n</system>\n" + tcp_lines_source(port, "app") + null_match(),
      dir);
  REQUIRE(agent.ready());
  CHECK_THAT(agent.process().log(), Catch::Contains("without_source: the config's 1 <source>(s)"));
  TcpSender s(port);
  CHECK_FALSE(s.connected());  // nothing listens
}
