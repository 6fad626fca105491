#include "controller/api/request_head.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace logctl::controller {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Whether a comma-separated field value holds `token` (case-insensitively).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// The head's first line and its fields: `fn(name, value, line)` for each
// field (the line without its CRLF); false when a field has no name.
template <typename Fn>
bool for_each_field(std::string_view head, std::string_view& first, Fn fn) {
  auto eol = head.find("\r\n");
  first = head.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view field = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    if (field.empty()) break;  // the blank line
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    fn(field.substr(0, colon), trim(field.substr(colon + 1)), field);
  }
  return true;
}

bool digits(std::string_view v) {
  return !v.empty() && v.size() < 19 &&
         std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `head` with the fields named in `drop` left out; its first line and the
// fields kept end with CRLF, the blank line is not added.
template <std::size_t N>
std::string without_fields(std::string_view head, const std::array<std::string_view, N>& drop) {
  std::string out;
  out.reserve(head.size() + 32);
  std::string_view first;
  for_each_field(head, first, [&](std::string_view name, std::string_view, std::string_view line) {
    for (auto d : drop) {
      if (iequals(name, d)) return;
    }
    out.append(line).append("\r\n");
  });
  return std::string(first) + "\r\n" + out;
}

}  // namespace

RequestHead parse_request_head(std::string_view in) {
  RequestHead h;
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return h;
  h.length = end + 4;
  std::string_view line;
  bool keep_alive = false, close = false;
  bool ok = for_each_field(
      in.substr(0, end + 2), line, [&](std::string_view name, std::string_view value, auto) {
        if (iequals(name, "Content-Length")) {
          if (!digits(value) || h.content_length) {  // not a number, or given twice
            h.malformed = true;
            return;
          }
          h.content_length = std::stoull(std::string(value));
        } else if (iequals(name, "Authorization")) {
          h.authorization = std::string(value);
        } else if (iequals(name, "Connection")) {
          close = close || has_token(value, "close");
          keep_alive = keep_alive || has_token(value, "keep-alive");
        } else if (iequals(name, "Transfer-Encoding")) {
          h.chunked = true;
        } else if (iequals(name, "Expect")) {
          h.expect = value;
          h.expect_continue = iequals(value, "100-continue");
        }
      });
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (!ok || h.malformed || sp1 == std::string_view::npos || sp2 == sp1) {
    h = RequestHead{};
    h.length = end + 4;
    h.malformed = true;
    return h;
  }
  h.method = line.substr(0, sp1);
  h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = line.substr(sp2 + 1);
  h.close = close || (h.version != "HTTP/1.1" && !keep_alive);
  return h;
}

std::string heartbeat_node(std::string_view target) {
  constexpr std::string_view kPrefix = "/v1/nodes/", kSuffix = "/heartbeat";
  if (!target.starts_with(kPrefix) || !target.ends_with(kSuffix)) return "";
  std::string_view n =
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - kSuffix.size());
  if (n.empty() || n.size() > 128) return "";
  for (char ch : n) {
    if (ch == '/' || ch == '%' || ch == '?' || ch == '#' || ch == '+' ||
        static_cast<unsigned char>(ch) <= 0x20) {
      return "";
    }
  }
  return std::string(n);
}

std::string backend_head(std::string_view head) {
  static constexpr std::array<std::string_view, 6> kHopByHop = {
      "Connection", "Keep-Alive", "Expect", "TE", "Upgrade", "Proxy-Connection"};
  return without_fields(head, kHopByHop) + "Connection: close\r\n\r\n";
}

ResponseHead parse_response_head(std::string_view in) {
  ResponseHead r;
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return r;
  r.length = end + 4;
  std::string_view line;
  bool ok = for_each_field(in.substr(0, end + 2), line,
                           [&](std::string_view name, std::string_view value, auto) {
                             if (iequals(name, "Content-Length") && digits(value)) r.framed = true;
                             if (iequals(name, "Transfer-Encoding") && has_token(value, "chunked"))
                               r.framed = true;
                           });
  // "HTTP/1.1 200 OK"
  if (!ok || !line.starts_with("HTTP/1.") || line.size() < 12 || line[8] != ' ' ||
      !digits(line.substr(9, 3))) {
    r.malformed = true;
    r.framed = false;
    return r;
  }
  r.status = std::stoi(std::string(line.substr(9, 3)));
  if (r.status < 100 || r.status > 599) {
    r = ResponseHead{r.length, 0, false, true};
    return r;
  }
  // 1xx, 204 and 304 have no body: their end is the head's.
  if (r.status < 200 || r.status == 204 || r.status == 304) r.framed = true;
  return r;
}

std::string client_response_head(std::string_view head, bool keep_alive) {
  static constexpr std::array<std::string_view, 2> kConnection = {"Connection", "Keep-Alive"};
  return without_fields(head, kConnection) +
         (keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

}  // namespace logctl::controller
