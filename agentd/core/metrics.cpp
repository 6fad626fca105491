#include "agentd/core/metrics.h"

namespace logctl::agentd {

std::string Metrics::render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    out += out.empty() ? "{" : ",";
    out += k + "=\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out.empty() ? out : out + "}";
}

std::atomic<std::uint64_t>& Metrics::counter(const std::string& name, const std::string& help,
                                             const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_.try_emplace(name, Family{help, true, {}}).first->second;
  auto key = render_labels(labels);
  if (auto it = f.series.find(key); it != f.series.end()) return counters_[it->second];
  counters_.emplace_back(0);
  f.series[key] = counters_.size() - 1;
  return counters_.back();
}

std::atomic<std::int64_t>& Metrics::gauge(const std::string& name, const std::string& help,
                                          const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_.try_emplace(name, Family{help, false, {}}).first->second;
  auto key = render_labels(labels);
  if (auto it = f.series.find(key); it != f.series.end()) return gauges_[it->second];
  gauges_.emplace_back(0);
  f.series[key] = gauges_.size() - 1;
  return gauges_.back();
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + (f.is_counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, idx] : f.series) {
      auto v = f.is_counter ? std::to_string(counters_[idx].load())
                            : std::to_string(gauges_[idx].load());
      out += name + labels + " " + v + "\n";
    }
  }
  return out;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.series.find(render_labels(labels));
  if (s == it->second.series.end()) return 0;
  return it->second.is_counter ? static_cast<double>(counters_[s->second].load())
                               : static_cast<double>(gauges_[s->second].load());
}

}  // namespace logctl::agentd
