// Metrics registry rendered as Prometheus text on /metrics.
//
// Every metric is a counter or gauge with fixed labels (usually plugin_id and
// type), created once when the pipeline is built; the data path only touches
// the returned std::atomic, never the registry's lock.
// Thread safety: register_* and render() lock; the atomics are lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace logctl::agentd {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  std::atomic<std::uint64_t>& counter(const std::string& name, const std::string& help,
                                      const Labels& labels);
  std::atomic<std::int64_t>& gauge(const std::string& name, const std::string& help,
                                   const Labels& labels);
  std::string render() const;
  // Value of one series, for tests and logs; 0 when absent.
  double value(const std::string& name, const Labels& labels) const;

 private:
  struct Family {
    std::string help;
    bool is_counter;
    std::map<std::string, std::size_t> series;  // rendered labels -> index
  };
  static std::string render_labels(const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::deque<std::atomic<std::uint64_t>> counters_;  // deque: stable addresses
  std::deque<std::atomic<std::int64_t>> gauges_;
};

}  // namespace logctl::agentd
