// in_http with real clients: Python's http.client on kept-alive connections
// (tests/clients/http_client.py: JSON, NDJSON, MessagePack and form bodies)
// and curl(1); numbered events counted in the output files across staged
// handovers; malformed, oversized and wrong requests answered as Fluentd
// answers them (or 400 naming the error), counted, while others go on; an
// idle connection closed after keepalive_timeout. What Fluentd writes for
// the same requests is in the compat corpus (276-291).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "support/harness.h"

using namespace logctl::test;

namespace {

std::string http_config(int port, const TempDir& dir, const std::string& extra = "") {
  return "<source>\n  @type http\n  bind 127.0.0.1\n  port " + std::to_string(port) + "\n" + extra +
         "</source>\n" + fluent_log_fence() + "<match **>\n  @type file\n  path " + dir.path() +
         "/out/${tag}\n  append true\n  <format>\n    @type json\n  </format>\n  <buffer tag>\n"
         "    @type file\n    path " +
         dir.path() +
         "/buffer\n    flush_mode interval\n    flush_interval 0.2s\n  </buffer>\n"
         "</match>\n";
}

int client(int port, long first, long count, int connections, const TempDir& dir, int pace_ms = 0) {
  return sh("HTTP_PACE_MS=" + std::to_string(pace_ms) + " /usr/bin/python3 " +
            std::string(LOGCTL_TESTS_DIR) + "/clients/http_client.py " + "127.0.0.1 " +
            std::to_string(port) + " " + std::to_string(first) + " " + std::to_string(count) + " " +
            std::to_string(connections) + " >> " + dir / "client.log" + " 2>&1");
}

// Raw bytes on one connection; what came back until the server closed
// ("<closed>" appended) or sent nothing for `quiet`.
std::string raw(int port, const std::string& bytes, std::chrono::milliseconds quiet = 2s) {
  TcpSender s(port);
  if (!s.connected() || !s.send(bytes)) return "<send failed>";
  std::string got;
  char buf[4096];
  pollfd p{s.fd(), POLLIN, 0};
  while (::poll(&p, 1, static_cast<int>(quiet.count())) == 1) {
    ssize_t n = ::read(s.fd(), buf, sizeof buf);
    if (n <= 0) {
      got += "<closed>";
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

std::string post(const std::string& path, const std::string& body,
                 const std::string& type = "application/json", const std::string& more = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + more + "\r\n" + body;
}

}  // namespace

TEST_CASE("http: numbered events from kept-alive clients all arrive across staged handovers") {
  TempDir dir;
  int port = free_port();
  Agent agent(http_config(port, dir), dir);
  REQUIRE(agent.ready());
  constexpr long kEvents = kSanitized ? 20000 : 60000;
  std::atomic<bool> ok{true}, done{false};
  std::thread sender([&] {
    // 300 batches a connection, 10 ms apart: still sending at every reload.
    ok = client(port, 0, kEvents, 4, dir, kSanitized ? 30 : 10) == 0;
    done = true;
  });
  int handovers = 0;
  for (; handovers < 3 && !done; ++handovers) {
    double before = agent.metric("agentd_input_records_total");
    REQUIRE(wait_until(
        [&] { return done || agent.metric("agentd_input_records_total") > before + 2000; }));
    if (done) break;
    CHECK_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  }
  sender.join();
  std::string log = read_file(dir / "client.log");
  INFO(log);
  CHECK(handovers == 3);
  CHECK(ok);  // every batch answered 200
  CHECK(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(0, kEvents - 1) == 0; },
      30s));
  // A 200 means buffered: a batch is only sent again when its answer was
  // lost, so duplicates are at most the resent batches (50 events each).
  long resent = 0;
  if (auto at = log.find("resent "); at != std::string::npos)
    resent = std::stol(log.substr(at + 7));
  CHECK(count_numbers(files_under(dir / "out")).duplicates() <= resent * 50);
  // The kept-alive connections went on in the new worker.
  CHECK(agent.metric("agentd_input_connections_adopted_total") >= 1);
  CHECK(resent == 0);  // no client saw an error: nothing was resent
}

TEST_CASE("http: bad requests are answered and counted, and other requests go on") {
  TempDir dir;
  int port = free_port();
  Agent agent(http_config(port, dir, "  body_size_limit 1k\n"), dir);
  REQUIRE(agent.ready());
  // Not HTTP at all: 400 naming the parse error, then the connection closes.
  std::string bad = raw(port, "HELLO THERE\r\n\r\n");
  CHECK_THAT(bad, Catch::StartsWith("HTTP/1.1 400 Bad Request\r\n") &&
                      Catch::Contains("invalid HTTP method") && Catch::EndsWith("<closed>"));
  // A body over body_size_limit, announced or chunked: 413, closed.
  CHECK_THAT(raw(port, post("/app/big", std::string(2000, 'x'))),
             Catch::StartsWith("HTTP/1.1 413 Request Entity Too Large\r\n") &&
                 Catch::EndsWith("Too large<closed>"));
  std::string chunked = "POST /app/big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 40; ++i) chunked += "40\r\n" + std::string(64, 'y') + "\r\n";
  CHECK_THAT(raw(port, chunked), Catch::StartsWith("HTTP/1.1 413 ") && Catch::EndsWith("<closed>"));
  // An Expect the server cannot meet: 417, closed; 100-continue is answered.
  CHECK_THAT(raw(port, post("/app/e", "{}", "application/json", "Expect: bogus\r\n")),
             Catch::StartsWith("HTTP/1.1 417 Expectation Failed\r\n"));
  CHECK_THAT(raw(port,
                 "POST /app/c?time=1709287200 HTTP/1.1\r\nHost: t\r\nContent-Type: "
                 "application/json\r\nContent-Length: 22\r\nExpect: 100-continue\r\n\r\n"),
             Catch::StartsWith("HTTP/1.1 100 Continue\r\n\r\n"));
  // Bad JSON, bad MessagePack, a time that is not a number: 400 with the
  // reason, the connection kept, nothing of the request emitted; the next
  // request on the same connection goes through.
  std::string two =
      raw(port, post("/app/x", "{\"seq\":") + post("/app/x", "\xc1", "application/msgpack") +
                    post("/app/x", R"({"message":"seq=1 bad","time":"noon"})") +
                    post("/app/x", R"({"message":"seq=2 good"})"));
  CHECK_THAT(two, Catch::StartsWith("HTTP/1.1 400 Bad Request\r\n") &&
                      Catch::Contains("not valid JSON") && Catch::Contains("MessagePack") &&
                      Catch::Contains("can't convert String into an exact number") &&
                      Catch::EndsWith("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: "
                                      "Keep-Alive\r\nContent-Length: 0\r\n\r\n"));
  CHECK(wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(2) == 1; }));
  CHECK(count_numbers(files_under(dir / "out")).seen.count(1) == 0);
  CHECK(agent.metric("agentd_input_framing_errors_total") >= 4);
  CHECK(agent.metric("agentd_input_parse_errors_total") == 3);
  CHECK(agent.metric("agentd_input_http_responses_total",
                     "plugin_id=\"input.http#1\",code=\"400\"") == 3);
  CHECK(agent.process().running());
  // A config Fluentd refuses, agentd refuses, naming where.
  write_file(dir / "cors.conf", http_config(port, dir, "  cors_allow_credentials true\n"));
  Process dry({agentd_bin(), "-c", dir / "cors.conf", "--dry-run"}, dir / "dry.log");
  CHECK(dry.wait() == 1);
  CHECK_THAT(dry.log(), Catch::Contains("cors.conf:1") && Catch::Contains("cors_allow_origins"));
}

TEST_CASE("http: curl, GET health checks, and idle connections closed after keepalive_timeout") {
  TempDir dir;
  int port = free_port();
  Agent agent(http_config(port, dir, "  keepalive_timeout 1s\n"), dir);
  REQUIRE(agent.ready());
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  CHECK(sh("curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d "
           "'{\"message\":\"seq=7 curl\"}' " +
           url + "/app/curl") == 0);
  CHECK(sh("curl -sf -o /dev/null -d 'json={\"message\":\"seq=8 form\"}' " + url + "/app/curl") ==
        0);
  CHECK(sh("curl -sf -o /dev/null " + url + "/healthz") == 0);  // GET: 200, nothing emitted
  CHECK(wait_until([&] {
    auto c = count_numbers(files_under(dir / "out"));
    return c.seen.count(7) == 1 && c.seen.count(8) == 1;
  }));
  // A client that connects and sends nothing is closed after the timeout.
  TcpSender idle(port);
  REQUIRE(idle.connected());
  auto start = std::chrono::steady_clock::now();
  std::string got = idle.receive_until_closed(10s);
  CHECK(got.empty());
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(agent.metric("agentd_input_idle_closed_total") >= 1);
}
