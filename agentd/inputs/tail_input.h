// in_tail: follows files matching globs, from saved positions.
//
// Every watch-timer tick (enable_watch_timer, 100 ms here) each file is read
// to its end, complete lines are parsed and emitted, and the position advances
// only past lines the router accepted (a full buffer just leaves the position
// where it is). Rotation by rename: the old file is read to its end (for up to
// rotate_wait) while the new one is read from its head. copytruncate: a size
// below the position means the file was truncated; reading restarts at 0.
// Globs are expanded again every refresh_interval. Positions go to pos_file in
// Fluentd's format ("path\tinode_hex\toffset_hex"), written atomically after
// each tick that moved them, so a restart (or kill -9) resumes there.
#pragma once

#include "agentd/inputs/input.h"

namespace logctl::agentd {

Result<std::unique_ptr<Input>> make_tail_input(const config::Section& source, InputContext ctx);

}  // namespace logctl::agentd
