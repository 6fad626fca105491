// in_forward with real clients: python3-fluent-logger's FluentSender
// (Message mode, EventTime), npm's fluent-logger (requireAckResponse) and
// @fluent-org/logger (acks), with and without the shared-key handshake
// (tests/clients, installed by scripts/setup.sh), and
// tests/clients/forward_client.py sending
// Message, Forward, PackedForward and gzip CompressedPackedForward messages
// with a chunk option whose ack it awaits. Every numbered event is counted in
// the output files; malformed streams are refused without hurting others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "support/harness.h"

using namespace logctl::test;

namespace {

std::string forward_config(int port, const TempDir& dir, const std::string& extra = "") {
  return "<source>\n  @type forward\n  bind 127.0.0.1\n  port " + std::to_string(port) +
         "\n  source_address_key src\n" + extra + "</source>\n" + fluent_log_fence() +
         "<match **>\n  @type file\n  path " + dir.path() +
         "/out/${tag}\n  append true\n  <format>\n    @type json\n  </format>\n  <buffer tag>\n"
         "    @type file\n    path " +
         dir.path() +
         "/buffer\n    flush_mode interval\n    flush_interval 0.2s\n  </buffer>\n"
         "</match>\n";
}

int client(int port, const std::string& mode, long first, long count, const TempDir& dir,
           const std::string& env = "") {
  return sh(env + " /usr/bin/python3 " + std::string(LOGCTL_TESTS_DIR) +
            "/clients/forward_client.py 127.0.0.1 " + std::to_string(port) + " " + mode + " " +
            std::to_string(first) + " " + std::to_string(count) + " >> " + dir / "client.log" +
            " 2>&1");
}

enum class Then { kWait, kHalfClose };

// Raw bytes to the listener (then, with kHalfClose, the end of what we
// send); returns what came back before it closed or went quiet for `quiet`.
std::string raw(int port, const std::string& bytes, Then then = Then::kWait,
                std::chrono::milliseconds quiet = 500ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  [[maybe_unused]] auto w = ::write(fd, bytes.data(), bytes.size());
  if (then == Then::kHalfClose) ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, static_cast<int>(quiet.count())) == 1) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      got += "<closed>";
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

}  // namespace

TEST_CASE("forward: every mode and python3-fluent-logger deliver every numbered event") {
  TempDir dir;
  int port = free_port();
  Agent agent(forward_config(port, dir), dir);
  REQUIRE(agent.ready());
  const std::vector<std::string> modes = {"logger", "message", "forward", "packed", "gzip"};
  constexpr long kEach = 3000;
  std::vector<std::thread> senders;
  std::atomic<int> failed{0};
  for (std::size_t m = 0; m < modes.size(); ++m) {
    senders.emplace_back([&, m] {
      if (client(port, modes[m], static_cast<long>(m) * kEach, kEach, dir) != 0) ++failed;
    });
  }
  for (auto& t : senders) t.join();
  INFO(read_file(dir / "client.log"));
  CHECK(failed == 0);  // every chunk acked
  const long total = static_cast<long>(modes.size()) * kEach;
  CHECK(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(0, total - 1) == 0; }, 30s));
  auto count = count_numbers(files_under(dir / "out"));
  CHECK(count.missing_in(0, total - 1) == 0);
  CHECK(count.duplicates() == 0);
  CHECK(agent.metric("agentd_input_records_total") == total);
  CHECK(agent.metric("agentd_input_parse_errors_total") == 0);
  // Tags as sent (py.app from the logger, app from the others), the source
  // address added.
  auto files = files_under(dir / "out");
  REQUIRE_FALSE(files.empty());
  std::string out = read_file(files.front());
  CHECK_THAT(out, Catch::Contains("\"src\":\"127.0.0.1\""));
  bool py = false;
  for (const auto& f : files_under(dir / "out")) py = py || f.find("py.app") != std::string::npos;
  CHECK(py);
}

