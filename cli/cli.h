// What every command group shares: the global flags, the output format, a
// client made on first use, and the exit code of the command that ran.
// One file per command group (cluster_cmd.cpp, node_cmd.cpp, config_cmd.cpp,
// release_cmd.cpp) registers its subcommands with a setup_* function; each
// subcommand's callback sets `rc`. local_cluster.h is the local cluster.
//
// Thread safety: one thread (the CLI's).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "cli/client.h"
#include "cli/output.h"

namespace logctl::cli {

struct Cli {
  GlobalFlags flags;
  int rc = 0;
  Format format() const { return parse_format(flags.output); }
  // The client for the resolved settings, or the exit code of why not
  // (already reported).
  std::expected<Client*, int> client();

 private:
  std::unique_ptr<Client> client_;
};

void setup_cluster(CLI::App& app, Cli& cli);
void setup_node(CLI::App& app, Cli& cli);
void setup_config(CLI::App& app, Cli& cli);
void setup_release(CLI::App& app, Cli& cli);
// `logctl docs`: the reference in docs/cli.md
void setup_docs(CLI::App& app, Cli& cli);
// `logctl context set|use|list`
void setup_context(CLI::App& app, Cli& cli);

// What `binary manifest` prints (an agentd release describing itself).
Result<std::string> agentd_manifest(const std::string& binary);

// "90s", "10m", "1h", "1h30m" or plain seconds; nullopt when malformed.
std::optional<std::chrono::seconds> parse_duration(const std::string& s);

// `path` made absolute against the working directory.
std::string absolute(const std::string& path);
// A node or context name: 1 to 63 of [A-Za-z0-9._-].
bool plain_name(const std::string& n);
// A version as it goes into a URL ('+' encoded); nullopt when it is not one
// (1 to 64 of [0-9A-Za-z.+-]).
std::optional<std::string> version_in_url(const std::string& v);

}  // namespace logctl::cli
