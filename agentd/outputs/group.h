// Output groups: a <match> of @type copy, failover or load_balance whose
// <store> sections are outputs of their own — each an OutputRunner with its
// own buffer, flush threads, retries and metrics. The group is what the
// router emits into; it decides which store a batch goes to (Flume's sink
// groups, in Fluentd's <store> syntax):
//
//   copy          every store gets every batch, in written order. A store
//                 that refuses a batch (its buffer is full) fails the emit
//                 unless written <store ignore_error>; the input then retries
//                 the batch, so the stores before it may get it twice.
//   failover      the store with the highest `priority` (ties: written
//                 order) that is not penalised.
//   load_balance  the next store that is not penalised, by smooth weighted
//                 round robin on `weight` (default 1), or at random.
//
// Failure: when a store's write fails with a retryable error, the group
// penalises it — no new batches for 1 s, doubling at each further failure up
// to max_penalty — and moves the failed chunk's events into another store
// that is not penalised (failover: by priority; load_balance: the next one),
// so a dead store's backlog flows to the others instead of waiting for its
// retries. After the penalty the store gets batches again; its first
// successful write clears the penalty. When every store is penalised, a batch
// still goes to the store that would be chosen first, whose buffer keeps it
// until a write succeeds (the retry machinery), and a failed chunk stays where
// it is. Moved events can arrive twice when the failed store's server had
// received them without acknowledging (out_forward counts those).
// Thread safety: emit() from any thread; the observer calls come from the
// stores' flush threads.
#pragma once

#include <mutex>

#include "agentd/outputs/output_runner.h"
#include "agentd/router/router.h"

namespace logctl::agentd {

class OutputGroup final : public Emitter, public StoreObserver {
 public:
  enum class Kind { kCopy, kFailover, kLoadBalance };
  struct Store {
    OutputRunner* runner;
    std::int64_t priority = 0;  // failover: higher first
    std::int64_t weight = 1;    // load_balance
    bool ignore_error = false;  // copy
  };
  OutputGroup(std::string id, Kind kind, std::vector<Store> stores, double max_penalty, bool random,
              const Clock& clock, Metrics& metrics);

  Status emit(EventBatch& batch) override;
  void on_written(OutputRunner& store) override;
  bool on_failed(OutputRunner& store, const Chunk& chunk, const Error& e) override;

 private:
  struct State {
    Store store;
    double penalty = 0;  // seconds of the last penalty; 0 when healthy
    std::chrono::steady_clock::time_point until{};
    std::int64_t current = 0;  // smooth weighted round robin
    std::atomic<std::int64_t>* g_up;
    std::atomic<std::uint64_t>* c_penalties;
    std::atomic<std::uint64_t>* c_moved;
  };

  Status copy(EventBatch& batch);
  // The stores to try, best first (under mu_); penalised ones are left out
  // unless `all`. With `except`: where that store's failed chunk may move.
  std::vector<State*> choose(const OutputRunner* except, bool all);
  State* state_of(const OutputRunner& r);

  std::string id_;
  Kind kind_;
  double max_penalty_;
  bool random_;
  const Clock& clock_;
  std::mutex mu_;
  std::vector<std::unique_ptr<State>> states_;  // written order
  std::uint64_t rng_;
  std::uint64_t moves_ = 0;  // load_balance: moved chunks go to the others in turn
};

}  // namespace logctl::agentd
