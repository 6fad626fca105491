// The controller against hostile clients and hostile nodes (docs/security.md,
// the threat model's rows that name this file): hundreds of kept-alive and
// silent connections, slow clients without a token, pipelined and
// half-closed clients, a flood from one address.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/fleet.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::test;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Established TCP connections whose local port is `port` (from /proc/net/tcp).
int established_on(int port) {
  std::string table = read_file("/proc/net/tcp") + read_file("/proc/net/tcp6");
  char hex[8];
  std::snprintf(hex, sizeof hex, ":%04X", port);
  int n = 0;
  std::size_t at = 0;
  while ((at = table.find('\n', at)) != std::string::npos) {
    ++at;
    // "  sl  local_address rem_address   st ..."
    std::size_t colon = table.find(':', at);  // after sl
    if (colon == std::string::npos) break;
    std::size_t local = table.find_first_not_of(' ', colon + 1);
    std::size_t local_end = table.find(' ', local);
    std::size_t remote_end = table.find(' ', table.find_first_not_of(' ', local_end));
    std::size_t st = table.find_first_not_of(' ', remote_end);
    if (local == std::string::npos || st == std::string::npos) break;
    std::string l = table.substr(local, local_end - local);
    if (l.ends_with(hex) && table.compare(st, 2, "01") == 0) ++n;
  }
  return n;
}

