// Hostile values from the network and hostile neighbours on the file system:
// chunk-key values that would escape or break the output path, links planted
// where agentd (root) writes. Each case reproduces an attack that worked on
// agentd 0.1 and must now fail safely while the rest of the data flows.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "support/harness.h"

using namespace logctl::test;

namespace {

std::string json_source(int port) {
  return "<source>\n @type tcp\n tag app\n bind 127.0.0.1\n port " + std::to_string(port) +
         "\n <parse>\n @type json\n </parse>\n</source>\n";
}

std::string event(long seq, const std::string& host_json) {
  return "{\"host\":" + host_json + ",\"message\":\"seq=" + std::to_string(seq) + " x\"}\n";
}

}  // namespace

TEST_CASE("chunk-key values cannot escape the output directory or block the queue") {
  TempDir dir;
  int port = free_port();
  std::filesystem::create_directories(dir / "out/evil");
  write_file(dir / "secret", "root only\n");
  ::chmod((dir / "secret").c_str(), 0600);
  // A neighbour plants a link where events of host "evil" will be appended.
  REQUIRE(::symlink((dir / "secret").c_str(), (dir / "out/evil/app.log").c_str()) == 0);
  Agent agent(json_source(port) + "<match **>\n @type file\n @id files\n path " + (dir / "out") +
                  "/${host}/app\n append true\n <format>\n  @type json\n </format>\n"
                  " <buffer host>\n  @type memory\n  flush_mode interval\n  flush_interval 0.1s\n"
                  "  retry_wait 0.1s\n </buffer>\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  std::string long_host(300, 'h');
  const std::vector<std::string> hosts = {"\"good\"",      "\"a\\u0000b\"", "\"" + long_host + "\"",
                                          "\"..\"",        "\".\"",         "\"../../escaped\"",
                                          "\"a\\nb\\u001b[31m\"", "\"evil\""};
  std::string data;
  for (long i = 0; i < 800; ++i) data += event(i, hosts[i % hosts.size()]);
  TcpSender s(port);
  REQUIRE(s.send(data));
  // Every event but host "evil"'s (every 8th) arrives under out/, none elsewhere.
  auto arrived = [&] {
    auto c = count_numbers(files_under(dir / "out"));
    for (long i = 0; i < 800; ++i) {
      if (i % 8 != 7 && !c.seen.count(i)) return false;
    }
    return true;
  };
  REQUIRE(wait_until(arrived));
  CHECK(read_file(dir / "secret") == "root only\n");
  for (const auto& f : files_under(dir.path())) {
    if (f.rfind(dir / "out/", 0) == 0 || f.rfind(agent.root(), 0) == 0) continue;
    CHECK((f == dir / "secret" || f == dir / "agentd.conf" || f == dir / "agentd.log"));
  }
  CHECK(std::filesystem::exists(dir / "out/__/app.log"));  // ".."
  CHECK(std::filesystem::exists(dir / "out/_/app.log"));   // "."
  for (const auto& f : files_under(dir / "out")) {
    auto name = std::filesystem::path(f).parent_path().filename().string();
    CHECK(name.size() <= 128);
    for (char c : name) CHECK(static_cast<unsigned char>(c) >= 0x20);
  }
  // The chunk for "evil" could never be written: quarantined, counted, logged.
  REQUIRE(wait_until([&] { return agent.metric("agentd_output_quarantined_records_total") == 100; }));
  CHECK_FALSE(files_under(agent.root() + "/quarantine/files").empty());
  CHECK_THAT(agent.process().log(), Catch::Contains("can never be written"));
  // Nothing stuck: later events still flow.
  REQUIRE(s.send(event(5000, "\"good\"")));
  REQUIRE(wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(5000) == 1; }));
  CHECK(agent.metric("agentd_output_retries_total") == 0);
}
