// The CLI's exit codes: stable, documented in docs/cli.md, one table. A CI job
// branches on them, so a number is never reused for another meaning and no
// failure ever exits 0.
//
// Thread safety: constants and a pure function.
#pragma once

namespace logctl::cli {

enum class Exit : int {
  kOk = 0,
  kError = 1,          // anything else: an I/O error here, a controller bug (HTTP 5xx)
  kUsage = 2,          // bad flags or arguments, or a request the controller calls malformed
  kUnreachable = 3,    // cannot reach, trust or authenticate to the controller
  kChecksFailed = 4,   // compatibility checks failed, or a config / release does not validate
  kRolloutFailed = 5,  // the rollout did not succeed: rolled back, or aborted
  kTimeout = 6,        // --wait gave up (the rollout goes on)
  kConflict = 7,       // illegal transition, rollout in flight, stale plan, name taken
  kNotFound = 8,       // no such node, release, config revision or rollout
  kPartial = 9,        // the rollout finished but not every node moved (succeeded_partial)
};

inline int code(Exit e) {
  return static_cast<int>(e);
}

// From the HTTP status of the controller's error (docs/api.md); 0 means the
// request never got an answer.
inline Exit exit_for(int http_status) {
  if (http_status == 0 || http_status == 401 || http_status == 403) return Exit::kUnreachable;
  if (http_status == 404) return Exit::kNotFound;
  if (http_status == 409) return Exit::kConflict;
  if (http_status == 422) return Exit::kChecksFailed;
  if (http_status >= 400 && http_status < 500) return Exit::kUsage;
  return Exit::kError;
}

}  // namespace logctl::cli
