// Real hosts run agentd and logctl-controller under systemd
// (packaging/systemd/): the units verify against this build, and both
// binaries speak the readiness protocol Type=notify relies on — READY when
// serving, RELOADING/READY around agentd's staged reload, STOPPING on
// SIGTERM — to a NOTIFY_SOCKET this test holds, as a path and as an
// abstract name.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "support/harness.h"

using namespace logctl::test;

namespace {

std::string bin_dir() {
  return std::string(AGENTD_BIN).substr(0, std::string(AGENTD_BIN).rfind('/'));
}

// The service manager's end: a datagram socket named by NOTIFY_SOCKET (set
// for the children this test starts, unset again by the destructor).
class NotifySocket {
 public:
  NotifySocket(const std::string& name, bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (abstract) {
      a.sun_path[0] = '\0';  // name starts with '@'
    } else {
      len += 1;
    }
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  // The next message, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout = 20s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }
  // Skips messages until one contains `what`.
  bool expect(const std::string& what) {
    for (int i = 0; i < 10; ++i) {
      std::string m = next();
      if (m.empty()) return false;
      if (m.find(what) != std::string::npos) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

}  // namespace

TEST_CASE("systemd: the shipped units verify against this build") {
  std::string script = std::string(LOGCTL_TESTS_DIR) + "/packaging/verify_units.sh";
  CHECK(sh("bash " + script + " " + LOGCTL_TESTS_DIR + "/.. " + bin_dir()) == 0);
}

TEST_CASE("systemd: agentd tells the service manager ready, reloading and stopping") {
  TempDir dir;
  NotifySocket n(dir / "notify", false);
  int port = free_port();
  Agent agent(tcp_lines_source(port) + null_match(), dir);
  REQUIRE(agent.ready());
  CHECK(n.expect("READY=1"));
  REQUIRE(agent.control(R"({"op":"reload"})").find("committed") != std::string::npos);
  CHECK(n.expect("RELOADING=1"));
  CHECK(n.expect("READY=1"));
  agent.process().signal(SIGTERM);
  CHECK(n.expect("STOPPING=1"));
  CHECK(agent.process().wait() == 0);
}

TEST_CASE("systemd: logctl-controller tells the service manager ready and stopping") {
  TempDir dir;
  NotifySocket n("@logctl-test-notify-" + std::to_string(::getpid()), true);
  std::string ctl = bin_dir() + "/logctl-controller";
  REQUIRE(sh(ctl + " init --data-dir " + dir / "ctl" + " > /dev/null 2>&1") == 0);
  Process p({ctl, "serve", "--data-dir", dir / "ctl", "--listen", "127.0.0.1:0", "--port-file",
             dir / "port"},
            dir / "ctl.log");
  std::string ready = n.next();
  INFO(p.log());
  CHECK_THAT(ready, Catch::Contains("READY=1"));
  CHECK_THAT(ready, Catch::Contains("MAINPID=" + std::to_string(p.pid())));
  CHECK_FALSE(read_file(dir / "port").empty());  // serving by then
  p.signal(SIGTERM);
  CHECK(n.expect("STOPPING=1"));
  CHECK(p.wait() == 0);
}
