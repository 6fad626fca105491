// HTTP/1.1 heads as the front door (front_door.h) reads and rewrites them,
// and the one route it answers itself. Only what the front door needs: the
// request line, Content-Length, Authorization, whether the connection stays
// open, Transfer-Encoding and Expect; for the API server's responses, where
// the head ends and whether the body's end is known without a close. Values
// are views into the buffer passed in, except the copied Authorization.
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
  bool malformed = false;   // no request line, a field without a name, a bad or repeated length
  bool close = false;       // Connection: close, or HTTP/1.0 without keep-alive
  bool chunked = false;     // a Transfer-Encoding field (the API takes Content-Length only)
  std::string_view expect;  // the Expect field's value ("" when absent)
  bool expect_continue = false;  // Expect: 100-continue (any case)
};

RequestHead parse_request_head(std::string_view in);

// NODE of "/v1/nodes/NODE/heartbeat"; "" for any other target, and for a
// name with escapes, a query or control bytes (the full server decodes those).
std::string heartbeat_node(std::string_view target);

// The head the API server gets for a relayed request (`head`: the client's,
// blank line included): the client's fields without the hop-by-hop ones
// (Connection, Keep-Alive, Expect, TE, Upgrade, Proxy-Connection), and
// "Connection: close": one request per backend connection.
std::string backend_head(std::string_view head);

struct ResponseHead {
  std::size_t length = 0;  // bytes up to and including the blank line; 0: incomplete
  int status = 0;
  bool framed = false;  // Content-Length or chunked: the client sees the end without a close
  bool malformed = false;
};

ResponseHead parse_response_head(std::string_view in);

// `head` (a complete response head) with its Connection field saying whether
// the connection stays open, and without Keep-Alive.
std::string client_response_head(std::string_view head, bool keep_alive);

}  // namespace logctl::controller
