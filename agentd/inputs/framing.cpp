#include "agentd/inputs/framing.h"

#include <cstdlib>
#include <cstring>

namespace logctl::agentd {

FrameSplitter::FrameSplitter(Framing framing, std::string delimiter, std::size_t max_frame)
    : framing_(framing), delimiter_(std::move(delimiter)), max_(max_frame) {
  if (delimiter_.empty()) delimiter_.assign(1, '\n');
}

Status FrameSplitter::feed(std::string_view data,
                           const std::function<void(std::string_view)>& on_frame) {
  if (framing_ == Framing::kOctetCount) {
    if (skip_left_ > 0) {
      std::size_t n = std::min<std::uint64_t>(skip_left_, data.size());
      skip_left_ -= n;
      data.remove_prefix(n);
    }
    buf_.append(data);
    return feed_octet(on_frame);
  }
  buf_.append(data);
  if (framing_ == Framing::kMsgpack) return feed_msgpack(on_frame);
  feed_delimited(on_frame);
  return {};
}

Status FrameSplitter::feed_msgpack(const std::function<void(std::string_view)>& on_frame) {
  if (cut_) {
    buf_.clear();
    return make_error(ErrorCode::kInvalidArgument,
                      "an incomplete MessagePack message was cut (partial_limit_size)");
  }
  std::size_t start = 0;
  Status result;
  for (;;) {
    auto end = scanner_.end_of_object(std::string_view(buf_).substr(start));
    if (!end) {
      result = std::unexpected(end.error());
      break;
    }
    if (!*end) {
      if (buf_.size() - start > max_) {
        ++oversized_;
        result = make_error(ErrorCode::kInvalidArgument, "a MessagePack message longer than " +
                                                             std::to_string(max_) +
                                                             " bytes (chunk_size_limit)");
      }
      break;
    }
    on_frame(std::string_view(buf_).substr(start, **end));
    start += **end;
    scanner_.reset();
  }
  buf_.erase(0, start);
  if (!result) buf_.clear();
  return result;
}

void FrameSplitter::feed_delimited(const std::function<void(std::string_view)>& on_frame) {
  std::size_t start = 0;
  const std::size_t dl = delimiter_.size();
  for (;;) {
    std::size_t pos;
    if (dl == 1) {
      auto* p = static_cast<const char*>(
          std::memchr(buf_.data() + scan_from_, delimiter_[0], buf_.size() - scan_from_));
      pos = p ? static_cast<std::size_t>(p - buf_.data()) : std::string::npos;
    } else {
      pos = buf_.find(delimiter_, scan_from_);
    }
    if (pos == std::string::npos) break;
    if (skipping_) {
      skipping_ = false;  // the oversized frame ends here; it was counted
    } else {
      on_frame(std::string_view(buf_).substr(start, pos - start));
    }
    start = pos + dl;
    scan_from_ = start;
  }
  buf_.erase(0, start);
  scan_from_ = buf_.size() >= dl ? buf_.size() - (dl - 1) : 0;
  if (buf_.size() > max_) {
    if (!skipping_) ++oversized_;
    skipping_ = true;
    // Keep only what could be the start of a delimiter.
    std::string tail(buf_.end() - static_cast<std::ptrdiff_t>(dl - 1), buf_.end());
    buf_.swap(tail);
    scan_from_ = 0;
  }
}

void FrameSplitter::cut_partial() {
  if (buf_.empty()) return;
  if (framing_ == Framing::kMsgpack) {
    ++oversized_;
    buf_.clear();
    cut_ = true;
    return;
  }
  if (framing_ == Framing::kDelimiter) {
    if (skipping_ || buf_.size() < delimiter_.size()) return;
    ++oversized_;
    skipping_ = true;
    buf_.erase(0, buf_.size() - (delimiter_.size() - 1));
    scan_from_ = 0;
    return;
  }
  std::size_t start = buf_.find_first_not_of("\r\n");
  std::size_t sp = start == std::string::npos ? start : buf_.find(' ', start);
  if (sp == std::string::npos || sp - start > 10) return;  // no header yet: nothing to cut
  std::uint64_t len = std::strtoull(buf_.c_str() + start, nullptr, 10);
  std::uint64_t have = buf_.size() - (sp + 1);
  if (have >= len) return;  // whole: the next feed delivers it
  ++oversized_;
  skip_left_ = len - have;
  buf_.clear();
}

Status FrameSplitter::feed_octet(const std::function<void(std::string_view)>& on_frame) {
  std::size_t start = 0;
  for (;;) {
    // Tolerate newlines between frames (some senders add them).
    while (start < buf_.size() && (buf_[start] == '\n' || buf_[start] == '\r')) ++start;
    std::size_t sp = buf_.find(' ', start);
    if (sp == std::string::npos) {
      if (buf_.size() - start > 20) {
        return make_error(ErrorCode::kInvalidArgument, "octet-count header is not a number");
      }
      break;
    }
    std::uint64_t len = 0;
    if (sp == start || sp - start > 10) {
      return make_error(ErrorCode::kInvalidArgument, "octet-count header is not a number");
    }
    for (std::size_t i = start; i < sp; ++i) {
      char c = buf_[i];
      if (c < '0' || c > '9') {
        return make_error(ErrorCode::kInvalidArgument, "octet-count header is not a number");
      }
      len = len * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (len > max_) {
      ++oversized_;
      std::size_t have = buf_.size() - (sp + 1);
      if (have >= len) {
        start = sp + 1 + len;
        continue;
      }
      skip_left_ = len - have;
      start = buf_.size();
      break;
    }
    if (buf_.size() - (sp + 1) < len) break;
    on_frame(std::string_view(buf_).substr(sp + 1, len));
    start = sp + 1 + len;
  }
  buf_.erase(0, start);
  return {};
}

}  // namespace logctl::agentd
