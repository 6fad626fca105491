// Does a pipeline config fit a release's plugin schema (the "plugin_schema"
// of its manifest, docs/release-manifest.md)? Every plugin a config names
// must exist in that release with the same kind, every parameter must be one
// the plugin takes (or an alias), every nested section one it accepts, every
// value of the type the release declares, every required parameter given:
// what would make the release's agentd refuse the config is caught before a
// rollout starts (agentd checks again when it loads it).
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "logctl/schema/config.h"
#include "logctl/schema/result.h"

namespace logctl::compat {

// What the controller's parser substitutes for "#{ENV['X']}": such values
// come from each node's environment and are checked there, not here.
inline constexpr const char* kNodeEnvironment = "\x1f(from the node's environment)\x1f";

// Checks plugin, parameter and section names, each parameter's value against
// its declared type (unless it holds kNodeEnvironment), and required
// parameters. kInvalidArgument names file:line and what is wrong. With
// `warnings`, a parameter the plugin does not take is not an error but a
// warning there (file:line, with a "did you mean"): agentd ignores it, as
// Fluentd does; without, it is refused.
Status config_fits_schema(const config::Element& root, const nlohmann::json& plugin_schema,
                          std::vector<std::string>* warnings = nullptr);

}  // namespace logctl::compat