TEST_CASE("forward: malformed and truncated streams are refused and counted and others go on") {
  TempDir dir;
  int port = free_port();
  Agent agent(forward_config(port, dir), dir);
  REQUIRE(agent.ready());
  std::atomic<bool> ok{true};
  std::thread good([&] { ok = client(port, "forward", 0, 20000, dir) == 0; });
  // A byte no MessagePack value starts with: the connection is closed.
  CHECK_THAT(raw(port, "\xc1garbage"), Catch::Contains("<closed>"));
  // A record that is not a map is skipped; the next message on the same
  // connection is delivered and acked. [tag, time, "str", {chunk: c1}] then
  // [tag, time, {message: seq=20000}, {chunk: c2}].
  std::string bad_record =
      "\x94\xa3"
      "bad"
      "\x01\xa3str\x81\xa5"
      "chunk\xa2"
      "c1";
  std::string good_record =
      "\x94\xa3"
      "bad"
      "\x01\x81\xa7message\xa9seq=20000\x81\xa5"
      "chunk\xa2"
      "c2";
  std::string replies = raw(port, bad_record + good_record);
  CHECK_THAT(replies, Catch::Contains("c1") && Catch::Contains("c2"));
  CHECK_THAT(replies, !Catch::Contains("<closed>"));
  // A message cut off by the sender's close: nothing of it, counted.
  CHECK_THAT(raw(port,
                 "\x93\xa3"
                 "cut\x92\x92\x01\x81\xa1m\xa1x",
                 Then::kHalfClose),
             Catch::Contains("<closed>"));
  // Not an array at all: skipped and counted; the connection stays.
  CHECK_THAT(raw(port, std::string("\x81\xa1k\xa1v", 5)), !Catch::Contains("<closed>"));
  // A time no int64 nanosecond count holds (the largest double, then NaN):
  // skipped and counted (converting it was undefined behaviour).
  double before = agent.metric("agentd_input_parse_errors_total");
  std::string huge("\x93\xa4time\xcb\x7f\xef\xff\xff\xff\xff\xff\xff\x81\xa1m\xa1x", 20);
  std::string nan("\x93\xa4time\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x81\xa1m\xa1x", 20);
  CHECK_THAT(raw(port, huge + nan), !Catch::Contains("<closed>"));
  CHECK(wait_until([&] { return agent.metric("agentd_input_parse_errors_total") >= before + 2; }));
  good.join();
  INFO(read_file(dir / "client.log"));
  CHECK(ok);
  CHECK(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(0, 20000) == 0; }));
  CHECK(agent.metric("agentd_input_parse_errors_total") >= 2);
  CHECK(agent.metric("agentd_input_framing_errors_total") >= 1);
  CHECK(agent.ready());
}

TEST_CASE("forward: staged handovers under acked load lose nothing and reset no sender") {
  TempDir dir;
  int port = free_port();
  Agent agent(forward_config(port, dir), dir);
  REQUIRE(agent.ready());
  constexpr long kEvents = kSanitized ? 30000 : 100000;
  std::atomic<bool> ok{true}, done{false};
  std::thread sender([&] {
    ok = client(port, "forward", 0, kEvents, dir) == 0;
    done = true;
  });
  int handovers = 0;
  for (; handovers < 3 && !done; ++handovers) {
    CHECK_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  }
  sender.join();
  INFO(read_file(dir / "client.log"));
  CHECK(handovers >= 1);
  CHECK(ok);  // one connection throughout, every chunk acked
  CHECK(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(0, kEvents - 1) == 0; },
      30s));
  CHECK(count_numbers(files_under(dir / "out")).duplicates() == 0);
}

