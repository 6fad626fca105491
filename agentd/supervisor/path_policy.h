// The node's own limit on what a config from the controller may name
// (docs/security.md, "What a config revision can do on every node"): with
// `--allowed-paths DIR[,DIR...]` on agentd's command line (its unit file,
// which no config can change), every file or directory a controller's config
// names — tailed paths and their pos files, output and buffer paths,
// certificates and keys, the root dir, and every @include — must lie under
// one of the directories, judged on the normalised path up to its first
// placeholder or wildcard. A config that names anything else is refused
// before any worker runs it, naming the parameter, its place and the path.
// The check is lexical (what the path says): symlinks met at run time are
// governed by follow_symlinks and the output walk, as for any config.
// Thread safety: pure.
#pragma once

#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd {

// Parses "DIR,DIR2": absolute directories, normalised; an error names a bad one.
Result<std::vector<std::string>> parse_allowed_paths(const std::string& text);

// Whether every path `config_file` (and what it includes) names is under
// one of `allowed`; an error says which is not, and where.
Status check_config_paths(const std::string& config_file, const std::vector<std::string>& allowed);

}  // namespace logctl::agentd
