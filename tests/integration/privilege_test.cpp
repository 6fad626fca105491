// Local privilege: agentd runs as root beside users who can write log
// directories and /tmp. Each case plants what a second local user
// ("logctl-attacker", created by the test; skipped where it cannot be) could
// plant, and checks that root's writes and reads are not redirected.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/harness.h"

using namespace logctl::test;

namespace {

const char* kSecret = "root only: do not ship\n";

// A root-only file an attacker wants to read or overwrite.
std::string make_secret(const TempDir& dir) {
  std::string p = dir / "secret";
  write_file(p, kSecret);
  ::chmod(p.c_str(), 0600);
  return p;
}

// A symlink owned by the attacker.
void plant_link(const std::string& target, const std::string& link, int uid) {
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  REQUIRE(::lchown(link.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(-1)) == 0);
}

#define REQUIRE_ATTACKER(uid)                                              \
  int uid = attacker_uid();                                                \
  if (uid < 0) {                                                           \
    WARN("cannot create a second local user here: attacker test skipped"); \
    return;                                                                \
  }

}  // namespace

TEST_CASE("a buffer or root dir that others own or can write is refused with the reason") {
  REQUIRE_ATTACKER(uid);
  TempDir dir;
  std::filesystem::create_directories(dir / "buf");
  SECTION("owned by another user") {
    REQUIRE(::chown((dir / "buf").c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(-1)) == 0);
  }
  SECTION("world-writable") {
    ::chmod((dir / "buf").c_str(), 0777);
  }
  int port = free_port();
  Agent agent(tcp_lines_source(port) + fluent_log_fence() + "<match **>\n @type file\n path " +
                  (dir / "out/x") + "\n <buffer>\n  @type file\n  path " + (dir / "buf") +
                  "\n </buffer>\n</match>\n",
              dir);
  CHECK(agent.process().wait() != 0);
  CHECK_THAT(agent.process().log(), Catch::Contains("directory " + (dir / "buf")));
  CHECK(std::filesystem::is_empty(dir / "buf"));  // no lock file written into it
}

TEST_CASE("a planted pos_file.tmp link does not redirect root's position writes") {
  REQUIRE_ATTACKER(uid);
  TempDir dir;
  std::string secret = make_secret(dir);
  // A shared log directory (sticky, world-writable, as /tmp) holding the pos file.
  std::filesystem::create_directories(dir / "shared");
  ::chmod((dir / "shared").c_str(), 01777);
  plant_link(secret, dir / "shared/tail.pos.tmp", uid);
  write_file(dir / "app.log", "");
  Agent agent("<source>\n @type tail\n tag t\n path " + (dir / "app.log") + "\n pos_file " +
                  (dir / "shared/tail.pos") +
                  "\n read_from_head true\n <parse>\n @type none\n </parse>\n</source>\n" +
                  json_file_match(dir),
              dir);
  REQUIRE(agent.ready());
  write_file(dir / "app.log", "seq=1 hello\n");
  REQUIRE(wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(1) == 1; }));
  REQUIRE(wait_until(
      [&] { return read_file(dir / "shared/tail.pos").find("app.log") != std::string::npos; }));
  CHECK(read_file(secret) == kSecret);
  struct stat st {};
  REQUIRE(::stat((dir / "shared/tail.pos").c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 040);  // 0640: not world-readable
}

TEST_CASE("tail follows a link only when root or agentd's user owns it (follow_symlinks trusted)") {
  REQUIRE_ATTACKER(uid);
  TempDir dir;
  std::string secret = make_secret(dir);
  std::filesystem::create_directories(dir / "logs");
  write_file(dir / "real.log", "seq=1 from a trusted link\n");
  REQUIRE(::symlink((dir / "real.log").c_str(), (dir / "logs/good.log").c_str()) == 0);
  plant_link(secret, dir / "logs/evil.log", uid);
  Agent agent("<source>\n @type tail\n tag t\n path " + (dir / "logs/*.log") +
                  "\n read_from_head true\n <parse>\n @type none\n </parse>\n</source>\n" +
                  json_file_match(dir),
              dir);
  REQUIRE(agent.ready());
  REQUIRE(wait_until([&] { return count_numbers(files_under(dir / "out")).seen.count(1) == 1; }));
  REQUIRE(wait_until([&] { return agent.metric("agentd_tail_refused_symlinks_total") >= 1; }));
  for (const auto& f : files_under(dir / "out")) {
    CHECK(read_file(f).find("root only") == std::string::npos);
  }
  CHECK_THAT(agent.process().log(), Catch::Contains("not followed (follow_symlinks trusted)"));
}

TEST_CASE("a second agentd on the same root dir refuses to start, the first stays reachable") {
  TempDir dir;
  std::string cfg = tcp_lines_source(free_port()) + null_match();
  Agent first(cfg, dir, "first");
  REQUIRE(first.ready());
  Process second({agentd_bin(), "-c", first.config_path(), "--root-dir", first.root(), "--admin",
                  "127.0.0.1:" + std::to_string(free_port())},
                 dir / "second.log");
  CHECK(second.wait() == 1);
  CHECK_THAT(second.log(), Catch::Contains("is in use by another process"));
  CHECK_THAT(first.control(R"({"op":"status"})"), Catch::Contains("\"state\":\"running\""));
}

