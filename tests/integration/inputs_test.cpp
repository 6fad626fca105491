// The real agentd binary, real sockets on loopback: numbered events go in
// through each input and every one is counted in the output files.
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "logctl/schema/release_manifest.h"
#include "support/harness.h"

using namespace logctl::test;

namespace {

// A config with one source and a file output flushing every 200 ms.
std::string config(const std::string& source, const TempDir& dir,
                   const std::string& buffer_extra = "") {
  return source + fluent_log_fence() + R"(
<match **>
  @type file
  @id out
  path )" +
         dir.path() + R"(/out/${tag}
  append true
  <format>
    @type json
  </format>
  <buffer tag>
    @type file
    path )" +
         dir.path() + R"(/buffer
    flush_mode interval
    flush_interval 0.2s
)" + buffer_extra +
         R"(
  </buffer>
</match>
)";
}

std::string line(long n) {
  return "seq=" + std::to_string(n) + " " + std::string(180, 'x') + "\n";
}

bool all_arrived(const TempDir& dir, long first, long last) {
  return count_numbers(files_under(dir / "out")).missing_in(first, last) == 0;
}

}  // namespace

TEST_CASE("agentd --dry-run validates and names file:line") {
  TempDir dir;
  write_file(dir / "bad.conf",
             "<source>\n  @type tcp\n  tag x\n  bogus 1\n  <parse>\n    @type none\n  "
             "</parse>\n</source>\n<match **>\n  @type null\n</match>\n");
  // An unknown parameter: a warning, as in Fluentd (the config runs); an
  // error with --strict.
  Process p({agentd_bin(), "-c", dir / "bad.conf", "--dry-run"}, dir / "dry.log");
  CHECK(p.wait() == 0);
  CHECK_THAT(p.log(), Catch::Contains("warning: ") &&
                          Catch::Contains("bad.conf:4: unknown parameter 'bogus'"));
  Process strict({agentd_bin(), "-c", dir / "bad.conf", "--dry-run", "--strict"},
                 dir / "strict.log");
  CHECK(strict.wait() == 1);
  CHECK_THAT(strict.log(), Catch::Contains("bad.conf:4: unknown parameter 'bogus'") &&
                               Catch::Contains("not valid with --strict"));
  write_file(
      dir / "good.conf",
      config("<source>\n @type tcp\n tag x\n <parse>\n @type none\n </parse>\n</source>\n", dir));
  Process ok({agentd_bin(), "-c", dir / "good.conf", "--dry-run"}, dir / "dry2.log");
  CHECK(ok.wait() == 0);
}

TEST_CASE("tcp: numbered events from several connections all arrive") {
  TempDir dir;
  int port = free_port();
  Agent agent(config("<source>\n @type tcp\n tag app.tcp\n bind 127.0.0.1\n port " +
                         std::to_string(port) + "\n <parse>\n @type none\n </parse>\n</source>\n",
                     dir),
              dir);
  REQUIRE(agent.ready());
  constexpr int kConns = 4, kPerConn = 5000;
  std::vector<std::thread> senders;
  std::atomic<int> failures{0};
  for (int c = 0; c < kConns; ++c) {
    senders.emplace_back([&, c] {
      TcpSender s(port);
      std::string batch;
      for (int i = 0; i < kPerConn; ++i) {
        batch += line(c * kPerConn + i);
        if (batch.size() > 32768) {
          if (!s.send(batch)) ++failures;
          batch.clear();
        }
      }
      if (!s.send(batch)) ++failures;
    });
  }
  for (auto& t : senders) t.join();
  CHECK(failures == 0);
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, kConns * kPerConn - 1); }, 30s));
  auto count = count_numbers(files_under(dir / "out"));
  CHECK(count.duplicates() == 0);
  CHECK(agent.metric("agentd_input_records_total") == kConns * kPerConn);
}

