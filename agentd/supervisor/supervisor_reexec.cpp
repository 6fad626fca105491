// The supervisor's self-upgrade: its state saved into a memfd, execve of
// the new binary with listeners, the worker's channel and the control socket
// inherited, and the state taken over on the other side (PID unchanged).
#include "agentd/supervisor/supervisor.h"

#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "agentd/app/manifest.h"
#include "agentd/core/log.h"
#include "agentd/platform/fd_passing.h"
#include "agentd/platform/fs.h"
#include "agentd/supervisor/desired_state.h"
#include "agentd/supervisor/supervisor_internal.h"
#include "logctl/schema/sd_notify.h"

namespace logctl::agentd {

using handover::Message;
using handover::MessageType;
using std::chrono::steady_clock;
using json = nlohmann::json;
using namespace supervisor_detail;

// ---- self-upgrade ----

std::string Supervisor::save_state() {
  json listeners = json::array();
  for (const auto& [key, fd] : sockets_.listeners())
    listeners.push_back({{"key", key}, {"fd", fd}});
  json j = {
      {"state_version", 1},  // bump when a field's meaning changes
      {"listeners", listeners},
      {"worker",
       {{"pid", current_.pid},
        {"fd", current_.fd},
        {"generation", current_.generation},
        {"binary", current_.spec.binary},
        {"config", current_.spec.config},
        {"admin_port", current_.admin_port}}},
      {"next_generation", next_generation_},
      {"counters",
       {c_committed_.load(), c_rolled_back_.load(), c_rejected_.load(), c_worker_restarts_.load()}},
      {"control_fd", control_},
      {"lock_fd", lock_.fd()},
      {"options",
       {{"root_dir", o_.root_dir},
        {"admin_endpoint", o_.admin_endpoint},
        {"control_path", o_.control_path},
        {"log_level", o_.log_level},
        {"shutdown_timeout", o_.shutdown_timeout},
        {"ready_timeout_ms", o_.ready_timeout.count()},
        {"step_timeout_ms", o_.step_timeout.count()},
        {"settle_ms", o_.settle.count()}}}};
  if (previous_) j["previous"] = {{"binary", previous_->binary}, {"config", previous_->config}};
  std::lock_guard lock(mu_);
  if (last_) j["last_handover"] = json::parse(last_->json());
  return j.dump();
}

Status Supervisor::restore_state(int fd) {
  auto text = fs::read_all(fd, "inherited state");
  ::close(fd);
  if (!text) return std::unexpected(text.error());
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || j.value("state_version", 0) != 1) {
    return make_error(ErrorCode::kCorrupt, "inherited state is not version 1 JSON");
  }
  try {
    const auto& o = j.at("options");
    o_.root_dir = o.at("root_dir");
    o_.admin_endpoint = o.at("admin_endpoint");
    o_.control_path = o.at("control_path");
    o_.log_level = o.at("log_level");
    o_.shutdown_timeout = o.at("shutdown_timeout");
    o_.ready_timeout = std::chrono::milliseconds(o.at("ready_timeout_ms").get<std::int64_t>());
    o_.step_timeout = std::chrono::milliseconds(o.at("step_timeout_ms").get<std::int64_t>());
    o_.settle = std::chrono::milliseconds(o.at("settle_ms").get<std::int64_t>());
    auto cloexec = [](int f) { ::fcntl(f, F_SETFD, FD_CLOEXEC); };
    for (const auto& l : j.at("listeners")) {
      sockets_.adopt(l.at("key"), l.at("fd"));
      cloexec(l.at("fd"));
    }
    const auto& w = j.at("worker");
    current_.pid = w.at("pid");
    current_.fd = w.at("fd");
    cloexec(current_.fd);
    current_.channel = std::make_unique<SupervisorChannel>(current_.fd, sockets_);
    current_.generation = w.at("generation");
    current_.spec = GenerationSpec{w.at("binary"), w.at("config")};
    current_.admin_port = w.at("admin_port");
    next_generation_ = j.at("next_generation");
    const auto& c = j.at("counters");
    c_committed_ = c.at(0);
    c_rolled_back_ = c.at(1);
    c_rejected_ = c.at(2);
    c_worker_restarts_ = c.at(3);
    if (j.contains("last_handover")) {
      const auto& l = j["last_handover"];
      HandoverReport r;
      std::string res = l.value("result", "");
      r.result = res == "committed"     ? HandoverResult::kCommitted
                 : res == "rolled_back" ? HandoverResult::kRolledBack
                                        : HandoverResult::kRejected;
      r.generation = l.value("generation", 0);
      r.reason = l.value("reason", "");
      r.connections_handed_over = l.value("connections_handed_over", std::int64_t{0});
      r.events_through_spool = l.value("events_through_spool", std::int64_t{0});
      json phases = l.value("phases_ms", json::object());
      for (const auto& [name, ms] : phases.items()) {
        r.phases.emplace_back(name, ms.get<double>());
      }
      std::lock_guard lock(mu_);
      last_ = r;
    }
    control_ = j.at("control_fd");
    cloexec(control_);
    if (j.contains("lock_fd") && j["lock_fd"].get<int>() >= 0) {
      lock_ = fs::File(j["lock_fd"].get<int>(), o_.root_dir + "/agentd.lock");
      cloexec(lock_.fd());
    }
    if (j.contains("previous")) {
      previous_ = GenerationSpec{j["previous"].at("binary"), j["previous"].at("config")};
    }
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorrupt, std::string("inherited state: ") + e.what());
  }
  committed_at_ = steady_clock::now();
  return {};
}