TEST_CASE("forward: acked senders lose nothing across graceful stops and restarts of agentd") {
  TempDir dir;
  int port = free_port();
  Agent agent(forward_config(port, dir), dir);
  REQUIRE(agent.ready());
  // 100-event batches every 10 ms (6 s; 12 s under the sanitizers): the
  // sender is still sending at both stops.
  constexpr long kEvents = kSanitized ? 120000 : 60000;  // a slower restart under ASan
  std::atomic<bool> ok{true}, done{false};
  std::thread sender([&] {
    ok = client(port, "resend", 0, kEvents, dir, "FORWARD_PACE_MS=10") == 0;
    done = true;
  });
  // Two stops (SIGTERM: the listeners close, connections drain, the file
  // buffer keeps the rest) and restarts, while the sender sends.
  int stops = 0;
  for (; stops < 2 && !done; ++stops) {
    double before = agent.metric("agentd_input_records_total");
    REQUIRE(wait_until(
        [&] { return done || agent.metric("agentd_input_records_total") > before + kEvents / 8; }));
    agent.process().signal(SIGTERM);
    CHECK(agent.process().wait(60s) == 0);
    agent.restart();
    REQUIRE(agent.ready());
  }
  sender.join();
  std::string log = read_file(dir / "client.log");
  INFO(log);
  CHECK(stops == 2);
  CHECK(ok);  // every batch acked in the end
  CHECK(wait_until(
      [&] { return count_numbers(files_under(dir / "out")).missing_in(0, kEvents - 1) == 0; },
      60s));
  // At least once: a batch buffered whose ack was lost comes again; never
  // more than the batches the client resent (100 events each).
  long resent = 0;
  if (auto at = log.find("resent "); at != std::string::npos)
    resent = std::stol(log.substr(at + 7));
  CHECK(count_numbers(files_under(dir / "out")).duplicates() <= resent * 100);
}

TEST_CASE("forward: the shared-key handshake admits who holds the key and only them") {
  TempDir dir;
  int port = free_port();
  Agent agent(forward_config(port, dir,
                             "  <security>\n    self_hostname collector.test\n"
                             "    shared_key s3cret-k3y\n  </security>\n"),
              dir);
  REQUIRE(agent.ready());
  // The right key: every event delivered and acked.
  CHECK(client(port, "forward", 0, 2000, dir, "FORWARD_SHARED_KEY=s3cret-k3y") == 0);
  // A wrong key: PONG refuses (exit 3), nothing of it is taken.
  CHECK(client(port, "forward", 5000, 100, dir, "FORWARD_SHARED_KEY=wrong") == 3);
  // No handshake at all: the first message is no PING; refused, nothing taken.
  CHECK(client(port, "forward", 6000, 100, dir) == 1);
  INFO(read_file(dir / "client.log"));
  CHECK(
      wait_until([&] { return count_numbers(files_under(dir / "out")).missing_in(0, 1999) == 0; }));
  auto count = count_numbers(files_under(dir / "out"));
  CHECK(count.missing_in(5000, 6099) == 1100);  // none of the refused clients' events
  CHECK(agent.metric("agentd_input_auth_failures_total") == 2);
  // The key is never written to the log.
  CHECK(agent.process().log().find("s3cret-k3y") == std::string::npos);
  // user_auth is refused when the config is checked, naming where.
  write_file(dir / "ua.conf", forward_config(port, dir,
                                             "  <security>\n    self_hostname a\n    shared_key b\n"
                                             "    user_auth true\n  </security>\n"));
  Process dry({agentd_bin(), "-c", dir / "ua.conf", "--dry-run"}, dir / "dry.log");
  CHECK(dry.wait() == 1);
  CHECK_THAT(dry.log(), Catch::Contains("ua.conf:9") && Catch::Contains("user_auth"));
}

