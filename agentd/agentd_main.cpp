// agentd's command line (main.cpp gives it the build's identity): wiring only.
//   agentd -c FILE            the supervisor (stable PID), which runs workers
//   agentd worker ...         one worker generation (started by the supervisor)
//   agentd ctl reload|upgrade|status   talks to a running supervisor
//   agentd schema | version | manifest
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "agentd/agentd_main.h"
#include "agentd/app/manifest.h"
#include "agentd/app/pipeline.h"
#include "agentd/app/worker.h"
#include "agentd/core/log.h"
#include "agentd/supervisor/desired_state.h"
#include "agentd/supervisor/path_policy.h"
#include "agentd/supervisor/supervisor.h"
#include "logctl/schema/pipeline_config.h"

namespace {

using namespace logctl;
using namespace logctl::agentd;

constexpr const char* kDefaultRootDir = "/var/lib/agentd";

struct Flags {
  std::string config;
  std::string allowed_paths;  // --allowed-paths (the command line only, never <system>)
  bool dry_run = false;
  bool strict = false;  // --strict: with --dry-run, any warning is an error
  std::string admin;
  std::string root_dir;
  std::string control;
  std::string log_level;
  int shutdown_timeout = 30;
  int ready_timeout_ms = 30000;
  int settle_ms = 0;
  // worker
  int channel_fd = -1;
  std::int64_t generation = 0;
  // ctl
  std::string binary;
  // self-upgrade
  int inherit_state = -1;
  std::vector<std::string> args;
  // controller link
  std::string controller, controller_ca, enroll_token_file, node_name, labels;
};

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string self_path(const char* argv0) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string absolute(const std::string& p) {
  if (p.empty() || p.front() == '/') return p;
  char cwd[PATH_MAX];
  return ::getcwd(cwd, sizeof cwd) ? std::string(cwd) + "/" + p : p;
}

// Validates the config as a worker will (parse, plugin parameters, build);
// binds nothing.
Result<config::PipelineConfig> validate(const Flags& f) {
  auto cfg = config::load_pipeline(f.config);
  if (!cfg) return std::unexpected(cfg.error());
  SystemClock clock;
  Metrics metrics;
  PipelineOptions po;
  po.root_dir = f.root_dir;
  auto p = Pipeline::build(*cfg, po, clock, metrics);
  if (!p) return std::unexpected(p.error());
  return cfg;
}

// A managed node (--controller) starts on what the controller last had it
// run (ROOT/desired.json, desired_state.h), not on this binary and the
// bootstrap config: another binary is exec'd with the same command line (it
// comes back here and finds itself), this one takes the desired config. The
// same holds for --dry-run, so ExecStartPre validates what will run.
// Returns an exit code when it cannot go on; nullopt otherwise.
std::optional<int> take_desired_state(Flags& f, const std::string& self, const std::string& root) {
  auto d = load_desired_state(root);
  if (!d) {
    // Damaged or planted: say so and start as configured (the controller
    // moves the node again once it answers).
    std::cerr << "agentd: ignoring the controller's last desired state: " << d.error().message
              << "\n";
    return std::nullopt;
  }
  if (!*d) return std::nullopt;
  const DesiredState& want = **d;
  char real[PATH_MAX];
  std::string me = ::realpath(self.c_str(), real) ? real : self;
  if (!want.binary.empty() && want.binary != me) {
    if (::getenv("AGENTD_DESIRED_EXEC") != nullptr) {
      std::cerr << "agentd: " << want.binary << " exec'd but runs as " << me
                << "; starting as configured\n";
      return std::nullopt;
    }
    std::cerr << "agentd: managed node: starting version " << want.version
              << " as the controller last asked (" << desired_state_path(root) << ")\n";
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(want.binary.c_str()));
    for (auto& a : f.args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::setenv("AGENTD_DESIRED_EXEC", "1", 1);
    ::execv(want.binary.c_str(), argv.data());
    std::cerr << "agentd: exec " << want.binary << ": " << std::strerror(errno)
              << "; starting as configured\n";
    ::unsetenv("AGENTD_DESIRED_EXEC");
    return std::nullopt;
  }
  ::unsetenv("AGENTD_DESIRED_EXEC");  // not for the workers
  if (!want.config.empty()) {
    std::cerr << "agentd: managed node: config revision " << want.config_revision << " ("
              << want.config << ") as the controller last asked; " << f.config
              << " is only the bootstrap config\n";
    f.config = want.config;
  }
  return std::nullopt;
}

int run_supervisor(Flags f, const std::string& self, const BuildIdentity& id) {
  SupervisorOptions o;
  o.version = id.version;
  o.self_binary = self;
  o.args = f.args;
  // The controller link: flags, else <system> (read again after a re-exec).
  Flags lf = f;
  std::string system_root;
  if (!f.config.empty()) {
    if (auto cfg = config::load_pipeline(f.config); cfg) {
      system_root = cfg->system.str("root_dir");
      auto from_system = [&](std::string& field, const char* key) {
        if (field.empty()) field = cfg->system.str(key);
      };
      from_system(lf.controller, "controller");
      from_system(lf.controller_ca, "controller_ca");
      from_system(lf.enroll_token_file, "enroll_token_file");
      from_system(lf.node_name, "node_name");
      from_system(lf.labels, "node_labels");
    }
  }
  if (!lf.controller.empty()) {
    o.link.url = lf.controller;
    o.link.ca_file = absolute(lf.controller_ca);
    o.link.enroll_token_file = absolute(lf.enroll_token_file);
    o.link.node_name = lf.node_name;
    if (o.link.node_name.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      o.link.node_name = host;
    }
    auto labels = parse_labels(lf.labels);
    if (!labels) {
      std::cerr << "agentd: " << labels.error().message << "\n";
      return 2;
    }
    o.link.labels = *labels;
    auto allowed = parse_allowed_paths(f.allowed_paths);
    if (!allowed) {
      std::cerr << "agentd: " << allowed.error().message << "\n";
      return 2;
    }
    o.link.allowed_paths = *allowed;
    if (auto urls = parse_controller_urls(lf.controller); !urls) {
      std::cerr << "agentd: " << urls.error().message << "\n";
      return 2;
    }
  }
  if (f.inherit_state >= 0) {
    // Exec'd by a supervisor upgrading itself: everything else is in the state.
    o.inherit_fd = f.inherit_state;
    if (!f.log_level.empty()) {
      log::Level lv;
      if (log::parse_level(f.log_level, lv)) log::set_level(lv);
    }
    raise_fd_limit();
    Supervisor s(std::move(o));
    return s.run();
  }
  if (!o.link.url.empty()) {
    std::string root = absolute(!f.root_dir.empty()    ? f.root_dir
                                : !system_root.empty() ? system_root
                                                       : kDefaultRootDir);
    if (auto rc = take_desired_state(f, self, root)) return *rc;
  }
  auto cfg = validate(f);
  if (!cfg) {
    std::cerr << "agentd: config error: " << cfg.error().message << "\n";
    return 1;
  }
  if (f.dry_run) {  // a running agent's worker logs them
    for (const auto& w : cfg->warnings) std::cerr << "agentd: warning: " << w << "\n";
    if (f.strict && !cfg->warnings.empty()) {
      std::cerr << "agentd: " << f.config << " is not valid with --strict (" << cfg->warnings.size()
                << " warning(s))\n";
      return 1;
    }
    std::cout << "agentd: " << f.config << " is valid\n";
    return 0;
  }
  log::Level lv;
  std::string level = f.log_level.empty() ? cfg->system.str("log_level") : f.log_level;
  if (!log::parse_level(level, lv)) {
    std::cerr << "agentd: unknown log level '" << level << "'\n";
    return 1;
  }
  log::set_level(lv);
  if (const auto* l = cfg->system.child("log")) {
    log::set_format(l->str("format") == "json" ? log::Format::kJson : log::Format::kText);
  }
  raise_fd_limit();
  o.spec = GenerationSpec{self, absolute(f.config)};
  o.root_dir = absolute(!f.root_dir.empty()                    ? f.root_dir
                        : !cfg->system.str("root_dir").empty() ? cfg->system.str("root_dir")
                                                               : kDefaultRootDir);
  o.admin_endpoint = f.admin.empty() ? cfg->system.str("admin_endpoint") : f.admin;
  o.control_path = f.control;
  o.log_level = f.log_level;
  o.shutdown_timeout = f.shutdown_timeout;
  o.ready_timeout = std::chrono::milliseconds(f.ready_timeout_ms);
  o.settle = std::chrono::milliseconds(f.settle_ms);
  log::info("agentd " + id.version + " starting with " + f.config);
  Supervisor s(std::move(o));
  return s.run();
}

int run_ctl(const Flags& f, const std::string& op) {
  std::string path = !f.control.empty() ? f.control
                                        : (f.root_dir.empty() ? kDefaultRootDir : f.root_dir) +
                                              std::string("/agentd.sock");
  nlohmann::json req = {{"op", op}};
  if (!f.binary.empty()) req["binary"] = absolute(f.binary);
  if (!f.config.empty()) req["config"] = absolute(f.config);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::cerr << "agentd ctl: cannot connect to " << path << ": " << std::strerror(errno) << "\n";
    return 2;
  }
  std::string line = req.dump() + "\n";
  (void)!::write(fd, line.data(), line.size());
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::cout << reply;
  auto j = nlohmann::json::parse(reply, nullptr, false);
  if (op == "status") return j.is_object() ? 0 : 1;
  return j.is_object() && j.value("ok", false) ? 0 : 1;
}

}  // namespace

