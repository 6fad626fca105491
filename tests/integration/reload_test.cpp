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
