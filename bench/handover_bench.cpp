// handover_bench: the cost of a staged handover under load.
//
// Runs agentd (tcp input -> memory buffer, immediate flush -> file output),
// sends numbered, timestamped events at a fixed rate on one long-lived TCP
// connection, and triggers HANDOVERS handovers in a row (alternating agentd and
// agentd-next) over the control socket. A reader follows the output file and
// takes each event's latency (arrival in the file - send time). Prints:
//   handover duration p50/p99/max (the supervisor's "total" phase),
//   how long both generations read the listeners at once (from the workers'
//   CLOCK_MONOTONIC stamps: new began reading, old stopped) and so the
//   longest time with no reader,
//   event latency p50/p99/max outside handovers and for events sent during one,
//   lost and duplicated events (must be 0).
// Usage: handover_bench [HANDOVERS=50] [EVENTS_PER_SECOND=100000] [SETTLE_MS=500]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

using namespace logctl::test;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p / 100.0 * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  int handovers = argc > 1 ? std::atoi(argv[1]) : 50;
  long rate = argc > 2 ? std::atol(argv[2]) : 100000;
  std::string settle = argc > 3 ? argv[3] : "500";
  TempDir dir;
  int port = free_port();
  std::string cfg = "<source>\n @type tcp\n tag bench\n bind 127.0.0.1\n port " +
                    std::to_string(port) +
                    "\n <parse>\n @type none\n </parse>\n</source>\n<match **>\n @type file\n "
                    "path " +
                    dir / "out/events" +
                    "\n append true\n <format>\n @type single_value\n </format>\n <buffer>\n "
                    "@type memory\n flush_mode immediate\n </buffer>\n</match>\n";
  Agent agent(cfg, dir, "agentd", {"--settle-ms", settle});
  if (!agent.ready()) {
    std::fprintf(stderr, "agentd did not start:\n%s\n", agent.process().log().c_str());
    return 1;
  }
  // Sender: batches of rate/1000 every millisecond; each line carries its
  // sequence number and send time.
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0};
  std::thread sender([&] {
    TcpSender c(port);
    long per_ms = std::max(1L, rate / 1000);
    auto next = Clock::now();
    while (!stop && sent < rate * 600) {  // bounded: at most 10 minutes of load
      std::string batch;
      std::int64_t t = now_ns();
      for (long i = 0; i < per_ms; ++i) {
        long n = sent + i;
        batch += "seq=" + std::to_string(n) + " t=" + std::to_string(t) + " " +
                 std::string(40, 'x') + "\n";
      }
      if (!c.send(batch)) {
        std::fprintf(stderr, "send failed (connection reset)\n");
        break;
      }
      sent += per_ms;
      next += std::chrono::milliseconds(1);
      std::this_thread::sleep_until(next);
    }
  });
  // Reader: follows the output file; latency = arrival - send time.
  std::vector<std::pair<std::int64_t, double>> arrivals;  // (send ns, latency ms)
  std::vector<int> seen;
  std::atomic<long> arrived{0};
  std::atomic<bool> reader_stop{false};
  std::thread reader([&] {
    int fd = -1;
    std::string carry;
    char buf[1 << 16];
    while (!reader_stop) {
      if (fd < 0) {
        auto files = files_under(dir / "out");  // out_file names it events.<date>.log
        if (!files.empty()) fd = ::open(files[0].c_str(), O_RDONLY);
      }
      ssize_t n = fd < 0 ? 0 : ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // polling a file
        continue;
      }
      std::int64_t at = now_ns();
      carry.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1) {
        long seq = std::atol(carry.c_str() + start + 4);
        auto tp = carry.find(" t=", start);
        std::int64_t t = std::atoll(carry.c_str() + tp + 3);
        if (seq >= static_cast<long>(seen.size())) seen.resize(seq + 1);
        ++seen[seq];
        arrivals.emplace_back(t, (at - t) / 1e6);
        ++arrived;
      }
      carry.erase(0, start);
    }
    if (fd >= 0) ::close(fd);
  });
  wait_until([&] { return sent > rate; }, std::chrono::seconds(30));  // 1 s of load first
  std::vector<double> durations, overlaps;
  std::vector<std::pair<std::int64_t, std::int64_t>> windows;
  int failed = 0;
  for (int i = 0; i < handovers; ++i) {
    std::string bin = i % 2 == 0 ? agentd_build("agentd-next") : agentd_bin();
    nlohmann::json req = {{"op", "upgrade"}, {"binary", bin}};
    std::int64_t t0 = now_ns();
    auto r = nlohmann::json::parse(agent.control(req.dump()), nullptr, false);
    std::int64_t t1 = now_ns();
    if (r.is_discarded() || r.value("result", "") != "committed") {
      ++failed;
      std::fprintf(stderr, "handover %d: %s\n", i, r.is_discarded() ? "?" : r.dump().c_str());
      continue;
    }
    durations.push_back(r["phases_ms"]["total"].get<double>());
    overlaps.push_back(r["phases_ms"].value("readers_overlap", -1e9));
    windows.emplace_back(t0, t1);
  }
  wait_until([&] { return sent > 0; });
  std::int64_t end_load = now_ns() + 1'000'000'000;  // one more second of load
  wait_until([&] { return now_ns() > end_load; }, std::chrono::seconds(5));
  stop = true;
  sender.join();
  long total = sent;
  wait_until([&] { return arrived >= total; }, std::chrono::seconds(30));
  reader_stop = true;
  reader.join();
  long lost = 0, dup = 0;
  for (long i = 0; i < total; ++i) {
    int c = i < static_cast<long>(seen.size()) ? seen[i] : 0;
    lost += c == 0;
    dup += c > 1 ? c - 1 : 0;
  }
  std::vector<double> base, during;
  for (auto [t, ms] : arrivals) {
    bool in = false;
    for (auto [a, b] : windows) in |= t >= a && t <= b;
    (in ? during : base).push_back(ms);
  }
  std::printf("handovers: %d committed, %d failed; rate %ld events/s; settle %s ms\n",
              static_cast<int>(durations.size()), failed, rate, settle.c_str());
  std::printf("handover duration ms: p50 %.1f  p99 %.1f  max %.1f\n", pct(durations, 50),
              pct(durations, 99), pct(durations, 100));
  // Old stops reading at least this long after new began: a negative value
  // would be a gap with no reader.
  double min_overlap = overlaps.empty() ? 0 : *std::min_element(overlaps.begin(), overlaps.end());
  std::printf("both generations reading, ms: min %.3f  p50 %.3f  (no-reader gap: %.3f ms)\n",
              min_overlap, pct(overlaps, 50), std::max(0.0, -min_overlap));
  std::printf("event latency ms outside handovers: p50 %.2f  p99 %.2f  max %.2f  (%zu events)\n",
              pct(base, 50), pct(base, 99), pct(base, 100), base.size());
  std::printf("event latency ms sent during one:   p50 %.2f  p99 %.2f  max %.2f  (%zu events)\n",
              pct(during, 50), pct(during, 99), pct(during, 100), during.size());
  std::printf("added p99 latency during handovers: %.2f ms\n", pct(during, 99) - pct(base, 99));
  std::printf("events sent %ld, lost %ld, duplicated %ld\n", total, lost, dup);
  return lost == 0 && failed == 0 ? 0 : 1;
}