TEST_CASE("forward: npm fluent-logger and @fluent-org/logger with acks and the shared key") {
  const std::string clients = std::string(LOGCTL_TESTS_DIR) + "/clients";
  INFO("the npm clients are installed by scripts/setup.sh under " << clients);
  REQUIRE(sh("test -d " + clients + "/node_modules/fluent-logger -a -d " + clients +
             "/node_modules/@fluent-org/logger") == 0);
  TempDir dir;
  int plain = free_port(), secure = free_port();
  Agent agent(forward_config(plain, dir) + "<source>\n  @type forward\n  bind 127.0.0.1\n  port " +
                  std::to_string(secure) +
                  "\n  <security>\n    self_hostname collector.test\n    shared_key n0de-k3y\n"
                  "  </security>\n</source>\n",
              dir);
  REQUIRE(agent.ready());
  auto node = [&](const std::string& lib, int port, long first, long count,
                  const std::string& key = "", int seconds = 60) {
    return sh("timeout " + std::to_string(seconds) + " node " + clients +
              "/fluent_logger_client.js " + lib + " 127.0.0.1 " + std::to_string(port) + " " +
              std::to_string(first) + " " + std::to_string(count) + " " + key + " >> " +
              dir / "client.log" + " 2>&1");
  };
  CHECK(node("fluent-logger", plain, 0, 2000) == 0);
  CHECK(node("fluent-org", plain, 2000, 2000) == 0);
  CHECK(node("fluent-logger", secure, 4000, 1000, "n0de-k3y") == 0);
  CHECK(node("fluent-org", secure, 5000, 1000, "n0de-k3y") == 0);
  // A wrong key never gets an event in (the client gives up or is stopped).
  CHECK(node("fluent-org", secure, 9000, 10, "wrong", 8) != 0);
  INFO(read_file(dir / "client.log"));
  CHECK(
      wait_until([&] { return count_numbers(files_under(dir / "out")).missing_in(0, 5999) == 0; }));
  auto count = count_numbers(files_under(dir / "out"));
  CHECK(count.missing_in(0, 5999) == 0);
  CHECK(count.missing_in(9000, 9009) == 10);
  CHECK(count.duplicates() == 0);
  CHECK(agent.metric("agentd_input_auth_failures_total") >= 1);
}

namespace {

// An agent reading numbered lines over TCP and sending them on with
// out_forward (file buffer, acks), `server` and `extra` inside the <match>.
std::string sender_config(int tcp_port, const TempDir& dir, const std::string& servers,
                          const std::string& extra = "") {
  return tcp_lines_source(tcp_port, "app") + fluent_log_fence() + "<match **>\n  @type forward\n" +
         extra + servers + "  <buffer tag>\n    @type file\n    path " + dir.path() +
         "/fwd-buffer\n    flush_mode interval\n    flush_interval 0.2s\n    retry_wait 0.2s\n"
         "    retry_max_interval 1s\n    retry_forever true\n  </buffer>\n</match>\n";
}

std::string server(int port, const std::string& extra = "") {
  return "  <server>\n    host 127.0.0.1\n    port " + std::to_string(port) + "\n" + extra +
         "  </server>\n";
}

// A throwaway self-signed certificate DIR/NAME.pem with its key DIR/NAME.key,
// for 127.0.0.1 (or without a SAN: a name nothing matches).
bool make_cert(const TempDir& dir, const std::string& name, bool for_loopback = true) {
  return sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir / (name + ".key") +
            " -out " + dir / (name + ".pem") + " -days 1 -subj /CN=" + name +
            (for_loopback ? " -addext subjectAltName=IP:127.0.0.1" : "") + " 2>/dev/null") == 0;
}

void send_lines(int port, long first, long count, const std::string& what = "fwd") {
  TcpSender c(port);
  REQUIRE(c.connected());
  std::string batch;
  for (long n = first; n < first + count; ++n) {
    batch += "seq=" + std::to_string(n) + " " + what + "\n";
    if (batch.size() > 64 * 1024) {
      REQUIRE(c.send(batch));
      batch.clear();
    }
  }
  REQUIRE(c.send(batch));
  REQUIRE(c.finish());
}

}  // namespace

