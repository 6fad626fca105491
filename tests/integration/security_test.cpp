// Hostile values from the network and hostile neighbours on the file system:
// chunk-key values that would escape or break the output path, links planted
// where agentd (root) writes. Each case reproduces an attack that worked on
// agentd 0.1 and must now fail safely while the rest of the data flows.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

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
  Agent agent(json_source(port) + fluent_log_fence() +
                  "<match **>\n @type file\n @id files\n path " + (dir / "out") +
                  "/${host}/app\n append true\n <format>\n  @type json\n </format>\n"
                  " <buffer host>\n  @type memory\n  flush_mode interval\n  flush_interval 0.1s\n"
                  "  retry_wait 0.1s\n </buffer>\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  std::string long_host(300, 'h');
  const std::vector<std::string> hosts = {
      "\"good\"", "\"a\\u0000b\"",     "\"" + long_host + "\"", "\"..\"",
      "\".\"",    "\"../../escaped\"", "\"a\\nb\\u001b[31m\"",  "\"evil\""};
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
  REQUIRE(
      wait_until([&] { return agent.metric("agentd_output_quarantined_records_total") == 100; }));
  CHECK_FALSE(files_under(agent.root() + "/quarantine/files").empty());
  CHECK_THAT(agent.process().log(), Catch::Contains("can never be written"));
  // Nothing stuck: later events still flow.
  REQUIRE(s.send(event(5000, "\"good\"")));
  REQUIRE(
      wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(5000) == 1; }));
  CHECK(agent.metric("agentd_output_retries_total") == 0);
}

TEST_CASE("log injection: newlines and escape sequences from the network are escaped") {
  TempDir dir;
  int udp = free_port();
  Agent agent("<source>\n @type syslog\n tag sys\n bind 127.0.0.1\n port " + std::to_string(udp) +
                  "\n</source>\n<match **>\n @type null\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  // Not syslog: logged as invalid, quoting the text.
  REQUIRE(send_udp(udp, "garbage\n2026-11-24T00:00:00.000Z [error] FORGED line\x1b[2J\r"));
  REQUIRE(wait_until([&] { return agent.metric("agentd_input_parse_errors_total") == 1; }));
  REQUIRE(wait_until([&] { return agent.process().log().find("FORGED") != std::string::npos; }));
  auto log = agent.process().log();
  CHECK(log.find("\nFORGED") == std::string::npos);
  CHECK(log.find("\n2026-11-24T00:00:00.000Z [error] FORGED") == std::string::npos);
  CHECK(log.find('\x1b') == std::string::npos);
  CHECK_THAT(log,
             Catch::Contains("garbage\\n2026-11-24T00:00:00.000Z [error] FORGED line\\x1b[2J"));
}

TEST_CASE("a JSON line nested a million deep is refused and the worker goes on") {
  // Building the record from such a line recursed once per level and
  // overflowed the worker's stack (a segfault from 400 KB of one line).
  TempDir dir;
  int port = free_port();
  Agent agent("<source>\n @type tcp\n tag t\n bind 127.0.0.1\n port " + std::to_string(port) +
                  "\n <parse>\n  @type json\n </parse>\n</source>\n" + json_file_match(dir),
              dir);
  REQUIRE(agent.ready());
  long worker = agent.worker_pid();
  TcpSender s(port);
  const std::size_t depth = 1'000'000;
  REQUIRE(s.send("{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}\n"));
  REQUIRE(s.send(R"({"a":)" + std::string(511, '[') + std::string(511, ']') + "}\n"));
  REQUIRE(s.send("{\"seq\":1}\n"));
  REQUIRE(s.finish());
  REQUIRE(wait_until(
      [&] { return count_numbers(files_under(dir / "out"), "\"seq\":").distinct() == 1; }));
  CHECK(agent.worker_pid() == worker);  // never restarted
  CHECK(agent.metric("agentd_input_parse_errors_total") == 1);
  CHECK_THAT(agent.process().log(), Catch::Contains("JSON nested deeper than 512 levels"));
  // 512 levels (the object and 511 arrays) is within the bound.
  CHECK_THAT(read_file(files_under(dir / "out").at(0)), Catch::Contains(std::string(511, '[')));
}

namespace {

// utime + stime of a process, in seconds.
double cpu_seconds(long pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

TEST_CASE("accept at the descriptor limit backs off instead of spinning, and recovers") {
  if (kSanitized) {
    // The sanitizer runtime needs descriptors of its own (UBSan's memory
    // probe opens a pipe) and reports a false "invalid vptr" at the limit.
    WARN("skipped in the sanitizer build: its runtime cannot work at the descriptor limit");
    return;
  }
  TempDir dir;
  int port = free_port();
  Agent agent(tcp_lines_source(port) + json_file_match(dir), dir);
  REQUIRE(agent.ready());
  long worker = agent.worker_pid();
  REQUIRE(worker > 0);
  // The worker may hold only a few more descriptors than it has now.
  std::filesystem::directory_iterator it("/proc/" + std::to_string(worker) + "/fd"), end;
  auto open_now = static_cast<std::size_t>(std::distance(it, end));
  std::string limit = std::to_string(open_now + 8);
  REQUIRE(sh("prlimit --pid " + std::to_string(worker) + " --nofile=" + limit + ":" + limit) == 0);
  std::vector<std::unique_ptr<TcpSender>> held;
  for (int i = 0; i < 40; ++i) held.push_back(std::make_unique<TcpSender>(port));
  // At its limit the worker cannot answer the admin port (metrics come
  // through it): its log says what happens, once per second at most.
  auto pauses = [&] {
    auto log = agent.process().log();
    std::size_t n = 0;
    for (auto p = log.find("pausing accepts"); p != std::string::npos;
         p = log.find("pausing accepts", p + 1)) {
      ++n;
    }
    return n;
  };
  REQUIRE(wait_until([&] { return pauses() >= 1; }));
  // While the limit lasts the worker must idle: measure CPU over 2+ seconds.
  double cpu0 = cpu_seconds(worker);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return pauses() >= 3; }, 30s));
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = cpu_seconds(worker) - cpu0;
  INFO("cpu " << cpu << " s over " << wall << " s");
  CHECK(cpu < 0.25 * wall + 0.05);
  // Descriptors freed: the queued connections are accepted and data flows.
  held.resize(4);
  TcpSender late(port);
  REQUIRE(late.send("seq=1 after the limit\n"));
  REQUIRE(wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(1) == 1; }));
  REQUIRE(wait_until([&] { return agent.metric("agentd_input_accept_errors_total") > 0; }));
}