TEST_CASE("tcp: octet-counted frames and JSON parsing") {
  TempDir dir;
  int port = free_port();
  Agent agent(
      config("<source>\n @type tcp\n tag j\n bind 127.0.0.1\n port " + std::to_string(port) +
                 "\n frame_type octet_count\n source_address_key addr\n emit_unmatched_lines "
                 "true\n <parse>\n @type json\n </parse>\n</source>\n",
             dir),
      dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  std::string payload;
  for (int i = 0; i < 100; ++i) {
    std::string msg = "{\"seq\":\"seq=" + std::to_string(i) + "\",\"multi\":\"a\\nb\"}";
    payload += std::to_string(msg.size()) + " " + msg;
  }
  payload += "5 {bad}";
  REQUIRE(s.send(payload));
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 99); }));
  REQUIRE(wait_until(
      [&] { return read_file(dir / "out/j.log").find("unmatched_line") != std::string::npos; }));
  auto out = read_file(dir / "out/j.log");
  CHECK_THAT(out, Catch::Contains("\"addr\":\"127.0.0.1\""));
  CHECK_THAT(out, Catch::Contains("\"multi\":\"a\\nb\""));
  // emit_unmatched_lines: Fluentd's record, the raw text (+ source keys).
  CHECK_THAT(out, Catch::Contains(R"({"unmatched_line":"{bad}","addr":"127.0.0.1"})"));
  CHECK(agent.metric("agentd_input_parse_errors_total") == 1);
}

TEST_CASE("udp: numbered datagrams arrive, kernel drops are counted") {
  TempDir dir;
  int port = free_port();
  Agent agent(
      config("<source>\n @type udp\n tag u\n bind 127.0.0.1\n port " + std::to_string(port) +
                 "\n receive_buffer_size 4m\n <parse>\n @type none\n </parse>\n</source>\n",
             dir),
      dir);
  REQUIRE(agent.ready());
  constexpr int kN = 3000;
  for (int i = 0; i < kN; ++i) REQUIRE(send_udp(port, line(i)));
  // A datagram may only be missing if the kernel says it dropped it.
  REQUIRE(wait_until([&] {
    auto c = count_numbers(files_under(dir / "out"));
    return c.distinct() + agent.metric("agentd_input_udp_kernel_drops_total") >= kN;
  }));
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.missing_in(0, kN - 1) == agent.metric("agentd_input_udp_kernel_drops_total"));
  CHECK(c.duplicates() == 0);
}

TEST_CASE("syslog: logger(1) over UDP and TCP, RFC 5424 and RFC 3164") {
  TempDir dir;
  int udp = free_port(), tcp = free_port();
  std::string sources =
      "<source>\n @type syslog\n tag sys\n bind 127.0.0.1\n port " + std::to_string(udp) +
      "\n severity_key severity\n emit_unmatched_lines true\n <parse>\n message_format "
      "auto\n </parse>\n</source>\n"
      "<source>\n @type syslog\n tag sys\n bind 127.0.0.1\n port " +
      std::to_string(tcp) +
      "\n frame_type octet_count\n <transport tcp>\n </transport>\n <parse>\n message_format "
      "auto\n </parse>\n</source>\n";
  Agent agent(config(sources, dir), dir);
  REQUIRE(agent.ready());
  constexpr int kN = 40;
  for (int i = 0; i < kN; ++i) {
    std::string msg = "seq=" + std::to_string(i);
    std::string args = i % 2 ? "--rfc5424" : "--rfc3164";
    REQUIRE(sh("logger -n 127.0.0.1 -P " + std::to_string(udp) + " -d " + args +
               " -p local3.warning -t app '" + msg + "'") == 0);
  }
  for (int i = kN; i < 2 * kN; ++i) {
    REQUIRE(sh("logger -n 127.0.0.1 -P " + std::to_string(tcp) +
               " -T --octet-count --rfc5424 -p user.err -t app 'seq=" + std::to_string(i) + "'") ==
            0);
  }
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 2 * kN - 1); }));
  auto udp_out = read_file(dir / "out/sys.local3.warn.log");
  CHECK_THAT(udp_out, Catch::Contains("\"ident\":\"app\""));
  CHECK_THAT(udp_out, Catch::Contains("\"severity\":\"warn\""));
  CHECK_THAT(udp_out, Catch::Contains("\"msgid\""));  // the RFC 5424 ones
  CHECK_THAT(read_file(dir / "out/sys.user.err.log"), Catch::Contains("\"extradata\""));
  // Malformed syslog with emit_unmatched_lines: the raw text under
  // <tag>.unmatched, counted.
  REQUIRE(send_udp(udp, "this is not syslog seq=9999"));
  REQUIRE(wait_until([&] {
    return read_file(dir / "out/sys.unmatched.log").find("seq=9999") != std::string::npos;
  }));
  CHECK_THAT(read_file(dir / "out/sys.unmatched.log"),
             Catch::Contains(R"({"unmatched_line":"this is not syslog seq=9999"})"));
  CHECK(agent.metric("agentd_input_parse_errors_total") == 1);
}

