// Fuzzes the chunk file reader (header decoding and frame scan with
// resynchronisation): frames and damaged runs must tile the file after the
// header up to its end (the end marker, or the input's end) exactly, in
// order, every frame's tag and payload inside the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agentd/buffer/file_chunk.h"

using namespace logctl::agentd;

static void check(bool ok) {
  if (!ok) __builtin_trap();
}

static void check_inside(std::string_view whole, std::string_view part) {
  if (part.empty()) return;
  check(part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view file(reinterpret_cast<const char*>(data), size);
  auto h = chunk_format::decode_header(file);
  if (!h) return 0;
  check(h->size <= file.size());
  auto scan = chunk_format::scan_frames(file, *h);
  std::uint64_t off = h->size;
  std::size_t f = 0, d = 0;
  while (f < scan.frames.size() || d < scan.damage.size()) {
    if (f < scan.frames.size() && scan.frames[f].offset == off) {
      const auto& fr = scan.frames[f++];
      check(fr.size > 0);
      check_inside(file, fr.payload);
      if (h->version > 1) check_inside(file, fr.tag);
      off += fr.size;
    } else {
      check(d < scan.damage.size() && scan.damage[d].offset == off && scan.damage[d].size > 0);
      off += scan.damage[d++].size;
    }
  }
  check(off == scan.end);
  check(scan.end == file.size() ||
        (h->version > 1 &&
         file.substr(scan.end, chunk_format::kEndMarker.size()) == chunk_format::kEndMarker));
  return 0;
}
