// store::for_each_artifact_chunk: an artifact file in the database's pieces.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "controller/store/artifact_file.h"
#include "support/harness.h"

using namespace logctl;
using namespace logctl::store;
using namespace logctl::test;

TEST_CASE("artifact files are read in 1 MiB pieces, in order, and errors name the file") {
  TempDir dir;
  std::string text(2 * kArtifactChunkBytes + 12345, '\0');
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i * 7 % 251);
  write_file(dir / "a.bin", text);
  std::vector<int> seqs;
  std::string joined;
  REQUIRE(for_each_artifact_chunk(dir / "a.bin", [&](int seq, std::string_view bytes) -> Status {
    seqs.push_back(seq);
    joined += bytes;
    return {};
  }));
  CHECK(seqs == std::vector<int>{0, 1, 2});
  CHECK(joined == text);

  // Exactly one piece long: one call, no empty one after it.
  write_file(dir / "one.bin", std::string(kArtifactChunkBytes, 'x'));
  int calls = 0;
  REQUIRE(for_each_artifact_chunk(dir / "one.bin", [&](int, std::string_view b) -> Status {
    ++calls;
    CHECK(b.size() == kArtifactChunkBytes);
    return {};
  }));
  CHECK(calls == 1);

  write_file(dir / "empty.bin", "");
  calls = 0;
  REQUIRE(for_each_artifact_chunk(dir / "empty.bin", [&](int, std::string_view) -> Status {
    ++calls;
    return {};
  }));
  CHECK(calls == 0);

  // The first error from the callback stops the reading and comes back.
  calls = 0;
  auto stopped = for_each_artifact_chunk(dir / "a.bin", [&](int, std::string_view) -> Status {
    ++calls;
    return make_error(ErrorCode::kIo, "database gone");
  });
  REQUIRE_FALSE(stopped);
  CHECK(calls == 1);
  CHECK(stopped.error().message == "database gone");

  auto missing =
      for_each_artifact_chunk(dir / "nope.bin", [](int, std::string_view) -> Status { return {}; });
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::Contains(dir / "nope.bin"));

  // A link planted at the file's place is not followed.
  REQUIRE(::symlink((dir / "a.bin").c_str(), (dir / "link.bin").c_str()) == 0);
  auto link =
      for_each_artifact_chunk(dir / "link.bin", [](int, std::string_view) -> Status { return {}; });
  REQUIRE_FALSE(link);
  CHECK(link.error().code == ErrorCode::kIo);
}
