// Fuzzes the controller front door's request-head parser and its route
// match: views must lie inside the input, a complete head's length must too,
// and a heartbeat node name never holds a byte the full server would decode.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/api/request_head.h"

using namespace logctl::controller;

static void check_inside(std::string_view whole, std::string_view part) {
  if (part.empty()) return;
  if (part.data() < whole.data() || part.data() + part.size() > whole.data() + whole.size()) {
    __builtin_trap();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestHead h = parse_request_head(in);
  if (h.length > in.size()) __builtin_trap();
  if (h.length == 0 && (h.malformed || h.content_length)) __builtin_trap();
  for (auto v : {h.method, h.target, h.version}) check_inside(in, v);
  if (h.content_length && *h.content_length >= 10'000'000'000'000'000'000ull) __builtin_trap();
  for (std::string_view t : {h.target, in}) {
    std::string node = heartbeat_node(t);
    if (node.size() > 128) __builtin_trap();
    for (char ch : node) {
      if (ch == '/' || ch == '%' || ch == '?' || ch == '#' ||
          static_cast<unsigned char>(ch) <= 0x20)
        __builtin_trap();
    }
  }
  return 0;
}
