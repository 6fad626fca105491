// Input plugins. Each input runs its own I/O thread (its own asio::io_context),
// so a paused input (full buffer) never stalls another.
//
// Back-pressure contract: stream inputs (tcp, syslog over tcp, tail) never
// drop what they have read. When the router refuses a batch (buffer full, disk
// full), the input keeps the batch, stops reading (the kernel's TCP window then
// pushes back on the sender; tail keeps its position) and retries with backoff.
// Datagram inputs cannot push back: a refused batch is dropped and counted.
// Thread safety: start()/stop() from the owning thread only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agentd/core/clock.h"
#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/parsers/parser.h"
#include "agentd/router/router.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

class Input {
 public:
  virtual ~Input() = default;
  // Binds/opens everything and starts the I/O thread; errors name what failed.
  virtual Status start() = 0;
  // Stops reading, hands what was read to the router, joins the thread.
  virtual void stop() = 0;
};

struct InputContext {
  Emitter& emitter;
  const Clock& clock;
  Metrics& metrics;
  std::string data_dir;  // for position files when pos_file is relative or unset
};

Result<std::unique_ptr<Input>> make_input(const config::Section& source, InputContext ctx);

// The counters every input has (agentd_input_*), declared once so their names,
// help texts and labels are the same for every input type.
struct InputCounters {
  InputCounters(Metrics& m, const std::string& id, const std::string& type);
  std::atomic<std::uint64_t>& records;
  std::atomic<std::uint64_t>& bytes;
  std::atomic<std::uint64_t>& parse_errors;
  std::atomic<std::uint64_t>& oversized;
  std::atomic<std::uint64_t>& paused;
};

// Parses one message into `out`. Text that does not parse is delivered as
// {"unmatched_line", "parse_error"} (never dropped), counted in
// `parse_errors` and logged (rate-limited) with the input's id.
void parse_or_unmatched(Parser& parser, std::string_view text, EventTime now,
                        std::span<const Extra> extra, EventBatch& out, const std::string& id,
                        std::atomic<std::uint64_t>& parse_errors, log::RateLimited& log);

// Groups events by tag while one read is processed.
class BatchSet {
 public:
  EventBatch& for_tag(const std::string& tag);
  std::vector<EventBatch>& batches() { return batches_; }
  std::size_t events() const;
  bool empty() const { return events() == 0; }
  void clear() { batches_.clear(); }
  // Emits every batch; on failure keeps the failed and later batches.
  Status emit_to(Emitter& e);

 private:
  std::vector<EventBatch> batches_;
};

}  // namespace logctl::agentd
