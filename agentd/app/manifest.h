// This binary's release manifest (schema/release_manifest.h), from the
// constants that define what it reads, writes and speaks.
#pragma once

#include "logctl/schema/release_manifest.h"

namespace logctl::agentd {

// The oldest agentd this build can replace by a staged handover: the first
// with handover protocol 2 and the chunk formats it still reads. Raise it
// when a release drops support for an older protocol or format.
inline constexpr const char* kMinUpgradeFrom = "0.1.0";

release::Manifest build_manifest(const std::string& version);

}  // namespace logctl::agentd
