// The Fluentd compatibility corpus (tests/compat/, README there): each case
// is a Fluentd config run unchanged by agentd on its input.log; the output
// files must equal expected/ byte for byte, and the pos file expected.pos
// where a case has one. @DIR@ in expected text is the case's directory,
// @INODE@ the input file's inode as 16 hex digits, @HOST@ this machine's name.
// A case's files/ tree (e.g. a node's /var/log with its symlinks) is copied
// into the case's directory as it is, links as links.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "support/harness.h"

using namespace logctl::test;
namespace fs = std::filesystem;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

}  // namespace

TEST_CASE("compat corpus: Fluentd configs run unchanged and write Fluentd's bytes") {
  // Local time is UTC for every case (out_file's default time format).
  ::setenv("TZ", "UTC", 1);
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(std::string(LOGCTL_TESTS_DIR) + "/compat")) {
    if (e.is_directory()) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 22);
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.filename().string()) {
      TempDir dir;
      ::setenv("COMPAT_DIR", dir.path().c_str(), 1);
      char inode[17] = "";
      if (fs::exists(c / "input.log")) {
        fs::copy_file(c / "input.log", dir / "input.log");
        struct stat st {};
        REQUIRE(::stat((dir / "input.log").c_str(), &st) == 0);
        std::snprintf(inode, sizeof inode, "%016llx", static_cast<unsigned long long>(st.st_ino));
      }
      if (fs::exists(c / "files")) {
        fs::copy(c / "files", dir.path(),
                 fs::copy_options::recursive | fs::copy_options::copy_symlinks);
      }
      auto expand = [&](const std::string& text) {
        return replace_all(replace_all(replace_all(text, "@DIR@", dir.path()), "@INODE@", inode),
                           "@HOST@", host);
      };
      Agent agent(read_file(c / "fluent.conf"), dir);
      REQUIRE(agent.ready());
      REQUIRE_FALSE(fs::is_empty(c / "expected"));
      for (const auto& e : fs::directory_iterator(c / "expected")) {
        std::string want = expand(read_file(e.path()));
        std::string got_path = dir / ("out/" + e.path().filename().string());
        bool same = wait_until([&] { return read_file(got_path).size() >= want.size(); });
        INFO("case " << c.filename() << ", output " << e.path().filename());
        CHECK(same);
        CHECK(read_file(got_path) == want);
      }
      if (fs::exists(c / "expected.pos")) {
        std::string want = expand(read_file(c / "expected.pos"));
        CHECK(wait_until([&] { return read_file(dir / "tail.pos") == want; }));
        CHECK(read_file(dir / "tail.pos") == want);
      }
      ::unsetenv("COMPAT_DIR");
    }
  }
}
