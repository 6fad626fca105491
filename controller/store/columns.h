// What both store engines read alike: the column lists the row readers
// expect, in their order. Engine-internal (controller/store/ only).
#pragma once

namespace logctl::store {

inline constexpr const char* kNodeColumns =
    "name, labels, version, config_revision, generation, health, last_heartbeat, enrolled_at";
inline constexpr const char* kRolloutColumns =
    "id, state, from_version, to_version, from_config, to_config, strategy, forced, reason, "
    "created_at, updated_at";

}  // namespace logctl::store
