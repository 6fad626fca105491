// Unit tests of the pieces on the data path: tag patterns, framing, syslog
// parsing, record packing and JSON rendering, path templates, retry schedule.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <limits>
#include <map>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "agentd/buffer/retry.h"
#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/inputs/framing.h"
#include "agentd/outputs/file_output.h"
#include "agentd/outputs/path_template.h"
#include "agentd/parsers/syslog_message.h"
#include "agentd/router/tag_pattern.h"
#include "logctl/schema/pipeline_config.h"
#include "support/harness.h"

using namespace logctl::agentd;
using logctl::test::TempDir;

TEST_CASE("tag patterns follow Fluentd's rules") {
  CHECK(TagPattern("a.*").matches("a.b"));
  CHECK_FALSE(TagPattern("a.*").matches("a.b.c"));
  CHECK_FALSE(TagPattern("a.*").matches("a"));
  CHECK(TagPattern("a.**").matches("a"));
  CHECK(TagPattern("a.**").matches("a.b.c"));
  CHECK_FALSE(TagPattern("a.**").matches("ab"));
  CHECK(TagPattern("**").matches("x.y.z"));
  CHECK(TagPattern("{a,b}.c").matches("b.c"));
  CHECK_FALSE(TagPattern("{a,b}.c").matches("d.c"));
  CHECK(TagPattern("a.{b,c.d}").matches("a.c.d"));
  CHECK(TagPattern("app*.log").matches("apple.log"));
  CHECK(TagPattern("**.err").matches("system.user.err"));
}

TEST_CASE("framing: delimiter frames across reads, oversized frames skipped") {
  FrameSplitter s(Framing::kDelimiter, "\n", 8);
  std::vector<std::string> frames;
  auto on = [&](std::string_view f) { frames.emplace_back(f); };
  REQUIRE(s.feed("ab\ncd", on));
  REQUIRE(s.feed("e\n0123456789abcdef", on));
  REQUIRE(s.feed("more\nok\n", on));
  CHECK(frames == std::vector<std::string>{"ab", "cde", "ok"});
  CHECK(s.oversized() == 1);
  FrameSplitter multi(Framing::kDelimiter, "\r\n", 100);
  frames.clear();
  REQUIRE(multi.feed("x\r", on));
  REQUIRE(multi.feed("\ny\r\n", on));
  CHECK(frames == std::vector<std::string>{"x", "y"});
}

TEST_CASE("framing: RFC 6587 octet counting") {
  FrameSplitter s(Framing::kOctetCount, "", 100);
  std::vector<std::string> frames;
  auto on = [&](std::string_view f) { frames.emplace_back(f); };
  REQUIRE(s.feed("5 hello3 a", on));
  REQUIRE(s.feed(" b\n2 ok", on));
  CHECK(frames == std::vector<std::string>{"hello", "a b", "ok"});
  FrameSplitter big(Framing::kOctetCount, "", 4);
  frames.clear();
  REQUIRE(big.feed("10 0123", on));
  REQUIRE(big.feed("456789", on));
  REQUIRE(big.feed("2 hi", on));
  CHECK(frames == std::vector<std::string>{"hi"});
  CHECK(big.oversized() == 1);
  FrameSplitter bad(Framing::kOctetCount, "", 100);
  CHECK_FALSE(bad.feed("x5 hello", on));
}