TEST_CASE("tcp and syslog: <transport tls> takes TLS clients and refuses plaintext") {
  TempDir dir;
  // A throwaway self-signed certificate for 127.0.0.1; the client pins it.
  REQUIRE(sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir / "in.key" + " -out " +
             dir / "in.pem" + " -days 1 -subj /CN=in -addext subjectAltName=IP:127.0.0.1 " +
             "2>/dev/null") == 0);
  int tcp = free_port(), syslog = free_port();
  std::string tls = " <transport tls>\n  cert_path " + dir / "in.pem" + "\n  private_key_path " +
                    dir / "in.key" + "\n </transport>\n";
  std::string sources = tcp_lines_source(tcp, "t", tls) +
                        "<source>\n @type syslog\n tag sys\n bind 127.0.0.1\n port " +
                        std::to_string(syslog) + "\n" + tls + "</source>\n";
  Agent agent(config(sources, dir), dir);
  REQUIRE(agent.ready());
  // Python's ssl module: a real TLS client that checks the certificate.
  auto send_tls = [&](int port, const std::string& file) {
    return sh(
        "python3 -c \"import socket,ssl,sys; c=ssl.create_default_context(cafile=sys.argv[1]);"
        " s=c.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[2]))),"
        " server_hostname='127.0.0.1'); s.sendall(open(sys.argv[3],'rb').read()); s.close()\" " +
        dir / "in.pem" + " " + std::to_string(port) + " " + file);
  };
  std::string lines, syslog_lines;
  for (int i = 0; i < 100; ++i) lines += "seq=" + std::to_string(i) + " over tls\n";
  for (int i = 100; i < 150; ++i) {
    syslog_lines += "<13>Mar  1 10:00:00 web1 app: seq=" + std::to_string(i) + "\n";
  }
  write_file(dir / "lines", lines);
  write_file(dir / "syslog", syslog_lines);
  REQUIRE(send_tls(tcp, dir / "lines") == 0);
  REQUIRE(send_tls(syslog, dir / "syslog") == 0);
  // Plaintext gets nothing in: the handshake fails, counted.
  TcpSender plain(tcp);
  plain.send("seq=900 plaintext\n");
  plain.close();
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 149); }));
  CHECK(wait_until([&] { return agent.metric("agentd_input_tls_failures_total") >= 1; }));
  CHECK(count_numbers(files_under(dir / "out")).missing_in(900, 900) == 1);
  CHECK_THAT(read_file(dir / "out/sys.user.notice.log"), Catch::Contains("\"ident\":\"app\""));
}

