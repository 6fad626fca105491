#include "agentd/router/router.h"

namespace logctl::agentd {

namespace {
constexpr std::size_t kMaxCachedTags = 4096;
}

Router::Router(Metrics& metrics)
    : c_unmatched_(metrics.counter("agentd_router_unmatched_records_total",
                                   "Events whose tag matched no <match>.", {})) {}

void Router::add_route(std::vector<TagPattern> patterns, Emitter* target) {
  routes_.push_back(Route{std::move(patterns), target});
}

Emitter* Router::lookup(const std::string& tag) {
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(tag); it != cache_.end()) return it->second;
  Emitter* found = nullptr;
  for (const auto& r : routes_) {
    for (const auto& p : r.patterns) {
      if (!found && p.matches(tag)) found = r.target;
    }
    if (found) break;
  }
  if (cache_.size() >= kMaxCachedTags) cache_.clear();  // bound memory for tag floods
  cache_[tag] = found;
  return found;
}

Status Router::emit(EventBatch& batch) {
  if (batch.empty()) return {};
  Emitter* target = lookup(batch.tag);
  if (!target) {
    c_unmatched_ += batch.entries.size();
    unmatched_log_.write(log::Level::kWarn, "no <match> for tag '" + batch.tag + "'; " +
                                                std::to_string(batch.entries.size()) +
                                                " event(s) dropped");
    return {};
  }
  return target->emit(batch);
}

}  // namespace logctl::agentd
