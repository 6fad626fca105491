// Buffer semantics with real files: chunk keys, limits, overflow actions,
// recovery of chunks after a crash (including a torn tail), directory lock.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "agentd/buffer/buffer.h"
#include "agentd/buffer/file_chunk.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

EventBatch make_batch(const std::string& tag, int from, int n, std::int64_t time_s = 1'700'000'000,
                      const char* host = nullptr) {
  EventBatch b;
  b.tag = tag;
  RecordWriter w(b);
  for (int i = from; i < from + n; ++i) {
    w.begin(EventTime{time_s * 1'000'000'000}, host ? 2 : 1);
    w.field("message", "seq=" + std::to_string(i) + " payload");
    if (host) w.field("host", host);
    w.end();
  }
  return b;
}

Status write(Buffer& b, EventBatch batch) {
  return b.write(batch);
}

std::vector<int> numbers_in(const Chunk& c) {
  std::vector<int> out;
  REQUIRE(c.read([&](std::string_view, std::string_view unit) {
    return for_each_entry(unit, [&](EventTime, std::string_view rec) {
      auto m = lookup_field(rec, {"message"}).value();
      out.push_back(std::stoi(m.substr(4)));
    });
  }));
  return out;
}

std::vector<int> drain(Buffer& b) {
  b.enqueue_all();
  std::vector<int> all;
  while (auto c = b.dequeue()) {
    auto n = numbers_in(*c);
    all.insert(all.end(), n.begin(), n.end());
    b.purge(c);
  }
  return all;
}

struct Fixture {
  ManualClock clock{1'700'000'000'000'000'000};
  Metrics metrics;
  test::TempDir dir;
  std::unique_ptr<Buffer> file_buffer(BufferOptions o, const std::string& id = "out") {
    FileStoreOptions fo;
    fo.dir = dir / id;
    return std::make_unique<Buffer>(id, o, make_file_store(fo), clock, metrics);
  }
};

}  // namespace

TEST_CASE_METHOD(Fixture, "buffer: chunk keys split events into chunks by tag, time and field") {
  BufferOptions o;
  o.keys = ChunkKeys::parse("tag,time,$.host").value();
  o.timekey = 3600;
  o.timekey_use_utc = true;
  Buffer b("out", o, make_memory_store(), clock, metrics);
  REQUIRE(b.start());
  REQUIRE(write(b, make_batch("a", 0, 3, 1'700'000'000, "h1")));
  REQUIRE(write(b, make_batch("b", 3, 2, 1'700'000'000, "h1")));
  REQUIRE(write(b, make_batch("a", 5, 2, 1'700'000'000 + 3600, "h1")));
  REQUIRE(write(b, make_batch("a", 7, 1, 1'700'000'000, "h2")));
  CHECK(b.stats().stage_chunks == 4);
  b.enqueue_all();
  std::set<std::string> seen;
  while (auto c = b.dequeue()) {
    const auto& m = c->metadata();
    seen.insert(*m.tag + "/" + std::to_string(*m.timekey) + "/" + m.variables.at(0).second);
    CHECK(*m.timekey % 3600 == 0);
    b.purge(c);
  }
  CHECK(seen.size() == 4);
  CHECK(seen.count("a/1699999200/h1"));
}

TEST_CASE_METHOD(Fixture, "buffer: chunk_limit_records and chunk_limit_size split chunks") {
  BufferOptions o;
  o.chunk_limit_records = 10;
  Buffer b("out", o, make_memory_store(), clock, metrics);
  REQUIRE(b.start());
  REQUIRE(write(b, make_batch("t", 0, 35)));
  CHECK(b.stats().queue_chunks == 3);
  auto got = drain(b);
  REQUIRE(got.size() == 35);
  for (int i = 0; i < 35; ++i) CHECK(got[i] == i);
  BufferOptions s;
  s.chunk_limit_size = 200;
  Buffer small("small", s, make_memory_store(), clock, metrics);
  REQUIRE(small.start());
  auto batch = make_batch("t", 0, 20);
  REQUIRE(small.write(batch));
  small.enqueue_all();
  std::size_t chunks = 0, events = 0;
  while (auto c = small.dequeue()) {
    CHECK(c->bytes() <= 200);
    ++chunks;
    events += c->records();
    small.purge(c);
  }
  CHECK(events == 20);
  CHECK(chunks >= (batch.data.size() + 199) / 200);
}

TEST_CASE_METHOD(Fixture, "buffer: overflow actions") {
  BufferOptions o;
  o.chunk_limit_size = 1000;
  o.total_limit_size = 3000;
  SECTION("throw_exception refuses the write and counts it") {
    Buffer b("out", o, make_memory_store(), clock, metrics);
    REQUIRE(b.start());
    Status last;
    int accepted = 0;
    for (int i = 0; i < 200 && last; ++i) {
      last = write(b, make_batch("t", i, 1));
      if (last) ++accepted;
    }
    REQUIRE_FALSE(last);
    CHECK(last.error().code == ErrorCode::kResourceExhausted);
    CHECK(metrics.value("agentd_buffer_overflow_total", {{"plugin_id", "out"}}) == 1);
    CHECK(drain(b).size() == static_cast<std::size_t>(accepted));
  }
  SECTION("drop_oldest_chunk drops queued chunks and counts their events") {
    o.overflow_action = OverflowAction::kDropOldestChunk;
    Buffer b("out", o, make_memory_store(), clock, metrics);
    REQUIRE(b.start());
    for (int i = 0; i < 200; ++i) REQUIRE(write(b, make_batch("t", i, 1)));
    auto got = drain(b);
    auto dropped = metrics.value("agentd_buffer_dropped_records_total", {{"plugin_id", "out"}});
    CHECK(dropped > 0);
    CHECK(got.size() + static_cast<std::size_t>(dropped) == 200);
    CHECK(got.back() == 199);  // the newest survive
  }
}

TEST_CASE_METHOD(Fixture, "buffer: flush_interval enqueues staged chunks when due") {
  BufferOptions o;
  o.flush_interval = 5;
  Buffer b("out", o, make_memory_store(), clock, metrics);
  REQUIRE(b.start());
  REQUIRE(write(b, make_batch("t", 0, 3)));
  auto next = b.enqueue_due();
  CHECK(b.stats().queue_chunks == 0);
  REQUIRE(next);
  clock.advance(std::chrono::seconds(5));
  b.enqueue_due();
  CHECK(b.stats().queue_chunks == 1);
}

TEST_CASE_METHOD(Fixture, "file buffer: chunks survive a restart, staged and queued") {
  BufferOptions o;
  o.chunk_limit_records = 10;
  {
    auto b = file_buffer(o);
    REQUIRE(b->start());
    REQUIRE(write(*b, make_batch("t", 0, 25)));  // 2 queued + 1 staged
    // No close(): as if the process died here.
    auto names = test::files_under(dir / "out");
    CHECK(names.size() == 4);  // 3 chunks + lock
  }
  auto again = file_buffer(o);
  REQUIRE(again->start());
  CHECK(again->stats().queue_chunks == 3);
  auto got = drain(*again);
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == 25);
  for (int i = 0; i < 25; ++i) CHECK(got[i] == i);
}

TEST_CASE_METHOD(Fixture, "file buffer: a torn tail is cut and counted at recovery") {
  BufferOptions o;
  {
    auto b = file_buffer(o);
    REQUIRE(b->start());
    REQUIRE(write(*b, make_batch("t", 0, 5)));
    REQUIRE(write(*b, make_batch("t", 5, 5)));
  }
  auto chunk = test::files_under(dir / "out");
  std::string path;
  for (auto& f : chunk) {
    if (f.find("buffer.b") != std::string::npos) path = f;
  }
  REQUIRE(!path.empty());
  // Tear the last frame as a crash mid-write would: its final 7 bytes and
  // the end marker that follows it never written.
  auto size = std::filesystem::file_size(path) - chunk_format::kEndMarker.size();
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size - 7)) == 0);
  auto b = file_buffer(o);
  REQUIRE(b->start());
  auto got = drain(*b);
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(metrics.value("agentd_buffer_torn_records_total", {{"plugin_id", "out"}}) == 5);
}

TEST_CASE_METHOD(Fixture, "file buffer: garbage chunk files are quarantined, not fatal") {
  test::write_file(dir / "out/buffer.b0123456789abcdef0123456789abcdef.log", "garbage");
  auto b = file_buffer(BufferOptions{});
  REQUIRE(b->start());
  CHECK(metrics.value("agentd_buffer_corrupt_chunks_total", {{"plugin_id", "out"}}) == 1);
  CHECK(std::filesystem::exists(dir / "out/buffer.b0123456789abcdef0123456789abcdef.log.corrupt"));
}

TEST_CASE_METHOD(Fixture, "file buffer: two owners of one directory are refused") {
  auto a = file_buffer(BufferOptions{});
  REQUIRE(a->start());
  // flock is per open file description: a second store in this process
  // conflicts exactly as another process would.
  auto b = file_buffer(BufferOptions{});
  auto s = b->start();
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("is in use by another process"));
}

TEST_CASE_METHOD(Fixture,
                 "buffer: a failed write leaves exactly the unwritten events in the batch") {
  BufferOptions o;
  o.chunk_limit_size = 1000;
  o.total_limit_size = 3000;
  Buffer b("out", o, make_memory_store(), clock, metrics);
  REQUIRE(b.start());
  auto batch = make_batch("t", 0, 200);  // ~8 KB: more than the buffer holds
  auto s = b.write(batch);
  REQUIRE_FALSE(s);
  std::size_t left = batch.entries.size();
  REQUIRE(left > 0);
  REQUIRE(left < 200);
  // Drain and retry the rest until all is written: no event twice, none lost.
  std::vector<int> all = drain(b);
  for (bool done = false; !done;) {
    std::size_t before = batch.entries.size();
    done = b.write(batch).has_value();
    REQUIRE((done || batch.entries.size() < before));  // every retry makes progress
    auto more = drain(b);
    all.insert(all.end(), more.begin(), more.end());
  }
  REQUIRE(all.size() == 200);
  for (int i = 0; i < 200; ++i) CHECK(all[i] == i);
}

TEST_CASE_METHOD(Fixture, "buffer: lazy flush waits for the timekey range plus timekey_wait") {
  BufferOptions o;
  o.keys = ChunkKeys::parse("time").value();
  o.timekey = 60;
  o.timekey_wait = 10;
  o.timekey_use_utc = true;
  o.flush_mode = FlushMode::kLazy;
  Buffer b("out", o, make_memory_store(), clock, metrics);
  REQUIRE(b.start());
  // clock: 1'700'000'000 s = 22:13:20 UTC; the event's range is [22:13:00, 22:14:00).
  REQUIRE(write(b, make_batch("t", 0, 3, 1'700'000'000)));
  b.enqueue_due();
  CHECK(b.stats().queue_chunks == 0);
  clock.advance(std::chrono::seconds(49));  // 22:14:09: range over, wait not yet
  b.enqueue_due();
  CHECK(b.stats().queue_chunks == 0);
  clock.advance(std::chrono::seconds(1));  // 22:14:10
  b.enqueue_due();
  CHECK(b.stats().queue_chunks == 1);
}
