// An HTTP/1.1 request head as the front door (front_door.h) reads it, and
// the one route it answers itself. Only what the front door needs: the
// request line, Content-Length, Authorization, Connection: close, and whether
// the request needs the full server (Transfer-Encoding, Expect). Values are
// views into the buffer passed in, except the copied Authorization.
// Thread safety: pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace logctl::controller {

struct RequestHead {
  std::size_t length = 0;  // bytes up to and including the blank line; 0: incomplete
  std::string_view method, target, version;
  std::optional<std::uint64_t> content_length;
  std::string authorization;
  bool malformed = false;    // no request line, a field without a name, a bad or repeated length
  bool close = false;        // Connection: close
  bool needs_relay = false;  // Transfer-Encoding or Expect: the full server decides
};

RequestHead parse_request_head(std::string_view in);

// NODE of "/v1/nodes/NODE/heartbeat"; "" for any other target, and for a
// name with escapes, a query or control bytes (the full server decodes those).
std::string heartbeat_node(std::string_view target);

}  // namespace logctl::controller
