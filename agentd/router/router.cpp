#include "agentd/router/router.h"

#include <algorithm>

#include "agentd/core/record_writer.h"

namespace logctl::agentd {

namespace {
constexpr std::size_t kMaxCachedTags = 4096;
}

Router::Router(Metrics& metrics)
    : c_unmatched_(metrics.counter("agentd_router_unmatched_records_total",
                                   "Events whose tag matched no <match>.", {})) {}

void Router::add_route(std::vector<TagPattern> patterns, Emitter* target, std::size_t order) {
  routes_.push_back(Route{std::move(patterns), target, order});
}

void Router::add_filter(std::vector<TagPattern> patterns, const Filter* filter, std::size_t order) {
  filters_.push_back(FilterRoute{std::move(patterns), filter, order});
}

Router::Path Router::lookup(const std::string& tag) {
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(tag); it != cache_.end()) return it->second;
  auto matches = [&](const std::vector<TagPattern>& ps) {
    return std::any_of(ps.begin(), ps.end(), [&](const TagPattern& p) { return p.matches(tag); });
  };
  Path path;
  std::size_t before = 0;
  for (const auto& r : routes_) {
    if (matches(r.patterns)) {
      path.target = r.target;
      before = r.order;
      break;
    }
  }
  if (path.target) {
    for (const auto& f : filters_) {
      if (f.order < before && matches(f.patterns)) path.filters.push_back(f.filter);
    }
  }
  if (cache_.size() >= kMaxCachedTags) cache_.clear();  // bound memory for tag floods
  cache_[tag] = path;
  return path;
}

// Each event through the filters in order; the survivors to the target. On
// a refusal, `batch` keeps the events from the first one whose result was not
// accepted (filtering them again gives the same result).
Status Router::emit_filtered(EventBatch& batch, const Path& path) {
  EventBatch out, a, b;
  out.tag = batch.tag;
  std::vector<std::size_t> origin;  // out entry -> batch entry
  for (std::size_t i = 0; i < batch.entries.size(); ++i) {
    const EntryRef& e = batch.entries[i];
    EventTime t = e.time;
    std::string_view record = record_of(batch.entry(e));
    bool kept = true;
    EventBatch* cur = &a;
    for (const Filter* f : path.filters) {
      cur->clear();
      f->filter(batch.tag, t, record, *cur);
      if (cur->entries.empty()) {
        kept = false;
        break;
      }
      t = cur->entries.back().time;
      record = record_of(cur->entry(cur->entries.back()));
      cur = cur == &a ? &b : &a;  // the next filter reads this one's output
    }
    if (!kept) continue;
    RecordWriter w(out);
    w.begin(t, 0);
    w.record_packed(record);
    w.end();
    origin.push_back(i);
  }
  if (out.entries.empty()) {
    batch.clear();
    return {};
  }
  std::size_t total = out.entries.size();
  auto st = path.target->emit(out);
  if (st) return st;
  std::size_t accepted = total - out.entries.size();
  batch.entries.erase(batch.entries.begin(),
                      batch.entries.begin() + static_cast<std::ptrdiff_t>(origin[accepted]));
  return st;
}

Status Router::emit(EventBatch& batch) {
  if (batch.empty()) return {};
  Path path = lookup(batch.tag);
  Emitter* target = path.target;
  if (!target) {
    c_unmatched_ += batch.entries.size();
    unmatched_log_.write(log::Level::kWarn, "no <match> for tag '" + batch.tag + "'; " +
                                                std::to_string(batch.entries.size()) +
                                                " event(s) dropped");
    return {};
  }
  if (!path.filters.empty()) return emit_filtered(batch, path);
  return target->emit(batch);
}

}  // namespace logctl::agentd
