// agentd's entry point: wiring only. Parses flags, loads and validates the
// config, builds the pipeline, runs until SIGTERM/SIGINT.
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "agentd/admin/admin_server.h"
#include "agentd/app/pipeline.h"
#include "agentd/core/log.h"
#include "logctl/schema/pipeline_config.h"

namespace {

using namespace logctl;
using namespace logctl::agentd;

struct Flags {
  std::string config;
  bool dry_run = false;
  std::string admin;
  std::string root_dir;
  std::string log_level;
  int shutdown_timeout = 30;
};

void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int run(const Flags& f) {
  auto cfg = config::load_pipeline(f.config);
  if (!cfg) {
    std::cerr << "agentd: config error: " << cfg.error().message << "\n";
    return 1;
  }
  std::string level = f.log_level.empty() ? cfg->system.str("log_level") : f.log_level;
  log::Level lv;
  if (!log::parse_level(level, lv)) {
    std::cerr << "agentd: unknown log level '" << level << "'\n";
    return 1;
  }
  log::set_level(lv);
  SystemClock clock;
  Metrics metrics;
  PipelineOptions po;
  po.root_dir = f.root_dir.empty() ? cfg->system.str("root_dir") : f.root_dir;
  po.shutdown_timeout = std::chrono::seconds(f.shutdown_timeout);
  auto pipeline = Pipeline::build(*cfg, po, clock, metrics);
  if (!pipeline) {
    std::cerr << "agentd: config error: " << pipeline.error().message << "\n";
    return 1;
  }
  if (f.dry_run) {
    std::cout << "agentd: " << f.config << " is valid\n";
    return 0;
  }
  raise_fd_limit();
  // Signals are taken synchronously by this thread; every thread started
  // from here on inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR2}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  AdminServer admin(metrics);
  std::string endpoint = f.admin.empty() ? cfg->system.str("admin_endpoint") : f.admin;
  if (!endpoint.empty()) {
    if (auto s = admin.start(endpoint); !s) {
      std::cerr << "agentd: " << s.error().message << "\n";
      return 1;
    }
  }
  log::info("agentd " LOGCTL_VERSION " starting with " + f.config);
  if (auto s = (*pipeline)->start(); !s) {
    log::error("start failed: " + s.error().message);
    (*pipeline)->stop();
    return 1;
  }
  admin.set_ready(true);
  log::info("agentd ready");
  for (;;) {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGTERM || sig == SIGINT) break;
    log::warn(std::string("signal ") + strsignal(sig) +
              " ignored: reload and upgrade need the supervisor (not in this version)");
  }
  log::info("agentd stopping");
  admin.set_ready(false);
  (*pipeline)->stop();
  admin.stop();
  log::info("agentd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"agentd: log agent with Fluentd-compatible configuration"};
  Flags f;
  app.add_option("-c,--config", f.config, "Pipeline configuration file (Fluentd syntax)");
  app.add_flag("--dry-run", f.dry_run, "Validate the configuration and exit (0 valid, 1 not)");
  app.add_option("--admin", f.admin, "Admin HTTP endpoint host:port (loopback only)");
  app.add_option("--root-dir", f.root_dir, "Data directory (overrides <system> root_dir)");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, fatal");
  app.add_option("--shutdown-timeout", f.shutdown_timeout, "Seconds to flush at shutdown")
      ->capture_default_str();
  auto* schema = app.add_subcommand("schema", "Print the plugin parameter schema as JSON");
  auto* version = app.add_subcommand("version", "Print the version");
  CLI11_PARSE(app, argc, argv);
  if (*schema) {
    std::cout << logctl::config::plugin_schema_json().dump(2) << "\n";
    return 0;
  }
  if (*version) {
    std::cout << "agentd " LOGCTL_VERSION "\n";
    return 0;
  }
  if (f.config.empty()) {
    std::cerr << "agentd: -c FILE is required\n" << app.help();
    return 2;
  }
  return run(f);
}
