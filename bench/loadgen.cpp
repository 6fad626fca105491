// tcp_loadgen: sends N numbered lines of a fixed size over one TCP connection
// to HOST:PORT (default 127.0.0.1) as fast as the receiver takes them, then
// prints the send duration.
// Usage: tcp_loadgen PORT COUNT [LINE_BYTES] [EVENTS_PER_SECOND] [HOST]
// With a rate, lines go out in batches of rate/100 every 10 ms (bounded load
// for demos and latency runs); without one, as fast as the receiver reads.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PORT COUNT [LINE_BYTES] [EVENTS_PER_SECOND] [HOST]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  long count = std::atol(argv[2]);
  std::size_t line_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 200;
  long rate = argc > 4 ? std::atol(argv[4]) : 0;
  long per_tick = rate > 0 ? std::max(1L, rate / 100) : 0;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  const char* host = argc > 5 ? argv[5] : "127.0.0.1";
  if (::inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    std::fprintf(stderr, "bad host %s\n", host);
    return 2;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    return 1;
  }
  std::string buf;
  buf.reserve(1 << 20);
  auto start = std::chrono::steady_clock::now();
  auto next = start;
  for (long i = 0; i < count; ++i) {
    std::string head = "seq=" + std::to_string(i) + " ";
    buf += head;
    buf.append(line_bytes - 1 - head.size(), 'x');
    buf.push_back('\n');
    bool tick = per_tick > 0 && (i + 1) % per_tick == 0;
    if (buf.size() >= (1 << 20) - line_bytes || i + 1 == count || tick) {
      for (std::size_t off = 0; off < buf.size();) {
        ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
          std::perror("send");
          return 1;
        }
        off += static_cast<std::size_t>(n);
      }
      buf.clear();
      if (tick) {
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);
      }
    }
  }
  ::close(fd);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %ld lines (%zu bytes each) in %.3f s\n", count, line_bytes, s);
  return 0;
}