TEST_CASE("out_forward: agentd to agentd with acks gzip and the shared key loses nothing") {
  TempDir dir;
  int fwd = free_port(), tcp = free_port();
  TempDir cdir;
  Agent collector(forward_config(fwd, cdir,
                                 "  <security>\n    self_hostname collector.test\n"
                                 "    shared_key t1er-k3y\n  </security>\n"),
                  cdir, "collector");
  REQUIRE(collector.ready());
  Agent sender(sender_config(tcp, dir, server(fwd),
                             "  require_ack_response true\n  compress gzip\n"
                             "  <security>\n    self_hostname agent.test\n"
                             "    shared_key t1er-k3y\n  </security>\n"),
               dir, "sender");
  REQUIRE(sender.ready());
  constexpr long kEvents = 20000;
  send_lines(tcp, 0, kEvents);
  CHECK(wait_until(
      [&] { return count_numbers(files_under(cdir / "out")).missing_in(0, kEvents - 1) == 0; },
      30s));
  auto count = count_numbers(files_under(cdir / "out"));
  CHECK(count.duplicates() == 0);
  CHECK(sender.metric("agentd_output_forward_acked_chunks_total") >= 1);
  CHECK(sender.metric("agentd_output_forward_unacked_records_total") == 0);
  CHECK(collector.metric("agentd_input_auth_failures_total") == 0);
  CHECK(sender.process().log().find("t1er-k3y") == std::string::npos);

  SECTION("a sender with the wrong key delivers nothing and keeps its events") {
    TempDir wdir;
    int wtcp = free_port();
    Agent wrong(sender_config(wtcp, wdir, server(fwd),
                              "  require_ack_response true\n  heartbeat_type none\n"
                              "  <security>\n    self_hostname intruder.test\n"
                              "    shared_key guess\n  </security>\n"),
                wdir, "wrong");
    REQUIRE(wrong.ready());
    send_lines(wtcp, 100000, 50, "intruder");
    CHECK(wait_until(
        [&] { return wrong.metric("agentd_output_forward_server_failures_total") >= 1; }));
    CHECK(wait_until([&] { return collector.metric("agentd_input_auth_failures_total") >= 1; }));
    CHECK(count_numbers(files_under(cdir / "out")).missing_in(100000, 100049) == 50);
    CHECK_THAT(wrong.process().log(), Catch::Contains("shared_key mismatch"));
    CHECK(wrong.process().log().find("guess") == std::string::npos);
  }
}

TEST_CASE("out_forward: @fluent-org/logger FluentServer receives over TLS with the key and acks") {
  const std::string clients = std::string(LOGCTL_TESTS_DIR) + "/clients";
  REQUIRE(sh("test -d " + clients + "/node_modules/@fluent-org/logger") == 0);
  TempDir dir;
  // A self-signed certificate for 127.0.0.1, the CA out_forward pins.
  REQUIRE(make_cert(dir, "collector"));
  int port = free_port(), tcp = free_port();
  Process receiver({"/usr/bin/node", clients + "/fluent_server.js", std::to_string(port),
                    dir / "got.txt", "fluent-k3y", dir / "collector.key", dir / "collector.pem"},
                   dir / "server.log");
  REQUIRE(wait_until(
      [&] { return read_file(dir / "server.log").find("listening") != std::string::npos; }));
  std::string tls = "  transport tls\n  tls_cert_path " + dir / "collector.pem" + "\n";
  Agent sender(sender_config(tcp, dir, server(port),
                             tls + "  require_ack_response true\n"
                                   "  <security>\n    self_hostname agent.test\n"
                                   "    shared_key fluent-k3y\n  </security>\n"),
               dir, "sender");
  REQUIRE(sender.ready());
  constexpr long kEvents = 5000;
  send_lines(tcp, 0, kEvents);
  CHECK(wait_until([&] { return count_numbers({dir / "got.txt"}).missing_in(0, kEvents - 1) == 0; },
                   30s));
  CHECK(count_numbers({dir / "got.txt"}).duplicates() == 0);
  CHECK(sender.metric("agentd_output_forward_acked_chunks_total") >= 1);

  SECTION("a server whose certificate the sender does not trust gets nothing") {
    TempDir odir;
    REQUIRE(make_cert(odir, "other", false));
    int otcp = free_port();
    Agent distrust(sender_config(otcp, odir, server(port),
                                 "  transport tls\n  tls_cert_path " + odir / "other.pem" +
                                     "\n  require_ack_response true\n  heartbeat_type none\n"
                                     "  <security>\n    self_hostname agent.test\n"
                                     "    shared_key fluent-k3y\n  </security>\n"),
                   odir, "distrust");
    REQUIRE(distrust.ready());
    send_lines(otcp, 200000, 20, "distrust");
    CHECK(wait_until(
        [&] { return distrust.metric("agentd_output_forward_server_failures_total") >= 1; }));
    CHECK_THAT(distrust.process().log(), Catch::Contains("certificate verification"));
    CHECK(count_numbers({dir / "got.txt"}).missing_in(200000, 200019) == 20);
  }
  receiver.signal(SIGTERM);
  CHECK(receiver.wait() == 0);
}

