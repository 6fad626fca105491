// page_cache_probe: what writing 1 GiB into the page cache costs this machine
// in CPU, three ways, as the file buffer could write its chunks:
//   fresh     64 new 16 MiB files kept until the end: pages the kernel had
//             not used lately (on a VM whose balloon reports free pages to
//             the host, each is faulted in again there);
//   recycled  a new file per chunk, deleted after it (agentd today: the
//             pages just freed by the last chunk come back);
//   overwrite one file written again and again at the same offsets (pages
//             already in the cache: a reused chunk file).
// Runs each REPEAT times (default 2) in that order; prints CPU s per GiB.
// Usage: page_cache_probe DIR [REPEAT]   (DIR on the buffer's file system)
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kChunk = 16 << 20, kPiece = 1 << 20, kChunks = 64;

double cpu_seconds() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

bool write_chunk(const std::string& path, bool truncate, const std::vector<char>& piece) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0600);
  if (fd < 0) return false;
  bool ok = true;
  for (std::size_t off = 0; ok && off < kChunk; off += kPiece) {
    ok =
        ::pwrite(fd, piece.data(), kPiece, static_cast<off_t>(off)) == static_cast<ssize_t>(kPiece);
  }
  return ::close(fd) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [REPEAT]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  int repeat = argc > 2 ? std::atoi(argv[2]) : 2;
  std::vector<char> piece(kPiece, 'x');
  for (int r = 0; r < repeat; ++r) {
    for (const char* mode : {"fresh", "recycled", "overwrite"}) {
      std::string m = mode;
      double c0 = cpu_seconds();
      for (std::size_t i = 0; i < kChunks; ++i) {
        std::string path = dir + "/probe-" + (m == "overwrite" ? "0" : std::to_string(i));
        if (!write_chunk(path, m != "overwrite", piece)) {
          std::perror(path.c_str());
          return 1;
        }
        if (m == "recycled") ::unlink(path.c_str());
      }
      double used = cpu_seconds() - c0;
      for (std::size_t i = 0; i < kChunks; ++i)
        ::unlink((dir + "/probe-" + std::to_string(i)).c_str());
      std::printf("%-9s %.3f CPU s per GiB written\n", mode, used);
    }
  }
  return 0;
}
