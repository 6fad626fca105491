// tcp_loadgen: sends N numbered lines of a fixed size over TCP to HOST:PORT
// (default 127.0.0.1) as fast as the receiver takes them, then prints the
// send duration. With several connections, each is a thread of its own and
// connection c sends the lines numbered c, c + C, c + 2C, ...: every number
// from 0 to COUNT-1 goes out exactly once (bench/line_check verifies it).
// Usage: tcp_loadgen PORT COUNT [LINE_BYTES] [EVENTS_PER_SECOND] [HOST] [CONNECTIONS]
// With a rate (over all connections), lines go out in batches every 10 ms
// (bounded load for demos and latency runs); without one (0), as fast as the
// receiver reads.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Plan {
  sockaddr_in addr{};
  long count = 0;
  std::size_t line_bytes = 200;
  long per_tick = 0;  // lines per 10 ms per connection; 0: unpaced
  long connections = 1;
};

// Sends lines first, first + step, ... below plan.count on one connection.
bool send_share(const Plan& plan, long first) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&plan.addr), sizeof plan.addr)) {
    std::perror("connect");
    if (fd >= 0) ::close(fd);
    return false;
  }
  std::string buf;
  buf.reserve(1 << 20);
  auto next = std::chrono::steady_clock::now();
  long in_tick = 0;
  for (long i = first; i < plan.count; i += plan.connections) {
    std::string head = "seq=" + std::to_string(i) + " ";
    buf += head;
    buf.append(plan.line_bytes - 1 - head.size(), 'x');
    buf.push_back('\n');
    bool tick = plan.per_tick > 0 && ++in_tick == plan.per_tick;
    bool last = i + plan.connections >= plan.count;
    if (buf.size() >= (1 << 20) - plan.line_bytes || last || tick) {
      for (std::size_t off = 0; off < buf.size();) {
        ssize_t n = ::send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
        if (n <= 0) {
          std::perror("send");
          ::close(fd);
          return false;
        }
        off += static_cast<std::size_t>(n);
      }
      buf.clear();
      if (tick) {
        in_tick = 0;
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);
      }
    }
  }
  ::close(fd);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s PORT COUNT [LINE_BYTES] [EVENTS_PER_SECOND] [HOST] [CONNECTIONS]\n",
                 argv[0]);
    return 2;
  }
  Plan plan;
  plan.addr.sin_family = AF_INET;
  plan.addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  plan.count = std::atol(argv[2]);
  plan.line_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 200;
  long rate = argc > 4 ? std::atol(argv[4]) : 0;
  const char* host = argc > 5 ? argv[5] : "127.0.0.1";
  plan.connections = argc > 6 ? std::atol(argv[6]) : 1;
  if (::inet_pton(AF_INET, host, &plan.addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad host %s\n", host);
    return 2;
  }
  if (plan.line_bytes < 32 || plan.connections < 1 || plan.connections > 1024) {
    std::fprintf(stderr, "LINE_BYTES must be at least 32 and CONNECTIONS 1 to 1024\n");
    return 2;
  }
  if (rate > 0) plan.per_tick = std::max(1L, rate / 100 / plan.connections);

  auto start = std::chrono::steady_clock::now();
  std::atomic<bool> ok = true;
  std::vector<std::thread> threads;
  for (long c = 0; c < plan.connections; ++c) {
    threads.emplace_back([&, c] {
      if (!send_share(plan, c)) ok = false;
    });
  }
  for (auto& t : threads) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %ld lines (%zu bytes each) over %ld connection(s) in %.3f s\n", plan.count,
              plan.line_bytes, plan.connections, s);
  return ok ? 0 : 1;
}
