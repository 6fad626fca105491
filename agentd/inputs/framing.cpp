#include "agentd/inputs/framing.h"

#include <http_parser.h>
#include <strings.h>

#include <cstdlib>
#include <cstring>

namespace logctl::agentd {

std::string http_response(std::string_view status, HttpFields fields, std::string_view body) {
  auto has = [&](std::string_view name) {
    for (const auto& [k, v] : fields) {
      if (k == name) return true;
    }
    return false;
  };
  if (!has("Content-Length")) fields.emplace_back("Content-Length", std::to_string(body.size()));
  if (!has("Content-Type")) fields.emplace_back("Content-Type", "text/plain");
  std::string out = "HTTP/1.1 ";
  out.append(status).append("\r\n");
  for (const auto& [k, v] : fields) out.append(k).append(": ").append(v).append("\r\n");
  out.append("\r\n").append(body);
  return out;
}

// libhttp-parser finds where each request ends (Content-Length, chunked
// bodies, pipelining); the handler parses the whole request again for its
// fields. A request's body is bounded by max_ (body_size_limit), its head by
// the library (80 KiB), its raw bytes (chunk headers included) by kRawSlack
// over twice the body limit.
struct FrameSplitter::Http {
  static constexpr std::size_t kRawSlack = 128 << 10;
  http_parser parser{};
  http_parser_settings settings{};
  std::size_t max = 0;
  std::size_t body = 0;
  bool complete = false;   // a request ended here (the parser is paused)
  bool too_large = false;  // its body passed max
  bool expect_failed = false;
  bool expect_continue = false;
  bool closed = false;       // the last request did not keep the connection alive
  std::size_t parsed = 0;    // bytes of buf_ the parser has seen
  std::string field, value;  // the header being read
  bool in_value = false;
  std::string* reply = nullptr;

  explicit Http(std::size_t limit, std::string* r) : max(limit), reply(r) {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    settings.on_message_begin = [](http_parser* p) {
      auto* h = static_cast<Http*>(p->data);
      h->body = 0;
      h->expect_continue = false;
      h->field.clear();
      h->value.clear();
      h->in_value = false;
      return 0;
    };
    settings.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
      auto* h = static_cast<Http*>(p->data);
      if (h->in_value) h->header_done();
      h->field.append(at, n);
      return 0;
    };
    settings.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
      auto* h = static_cast<Http*>(p->data);
      h->in_value = true;
      h->value.append(at, n);
      return 0;
    };
    settings.on_headers_complete = [](http_parser* p) {
      auto* h = static_cast<Http*>(p->data);
      if (h->in_value) h->header_done();
      bool sized = (p->flags & F_CONTENTLENGTH) != 0;
      if (sized && p->content_length > h->max) {
        h->too_large = true;
        return -1;
      }
      if (h->expect_failed) return -1;
      // Fluentd's rule: continue when the announced size is under the limit.
      if (h->expect_continue) *h->reply += "HTTP/1.1 100 Continue\r\n\r\n";
      return 0;
    };
    settings.on_body = [](http_parser* p, const char*, std::size_t n) {
      auto* h = static_cast<Http*>(p->data);
      h->body += n;
      if (h->body > h->max) {
        h->too_large = true;
        return -1;
      }
      return 0;
    };
    settings.on_message_complete = [](http_parser* p) {
      auto* h = static_cast<Http*>(p->data);
      h->complete = true;
      h->closed = !http_should_keep_alive(p);
      http_parser_pause(p, 1);
      return 0;
    };
  }

  void header_done() {
    if (strcasecmp(field.c_str(), "Expect") == 0) {
      if (strcasecmp(value.c_str(), "100-continue") == 0) {
        expect_continue = true;
      } else {
        expect_failed = true;
      }
    }
    field.clear();
    value.clear();
    in_value = false;
  }
};

FrameSplitter::FrameSplitter(Framing framing, std::string delimiter, std::size_t max_frame)
    : framing_(framing), delimiter_(std::move(delimiter)), max_(max_frame) {
  if (delimiter_.empty()) delimiter_.assign(1, '\n');
  if (framing_ == Framing::kHttp) http_ = std::make_unique<Http>(max_, &reply_);
}

FrameSplitter::~FrameSplitter() = default;

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
  if (framing_ == Framing::kHttp) {
    if (http_->closed) return {};  // the connection ends after its last response
    buf_.append(data);
    return feed_http(on_frame);
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

Status FrameSplitter::feed_http(const std::function<void(std::string_view)>& on_frame) {
  Http& h = *http_;
  auto fail = [&](std::string status, std::string body, std::string why) -> Status {
    reply_ += http_response(status, {}, body);
    buf_.clear();
    h.parsed = 0;
    h.closed = true;
    return make_error(ErrorCode::kInvalidArgument, std::move(why));
  };
  auto too_large = [&] {
    ++oversized_;
    return fail("413 Request Entity Too Large", "Too large",
                "an HTTP request larger than body_size_limit (" + std::to_string(max_) + " bytes)");
  };
  if (cut_) {
    return fail("413 Request Entity Too Large", "Too large",
                "an incomplete HTTP request was cut (partial_limit_size)");
  }
  std::size_t start = 0;  // where the current request begins in buf_
  while (h.parsed < buf_.size()) {
    std::size_t n =
        http_parser_execute(&h.parser, &h.settings, buf_.data() + h.parsed, buf_.size() - h.parsed);
    h.parsed += n;
    if (h.complete) {
      h.complete = false;
      on_frame(std::string_view(buf_).substr(start, h.parsed - start));
      start = h.parsed;
      if (h.closed) {
        buf_.clear();
        h.parsed = 0;
        return {};
      }
      http_parser_pause(&h.parser, 0);
      continue;
    }
    auto err = static_cast<http_errno>(h.parser.http_errno);
    if (h.too_large) return too_large();
    if (h.expect_failed) {
      return fail("417 Expectation Failed", "",
                  "an HTTP request with an Expect other than "
                  "100-continue");
    }
    if (err != HPE_OK) {
      std::string why = http_errno_description(err);
      return fail("400 Bad Request", "400 Bad Request\n" + why + "\n",
                  "a malformed HTTP request: " + why);
    }
    break;
  }
  buf_.erase(0, start);
  h.parsed -= start;
  if (buf_.size() > 2 * max_ + Http::kRawSlack) return too_large();
  return {};
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
  if (framing_ == Framing::kMsgpack || framing_ == Framing::kHttp) {
    ++oversized_;
    buf_.clear();
    if (http_) http_->parsed = 0;
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