TEST_CASE("syslog: RFC 5424 as sent by logger(1)") {
  EventTime now{1'700'000'000'000'000'000};
  auto m = parse_syslog(
      "<13>1 2026-11-23T10:00:00.123456+02:00 host1 app 42 ID7 [x@1 a=\"b\\\"]\"] hi there", now,
      {SyslogFormat::kAuto, true, true, {}});
  REQUIRE(m);
  CHECK(m->pri == 13);
  CHECK(m->host == "host1");
  CHECK(m->ident == "app");
  CHECK(m->pid == "42");
  CHECK(m->msgid == "ID7");
  CHECK(m->extradata == "[x@1 a=\"b\\\"]\"]");
  CHECK(m->message == "hi there");
  CHECK(m->time.ns == (1795392000LL + 36000 - 7200) * 1'000'000'000 + 123'456'000);
}

TEST_CASE("syslog: RFC 3164 with and without pid") {
  EventTime now{1'795'420'800'000'000'000};  // 2026-11-23
  SyslogOptions o{SyslogFormat::kRfc3164, true, true, {}};
  auto m = parse_syslog("<34>Nov  3 08:09:10 web sshd[123]: Accepted key", now, o);
  REQUIRE(m);
  CHECK(m->pri == 34);
  CHECK(m->host == "web");
  CHECK(m->ident == "sshd");
  CHECK(m->pid == "123");
  CHECK(m->message == "Accepted key");
  auto n = parse_syslog("<13>Nov 23 00:00:01 web cron: job", now, o);
  REQUIRE(n);
  CHECK_FALSE(n->has_pid);
  CHECK(n->message == "job");
}

TEST_CASE("syslog: malformed messages are errors, never crashes") {
  EventTime now{0};
  SyslogOptions o{SyslogFormat::kAuto, true, true, {}};
  for (const char* bad :
       {"", "<", "<999>x", "no pri", "<13>", "<13>1 bad-time h a p m -",
        "<13>1 2026-11-23T10:00:00Z h a p m [unterminated", "<13>Xyz 99 99:99:99 h m"}) {
    CHECK_FALSE(parse_syslog(bad, now, o));
  }
  CHECK_FALSE(parse_rfc3339("4052-11-23T10:00:00.123456+02:00"));  // found by fuzz_syslog
  CHECK(std::string(syslog_facility_name(23)) == "local7");
  CHECK(std::string(syslog_severity_name(3)) == "err");
}

TEST_CASE("records pack as [EventTime, map] and render as JSON") {
  EventBatch b;
  RecordWriter w(b);
  w.begin(EventTime{1'500'000'000'123'456'789}, 3);
  w.field("message", "quote\" tab\t bad\xff utf8 \xc3\xa9");
  w.field_int("n", -5);
  w.field_nil("z");
  w.end();
  REQUIRE(b.entries.size() == 1);
  int seen = 0;
  REQUIRE(for_each_entry(b.data, [&](EventTime t, std::string_view rec) {
    ++seen;
    CHECK(t.ns == 1'500'000'000'123'456'789);
    std::string json;
    append_json(json, rec);
    CHECK(json ==
          "{\"message\":\"quote\\\" tab\\t bad\\ufffd utf8 \xc3\xa9\",\"n\":-5,\"z\":null}");
    CHECK(lookup_field(rec, {"n"}).value() == "-5");
    CHECK_FALSE(lookup_field(rec, {"missing"}));
  }));
  CHECK(seen == 1);
}

TEST_CASE("append_field appends what lookup_field returns, for every kind of value") {
  // {"message": "line", "n": 42, "z": nil, "bin": bin"b1", "m": {"k": "v"}}
  std::string rec = std::string("\x85\xa7message\xa4line\xa1n\x2a\xa1z\xc0\xa3") + "bin\xc4\x02" +
                    "b1\xa1m\x81\xa1k\xa1v";
  for (std::vector<std::string> path : std::vector<std::vector<std::string>>{
           {"message"}, {"n"}, {"z"}, {"bin"}, {"m"}, {"m", "k"}, {"missing"}, {"m", "nope"}}) {
    INFO("path " << path[0] << (path.size() > 1 ? "." + path[1] : ""));
    std::string out = "before:";
    append_field(out, rec, path);
    CHECK(out == "before:" + lookup_field(rec, path).value_or(""));
  }
  std::string out;
  append_field(out, rec, {"message"});
  append_field(out, rec, {"m", "k"});
  CHECK(out == "linev");
}

TEST_CASE(
    "JSON keys are strings even when the MessagePack keys are not and binaries read as strings") {
  // {7:1, -2:{true:[]}, [1,2]:"a", 1.5:nil, bin"b":{}} from a forward client.
  const char bytes[] =
      "\x85\x07\x01\xfe\x81\xc3\x90\x92\x01\x02\xa1"
      "a\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xc0\xc4\x01"
      "b\x80";
  std::string packed(bytes, sizeof bytes - 1);
  std::string json;
  append_json(json, packed);
  CHECK(json == R"({"7":1,"-2":{"true":[]},"[1,2]":"a","1.5":null,"b":{}})");
  json.clear();
  append_json(json, "\x81\x80\x80");  // {{}:{}}
  CHECK(json == R"({"{}":{}})");
  // Keys within a key are quoted once, with the outermost: {{{7:1}:2}:3}.
  json.clear();
  append_json(json, "\x81\x81\x81\x07\x01\x02\x03");
  CHECK(json == R"({"{{7:1}:2}":3})");
  // Forty maps each the key of the next: the text grows with the depth, not
  // twice per level (a fuzzer's 147-byte input took gigabytes).
  std::string nested = std::string(40, '\x81') + "\x80" + std::string(40, '\x01');
  json.clear();
  append_json(json, nested);
  CHECK(json.size() < 400);
  CHECK(nlohmann::json::accept(json));
  // Binary keys and values read as strings, as Fluentd's String.
  std::string bin = "\x81\xc4\x04host\xc4\x02h1";
  CHECK(lookup_field(bin, {"host"}).value() == "h1");
  json.clear();
  append_json(json, bin);
  CHECK(json == R"({"host":"h1"})");
}

TEST_CASE("retry: exponential backoff, max interval, limits") {
  RetryOptions o;
  o.randomize = false;
  o.wait = 1;
  o.backoff_base = 2;
  o.max_interval = 5;
  o.max_times = 4;
  RetryState r(o, 100);
  CHECK(r.interval(0) == 1);
  CHECK(r.interval(2) == 4);
  CHECK(r.interval(3) == 5);
  REQUIRE(r.step(100));
  CHECK(r.next_time() == 101);
  REQUIRE(r.step(101));
  CHECK(r.next_time() == 103);
  REQUIRE(r.step(103));
  REQUIRE(r.step(107));
  CHECK_FALSE(r.step(112));  // 5th failure > retry_max_times 4
  RetryOptions t;
  t.randomize = false;
  t.timeout = 10;
  RetryState to(t, 0);
  REQUIRE(to.step(0));
  CHECK_FALSE(to.step(10));
  CHECK(to.use_secondary(8));
  CHECK_FALSE(to.use_secondary(7));
}

TEST_CASE("log escape: control bytes become visible escapes, the rest is kept") {
  CHECK(logctl::agentd::log::escape("a\nb\r\tc\x1b[31m\x7f d") == "a\\nb\\r\\tc\\x1b[31m\\x7f d");
  CHECK(logctl::agentd::log::escape(std::string("nul\0end", 7)) == "nul\\x00end");
  CHECK(logctl::agentd::log::escape("päth ok") == "päth ok");
}

TEST_CASE("append_json_string escapes every special byte wherever it falls in a word") {
  // (text, its JSON form) for the bytes that are not copied as they are.
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\"", "\\\""},      {"\\", "\\\\"},      {"\n", "\\n"},       {"\t", "\\t"},
      {"\r", "\\r"},       {"\x01", "\\u0001"}, {"\x1f", "\\u001f"}, {"\xc3\xa9", "\xc3\xa9"},
      {"\xff", "\\ufffd"}, {"\x7f", "\x7f"},    {" ", " "},          {"~", "~"}};
  for (std::size_t len = 1; len <= 24; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      for (const auto& [raw, escaped] : specials) {
        std::string text = std::string(at, 'a') + raw + std::string(len - at - 1, 'b');
        std::string want =
            "\"" + std::string(at, 'a') + escaped + std::string(len - at - 1, 'b') + "\"";
        std::string got;
        append_json_string(got, text);
        INFO("length " << len << ", special at " << at);
        REQUIRE(got == want);
      }
    }
  }
}

