// The handover building blocks: protocol encode/decode and negotiation, fd
// passing over SOCK_SEQPACKET, and the supervisor's socket manager — with
// real sockets.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <thread>

#include "agentd/platform/fd_passing.h"
#include "agentd/platform/fs.h"
#include "agentd/supervisor/channel.h"
#include "agentd/supervisor/socket_manager.h"
#include "logctl/schema/handover_protocol.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::agentd;
using namespace logctl::handover;

namespace {
int local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}
}  // namespace

TEST_CASE("handover protocol: messages round-trip, bad packets are errors") {
  Message hello{MessageType::kHello};
  hello.min_version = 1;
  hello.max_version = 3;
  hello.pid = 77;
  hello.generation = 5;
  auto back = decode(encode(hello));
  REQUIRE(back);
  CHECK(back->max_version == 3);
  CHECK(back->generation == 5);
  Message l{MessageType::kListener};
  l.key = "tcp://127.0.0.1:5170";
  l.error = "EADDRINUSE";
  auto lb = decode(encode(l));
  REQUIRE(lb);
  CHECK(lb->error == "EADDRINUSE");
  Message c{MessageType::kConnection};
  c.key = "tcp://127.0.0.1:5170";
  auto cb = decode(encode(c));
  REQUIRE(cb);  // pending = 0 is still sent: it is required
  CHECK(cb->pending == 0);
  Message start{MessageType::kStart};
  start.hold = true;
  CHECK(decode(encode(start))->hold);
  CHECK(decode("{\"type\":\"ready\",\"from_the_future\":1}"));  // unknown fields ignored
  CHECK_FALSE(decode("{\"type\":\"source_only\",\"spool\":7}"));
  CHECK_FALSE(decode("{\"type\":\"hello\"}"));
  CHECK_FALSE(decode("{\"type\":\"teleport\"}"));
  CHECK_FALSE(decode("[]"));
  CHECK_FALSE(decode(std::string(kMaxMessageBytes + 1, ' ')));
}

TEST_CASE("handover protocol: version negotiation") {
  CHECK(negotiate(kMinSupportedProtocolVersion, kMinSupportedProtocolVersion) ==
        kMinSupportedProtocolVersion);
  CHECK(negotiate(1, 9) == kHandoverProtocolVersion);  // newer worker, older supervisor
  CHECK_FALSE(negotiate(1, 1));                        // a version-1 worker cannot be handed over
  CHECK_FALSE(negotiate(kHandoverProtocolVersion + 1, kHandoverProtocolVersion + 2));
}

TEST_CASE("listener keys parse and canonicalise") {
  auto k = parse_listener_key("udp://[::1]:514");
  REQUIRE(k);
  CHECK(k->host == "::1");
  CHECK(k->str() == "udp://[::1]:514");
  CHECK_FALSE(parse_listener_key("http://x:1"));
  CHECK_FALSE(parse_listener_key("tcp://127.0.0.1"));
  CHECK_FALSE(parse_listener_key("tcp://127.0.0.1:99999"));
  CHECK_FALSE(parse_listener_key("udp://[[x]]:514"));  // fuzz_handover regression
}

