// handover_bench: the cost of a staged handover under load.
//
// Runs agentd (tcp input -> memory buffer, immediate flush -> file output),
// sends numbered, timestamped events at a fixed rate over CONNECTIONS
// long-lived TCP connections (each millisecond's lines spread over them), and
// triggers HANDOVERS handovers in a row (alternating agentd and agentd-next)
// over the control socket. A reader follows the output file and
// takes each event's latency (arrival in the file - send time). Prints:
//   handover duration p50/p99/max (the supervisor's "total" phase),
//   how long both generations read the listeners at once (from the workers'
//   CLOCK_MONOTONIC stamps: new began reading, old stopped) and so the
//   longest time with no reader,
//   event latency p50/p99/max outside handovers and for events sent during one,
//   lost and duplicated events (must be 0),
//   each phase of the handover report: p50/p99/max.
// Usage: handover_bench [HANDOVERS=50] [EVENTS_PER_SECOND=100000] [SETTLE_MS=500]
//                       [CONNECTIONS=1] [GAP_MS=0] [WRITE_BEHIND=16m]
// GAP_MS: a pause after each handover (0: back to back, the old generation
// then often still holds the last ingest's backlog in its memory buffer).
// WRITE_BEHIND: out_file's write_behind. The reader punches out what it has
// read, so with 0 the output hardly reaches the disk (the kernel writes back
// dirty pages after 30 s); with write-behind all of it does, as it would in a
// long run of any agent.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
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

