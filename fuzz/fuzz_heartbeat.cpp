// Fuzzes what the controller keeps of a node's heartbeat (a compromised node
// sends anything): bounded_heartbeat() on any JSON, and safe_text() on any
// bytes. What it keeps is bounded (no more than the known fields, each text
// cut), holds no byte a terminal acts on (C0, DEL, C1) and is valid UTF-8
// (it dumps without throwing).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "controller/server/heartbeat_fields.h"

using namespace logctl::controller;
using nlohmann::json;

static void check_clean(const std::string& t, std::size_t max) {
  if (t.size() > max) __builtin_trap();
  for (std::size_t i = 0; i < t.size(); ++i) {
    auto b = static_cast<unsigned char>(t[i]);
    if (b < 0x20 || b == 0x7f) __builtin_trap();
    if (b == 0xc2 && i + 1 < t.size() && static_cast<unsigned char>(t[i + 1]) < 0xa0)
      __builtin_trap();
  }
}

static void check_tree(const json& v) {
  if (v.is_string()) check_clean(v.get<std::string>(), kMaxText);
  if (!v.is_structured()) return;
  for (const auto& [k, x] : v.items()) {
    if (v.is_object()) check_clean(k, kMaxText);
    check_tree(x);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_clean(safe_text(in, 64), 64);
  check_clean(safe_text(in), kMaxText);
  json body = json::parse(in, nullptr, false);
  if (body.is_discarded()) return 0;
  auto kept = bounded_heartbeat(body);
  if (!kept) return 0;
  check_tree(*kept);
  if (kept->contains("listeners") && (*kept)["listeners"].size() > kMaxListeners) __builtin_trap();
  // Bounded whatever came in: the known fields, each capped.
  if (kept->dump().size() > 400000) __builtin_trap();
  return 0;
}
