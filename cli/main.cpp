// logctl: the operator's and CI's command line (docs/cli.md). main only wires
// the command groups together; each lives in its *_cmd.cpp.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <iostream>

#include "cli/cli.h"
#include "cli/terminal.h"

using namespace logctl::cli;

namespace logctl::cli {

std::expected<Client*, int> Cli::client() {
  if (client_) return client_.get();
  auto s = resolve_settings(flags);
  if (!s) return std::unexpected(fail(format(), s.error()));
  client_ = std::make_unique<Client>(*s, flags.timeout_s);
  return client_.get();
}

std::optional<std::chrono::seconds> parse_duration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  long total = 0, n = 0;
  bool digits = false;
  for (char ch : s) {
    if (ch >= '0' && ch <= '9') {
      n = n * 10 + (ch - '0');
      digits = true;
      if (n > 100'000'000) return std::nullopt;
      continue;
    }
    long unit = ch == 's' ? 1 : ch == 'm' ? 60 : ch == 'h' ? 3600 : 0;
    if (!unit || !digits) return std::nullopt;
    total += n * unit;
    n = 0;
    digits = false;
  }
  total += n;  // bare seconds
  return std::chrono::seconds(total);
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  return ::getcwd(cwd, sizeof cwd) ? std::string(cwd) + "/" + path : path;
}

bool plain_name(const std::string& n) {
  return !n.empty() && n.size() <= 63 && std::all_of(n.begin(), n.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-';
  });
}

std::optional<std::string> version_in_url(const std::string& v) {
  if (v.empty() || v.size() > 64) return std::nullopt;
  std::string out;
  for (char ch : v) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '+') {
      return std::nullopt;
    }
    out += ch == '+' ? std::string("%2B") : std::string(1, ch);
  }
  return out;
}

}  // namespace logctl::cli

namespace {

int version(Cli& cli) {
  json out = {{"client", LOGCTL_VERSION}};
  auto s = resolve_settings(cli.flags);
  int rc = 0;
  if (s) {
    Client c(*s, cli.flags.timeout_s);
    auto r = c.get("/v1/version");
    if (r) {
      out["controller"] = (*r)["controller"];
      out["api"] = (*r)["api"];
      out["server"] = s->server;
    } else {
      out["controller_error"] = r.error().message;
      rc = code(r.error().exit());
    }
  }
  if (cli.format() != Format::kTable) {
    print_json(out);
  } else {
    std::cout << "logctl " << LOGCTL_VERSION << "\n";
    if (out.contains("controller")) {
      std::cout << "controller " << out["controller"].get<std::string>() << " at " << s->server
                << " (API v" << out["api"] << ")\n";
    }
  }
  if (rc) std::cerr << "logctl: " << out["controller_error"].get<std::string>() << "\n";
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  // Human output never passes a byte a terminal acts on (terminal.h).
  escape_terminal_controls(std::cerr);
  CLI::App app{"logctl: upgrade and reconfigure a fleet of agentd nodes with zero loss"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags work before or after the command
  Cli cli;
  auto& f = cli.flags;
  auto* g = app.add_option_group("controller", "Where the controller is (flag > env > file)");
  g->add_option("--server", f.server,
                "Controller URL; several sharing one database: URL1,URL2,URL3 (env "
                "LOGCTL_SERVER)");
  g->add_option("--token", f.token, "Admin token (env LOGCTL_TOKEN; prefer --token-file)");
  g->add_option("--token-file", f.token_file, "File holding the admin token");
  g->add_option("--ca", f.ca, "The controller's CA certificate, pinned (env LOGCTL_CA)");
  g->add_option("--context", f.context, "A context from the config file (env LOGCTL_CONTEXT)");
  app.add_option("-o,--output", f.output, "table, json (one document) or ndjson (events)")
      ->check(CLI::IsMember({"table", "json", "ndjson"}))
      ->capture_default_str();
  app.add_option("--request-timeout", f.timeout_s, "Seconds per API request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 unreachable or unauthenticated, 4 checks "
      "failed or invalid, 5 rollout rolled back or aborted, 6 timeout, 7 conflict, "
      "8 not found (docs/cli.md).");
  setup_cluster(app, cli);
  setup_node(app, cli);
  setup_config(app, cli);
  setup_release(app, cli);
  setup_docs(app, cli);
  setup_context(app, cli);
  auto* v = app.add_subcommand("version", "Print this client's and the controller's versions");
  v->footer("Example:\n  logctl version --output json");
  v->callback([&cli] { cli.rc = version(cli); });
  app.parse_complete_callback([&cli] {
    if (cli.format() == Format::kTable) escape_terminal_controls(std::cout);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help (0) or the usage error
    return rc == 0 ? 0 : code(Exit::kUsage);
  } catch (const std::exception& e) {
    return fail(cli.format(), Exit::kError, "internal",
                std::string("unexpected answer or state: ") + e.what());
  }
  return cli.rc;
}
