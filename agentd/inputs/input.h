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

#include <functional>
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

// An established TCP connection on its way from one worker to the next, with
// the bytes read from it that did not yet make a whole message.
struct HandedConnection {
  std::string key;  // the listener it was accepted from ("tcp://127.0.0.1:5170")
  int fd = -1;      // owned by the holder of this struct
  std::string pending;
};

// Where a network input gets its listener: the supervisor's socket manager
// (a duplicate of the one kernel socket every generation shares). Unset: the
// input binds its own socket (single-process use, tests).
using ListenerSource = std::function<Result<int>(const std::string& key)>;

enum class Reading { kNow, kHeld };

class Input {
 public:
  virtual ~Input() = default;
  // Opens everything and starts the I/O thread; errors name what failed.
  // kHeld: a network input gets its listener but reads nothing until
  // activate() (the handover's parallel phase).
  virtual Status start(Reading reading = Reading::kNow) = 0;
  virtual void activate() {}
  // Stops reading, hands what was read to the router, joins the thread.
  virtual void stop() = 0;
  // Network inputs: the listener key, or "" for inputs without one.
  virtual std::string listener_key() const { return ""; }
  // Stops reading the listener and gives up every established connection
  // (events already parsed are emitted first). The thread keeps running.
  virtual std::vector<HandedConnection> release_connections() { return {}; }
  // Takes over a connection released by another worker; pending bytes are
  // parsed before anything read from the socket.
  virtual Status adopt(HandedConnection c) {
    return make_error(ErrorCode::kInvalidArgument, "input cannot adopt connection " + c.key);
  }
};

struct InputContext {
  Emitter& emitter;
  const Clock& clock;
  Metrics& metrics;
  std::string data_dir;  // for position files when pos_file is relative or unset
  ListenerSource listen;
  // <label @ERROR> when the config has one: where unparsable text goes.
  Emitter* errors = nullptr;
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

class BatchSet;

// What an input does with text its parser refuses, as Fluentd does: it is
// always counted (agentd_input_parse_errors_total) and logged (rate-limited,
// naming the input), then
//   emit_unmatched_lines true: {"unmatched_line": text} (+ path/source keys)
//     goes on the input's own route (in_syslog: tag "<tag>.unmatched");
//   else, with a <label @ERROR>: {"unmatched_line", "parse_error"} goes there
//     under the input's tag;
//   else it is dropped (counted in agentd_input_unmatched_dropped_total).
class Unmatched {
 public:
  Unmatched(const config::Section& source, const InputContext& ctx, InputCounters& counters);
  void handle(std::string_view text, std::string_view why, EventTime now,
              std::span<const Extra> extra, BatchSet& out, const std::string& tag);

 private:
  std::string id_;
  bool emit_;
  bool to_error_;
  std::atomic<std::uint64_t>& parse_errors_;
  std::atomic<std::uint64_t>& dropped_;
  log::RateLimited log_;
};

// Parses one message into `out`'s batch for `tag`; text that does not parse
// goes to `unmatched`.
void parse_or_unmatched(Parser& parser, std::string_view text, EventTime now,
                        std::span<const Extra> extra, BatchSet& out, const std::string& tag,
                        Unmatched& unmatched);

// Groups events by tag while one read is processed; reusable (clear(), or
// emit_to() emptying it). Emptied batches go to a spare pool of the thread's,
// shared by all its BatchSets, with their capacity: a connection reading 4 MiB
// per wake does not allocate (and page-fault) megabytes again for every read,
// and 16 connections on one input thread share one or two batches' memory
// instead of keeping one each.
class BatchSet {
 public:
  EventBatch& for_tag(const std::string& tag);
  // A batch for the <label @ERROR> route.
  EventBatch& for_error(const std::string& tag);
  std::vector<EventBatch>& batches() { return batches_; }
  std::size_t events() const;
  bool empty() const { return events() == 0; }
  void clear();
  // Emits every batch (error batches to `errors`); on failure keeps the
  // failed and later batches.
  Status emit_to(Emitter& e, Emitter* errors = nullptr);
  // Bytes for the sender once every batch is emitted (forward acks, HTTP
  // responses).
  std::vector<std::string> replies;
  // The connection closes once the replies are written (an HTTP request
  // that does not keep it alive); nothing more is read from it.
  bool close_after_replies = false;

 private:
  EventBatch& take(const std::string& tag, bool error);
  void retire(std::size_t n);  // the first n batches are done with

  std::vector<EventBatch> batches_;
  std::vector<bool> error_;  // per batch: for the @ERROR route
};

}  // namespace logctl::agentd
