// The chunk file format: golden samples of every version are read by current
// code, every frame keeps its tag, and a damaged frame in the middle of a
// chunk costs only that frame — counted exactly and kept aside as *.corrupt.
#include <catch2/catch.hpp>
#include <filesystem>

#include "agentd/buffer/buffer.h"
#include "agentd/buffer/file_chunk.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

const std::string kGoldenId = "0123456789abcdef0123456789abcdef";

struct Fixture {
  ManualClock clock{1'700'000'000'000'000'000};
  Metrics metrics;
  test::TempDir dir;
  std::unique_ptr<Buffer> buffer() {
    FileStoreOptions fo;
    fo.dir = dir / "buf";
    return std::make_unique<Buffer>("out", BufferOptions{}, make_file_store(fo), clock, metrics);
  }
  double metric(const std::string& name) { return metrics.value(name, {{"plugin_id", "out"}}); }
};

// "tag:seq" for every event of every queued chunk, in order.
std::vector<std::string> drain(Buffer& b) {
  b.enqueue_all();
  std::vector<std::string> out;
  while (auto c = b.dequeue()) {
    REQUIRE(c->read([&](std::string_view tag, std::string_view unit) {
      return for_each_entry(unit, [&](EventTime, std::string_view rec) {
        out.push_back(std::string(tag) + ":" + lookup_field(rec, {"message"}).value());
      });
    }));
    b.purge(c);
  }
  return out;
}

EventBatch batch(const std::string& tag, int from, int n) {
  EventBatch b;
  b.tag = tag;
  RecordWriter w(b);
  for (int i = from; i < from + n; ++i) {
    w.begin(EventTime{1'700'000'000'000'000'000}, 1);
    w.field("message", "seq=" + std::to_string(i));
    w.end();
  }
  return b;
}

void install_golden(const std::string& name, const std::string& buffer_dir) {
  std::filesystem::create_directories(buffer_dir);
  std::filesystem::permissions(buffer_dir, std::filesystem::perms::owner_all);
  test::write_file(buffer_dir + "/buffer.q" + kGoldenId + ".log",
                   test::read_file(std::string(LOGCTL_TESTS_DIR) + "/golden/" + name));
}

}  // namespace

TEST_CASE_METHOD(Fixture, "chunk format 1 (golden): frames take the header's tag") {
  install_golden("chunk-v1.log", dir / "buf");
  auto b = buffer();
  REQUIRE(b->start());
  CHECK(drain(*b) == std::vector<std::string>{"app.web:seq=0", "app.web:seq=1", "app.web:seq=2"});
  CHECK(metric("agentd_buffer_torn_records_total") == 0);
}

TEST_CASE_METHOD(Fixture, "chunk format 2 (golden): every frame carries its own tag") {
  install_golden("chunk-v2.log", dir / "buf");
  auto b = buffer();
  REQUIRE(b->start());
  CHECK(drain(*b) == std::vector<std::string>{"app.web:seq=0", "app.web:seq=1", "app.db:seq=2"});
}

TEST_CASE_METHOD(Fixture,
                 "chunk format 2 in a reused file (golden): the data ends at the end marker") {
  // Written by the independent encoder (tests/golden/README.md): chunk-v2's
  // bytes, the end marker, then an earlier use's two retired frames, its end
  // marker and junk.
  install_golden("chunk-v2-reused.log", dir / "buf");
  auto b = buffer();
  REQUIRE(b->start());
  CHECK(drain(*b) == std::vector<std::string>{"app.web:seq=0", "app.web:seq=1", "app.db:seq=2"});
  CHECK(metric("agentd_buffer_torn_records_total") == 0);
  CHECK(metric("agentd_buffer_torn_bytes_total") == 0);
}

