#include "controller/api/request_head.h"

#include <algorithm>
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

}  // namespace

RequestHead parse_request_head(std::string_view in) {
  RequestHead h;
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return h;
  h.length = end + 4;
  std::string_view head = in.substr(0, end);
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) {
    h.malformed = true;
    return h;
  }
  h.method = line.substr(0, sp1);
  h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = line.substr(sp2 + 1);
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    std::string_view field = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      h.malformed = true;
      return h;
    }
    std::string_view name = field.substr(0, colon), value = trim(field.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      bool digits =
          !value.empty() && value.size() < 19 &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || h.content_length) {  // not a number, or given twice
        h.malformed = true;
        return h;
      }
      h.content_length = std::stoull(std::string(value));
    } else if (iequals(name, "Authorization")) {
      h.authorization = std::string(value);
    } else if (iequals(name, "Connection")) {
      h.close = iequals(value, "close");
    } else if (iequals(name, "Transfer-Encoding") || iequals(name, "Expect")) {
      h.needs_relay = true;
    }
  }
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

}  // namespace logctl::controller
