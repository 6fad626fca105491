// Output features end to end: gzip and path placeholders, <secondary> when
// retries give up, stdout, and the retry counters.
#include <stdlib.h>

#include <httplib.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/harness.h"

using namespace logctl::test;

namespace {
std::string tcp_source(int port) {
  return "<source>\n @type tcp\n tag app.web\n bind 127.0.0.1\n port " + std::to_string(port) +
         "\n <parse>\n @type none\n </parse>\n</source>\n";
}
std::string lines(long from, long to) {
  std::string s;
  for (long i = from; i < to; ++i) s += "seq=" + std::to_string(i) + " hello\n";
  return s;
}
}  // namespace

TEST_CASE("file output: gzip, ${tag[N]} and time placeholders, one file per chunk") {
  TempDir dir;
  int port = free_port();
  Agent agent(tcp_source(port) + "<match app.**>\n @type file\n path " + (dir / "out") +
                  "/${tag[1]}/%Y/events.${tag}\n compress gzip\n <buffer tag,time>\n"
                  "  @type memory\n  timekey 1h\n  timekey_wait 0s\n  flush_mode interval\n"
                  "  flush_interval 0.2s\n  chunk_limit_records 300\n </buffer>\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 1000)));
  auto all_in = [&] {
    long n = 0;
    for (const auto& f : files_under(dir / "out")) {
      n += sh("gzip -t " + f + " 2>/dev/null") == 0 ? 1 : 0;
    }
    std::string cmd = "cat $(find " + (dir / "out") + " -name '*.gz') 2>/dev/null | gzip -dc > " +
                      (dir / "plain.txt");
    return n >= 4 && sh(cmd) == 0 && count_numbers({dir / "plain.txt"}).missing_in(0, 999) == 0;
  };
  REQUIRE(wait_until(all_in));
  auto files = files_under(dir / "out");
  REQUIRE(files.size() >= 4);  // 1000 events, 300 per chunk, one file per chunk
  for (const auto& f : files) {
    CHECK_THAT(f, Catch::Matches(".*/out/web/20[0-9]{2}/events\\.app\\.web_[0-9]+\\.log\\.gz"));
  }
  CHECK(count_numbers({dir / "plain.txt"}).duplicates() == 0);
}

TEST_CASE("<secondary> receives chunks once retries pass retry_secondary_threshold") {
  TempDir dir;
  int port = free_port();
  write_file(dir / "broken", "a file where the output wants a directory");
  Agent agent(
      tcp_source(port) + fluent_log_fence() + "<match **>\n @type file\n path " + (dir / "broken") +
          "/events\n <buffer>\n  @type memory\n  flush_mode interval\n  flush_interval 0.1s\n"
          "  retry_wait 0.1s\n  retry_timeout 2s\n  retry_randomize false\n </buffer>\n"
          " <secondary>\n  @type secondary_file\n  directory " +
          (dir / "dead") + "\n </secondary>\n</match>\n",
      dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 200)));
  REQUIRE(
      wait_until([&] { return count_numbers(files_under(dir / "dead")).missing_in(0, 199) == 0; }));
  CHECK(agent.metric("agentd_output_secondary_records_total") == 200);
  CHECK(agent.metric("agentd_output_retries_total") >= 1);
  CHECK(agent.metric("agentd_output_write_errors_total") >= 1);
  CHECK(agent.metric("agentd_output_dropped_records_total") == 0);
}