TEST_CASE_METHOD(Fixture,
                 "file buffer: a reused chunk file yields only its own events, after a crash too") {
  auto kept_files = [&] {
    int n = 0;
    for (const auto& f : test::files_under(dir / "buf")) {
      if (f.find("/buffer.f") != std::string::npos) ++n;
    }
    return n;
  };
  std::string path;
  std::uintmax_t first_size = 0;
  {
    auto b = buffer();
    REQUIRE(b->start());
    // A first chunk of 20 frames, written out: its file is kept.
    for (int f = 0; f < 20; ++f) {
      auto bt = batch("old", f * 50, 50);
      REQUIRE(b->write(bt));
    }
    CHECK(drain(*b).size() == 1000);
    CHECK(kept_files() == 1);
    // The next chunk, smaller, takes that file: what follows its data is
    // the first chunk's bytes.
    for (int f = 0; f < 3; ++f) {
      auto bt = batch("new", f, 1);
      REQUIRE(b->write(bt));
    }
    CHECK(kept_files() == 0);
    for (const auto& f : test::files_under(dir / "buf")) {
      if (f.find("/buffer.b") != std::string::npos) path = f;
    }
    REQUIRE(!path.empty());
    first_size = std::filesystem::file_size(path);
    CHECK(first_size > 20 * 50 * 20);  // still the first chunk's length
    // The process dies here (no flush): the buffer is only closed.
  }
  // An older agentd knows no end marker: it resynchronises past it, and
  // finds no frame there either — every earlier frame was retired.
  std::string bytes = test::read_file(path);
  auto h = chunk_format::decode_header(bytes).value();
  auto scan = chunk_format::scan_frames(bytes, h);
  REQUIRE(scan.frames.size() == 3);
  CHECK(scan.damage.empty());
  auto at = bytes.find(chunk_format::kEndMarker, h.size);
  REQUIRE(at == scan.end);
  std::string older = bytes;
  for (auto m = older.find("LGFE"); m != std::string::npos; m = older.find("LGFE", m + 1)) {
    older.replace(m, 4, "LGFX");  // what a reader without the marker sees: not a frame
  }
  auto old_scan = chunk_format::scan_frames(older, h);
  CHECK(old_scan.frames.size() == 3);
  for (const auto& fr : old_scan.frames) CHECK(fr.tag == "new");

  auto b = buffer();
  REQUIRE(b->start());  // recovered from disk
  CHECK(drain(*b) == std::vector<std::string>{"new:seq=0", "new:seq=1", "new:seq=2"});
  CHECK(metric("agentd_buffer_torn_records_total") == 0);
  CHECK(metric("agentd_buffer_torn_bytes_total") == 0);
  CHECK(metric("agentd_buffer_corrupt_chunks_total") == 0);
}

TEST_CASE_METHOD(Fixture, "file buffer: events keep their tag when tag is not a chunk key") {
  {
    auto b = buffer();
    REQUIRE(b->start());
    auto one = batch("a.one", 0, 2);
    auto two = batch("b.two", 2, 1);
    REQUIRE(b->write(one));
    REQUIRE(b->write(two));
  }
  auto b = buffer();
  REQUIRE(b->start());  // recovered from disk
  CHECK(drain(*b) == std::vector<std::string>{"a.one:seq=0", "a.one:seq=1", "b.two:seq=2"});
}

TEST_CASE_METHOD(Fixture,
                 "file buffer: a flipped byte mid-chunk loses only its frame, counted exactly") {
  {
    auto b = buffer();
    REQUIRE(b->start());
    for (int f = 0; f < 10; ++f) {
      auto bt = batch("t", f * 100, 100);
      REQUIRE(b->write(bt));
    }
  }
  std::string path;
  for (const auto& f : test::files_under(dir / "buf")) {
    if (f.find("buffer.b") != std::string::npos) path = f;
  }
  REQUIRE(!path.empty());
  std::string bytes = test::read_file(path);
  auto h = chunk_format::decode_header(bytes).value();
  auto frames = chunk_format::scan_frames(bytes, h).frames;
  REQUIRE(frames.size() == 10);
  SECTION("in a payload: the frame's count is known") {
    bytes[frames[3].offset + frames[3].size - 5] ^= 0x20;
    test::write_file(path, bytes);
    auto b = buffer();
    REQUIRE(b->start());
    auto got = drain(*b);
    CHECK(got.size() == 900);
    CHECK(metric("agentd_buffer_torn_records_total") == 100);
    CHECK(std::find(got.begin(), got.end(), "t:seq=299") != got.end());
    CHECK(std::find(got.begin(), got.end(), "t:seq=300") == got.end());
    CHECK(std::find(got.begin(), got.end(), "t:seq=400") != got.end());
    CHECK(std::find(got.begin(), got.end(), "t:seq=999") != got.end());
    REQUIRE(std::filesystem::exists(path + ".corrupt"));
    CHECK(std::filesystem::file_size(path + ".corrupt") == frames[3].size);
  }
  SECTION("in a frame header: reading resumes at the next frame") {
    bytes[frames[5].offset + 9] ^= 0x01;  // the payload length
    test::write_file(path, bytes);
    auto b = buffer();
    REQUIRE(b->start());
    CHECK(drain(*b).size() == 900);
    CHECK(metric("agentd_buffer_torn_bytes_total") == static_cast<double>(frames[5].size));
    CHECK(std::filesystem::exists(path + ".corrupt"));
  }
  // What was recovered stays recovered: a second start finds a clean chunk.
  auto again = buffer();
  REQUIRE(again->start());
}

TEST_CASE("chunk scan: arbitrary garbage between frames is skipped, never fatal") {
  std::string file = chunk_format::encode_header(kGoldenId, ChunkMetadata{}, 1);
  EventBatch b = batch("t", 0, 3);
  std::string frame = chunk_format::encode_frame_header("t", b.data, 3) + b.data;
  file += frame + "LGF2garbageLGF2" + frame + std::string(40, '\xff') + frame.substr(0, 30);
  auto h = chunk_format::decode_header(file).value();
  auto scan = chunk_format::scan_frames(file, h);
  CHECK(scan.frames.size() == 2);
  REQUIRE(scan.damage.size() == 3);
  CHECK_FALSE(scan.damage[0].records_known);
  CHECK(scan.damage[2].records == 3);  // the torn tail's header was whole
}
