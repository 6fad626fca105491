// Does a pipeline config fit a release's plugin schema (the "plugin_schema"
// of its manifest, docs/release-manifest.md)? Every plugin a config names
// must exist in that release with the same kind, every parameter must be one
// the plugin takes (or an alias), every nested section one it accepts. The
// release's own agentd checks values when it loads the config; this check
// catches what would make it refuse the config before a rollout starts.
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "logctl/schema/config.h"
#include "logctl/schema/result.h"

namespace logctl::compat {

// kInvalidArgument names file:line and what the release lacks.
Status config_fits_schema(const config::Element& root, const nlohmann::json& plugin_schema);

}  // namespace logctl::compat
