#include "agentd/outputs/group.h"

#include <algorithm>

#include "agentd/core/log.h"
#include "agentd/core/record_writer.h"

namespace logctl::agentd {

using std::chrono::steady_clock;

OutputGroup::OutputGroup(std::string id, Kind kind, std::vector<Store> stores, double max_penalty,
                         bool random, const Clock& clock, Metrics& m)
    : id_(std::move(id)),
      kind_(kind),
      max_penalty_(std::max(1.0, max_penalty)),
      random_(random),
      clock_(clock),
      rng_(static_cast<std::uint64_t>(clock.now().ns) | 1) {
  for (auto& s : stores) {
    auto st = std::make_unique<State>();
    st->store = s;
    Labels l{{"group", id_}, {"store", s.runner->id()}};
    st->g_up =
        &m.gauge("agentd_group_store_up",
                 "1 while the group sends batches to the store, 0 while it is penalised.", l);
    st->c_penalties = &m.counter("agentd_group_store_penalties_total",
                                 "Times the store was penalised for a failed write.", l);
    st->c_moved = &m.counter("agentd_group_moved_records_total",
                             "Events of the store's failed chunks moved to another store.", l);
    st->g_up->store(1);
    s.runner->set_observer(this);
    states_.push_back(std::move(st));
  }
}

OutputGroup::State* OutputGroup::state_of(const OutputRunner& r) {
  for (auto& s : states_) {
    if (s->store.runner == &r) return s.get();
  }
  return nullptr;
}

std::vector<OutputGroup::State*> OutputGroup::choose(const OutputRunner* except, bool all) {
  auto now = clock_.steady();
  std::vector<State*> ok;
  for (auto& s : states_) {
    if (s->store.runner != except && (all || s->until <= now)) ok.push_back(s.get());
  }
  if (kind_ == Kind::kFailover) {
    std::stable_sort(ok.begin(), ok.end(), [](const State* a, const State* b) {
      return a->store.priority > b->store.priority;
    });
    return ok;
  }
  if (except && !ok.empty()) {  // a move: the others in turn, the batches' rotation untouched
    std::rotate(ok.begin(), ok.begin() + static_cast<long>(moves_++ % ok.size()), ok.end());
    return ok;
  }
  // load_balance: the chosen store first, the others after it in written order.
  std::int64_t total = 0;
  for (auto* s : ok) total += std::max<std::int64_t>(0, s->store.weight);
  if (ok.empty() || total == 0) return ok;
  State* best = nullptr;
  if (random_) {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    auto r = static_cast<std::int64_t>(rng_ % static_cast<std::uint64_t>(total));
    for (auto* s : ok) {
      r -= std::max<std::int64_t>(0, s->store.weight);
      if (r < 0) {
        best = s;
        break;
      }
    }
  } else {
    for (auto* s : ok) {
      s->current += std::max<std::int64_t>(0, s->store.weight);
      if (!best || s->current > best->current) best = s;
    }
    best->current -= total;
  }
  auto at = std::find(ok.begin(), ok.end(), best);
  std::rotate(ok.begin(), at, ok.end());
  return ok;
}

Status OutputGroup::emit(EventBatch& batch) {
  if (batch.empty()) return {};
  if (kind_ == Kind::kCopy) return copy(batch);
  std::vector<State*> order;
  {
    std::lock_guard lock(mu_);
    order = choose(nullptr, false);
    if (order.empty()) order = choose(nullptr, true);  // all penalised: a buffer keeps it
  }
  Status last;
  for (State* s : order) {
    last = s->store.runner->emit(batch);
    if (last) return last;  // the batch keeps only what a refusing buffer left
  }
  return last;
}

Status OutputGroup::copy(EventBatch& batch) {
  Status first_error;
  for (const auto& state : states_) {
    const Store& s = state->store;
    EventBatch b = batch;  // each store takes its own; `batch` stays whole for a retry
    auto st = s.runner->emit(b);
    if (st) continue;
    if (s.ignore_error) {
      log::warn("output " + id_ + ": store " + s.runner->id() +
                " (ignore_error) refused a batch: " + st.error().message);
    } else if (first_error) {
      first_error = st;
    }
  }
  return first_error;
}

void OutputGroup::on_written(OutputRunner& store) {
  std::lock_guard lock(mu_);
  State* s = state_of(store);
  if (!s || s->penalty == 0) return;
  s->penalty = 0;
  s->until = {};
  s->g_up->store(1);
  log::info("output " + id_ + ": store " + store.id() + " wrote again; its penalty is cleared");
}

bool OutputGroup::on_failed(OutputRunner& store, const Chunk& chunk, const Error& e) {
  if (kind_ == Kind::kCopy) return false;  // every store owes its own copy
  std::vector<State*> others;
  State* s = nullptr;
  {
    std::lock_guard lock(mu_);
    s = state_of(store);
    if (!s) return false;
    auto now = clock_.steady();
    if (s->until <= now) {  // not yet penalised for this outage's latest failure
      s->penalty = std::min(max_penalty_, s->penalty == 0 ? 1.0 : s->penalty * 2);
      s->until = now + std::chrono::duration_cast<steady_clock::duration>(
                           std::chrono::duration<double>(s->penalty));
      s->g_up->store(0);
      ++*s->c_penalties;
      log::warn("output " + id_ + ": store " + store.id() + " failed (" + e.message +
                "); penalised for " + std::to_string(static_cast<int>(s->penalty)) + "s");
    }
    others = choose(&store, false);
  }
  if (others.empty()) return false;  // nobody to take it: the store's retries keep it
  State* to = others.front();
  std::uint64_t moved = 0;
  auto st = chunk.read([&](std::string_view tag, std::string_view unit) -> Status {
    EventBatch batch;
    batch.tag = tag;
    if (auto u = unit_to_batch(unit, batch); !u) return u;
    std::size_t n = batch.entries.size();
    if (auto w = to->store.runner->emit(batch); !w) return w;
    moved += n;
    return {};
  });
  if (!st) {
    // Part may have gone: those events can arrive twice; the chunk stays.
    log::error("output " + id_ + ": moving chunk " + chunk.id() + " from " + store.id() + " to " +
               to->store.runner->id() + " failed after " + std::to_string(moved) +
               " events: " + st.error().message + "; it stays with " + store.id());
    return false;
  }
  *s->c_moved += moved;
  log::info("output " + id_ + ": chunk " + chunk.id() + " (" + std::to_string(moved) +
            " events) moved from " + store.id() + " to " + to->store.runner->id());
  return true;
}

}  // namespace logctl::agentd
