// What the controller keeps of a node's heartbeat: only the fields it uses,
// each checked and bounded (docs/api.md, "Heartbeat body"). The body may
// come from a compromised node: it is never stored or echoed as sent.
// Scalars are type-checked (a wrong type is a 400 naming the field); sizes
// are bounded by keeping: the known figure keys only, at most kMaxListeners
// listeners, reports' known fields only, and text fields cut to kMaxText
// bytes with every control character (C0, DEL, C1) written as \u00XX, so no
// byte a terminal acts on reaches logctl's output or the history.
// Thread safety: pure.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "logctl/schema/result.h"

namespace logctl::controller {

inline constexpr std::size_t kMaxListeners = 256;
inline constexpr std::size_t kMaxListenerText = 256;
inline constexpr std::size_t kMaxText = 1024;

// The bounded copy of `body`; an error names the first field that is wrong.
Result<nlohmann::json> bounded_heartbeat(const nlohmann::json& body);

// `s` cut to `max` bytes (at a UTF-8 boundary, "…" appended when cut), with
// control characters escaped and invalid UTF-8 replaced.
std::string safe_text(std::string_view s, std::size_t max = kMaxText);

}  // namespace logctl::controller
