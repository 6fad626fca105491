#include "agentd/outputs/http_output.h"

#include <httplib.h>

#include <algorithm>
#include <set>

#include "agentd/core/msgpack_view.h"
#include "agentd/outputs/formatter.h"
#include "logctl/schema/tls_identity.h"

namespace logctl::agentd {
namespace {

struct Endpoint {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "/..." with the query
};

Result<Endpoint> parse_endpoint(const std::string& url, const config::Section& s) {
  auto scheme = url.find("://");
  std::string proto = scheme == std::string::npos ? "" : url.substr(0, scheme);
  if (proto != "http" && proto != "https") {
    return make_error(ErrorCode::kInvalidArgument,
                      s.where().str() + ": endpoint '" + url + "' is not http:// or https://");
  }
  auto slash = url.find('/', scheme + 3);
  Endpoint e{url.substr(0, slash), slash == std::string::npos ? "/" : url.substr(slash)};
  if (e.origin.size() <= scheme + 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      s.where().str() + ": endpoint '" + url + "' has no host");
  }
  return e;
}

class HttpOutput final : public Output {
 public:
  HttpOutput(const config::Section& s, Endpoint e) : s_(s), e_(std::move(e)) {
    json_array_ = s.flag("json_array");
    method_ = s.str("http_method");
    content_type_ = s.is_set("content_type")
                        ? s.str("content_type")
                        : (json_array_ ? "application/json" : "application/x-ndjson");
    for (const auto& [k, v] : s.hash("headers")) headers_.emplace(k, v);
    for (const auto& c : s.array("retryable_response_codes")) {
      retryable_.insert(std::atoi(c.c_str()));
    }
    if (s.is_set("open_timeout")) open_timeout_ = static_cast<int>(s.integer("open_timeout"));
    if (s.is_set("read_timeout")) read_timeout_ = static_cast<int>(s.integer("read_timeout"));
    verify_ = s.str("tls_verify_mode") != "none";
    ca_ = s.str("tls_ca_cert_path");
  }

  Status write(const Chunk& chunk) override {
    std::string body;
    if (auto st = format(chunk, body); !st) return st;
    httplib::Client c(e_.origin);
    c.set_connection_timeout(open_timeout_, 0);
    c.set_read_timeout(read_timeout_, 0);
    c.set_write_timeout(read_timeout_, 0);
    if (e_.origin.starts_with("https")) {
      c.enable_server_certificate_verification(verify_);
      if (!ca_.empty()) c.set_ca_cert_path(ca_.c_str());
      // tls_verify_mode peer: the certificate must also name the endpoint's host.
      if (verify_) (void)tls::demand_identity(c.ssl_context(), tls::url_host(e_.origin));
    }
    auto r = method_ == "put" ? c.Put(e_.path, headers_, body, content_type_)
                              : c.Post(e_.path, headers_, body, content_type_);
    std::string where = method_ + " " + e_.origin + e_.path;
    if (!r) {
      return make_error(ErrorCode::kUnavailable,
                        where + ": no answer (" + httplib::to_string(r.error()) + ")");
    }
    if (r->status >= 200 && r->status < 300) return {};
    std::string what = where + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200);
    if (retryable_.contains(r->status)) return make_error(ErrorCode::kUnavailable, what);
    return make_error(ErrorCode::kInvalidArgument, what + " (not retryable)");
  }

 private:
  Status format(const Chunk& chunk, std::string& body) const {
    auto fmt = make_formatter(*s_.child("format"));
    std::string one;
    bool first = true;
    if (json_array_) body += '[';
    auto st = chunk.read([&](std::string_view tag, std::string_view unit) -> Status {
      return for_each_entry(unit, [&](EventTime t, std::string_view rec) {
        one.clear();
        fmt->format(one, tag, t, rec);
        if (json_array_) {
          while (!one.empty() && (one.back() == '\n' || one.back() == '\r')) one.pop_back();
          if (!first) body += ',';
        } else if (one.empty() || one.back() != '\n') {
          one += '\n';
        }
        body += one;
        first = false;
      });
    });
    if (json_array_) body += ']';
    return st;
  }

  const config::Section& s_;
  Endpoint e_;
  bool json_array_ = false, verify_ = true;
  std::string method_, content_type_, ca_;
  httplib::Headers headers_;
  std::set<int> retryable_;
  int open_timeout_ = 10, read_timeout_ = 60;
};

}  // namespace

Result<std::unique_ptr<Output>> make_http_output(const config::Section& section) {
  auto e = parse_endpoint(section.str("endpoint"), section);
  if (!e) return std::unexpected(e.error());
  return std::make_unique<HttpOutput>(section, std::move(*e));
}

}  // namespace logctl::agentd