TEST_CASE("upgrade --binary takes only a trusted executable, by its resolved path") {
  TempDir dir;
  std::string cfg = tcp_lines_source(free_port()) + null_match();
  Agent agent(cfg, dir);
  REQUIRE(agent.ready());
  auto upgrade = [&](const std::string& binary) {
    return nlohmann::json::parse(
        agent.control(nlohmann::json{{"op", "upgrade"}, {"binary", binary}}.dump()));
  };
  std::filesystem::create_directories(dir / "bin");
  ::chmod((dir / "bin").c_str(), 0755);
  std::filesystem::copy_file(agentd_build("agentd-next"), dir / "bin/agentd-next");
  SECTION("relative path") {
    auto r = upgrade("bin/agentd-next");
    CHECK(r["ok"] == false);
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("absolute path"));
  }
  SECTION("world-writable file") {
    ::chmod((dir / "bin/agentd-next").c_str(), 0777);
    auto r = upgrade(dir / "bin/agentd-next");
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("writable by group or others"));
  }
  SECTION("world-writable directory") {
    ::chmod((dir / "bin").c_str(), 0777);
    auto r = upgrade(dir / "bin/agentd-next");
    CHECK_THAT(r["error"].get<std::string>(), Catch::Contains("directory"));
  }
  SECTION("a link to a trusted binary: the resolved path is kept") {
    ::chmod((dir / "bin/agentd-next").c_str(), 0755);
    REQUIRE(::symlink((dir / "bin/agentd-next").c_str(), (dir / "current").c_str()) == 0);
    auto r = upgrade(dir / "current");
    CHECK(r["result"] == "committed");
    CHECK_THAT(agent.control(R"({"op":"status"})"),
               Catch::Contains("\"binary\":\"" + (dir / "bin/agentd-next") + "\""));
  }
  CHECK(agent.metric("agentd_handover_total", "result=\"committed\"") <=
        1);  // refused ones never start a handover
}

TEST_CASE("SIGUSR2 after the binary file is replaced re-executes the supervisor too") {
  TempDir dir;
  std::filesystem::create_directories(dir / "bin");
  ::chmod((dir / "bin").c_str(), 0755);
  std::filesystem::copy_file(agentd_bin(), dir / "bin/agentd");
  std::string cfg = tcp_lines_source(free_port()) + null_match();
  Agent agent(cfg, dir, "agentd", {}, dir / "bin/agentd");
  REQUIRE(agent.ready());
  auto version = [&] {
    auto j = nlohmann::json::parse(agent.control(R"({"op":"status"})"), nullptr, false);
    return j.is_object() ? j.value("version", "") : "";
  };
  std::string before = version();
  // Replace the file the way a package manager does: write beside, rename over.
  std::filesystem::copy_file(agentd_build("agentd-next"), dir / "bin/agentd.new");
  std::filesystem::rename(dir / "bin/agentd.new", dir / "bin/agentd");
  agent.process().signal(SIGUSR2);
  REQUIRE(wait_until([&] { return version().ends_with("-next"); }));
  CHECK(before != version());
  CHECK(agent.process().running());  // same supervisor process, re-executed
}

TEST_CASE("a config error does not echo an included file's content into /status or the reply") {
  TempDir dir;
  std::string secret = make_secret(dir);
  write_file(secret, "root:$6$SECRETHASH:19000:0:99999:7:::\n");
  std::string good = tcp_lines_source(free_port()) + null_match();
  Agent agent(good, dir);
  REQUIRE(agent.ready());
  write_file(agent.config_path(), good + "@include " + secret + "\n");
  std::string reply = agent.control(R"({"op":"reload"})");
  CHECK_THAT(reply, Catch::Contains("config error"));
  CHECK(reply.find("SECRETHASH") == std::string::npos);
  CHECK(agent.control(R"({"op":"status"})").find("SECRETHASH") == std::string::npos);
}

TEST_CASE("a link planted as a directory of a shared output tree is not followed") {
  REQUIRE_ATTACKER(uid);
  TempDir dir;
  // Outputs under a shared sticky directory, one subdirectory per tag.
  std::filesystem::create_directories(dir / "shared");
  ::chmod((dir / "shared").c_str(), 01777);
  std::filesystem::create_directories(dir / "victim");
  ::chmod((dir / "victim").c_str(), 0700);
  plant_link(dir / "victim", dir / "shared/evil", uid);  // where tag "evil" would go
  int port = free_port();
  std::string cfg = tcp_lines_source(port, "good") + tcp_lines_source(free_port(), "evil") +
                    fluent_log_fence() + "<match **>\n @type file\n @id files\n path " +
                    (dir / "shared") +
                    "/${tag}/app\n append true\n <buffer tag>\n  @type memory\n"
                    "  flush_mode interval\n  flush_interval 0.1s\n </buffer>\n</match>\n";
  Agent agent(cfg, dir);
  REQUIRE(agent.ready());
  // Send to the "evil" source too: its chunk must be refused and set aside.
  auto cfg_text = read_file(agent.config_path());
  auto evil_port_at = cfg_text.find("port ", cfg_text.find("tag evil"));
  int evil_port = std::stoi(cfg_text.substr(evil_port_at + 5));
  REQUIRE(TcpSender(evil_port).send("seq=2 evil\n"));
  REQUIRE(TcpSender(port).send("seq=1 good\n"));
  REQUIRE(wait_until(
      [&] { return count_numbers(files_under(dir / "shared/good")).seen.count(1) == 1; }));
  REQUIRE(wait_until([&] { return agent.metric("agentd_output_quarantined_records_total") == 1; }));
  CHECK(std::filesystem::is_empty(dir / "victim"));
}
