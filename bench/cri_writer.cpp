// cri_writer: appends COUNT containerd (CRI) log lines of LINE_BYTES bytes,
// numbered, spread round-robin over the FILES given (BATCH lines per file per
// turn, one write(2) each), as containerd does for many containers at once.
// Prints the write duration.
// Usage: cri_writer COUNT LINE_BYTES BATCH FILE...
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s COUNT LINE_BYTES BATCH FILE...\n", argv[0]);
    return 2;
  }
  long count = std::atol(argv[1]);
  std::size_t bytes = std::strtoul(argv[2], nullptr, 10);
  long batch = std::atol(argv[3]);
  std::vector<int> fds;
  for (int i = 4; i < argc; ++i) {
    int fd = ::open(argv[i], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::perror(argv[i]);
      return 1;
    }
    fds.push_back(fd);
  }
  const std::string head = "2026-12-03T07:00:00.123456789Z stdout F seq=";
  auto t0 = std::chrono::steady_clock::now();
  std::string buf;
  long n = 0;
  for (std::size_t f = 0; n < count; f = (f + 1) % fds.size()) {
    buf.clear();
    for (long i = 0; i < batch && n < count; ++i, ++n) {
      std::size_t start = buf.size();
      buf += head;
      buf += std::to_string(n);
      buf.push_back(' ');
      if (buf.size() - start < bytes - 1) buf.append(bytes - 1 - (buf.size() - start), 'x');
      buf.push_back('\n');
    }
    for (std::size_t off = 0; off < buf.size();) {
      ssize_t w = ::write(fds[f], buf.data() + off, buf.size() - off);
      if (w <= 0) {
        std::perror("write");
        return 1;
      }
      off += static_cast<std::size_t>(w);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %ld lines in %.2f s\n", count, secs);
  for (int fd : fds) ::close(fd);
  return 0;
}
