// line_check: verifies that the files given hold exactly the lines
// tcp_loadgen (or cri_writer's payloads) numbered 0 to COUNT-1, each once:
// every line LINE_BYTES long with its newline and starting "seq=N ". Reads
// each file once, sequentially, after a benchmark's clock has stopped.
// Prints one summary line; exits 0 only when every number is there once and
// nothing else is.
// Usage: line_check COUNT LINE_BYTES FILE...
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s COUNT LINE_BYTES FILE...\n", argv[0]);
    return 2;
  }
  const unsigned long count = std::strtoul(argv[1], nullptr, 10);
  const std::size_t line_bytes = std::strtoul(argv[2], nullptr, 10);
  std::vector<bool> seen(count);
  unsigned long lines = 0, malformed = 0, duplicates = 0;
  long first_bad = -1;
  for (int a = 3; a < argc; ++a) {
    int fd = ::open(argv[a], O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      std::perror(argv[a]);
      return 2;
    }
    if (st.st_size == 0) {
      ::close(fd);
      continue;
    }
    auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) {
      std::perror(argv[a]);
      return 2;
    }
    ::madvise(map, size, MADV_SEQUENTIAL);
    std::string_view text(static_cast<const char*>(map), size);
    for (std::size_t at = 0; at < text.size();) {
      std::size_t end = text.find('\n', at);
      std::size_t len = (end == std::string_view::npos ? text.size() : end + 1) - at;
      std::string_view line = text.substr(at, len);
      ++lines;
      unsigned long n = 0;
      bool ok = line.size() == line_bytes && line.starts_with("seq=");
      if (ok) {
        auto [p, ec] = std::from_chars(line.data() + 4, line.data() + line.size(), n);
        ok = ec == std::errc() && p < line.data() + line.size() && *p == ' ' && n < count;
      }
      if (!ok) {
        ++malformed;
        if (first_bad < 0) first_bad = static_cast<long>(lines);
      } else if (seen[n]) {
        ++duplicates;
      } else {
        seen[n] = true;
      }
      at += len;
    }
    ::munmap(map, size);
  }
  unsigned long missing = 0;
  long first_missing = -1;
  for (unsigned long i = 0; i < count; ++i) {
    if (!seen[i]) {
      if (first_missing < 0) first_missing = static_cast<long>(i);
      ++missing;
    }
  }
  std::printf("%lu lines: %lu of %lu numbers, %lu missing", lines, count - missing, count, missing);
  if (first_missing >= 0) std::printf(" (first seq=%ld)", first_missing);
  std::printf(", %lu duplicated, %lu malformed", duplicates, malformed);
  if (first_bad >= 0) std::printf(" (first at line %ld)", first_bad);
  std::printf("\n");
  return missing == 0 && duplicates == 0 && malformed == 0 ? 0 : 1;
}