TEST_CASE("partial_limit_size bounds the bytes held in incomplete lines across connections") {
  TempDir dir;
  int port = free_port();
  Agent agent(tcp_lines_source(port, "t", " partial_limit_size 1m\n") + json_file_match(dir), dir);
  REQUIRE(agent.ready());
  std::vector<std::unique_ptr<TcpSender>> conns;
  std::string partial(300 << 10, 'p');  // 300 KiB of a line that never ends (yet)
  for (int i = 0; i < 15; ++i) {
    conns.push_back(std::make_unique<TcpSender>(port));
    REQUIRE(conns.back()->send(partial));
  }
  REQUIRE(wait_until(
      [&] { return agent.metric("agentd_input_bytes_total") >= 15.0 * partial.size(); }));
  CHECK(agent.metric("agentd_input_partial_bytes") <= 1 << 20);
  CHECK(agent.metric("agentd_input_partial_cuts_total") >= 11);
  CHECK(agent.metric("agentd_input_oversized_messages_total") ==
        agent.metric("agentd_input_partial_cuts_total"));
  // Every connection goes on working: a cut line is skipped to its end, the
  // next lines arrive.
  for (int i = 0; i < 15; ++i)
    REQUIRE(conns[i]->send("rest of it\nseq=" + std::to_string(i) + " ok\n"));
  REQUIRE(
      wait_until([&] { return count_numbers(files_under(dir / "out")).missing_in(0, 14) == 0; }));
}

TEST_CASE("the descriptor soft limit is raised to the hard limit at start, in every process") {
  TempDir dir;
  write_file(dir / "limited-agentd",
             "#!/bin/sh\nexec prlimit --nofile=256:8192 -- " + agentd_bin() + " \"$@\"\n");
  ::chmod((dir / "limited-agentd").c_str(), 0755);
  Agent agent(tcp_lines_source(free_port()) + null_match(), dir, "agentd", {},
              dir / "limited-agentd");
  REQUIRE(agent.ready());
  auto soft_limit = [](long pid) {
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/limits"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Max open files", 0) == 0) {
        std::istringstream f(line.substr(14));
        long soft = 0;
        f >> soft;
        return soft;
      }
    }
    return -1L;
  };
  CHECK(soft_limit(agent.process().pid()) == 8192);
  CHECK(soft_limit(agent.worker_pid()) == 8192);
}
