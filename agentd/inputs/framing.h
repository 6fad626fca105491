// Splits a byte stream into frames: delimiter-terminated (in_tcp's
// "delimiter", default "\n"), RFC 6587 octet counting ("LEN SP MSG"), or one
// MessagePack object each (the forward protocol; an object over the limit, or
// bytes that are no MessagePack, end the stream with an error, as Fluentd
// closes such a connection).
// A frame longer than the limit is skipped up to its end and counted, never
// buffered without bound. Unconsumed bytes stay inside the splitter, so a
// connection can be handed over with them (see the handover protocol).
// Thread safety: one splitter per connection, one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agentd/inputs/msgpack_framing.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

enum class Framing { kDelimiter, kOctetCount, kMsgpack };

class FrameSplitter {
 public:
  FrameSplitter(Framing framing, std::string delimiter, std::size_t max_frame);

  // Feeds bytes; calls on_frame for each complete frame. Returns an error only
  // when the stream cannot be resynchronised (bad octet-count header).
  Status feed(std::string_view data, const std::function<void(std::string_view)>& on_frame);
  // The bytes of an incomplete frame at end of stream (delivered at close).
  std::string_view pending() const {
    return skipping_ ? std::string_view() : std::string_view(buf_);
  }
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

  Framing framing_;
  std::string delimiter_;
  std::size_t max_;
  std::string buf_;
  std::size_t scan_from_ = 0;
  bool skipping_ = false;        // inside an oversized delimited frame
  std::uint64_t skip_left_ = 0;  // bytes of an oversized counted frame to skip
  std::uint64_t oversized_ = 0;
  MsgpackScanner scanner_;  // kMsgpack
  bool cut_ = false;        // kMsgpack: an object was cut; the stream cannot resync
};

}  // namespace logctl::agentd