TEST_CASE("path templates insert each value once and never read it again") {
  ChunkKeys keys;
  keys.tag = true;
  keys.fields = {"host"};
  PathTemplateOptions o;
  o.path = "/out/${tag}/${tag[0]}/${tag[-1]}/${tag[9]}/${host}/x";
  o.append = true;
  o.keys = &keys;
  auto t = PathTemplate::make(o);
  REQUIRE(t);
  auto store = make_memory_store();
  auto render = [&](const std::string& tag, const std::string& host) {
    ChunkMetadata m;
    m.tag = tag;
    m.variables = {{"host", host}};
    auto c = store->create(m, 0);
    REQUIRE(c);
    return t->render(**c, 1);
  };
  CHECK(render("app.web", "h1") == "/out/app.web/app/web//h1/x");
  // A tag that is a placeholder stays text (it replaced itself forever), a
  // huge index is not a number (std::stoi threw), a value's '/' and '..'
  // cannot leave the directory.
  CHECK(render("${tag[0]}", "${chunk_id}") == "/out/${tag[0]}/${tag[0]}/${tag[0]}//${chunk_id}/x");
  CHECK(render("a.${tag[99999999999]}", "_**") ==
        "/out/a.${tag[99999999999]}/a/${tag[99999999999]}//_**/x");
  CHECK(render("..", "../../etc") == "/out/__////.._.._etc/x");
}

