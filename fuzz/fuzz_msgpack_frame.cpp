// Differential fuzzing of in_forward's framing: wherever msgpack-c finds a
// complete object, MsgpackScanner must end it at the same byte, fed whole or
// in two pieces; where msgpack-c needs more bytes the scanner must not claim
// an object. (The scanner bounds nesting at 64, msgpack-c does not: deeper
// inputs only have to fail cleanly.) msgpack_value_len, the stateless decoder
// the forward handler uses per event, must agree with both. A complete object
// renders as valid JSON (append_json, what the outputs write), and a map's
// fields walked by for_each_packed_field end where the object does.
#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agentd/core/msgpack_view.h"
#include "agentd/inputs/msgpack_framing.h"

using logctl::agentd::MsgpackScanner;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  MsgpackScanner whole;
  auto a = whole.end_of_object(in);
  // In two pieces: the scanner resumes.
  MsgpackScanner pieces;
  std::size_t cut = size / 2;
  auto b1 = pieces.end_of_object(in.substr(0, cut));
  auto b = b1 && !*b1 ? pieces.end_of_object(in) : b1;
  if (a && b && *a && *b && **a != **b && **b > cut) __builtin_trap();
  if (a && *a && **a > size) __builtin_trap();
  // The stateless one-shot decoder agrees with the scanner.
  std::size_t n = logctl::agentd::msgpack_value_len(in);
  if (n > size) __builtin_trap();
  if (n != 0 && a && *a && **a != n) __builtin_trap();
  if (n != 0) {
    std::string json;
    logctl::agentd::append_json(json, in.substr(0, n));
    if (!nlohmann::json::accept(json)) __builtin_trap();
    auto h = logctl::agentd::msgpack_header(in);
    std::size_t fields = 0;
    auto end = logctl::agentd::for_each_packed_field(
        in.substr(0, n), [&](const logctl::agentd::MsgpackField&) { ++fields; });
    bool is_map = h && h->kind == logctl::agentd::MsgpackKind::kMap;
    if (is_map != end.has_value()) __builtin_trap();
    if (end && (*end != n || fields != h->children / 2)) __builtin_trap();
  }

  std::size_t off = 0;
  msgpack::null_visitor v;
  bool complete = false;
  try {
    complete = msgpack::parse(in.data(), size, off, v);
  } catch (...) {
    return 0;  // msgpack-c refuses it (e.g. 0xc1): the scanner may too
  }
  if (complete && a && *a && **a != off) __builtin_trap();
  if (complete && a && !*a) __builtin_trap();  // msgpack-c found an object, scanner did not
  if (n != 0 && (!complete || n != off)) __builtin_trap();  // nor may the one-shot decoder
  if (!complete && a && *a) __builtin_trap();               // scanner claims one msgpack-c does not
  return 0;
}
