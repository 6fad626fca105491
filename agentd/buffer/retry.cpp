#include "agentd/buffer/retry.h"

#include <algorithm>
#include <cmath>

namespace logctl::agentd {

RetryState::RetryState(RetryOptions options, double first_failure_s)
    : o_(options), start_(first_failure_s), next_(first_failure_s) {}

double RetryState::interval(int n) const {
  double v = o_.type == RetryType::kPeriodic ? o_.wait : o_.wait * std::pow(o_.backoff_base, n);
  if (o_.max_interval) v = std::min(v, *o_.max_interval);
  return v;
}

bool RetryState::step(double now_s) {
  double wait = interval(steps_);
  ++steps_;
  if (o_.randomize) {
    std::uniform_real_distribution<double> d(-0.125, 0.125);
    wait += wait * d(rng_);
  }
  if (o_.forever) {
    next_ = now_s + wait;
    return true;
  }
  if (o_.max_times && steps_ > *o_.max_times) return false;
  if (now_s - start_ >= o_.timeout) return false;
  // The last retry happens at the timeout, not after it.
  next_ = std::min(now_s + wait, start_ + o_.timeout);
  return true;
}

bool RetryState::use_secondary(double now_s) const {
  return !o_.forever && now_s - start_ >= o_.timeout * o_.secondary_threshold;
}

}  // namespace logctl::agentd
