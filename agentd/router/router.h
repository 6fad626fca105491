// Router: sends each batch to the first <match> whose patterns match its tag
// (Fluentd's first-match-wins), through the <filter>s whose patterns match
// and that stand before that <match> in the config, in their order. Unmatched
// events are counted and logged (rate-limited), as Fluentd warns "no
// patterns matched".
// Thread safety: route() from any thread; the tag cache has its own lock.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agentd/core/event.h"
#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/filters/filter.h"
#include "agentd/router/tag_pattern.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

// What inputs emit into. The seam lets input tests capture batches.
class Emitter {
 public:
  virtual ~Emitter() = default;
  // kResourceExhausted means "full, try again later"; inputs react by pausing.
  // On error, `batch` keeps exactly the events that were not accepted.
  virtual Status emit(EventBatch& batch) = 0;
};

class Router final : public Emitter {
 public:
  explicit Router(Metrics& metrics);
  // `target`: an OutputRunner or an output group. `order`: the section's
  // position among <filter> and <match> sections.
  void add_route(std::vector<TagPattern> patterns, Emitter* target, std::size_t order = 0);
  void add_filter(std::vector<TagPattern> patterns, const Filter* filter, std::size_t order);
  // Where filters' error events go (the <label @ERROR> router); unset: none.
  void set_errors(Emitter* errors) { errors_ = errors; }
  Status emit(EventBatch& batch) override;

 private:
  struct Path {
    Emitter* target = nullptr;
    std::vector<const Filter*> filters;
  };
  Path lookup(const std::string& tag);
  Status emit_filtered(EventBatch& batch, const Path& path);
  void emit_errors(EventBatch& errors, const std::vector<std::size_t>& origin, std::size_t done);

  struct Route {
    std::vector<TagPattern> patterns;
    Emitter* target;
    std::size_t order;
  };
  struct FilterRoute {
    std::vector<TagPattern> patterns;
    const Filter* filter;
    std::size_t order;
  };
  std::vector<Route> routes_;
  std::vector<FilterRoute> filters_;
  std::mutex mu_;
  std::unordered_map<std::string, Path> cache_;
  std::atomic<std::uint64_t>& c_unmatched_;
  std::atomic<std::uint64_t>& c_error_dropped_;
  Emitter* errors_ = nullptr;
  log::RateLimited unmatched_log_, error_log_;
};

}  // namespace logctl::agentd