// A TCP connection to 127.0.0.1:port from a loopback address of its own
// (another "host": the per-address limits count it apart from the test's
// own requests), optionally TLS (the certificate is not checked: an
// attacker does not care).
class RawClient {
 public:
  RawClient(const std::string& source, int port, bool tls = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<std::uint16_t>(port));
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
      return;
    }
    timeval tv{0, 200000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!tls) {
      ok_ = true;
      return;
    }
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    // The handshake, waiting out the receive timeout a few times.
    for (int i = 0; i < 50 && !ok_; ++i) {
      int r = SSL_connect(ssl_);
      ok_ = r == 1;
      if (r <= 0 && SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ &&
          !(SSL_get_error(ssl_, r) == SSL_ERROR_SYSCALL && errno == EAGAIN)) {
        break;
      }
    }
  }
  ~RawClient() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  bool send(const std::string& s) {
    if (!ssl_)
      return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
    return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
  }
  // Done sending: TLS close_notify, then the TCP half-close.
  void finish() {
    if (ssl_) SSL_shutdown(ssl_);
    ::shutdown(fd_, SHUT_WR);
  }
  // What the server says until it closes, or `limit` passes (closed() tells which).
  std::string read_all(std::chrono::milliseconds limit) {
    std::string got;
    auto until = Clock::now() + limit;
    char buf[16384];
    while (Clock::now() < until) {
      errno = 0;
      long r = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
      if (r > 0) {
        got.append(buf, static_cast<std::size_t>(r));
        continue;
      }
      // The receive timeout (200 ms) is a wait, not a close: TLS says so
      // with WANT_READ (errno alone once read a slow answer as a close).
      bool timed_out = ssl_ ? SSL_get_error(ssl_, static_cast<int>(r)) == SSL_ERROR_WANT_READ ||
                                  (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                            : r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
      if (timed_out) continue;
      closed_ = true;
      break;
    }
    return got;
  }
  bool closed() const { return closed_; }
  // Whether the server has closed, without waiting.
  bool closed_now() {
    char byte;
    ssize_t r = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool ok_ = false, closed_ = false;
};

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "controller: the front door keeps hundreds of node connections open and bounds slow clients") {
  TempDir dir;
  Controller c(dir);
  const int port = std::stoi(c.url().substr(c.url().rfind(':') + 1));
  // A client that connects and never says anything (not even a TLS hello).
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  auto silent_since = std::chrono::steady_clock::now();

  // 300 nodes, each on its own kept-alive TLS connection, heartbeat twice.
  constexpr int kNodes = 300;
  std::vector<std::string> tokens;
  for (int i = 0; i < kNodes; ++i) {
    auto [st, j] = c.post("/v1/nodes/enroll", json{{"name", "fd-" + std::to_string(i)}}.dump());
    REQUIRE(st == 201);
    tokens.push_back(j["token"]);
  }
  std::vector<std::unique_ptr<httplib::Client>> conns;
  int ok = 0;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kNodes; ++i) {
      if (round == 0) {
        conns.push_back(c.client());
        conns.back()->set_keep_alive(true);
      }
      auto r = conns[i]->Post("/v1/nodes/fd-" + std::to_string(i) + "/heartbeat",
                              {{"Authorization", "Bearer " + tokens[i]}}, R"({"version":"0.1.0"})",
                              "application/json");
      ok += r && r->status == 200;
    }
  }
  CHECK(ok == 2 * kNodes);
  // Every node's connection is still open, and the admin API (relayed) answers
  // beside them.
  CHECK(established_on(port) >= kNodes);
  CHECK(c.get("/v1/cluster").first == 200);
  CHECK(c.get("/v1/cluster").second["nodes"]["connected"] == kNodes);

  // Bad heartbeats are refused by the front door itself, with the API's errors.
  auto node0 = "POST /v1/nodes/fd-0/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
               tokens[0] + "\r\n";
  CHECK_THAT(c.raw(node0 + "Content-Length: 2097152\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 413") && Catch::Contains("payload_too_large"));
  CHECK_THAT(c.raw(node0 + "\r\n"),
             Catch::StartsWith("HTTP/1.1 411") && Catch::Contains("length_required"));
  CHECK_THAT(c.raw(node0 + "X-Filler: " + std::string(20000, 'a') + "\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 431"));
  CHECK_THAT(c.raw(node0 + "Content-Length: 5\r\nConnection: close\r\n\r\n{oops"),
             Catch::StartsWith("HTTP/1.1 400") && Catch::Contains("not valid JSON"));
  // A field nested 300,000 deep (kept, then written out when the node is
  // listed, that recursion overflowed the stack): refused before it is built.
  std::string deep = "{\"x\":" + std::string(300000, '[') + std::string(300000, ']') + "}";
  CHECK_THAT(c.raw(node0 + "Content-Length: " + std::to_string(deep.size()) +
                   "\r\nConnection: close\r\n\r\n" + deep),
             Catch::StartsWith("HTTP/1.1 400") && Catch::Contains("nested deeper than 512"));
  auto wrong =
      "POST /v1/nodes/fd-0/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
      "lct_node_nope\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
  CHECK_THAT(c.raw(wrong), Catch::StartsWith("HTTP/1.1 401"));
  // Two heartbeats pipelined on one connection are both answered, in order.
  auto one = node0 + "Content-Length: 2\r\n\r\n{}";
  auto two = c.raw(one + node0 + "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  CHECK(two.find("HTTP/1.1 200", two.find("HTTP/1.1 200") + 1) != std::string::npos);

  // The silent client is closed after the request timeout (10 s), not held.
  pollfd p{silent, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 30000) == 1);
  char byte;
  CHECK(::recv(silent, &byte, 1, 0) <= 0);
  CHECK(std::chrono::steady_clock::now() - silent_since >= 9s);
  ::close(silent);
  // Nodes' connections are still served after all that.
  auto r = conns[1]->Post("/v1/nodes/fd-1/heartbeat", {{"Authorization", "Bearer " + tokens[1]}},
                          R"({"version":"0.1.0"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("controller security: slow clients stall nothing: the API answers, a node upgrades") {
  TempDir dir;
  Controller c(dir);
  auto nodes = start_nodes(dir, c, 1);
  start_cluster(c, 1);
  const std::string slow_head =
      "POST /v1/nodes/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 100000\r\n";
  const std::string enroll = trim(read_file(c.enroll_file()));

  // The attack, for as long as the test runs (bounded: 120 s): 30 TLS
  // connections without a token, each announcing a 100,000-byte enrolment
  // and sending a byte a second, opened again as soon as one is closed.
  // Their answers are kept.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> unauthenticated_answers;
  std::vector<std::thread> attackers;
  for (int i = 0; i < 30; ++i) {
    attackers.emplace_back([&] {
      auto until = Clock::now() + 120s;
      while (!stop && Clock::now() < until) {
        RawClient a("127.0.0.2", c.port());
        if (!a.ok() || !a.send(slow_head + "\r\n{")) continue;
        std::string got;
        for (int s = 0; s < 12 && !stop && !a.closed(); ++s) {
          got += a.read_all(1s);
          if (!a.closed()) a.send(" ");
        }
        if (a.closed()) {
          std::lock_guard lock(mu);
          unauthenticated_answers.push_back(got);
        }
        std::this_thread::sleep_for(200ms);  // pacing: an attacker at 150 requests/s
      }
    });
  }
  // A compromised node: the enrolment token, and the same slow body, from
  // 20 connections (once: its requests are bounded by time, not refused).
  std::vector<std::pair<std::string, Clock::duration>> token_answers(20);
  std::vector<std::thread> holders;
  for (int i = 0; i < 20; ++i) {
    holders.emplace_back([&, i] {
      RawClient a("127.0.0.3", c.port());
      auto since = Clock::now();
      if (!a.ok() || !a.send(slow_head + "Authorization: Bearer " + enroll + "\r\n\r\n{")) return;
      std::string got;
      for (int s = 0; s < 40 && !stop && !a.closed(); ++s) {
        got += a.read_all(1s);
        if (!a.closed()) a.send(" ");
      }
      token_answers[i] = {got, Clock::now() - since};
    });
  }

  // Meanwhile: admin requests answer at once, a release uploads, and the
  // node downloads it and upgrades.
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    CHECK(c.get("/v1/nodes").first == 200);
    CHECK(Clock::now() - t0 < 3s);
  }
  auto [pst, pushed] = c.push(agentd_build("agentd-next"));
  CHECK(pst == 201);
  std::string next = pushed.value("version", "");
  auto [st, j] = c.post("/v1/cluster/upgrade", json{{"version", next}}.dump());
  INFO(j.dump());
  CHECK(st == 200);
  CHECK(c.post("/v1/cluster/resume", R"({"strategy":{"min_healthy_time_ms":1000}})").first == 200);
  CHECK(cluster_on(c, next, 60s));
  CHECK(node_version(c, "node-1") == next);

  for (auto& t : holders) t.join();
  stop = true;
  for (auto& t : attackers) t.join();
  // Without a token: 401 from the head, before the body.
  REQUIRE(!unauthenticated_answers.empty());
  INFO("front door: tls failures "
       << c.metric("logctl_controller_tls_failures_total") << ", refused by source "
       << c.metric("logctl_controller_connections_refused_source_total") << ", timeouts "
       << c.metric("logctl_controller_timeouts_total"));
  for (const auto& a : unauthenticated_answers) {
    CHECK_THAT(a, Catch::StartsWith("HTTP/1.1 401") && Catch::Contains("unauthenticated"));
  }
  // With a token: the whole request within its bound (10 s, and 1 s per
  // MiB), then 408 and closed.
  for (const auto& [answer, took] : token_answers) {
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 408") && Catch::Contains("request_timeout"));
    CHECK(took >= 9s);
    CHECK(took < 20s);
  }
  CHECK(c.metric("logctl_controller_refused_admission_total") >= 30);
  CHECK(c.metric("logctl_controller_timeouts_total") >= 20);
}

