// The supervisor: agentd's long-lived process (stable PID). It owns the
// listeners (SocketManager), the admin endpoints and one worker process per
// generation, and replaces the worker by the staged handover
// (docs/handover-protocol.md, docs/architecture.md):
//
//   idle --trigger--> prepare --> source_only --> start --> settle --> activate
//        --> switch_over --> ingest --> idle (committed)
//   prepare fails:                           kill(new)               (rejected; old untouched)
//   source_only .. activate fails:           kill(new), resume(old)  (rolled back)
//   switch_over/ingest trouble is logged:    new already serves      (committed)
// One function per step (step_*); handover() runs them in order.
//
// Triggers: SIGHUP (reload the config), requests on the control socket
// ({"op":"reload"|"upgrade"|"status"}), one at a time, FIFO; SIGHUPs that
// arrive during a handover are merged into one.
// Thread safety: run() owns the main thread; the control socket and the admin
// HTTP server have their own threads and only queue requests or read a
// status snapshot under a lock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agentd/admin/admin_server.h"
#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/platform/fs.h"
#include "agentd/supervisor/channel.h"
#include "agentd/supervisor/config_watch.h"
#include "agentd/supervisor/controller_link.h"
#include "agentd/supervisor/socket_manager.h"

namespace logctl::agentd {

// What a generation runs: a binary and a config file.
struct GenerationSpec {
  std::string binary;
  std::string config;
};

struct SupervisorOptions {
  GenerationSpec spec;
  std::string version;            // of this binary, for /status
  std::string self_binary;        // this process's binary
  std::vector<std::string> args;  // its command line (without argv[0]), for re-exec
  int inherit_fd = -1;            // state from the supervisor that exec'd us (memfd)
  std::string root_dir;           // data directory: spools, control socket
  std::string admin_endpoint;
  std::string control_path;  // default <root_dir>/agentd.sock
  std::string log_level;
  int shutdown_timeout = 30;
  std::chrono::milliseconds ready_timeout{30000};  // prepare and start of a worker
  std::chrono::milliseconds step_timeout{30000};   // every other handover step
  std::chrono::milliseconds settle{500};           // new must stay alive this long after ready
  LinkOptions link;                                // url "" = no controller
};

// One handover's outcome, as reported to the trigger and in /status.
enum class HandoverResult {
  kCommitted,   // the new generation serves; the old one exited
  kRolledBack,  // the new generation failed after the old one stopped its core
  kRejected,    // the new generation failed before anything stopped
};

struct HandoverReport {
  HandoverResult result = HandoverResult::kRejected;
  std::int64_t generation = 0;                         // the generation serving afterwards
  std::string reason;                                  // why it was not committed
  std::vector<std::pair<std::string, double>> phases;  // name -> milliseconds
  // What crossed a committed handover: TCP connections handed to the new
  // generation with their unparsed bytes, and events it took over from the
  // old one's spool (read while the core moved, or held in memory buffers).
  std::int64_t connections_handed_over = 0;
  std::int64_t events_through_spool = 0;
  std::string json() const;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options);
  ~Supervisor();
  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  struct Worker {
    pid_t pid = -1;
    int fd = -1;  // our end of the channel
    std::unique_ptr<SupervisorChannel> channel;
    std::int64_t generation = 0;
    GenerationSpec spec;
    int admin_port = 0;
  };
  struct Request {
    enum class Op { kHandover, kStop, kStart };
    Op op = Op::kHandover;
    GenerationSpec spec;
    Drain drain = Drain::kAsConfigured;  // kStop
    std::optional<HandoverReport> report;
  };

