// The supervisor's control socket (reload / upgrade / status requests, one
// at a time through the handover queue), its status, the worker's metrics
// and the controller link's hooks.
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

// ---- control socket ----

void Supervisor::answer(int client) {
  timeval tv{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[4096];
  while (req.find('\n') == std::string::npos && req.size() < kMaxControlRequest) {
    ssize_t n = ::read(client, buf, sizeof buf);
    if (n <= 0) break;
    req.append(buf, static_cast<std::size_t>(n));
  }
  auto reply = [&](const std::string& body) {
    std::string line = body + "\n";
    (void)!::write(client, line.data(), line.size());
  };
  auto j = json::parse(req, nullptr, false);
  std::string op = j.is_object() && j.contains("op") && j["op"].is_string() ? j["op"] : "";
  if (op == "status") return reply(status_json());
  if (op != "reload" && op != "upgrade") {
    ++c_bad_requests_;
    bad_request_log_.write(log::Level::kWarn,
                           "control socket: bad request '" + req.substr(0, 200) +
                               "' (want {\"op\": \"status\" | \"reload\" | \"upgrade\"})");
    return reply(
        R"({"ok":false,"error":"bad request: want {\"op\":\"status\"|\"reload\"|\"upgrade\", \"binary\"?, \"config\"?}"})");
  }
  auto r = std::make_shared<Request>();
  GenerationSpec serving;
  {
    std::lock_guard lock(mu_);
    r->spec = serving = spec_;
  }
  auto field = [&](const char* k, std::string& out) {
    if (j.contains(k) && j[k].is_string() && !j[k].get<std::string>().empty()) out = j[k];
  };
  std::string binary;
  field("binary", binary);
  field("config", r->spec.config);
  if (!binary.empty()) {
    auto trusted = fs::check_trusted_executable(binary);
    if (!trusted) {
      ++c_bad_requests_;
      log::warn("control socket: upgrade refused: " + trusted.error().message);
      json no = {{"ok", false}, {"result", "rejected"}, {"error", trusted.error().message}};
      return reply(no.dump());
    }
    r->spec.binary = *trusted;  // the resolved path is what runs, now and at restarts
  }
  if (!o_.link.url.empty() &&
      (r->spec.binary != serving.binary || r->spec.config != serving.config)) {
    // A managed node runs what the controller says; a local change would be
    // undone at the next heartbeat, silently. Reloading what runs is fine.
    ++c_bad_requests_;
    std::string why = "this node is managed by the controller at " + o_.link.url +
                      ": its version and config come from there (change them with `logctl "
                      "config apply` / `logctl cluster upgrade`); a local " +
                      op + " to another binary or config is refused";
    log::warn("control socket: " + why);
    return reply(json{{"ok", false}, {"result", "rejected"}, {"error", why}}.dump());
  }
  auto report = queue_and_wait(r->spec);
  if (!report) return reply(R"({"ok":false,"error":"agentd is stopping"})");
  reply(report->json());
}

std::optional<HandoverReport> Supervisor::queue_and_wait(const GenerationSpec& spec, Request::Op op,
                                                         Drain drain) {
  auto r = std::make_shared<Request>();
  r->spec = spec;
  r->op = op;
  r->drain = drain;
  std::unique_lock lock(mu_);
  if (stopping_) return std::nullopt;
  queue_.push_back(r);
  std::uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof one);
  done_cv_.wait(lock, [&] { return r->report.has_value(); });
  return r->report;
}

// What the node reports to the controller: what it runs and the figures a
// rollout's health gate reads (summed over the worker's metric families).
nlohmann::json Supervisor::actual_state() {
  std::string metrics = worker_metrics();
  auto sum = [&](std::string_view family) {
    double total = 0;
    std::size_t pos = 0;
    while ((pos = metrics.find(family, pos)) != std::string::npos) {
      bool line_start = pos == 0 || metrics[pos - 1] == '\n';
      std::size_t after = pos + family.size();
      pos = after;
      if (!line_start || after >= metrics.size() ||
          (metrics[after] != '{' && metrics[after] != ' ')) {
        continue;
      }
      auto sp = metrics.find(' ', metrics[after] == '{' ? metrics.find('}', after) : after);
      if (sp == std::string::npos) break;
      total += std::strtod(metrics.c_str() + sp + 1, nullptr);
    }
    return static_cast<std::int64_t>(total);
  };
  nlohmann::json figures = {
      {"events_in", sum("agentd_input_records_total")},
      {"events_out", sum("agentd_output_write_records_total")},
      {"drops", sum("agentd_input_dropped_records_total") +
                    sum("agentd_buffer_dropped_records_total") +
                    sum("agentd_output_dropped_records_total")},
      {"parse_errors", sum("agentd_input_parse_errors_total")},
      {"retries", sum("agentd_output_retries_total")},
      {"buffer_queue_bytes", sum("agentd_buffer_total_bytes")},
      {"worker_restarts", static_cast<std::int64_t>(c_worker_restarts_.load())}};
  auto manifest = build_manifest(o_.version);
  nlohmann::json listeners = nlohmann::json::array();
  for (const auto& [key, fd] : sockets_.listeners()) listeners.push_back(key);
  std::lock_guard lock(mu_);
  std::string version = ControllerLink::version_of(o_.root_dir, spec_.binary);
  nlohmann::json j = {
      {"version", version.empty() ? o_.version : version},
      {"config_revision", ControllerLink::config_of(o_.root_dir, spec_.config)},
      {"generation", generation_},
      {"running", worker_pid_ > 0},
      {"worker_up", worker_pid_ > 0 && g_worker_up_.load() == 1 && worker_answering_.load()},
      {"state", state_},
      {"chunk_format_written", manifest.chunk_format_write},
      {"handover_protocol",
       {{"min", manifest.handover_protocol.min}, {"max", manifest.handover_protocol.max}}},
      {"figures", figures},
      {"listeners", listeners}};
  if (last_) j["handover"] = nlohmann::json::parse(last_->json());
  return j;
}