// Bytes written to the block device that holds `path` so far (its stat
// file's sectors written), or -1.
long long disk_written(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  std::string sys = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                    std::to_string(minor(st.st_dev)) + "/stat";
  long long f[7] = {};
  FILE* in = std::fopen(sys.c_str(), "r");
  if (!in) return -1;
  int n = std::fscanf(in, "%lld %lld %lld %lld %lld %lld %lld", &f[0], &f[1], &f[2], &f[3], &f[4],
                      &f[5], &f[6]);
  std::fclose(in);
  return n == 7 ? f[6] * 512 : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int handovers = argc > 1 ? std::atoi(argv[1]) : 50;
  long rate = argc > 2 ? std::atol(argv[2]) : 100000;
  std::string settle = argc > 3 ? argv[3] : "500";
  int connections = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  int gap_ms = argc > 5 ? std::max(0, std::atoi(argv[5])) : 0;
  std::string write_behind = argc > 6 ? argv[6] : "16m";
  TempDir dir;
  int port = free_port();
  std::string cfg = "<source>\n @type tcp\n tag bench\n bind 127.0.0.1\n port " +
                    std::to_string(port) +
                    "\n <parse>\n @type none\n </parse>\n</source>\n<match bench>\n @type file\n "
                    "path " +
                    dir / "out/events" + "\n append true\n write_behind " + write_behind +
                    "\n <format>\n @type single_value\n </format>\n <buffer>\n "
                    "@type memory\n flush_mode immediate\n </buffer>\n</match>\n";
  Agent agent(cfg, dir, "agentd", {"--settle-ms", settle});
  if (!agent.ready()) {
    std::fprintf(stderr, "agentd did not start:\n%s\n", agent.process().log().c_str());
    return 1;
  }
  // Sender: batches of rate/1000 every millisecond, spread over the
  // connections; each line carries its sequence number and send time.
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0};
  const long max_events = rate * 600;  // bounded: at most 10 minutes of load
  std::thread sender([&] {
    std::vector<std::unique_ptr<TcpSender>> conns;
    for (int k = 0; k < connections; ++k) conns.push_back(std::make_unique<TcpSender>(port));
    long per_ms = std::max(1L, rate / 1000);
    auto next = Clock::now();
    std::vector<std::string> batches(connections);
    bool ok = true;
    while (ok && !stop && sent < max_events) {
      std::int64_t t = now_ns();
      for (long i = 0; i < per_ms; ++i) {
        long n = sent + i;
        batches[i % connections] += "seq=" + std::to_string(n) + " t=" + std::to_string(t) + " " +
                                    std::string(40, 'x') + "\n";
      }
      for (int k = 0; k < connections && ok; ++k) {
        ok = batches[k].empty() || conns[k]->send(batches[k]);
        batches[k].clear();
      }
      if (!ok) {
        std::fprintf(stderr, "send failed (connection reset)\n");
        break;
      }
      sent += per_ms;
      next += std::chrono::milliseconds(1);
      std::this_thread::sleep_until(next);
    }
  });
  // Reader: follows the output file; latency = arrival - send time.
  // Per event: times seen, its send time and latency, in blocks of 2^20
  // events from calloc (pages touched as events arrive: growing one vector
  // copied and faulted in tens of MiB at once, a stall of the reader that
  // showed up as 50-150 ms of event latency).
  constexpr int kBlockBits = 20;
  struct Block {
    std::uint8_t* seen = static_cast<std::uint8_t*>(std::calloc(1 << kBlockBits, 1));
    std::int64_t* sent_at = static_cast<std::int64_t*>(std::calloc(1 << kBlockBits, 8));
    float* latency_ms = static_cast<float*>(std::calloc(1 << kBlockBits, 4));
    ~Block() {
      std::free(seen);
      std::free(sent_at);
      std::free(latency_ms);
    }
  };
  std::vector<std::unique_ptr<Block>> blocks;
  auto block_index = [](long seq) { return static_cast<std::size_t>(seq >> kBlockBits); };
  auto slot = [](long seq) { return static_cast<std::size_t>(seq & ((1L << kBlockBits) - 1)); };
  auto block_of = [&](long seq) -> Block* {
    auto b = block_index(seq);
    return b < blocks.size() ? blocks[b].get() : nullptr;
  };
  std::atomic<long> arrived{0};
  std::atomic<bool> reader_stop{false};
  long malformed = 0;
  std::thread reader([&] {
    int fd = -1;
    std::uint64_t read_off = 0, punched = 0;
    std::string carry;
    char buf[1 << 16];
    while (!reader_stop) {
      if (fd < 0) {
        auto files = files_under(dir / "out");  // out_file names it events.<date>.log
        if (!files.empty()) fd = ::open(files[0].c_str(), O_RDWR);
      }
      ssize_t n = fd < 0 ? 0 : ::read(fd, buf, sizeof buf);
      if (n > 0) {
        // What was read is punched out of the file (its size stays: agentd
        // appends as before): at 1 M events/s a long run wrote 20 GB, and the
        // disk's writeback, not agentd, set the latency once dirty pages hit
        // the kernel's limit.
        read_off += static_cast<std::uint64_t>(n);
        if (read_off - punched >= (64u << 20)) {
          std::uint64_t upto = read_off & ~std::uint64_t{4095};
          ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(punched),
                      static_cast<off_t>(upto - punched));
          punched = upto;
        }
      }
      if (n <= 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // polling a file
        continue;
      }
      std::int64_t at = now_ns();
      carry.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t nl; (nl = carry.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line(carry.data() + start, nl - start);
        auto tp = line.find(" t=");
        if (!line.starts_with("seq=") || tp == std::string_view::npos ||
            !line.ends_with(std::string(40, 'x'))) {
          if (malformed++ < 5) {
            std::fprintf(stderr, "malformed line: %.*s\n", static_cast<int>(line.size()),
                         line.data());
          }
          continue;
        }
        long seq = std::atol(line.data() + 4);
        std::int64_t t = std::atoll(line.data() + tp + 3);
        if (seq < 0 || seq >= max_events) continue;
        while (block_index(seq) >= blocks.size()) blocks.push_back(std::make_unique<Block>());
        Block& b = *blocks[block_index(seq)];
        auto k = slot(seq);
        if (b.seen[k] < 255) ++b.seen[k];
        b.sent_at[k] = t;
        b.latency_ms[k] = static_cast<float>((at - t) / 1e6);
        ++arrived;
      }
      carry.erase(0, start);
    }
    if (fd >= 0) ::close(fd);
  });
  long long disk_before = disk_written(dir.path());
  wait_until([&] { return sent > rate; }, std::chrono::seconds(30));  // 1 s of load first
  std::vector<double> durations, overlaps, spooled;
  std::vector<std::pair<std::string, std::vector<double>>> phases;  // in report order
  std::vector<std::pair<std::int64_t, std::int64_t>> windows;
  int failed = 0;
  for (int i = 0; i < handovers; ++i) {
    std::string bin = std::getenv("HANDOVER_BENCH_SAME") ? agentd_bin()
                      : i % 2 == 0                       ? agentd_build("agentd-next")
                                                         : agentd_bin();
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
    spooled.push_back(r.value("events_through_spool", 0.0));
    for (const auto& [name, ms] : r["phases_ms"].items()) {
      auto it =
          std::find_if(phases.begin(), phases.end(), [&](auto& p) { return p.first == name; });
      if (it == phases.end()) it = phases.insert(phases.end(), {name, {}});
      it->second.push_back(ms.get<double>());
    }
    overlaps.push_back(r["phases_ms"].value("readers_overlap", -1e9));
    windows.emplace_back(t0, t1);
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
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
    Block* b = block_of(i);
    int c = b ? b->seen[slot(i)] : 0;
    lost += c == 0;
    dup += c > 1 ? c - 1 : 0;
  }
  // HANDOVER_BENCH_TIMELINE=1: the worst latency per 100 ms of send time
  // (where the tail comes from: steady lag, or stalls).
  // (HANDOVER_BENCH_TIMELINE=N: per N ms instead.)
  if (const char* tl = std::getenv("HANDOVER_BENCH_TIMELINE"); tl && std::atoi(tl) > 0) {
    const std::int64_t bucket_ns = (std::atoi(tl) == 1 ? 100 : std::atoi(tl)) * 1'000'000LL;
    std::int64_t first = 0;
    std::vector<double> worst;
    for (long i = 0; i < total; ++i) {
      Block* b = block_of(i);
      auto k = slot(i);
      if (!b || !b->seen[k]) continue;
      if (!first) first = b->sent_at[k];
      auto w = static_cast<std::size_t>((b->sent_at[k] - first) / bucket_ns);
      if (w >= worst.size()) worst.resize(w + 1);
      worst[w] = std::max<double>(worst[w], b->latency_ms[k]);
    }
    std::printf("worst latency ms per %lld ms:", static_cast<long long>(bucket_ns / 1'000'000));
    for (double w : worst) std::printf(" %.0f", w);
    if (std::getenv("HANDOVER_BENCH_LOG")) std::printf("%s\n", agent.process().log().c_str());
    std::printf("\nhandover windows ms from the first event:");
    for (auto [a, b] : windows) std::printf(" %.0f-%.0f", (a - first) / 1e6, (b - first) / 1e6);
    std::printf("\n");
  }
  // The first half second of load is warm-up (connection, page faults: up
  // to 60 ms at 1 M events/s): in neither set, so it cannot raise the
  // baseline that "added" is measured against.
  std::vector<double> base, during;
  std::int64_t warm = 0;
  for (long i = 0; i < total && !warm; ++i) {
    if (Block* b = block_of(i); b && b->seen[slot(i)]) {
      warm = b->sent_at[slot(i)] + 500'000'000;
    }
  }
  for (long i = 0; i < total; ++i) {
    Block* b = block_of(i);
    auto k = slot(i);
    if (!b || !b->seen[k] || b->sent_at[k] < warm) continue;
    std::int64_t t = b->sent_at[k];
    // windows are in time order: the last one starting at or before t
    auto w = std::upper_bound(windows.begin(), windows.end(), std::make_pair(t, INT64_MAX));
    bool in = w != windows.begin() && t <= std::prev(w)->second;
    (in ? during : base).push_back(b->latency_ms[k]);
  }
  std::printf(
      "handovers: %d committed, %d failed; rate %ld events/s over %d connection(s); settle %s ms; "
      "gap %d ms\n",
      static_cast<int>(durations.size()), failed, rate, connections, settle.c_str(), gap_ms);
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
  std::printf("events sent %ld, lost %ld, duplicated %ld, malformed lines %ld\n", total, lost, dup,
              malformed);
  std::printf("events through the spool per handover: p50 %.0f  max %.0f\n", pct(spooled, 50),
              pct(spooled, 100));
  if (long long after = disk_written(dir.path()); after >= 0 && disk_before >= 0) {
    std::printf("written to the output's disk during the run (any process): %.2f GiB\n",
                static_cast<double>(after - disk_before) / (1 << 30));
  }
  std::printf("phases ms (p50 / p99 / max):");
  for (const auto& [name, v] : phases) {
    std::printf(" %s %.2f / %.2f / %.2f;", name.c_str(), pct(v, 50), pct(v, 99), pct(v, 100));
  }
  std::printf("\n");
  return lost == 0 && dup == 0 && malformed == 0 && failed == 0 ? 0 : 1;
}
