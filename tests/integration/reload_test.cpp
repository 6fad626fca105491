// Reload semantics and the supervisor's view of its worker: a listener the
// new config dropped is closed (refused, not a black hole); a worker that
// stops answering makes the node not ready; the admin endpoint answers health
// while slow clients hold connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <catch2/catch.hpp>
#include <filesystem>

#include "support/harness.h"

using namespace logctl::test;

namespace {

// connect(2) to a loopback port: 0, or the errno.
int connect_errno(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

int get_status(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(2, 0);
  auto r = c.Get(path.c_str());
  return r ? r->status : -1;
}

}  // namespace

TEST_CASE("reload: a listener the new config no longer has is closed, senders are refused") {
  TempDir dir;
  int keep = free_port(), drop = free_port(), moved = free_port();
  Agent agent(tcp_lines_source(keep, "a") + tcp_lines_source(drop, "b") + null_match(), dir);
  REQUIRE(agent.ready());
  REQUIRE(connect_errno(drop) == 0);
  write_file(agent.config_path(),
             tcp_lines_source(keep, "a") + tcp_lines_source(moved, "b") + null_match());
  REQUIRE_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  CHECK(connect_errno(drop) == ECONNREFUSED);
  CHECK(connect_errno(keep) == 0);
  CHECK(connect_errno(moved) == 0);
  CHECK_THAT(agent.process().log(),
             Catch::Contains("tcp://127.0.0.1:" + std::to_string(drop) + " is not in generation"));
  // The committed handover's spool was ingested: its directory is gone too.
  CHECK(wait_until([&] {
    std::error_code ec;
    return std::filesystem::is_empty(agent.root() + "/handover", ec) && !ec;
  }));
  // A rolled-back handover keeps every listener of the serving generation.
  write_file(agent.config_path(), "<source>\n @type bogus\n</source>\n");
  CHECK_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("rejected"));
  CHECK(connect_errno(keep) == 0);
  CHECK(connect_errno(moved) == 0);
}

TEST_CASE("a stopped worker makes the node not ready and its metrics say so") {
  TempDir dir;
  Agent agent(tcp_lines_source(free_port(), "a") + null_match(), dir);
  REQUIRE(agent.ready());
  long worker = agent.worker_pid();
  REQUIRE(worker > 0);
  ::kill(static_cast<pid_t>(worker), SIGSTOP);
  struct Cont {
    long pid;
    ~Cont() { ::kill(static_cast<pid_t>(pid), SIGCONT); }
  } cont{worker};
  REQUIRE(wait_until([&] { return get_status(agent.admin_port(), "/readyz") == 503; }));
  CHECK(get_status(agent.admin_port(), "/healthz") == 200);  // the supervisor lives
  auto metrics = agent.metrics();
  CHECK_THAT(metrics, Catch::Contains("agentd_worker_up 0"));
  CHECK_THAT(metrics, Catch::Contains("is not answering"));
  ::kill(static_cast<pid_t>(worker), SIGCONT);
  REQUIRE(wait_until([&] { return get_status(agent.admin_port(), "/readyz") == 200; }));
  CHECK(agent.metric("agentd_worker_up") == 1);
}

TEST_CASE("admin endpoint: slow-header clients cannot starve health or metrics") {
  TempDir dir;
  Agent agent(tcp_lines_source(free_port(), "a") + null_match(), dir);
  REQUIRE(agent.ready());
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {  // more than the connection cap
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(agent.admin_port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      (void)!::write(fd, "GET /metrics HTTP/1.1\r\nX-Slow: ", 32);  // never finished
    }
    slow.push_back(fd);
  }
  for (int i = 0; i < 5; ++i) {
    CHECK(get_status(agent.admin_port(), "/healthz") == 200);
    CHECK(get_status(agent.admin_port(), "/readyz") == 200);
    CHECK(get_status(agent.admin_port(), "/metrics") == 200);
  }
  CHECK(agent.metric("agentd_admin_evicted_connections_total") > 0);
  for (int fd : slow) ::close(fd);
}

TEST_CASE("config.d: an added, changed or removed included file reloads by handover under load") {
  TempDir dir;
  int port = free_port();
  std::string out =
      fluent_log_fence() + "<match **>\n @type file\n @id out\n path " + (dir / "out/events") +
      "\n append true\n <format>\n  @type json\n </format>\n <buffer>\n  @type file\n"
      "  path " +
      (dir / "buf") + "\n  flush_mode interval\n  flush_interval 0.2s\n </buffer>\n" + "</match>\n";
  std::filesystem::create_directories(dir / "conf.d");
  write_file(dir / "conf.d/50-out.conf", out);
  Agent agent(tcp_lines_source(port, "app") +
                  "<system>\n config_watch_delay 0.3s\n</system>\n@include conf.d/*.conf\n",
              dir);
  REQUIRE(agent.ready());
  auto reloads = [&](const char* result) {
    return agent.metric("agentd_config_watch_reloads_total",
                        std::string("result=\"") + result + "\"");
  };
  auto events = [&] {
    std::string all;
    for (const auto& f : files_under(dir / "out")) all += read_file(f);
    return all;
  };
  Feeder feeder(port, 1, 20, 400'000, "cfg");  // 2000 events/s over one connection
  REQUIRE(wait_until([&] { return events().find("seq=") != std::string::npos; }));

  // 1. A file appears in conf.d: a filter now adds a field.
  write_file(dir / "conf.d/10-filter.conf",
             "<filter app>\n @type record_transformer\n <record>\n  rev two\n </record>\n"
             "</filter>\n");
  REQUIRE(wait_until([&] { return reloads("committed") == 1; }));
  REQUIRE(wait_until([&] { return events().find(R"("rev":"two")") != std::string::npos; }));

  // 2. An invalid file: refused, counted, logged; the running config serves on.
  write_file(dir / "conf.d/20-bad.conf", "<filter app>\n @type no_such_filter\n</filter>\n");
  REQUIRE(wait_until([&] { return reloads("invalid") == 1; }));
  CHECK_THAT(agent.process().log(), Catch::Contains("20-bad.conf:2"));
  CHECK_THAT(agent.process().log(), Catch::Contains("keeps serving the previous config"));
  CHECK(reloads("committed") == 1);

  // 3. Changed and removed at once (one debounced reload).
  write_file(dir / "conf.d/10-filter.conf",
             "<filter app>\n @type record_transformer\n <record>\n  rev three\n </record>\n"
             "</filter>\n");
  std::filesystem::remove(dir / "conf.d/20-bad.conf");
  REQUIRE(wait_until([&] { return reloads("committed") == 2; }));
  REQUIRE(wait_until([&] { return events().find(R"("rev":"three")") != std::string::npos; }));

  // 4. Rewriting a file with the same content reloads nothing; removing one does.
  write_file(dir / "conf.d/50-out.conf", out);
  REQUIRE(wait_until([&] { return agent.metric("agentd_config_watch_unchanged_total") >= 1; }));
  CHECK(reloads("committed") == 2);
  std::filesystem::remove(dir / "conf.d/10-filter.conf");
  REQUIRE(wait_until([&] { return reloads("committed") == 3; }));

  feeder.stop();
  CHECK(feeder.failures() == 0);  // no reset, no refusal
  REQUIRE(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(1, feeder.sent()) == 0; }));
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.duplicates() == 0);
  CHECK(c.distinct() == static_cast<std::size_t>(feeder.sent()));
  CHECK(reloads("committed") == 3);
  CHECK(agent.metric("agentd_handover_total", "result=\"committed\"") == 3);
}
