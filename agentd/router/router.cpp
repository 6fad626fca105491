#include "agentd/router/router.h"

#include <algorithm>

#include "agentd/core/record_writer.h"

namespace logctl::agentd {

namespace {
constexpr std::size_t kMaxCachedTags = 4096;
}

Router::Router(Metrics& metrics)
    : c_unmatched_(metrics.counter("agentd_router_unmatched_records_total",
                                   "Events whose tag matched no <match>.", {})),
      c_error_dropped_(metrics.counter("agentd_router_error_events_dropped_total",
                                       "Error events the @ERROR label did not take (its buffer "
                                       "refused them).",
                                       {})) {}

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
// accepted (filtering them again gives the same result). Error events (to
// @ERROR) go out only for the events that are done with, so a retried event
// does not send its error twice.
namespace {
// Per-thread scratch batches for emit_filtered, one set per nesting level (a
// relabel emits into another router from inside emit_filtered): reused, so
// filtering a large batch does not allocate its size again every time.
struct Scratch {
  EventBatch out, a, b, errors;
  std::vector<std::size_t> origin, error_origin;
};
constexpr int kScratchLevels = 4;
thread_local Scratch t_scratch[kScratchLevels];
thread_local int t_depth = 0;
}  // namespace

Status Router::emit_filtered(EventBatch& batch, const Path& path) {
  Scratch local;  // deeper than kScratchLevels: fresh buffers
  Scratch& sc = t_depth < kScratchLevels ? t_scratch[t_depth] : local;
  ++t_depth;
  struct Leave {
    ~Leave() { --t_depth; }
  } leave;
  EventBatch &out = sc.out, &a = sc.a, &b = sc.b, &errors = sc.errors;
  out.clear();
  errors.clear();
  out.tag = batch.tag;
  errors.tag = batch.tag;
  std::vector<std::size_t>& origin = sc.origin;              // out entry -> batch entry
  std::vector<std::size_t>& error_origin = sc.error_origin;  // errors entry -> batch entry
  origin.clear();
  error_origin.clear();
  EventBatch* errs = errors_ ? &errors : nullptr;
  for (std::size_t i = 0; i < batch.entries.size(); ++i) {
    const EntryRef& e = batch.entries[i];
    EventTime t = e.time;
    std::string_view record = record_of(batch.entry(e));
    bool kept = true;
    EventBatch* cur = &a;
    for (const Filter* f : path.filters) {
      cur->clear();
      f->filter(batch.tag, t, record, *cur, errs);
      while (error_origin.size() < errors.entries.size()) error_origin.push_back(i);
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
  Status st;
  std::size_t done = batch.entries.size();  // events before it are done with
  if (!out.entries.empty()) {
    std::size_t total = out.entries.size();
    st = path.target->emit(out);
    if (!st) done = origin[total - out.entries.size()];
  }
  emit_errors(errors, error_origin, done);
  if (st) {
    batch.clear();
  } else {
    batch.entries.erase(batch.entries.begin(),
                        batch.entries.begin() + static_cast<std::ptrdiff_t>(done));
  }
  return st;
}

void Router::emit_errors(EventBatch& errors, const std::vector<std::size_t>& origin,
                         std::size_t done) {
  std::size_t n = 0;
  while (n < origin.size() && origin[n] < done) ++n;
  if (n == 0) return;
  errors.entries.resize(n);
  if (auto st = errors_->emit(errors); !st) {  // a full @ERROR buffer: counted, not retried
    c_error_dropped_ += errors.entries.size();
    error_log_.write(log::Level::kWarn, "@ERROR refused " + std::to_string(errors.entries.size()) +
                                            " error event(s) of '" + errors.tag +
                                            "': " + st.error().message);
  }
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