TEST_CASE("fd passing: a listener sent over SEQPACKET accepts connections") {
  int pair[2];
  REQUIRE(fdpass::socket_pair(pair));
  SocketManager sm;
  auto fd = sm.acquire("tcp://127.0.0.1:0");
  REQUIRE(fd);
  REQUIRE(fdpass::send(pair[0], "listener", {*fd}));
  ::close(*fd);
  auto got = fdpass::receive(pair[1], 1024, 4);
  REQUIRE(got);
  CHECK(got->payload == "listener");
  REQUIRE(got->fds.size() == 1);
  int port = local_port(got->fds[0]);
  test::TcpSender client(port);
  REQUIRE(client.connected());
  int conn = ::accept(got->fds[0], nullptr, nullptr);
  CHECK(conn >= 0);
  ::close(conn);
  ::close(got->fds[0]);
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_CASE("fd passing: more fds than the receiver allows is MSG_CTRUNC, none leak") {
  int pair[2];
  REQUIRE(fdpass::socket_pair(pair));
  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(::dup(0));
  REQUIRE(fdpass::send(pair[0], "many", fds));
  auto got = fdpass::receive(pair[1], 1024, 2);
  REQUIRE_FALSE(got);
  CHECK_THAT(got.error().message, Catch::Contains("truncated"));
  for (int f : fds) ::close(f);
  ::close(pair[0]);
  REQUIRE(fdpass::receive(pair[1], 1024, 2).error().code == ErrorCode::kUnavailable);
  ::close(pair[1]);
}

TEST_CASE("socket manager: one kernel socket per key, shared by every holder") {
  SocketManager sm;
  auto a = sm.acquire("udp://127.0.0.1:0");
  REQUIRE(a);
  int port = local_port(*a);
  std::string key = "tcp://127.0.0.1:" + std::to_string(test::free_port());
  auto t1 = sm.acquire(key);
  auto t2 = sm.acquire(key);
  REQUIRE(t1);
  REQUIRE(t2);
  CHECK(sm.size() == 2);
  // Both duplicates are the same socket: a connection queued while only the
  // first holder exists is accepted through the second after the first closes.
  int tcp_port = local_port(*t1);
  test::TcpSender c(tcp_port);
  REQUIRE(c.connected());
  ::close(*t1);
  int conn = ::accept(*t2, nullptr, nullptr);
  CHECK(conn >= 0);
  ::close(conn);
  ::close(*t2);
  ::close(*a);
  CHECK(port > 0);
  auto taken = sm.acquire("tcp://127.0.0.1:" + std::to_string(tcp_port));
  CHECK(taken);  // same key: the existing socket, not a second bind
  if (taken) ::close(*taken);
  CHECK_FALSE(sm.acquire("tcp://not-an-address:80"));
}

namespace {
// A supervisor serving one worker's startup on a thread, over a real pair.
struct ChannelPair {
  ChannelPair() {
    REQUIRE(paired);
    server = std::thread([this] { outcome = supervisor.await({MessageType::kReady}); });
  }
  ~ChannelPair() {
    if (server.joinable()) server.join();
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2] = {-1, -1};
  bool paired = fdpass::socket_pair(fds).has_value();  // before the channels below use fds
  SocketManager sockets;
  SupervisorChannel supervisor{fds[0], sockets};
  WorkerChannel worker{fds[1]};
  Result<Message> outcome = make_error(ErrorCode::kInternal, "not run");
  std::thread server;
};
}  // namespace

TEST_CASE_METHOD(ChannelPair,
                 "channel: hello, listen and ready between a worker and a supervisor") {
  auto version = worker.hello(::getpid(), 7);
  REQUIRE(version);
  CHECK(*version == kHandoverProtocolVersion);
  auto fd = worker.listen("tcp://127.0.0.1:0");
  REQUIRE(fd);
  test::TcpSender client(local_port(*fd));
  CHECK(client.connected());
  ::close(*fd);
  auto bad = worker.listen("tcp://no-such-host:1");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("numeric address"));
  REQUIRE(worker.ready());
  server.join();
  REQUIRE(outcome);
  CHECK(outcome->type == MessageType::kReady);
  CHECK(supervisor.worker_pid() == ::getpid());
}

TEST_CASE_METHOD(
    ChannelPair,
    "channel: a worker with no common protocol version is refused before anything starts") {
  auto v = worker.hello(1, 1, kHandoverProtocolVersion + 1, kHandoverProtocolVersion + 2);
  server.join();
  REQUIRE_FALSE(v);
  CHECK_THAT(v.error().message, Catch::Contains("supervisor refused"));
  REQUIRE_FALSE(outcome);
  CHECK_THAT(outcome.error().message, Catch::Contains("refused"));
  CHECK(sockets.size() == 0);
}

TEST_CASE("memfd: bytes passed with a descriptor read back whole, and close-on-exec as asked") {
  std::string bytes(200'000, 'x');
  bytes += "partial line without its newline";
  auto fd = fs::memfd_with("test-pending", bytes, fs::Inherit::kNo);
  REQUIRE(fd);
  CHECK((::fcntl(*fd, F_GETFD) & FD_CLOEXEC) != 0);
  auto back = fs::read_all(*fd, "test");
  REQUIRE(back);
  CHECK(*back == bytes);
  ::close(*fd);
  auto kept = fs::memfd_with("test-state", "{}", fs::Inherit::kYes);
  REQUIRE(kept);
  CHECK((::fcntl(*kept, F_GETFD) & FD_CLOEXEC) == 0);
  ::close(*kept);
}
