// Helpers the Controller's files share (controller.cpp defines them). Not
// part of the controller's interface.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "controller/server/controller.h"
#include "controller/store/store.h"

namespace logctl::controller::detail {

std::int64_t now_ms();
// Node names and label keys: what is safe in a path, a log line and a URL.
bool valid_name(std::string_view s);
bool valid_label_value(std::string_view s);
nlohmann::json cluster_json(const store::Cluster& c);
// A line diff of two config texts ("-N: old" / "+N: new"), for plans and checks.
nlohmann::json config_diff(const std::string& a, const std::string& b);
// The 404s, each naming what is missing and how to see what there is.
ApiError no_node(const std::string& name);
ApiError no_release(const std::string& version);
ApiError no_config(std::int64_t revision);

inline constexpr std::size_t kMaxName = 63;
inline constexpr std::size_t kMaxLabels = 32;

}  // namespace logctl::controller::detail
