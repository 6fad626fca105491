// Following a rollout (or the offline path's convergence) until it ends, for
// `--wait`. Polls the controller twice a second, bounded by the timeout; a
// controller that stops answering mid-rollout (a restart) is retried until
// the deadline. What it shows, by output mode:
//   table, stderr a terminal: a live view redrawn in place (rollout, batch,
//     a progress bar, each node's step and handover figures), 80 columns;
//   table, otherwise: one timestamped line per step change on stderr;
//   ndjson: one JSON object per step change on stdout ({"event": "step"…});
//   json: nothing until the end.
// The end: the rollout's final document on stdout (json/ndjson) or a summary
// line; exit 0 succeeded, 9 succeeded_partial, 5 rolled back or aborted,
// 6 timeout.
//
// Thread safety: one thread.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "cli/client.h"
#include "cli/output.h"

namespace logctl::cli {

class Progress {
 public:
  Progress(Format f, bool terminal) : format_(f), terminal_(terminal) {}
  int follow_rollout(Client& c, std::int64_t id, std::chrono::seconds timeout);
  int follow_convergence(Client& c, std::chrono::seconds timeout);

 private:
  void step_changed(json rollout, json step);
  void draw(json rollout);
  int finish(json rollout);
  void note(const std::string& line);

  Format format_;
  bool terminal_;
  std::map<std::string, std::string> seen_;  // node -> step state last shown
  int drawn_lines_ = 0;
};

// "2026-11-25T10:00:01" (local time): the prefix of progress lines.
std::string timestamp();
// One step as a short human line: "node-1 (batch 1): done, committed in 240 ms, …".
std::string describe_step(json step);

}  // namespace logctl::cli
