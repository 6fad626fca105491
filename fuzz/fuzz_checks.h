// What every fuzz target that makes events asserts of them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agentd/core/event.h"
#include "agentd/core/msgpack_view.h"

namespace logctl::fuzz {

// Each entry of `b` is a [time, map] whose record renders as valid JSON, and
// the entries tile the batch's bytes.
inline void check_batch(const agentd::EventBatch& b) {
  std::size_t n = 0;
  auto st = agentd::for_each_entry(b.data, [&](agentd::EventTime, std::string_view rec) {
    ++n;
    std::string json;
    agentd::append_json(json, rec);
    if (json.empty() || json[0] != '{' || !nlohmann::json::accept(json)) __builtin_trap();
  });
  if (!st || n != b.entries.size()) __builtin_trap();
  for (const auto& e : b.entries) {
    if (std::size_t{e.offset} + e.size > b.data.size()) __builtin_trap();
  }
}

}  // namespace logctl::fuzz
