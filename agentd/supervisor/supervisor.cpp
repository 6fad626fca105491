#include "agentd/supervisor/supervisor.h"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "agentd/app/manifest.h"
#include "agentd/core/log.h"
#include "agentd/platform/fd_passing.h"
#include "agentd/platform/fs.h"
#include "agentd/supervisor/desired_state.h"
#include "agentd/supervisor/supervisor_internal.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/sd_notify.h"

namespace logctl::agentd {
namespace supervisor_detail {

using std::chrono::steady_clock;

std::string describe_exit(int status) {
  if (status < 0) return "did not exit";
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "stopped";
}

const char* result_name(HandoverResult r) {
  switch (r) {
    case HandoverResult::kCommitted:
      return "committed";
    case HandoverResult::kRolledBack:
      return "rolled_back";
    case HandoverResult::kRejected:
      return "rejected";
  }
  return "?";
}

double ms_since(steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

}  // namespace supervisor_detail

using handover::Message;
using handover::MessageType;
using std::chrono::steady_clock;
using json = nlohmann::json;
using namespace supervisor_detail;

Supervisor::Supervisor(SupervisorOptions options)
    : o_(std::move(options)),
      admin_(metrics_),
      c_committed_(metrics_.counter("agentd_handover_total", "Handovers by result.",
                                    {{"result", "committed"}})),
      c_rolled_back_(metrics_.counter("agentd_handover_total", "Handovers by result.",
                                      {{"result", "rolled_back"}})),
      c_rejected_(metrics_.counter("agentd_handover_total", "Handovers by result.",
                                   {{"result", "rejected"}})),
      c_bad_requests_(metrics_.counter("agentd_control_bad_requests_total",
                                       "Control socket requests that were not understood.", {})),
      c_worker_restarts_(metrics_.counter("agentd_worker_restarts_total",
                                          "Workers restarted after an unexpected exit.", {})),
      g_generation_(metrics_.gauge("agentd_generation", "Generation of the serving worker.", {})),
      g_in_progress_(metrics_.gauge("agentd_handover_in_progress", "1 while a handover runs.", {})),
      g_last_ms_(metrics_.gauge("agentd_handover_last_duration_milliseconds",
                                "Duration of the last handover.", {})),
      g_worker_up_(metrics_.gauge("agentd_worker_up",
                                  "1 while the serving worker answers its admin port.", {})) {
  if (o_.control_path.empty()) o_.control_path = o_.root_dir + "/agentd.sock";
}

Supervisor::~Supervisor() {
  if (control_ >= 0) {
    stop_control_thread();
    ::close(control_);
    ::unlink(o_.control_path.c_str());
  }
  for (int fd : {signals_, wake_, control_stop_, current_.fd}) {
    if (fd >= 0) ::close(fd);
  }
}

// ---- workers ----

Result<Supervisor::Worker> Supervisor::spawn(const GenerationSpec& spec, std::int64_t generation) {
  int pair[2];
  if (auto s = fdpass::socket_pair(pair); !s) return std::unexpected(s.error());
  std::vector<std::string> args = {spec.binary,
                                   "worker",
                                   "--channel-fd",
                                   "3",
                                   "-c",
                                   spec.config,
                                   "--root-dir",
                                   o_.root_dir,
                                   "--generation",
                                   std::to_string(generation),
                                   "--shutdown-timeout",
                                   std::to_string(o_.shutdown_timeout)};
  if (!o_.log_level.empty()) {
    args.push_back("--log-level");
    args.push_back(o_.log_level);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(pair[0]);
    ::close(pair[1]);
    return std::unexpected(fs::errno_error("fork", spec.binary, err));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a worker never outlives its supervisor
    if (::getppid() != parent) ::_exit(126);
    if (pair[1] == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(pair[1], 3);
    }
    ::close_range(4, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pair[1]);
  Worker w;
  w.pid = pid;
  w.fd = pair[0];
  w.channel = std::make_unique<SupervisorChannel>(pair[0], sockets_);
  w.generation = generation;
  w.spec = spec;
  log::info("generation " + std::to_string(generation) + ": started worker pid " +
            std::to_string(pid) + " (" + spec.binary + ", " + spec.config + ")");
  return w;
}

int Supervisor::reap(Worker& w, Deadline deadline) {
  if (w.pid <= 0) return -1;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(w.pid, &status, deadline ? WNOHANG : 0);
    if (r == w.pid) {
      w.pid = -1;
      return status;
    }
    if (r < 0 && errno != EINTR) {
      w.pid = -1;
      return -1;
    }
    if (deadline && steady_clock::now() >= *deadline) return -1;
    if (deadline) ::poll(nullptr, 0, 2);  // a short wait between checks
  }
}

void Supervisor::kill_worker(Worker& w) {
  if (w.pid > 0) {
    ::kill(w.pid, SIGKILL);
    reap(w, std::nullopt);
  }
  if (w.fd >= 0) ::close(w.fd);
  w.fd = -1;
  w.channel.reset();
}

namespace {
// `text` with every '...'-quoted part shown as '…': error messages quote
// what they found in files, which a report must not repeat.
std::string redact_quoted(const std::string& text) {
  std::string out;
  bool inside = false;
  for (char c : text) {
    if (c == '\'') {
      out += inside ? "…'" : "'";
      inside = !inside;
    } else if (!inside) {
      out.push_back(c);
    }
  }
  if (inside) out += "…";
  return out;
}
}  // namespace

// Why a worker did not answer a step: its `failed` reason, the deadline, or
// how it exited (a closed channel means the process is gone or going).
std::string Supervisor::cause(Worker& w, const Result<Message>& m, const char* step,
                              std::chrono::milliseconds timeout) {
  if (m && m->type == MessageType::kFailed) {
    // The full text goes to the log only: reports reach /status (any local
    // user) and may not quote files the worker read (an @include of a secret).
    log::error("worker generation " + std::to_string(w.generation) + " failed: " + m->reason);
    return redact_quoted(m->reason) + " (the log has the details)";
  }
  if (m) return "unexpected answer";
  if (m.error().message.find("timed out") != std::string::npos) {
    return std::string("not ") + step + " within " + std::to_string(timeout.count()) + " ms";
  }
  int status = reap(w, steady_clock::now() + std::chrono::seconds(2));
  return status >= 0 ? "worker " + describe_exit(status) : m.error().message;
}

// Awaits prepared, sends start, awaits ready; names the cause of a failure.
Status Supervisor::bring_up(Worker& w, bool hold) {
  auto fail = [&](const Result<Message>& m, const char* step) -> Status {
    return make_error(ErrorCode::kUnavailable, "generation " + std::to_string(w.generation) + ": " +
                                                   cause(w, m, step, o_.ready_timeout));
  };
  auto deadline = steady_clock::now() + o_.ready_timeout;
  auto m = w.channel->await({MessageType::kPrepared}, deadline);
  if (!m || m->type != MessageType::kPrepared) return fail(m, "prepared");
  Message start(MessageType::kStart);
  start.hold = hold;
  if (auto s = w.channel->send(start); !s) return s;
  m = w.channel->await({MessageType::kReady}, deadline);
  if (!m || m->type != MessageType::kReady) return fail(m, "ready");
  w.admin_port = m->admin_port;
  return {};
}

// A listener the serving generation did not ask for is closed, so senders
// to a port the config no longer has are refused instead of queued unread.
void Supervisor::close_unused_listeners() {
  if (!current_.channel) return;
  const auto& keep = current_.channel->listener_keys();
  for (const auto& key : sockets_.close_unused(keep)) {
    log::warn("listener " + key + " is not in generation " + std::to_string(current_.generation) +
              "'s config: closed (senders to it are now refused)");
  }
}

Status Supervisor::start_first() {
  auto w = spawn(current_.spec.binary.empty() ? o_.spec : current_.spec, next_generation_++);
  if (!w) return std::unexpected(w.error());
  if (auto s = bring_up(*w, /*hold=*/false); !s) {
    kill_worker(*w);
    return s;
  }
  current_ = std::move(*w);
  ingest_leftovers();
  return {};
}

// Spools a crashed worker left behind (a normal handover consumes its own).
void Supervisor::ingest_leftovers() {
  std::string dir = o_.root_dir + "/handover";
  auto names = fs::list_dir(dir);
  if (!names) return;  // no handover ever ran here
  for (const auto& name : *names) {
    if (name.rfind("gen-", 0) != 0) continue;
    std::string spool = dir + "/" + name;
    Message in(MessageType::kIngest);
    in.spool = spool;
    (void)current_.channel->send(in);
    auto m =
        current_.channel->await({MessageType::kIngested}, steady_clock::now() + o_.step_timeout);
    if (m && m->type == MessageType::kIngested) {
      log::info("recovered " + std::to_string(m->count) + " event(s) from spool " + spool);
    } else {
      log::error("spool " + spool +
                 " could not be recovered: " + (m ? m->reason : m.error().message));
    }
  }
}

void Supervisor::on_worker_exit() {
  int status = reap(current_, steady_clock::now() + std::chrono::seconds(5));
  std::string why =
      "worker of generation " + std::to_string(current_.generation) + " " + describe_exit(status);
  kill_worker(current_);
  ++c_worker_restarts_;
  if (previous_ && steady_clock::now() - committed_at_ < kRollbackWindow) {
    // The generation we just committed died soon after: back to the one before.
    log::error(why + " soon after its handover; restarting the previous generation");
    current_.spec = *previous_;
    previous_.reset();
    HandoverReport r;
    r.result = HandoverResult::kRolledBack;
    r.reason = why;
    ++c_rolled_back_;
    std::lock_guard lock(mu_);
    last_ = r;
  } else {
    log::error(why + "; restarting it");
  }
}

// A managed node keeps what it now runs for its next start (before any
// re-exec, on this thread: desired_state.h).
void Supervisor::remember_desired() {
  if (o_.link.url.empty()) return;
  if (auto s = remember_desired_state(o_.root_dir, current_.spec.binary, current_.spec.config);
      !s) {
    log::warn("cannot keep the desired state for restarts: " + s.error().message);
  }
}

HandoverReport Supervisor::run_handover(const GenerationSpec& spec) {
  sd_notify("RELOADING=1");
  set_status("handover");
  g_in_progress_ = 1;
  // What the new generation reads: the content it runs once committed.
  std::string fingerprint =
      config_watch_ && spec.config == watched_config_ ? config_watch_->snapshot() : "";
  HandoverReport r = handover(spec);
  if (r.result == HandoverResult::kCommitted) {
    remember_desired();
    if (!fingerprint.empty()) {
      config_watch_->applied(fingerprint);
    } else {
      watch_config();  // another config path (or the first @include)
    }
  }
  g_in_progress_ = 0;
  g_last_ms_ = r.phases.empty() ? 0 : static_cast<std::int64_t>(r.phases.back().second);
  for (const auto& [name, ms] : r.phases) {
    metrics_.gauge("agentd_handover_last_phase_microseconds",
                   "Duration of each phase of the last handover.", {{"phase", name}}) =
        static_cast<std::int64_t>(ms * 1000);
  }
  if (r.result != HandoverResult::kCommitted) {
    log::error(std::string("handover ") + result_name(r.result) + ": " + r.reason);
  }
  if (current_.pid <= 0) restart_at_ = steady_clock::now();
  set_status(current_.pid > 0 ? "running" : "restarting");
  {
    std::lock_guard lock(mu_);
    last_ = r;
  }
  sd_notify("READY=1");
  return r;
}

void Supervisor::watch_config() {
  config_watch_.reset();
  watched_config_ = current_.spec.config;
  auto w = ConfigWatch::open(watched_config_);
  if (!w) {
    log::warn("config watch: " + w.error().message + "; not watching " + watched_config_);
    return;
  }
  config_watch_ = std::move(*w);
}

// The watched config changed (and stayed quiet for the delay): reload it by
// staged handover if it is valid; an invalid one is refused and the running
// generation keeps serving. Either way the same content is not tried again.
void Supervisor::config_changed() {
  auto count = [this](const char* result) {
    ++metrics_.counter("agentd_config_watch_reloads_total",
                       "Reloads started by a change of the watched config files, by result.",
                       {{"result", result}});
  };
  std::string fingerprint = config_watch_->snapshot();
  if (auto cfg = config::load_pipeline(watched_config_); !cfg) {
    log::error("config watch: " + watched_config_ +
               " changed but is invalid: " + cfg.error().message + "; generation " +
               std::to_string(current_.generation) + " keeps serving the previous config");
    count("invalid");
    config_watch_->applied(fingerprint);
    return;
  }
  if (current_.pid <= 0) return;  // a restart reads it anyway
  log::info("config watch: " + watched_config_ + " or an included file changed; reloading");
  auto r = run_handover(current_.spec);
  count(result_name(r.result));
  if (config_watch_) config_watch_->applied(fingerprint);
}

// Runs every queued control request, in order, and answers it.
void Supervisor::drain_queue() {
  for (;;) {
    std::shared_ptr<Request> r;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;
      r = queue_.front();
      queue_.pop_front();
    }
    HandoverReport rep;
    if (r->op == Request::Op::kStop) {
      rep = stop_worker(r->drain);
    } else if (r->op == Request::Op::kStart) {
      rep = start_worker(r->spec);
    } else {
      rep = current_.pid > 0 ? run_handover(r->spec) : HandoverReport{};
      if (current_.pid <= 0 && rep.reason.empty()) rep.reason = "no serving worker";
    }
    std::lock_guard lock(mu_);
    r->report = rep;
    done_cv_.notify_all();
  }
}

HandoverReport Supervisor::stop_worker(Drain drain) {
  HandoverReport rep;
  rep.result = HandoverResult::kCommitted;
  held_ = true;
  restart_at_.reset();
  if (current_.pid > 0) {
    log::info("stopping the worker of generation " + std::to_string(current_.generation) +
              (drain == Drain::kEverything
                   ? " on request, every buffer delivered first (listeners stay open)"
                   : " on request (its buffers are flushed or persisted; listeners stay open)"));
    ::kill(current_.pid, drain == Drain::kEverything ? SIGUSR1 : SIGTERM);
    int status =
        reap(current_, steady_clock::now() + std::chrono::seconds(o_.shutdown_timeout + 5));
    if (status < 0) log::warn("the worker did not stop in time; killed");
    kill_worker(current_);
  }
  rep.generation = current_.generation;
  set_status("stopped");
  return rep;
}

HandoverReport Supervisor::start_worker(const GenerationSpec& spec) {
  HandoverReport rep;
  if (current_.pid > 0) {
    rep.result = HandoverResult::kRejected;
    rep.reason = "a worker is running";
    return rep;
  }
  current_.spec = spec;
  held_ = false;
  if (auto s = start_first(); !s) {
    held_ = true;  // stay stopped; the controller sees the failure
    rep.result = HandoverResult::kRejected;
    rep.reason = redact_quoted(s.error().message);
    set_status("stopped");
    return rep;
  }
  remember_desired();
  log::info("started generation " + std::to_string(current_.generation) + " on request");
  rep.result = HandoverResult::kCommitted;
  rep.generation = current_.generation;
  set_status("running");
  return rep;
}

// Whether the file at our binary's path is no longer the image we run.
bool Supervisor::image_replaced() const {
  struct stat running {
  }, on_disk{};
  if (::stat("/proc/self/exe", &running) != 0) return false;
  if (::stat(o_.self_binary.c_str(), &on_disk) != 0) return false;
  return running.st_dev != on_disk.st_dev || running.st_ino != on_disk.st_ino;
}

// Probes the worker's /readyz every second: a worker that is alive but does
// not answer (stopped, wedged) makes the supervisor not ready and is shown
// in agentd_worker_up.
void Supervisor::watch_worker() {
  int misses = 0;
  std::unique_lock lock(watch_mu_);
  while (!watch_stop_) {
    int port;
    {
      std::lock_guard g(mu_);
      port = worker_admin_port_;
    }
    lock.unlock();
    bool up = false;
    if (port > 0) {
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(1, 0);
      c.set_read_timeout(1, 0);
      auto r = c.Get("/readyz");
      up = r && r->status == 200;
    }
    misses = up ? 0 : misses + 1;
    bool answering = misses < 2;  // one miss may be a handover's switch
    if (answering != worker_answering_.exchange(answering)) {
      (answering ? log::info : log::error)(answering ? "worker answers again"
                                                     : "worker is not answering its admin port");
    }
    g_worker_up_ = answering ? 1 : 0;
    lock.lock();
    watch_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return watch_stop_; });
  }
}