void Supervisor::reexec(std::string binary) {
  // Stop accepting (new clients wait in the socket's backlog and are served
  // by the new image); serve every client already accepted, bounded.
  stop_control_thread();
  auto deadline = steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    drain_queue();
    std::unique_lock lock(mu_);
    if ((clients_ == 0 && queue_.empty()) || steady_clock::now() >= deadline) break;
    done_cv_.wait_for(lock, std::chrono::milliseconds(50),
                      [&] { return clients_ == 0 || !queue_.empty(); });
  }
  binary = current_.spec.binary;  // a drained request may have moved it again
  auto mem = fs::memfd_with("agentd-state", save_state(), fs::Inherit::kYes);
  if (!mem) {
    log::error("re-exec: cannot write the state for " + binary + " (" + mem.error().message +
               "); not re-executing");
    control_thread_ = std::thread([this] { serve_control(); });
    return;
  }
  std::vector<int> inherit;
  for (const auto& [key, fd] : sockets_.listeners()) inherit.push_back(fd);
  if (lock_.fd() >= 0) inherit.push_back(lock_.fd());
  inherit.push_back(current_.fd);
  inherit.push_back(control_);
  std::vector<std::string> args{binary};
  for (std::size_t i = 0; i < o_.args.size(); ++i) {
    if (o_.args[i] == "--inherit-state") {
      ++i;  // drop the previous exec's fd
      continue;
    }
    args.push_back(o_.args[i]);
  }
  args.push_back("--inherit-state");
  args.push_back(std::to_string(*mem));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  log::info("re-executing " + binary + " (supervisor self-upgrade, pid " +
            std::to_string(::getpid()) + ")");
  for (int fd : inherit) ::fcntl(fd, F_SETFD, 0);
  stop_watch();
  admin_.stop();  // its port is bound again by the new image
  ::execv(argv[0], argv.data());
  int err = errno;
  for (int fd : inherit) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  log::error("re-exec of " + binary + " failed (" + std::strerror(err) +
             "); the supervisor keeps running as " + o_.self_binary);
  if (!o_.admin_endpoint.empty()) (void)admin_.start(o_.admin_endpoint);
  watch_thread_ = std::thread([this] { watch_worker(); });
  ::close(*mem);
  control_thread_ = std::thread([this] { serve_control(); });
}

}  // namespace logctl::agentd