TEST_CASE("tail: lines across rename and copytruncate rotations all arrive") {
  TempDir dir;
  std::string log = dir / "app.log";
  write_file(log, "");
  Agent agent(
      config("<source>\n @type tail\n tag tail.*\n path " + log + "\n pos_file " + (dir / "pos") +
                 "\n path_key file\n rotate_wait 2s\n <parse>\n @type none\n </parse>\n</source>\n",
             dir),
      dir);
  REQUIRE(agent.ready());
  auto append = [&](int from, int to) {
    std::ofstream out(log, std::ios::app);
    for (int i = from; i < to; ++i) out << line(i);
  };
  append(0, 1000);
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 999); }));
  // Rename rotation while writes continue into the old file, then the new one.
  REQUIRE(std::rename(log.c_str(), (log + ".1").c_str()) == 0);
  {
    std::ofstream out(log + ".1", std::ios::app);
    for (int i = 1000; i < 1500; ++i) out << line(i);
  }
  append(1500, 2500);
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 2499); }));
  // copytruncate: copy away, truncate in place, keep writing.
  REQUIRE(sh("cp " + log + " " + log + ".2 && truncate -s 0 " + log) == 0);
  append(2500, 3000);
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 2999); }));
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.duplicates() == 0);
  CHECK(agent.metric("agentd_tail_rotations_total") >= 2);
  CHECK_THAT(read_file(files_under(dir / "out").at(0)),
             Catch::Contains("\"file\":\"" + log + "\""));
}

TEST_CASE("tail: globs over several files, read_from_head, restart resumes from pos_file") {
  TempDir dir;
  auto write_lines = [&](const std::string& file, long from, long to) {
    std::ofstream out(file, std::ios::app);
    for (long i = from; i < to; ++i) out << line(i);
  };
  std::filesystem::create_directories(dir / "logs");
  write_lines(dir / "logs/a.log", 0, 500);  // present before start: read_from_head
  write_lines(dir / "logs/b.log", 500, 1000);
  write_lines(dir / "logs/skip.txt", 5000, 5100);  // not matched by the glob
  std::string cfg =
      config("<source>\n @type tail\n tag tail.*\n path " + (dir / "logs/*.log") + "\n pos_file " +
                 (dir / "pos") +
                 "\n read_from_head true\n refresh_interval 0.2s\n <parse>\n @type none\n"
                 " </parse>\n</source>\n",
             dir);
  Agent agent(cfg, dir);
  REQUIRE(agent.ready());
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 999); }));
  // A file that appears later is found by the refresh and read from its head.
  write_lines(dir / "logs/c.log", 1000, 1200);
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 1199); }));
  // Graceful restart; lines written while agentd is down are picked up from
  // the saved positions, and nothing is read twice.
  agent.process().signal(SIGTERM);
  REQUIRE(agent.process().wait() == 0);
  write_lines(dir / "logs/a.log", 1200, 1300);
  write_lines(dir / "logs/c.log", 1300, 1400);
  agent.restart();
  REQUIRE(agent.ready());
  REQUIRE(wait_until([&] { return all_arrived(dir, 0, 1399); }));
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.duplicates() == 0);
  CHECK(c.seen.count(5000) == 0);
  CHECK_THAT(read_file(dir / "pos"), Catch::Contains(dir / "logs/c.log"));
}

TEST_CASE("SIGTERM flushes a memory buffer (flush_at_shutdown) before exiting") {
  TempDir dir;
  int port = free_port();
  std::string cfg = "<source>\n @type tcp\n tag m\n bind 127.0.0.1\n port " + std::to_string(port) +
                    "\n <parse>\n @type none\n </parse>\n</source>\n" + fluent_log_fence() +
                    "<match **>\n @type file\n path " + (dir / "out/events") +
                    "\n append true\n <buffer>\n @type memory\n flush_mode interval\n"
                    " flush_interval 1h\n </buffer>\n</match>\n";
  Agent agent(cfg, dir);
  REQUIRE(agent.ready());
  {
    TcpSender s(port);
    std::string data;
    for (long i = 0; i < 20000; ++i) data += line(i);
    REQUIRE(s.send(data));
  }
  REQUIRE(wait_until([&] { return agent.metric("agentd_input_records_total") == 20000; }));
  CHECK(files_under(dir / "out").empty());  // nothing flushed yet (1h interval)
  agent.process().signal(SIGTERM);
  REQUIRE(agent.process().wait() == 0);
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.missing_in(0, 19999) == 0);
  CHECK(c.duplicates() == 0);
}

namespace {
std::string pos_line(const std::string& path, std::uint64_t a, std::uint64_t b) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\t%016llx\t%016llx\n", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return path + buf;
}
}  // namespace

