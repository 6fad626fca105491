// in_http's requests (Fluentd's HTTP input): one whole HTTP/1.x request per
// frame (Framing::kHttp), turned into events and a response, as Fluentd 1.19
// does it:
//   POST /a/b?time=T  tag "a.b" (add_tag_prefix before it); the records come
//     from the body by Content-Type — application/json (an object or an array
//     of them), application/x-ndjson, application/msgpack (a map, an array of
//     maps, or several), application/x-www-form-urlencoded,
//     multipart/form-data or the query string (json=, ndjson=, msgpack=)
//     — or, with a <parse> of another type,
//     the body is that parser's text. Content-Encoding gzip or deflate is
//     inflated (at most decompression_size_limit).
//   time: the query's or form's `time` (seconds; 0 or not a number: now),
//     else the record's "time" (a number, taken out unless keep_time_key),
//     else now. A "time" that is not a number fails the request (400).
//   add_http_headers / add_query_params / add_remote_addr append HTTP_*,
//     QUERY_* and REMOTE_ADDR (X-Forwarded-For's first address when sent).
//   GET answers 200 and closes (health checks); OPTIONS is the CORS
//     preflight (cors_allow_origins, cors_allow_credentials).
// The response (200 text/plain, or 204, or a 1x1 GIF) is a reply: the input
// writes it once the request's events are in the buffer, so a 200 means
// buffered; a request that fails is answered "400 Bad Request\n<why>\n" and
// nothing of it is emitted. HTTP/1.1 keeps the connection unless
// "Connection: close"; HTTP/1.0 closes it unless "Connection: keep-alive".
// Thread safety: used by one input thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agentd/inputs/message_handler.h"

namespace logctl::agentd {

struct HttpOptions {
  std::string add_tag_prefix;  // "" none
  bool add_http_headers = false;
  bool add_remote_addr = false;
  bool add_query_params = false;
  std::optional<std::vector<std::string>> cors_allow_origins;
  bool cors_allow_credentials = false;
  bool respond_with_empty_img = false;
  bool use_204_response = false;
  bool dump_error_log = true;
  std::size_t decompression_limit = 256 << 20;
};

// The options of a <source @type http>; cors_allow_credentials without
// specific origins is refused, as Fluentd refuses it.
Result<HttpOptions> http_options(const config::Section& src);

// `source` is the <source @type http>; its <parse> of type in_http (the
// default) reads JSON/NDJSON/MessagePack, any other type parses the body.
Result<std::unique_ptr<MessageHandler>> make_http_handler(const config::Section& source,
                                                          HandlerOptions o, HttpOptions h,
                                                          const InputContext& ctx);

}  // namespace logctl::agentd