TEST_CASE("retry limit without <secondary>: the chunk is dropped, logged and counted") {
  TempDir dir;
  int port = free_port();
  write_file(dir / "broken", "x");
  Agent agent(tcp_source(port) + fluent_log_fence() + "<match **>\n @type file\n path " +
                  (dir / "broken") +
                  "/events\n <buffer>\n  @type memory\n  flush_mode immediate\n"
                  "  retry_wait 0.05s\n  retry_max_times 2\n </buffer>\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 10)));
  REQUIRE(wait_until([&] { return agent.metric("agentd_output_dropped_records_total") == 10; }));
  CHECK_THAT(agent.process().log(), Catch::Contains("retry limit reached for chunk"));
}

TEST_CASE("stdout output prints time, tag and JSON") {
  TempDir dir;
  int port = free_port();
  Agent agent(tcp_source(port) + fluent_log_fence() + "<match **>\n @type stdout\n</match>\n", dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send("seq=1 \"quoted\"\n"));
  REQUIRE(wait_until([&] {
    return agent.process().log().find("app.web: {\"message\":\"seq=1 \\\"quoted\\\"\"}") !=
           std::string::npos;
  }));
}

TEST_CASE("file output: the default format is Fluentd's time<TAB>tag<TAB>json, tag not a key") {
  TempDir dir;
  int port = free_port();
  // TZ=UTC (inherited): Fluentd's iso8601 in local time then ends in +00:00.
  ::setenv("TZ", "UTC", 1);
  Agent agent(tcp_source(port) + fluent_log_fence() + "<match **>\n @type file\n path " +
                  (dir / "out/events") + "\n append true\n <buffer>\n  @type file\n  path " +
                  (dir / "buf") +
                  "\n  flush_mode interval\n  flush_interval 0.1s\n </buffer>\n</match>\n",
              dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 3)));
  REQUIRE(wait_until([&] {
    auto f = files_under(dir / "out");
    return !f.empty() && count_numbers(f).missing_in(0, 2) == 0;
  }));
  auto text = read_file(files_under(dir / "out").at(0));
  CHECK_THAT(text, Catch::Matches("([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\+00:00"
                                  "\tapp\\.web\t\\{\"message\":\"seq=[0-2] hello\"\\}\n){3}"));
}

TEST_CASE("http output: NDJSON and JSON arrays arrive whole and 503 is retried and 400 set aside") {
  TempDir dir;
  // A real HTTP server in this process: the first two requests get 503.
  httplib::Server server;
  std::mutex mu;
  std::string ndjson, arrays;
  int requests = 0, rejected = 0;
  server.Post("/ndjson", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    if (++requests <= 2) {
      res.status = 503;
      return;
    }
    if (req.get_header_value("Content-Type") != "application/x-ndjson" ||
        req.get_header_value("X-Team") != "logs") {
      res.status = 500;
      return;
    }
    ndjson += req.body;
  });
  server.Put("/array", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_array()) {
      res.status = 500;
      return;
    }
    for (const auto& e : j) arrays += e.value("message", "") + "\n";
  });
  server.Post("/reject", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mu);
    ++rejected;
    res.status = 400;
    res.set_content("no thanks", "text/plain");
  });
  int hp = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  REQUIRE(wait_until([&] { return server.is_running(); }));
  auto match = [&](const std::string& tag, const std::string& extra) {
    return "<match " + tag + ">\n @type http\n endpoint http://127.0.0.1:" + std::to_string(hp) +
           extra +
           "\n <buffer>\n  flush_mode interval\n  flush_interval 0.2s\n  retry_wait 0.2s\n"
           " </buffer>\n</match>\n";
  };
  int p1 = free_port(), p2 = free_port(), p3 = free_port();
  auto source = [](int port, const std::string& tag) {
    return "<source>\n @type tcp\n tag " + tag + "\n bind 127.0.0.1\n port " +
           std::to_string(port) + "\n <parse>\n @type none\n </parse>\n</source>\n";
  };
  Agent agent(source(p1, "a") + source(p2, "b") + source(p3, "c") +
                  match("a", "/ndjson\n headers {\"X-Team\":\"logs\"}") +
                  match("b", "/array\n http_method put\n json_array true") + match("c", "/reject"),
              dir);
  REQUIRE(agent.ready());
  {
    TcpSender a(p1), b(p2), c(p3);
    REQUIRE(a.send(lines(0, 3000)));
    REQUIRE(b.send(lines(3000, 6000)));
    REQUIRE(c.send(lines(6000, 6100)));
  }
  auto count = [&](const std::string& text) {
    write_file(dir / "got", text);
    return count_numbers({dir / "got"});
  };
  CHECK(wait_until([&] {
    std::lock_guard lock(mu);
    return count(ndjson).missing_in(0, 2999) == 0 && count(arrays).missing_in(3000, 5999) == 0;
  }));
  CHECK(wait_until([&] { return agent.metric("agentd_output_quarantined_records_total") == 100; }));
  {
    std::lock_guard lock(mu);
    CHECK(count(ndjson).duplicates() == 0);
    CHECK(requests >= 3);  // two 503s, then accepted
    CHECK(rejected == 1);  // 400 is not retried
  }
  CHECK(agent.metric("agentd_output_retries_total") >= 2);
  server.stop();
  serving.join();
}