TEST_CASE("tail: a Fluentd pos file (path, offset, inode) resumes exactly where Fluentd stopped") {
  TempDir dir;
  std::string log = dir / "app.log";
  std::string head, tail;
  for (int i = 0; i < 100; ++i) head += line(i);
  for (int i = 100; i < 200; ++i) tail += line(i);
  write_file(log, head + tail);
  struct stat st {};
  REQUIRE(::stat(log.c_str(), &st) == 0);
  const std::uint64_t inode = st.st_ino;
  // Fluentd's order, and an entry it no longer watches (offset all ones).
  SECTION("Fluentd's column order") {
    write_file(dir / "pos", pos_line(log, head.size(), inode) +
                                pos_line(dir / "gone.log", ~std::uint64_t{0}, 1234));
  }
  SECTION("agentd's old column order, read once") {
    write_file(dir / "pos", pos_line(log, inode, head.size()));
  }
  Agent agent(config("<source>\n @type tail\n tag tail.*\n path " + log + "\n pos_file " +
                         (dir / "pos") + "\n <parse>\n @type none\n </parse>\n</source>\n",
                     dir),
              dir);
  REQUIRE(agent.ready());
  REQUIRE(wait_until([&] { return all_arrived(dir, 100, 199); }));
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.distinct() == 100);  // nothing before Fluentd's offset re-read
  CHECK(c.duplicates() == 0);
  // Written back in Fluentd's order: offset first, then inode.
  REQUIRE(wait_until([&] {
    return read_file(dir / "pos").find(pos_line(log, head.size() + tail.size(), inode)) !=
           std::string::npos;
  }));
}

TEST_CASE("agentd manifest prints a manifest the controller can read") {
  TempDir dir;
  REQUIRE(sh(agentd_bin() + " manifest > " + (dir / "m.json")) == 0);
  REQUIRE(sh(agentd_build("agentd-next") + " manifest > " + (dir / "next.json")) == 0);
  auto m = logctl::release::manifest_from_json(nlohmann::json::parse(read_file(dir / "m.json")));
  REQUIRE(m);
  CHECK(m->version == LOGCTL_VERSION);
  auto next =
      logctl::release::manifest_from_json(nlohmann::json::parse(read_file(dir / "next.json")));
  REQUIRE(next);
  CHECK(next->version == std::string(LOGCTL_NEXT_PATCH) + "-next");
  CHECK(next->handover_protocol.overlaps(m->handover_protocol));
}

TEST_CASE("tail: strftime fields in path, limit_recently_modified, follow_inodes needs pos_file") {
  TempDir dir;
  std::filesystem::create_directories(dir / "logs");
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char today[32];
  std::strftime(today, sizeof today, "%Y%m%d", &tm);
  auto write_lines = [&](const std::string& file, long from, long to) {
    std::ofstream out(file, std::ios::app);
    for (long i = from; i < to; ++i) out << line(i);
  };
  write_lines(dir / ("logs/app-" + std::string(today) + ".log"), 0, 300);
  write_lines(dir / "logs/app-19990101.log", 5000, 5100);  // another day: not the path
  write_lines(dir / "logs/old-1.log", 6000, 6100);
  write_lines(dir / "logs/new-1.log", 300, 400);
  // old-1.log was last written two hours ago: limit_recently_modified skips it.
  REQUIRE(sh("touch -d '2 hours ago' " + dir / "logs/old-1.log") == 0);
  Agent agent(config("<source>\n @type tail\n tag tail.*\n path " + dir / "logs/app-%Y%m%d.log," +
                         dir / "logs/*-1.log" + "\n path_timezone UTC\n pos_file " + dir / "pos" +
                         "\n read_from_head true\n limit_recently_modified 1h\n"
                         " <parse>\n @type none\n </parse>\n</source>\n",
                     dir),
              dir);
  REQUIRE(agent.ready());
  CHECK(wait_until([&] { return all_arrived(dir, 0, 399); }));
  auto count = count_numbers(files_under(dir / "out"));
  CHECK(count.missing_in(5000, 5099) == 100);
  CHECK(count.missing_in(6000, 6099) == 100);

  write_file(dir / "fi.conf",
             config("<source>\n @type tail\n tag t\n path /x\n follow_inodes true\n"
                    " <parse>\n @type none\n </parse>\n</source>\n",
                    dir));
  Process dry({agentd_bin(), "-c", dir / "fi.conf", "--dry-run"}, dir / "dry.log");
  CHECK(dry.wait() == 1);
  CHECK_THAT(dry.log(),
             Catch::Contains("fi.conf:1") && Catch::Contains("follow_inodes needs pos_file"));
}

