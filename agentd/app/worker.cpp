#include "agentd/app/worker.h"

#include "agentd/app/fluent_log.h"

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "agentd/admin/admin_server.h"
#include "agentd/app/pipeline.h"
#include "agentd/core/log.h"
#include "agentd/platform/fs.h"
#include "agentd/supervisor/channel.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {
namespace {

using handover::Message;
using handover::MessageType;

// One clock for both workers: CLOCK_MONOTONIC is system-wide.
std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class Worker {
 public:
  Worker(const WorkerOptions& o, int signal_fd)
      : o_(o), channel_(o.channel_fd), signals_(signal_fd), admin_(metrics_) {}

  int run();

 private:
  Status prepare();
  Status start(const Message& m);
  // One control message; false when the worker should exit.
  bool handle(const Message& m, std::vector<int>& fds);
  bool switch_over();
  Status reply(MessageType t, std::int64_t count = 0) {
    Message m(t);
    m.count = count;
    return channel_.send(m);
  }
  void fail(const std::string& reason) {
    log::error(reason);
    (void)channel_.failed(reason);
  }

  const WorkerOptions& o_;
  WorkerChannel channel_;
  int signals_;
  SystemClock clock_;
  Metrics metrics_;
  AdminServer admin_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<FluentLog> fluent_log_;  // destroyed before the pipeline
};

Status Worker::prepare() {
  auto cfg = config::load_pipeline(o_.config);
  if (!cfg) return make_error(ErrorCode::kInvalidArgument, "config error: " + cfg.error().message);
  std::string level = o_.log_level.empty() ? cfg->system.str("log_level") : o_.log_level;
  log::Level lv;
  if (!log::parse_level(level, lv)) {
    return make_error(ErrorCode::kInvalidArgument, "unknown log level '" + level + "'");
  }
  log::set_level(lv);
  if (const auto* l = cfg->system.child("log")) {
    log::set_format(l->str("format") == "json" ? log::Format::kJson : log::Format::kText);
  }
  for (const auto& w : cfg->warnings) log::warn("config: " + w);
  if (cfg->system.flag("without_source")) {
    log::info("without_source: the config's " + std::to_string(cfg->sources.size()) +
              " <source>(s) are not started");
    cfg->sources.clear();
  }
  PipelineOptions po;
  po.root_dir = o_.root_dir.empty() ? cfg->system.str("root_dir") : o_.root_dir;
  po.shutdown_timeout = o_.shutdown_timeout;
  po.listen = [this](const std::string& key) { return channel_.listen(key); };
  auto p = Pipeline::build(*cfg, po, clock_, metrics_);
  if (!p) return make_error(ErrorCode::kInvalidArgument, "config error: " + p.error().message);
  pipeline_ = std::move(*p);
  if (Emitter* fluent = pipeline_->label_gate("@FLUENT_LOG")) {
    fluent_log_ = std::make_unique<FluentLog>(*fluent, clock_, metrics_);
  } else if (auto levels = top_level_log_levels(*cfg); !levels.empty()) {
    fluent_log_ = std::make_unique<FluentLog>(pipeline_->top_gate(), clock_, metrics_, levels);
  }
  return {};
}

Status Worker::start(const Message& m) {
  if (auto s = admin_.start("127.0.0.1:0"); !s) return s;
  if (auto s = pipeline_->start(m.hold ? Reading::kHeld : Reading::kNow); !s) return s;
  admin_.set_ready(true);
  return {};
}

int Worker::run() {
  auto version = channel_.hello(::getpid(), o_.generation);
  if (!version) {
    log::error("handover channel: " + version.error().message);
    return 3;
  }
  if (o_.fault == Fault::kExitAtStart) {
    log::error("fault injected: exiting at start");
    return 1;
  }
  if (auto s = prepare(); !s) {
    fail(s.error().message);
    return 1;
  }
  (void)reply(MessageType::kPrepared);
  auto m = channel_.receive(nullptr);
  if (!m || m->type != MessageType::kStart) {
    log::error("handover channel: expected start");
    return 1;
  }
  if (auto s = start(*m); !s) {
    fail("start failed: " + s.error().message);
    pipeline_->stop();
    return 1;
  }
  if (o_.fault != Fault::kNeverReady) {
    (void)channel_.ready(admin_.port());
    log::info("ready" + std::string(m->hold ? " (network inputs held)" : ""));
  }
  if (o_.fault == Fault::kCrashAfterReady) {
    log::error("fault injected: crashing after ready");
    std::abort();
  }
  // SIGTERM / SIGINT stop with each buffer per its flush_at_shutdown; SIGUSR1
  // (the supervisor's stop for `shutdown --flush`) delivers every buffer.
  Drain drain = Drain::kAsConfigured;
  for (;;) {
    pollfd fds[2] = {{channel_.fd(), POLLIN, 0}, {signals_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(signals_, &si, sizeof si) == sizeof si) {
        log::info(std::string("stopping on ") + strsignal(static_cast<int>(si.ssi_signo)));
        if (si.ssi_signo == SIGUSR1) {
          drain = Drain::kEverything;
          log::info("delivering every buffer before stopping (file buffers too)");
        }
        break;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      std::vector<int> passed;
      auto msg = channel_.receive(&passed);
      if (!msg) {
        log::warn("supervisor channel closed (" + msg.error().message + "); stopping");
        break;
      }
      if (!handle(*msg, passed)) return 0;
    }
  }
  admin_.set_ready(false);
  pipeline_->stop(drain);
  admin_.stop();
  log::info("stopped");
  return 0;
}

bool Worker::handle(const Message& m, std::vector<int>& fds) {
  switch (m.type) {
    case MessageType::kActivate:
      if (auto s = pipeline_->activate(); !s) {
        fail("activate failed: " + s.error().message);
      } else {
        Message active(MessageType::kActive);
        active.at_ns = monotonic_ns();  // reading is armed by now (the latest it began)
        (void)channel_.send(active);
      }
      return true;
    case MessageType::kSourceOnly: {
      auto kept = pipeline_->enter_source_only(m.spool);
      if (!kept) {
        fail("source-only failed: " + kept.error().message);
      } else {
        log::info(pipeline_->outputs_kept()
                      ? "source-only: tails stopped; the outputs (memory buffers only) deliver "
                        "until switch-over, spool " +
                            m.spool
                      : "source-only: outputs and tails stopped, " + std::to_string(*kept) +
                            " memory-buffer event(s) spooled to " + m.spool);
        (void)reply(MessageType::kSourceOnlyDone, static_cast<std::int64_t>(*kept));
      }
      return true;
    }
    case MessageType::kResume:
      if (auto s = pipeline_->resume(); !s) {
        fail("resume failed: " + s.error().message);
      } else {
        log::info("resumed normal mode (handover rolled back)");
        (void)reply(MessageType::kResumed);
      }
      return true;
    case MessageType::kSwitchOver:
      return switch_over();
    case MessageType::kConnection: {
      if (fds.empty()) return true;
      HandedConnection c{m.key, fds[0], ""};
      if (fds.size() > 1) {
        auto pending = fs::read_all(fds[1], "pending bytes of " + m.key);
        if (pending && pending->size() == static_cast<std::size_t>(m.pending)) {
          c.pending = std::move(*pending);
        } else {
          log::warn("connection from " + m.key + ": its " + std::to_string(m.pending) +
                    " unparsed byte(s) could not be read");
        }
      }
      for (std::size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);
      if (auto s = pipeline_->adopt(std::move(c)); !s) log::warn(s.error().message);
      return true;
    }
    case MessageType::kIngest: {
      auto n = pipeline_->ingest(m.spool);
      if (!n) {
        fail("ingest failed: " + n.error().message);
      } else {
        (void)reply(MessageType::kIngested, static_cast<std::int64_t>(*n));
      }
      return true;
    }
    default:
      for (int fd : fds) ::close(fd);
      log::warn(std::string("unexpected handover message '") + handover::message_type_name(m.type) +
                "' ignored");
      return true;
  }
}

bool Worker::switch_over() {
  std::int64_t stopped_at = monotonic_ns();  // the earliest this worker stopped reading
  auto conns = pipeline_->release_connections();
  std::int64_t handed = 0;
  for (auto& c : conns) {
    Message m(MessageType::kConnection);
    m.key = c.key;
    m.pending = static_cast<std::int64_t>(c.pending.size());
    std::vector<int> fds{c.fd};
    if (!c.pending.empty()) {
      auto mem = fs::memfd_with("agentd-pending", c.pending, fs::Inherit::kNo);
      if (mem) fds.push_back(*mem);
    }
    if (channel_.send(m, fds)) ++handed;
    for (int fd : fds) ::close(fd);
  }
  Message done(MessageType::kSwitched);
  done.spool = pipeline_->seal_spool();
  done.count = handed;
  done.at_ns = stopped_at;
  (void)channel_.send(done);
  log::info("switched over: " + std::to_string(handed) + " connection(s) handed on, spool " +
            done.spool + " sealed; exiting");
  pipeline_->stop();
  admin_.stop();
  return false;
}

// The worker's heap, faulted in once before it serves and kept: a page the
// kernel hands out for the first time costs a fault and its zeroing, and on
// a VM whose host takes freed memory back (the benchmark machine) a host
// fault too. A new generation that met 1 M events/s with a cold heap stalled
// for 20-170 ms while it faulted in its first MiBs (batches, chunks, format
// buffers), and every event sent meanwhile waited; with 16 MiB or more
// faulted in beforehand the handover added 3.6-4.7 ms at p99
// (docs/benchmarks.md). So: one malloc arena for every thread (the reserve
// serves them all; agentd's hot paths reuse their buffers, so the arena's
// lock is seldom contended), buffers up to 32 MiB from it rather than from
// a fresh mmap each, AGENTD_HEAP_RESERVE_MB (default 32, at most 1024; 0:
// none) touched and freed, and free memory kept up to that much plus 32 MiB.
void reserve_heap() {
  std::size_t mb = 32;
  if (const char* v = std::getenv("AGENTD_HEAP_RESERVE_MB"); v && *v) {
    mb = std::min<std::size_t>(std::strtoul(v, nullptr, 10), 1024);
  }
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, static_cast<int>((mb + 32) << 20));
  std::vector<char*> blocks;
  blocks.reserve(mb);
  for (std::size_t i = 0; i < mb; ++i) {
    auto* b = static_cast<char*>(std::malloc(1 << 20));
    if (!b) break;
    volatile char* touch = b;  // a write per page faults it in; never optimised away
    for (std::size_t off = 0; off < (1 << 20); off += 4096) touch[off] = 0;
    blocks.push_back(b);
  }
  for (char* b : blocks) std::free(b);
}

}  // namespace

int run_worker(const WorkerOptions& o) {
  log::set_process("worker " + std::to_string(o.generation));
  reserve_heap();
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGUSR1);
  int sfd = ::signalfd(-1, &stop, SFD_CLOEXEC);
  Worker w(o, sfd);
  int rc = w.run();
  ::close(sfd);
  return rc;
}

}  // namespace logctl::agentd
