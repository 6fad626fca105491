// Fuzzes the controller front door's HTTP head handling: the request-head
// parser and its route match, the head it relays to the API server, and the
// response-head parser and rewrite. Views must lie inside the input, a
// complete head's length must too, a heartbeat node name never holds a byte
// the full server would decode, and a rewritten head is one head: a single
// blank line, at its end, with exactly one Connection field.
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

static void check_one_head(const std::string& out) {
  if (out.find("\r\n\r\n") != out.size() - 4) __builtin_trap();
  std::size_t n = 0;
  for (auto at = out.find("\r\nConnection: "); at != std::string::npos;
       at = out.find("\r\nConnection: ", at + 1)) {
    ++n;
  }
  if (n != 1) __builtin_trap();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  RequestHead h = parse_request_head(in);
  if (h.length > in.size()) __builtin_trap();
  if (h.length == 0 && (h.malformed || h.content_length)) __builtin_trap();
  for (auto v : {h.method, h.target, h.version, h.expect}) check_inside(in, v);
  if (h.content_length && *h.content_length >= 10'000'000'000'000'000'000ull) __builtin_trap();
  if (h.expect_continue && h.expect.empty()) __builtin_trap();
  for (std::string_view t : {h.target, in}) {
    std::string node = heartbeat_node(t);
    if (node.size() > 128) __builtin_trap();
    for (char ch : node) {
      if (ch == '/' || ch == '%' || ch == '?' || ch == '#' ||
          static_cast<unsigned char>(ch) <= 0x20)
        __builtin_trap();
    }
  }
  // A well-formed head (fields without bare CR or LF inside) is relayed as one head.
  if (h.length != 0 && !h.malformed) {
    std::string_view head = in.substr(0, h.length);
    std::string_view inner = head.substr(0, head.size() - 4);
    bool clean = true;
    for (std::size_t i = 0; i < inner.size(); ++i) {
      if ((inner[i] == '\r' || inner[i] == '\n') &&
          !(inner[i] == '\r' && i + 1 < inner.size() && inner[i + 1] == '\n') &&
          !(inner[i] == '\n' && i > 0 && inner[i - 1] == '\r')) {
        clean = false;
      }
    }
    if (clean) check_one_head(backend_head(head));
  }
  ResponseHead r = parse_response_head(in);
  if (r.length > in.size()) __builtin_trap();
  if (r.length != 0 && !r.malformed) {
    if (r.status < 100 || r.status > 599) __builtin_trap();
    std::string out = client_response_head(in.substr(0, r.length), r.framed);
    if (out.find("\r\n\r\n") != out.size() - 4) __builtin_trap();
  }
  return 0;
}
