// forward_loadgen: sends COUNT numbered events over one TCP connection to a
// forward-protocol server (in_forward) as PackedForward messages of 1,000
// events, as fast as the receiver reads, then prints the send duration.
// Each event is [EventTime, {"message": "seq=N xxx…"}] with a message of
// EVENT_BYTES - 1 bytes (the line out_file writes with single_value is
// EVENT_BYTES long). No chunk option: the first hop is not acknowledged.
// Usage: forward_loadgen PORT COUNT [EVENT_BYTES] [TAG]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace {

void be(std::string& out, std::uint64_t v, int bytes) {
  for (int s = (bytes - 1) * 8; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s));
}

void str(std::string& out, const std::string& s) {
  if (s.size() < 32) {
    out.push_back(static_cast<char>(0xa0 | s.size()));
  } else if (s.size() < 256) {
    out.push_back(static_cast<char>(0xd9));
    be(out, s.size(), 1);
  } else {
    out.push_back(static_cast<char>(0xda));
    be(out, s.size(), 2);
  }
  out += s;
}

bool send_all(int fd, const std::string& b) {
  for (std::size_t off = 0; off < b.size();) {
    ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PORT COUNT [EVENT_BYTES] [TAG]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  long count = std::atol(argv[2]);
  std::size_t bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 200;
  std::string tag = argc > 4 ? argv[4] : "bench";
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    return 1;
  }
  constexpr long kPerMessage = 1000;
  auto start = std::chrono::steady_clock::now();
  std::string entries, msg;
  for (long first = 0; first < count; first += kPerMessage) {
    entries.clear();
    auto secs = static_cast<std::uint64_t>(std::time(nullptr));
    for (long i = first; i < std::min(count, first + kPerMessage); ++i) {
      entries.push_back(static_cast<char>(0x92));
      entries.push_back(static_cast<char>(0xd7));  // EventTime: fixext 8, type 0
      entries.push_back(0);
      be(entries, secs, 4);
      be(entries, static_cast<std::uint64_t>(i % 1'000'000'000), 4);
      entries.push_back(static_cast<char>(0x81));
      str(entries, "message");
      std::string m = "seq=" + std::to_string(i) + " ";
      m.append(bytes - 1 - m.size(), 'x');
      str(entries, m);
    }
    msg.clear();
    msg.push_back(static_cast<char>(0x92));
    str(msg, tag);
    msg.push_back(static_cast<char>(0xc6));  // bin 32
    be(msg, entries.size(), 4);
    msg += entries;
    if (!send_all(fd, msg)) {
      std::perror("send");
      return 1;
    }
  }
  ::close(fd);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %ld events (%zu bytes each) in %.3f s\n", count, bytes, s);
  return 0;
}
