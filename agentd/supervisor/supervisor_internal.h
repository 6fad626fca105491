// What the supervisor's files share (supervisor.cpp defines the functions).
// Not part of the supervisor's interface.
// Thread safety: pure functions and constants.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "agentd/supervisor/supervisor.h"

namespace logctl::agentd::supervisor_detail {

inline constexpr auto kRollbackWindow =
    std::chrono::seconds(60);  // a crash this soon after a commit
inline constexpr std::size_t kMaxControlRequest = 64 * 1024;

// "exited with code 3", "killed by Killed", "did not exit" (status < 0).
std::string describe_exit(int status);
const char* result_name(HandoverResult r);
double ms_since(std::chrono::steady_clock::time_point t);

}  // namespace logctl::agentd::supervisor_detail