TEST_CASE("values are written as Fluentd writes them: Oj's floats, Ruby's to_s and inspect") {
  auto json = [](double v) {
    std::string out;
    append_json_float(out, v);
    return out;
  };
  auto ruby = [](double v) {
    std::string out;
    append_ruby_float(out, v);
    return out;
  };
  // Each pair was printed by Ruby 3.1 / oj 3.14 (Fluentd 1.19's JSON).
  CHECK(json(1.0) == "1.0");
  CHECK(json(0.1) == "0.1");
  CHECK(json(1000.0) == "1000.0");
  CHECK(json(-0.0) == "0.0");
  CHECK(json(1.5e300) == "1.5e+300");
  CHECK(json(1e-7) == "1.0e-07");
  CHECK(json(1e15) == "1000000000000000.0");
  CHECK(json(123456789012345678.0) == "123456789012345680.0");
  CHECK(json(9.3e18) == "9.3e+18");
  CHECK(json(1.0 / 3) == "0.3333333333333333");
  CHECK(json(0.1 + 0.2) == "0.30000000000000004");
  CHECK(json(5e-324) == "5.0e-324");
  CHECK(json(std::numeric_limits<double>::quiet_NaN()) == "null");  // a deviation: JSON has no NaN
  CHECK(json(-std::numeric_limits<double>::infinity()) == "null");
  CHECK(ruby(1e15) == "1.0e+15");
  CHECK(ruby(999999999999999.9) == "999999999999999.9");
  CHECK(ruby(0.0001234) == "0.0001234");
  CHECK(ruby(0.00001234) == "1.234e-05");
  CHECK(ruby(-1.0e20) == "-1.0e+20");
  CHECK(ruby(-0.0) == "-0.0");
  CHECK(ruby(2.5) == "2.5");

  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> pk(b);
  pk.pack_map(5);
  pk.pack(std::string("s")), pk.pack(std::string("a\"b\\c\n\x01#{x} \xc3\xa9"));
  pk.pack(std::string("n")), pk.pack_nil();
  pk.pack(std::string("a")), pk.pack_array(3), pk.pack(1), pk.pack(2.5), pk.pack(true);
  pk.pack(std::string("h")), pk.pack_map(1), pk.pack(std::string("k")), pk.pack_nil();
  pk.pack(std::string("i")), pk.pack(-7);
  std::string rec(b.data(), b.size());
  std::string text;
  append_ruby_text(text, rec);
  CHECK(
      text ==
      R"({"s"=>"a\"b\\c\n\u0001\#{x} é", "n"=>nil, "a"=>[1, 2.5, true], "h"=>{"k"=>nil}, "i"=>-7})");
  CHECK(lookup_field(rec, {"n"}) == std::nullopt);  // nil: as absent (grep matches nothing)
  CHECK(lookup_field(rec, {"a"}) == "[1, 2.5, true]");
  CHECK(lookup_field(rec, {"nope"}) == std::nullopt);
}