TEST_CASE("tail: containerd partial lines are joined per stream before the cri parser") {
  TempDir dir;
  std::string log = dir / "c.log";
  write_file(log,
             "2026-11-25T10:00:00.000000001Z stdout P seq=1 part-a|\n"
             "2026-11-25T10:00:00.000000002Z stderr F seq=2 whole\n"
             "2026-11-25T10:00:00.000000003Z stdout P |part-b|\n");
  Agent agent(
      config("<source>\n @type tail\n tag k8s\n path " + log + "\n pos_file " + dir / "pos" +
                 "\n read_from_head true\n <parse>\n @type cri\n </parse>\n"
                 "</source>\n",
             dir),
      dir);
  REQUIRE(agent.ready());
  auto out = [&] {
    std::string all;
    for (const auto& f : files_under(dir / "out")) all += read_file(f);
    return all;
  };
  REQUIRE(wait_until([&] { return out().find("seq=2 whole") != std::string::npos; }));
  CHECK(out().find("seq=1") == std::string::npos);  // its run is still open
  {
    std::ofstream more(log, std::ios::app);
    more << "2026-11-25T10:00:00.000000004Z stdout F |part-c\n";
  }
  REQUIRE(wait_until([&] { return out().find("seq=1") != std::string::npos; }));
  std::string all = out();
  CHECK_THAT(
      all,
      Catch::Contains(
          R"("stream":"stdout","logtag":"F","message":"seq=1 part-a||part-b||part-c","time":"2026-11-25T10:00:00.000000001Z")"));
  // The stderr line read while stdout's run was open is written once.
  CHECK(count_numbers(files_under(dir / "out")).duplicates() == 0);
  CHECK(count_numbers(files_under(dir / "out")).missing_in(1, 2) == 0);
}

TEST_CASE("unparsable messages: dropped and counted by default or sent to the @ERROR label") {
  TempDir dir;
  int plain = free_port(), errs = free_port();
  auto source = [](int port, const std::string& tag) {
    return "<source>\n @type tcp\n @id " + tag + "\n tag " + tag + "\n bind 127.0.0.1\n port " +
           std::to_string(port) + "\n <parse>\n @type json\n </parse>\n</source>\n";
  };
  // Two agents: one without an @ERROR label (Fluentd drops, with a warning),
  // one with it (the raw text and the reason go there).
  Agent a(config(source(plain, "p"), dir), dir);
  TempDir dir2;
  Agent b(config(source(errs, "e"), dir2) + "<label @ERROR>\n <match **>\n  @type file\n  path " +
              dir2.path() +
              "/err/${tag}\n  append true\n  <format>\n   @type json\n  </format>\n"
              "  <buffer tag>\n   flush_mode immediate\n  </buffer>\n </match>\n</label>\n",
          dir2);
  REQUIRE(a.ready());
  REQUIRE(b.ready());
  for (int port : {plain, errs}) {
    TcpSender s(port);
    REQUIRE(s.send("{\"n\":\"seq=1\"}\nnot json seq=2\n{\"n\":\"seq=3\"}\n"));
  }
  REQUIRE(wait_until([&] { return all_arrived(dir, 1, 1) && all_arrived(dir, 3, 3); }));
  REQUIRE(wait_until([&] { return a.metric("agentd_input_unmatched_dropped_total") == 1; }));
  CHECK(a.metric("agentd_input_parse_errors_total") == 1);
  CHECK(count_numbers(files_under(dir / "out")).distinct() == 2);
  CHECK_THAT(a.process().log(),
             Catch::Contains("input p: not a JSON object (dropped): 'not json seq=2'"));

  REQUIRE(wait_until([&] { return all_arrived(dir2, 1, 1) && all_arrived(dir2, 3, 3); }));
  // The whole expected content, not the file's existence (written after).
  const std::string expected =
      R"({"unmatched_line":"not json seq=2","parse_error":"not a JSON object"})"
      "\n";
  wait_until([&] { return read_file(dir2 / "err/e.log") == expected; });
  CHECK(read_file(dir2 / "err/e.log") == expected);
  CHECK(b.metric("agentd_input_unmatched_dropped_total") == 0);
  CHECK(b.metric("agentd_input_parse_errors_total") == 1);
}

