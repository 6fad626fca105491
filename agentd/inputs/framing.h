// Splits a byte stream into frames: delimiter-terminated (in_tcp's
// "delimiter", default "\n"), RFC 6587 octet counting ("LEN SP MSG"), one
// MessagePack object each (the forward protocol; an object over the limit, or
// bytes that are no MessagePack, end the stream with an error, as Fluentd
// closes such a connection), or one whole HTTP/1.x request each (in_http: the
// request's raw bytes, head and body as sent, found by libhttp-parser; a
// body over the limit, a malformed request or an Expect other than
// 100-continue end the stream with an error and a response to send first,
// take_reply(); after a request that does not keep the connection alive the
// rest of the stream is ignored).
// A frame longer than the limit is skipped up to its end and counted, never
// buffered without bound. Unconsumed bytes stay inside the splitter, so a
// connection can be handed over with them (see the handover protocol).
// Thread safety: one splitter per connection, one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agentd/inputs/msgpack_framing.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

enum class Framing { kDelimiter, kOctetCount, kMsgpack, kHttp };

// An HTTP/1.1 response as Fluentd's in_http writes one: the status line, the
// given fields in order, then Content-Length and Content-Type (text/plain)
// unless given, a blank line and the body.
using HttpFields = std::vector<std::pair<std::string, std::string>>;
std::string http_response(std::string_view status, HttpFields fields, std::string_view body);

class FrameSplitter {
 public:
  FrameSplitter(Framing framing, std::string delimiter, std::size_t max_frame);
  ~FrameSplitter();
  FrameSplitter(const FrameSplitter&) = delete;
  FrameSplitter& operator=(const FrameSplitter&) = delete;

  // Feeds bytes; calls on_frame for each complete frame. Returns an error only
  // when the stream cannot be resynchronised (bad octet-count header).
  Status feed(std::string_view data, const std::function<void(std::string_view)>& on_frame);
  // The bytes of an incomplete frame (what a handover passes on with the
  // connection).
  std::string_view pending() const {
    return skipping_ ? std::string_view() : std::string_view(buf_);
  }
  // Whether an incomplete frame at end of stream is still a message (a last
  // line without its delimiter); an incomplete HTTP request is not.
  bool partial_is_message() const { return framing_ != Framing::kHttp; }
  // kHttp: bytes the framing answers by itself, to be sent in order with the
  // replies to earlier requests: "100 Continue", or the 413/417/400 response
  // before an error ends the stream.
  std::string take_reply() { return std::exchange(reply_, {}); }
  std::uint64_t oversized() const { return oversized_; }
  // Bytes held for an incomplete frame (what a memory budget counts).
  std::size_t held() const { return buf_.size(); }
  // Gives up the incomplete frame: its bytes are freed, the rest of it is
  // skipped as it arrives, and it counts as oversized.
  void cut_partial();

 private:
  Status feed_octet(const std::function<void(std::string_view)>& on_frame);
  Status feed_msgpack(const std::function<void(std::string_view)>& on_frame);
  void feed_delimited(const std::function<void(std::string_view)>& on_frame);
  Status feed_http(const std::function<void(std::string_view)>& on_frame);

  Framing framing_;
  std::string delimiter_;
  std::size_t max_;
  std::string buf_;
  std::size_t scan_from_ = 0;
  bool skipping_ = false;        // inside an oversized delimited frame
  std::uint64_t skip_left_ = 0;  // bytes of an oversized counted frame to skip
  std::uint64_t oversized_ = 0;
  MsgpackScanner scanner_;  // kMsgpack
  bool cut_ = false;        // kMsgpack, kHttp: a message was cut; the stream cannot resync
  struct Http;              // kHttp: libhttp-parser's state
  std::unique_ptr<Http> http_;
  std::string reply_;
};

}  // namespace logctl::agentd