namespace {

// A chunk of `lines` events whose message is "<prefix> line <i>" padded to
// about 100 bytes.
std::unique_ptr<Chunk> lines_chunk(ChunkStore& store, const std::string& prefix, int lines) {
  auto chunk = store.create(ChunkMetadata{}, 0);
  REQUIRE(chunk);
  for (int done = 0; done < lines; done += 1000) {
    EventBatch b;
    RecordWriter rw(b);
    int n = std::min(1000, lines - done);
    for (int i = 0; i < n; ++i) {
      rw.begin(EventTime{1}, 1);
      rw.field("message", prefix + " line " + std::to_string(done + i) + std::string(80, '.'));
      rw.end();
    }
    REQUIRE((*chunk)->append("t", b.data, static_cast<std::uint32_t>(n)));
  }
  return std::move(*chunk);
}

// An out_file output made from the lines of its <match> (`params`), with the
// validated configuration it keeps referring to.
struct TestFileOutput {
  std::unique_ptr<logctl::config::PipelineConfig> cfg;
  std::unique_ptr<Output> out;
};
TestFileOutput file_output(const std::string& params, const std::string& lock_dir = "") {
  auto tree = logctl::config::parse_string("<match **>\n @type file\n" + params +
                                               " <format>\n @type single_value\n"
                                               " </format>\n</match>\n",
                                           "out.conf");
  REQUIRE(tree);
  auto cfg = logctl::config::validate(*tree);
  REQUIRE(cfg);
  TestFileOutput t{std::make_unique<logctl::config::PipelineConfig>(std::move(*cfg)), nullptr};
  static const ChunkKeys keys;
  auto made = make_file_output(t.cfg->matches[0].output, keys, 0, false, lock_dir);
  REQUIRE(made);
  t.out = std::move(*made);
  return t;
}

}  // namespace

TEST_CASE("appends of two outputs to one file take turns: no chunk's lines interleave") {
  // Two out_file outputs on one path, as the two generations of a handover
  // hold them (each with its own in-process lock): their chunks are several
  // writes each (over 1 MiB formatted), and only the lock file in the data
  // directory keeps one chunk's writes from landing between another's.
  TempDir dir;
  constexpr int kChunks = 4, kLines = 30'000;  // ~3 MiB per chunk: 3 writes
  auto store = make_memory_store();
  std::vector<std::unique_ptr<Chunk>> chunks[2];
  for (int w = 0; w < 2; ++w) {
    for (int c = 0; c < kChunks; ++c) {
      chunks[w].push_back(lines_chunk(*store, std::to_string(w) + "." + std::to_string(c), kLines));
    }
  }
  // Catch's assertions are not thread-safe: the writers only record how
  // many of their chunks were written, checked after they are joined.
  TestFileOutput outputs[2];
  for (auto& out : outputs) {
    out = file_output(" path " + (dir / "out/events") + "\n append true\n", dir / "locks");
  }
  int written[2] = {0, 0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (const auto& c : chunks[w]) written[w] += outputs[w].out->write(*c) ? 1 : 0;
    });
  }
  for (auto& t : writers) t.join();
  CHECK(written[0] == kChunks);
  CHECK(written[1] == kChunks);
  auto files = logctl::test::files_under(dir / "out");
  REQUIRE(files.size() == 1);
  std::istringstream in(logctl::test::read_file(files[0]));
  std::map<std::string, int> lines;  // per chunk "w.c"
  std::string current, line;
  std::set<std::string> finished;
  while (std::getline(in, line)) {
    std::string id = line.substr(0, line.find(' '));
    if (id != current) {
      INFO("chunk " << id << " resumes after " << current << " wrote between");
      CHECK(!finished.contains(id));
      if (!current.empty()) finished.insert(current);
      current = id;
    }
    ++lines[id];
  }
  CHECK(lines.size() == 2 * kChunks);
  for (const auto& [id, n] : lines) CHECK(n == kLines);
  CHECK(logctl::test::files_under(dir / "locks").size() == 1);
}