  Result<Worker> spawn(const GenerationSpec& spec, std::int64_t generation);
  Status bring_up(Worker& w, bool hold);
  std::string cause(Worker& w, const Result<handover::Message>& m, const char* step,
                    std::chrono::milliseconds timeout);
  void kill_worker(Worker& w);
  int reap(Worker& w, Deadline deadline);
  // One handover attempt: the new worker, the old one's spool, connections moved.
  struct Attempt {
    Worker fresh;
    Worker old;  // after switch_over: the previous generation, reaped after ingest
    std::string spool;
    std::int64_t handed = 0;
    std::int64_t ingested = 0;  // events the new generation took from the spool
    std::int64_t new_reading_ns = 0, old_stopped_ns = 0;  // CLOCK_MONOTONIC
  };
  HandoverReport handover(const GenerationSpec& next);
  std::string step_prepare(Attempt& a);
  std::string step_source_only(Attempt& a);
  std::string step_start(Attempt& a);
  std::string step_settle(Attempt& a);
  std::string step_activate(Attempt& a);
  void step_switch_over(Attempt& a);
  void step_ingest(Attempt& a);
  void step_reap_old(Attempt& a);
  HandoverReport roll_back(Worker& fresh, HandoverReport report, const std::string& why);
  Status start_first();
  void on_worker_exit();
  void ingest_leftovers();
  void serve_control();
  // Queues a handover to `spec` and waits for its report (control socket and
  // controller link); nullopt when agentd is stopping.
  std::optional<HandoverReport> queue_and_wait(const GenerationSpec& spec,
                                               Request::Op op = Request::Op::kHandover,
                                               Drain drain = Drain::kAsConfigured);
  // Stops the worker on purpose (its buffers flushed or persisted) and keeps
  // it stopped; start() brings a generation of `spec` up again.
  HandoverReport stop_worker(Drain drain);
  HandoverReport start_worker(const GenerationSpec& spec);
  nlohmann::json actual_state();
  void start_link();
  void remember_desired();
  void answer(int client);
  void set_status(const std::string& state);
  std::string status_json();
  // Self-upgrade: after a handover to another binary the supervisor execs it,
  // passing listeners, the worker's channel and the control socket (PID and
  // worker unchanged). On failure it keeps running as it was.
  void reexec(std::string binary);
  HandoverReport run_handover(const GenerationSpec& spec);
  // Config watch (config_watch.h): (re)opened for the serving config path;
  // a due change is validated and reloaded by handover.
  void watch_config();
  void config_changed();
  void drain_queue();
  void stop_control_thread();
  std::string save_state();
  Status restore_state(int fd);
  Status open_control_socket();
  std::string worker_metrics();
  void close_unused_listeners();
  bool image_replaced() const;
  void watch_worker();
  void stop_watch();

  SupervisorOptions o_;
  SocketManager sockets_;
  Metrics metrics_;
  AdminServer admin_;
  Worker current_;
  std::optional<GenerationSpec> previous_;
  std::chrono::steady_clock::time_point committed_at_{};
  std::int64_t next_generation_ = 1;
  int signals_ = -1;
  int wake_ = -1;  // eventfd: a control request is queued
  int control_ = -1;
  int control_stop_ = -1;  // eventfd: the control thread stops accepting
  std::optional<std::chrono::steady_clock::time_point> restart_at_;
  bool stopping_ = false;
  bool held_ = false;  // the worker is stopped on purpose (cluster shutdown)
  std::thread control_thread_;
  fs::File lock_;  // <root_dir>/agentd.lock, held for the supervisor's life (and re-execs)
  std::thread watch_thread_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;
  std::atomic<bool> worker_answering_{true};
  std::unique_ptr<ControllerLink> link_;
  std::unique_ptr<ConfigWatch> config_watch_;
  std::string watched_config_;

  std::mutex mu_;  // guards everything below
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Request>> queue_;
  int clients_ = 0;  // control clients being served
  std::string state_ = "starting";
  std::optional<HandoverReport> last_;
  int worker_admin_port_ = 0;
  pid_t worker_pid_ = -1;
  std::int64_t generation_ = 0;
  GenerationSpec spec_;
  log::RateLimited bad_request_log_;

  std::atomic<std::uint64_t>& c_committed_;
  std::atomic<std::uint64_t>& c_rolled_back_;
  std::atomic<std::uint64_t>& c_rejected_;
  std::atomic<std::uint64_t>& c_bad_requests_;
  std::atomic<std::uint64_t>& c_worker_restarts_;
  std::atomic<std::int64_t>& g_generation_;
  std::atomic<std::int64_t>& g_in_progress_;
  std::atomic<std::int64_t>& g_last_ms_;
  std::atomic<std::int64_t>& g_worker_up_;
};

}  // namespace logctl::agentd