TEST_CASE("forward: <transport tls> takes npm and agentd senders and refuses plaintext") {
  const std::string clients = std::string(LOGCTL_TESTS_DIR) + "/clients";
  REQUIRE(sh("test -d " + clients + "/node_modules/@fluent-org/logger") == 0);
  TempDir cdir, dir;
  REQUIRE(make_cert(cdir, "collector"));
  int fwd = free_port(), tcp = free_port();
  Agent collector(forward_config(fwd, cdir,
                                 "  <transport tls>\n    cert_path " + cdir / "collector.pem" +
                                     "\n    private_key_path " + cdir / "collector.key" +
                                     "\n  </transport>\n  <security>\n"
                                     "    self_hostname collector.test\n    shared_key tls-k3y\n"
                                     "  </security>\n"),
                  cdir, "collector");
  REQUIRE(collector.ready());
  // npm @fluent-org/logger over TLS with the shared key and acks.
  CHECK(sh("FLUENT_TLS_CA=" + cdir / "collector.pem" + " timeout 60 node " + clients +
           "/fluent_logger_client.js fluent-org 127.0.0.1 " + std::to_string(fwd) +
           " 0 2000 tls-k3y >> " + cdir / "client.log" + " 2>&1") == 0);
  // agentd's out_forward over TLS, while the collector hands over twice.
  Agent sender(sender_config(tcp, dir, server(fwd),
                             "  transport tls\n  tls_cert_path " + cdir / "collector.pem" +
                                 "\n  require_ack_response true\n"
                                 "  <security>\n    self_hostname agent.test\n"
                                 "    shared_key tls-k3y\n  </security>\n"),
               dir, "sender");
  REQUIRE(sender.ready());
  std::thread load([&] {
    for (long i = 0; i < 10; ++i) send_lines(tcp, 100000 + i * 2000, 2000);
  });
  for (int i = 0; i < 2; ++i) {
    CHECK_THAT(collector.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  }
  load.join();
  // A plaintext sender gets nothing in.
  CHECK(client(fwd, "forward", 900000, 10, cdir) != 0);
  INFO(read_file(cdir / "client.log"));
  CHECK(wait_until(
      [&] {
        auto c = count_numbers(files_under(cdir / "out"));
        return c.missing_in(0, 1999) == 0 && c.missing_in(100000, 119999) == 0;
      },
      30s));
  auto count = count_numbers(files_under(cdir / "out"));
  CHECK(count.missing_in(900000, 900009) == 10);
  CHECK(static_cast<double>(count.duplicates()) <=
        sender.metric("agentd_output_forward_unacked_records_total"));
  CHECK(collector.metric("agentd_input_tls_failures_total") >= 1);
  CHECK(collector.metric("agentd_input_auth_failures_total") == 0);
}