namespace {

struct Residency {
  std::size_t whole = 0;     // pages wholly inside the range
  std::size_t resident = 0;  // of which in the page cache
};

// Which of the whole pages in [from, to) of the file are in the page cache.
Residency residency(const std::string& path, std::uint64_t from, std::uint64_t to) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);  // maps, faults nothing in
  ::close(fd);
  REQUIRE(map != MAP_FAILED);
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((size + page - 1) / page);
  REQUIRE(::mincore(map, size, in.data()) == 0);
  ::munmap(map, size);
  Residency r;
  for (std::uint64_t p = (from + page - 1) / page; (p + 1) * page <= to; ++p) {
    ++r.whole;
    r.resident += in[p] & 1;
  }
  return r;
}

bool on_tmpfs(const std::string& path) {
  struct statfs fs {};
  return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

}  // namespace

TEST_CASE("out_file write_behind: a range a window behind the end leaves the page cache") {
  // What mincore reads is the page cache itself. A range is dropped once the
  // disk has it (write-behind never waits for the disk): the test makes the
  // first chunk's pages clean with fdatasync, as the disk would in time.
  TempDir tmp;
  std::string base = tmp.path();
  if (on_tmpfs(base)) base = "/var/tmp";  // tmpfs has no disk to write back to
  if (on_tmpfs(base)) {
    WARN("no disk file system for the test's files: skipped");
    return;
  }
  std::string dir = base + "/wb" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto store = make_memory_store();
  auto first = lines_chunk(*store, "first", 40'000);  // ~4 MiB formatted
  auto second = lines_chunk(*store, "second", 20'000);
  for (std::string window : {"1m", "0"}) {
    INFO("write_behind " << window);
    std::string path = dir + "/out" + window;
    auto out = file_output(" path " + path + "\n append true\n write_behind " + window + "\n");
    REQUIRE(out.out->write(*first));
    std::string file = path + ".log";
    std::uint64_t first_end = std::filesystem::file_size(file);
    {
      int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      CHECK(::fdatasync(fd) == 0);
      ::close(fd);
    }
    auto before = residency(file, 0, first_end);
    REQUIRE(before.whole > 500);
    REQUIRE(before.resident == before.whole);  // written pages stay cached until dropped
    REQUIRE(out.out->write(*second));          // 2 MiB: the first chunk is now a window behind
    std::uint64_t end = std::filesystem::file_size(file);
    // Write-behind's thread drops it soon; without write-behind nothing does.
    auto first_pages = residency(file, 0, first_end);
    if (window != "0") {
      logctl::test::wait_until([&] {
        first_pages = residency(file, 0, first_end);
        return first_pages.resident == 0;
      });
    }
    CHECK(first_pages.resident == (window == "0" ? first_pages.whole : 0));
    auto newest = residency(file, first_end, end);
    CHECK(newest.resident == newest.whole);  // the newest window is read from memory
    std::string text = logctl::test::read_file(file);
    CHECK(std::count(text.begin(), text.end(), '\n') == 60'000);
    CHECK(text.starts_with("first line 0."));
    CHECK(text.find("second line 19999.") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("out_file write_behind keeps every byte: a file renamed between chunks, tmpfs") {
  TempDir dir;
  auto store = make_memory_store();
  std::vector<std::string> dirs = {dir.path()};
  if (on_tmpfs("/dev/shm")) dirs.push_back("/dev/shm");  // no writeback there: nothing to drop
  for (const std::string& d : dirs) {
    INFO(d);
    std::string path = d + "/wbkeep" + std::to_string(::getpid());
    auto out = file_output(" path " + path + "\n append true\n write_behind 64k\n");
    for (int c = 0; c < 6; ++c) {
      REQUIRE(out.out->write(*lines_chunk(*store, "c" + std::to_string(c), 3000)));
      if (c == 2) std::filesystem::rename(path + ".log", path + ".1");  // as logrotate does
    }
    for (const std::string& name : {path + ".1", path + ".log"}) {
      std::string text = logctl::test::read_file(name);
      CHECK(std::count(text.begin(), text.end(), '\n') == 9000);
      for (int c = name.ends_with(".1") ? 0 : 3, last = c + 3; c < last; ++c) {
        CHECK(text.find("c" + std::to_string(c) + " line 2999.") != std::string::npos);
      }
      std::filesystem::remove(name);
    }
  }
}
