// Retry schedule for a failing output, with Fluentd's parameters:
// exponential_backoff waits retry_wait * base^n (n = 0, 1, ...), capped by
// retry_max_interval and randomised by up to ±12.5% (retry_randomize);
// periodic waits retry_wait each time. It gives up after retry_max_times
// failures or once retry_timeout has passed since the first failure, unless
// retry_forever. Pure computation over explicit times, so it is unit-tested
// without clocks or sleeps.
// Thread safety: none; the OutputRunner guards it.
#pragma once

#include <cstdint>
#include <optional>
#include <random>

namespace logctl::agentd {

enum class RetryType { kExponentialBackoff, kPeriodic };

struct RetryOptions {
  RetryType type = RetryType::kExponentialBackoff;
  double wait = 1;
  double backoff_base = 2;
  std::optional<double> max_interval;
  bool randomize = true;
  double timeout = 72 * 3600;
  std::optional<std::int64_t> max_times;
  bool forever = false;
  double secondary_threshold = 0.8;
};

class RetryState {
 public:
  RetryState(RetryOptions options, double first_failure_s);

  // Records a failure at `now_s`; returns false when retrying is over.
  bool step(double now_s);
  double next_time() const { return next_; }
  int steps() const { return steps_; }
  // True once the share of retry_timeout given by retry_secondary_threshold
  // has passed: the next attempt goes to <secondary>.
  bool use_secondary(double now_s) const;
  // The wait before retry number n (0-based), before randomisation.
  double interval(int n) const;

 private:
  RetryOptions o_;
  double start_;
  double next_;
  int steps_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace logctl::agentd
