// The staged handover, driven by the supervisor (docs/handover-protocol.md):
// one step per function, in order — prepare, source_only, start, settle,
// activate, switch_over, ingest, reap_old — and the rollback to the old
// generation when the new one fails before switch-over; the report.
#include <poll.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "agentd/core/log.h"
#include "agentd/supervisor/supervisor.h"
#include "agentd/supervisor/supervisor_internal.h"

namespace logctl::agentd {

using handover::Message;
using handover::MessageType;
using std::chrono::steady_clock;
using namespace supervisor_detail;

std::string HandoverReport::json() const {
  nlohmann::json j = {{"ok", result == HandoverResult::kCommitted},
                      {"result", result_name(result)},
                      {"generation", generation}};
  if (!reason.empty()) j["reason"] = reason;
  nlohmann::json ph = nlohmann::json::object();
  for (const auto& [name, ms] : phases) ph[name] = ms;
  j["phases_ms"] = ph;
  if (result == HandoverResult::kCommitted) {
    j["connections_handed_over"] = connections_handed_over;
    j["events_through_spool"] = events_through_spool;
  }
  return j.dump();
}

HandoverReport Supervisor::roll_back(Worker& fresh, HandoverReport report, const std::string& why) {
  auto t = steady_clock::now();
  kill_worker(fresh);
  report.result = HandoverResult::kRolledBack;
  report.reason = why;
  if (auto s = current_.channel->send(Message(MessageType::kResume)); s) {
    auto m =
        current_.channel->await({MessageType::kResumed}, steady_clock::now() + o_.step_timeout);
    if (!m || m->type != MessageType::kResumed) {
      std::string e = m ? m->reason : m.error().message;
      log::error("rollback: the old generation could not resume (" + e + "); restarting it");
      kill_worker(current_);
    }
  }
  report.phases.emplace_back("rollback", ms_since(t));
  ++c_rolled_back_;
  return report;
}

// ---- the handover: one function per step (see the diagram in supervisor.h) ----
// A step returns "" on success, else why it failed.

std::string Supervisor::step_prepare(Attempt& a) {
  // The new generation negotiates and validates; nothing stops yet.
  auto m = a.fresh.channel->await({MessageType::kPrepared}, steady_clock::now() + o_.ready_timeout);
  if (m && m->type == MessageType::kPrepared) return "";
  return cause(a.fresh, m, "prepared", o_.ready_timeout);
}

std::string Supervisor::step_source_only(Attempt& a) {
  Message so(MessageType::kSourceOnly);
  so.spool = a.spool;
  (void)current_.channel->send(so);
  auto m = current_.channel->await({MessageType::kSourceOnlyDone},
                                   steady_clock::now() + o_.step_timeout);
  if (m && m->type == MessageType::kSourceOnlyDone) return "";
  return m ? m->reason : m.error().message;
}

std::string Supervisor::step_start(Attempt& a) {
  Message start(MessageType::kStart);
  start.hold = true;  // outputs and buffers start; nothing is read yet
  (void)a.fresh.channel->send(start);
  auto m = a.fresh.channel->await({MessageType::kReady}, steady_clock::now() + o_.ready_timeout);
  if (!m || m->type != MessageType::kReady) return cause(a.fresh, m, "ready", o_.ready_timeout);
  a.fresh.admin_port = m->admin_port;
  return "";
}

std::string Supervisor::step_settle(Attempt& a) {
  // Anything on the channel now (the channel closing above all) is a failure.
  pollfd p{a.fresh.fd, POLLIN, 0};
  if (o_.settle.count() == 0 || ::poll(&p, 1, static_cast<int>(o_.settle.count())) <= 0) return "";
  return "worker " + describe_exit(reap(a.fresh, steady_clock::now() + std::chrono::seconds(2)));
}

std::string Supervisor::step_activate(Attempt& a) {
  // The new generation reads before the old one stops: no moment without a reader.
  (void)a.fresh.channel->send(Message(MessageType::kActivate));
  auto m = a.fresh.channel->await({MessageType::kActive}, steady_clock::now() + o_.step_timeout);
  if (m && m->type == MessageType::kActive) {
    a.new_reading_ns = m->at_ns;
    return "";
  }
  return cause(a.fresh, m, "active", o_.step_timeout);
}

// Past activate the new generation serves: what goes wrong with the old one
// from here on is logged, never rolled back.
void Supervisor::step_switch_over(Attempt& a) {
  (void)current_.channel->send(Message(MessageType::kSwitchOver));
  Result<Message> m = make_error(ErrorCode::kInternal, "no answer");
  for (;;) {
    std::vector<int> fds;
    m = current_.channel->await({MessageType::kConnection, MessageType::kSwitched},
                                steady_clock::now() + o_.step_timeout, &fds);
    bool connection = m && m->type == MessageType::kConnection;
    if (connection && a.fresh.channel->send(*m, fds)) ++a.handed;
    for (int fd : fds) ::close(fd);
    if (!connection) break;
  }
  if (!m || m->type != MessageType::kSwitched) {
    log::error("handover: the old generation failed during switch-over (" +
               (m ? m->reason : m.error().message) +
               "); its remaining connections are lost, its spool is recovered");
  } else {
    if (!m->spool.empty()) a.spool = m->spool;
    a.old_stopped_ns = m->at_ns;
  }
  // The old generation is exiting: the spool is sealed, so the new one
  // ingests it now and the old one is reaped after (its exit took ~10 ms
  // at 1 M events/s, which every spooled event waited for).
  previous_ = current_.spec;
  a.old = std::move(current_);
  current_ = std::move(a.fresh);
  committed_at_ = steady_clock::now();
}

void Supervisor::step_reap_old(Attempt& a) {
  reap(a.old, steady_clock::now() + o_.step_timeout);
  kill_worker(a.old);  // kills it only if it has not exited; closes its channel
}

void Supervisor::step_ingest(Attempt& a) {
  Message in(MessageType::kIngest);
  in.spool = a.spool;
  (void)current_.channel->send(in);
  auto m = current_.channel->await({MessageType::kIngested}, steady_clock::now() + o_.step_timeout);
  if (!m || m->type != MessageType::kIngested) {
    log::error("handover: spool " + a.spool + " not ingested (" +
               (m ? m->reason : m.error().message) + "); it stays on disk for the next start");
    return;
  }
  a.ingested = m->count;
}

HandoverReport Supervisor::handover(const GenerationSpec& next) {
  HandoverReport report;
  report.generation = current_.generation;
  if (current_.pid <= 0) {
    report.reason = "no serving worker to hand over from";
    ++c_rejected_;
    return report;
  }
  log::info("handover: generation " + std::to_string(current_.generation) + " -> " +
            std::to_string(next_generation_) + " (" + next.binary + ", " + next.config + ")");
  auto t0 = steady_clock::now();
  auto fresh = spawn(next, next_generation_++);
  if (!fresh) {
    report.reason = fresh.error().message;
    ++c_rejected_;
    return report;
  }
  Attempt a;
  a.fresh = std::move(*fresh);
  a.spool = o_.root_dir + "/handover/gen-" + std::to_string(current_.generation);
  struct Step {
    const char* name;
    std::string (Supervisor::*run)(Attempt&);
    const char* failure;  // prefix of the reason
  };
  static constexpr Step kSteps[] = {
      {"prepare", &Supervisor::step_prepare, "new generation failed before anything stopped: "},
      {"source_only", &Supervisor::step_source_only,
       "old generation failed to enter source-only: "},
      {"start", &Supervisor::step_start, "new generation failed to start: "},
      {"settle", &Supervisor::step_settle, "new generation died after ready: "},
      {"activate", &Supervisor::step_activate, "new generation failed to activate: "},
  };
  for (const auto& step : kSteps) {
    auto t = steady_clock::now();
    std::string why = (this->*step.run)(a);
    if (!why.empty()) {
      if (step.run != &Supervisor::step_prepare)
        return roll_back(a.fresh, report, step.failure + why);
      kill_worker(a.fresh);  // nothing stopped: the old generation never noticed
      report.reason = step.failure + why;
      ++c_rejected_;
      return report;
    }
    report.phases.emplace_back(step.name, ms_since(t));
  }
  auto t = steady_clock::now();
  step_switch_over(a);
  report.phases.emplace_back("switch_over", ms_since(t));
  if (a.new_reading_ns > 0 && a.old_stopped_ns > 0) {
    // Both generations read the listeners for this long; negative would be a
    // gap with no reader (never expected: activate completes first).
    report.phases.emplace_back("readers_overlap", (a.old_stopped_ns - a.new_reading_ns) / 1e6);
  }
  t = steady_clock::now();
  step_ingest(a);
  report.phases.emplace_back("ingest", ms_since(t));
  t = steady_clock::now();
  step_reap_old(a);
  report.phases.emplace_back("reap_old", ms_since(t));
  report.phases.emplace_back("total", ms_since(t0));
  report.result = HandoverResult::kCommitted;
  report.generation = current_.generation;
  report.connections_handed_over = a.handed;
  report.events_through_spool = a.ingested;
  ++c_committed_;
  std::string phases;
  for (const auto& [name, ms] : report.phases) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%s %.1f ms", phases.empty() ? "" : ", ", name.c_str(), ms);
    phases += buf;
  }
  log::info("handover committed: generation " + std::to_string(current_.generation) + " serves; " +
            std::to_string(a.handed) + " connection(s) handed over; " + phases);
  close_unused_listeners();
  return report;
}

}  // namespace logctl::agentd
