// The worker process: one generation of the data plane (a Pipeline), driven by
// the supervisor over the handover channel (docs/handover-protocol.md).
//
//   hello -> build pipeline -> prepared -> start{hold} -> ready -> [activate]
//   then, until SIGTERM or the channel closes: source_only, resume,
//   switch_over (hands connections over, seals the spool, exits), ingest.
// Thread safety: run_worker() owns the process's main thread.
#pragma once

#include <chrono>
#include <string>

namespace logctl::agentd {

// Deliberate faults for the handover tests' broken builds (never in agentd).
enum class Fault {
  kNone,
  kExitAtStart,      // exits before reporting prepared
  kNeverReady,       // starts everything but never reports ready
  kCrashAfterReady,  // aborts right after reporting ready
};

struct WorkerOptions {
  std::string config;
  std::string root_dir;
  std::string log_level;
  int channel_fd = -1;
  std::int64_t generation = 0;
  std::chrono::seconds shutdown_timeout{30};
  Fault fault = Fault::kNone;
};

int run_worker(const WorkerOptions& options);

}  // namespace logctl::agentd