TEST_CASE("copy: every store gets every event with its own buffer") {
  TempDir dir;
  int port = free_port();
  auto file_store = [&](const std::string& name) {
    return " <store>\n  @type file\n  @id " + name + "\n  path " + (dir / name) +
           "/${tag}\n  append true\n  <buffer tag>\n   @type memory\n   flush_mode interval\n"
           "   flush_interval 0.2s\n  </buffer>\n </store>\n";
  };
  Agent agent(tcp_source(port) + "<match app.**>\n @type copy\n" + file_store("one") +
                  file_store("two") + "</match>\n",
              dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 3000)));
  REQUIRE(s.finish());
  for (const std::string name : {"one", "two"}) {
    CHECK(wait_until(
        [&] { return count_numbers(files_under(dir / name)).missing_in(0, 2999) == 0; }));
    CHECK(count_numbers(files_under(dir / name)).duplicates() == 0);
    CHECK(agent.metric("agentd_output_write_records_total",
                       "plugin_id=\"" + name + "\",type=\"file\"") == 3000);
  }
}

TEST_CASE("groups and out_forward: config mistakes are refused naming the line") {
  TempDir dir;
  auto refused = [&](const std::string& match, const std::string& why) {
    write_file(dir / "g.conf", tcp_source(free_port()) + match);
    Process dry({agentd_bin(), "-c", dir / "g.conf", "--dry-run"}, dir / "dry.log");
    INFO(match);
    CHECK(dry.wait() == 1);
    CHECK_THAT(dry.log(), Catch::Contains("g.conf:") && Catch::Contains(why));
  };
  std::string fwd = "  @type forward\n  <server>\n   host 127.0.0.1\n  </server>\n";
  refused("<match **>\n @type forward\n</match>\n", "needs a <server> section");
  refused("<match **>\n @type failover\n</match>\n", "needs a <store> section");
  refused("<match **>\n @type copy\n <store>\n  priority 1\n" + fwd + " </store>\n</match>\n",
          "'priority' in a <store> of @type copy has no meaning");
  refused("<match **>\n @type failover\n <store>\n  priority x\n" + fwd + " </store>\n</match>\n",
          "'priority' must be an integer");
  refused(
      "<match **>\n @type failover\n <store>\n  @type copy\n  <store>\n   @type null\n"
      "  </store>\n </store>\n</match>\n",
      "cannot be a group");
  refused(
      "<match **>\n @type forward\n heartbeat_type udp\n <server>\n  host h\n </server>\n"
      "</match>\n",
      "heartbeat_type udp is not supported");
  refused("<match **>\n @type forward\n <server>\n  host h\n  password p\n </server>\n</match>\n",
          "user_auth");
}

TEST_CASE("a chunk given up after its retries goes to the @ERROR label instead of being dropped") {
  TempDir dir;
  int port = free_port(), dead = free_port();  // nothing listens on `dead`
  Agent agent(tcp_source(port) +
                  "<match app.**>\n @type forward\n @id fwd\n <server>\n  host "
                  "127.0.0.1\n  port " +
                  std::to_string(dead) +
                  "\n </server>\n <buffer>\n  flush_mode immediate\n  retry_max_times 1\n"
                  "  retry_wait 0.1s\n  retry_randomize false\n </buffer>\n</match>\n"
                  "<label @ERROR>\n <match **>\n  @type file\n  path " +
                  (dir / "err/${tag}") +
                  "\n  append true\n  <format>\n   @type json\n  </format>\n"
                  "  <buffer tag>\n   flush_mode immediate\n  </buffer>\n </match>\n</label>\n",
              dir);
  REQUIRE(agent.ready());
  TcpSender s(port);
  REQUIRE(s.send(lines(0, 3)));
  REQUIRE(wait_until([&] { return count_numbers(files_under(dir / "err")).distinct() == 3; }));
  CHECK(count_numbers(files_under(dir / "err")).duplicates() == 0);
  CHECK(agent.metric("agentd_output_error_label_records_total") == 3);
  CHECK(agent.metric("agentd_output_dropped_records_total") == 0);
  CHECK_THAT(agent.process().log(), Catch::Contains("retry limit reached"));
  CHECK_THAT(agent.process().log(), Catch::Contains("sent to @ERROR"));
}
