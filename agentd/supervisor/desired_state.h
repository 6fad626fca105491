// What the controller last had this node run, kept on disk
// (ROOT/desired.json): written atomically and synced by the controller link
// each time a converge commits, so a managed node restarted by its service
// manager (after kill -9, a crash, a reboot) starts on that version and
// config — not on the package binary and the bootstrap config — and keeps
// it while the controller is away (docs/operations.md, "Node restarts").
//
// The file (format 1, JSON; a number in it is never reused):
//   {"format": 1, "version": "1.4.0", "config_revision": 7,
//    "binary": "ROOT/versions/1.4.0/agentd", "config": "ROOT/configs/7.conf",
//    "at": UNIX_MS}
// Only paths inside ROOT's versions/ and configs/ are taken, the binary only
// when it passes the trusted-executable check: the file cannot point agentd
// (root) at anything it did not install itself.
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "logctl/schema/result.h"

namespace logctl::agentd {

inline constexpr int kDesiredStateFormat = 1;  // bump when a field changes meaning

struct DesiredState {
  std::string version;
  std::int64_t config_revision = 0;
  std::string binary;  // absolute: ROOT/versions/V/agentd; "": the binary started
  std::string config;  // absolute: ROOT/configs/N.conf; "": the bootstrap config (-c)
  std::int64_t at = 0;
};

std::string desired_state_path(const std::string& root);
// Keeps what a generation of {binary, config} runs, if the link installed
// either (ROOT/versions, ROOT/configs); nothing otherwise.
Status remember_desired_state(const std::string& root, const std::string& binary,
                              const std::string& config);
Status save_desired_state(const std::string& root, const DesiredState& d);
// nullopt when the node has none (never converged); an error names what is
// wrong with a file that is there (unreadable, another format, a path
// outside ROOT, an untrusted or missing binary, a missing config).
Result<std::optional<DesiredState>> load_desired_state(const std::string& root);

}  // namespace logctl::agentd