int logctl::agentd::agentd_main(int argc, char** argv, const BuildIdentity& id) {
  CLI::App app{"agentd: log agent with Fluentd-compatible configuration"};
  Flags f;
  app.add_option("-c,--config", f.config, "Pipeline configuration file (Fluentd syntax)");
  app.add_flag("--dry-run", f.dry_run, "Validate the configuration and exit (0 valid, 1 not)");
  app.add_flag("--strict", f.strict,
               "With --dry-run: any warning (an unknown parameter, a v0.12 spelling) makes the "
               "configuration invalid");
  app.add_option("--admin", f.admin, "Admin HTTP endpoint host:port (loopback only)");
  app.add_option("--root-dir", f.root_dir,
                 "Data directory: buffers, positions, handover spools, control socket "
                 "(overrides <system> root_dir; default /var/lib/agentd)");
  app.add_option("--control", f.control, "Control socket (default ROOT_DIR/agentd.sock)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, fatal");
  app.add_option("--shutdown-timeout", f.shutdown_timeout, "Seconds to flush at shutdown")
      ->capture_default_str();
  app.add_option("--ready-timeout-ms", f.ready_timeout_ms,
                 "Handover: how long a new worker may take to become ready")
      ->capture_default_str();
  app.add_option("--settle-ms", f.settle_ms,
                 "Handover: how long a new worker must stay up after ready before it takes over")
      ->capture_default_str();
  app.add_option("--inherit-state", f.inherit_state)->group("");  // self-upgrade (internal)
  app.add_option("--controller", f.controller,
                 "logctl-controller to enrol with and heartbeat (https://HOST:PORT; several "
                 "controllers on one database: URL1,URL2,URL3)");
  app.add_option("--controller-ca", f.controller_ca, "The controller's CA certificate (pinned)");
  app.add_option("--enroll-token-file", f.enroll_token_file,
                 "Enrolment token (read once; the node token is kept in ROOT_DIR/node.token)");
  app.add_option("--node-name", f.node_name, "This node's name (default: the host name)");
  app.add_option("--labels", f.labels, "Node labels: k=v,k2=v2");
  app.add_option("--allowed-paths", f.allowed_paths,
                 "DIR[,DIR...]: every path a config from the controller names must be under one "
                 "(set here, never by a config)");
  auto* schema = app.add_subcommand("schema", "Print the plugin parameter schema as JSON");
  auto* version = app.add_subcommand("version", "Print the version");
  auto* manifest = app.add_subcommand(
      "manifest", "Print the release manifest as JSON (version, formats, protocol, schema)");
  auto* worker = app.add_subcommand("worker", "Run one worker generation (used by the supervisor)");
  worker->group("");  // internal
  worker->add_option("--channel-fd", f.channel_fd)->required();
  worker->add_option("--generation", f.generation)->required();
  worker->add_option("-c,--config", f.config)->required();
  worker->add_option("--root-dir", f.root_dir);
  worker->add_option("--log-level", f.log_level);
  worker->add_option("--shutdown-timeout", f.shutdown_timeout);
  auto* ctl = app.add_subcommand("ctl", "Control a running agentd");
  ctl->require_subcommand(1);
  ctl->add_option("--control", f.control, "Control socket (default ROOT_DIR/agentd.sock)");
  ctl->add_option("--root-dir", f.root_dir, "Data directory of the agent");
  auto* status = ctl->add_subcommand("status", "Print the supervisor's status as JSON");
  auto* reload = ctl->add_subcommand("reload", "Staged handover to the config (waits for it)");
  reload->add_option("-c,--config", f.config, "New config file (default: the current one)");
  auto* upgrade = ctl->add_subcommand("upgrade", "Staged handover to a binary (waits for it)");
  upgrade->add_option("--binary", f.binary, "New agentd binary")->required();
  upgrade->add_option("-c,--config", f.config, "New config file (default: the current one)");
  CLI11_PARSE(app, argc, argv);
  if (*schema) {
    std::cout << logctl::config::plugin_schema_json().dump(2) << "\n";
    return 0;
  }
  if (*manifest) {
    std::cout << logctl::release::to_json(build_manifest(id.version)).dump(2) << "\n";
    return 0;
  }
  if (*version) {
    std::cout << "agentd " << id.version << "\n";
    return 0;
  }
  if (*worker) {
    WorkerOptions w;
    w.config = f.config;
    w.root_dir = f.root_dir;
    w.log_level = f.log_level;
    w.channel_fd = f.channel_fd;
    w.generation = f.generation;
    w.shutdown_timeout = std::chrono::seconds(f.shutdown_timeout);
    w.fault = id.fault;
    raise_fd_limit();
    return run_worker(w);
  }
  if (*ctl) {
    return run_ctl(f, *status ? "status" : *reload ? "reload" : "upgrade");
  }
  f.args.assign(argv + 1, argv + argc);
  if (f.config.empty() && f.inherit_state < 0) {
    std::cerr << "agentd: -c FILE is required\n" << app.help();
    return 2;
  }
  return run_supervisor(f, self_path(argv[0]), id);
}