void Supervisor::stop_watch() {
  {
    std::lock_guard lock(watch_mu_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watch_thread_.joinable()) watch_thread_.join();
  watch_stop_ = false;
}

// ---- main loop ----

int Supervisor::run() {
  log::set_process("supervisor");
  if (o_.inherit_fd >= 0) {
    if (auto st = restore_state(o_.inherit_fd); !st) {
      log::error("re-exec: cannot take over the previous supervisor's state: " +
                 st.error().message);
      return 1;
    }
  }
  if (auto s = fs::ensure_private_dir(o_.root_dir, 0750); !s) {
    log::error("root dir: " + s.error().message);
    return 1;
  }
  if (lock_.fd() < 0) {  // inherited across a re-exec otherwise
    auto lock = fs::lock_file(o_.root_dir + "/agentd.lock", "root dir " + o_.root_dir);
    if (!lock) {
      log::error(lock.error().message + ": another agentd serves it; refusing to start");
      return 1;
    }
    lock_ = std::move(*lock);
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signals_ = ::signalfd(-1, &sigs, SFD_CLOEXEC);
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  control_stop_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (o_.inherit_fd >= 0) {
    log::info("re-executed as " + o_.self_binary + " (" + o_.version + "), pid " +
              std::to_string(::getpid()) + " unchanged; generation " +
              std::to_string(current_.generation) + " keeps serving");
  } else {
    current_.spec = o_.spec;
    if (auto st = start_first(); !st) {
      log::error("start failed: " + st.error().message);
      return 1;
    }
  }
  set_status("running");
  admin_.set_extra_metrics([this] { return worker_metrics(); });
  admin_.set_status([this] { return status_json(); });
  admin_.set_not_ready_reason([this] {
    return worker_answering_ ? std::string() : std::string("the worker is not answering");
  });
  if (!o_.admin_endpoint.empty()) {
    if (auto s = admin_.start(o_.admin_endpoint); !s) {
      log::error(s.error().message);
      kill_worker(current_);
      return 1;
    }
  }
  if (o_.inherit_fd < 0) {
    if (auto st = open_control_socket(); !st) {
      log::error(st.error().message);
      kill_worker(current_);
      return 1;
    }
  }
  control_thread_ = std::thread([this] { serve_control(); });
  watch_thread_ = std::thread([this] { watch_worker(); });
  start_link();
  watch_config();
  admin_.set_ready(true);
  sd_notify("READY=1\nMAINPID=" + std::to_string(::getpid()));
  log::info("agentd " + o_.version + " ready: generation " + std::to_string(current_.generation) +
            ", control socket " + o_.control_path);

  auto backoff = std::chrono::milliseconds(0);
  while (!stopping_) {
    int watch_fd = config_watch_ ? config_watch_->fd() : -1;
    pollfd fds[4] = {
        {signals_, POLLIN, 0}, {wake_, POLLIN, 0}, {watch_fd, POLLIN, 0}, {current_.fd, POLLIN, 0}};
    int timeout = -1;
    auto wait_for = [&](steady_clock::time_point at) {
      auto ms = std::max<std::int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::milliseconds>(at - steady_clock::now()).count() +
              1);
      timeout = timeout < 0 ? static_cast<int>(ms) : std::min(timeout, static_cast<int>(ms));
    };
    if (restart_at_) wait_for(*restart_at_);
    if (config_watch_ && config_watch_->due()) wait_for(*config_watch_->due());
    if (::poll(fds, 4, timeout) < 0) continue;
    if (fds[2].revents & POLLIN) config_watch_->on_readable();
    if (config_watch_ && config_watch_->due() && steady_clock::now() >= *config_watch_->due()) {
      if (config_watch_->changed()) {
        config_changed();
      } else {
        ++metrics_.counter("agentd_config_watch_unchanged_total",
                           "Changes seen in the watched directories that left the config's "
                           "content as it was (no reload).",
                           {});
      }
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(signals_, &si, sizeof si) == sizeof si) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGTERM || sig == SIGINT) {
          log::info(std::string("stopping on ") + strsignal(sig));
          break;
        }
        // SIGHUP: reload the config; SIGUSR2: the binary file was replaced:
        // the worker moves to it, then the supervisor execs it too.
        log::info(std::string(strsignal(sig)) + ": handover to the same binary and config path");
        if (current_.pid > 0) {
          auto r = run_handover(current_.spec);
          if (sig == SIGUSR2 && r.result == HandoverResult::kCommitted && image_replaced()) {
            reexec(current_.spec.binary);
          }
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      std::uint64_t n;
      (void)!::read(wake_, &n, sizeof n);
      drain_queue();
      if (current_.pid > 0 && current_.spec.binary != o_.self_binary) reexec(current_.spec.binary);
    }
    if (current_.fd >= 0 && (fds[3].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto m = current_.channel->receive(nullptr);
      if (!m) {
        on_worker_exit();
        set_status(held_ ? "stopped" : "restarting");
        if (!held_) restart_at_ = steady_clock::now() + backoff;
      } else {
        log::warn(std::string("unexpected message '") + handover::message_type_name(m->type) +
                  "' from the worker ignored");
      }
    }
    if (restart_at_ && steady_clock::now() >= *restart_at_) {
      restart_at_.reset();
      if (auto s = start_first(); !s) {
        backoff = std::min(std::max(backoff * 2, std::chrono::milliseconds(500)),
                           std::chrono::milliseconds(30000));
        log::error("restart failed: " + s.error().message + "; next try in " +
                   std::to_string(backoff.count()) + " ms");
        restart_at_ = steady_clock::now() + backoff;
      } else {
        backoff = std::chrono::milliseconds(0);
        set_status("running");
      }
    }
  }
  sd_notify("STOPPING=1");
  admin_.set_ready(false);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& r : queue_) {
      r->report = HandoverReport{};
      r->report->reason = "agentd is stopping";
    }
    queue_.clear();
    done_cv_.notify_all();
  }
  if (link_) link_->stop();
  // Our listeners close first: once the worker has accepted what the kernel
  // queued and closed its copies, new connections are refused rather than
  // queued on a socket nobody will read (and reset at exit).
  auto closed = sockets_.close_unused({});
  if (!closed.empty()) log::info("closed " + std::to_string(closed.size()) + " listener(s)");
  if (current_.pid > 0) {
    ::kill(current_.pid, SIGTERM);
    int status =
        reap(current_, steady_clock::now() + std::chrono::seconds(o_.shutdown_timeout + 5));
    if (status < 0) kill_worker(current_);
  }
  stop_watch();
  admin_.stop();
  log::info("stopped");
  return 0;
}

}  // namespace logctl::agentd
