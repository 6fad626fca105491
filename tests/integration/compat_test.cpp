// The Fluentd compatibility corpus (tests/compat/, README there): each case
// is a Fluentd config run unchanged by agentd on its input; the output files
// must equal expected/ byte for byte — the bytes real Fluentd wrote for the
// same config and input (tests/compat/record.sh), or, for the few cases
// marked hand-written, the documented ones — and the pos file expected.pos
// where a case has one. @DIR@ in expected text is the case's directory,
// @INODE@ the input file's inode as 16 hex digits, @HOST@ this machine's name,
// @YEAR@ the current year (RFC 3164 times have none of their own).
// A case's files/ tree (e.g. a node's /var/log with its symlinks) is copied
// into the case's directory as it is, links as links. A case with
// expect-refused is a config Fluentd refuses to start: agentd must refuse it
// too. Cases run several at a time (each its own agentd, directory and port);
// results are checked on the test's thread.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "logctl/schema/zone.h"
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

// case.env: KEY=VALUE lines (the recorder sources the same file).
std::map<std::string, std::string> case_env(const fs::path& c) {
  std::map<std::string, std::string> env{{"FEED", "tail"}, {"TZ_ENV", "UTC"}};
  std::istringstream in(fs::exists(c / "case.env") ? read_file(c / "case.env") : "");
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

// Every output file under `out` by its relative path: not buffers (a
// buffer.* file or .meta, or anything in a directory holding them), not
// Fluentd's own fluent.* log events unless the case keeps them.
std::set<std::string> output_files(const fs::path& out, bool keep_fluent) {
  std::set<std::string> names;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(out, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename();
    if (!it->is_regular_file() || name.starts_with("buffer.") || name.ends_with(".meta")) continue;
    bool in_buffer = false;
    for (const auto& e : fs::directory_iterator(it->path().parent_path(), ec)) {
      in_buffer |= e.path().filename().string().starts_with("buffer.");
    }
    std::string rel = fs::relative(it->path(), out);
    if (in_buffer || (!keep_fluent && rel.starts_with("fluent."))) continue;
    names.insert(rel);
  }
  return names;
}

std::string first_difference(const std::string& want, const std::string& got) {
  std::size_t at = 0;
  while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
  auto line_of = [&](const std::string& s) {
    auto begin = s.rfind('\n', at == 0 ? 0 : at - 1);
    begin = begin == std::string::npos || at == 0 ? 0 : begin + 1;
    return s.substr(begin, s.find('\n', at) - begin);
  };
  return "at byte " + std::to_string(at) + "\n  Fluentd: " + line_of(want) +
         "\n  agentd:  " + line_of(got);
}

// known-differences: "NNN-name  reason" lines, the cases agentd does not yet
// match (each one an open item of the fidelity work).
std::map<std::string, std::string> known_differences() {
  std::map<std::string, std::string> known;
  std::istringstream in(read_file(std::string(LOGCTL_TESTS_DIR) + "/compat/known-differences"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.find(' ');
    known[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return known;
}

// A case's directory, port and agentd wrapper: the config reads COMPAT_DIR
// and COMPAT_PORT from its environment, as a real deployment's config reads
// its variables, and a wrapper script sets them (and TZ). Made on the test's
// thread before any case starts: a script written while another thread forks
// could be held open by that child, and exec'ing it would fail (ETXTBSY).
struct Prepared {
  fs::path c;
  TempDir dir;
  int port = free_port();
  std::string wrapper;
  std::map<std::string, std::string> env;
  bool known = false;  // listed in known-differences
  explicit Prepared(fs::path case_dir) : c(std::move(case_dir)), wrapper(dir / "agentd-env") {
    env = case_env(c);
    write_file(wrapper, "#!/bin/sh\nexec env COMPAT_DIR='" + dir.path() +
                            "' COMPAT_PORT=" + std::to_string(port) + " TZ='" + env["TZ_ENV"] +
                            "' '" + agentd_bin() + "' \"$@\"\n");
    fs::permissions(wrapper, fs::perms::owner_all);
  }
};

// Runs one case; returns what differs (empty: the case passes).
std::vector<std::string> run_case(Prepared& p, const std::string& host) {
  std::vector<std::string> failures;
  const fs::path& c = p.c;
  auto& env = p.env;
  const TempDir& dir = p.dir;
  int port = p.port;
  const std::string& wrapper = p.wrapper;
  if (fs::exists(c / "expect-refused")) {
    Process check({wrapper, "-c", c / "fluent.conf", "--dry-run"}, dir / "dry-run.log");
    int rc = check.wait(30s);
    if (rc != 1)
      failures.push_back("Fluentd refuses this config; agentd --dry-run exited " +
                         std::to_string(rc) + ":\n" + check.log());
    std::string why = replace_all(read_file(c / "expect-refused"), "\n", "");
    if (!why.empty() && check.log().find(why) == std::string::npos) {
      failures.push_back("the refusal does not say \"" + why + "\":\n" + check.log());
    }
    return failures;
  }
  char inode[17] = "";
  if (fs::exists(c / "input.log")) {
    fs::copy_file(c / "input.log", dir / "input.log");
    struct stat st {};
    if (::stat((dir / "input.log").c_str(), &st) == 0) {
      std::snprintf(inode, sizeof inode, "%016llx", static_cast<unsigned long long>(st.st_ino));
    }
  }
  if (fs::exists(c / "files")) {
    fs::copy(c / "files", dir.path(),
             fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  }
  // The year an RFC 3164 time without one gets: this year in the case's zone.
  std::string year = [&] {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    long off = 0;
    if (auto z = logctl::Zone::named(env["TZ_ENV"] == "UTC" ? "+00:00" : env["TZ_ENV"])) {
      off = z->offset_at(now);
    }
    now += off;
    gmtime_r(&now, &tm);
    return std::to_string(tm.tm_year + 1900);
  }();
  auto expand = [&](const std::string& text) {
    return replace_all(
        replace_all(replace_all(replace_all(text, "@DIR@", dir.path()), "@INODE@", inode), "@HOST@",
                    host),
        "@YEAR@", year);
  };
  Agent agent(read_file(c / "fluent.conf"), dir, "agentd", {}, wrapper);
  if (!agent.ready()) return {"agentd did not start:\n" + agent.process().log()};
  if (env["FEED"] == "tcp") {
    TcpSender sender(port);
    if (!sender.send(read_file(c / "input")) || !sender.finish()) failures.push_back("tcp feed");
  } else if (env["FEED"] == "http") {  // raw requests; the responses are an output
    TcpSender sender(port);
    if (!sender.send(read_file(c / "input"))) failures.push_back("http feed");
    std::string responses = sender.receive_until_closed();
    fs::create_directories(dir.path() + "/out");
    std::ofstream(dir.path() + "/out/responses", std::ios::binary) << responses;
  } else if (env["FEED"] == "udp") {
    std::istringstream in(read_file(c / "input"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && !send_udp(port, line)) failures.push_back("udp feed");
    }
  }
  // A deliberate deviation (docs/fluentd-compatibility.md) pins agentd's
  // bytes in expected-agentd/; Fluentd's stay in expected/ for the record.
  fs::path expected = c / (fs::exists(c / "deviation") ? "expected-agentd" : "expected");
  std::map<std::string, std::string> want;
  for (const auto& name : output_files(expected, true)) {
    want[name] = expand(read_file(expected / name));
  }
  if (want.empty()) return {"the case has no expected output (give it a last line that has one)"};
  bool keep_fluent = env["KEEP_FLUENT"] == "1";
  // Written in full, or already different (no need to wait any longer).
  auto all_written = [&] {
    for (const auto& [name, text] : want) {
      std::string got = read_file(dir / ("out/" + name));
      if (got.size() < text.size() && text.starts_with(got)) return false;
    }
    return true;
  };
  // A known difference may never write what Fluentd wrote: a shorter wait.
  wait_until(all_written, p.known ? 5s : kSanitized ? 40s : 20s);
  std::set<std::string> wanted_names;
  for (const auto& [name, text] : want) wanted_names.insert(name);
  auto differences = [&] {
    std::vector<std::string> found;
    for (const auto& [name, text] : want) {
      std::string got = read_file(dir / ("out/" + name));
      if (got != text) found.push_back("out/" + name + " " + first_difference(text, got));
    }
    for (const auto& name : output_files(dir / "out", keep_fluent)) {
      if (!wanted_names.contains(name))
        found.push_back("out/" + name + " is not in Fluentd's output");
    }
    return found;
  };
  failures = differences();
  // A known difference that looks matched may only be late (an extra file
  // written after the rest): it has a few seconds to show itself.
  if (p.known && failures.empty())
    wait_until([&] { return !(failures = differences()).empty(); }, 5s);
  if (fs::exists(c / "expected.pos")) {
    std::string pos = expand(read_file(c / "expected.pos"));
    if (!wait_until([&] { return read_file(dir / "tail.pos") == pos; })) {
      failures.push_back("tail.pos is\n" + read_file(dir / "tail.pos") + "not\n" + pos);
    }
  }
  if (!failures.empty()) failures.push_back("agentd's log:\n" + agent.process().log());
  return failures;
}

}  // namespace

TEST_CASE("compat corpus: Fluentd configs run unchanged and write Fluentd's bytes") {
  std::vector<fs::path> cases;
  const char* only = std::getenv("COMPAT_ONLY");  // a developer's filter: a name's prefix
  for (const auto& e : fs::directory_iterator(std::string(LOGCTL_TESTS_DIR) + "/compat")) {
    std::string name = e.path().filename();
    if (e.is_directory() && (!only || name.starts_with(only))) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  if (!only) REQUIRE(cases.size() >= 150);
  // COMPAT_EVERY=N: every Nth case in name order (the sanitizer build runs a
  // third of the corpus: each agentd start costs ~0.6 s of CPU there).
  const char* every_text = std::getenv("COMPAT_EVERY");
  const auto every = static_cast<std::size_t>(every_text ? std::max(1, std::atoi(every_text)) : 1);
  const bool sample = only || every > 1;
  if (every > 1) {
    std::vector<fs::path> kept;
    for (std::size_t i = 0; i < cases.size(); i += every) kept.push_back(cases[i]);
    cases = std::move(kept);
  }
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);

  auto known = known_differences();
  std::vector<std::unique_ptr<Prepared>> prepared;
  for (const auto& c : cases) {
    prepared.push_back(std::make_unique<Prepared>(c));
    prepared.back()->known = known.contains(c.filename());
  }
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> results;
  std::size_t next = 0;
  auto worker = [&] {
    for (;;) {
      Prepared* p = nullptr;
      {
        std::lock_guard lock(mu);
        if (next == prepared.size()) return;
        p = prepared[next++].get();
      }
      auto failures = run_case(*p, host);
      std::lock_guard lock(mu);
      results[p->c.filename()] = std::move(failures);
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < 8; ++i) workers.emplace_back(worker);
  for (auto& w : workers) w.join();

  std::size_t differing = 0;
  for (const auto& [name, failures] : results) {
    INFO("case " << name);
    if (known.contains(name)) {
      // Still different, as listed: when it matches, the list must say so.
      if (failures.empty()) FAIL_CHECK("matches Fluentd now: take it out of known-differences");
      ++differing;
      continue;
    }
    for (const auto& f : failures) FAIL_CHECK(f);
  }
  for (const auto& [name, why] : known) {
    INFO("known-differences names " << name);
    CHECK((sample || results.contains(name)));
  }
  std::size_t deviations = 0, by_hand = 0;
  for (const auto& p : prepared) {
    deviations += fs::exists(p->c / "deviation");
    by_hand += fs::exists(p->c / "hand-written");
  }
  WARN(results.size() << " cases: " << results.size() - differing - deviations - by_hand
                      << " write the bytes Fluentd recorded, " << deviations
                      << " documented deviations, " << by_hand << " hand-written, " << differing
                      << " known differences");
}