void Supervisor::start_link() {
  if (o_.link.url.empty()) return;
  o_.link.root_dir = o_.root_dir;
  ControllerLink::Hooks h;
  h.actual = [this] { return actual_state(); };
  // Queues one request and answers with its report; a binary must be trusted
  // (as on the control socket) and runs as its resolved path.
  auto run = [this](Request::Op op, GenerationSpec spec, Drain drain = Drain::kAsConfigured) {
    auto refuse = [](const std::string& why) {
      return nlohmann::json{{"ok", false}, {"result", "rejected"}, {"reason", why}};
    };
    if (op != Request::Op::kStop) {
      auto trusted = fs::check_trusted_executable(spec.binary);
      if (!trusted) return refuse(trusted.error().message);
      spec.binary = *trusted;
    }
    auto report = queue_and_wait(spec, op, drain);
    if (!report) return refuse("agentd is stopping");
    return nlohmann::json::parse(report->json());
  };
  h.handover = [run](const std::string& binary, const std::string& config) {
    return run(Request::Op::kHandover, GenerationSpec{binary, config});
  };
  h.stop = [run](Drain drain) { return run(Request::Op::kStop, GenerationSpec{}, drain); };
  h.start = [run](const std::string& binary, const std::string& config) {
    return run(Request::Op::kStart, GenerationSpec{binary, config});
  };
  h.current_spec = [this] {
    std::lock_guard lock(mu_);
    return std::pair{spec_.binary, spec_.config};
  };
  link_ = std::make_unique<ControllerLink>(o_.link, std::move(h));
  link_->start();
}

void Supervisor::serve_control() {
  for (;;) {
    pollfd p[2] = {{control_, POLLIN, 0}, {control_stop_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents & POLLIN) return;  // connections wait in the backlog
    int client = ::accept4(control_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN) continue;
      return;  // shut down
    }
    int flags = ::fcntl(client, F_GETFL);
    ::fcntl(client, F_SETFL, flags & ~O_NONBLOCK);
    {
      std::lock_guard lock(mu_);
      ++clients_;
    }
    // One thread per client: a status request is answered while a reload waits.
    std::thread([this, client] {
      answer(client);
      ::close(client);
      std::lock_guard lock(mu_);
      --clients_;
      done_cv_.notify_all();
    }).detach();
  }
}

void Supervisor::stop_control_thread() {
  std::uint64_t one = 1;
  (void)!::write(control_stop_, &one, sizeof one);
  if (control_thread_.joinable()) control_thread_.join();
  std::uint64_t n;
  (void)!::read(control_stop_, &n, sizeof n);
}

// ---- status ----

void Supervisor::set_status(const std::string& state) {
  std::lock_guard lock(mu_);
  state_ = state;
  worker_pid_ = current_.pid;
  worker_admin_port_ = current_.admin_port;
  generation_ = current_.generation;
  spec_ = current_.spec;
  g_generation_ = current_.generation;
}

std::string Supervisor::status_json() {
  std::lock_guard lock(mu_);
  json j = {{"state", state_},           {"pid", ::getpid()},         {"version", o_.version},
            {"generation", generation_}, {"worker_pid", worker_pid_}, {"binary", spec_.binary},
            {"config", spec_.config},    {"queued", queue_.size()}};
  if (last_) j["last_handover"] = json::parse(last_->json());
  return j.dump();
}

std::string Supervisor::worker_metrics() {
  int port;
  {
    std::lock_guard lock(mu_);
    port = worker_admin_port_;
  }
  if (port <= 0) return "";
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(2, 0);
  auto r = c.Get("/metrics");
  if (r && r->status == 200) return r->body;
  return "# worker on port " + std::to_string(port) +
         " is not answering: its metrics are missing (see agentd_worker_up)\n";
}

Status Supervisor::open_control_socket() {
  control_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (o_.control_path.size() >= sizeof a.sun_path) {
    return make_error(ErrorCode::kInvalidArgument,
                      "control socket path too long: " + o_.control_path);
  }
  std::strcpy(a.sun_path, o_.control_path.c_str());
  ::unlink(o_.control_path.c_str());
  mode_t old = ::umask(0077);  // owner-only: the directory may be shared
  int rc = ::bind(control_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::listen(control_, 16) != 0) {
    return std::unexpected(fs::errno_error("listen", "control socket " + o_.control_path, errno));
  }
  return {};
}

}  // namespace logctl::agentd