TEST_CASE("tail: multiline events with format_firstline and multiline_flush_interval") {
  TempDir dir;
  std::string log = dir / "java.log", log2 = dir / "nolimit.log";
  write_file(log,
             "  at orphan.Line(before any first line)\n"
             "2026-12-03 10:00:00 ERROR seq=1 boom\n"
             "  at a.B.c(B.java:10)\n"
             "  at d.E.f(E.java:20)\n"
             "2026-12-03 10:00:01 INFO seq=2 fine\n");
  write_file(log2, "2026-12-03 10:00:02 WARN seq=3 one\n  more\n");
  std::string parse =
      " <parse>\n  @type multiline\n  format_firstline /^\\d{4}-\\d{2}-\\d{2}/\n"
      "  format1 /^(?<time>\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}) (?<level>\\w+) /\n"
      "  format2 /(?<message>.*)/\n  time_format %Y-%m-%d %H:%M:%S\n  utc true\n </parse>\n";
  Agent agent(
      config("<source>\n @type tail\n @id ml\n tag java\n path " + log + "\n pos_file " +
                 dir / "pos" + "\n read_from_head true\n multiline_flush_interval 1s\n" + parse +
                 "</source>\n<source>\n @type tail\n @id ml2\n tag plain\n path " + log2 +
                 "\n pos_file " + dir / "pos2" + "\n read_from_head true\n" + parse + "</source>\n",
             dir),
      dir);
  REQUIRE(agent.ready());
  // seq=1 ends at the next first line; seq=2 when nothing came for 1 s.
  REQUIRE(wait_until([&] { return all_arrived(dir, 1, 2); }));
  CHECK(
      read_file(dir / "out/java.log") ==
      R"j({"level":"ERROR","message":"seq=1 boom\n  at a.B.c(B.java:10)\n  at d.E.f(E.java:20)"})j"
      "\n"
      R"({"level":"INFO","message":"seq=2 fine"})"
      "\n");
  // The line before any first line: unmatched, counted (and dropped).
  CHECK(agent.metric("agentd_input_unmatched_dropped_total", "plugin_id=\"ml\"") == 1);
  // Without multiline_flush_interval the last event waits for the next first line.
  CHECK(!std::filesystem::exists(dir / "out/plain.log"));
  {
    std::ofstream more(log2, std::ios::app);
    more << "2026-12-03 10:00:03 INFO seq=4 next\n";
  }
  REQUIRE(wait_until([&] { return all_arrived(dir, 3, 3); }));
  CHECK(read_file(dir / "out/plain.log") == R"({"level":"WARN","message":"seq=3 one\n  more"})"
                                            "\n");
  // seq=4's event is open: its position is where it starts, so a restart
  // reads it again and loses nothing.
  agent.process().signal(SIGTERM);
  REQUIRE(agent.process().wait() == 0);
  auto pos = read_file(dir / "pos2");
  char want[32];
  std::snprintf(want, sizeof want, "\t%016zx\t",
                std::string("2026-12-03 10:00:02 WARN seq=3 one\n  more\n").size());
  CHECK_THAT(pos, Catch::Contains(want));
}