TEST_CASE(
    "controller security: pipelined and half-closed clients of the relayed API are answered") {
  TempDir dir;
  Controller c(dir);
  const std::string get =
      "GET /v1/version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + c.admin_token() + "\r\n";
  SECTION("three requests pipelined: three answers, in order, then the close asked for") {
    RawClient a("127.0.0.1", c.port());
    REQUIRE(a.ok());
    REQUIRE(a.send(get + "\r\n" + "GET /v1/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   c.admin_token() + "\r\n\r\n" + get + "Connection: close\r\n\r\n"));
    std::string answer = a.read_all(10s);
    CHECK(a.closed());
    CHECK(count_of(answer, "HTTP/1.1 200") == 3);
    CHECK(answer.find("\"state\"") > answer.find("HTTP/1.1 200", 1));  // the cluster, second
    CHECK(count_of(answer, "Connection: keep-alive") == 2);
    CHECK(count_of(answer, "Connection: close") == 1);
  }
  SECTION("a request then a half-close: answered, then closed") {
    RawClient a("127.0.0.1", c.port());
    REQUIRE(a.ok());
    REQUIRE(a.send(get + "\r\n"));
    a.finish();
    std::string answer = a.read_all(10s);
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 200") && Catch::Contains("\"controller\""));
    CHECK(a.closed());
  }
  SECTION("Expect: 100-continue is answered, then the request") {
    RawClient a("127.0.0.1", c.port());
    REQUIRE(a.ok());
    REQUIRE(a.send("POST /v1/configs/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                   c.admin_token() + "\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
    std::string first = a.read_all(2s);
    CHECK_THAT(first, Catch::StartsWith("HTTP/1.1 100 Continue"));
    REQUIRE(a.send("{}"));
    CHECK_THAT(a.read_all(3s), Catch::StartsWith("HTTP/1.1 200") && Catch::Contains("\"valid\""));
  }
  SECTION("a chunked body is refused with 411, an unknown Expect with 417") {
    RawClient a("127.0.0.1", c.port());
    REQUIRE(a.ok());
    REQUIRE(
        a.send("POST /v1/configs/check HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    CHECK_THAT(a.read_all(5s), Catch::StartsWith("HTTP/1.1 411"));
    RawClient b("127.0.0.1", c.port());
    REQUIRE(b.send("GET /v1/version HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n"));
    CHECK_THAT(b.read_all(5s), Catch::StartsWith("HTTP/1.1 417"));
  }
}

TEST_CASE("controller security: one address cannot hold more than 64 requests in flight") {
  TempDir dir;
  Controller c(dir);
  // 80 silent connections from one address: 64 are held (each until its
  // request time runs out), the rest closed at once.
  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 80; ++i) {
    silent.push_back(std::make_unique<RawClient>("127.0.0.4", c.port(), false));
  }
  CHECK(wait_until(
      [&] { return c.metric("logctl_controller_connections_refused_source_total") >= 16; }, 5s));
  int closed = 0, connected = 0;
  for (auto& s : silent) {
    connected += s->ok();
    closed += s->closed_now();
  }
  CHECK(connected == 80);
  CHECK(closed == 16);
  // Another address is served meanwhile.
  CHECK(c.get("/v1/version").first == 200);
}

TEST_CASE("controller security: the controller never opens a file a config names") {
  TempDir dir;
  Controller c(dir);
  // Files on the controller's host: secret, endless, its own CA key.
  write_file(dir / "secret.conf", "<source>\n  @type tcp\n  port SECRET-VALUE-42\n</source>\n");
  const std::string ca_key = read_file(dir / "ctl/tls/ca.key");
  REQUIRE(!ca_key.empty());
  for (const std::string& path :
       {dir / "secret.conf", std::string("/dev/zero"), std::string("/etc/shadow"),
        dir / "ctl/tls/ca.key", std::string("tls/ca.key"), std::string("../ctl/*.token")}) {
    INFO(path);
    std::string config = "@include " + path + "\n" + null_match();
    auto t0 = Clock::now();
    auto r = c.client()->Post("/v1/configs/check", {{"Authorization", "Bearer " + c.admin_token()}},
                              config, "text/plain");
    REQUIRE(r);
    CHECK(Clock::now() - t0 < 3s);
    CHECK(r->status == 200);
    CHECK(r->body.find("SECRET-VALUE-42") == std::string::npos);
    CHECK(r->body.find("BEGIN") == std::string::npos);
    CHECK(r->body.find("lct_") == std::string::npos);
    auto j = json::parse(r->body);
    CHECK(j["includes_checked_on_nodes"] == json::array({path}));
    // Stored as a revision, the same: no file read.
    auto s = c.client()->Post("/v1/configs", {{"Authorization", "Bearer " + c.admin_token()}},
                              config, "text/plain");
    REQUIRE(s);
    CHECK(s->status == 201);
  }
  // A schema error quotes the config it was sent, nothing else.
  auto bad = c.client()->Post(
      "/v1/configs/check", {{"Authorization", "Bearer " + c.admin_token()}},
      "@include " + dir / "secret.conf" + "\n<source>\n  @type nosuch\n</source>\n", "text/plain");
  REQUIRE(bad);
  CHECK(bad->status == 422);
  CHECK(bad->body.find("SECRET-VALUE-42") == std::string::npos);
  // The controller did not grow reading /dev/zero (it never opened it).
  CHECK(c.get("/v1/version").first == 200);
}

TEST_CASE(
    "controller security: enrolment is bounded: token uses, expiry and names, the node cap, "
    "names without case, what a heartbeat may store, never-heard nodes out of plans") {
  TempDir dir;
  Controller c(dir, "127.0.0.1", "", {"--max-nodes", "5"});
  const std::string data = dir / "ctl";
  auto create = [&](const std::string& file, const std::string& args) {
    return sh(controller_bin() + " enroll-token create --data-dir " + data + " --out " + file +
              " " + args + " > " + file + ".log 2>&1");
  };
  auto enrol = [&](const std::string& name, const std::string& token) {
    return c.post("/v1/nodes/enroll", json{{"name", name}}.dump(), token);
  };
  // Two uses, three names allowed.
  REQUIRE(create(dir / "two.token", "--uses 2 --name web-1 --name web-2 --name web-3") == 0);
  CHECK_THAT(read_file(dir / "two.token.log"), Catch::Contains("2 enrolment(s)"));
  std::string two = trim(read_file(dir / "two.token"));
  CHECK(enrol("web-9", two).first == 403);  // not a name it may enrol
  auto [s1, web1] = enrol("web-1", two);
  CHECK(s1 == 201);
  auto [s2, web2] = enrol("web-2", two);
  CHECK(s2 == 201);
  auto [s3, j3] = enrol("web-3", two);
  CHECK(s3 == 401);
  CHECK(j3["error"]["message"] == "the token has no uses left");
  // An expiry.
  REQUIRE(create(dir / "short.token", "--ttl 1s") == 0);
  std::string short_lived = trim(read_file(dir / "short.token"));
  CHECK(wait_until([&] { return enrol("late", short_lived).first == 401; }, 10s));
  CHECK(enrol("late", short_lived).second["error"]["message"] == "the token expired");
  c.post("/v1/nodes/late/delete", "");  // enrolled if the first try came within the second
  CHECK(create(dir / "bad.token", "--ttl soon") == 2);
  CHECK(create(dir / "bad2.token", "--name '../x'") == 2);
  // One name per node whatever its case.
  auto [s4, j4] = enrol("WEB-1", "");
  CHECK(s4 == 409);
  CHECK_THAT(j4["error"]["message"].get<std::string>(), Catch::Contains("without regard to case"));
  // The node cap (5): web-1, web-2 and three more; a sixth is refused until one is deleted.
  const std::string enroll = trim(read_file(c.enroll_file()));
  for (const char* n : {"n3", "n4", "n5"}) CHECK(enrol(n, enroll).first == 201);
  auto [s6, j6] = enrol("n6", enroll);
  CHECK(s6 == 409);
  CHECK_THAT(j6["error"]["message"].get<std::string>(), Catch::Contains("--max-nodes"));
  CHECK(c.post("/v1/nodes/n5/delete", "").first == 200);
  CHECK(enrol("n6", enroll).first == 201);

  // A heartbeat of 700 KB: 10,000 figures, 2,000 listeners with escape
  // sequences, a report with a clipboard write and a forged table row.
  json figures = json::object();
  for (int i = 0; i < 10000; ++i) figures["f" + std::to_string(i)] = i;
  figures["events_in"] = 7;
  json listeners = json::array();
  for (int i = 0; i < 2000; ++i) {
    listeners.push_back("tcp:\x1b[2J\x1b]0;pwned\x07" + std::string(200, 'x'));
  }
  json hb = {{"version", "0.1.0"},
             {"running", true},
             {"worker_up", true},
             {"chunk_format_written", 99},
             {"handover_protocol", {{"min", 1}, {"max", 2}}},
             {"figures", figures},
             {"listeners", listeners},
             {"junk", std::string(100000, 'j')},
             {"handover",
              {{"ok", true},
               {"result", "committed\r\nweb-9  RUNNING  \x1b]52;c;cm0gLXJmIH4=\x07"},
               {"reason", std::string(5000, 'r')}}},
             {"converge",
              {{"state",
                "ok\xc2\x9b"
                "31m"},
               {"error", "\x1b[31mred"}}}};
  REQUIRE(hb.dump().size() > 500000);
  auto [hs, hj] = c.post("/v1/nodes/web-1/heartbeat", hb.dump(), web1["token"]);
  INFO(hj.dump());
  CHECK(hs == 200);
  auto r = c.client()->Get("/v1/nodes/web-1", {{"Authorization", "Bearer " + c.admin_token()}});
  REQUIRE(r);
  CHECK(r->body.size() < 100000);  // what is kept is bounded
  auto node = json::parse(r->body);
  // No text the node sent holds a byte a terminal acts on (C0, DEL, C1).
  std::function<bool(const json&)> clean = [&](const json& v) {
    if (v.is_string()) {
      std::string t = v;
      for (std::size_t i = 0; i < t.size(); ++i) {
        auto b = static_cast<unsigned char>(t[i]);
        if (b < 0x20 || b == 0x7f) return false;
        if (b == 0xc2 && i + 1 < t.size() && static_cast<unsigned char>(t[i + 1]) < 0xa0)
          return false;
      }
      return true;
    }
    if (!v.is_structured()) return true;
    for (const auto& [k, x] : v.items()) {
      if (!clean(json(k)) || !clean(x)) return false;
    }
    return true;
  };
  CHECK(clean(node));
  CHECK(node["figures"] == json{{"events_in", 7}});
  CHECK(node["listeners"].size() == 256);
  std::string result = node["last_handover"]["result"];
  CHECK(result.find('\r') == std::string::npos);
  CHECK_THAT(result, Catch::Contains("\\u000d\\u000aweb-9"));
  CHECK(node["last_handover"]["reason"].get<std::string>().size() <= 1024);
  CHECK_THAT(node["converge"]["state"].get<std::string>(), Catch::Contains("\\u009b"));
  CHECK(!node.contains("junk"));
  // A wrong type is still refused, naming the field.
  auto [bs, bj] = c.post("/v1/nodes/web-1/heartbeat", R"({"listeners":"x"})", web1["token"]);
  CHECK(bs == 400);
  CHECK_THAT(bj["error"]["message"].get<std::string>(), Catch::Contains("listeners"));
  // Restore a clean report (the fields above stay bounded either way).
  hb.erase("figures");
  hb.erase("listeners");

  // Plans: web-1 only (web-2, n3, n4, n6 never reported); its chunk format
  // comes from its release's manifest, not from its report of 99.
  push(c, "agentd");
  std::string next = push(c, "agentd-next");
  CHECK(c.post("/v1/nodes/web-1/heartbeat", hb.dump(), web1["token"]).first == 200);
  auto [ps, pj] = c.post("/v1/cluster/upgrade", json{{"version", next}, {"dry_run", true}}.dump());
  INFO(pj.dump());
  CHECK(ps == 200);
  CHECK(pj["plan"]["batches"] == json::array({json::array({"web-1"})}));
  for (const auto& check : pj["plan"]["checks"]) {
    CHECK(check["outcome"] == "passed");
    if (check["name"] == "buffer_format") {
      CHECK_THAT(
          check["detail"].get<std::string>(),
          Catch::Contains("web-1 reported chunk format 99") && Catch::Contains("not believed"));
    }
  }

  // A fleet on two versions is said to be mixed: in the API and in `cluster status`.
  CHECK(c.post("/v1/nodes/web-2/heartbeat", R"({"version":"0.1.1","running":true})", web2["token"])
            .first == 200);
  CHECK(c.cluster()["nodes"]["running"].size() == 2);
  std::string logctl = controller_bin().substr(0, controller_bin().rfind('/')) + "/logctl";
  write_file(dir / "admin.token", c.admin_token());
  std::string status_out = dir / "status.out";
  CHECK(sh(logctl + " cluster status --server " + c.url() + " --ca " + c.ca() + " --token-file " +
           dir / "admin.token" + " > " + status_out + " 2>&1") == 0);
  CHECK_THAT(read_file(status_out), Catch::Contains("MIXED") &&
                                        Catch::Contains("0.1.0 config 0 on 1") &&
                                        Catch::Contains("0.1.1 config 0 on 1"));
}

TEST_CASE("controller security: a node's --allowed-paths bounds what a controller's config names") {
  TempDir dir;
  Controller c(dir);
  const std::string allowed = dir / "allowed";
  REQUIRE(::mkdir(allowed.c_str(), 0755) == 0);
  int port = free_port();
  Agent node(
      node_config(dir, "n1", port), dir, "n1",
      {"--controller", c.url(), "--controller-ca", c.ca(), "--enroll-token-file", c.enroll_file(),
       "--node-name", "n1", "--ready-timeout-ms", "3000", "--allowed-paths", allowed});
  REQUIRE(node.ready());
  REQUIRE(wait_until([&] { return c.get("/v1/nodes/n1").second.value("connected", false); }));
  start_cluster(c, 1);
  auto store = [&](const std::string& text) {
    auto r = c.client()->Post("/v1/configs", {{"Authorization", "Bearer " + c.admin_token()}}, text,
                              "text/plain");
    REQUIRE(r);
    REQUIRE(r->status == 201);
    return json::parse(r->body)["revision"].get<std::int64_t>();
  };
  auto roll = [&](std::int64_t rev) {
    CHECK(c.post("/v1/cluster/upgrade", json{{"config", rev}}.dump()).first == 200);
    CHECK(c.post("/v1/cluster/resume",
                 R"({"strategy":{"min_healthy_time_ms":500,"healthy_deadline_ms":20000}})")
              .first == 200);
  };
  const std::string inside = tcp_lines_source(port) + fluent_log_fence() +
                             "<match **>\n  @type file\n  path " + allowed +
                             "/out/events\n</match>\n";
  // Tailing /etc/shadow, and an @include of it: refused by the node, named.
  for (const std::string& bad :
       {inside + "<source>\n  @type tail\n  path /var/log/x.log,/etc/shadow\n  pos_file " +
            allowed + "/pos\n  tag s\n  <parse>\n    @type none\n  </parse>\n</source>\n",
        "@include /etc/shadow\n" + inside,
        tcp_lines_source(port) + fluent_log_fence() + "<match **>\n  @type file\n  path " +
            allowed + "/../escape/events\n</match>\n"}) {
    std::int64_t rev = store(bad);
    roll(rev);
    CHECK(wait_until(
        [&] {
          auto n = c.get("/v1/nodes/n1").second;
          return n["converge"].value("error", "").find("--allowed-paths") != std::string::npos;
        },
        30s));
    CHECK(wait_until([&] { return c.cluster()["cluster"]["state"] == "running"; }, 60s));
    CHECK(c.cluster()["cluster"]["current_config"] != rev);
  }
  // Everything under the allowed directory: applied.
  std::int64_t good = store(inside);
  roll(good);
  CHECK(wait_until([&] { return c.cluster()["cluster"]["current_config"] == good; }, 60s));
  CHECK(wait_until([&] { return c.get("/v1/nodes/n1").second["config_revision"] == good; }, 30s));
}
