#include "agentd/inputs/http_handler.h"

#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/forward/protocol.h"
#include "agentd/inputs/framing.h"
#include "logctl/schema/json_bounded.h"

namespace logctl::agentd {
namespace {

using Json = nlohmann::ordered_json;

// A 1x1 transparent GIF (respond_with_empty_img), the bytes Fluentd sends.
constexpr char kGif[] =
    "GIF89a\x01\x00\x01\x00\x80\xff\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
    "\x00\x02\x02"
    "D\x01\x00;";
constexpr std::string_view kEmptyGif(kGif, sizeof kGif - 1);

struct Request {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::string body;                                          // de-chunked
  unsigned short major = 1, minor = 1;
};

// Parses a whole request (the framing found its end, so this cannot stop
// half-way but for a malformed one, which the framing refused already).
std::optional<Request> parse_request(std::string_view raw) {
  struct State {
    Request r;
    bool in_value = false;
  } st;
  http_parser_settings cb{};
  cb.on_url = [](http_parser* p, const char* at, std::size_t n) {
    static_cast<State*>(p->data)->r.url.append(at, n);
    return 0;
  };
  cb.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
    auto* s = static_cast<State*>(p->data);
    if (s->in_value || s->r.headers.empty()) s->r.headers.emplace_back();
    s->in_value = false;
    s->r.headers.back().first.append(at, n);
    return 0;
  };
  cb.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
    auto* s = static_cast<State*>(p->data);
    s->in_value = true;
    s->r.headers.back().second.append(at, n);
    return 0;
  };
  cb.on_body = [](http_parser* p, const char* at, std::size_t n) {
    static_cast<State*>(p->data)->r.body.append(at, n);
    return 0;
  };
  cb.on_message_complete = [](http_parser* p) {
    http_parser_pause(p, 1);  // one request: anything after it is not ours
    return 0;
  };
  http_parser p{};
  http_parser_init(&p, HTTP_REQUEST);
  p.data = &st;
  http_parser_execute(&p, &cb, raw.data(), raw.size());
  auto err = static_cast<http_errno>(p.http_errno);
  if (err != HPE_OK && err != HPE_PAUSED) return std::nullopt;
  st.r.method = http_method_str(static_cast<http_method>(p.method));
  st.r.major = p.http_major;
  st.r.minor = p.http_minor;
  return std::move(st.r);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool icontains(std::string_view text, std::string_view word) {
  return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         }) != text.end();
}

// The failure of one request: its 400 body names why.
struct BadRequest {
  std::string why;
};

// URI.decode_www_form: "k=v&k2=v2", '+' a space, %XX a byte; a later key
// wins (Hash[]); bytes beyond ASCII are refused, as Ruby refuses them.
std::optional<std::vector<std::pair<std::string, std::string>>> decode_form(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > 127; })) {
    return std::nullopt;
  }
  auto unescape = [](std::string_view v) {
    std::string r;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '+') {
        r += ' ';
      } else if (v[i] == '%' && i + 2 < v.size() &&
                 std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
        r += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        r += v[i];
      }
    }
    return r;
  };
  while (!s.empty()) {
    auto amp = s.find('&');
    std::string_view part = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    auto eq = part.find('=');
    out.emplace_back(unescape(part.substr(0, eq)),
                     eq == std::string_view::npos ? "" : unescape(part.substr(eq + 1)));
  }
  return out;
}

// multipart/form-data (RFC 7578), as WEBrick reads it for Fluentd: each
// part's name (Content-Disposition) and bytes; nullopt when the body is not
// such a form.
std::optional<std::vector<std::pair<std::string, std::string>>> decode_multipart(
    std::string_view body, std::string boundary) {
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  if (boundary.empty() || boundary.size() > 200) return std::nullopt;
  const std::string delim = "--" + boundary;
  std::vector<std::pair<std::string, std::string>> out;
  auto at = body.find(delim);
  if (at == std::string_view::npos) return std::nullopt;
  for (;;) {
    at += delim.size();
    if (body.substr(at, 2) == "--") return out;  // the closing delimiter
    if (body.substr(at, 2) != "\r\n") return std::nullopt;
    at += 2;
    auto head_end = body.find("\r\n\r\n", at);
    if (head_end == std::string_view::npos) return std::nullopt;
    std::string_view head = body.substr(at, head_end - at);
    auto next = body.find("\r\n" + delim, head_end + 4);
    if (next == std::string_view::npos) return std::nullopt;
    std::string name;
    bool named = false;
    for (std::size_t line = 0; line <= head.size();) {
      auto eol = head.find("\r\n", line);
      std::string_view h = head.substr(line, eol == std::string_view::npos ? eol : eol - line);
      if (h.size() > 20 && iequals(h.substr(0, 20), "Content-Disposition:")) {
        if (auto n = h.find("name=\""); n != std::string_view::npos) {
          auto close = h.find('"', n + 6);
          if (close != std::string_view::npos) {
            name = std::string(h.substr(n + 6, close - n - 6));
            named = true;
          }
        }
      }
      if (eol == std::string_view::npos) break;
      line = eol + 2;
    }
    if (named) out.emplace_back(name, std::string(body.substr(head_end + 4, next - head_end - 4)));
    at = next + 2;
  }
}

// Ruby's String#to_f: the longest leading decimal number ("1.5x" is 1.5,
// "x" is 0.0; underscores between digits are ignored; no hex, no "inf").
double ruby_to_f(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  std::string num;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) num += s[i++];
  auto digits = [&] {
    bool any = false;
    while (i < s.size()) {
      if (std::isdigit(static_cast<unsigned char>(s[i]))) {
        num += s[i++];
        any = true;
      } else if (s[i] == '_' && any && i + 1 < s.size() &&
                 std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        ++i;
      } else {
        break;
      }
    }
    return any;
  };
  if (!digits()) return 0.0;
  if (i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
    num += s[i++];
    digits();
  }
  if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t save = i;
    std::string keep = num;
    num += s[i++];
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) num += s[i++];
    if (!digits()) {
      i = save;
      num = keep;
    }
  }
  return std::strtod(num.c_str(), nullptr);
}

// Fluentd's float time parser: seconds and nanoseconds from the number's
// Ruby text ("1.5" → 1 s 500000000 ns).
std::optional<EventTime> float_time(double v) {
  std::string text;
  append_ruby_float(text, v);
  auto dot = text.find('.');
  std::string sec = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "0" : text.substr(dot + 1, 10);
  auto e = frac.find_first_not_of("0123456789");
  if (e != std::string::npos) frac.resize(e);
  frac.resize(std::max<std::size_t>(frac.size(), 9), '0');
  double s = std::strtod(sec.c_str(), nullptr);
  if (!(std::fabs(s) < kMaxEventSeconds) || sec.find('e') != std::string::npos) {
    return std::nullopt;
  }
  return EventTime{static_cast<std::int64_t>(s) * 1'000'000'000 + std::stoll(frac)};
}

// Time.at(t) for a record's time: a number, to the nanosecond (truncated).
EventTime time_at(const Json& t) {
  if (t.is_number_integer()) {
    auto s = t.is_number_unsigned() ? static_cast<long double>(t.get<std::uint64_t>())
                                    : static_cast<long double>(t.get<std::int64_t>());
    if (!(std::fabs(s) < kMaxEventSeconds)) throw BadRequest{"time out of range"};
    return EventTime{static_cast<std::int64_t>(s) * 1'000'000'000};
  }
  if (t.is_number_float()) {
    long double d = t.get<double>();
    if (!(std::fabs(d) < kMaxEventSeconds)) throw BadRequest{"time out of range"};
    long double sec = std::floor(d);
    auto ns = static_cast<std::int64_t>(std::floor((d - sec) * 1e9L));
    return EventTime{static_cast<std::int64_t>(sec) * 1'000'000'000 + ns};
  }
  const char* kind = t.is_string()    ? "String"
                     : t.is_boolean() ? "TrueClass"  // false is no time at all
                     : t.is_object()  ? "Hash"
                     : t.is_array()   ? "Array"
                                      : "Object";
  throw BadRequest{std::string("can't convert ") + kind + " into an exact number"};
}

class HttpHandler final : public MessageHandler {
 public:
  HttpHandler(const config::Section& src, std::unique_ptr<Parser> custom, HandlerOptions o,
              HttpOptions h, const InputContext& ctx)
      : custom_(std::move(custom)),
        custom_raises_(custom_ && (src.child("parse")->type() == "json" ||
                                   src.child("parse")->type() == "msgpack")),
        o_(std::move(o)),
        h_(std::move(h)),
        c_(ctx.metrics, o_.id, o_.type),
        time_key_(!custom_ && src.child("parse") ? src.child("parse")->str("time_key") : "time"),
        keep_time_key_(!custom_ && src.child("parse") &&
                       src.child("parse")->flag("keep_time_key")) {
    // Fluentd: with time_format or time_type in <parse> @type in_http, the
    // record's time is read by that parser instead of as seconds.
    if (const auto* parse = src.child("parse");
        !custom_ && parse &&
        (parse->explicitly_set("time_format") || parse->explicitly_set("time_type"))) {
      time_parse_ = make_time_parse(*parse);
    }
    if (time_key_.empty()) time_key_ = "time";
    for (const char* code : {"200", "204", "400", "403"}) {
      responses_.emplace_back(code, &ctx.metrics.counter("agentd_input_http_responses_total",
                                                         "Responses in_http sent, by status.",
                                                         {{"plugin_id", o_.id}, {"code", code}}));
    }
  }

  void handle(std::string_view frame, const Peer& peer, EventTime now, BatchSet& out) override {
    if (out.close_after_replies) return;  // a closing connection reads nothing more
    auto req = parse_request(frame);
    if (!req)
      return respond(out, "400 Bad Request", {}, "400 Bad Request\nmalformed request\n", false);
    bool keep = keep_alive(*req);
    std::string origin;
    bool has_origin = false;
    for (const auto& [k, v] : req->headers) {
      if (iequals(k, "Origin")) {
        origin = v;
        has_origin = true;
      }
    }
    if (req->method == "GET") return respond(out, "200 OK", {}, "", false);
    if (req->method == "OPTIONS") return preflight(*req, origin, has_origin, out);
    if (h_.cors_allow_origins && !allow_all() && !(has_origin && allowed(origin)) && has_origin) {
      return respond(out, "403 Forbidden", {{"Connection", "close"}}, "", false);
    }
    std::string encoding, type;
    for (const auto& [k, v] : req->headers) {
      if (iequals(k, "Content-Encoding")) encoding = v;
      if (iequals(k, "Content-Type")) type = v;
    }
    if (encoding == "gzip" || encoding == "deflate") {
      auto body =
          forward::decompress(req->body, h_.decompression_limit,
                              encoding == "gzip" ? forward::Zip::kGzip : forward::Zip::kZlib);
      if (!body) {
        log_.write(log::Level::kWarn, "input " + o_.id + ": cannot decode the " + encoding +
                                          " payload from " + peer.address + ": " +
                                          body.error().message);
        ++c_.parse_errors;
        return respond(out, "400 Bad Request", {}, "", false);
      }
      req->body = std::move(*body);
    }
    try {
      Json params = request_params(*req, type, peer);
      std::string path = url_part(req->url, UF_PATH);
      events(path, params, now, out);
    } catch (const BadRequest& e) {
      ++c_.parse_errors;
      if (h_.dump_error_log) {
        log_.write(log::Level::kError, "input " + o_.id + ": failed to process a request from " +
                                           peer.address + ": " + e.why);
      }
      return respond(out, "400 Bad Request",
                     cors(origin, has_origin, {{"Content-Type", "text/plain"}}),
                     "400 Bad Request\n" + e.why + "\n", keep);
    }
    if (h_.respond_with_empty_img) {
      return respond(out, "200 OK",
                     cors(origin, has_origin, {{"Content-Type", "image/gif; charset=utf-8"}}),
                     kEmptyGif, keep);
    }
    if (h_.use_204_response)
      return respond(out, "204 No Content", cors(origin, has_origin, {}), "", keep);
    respond(out, "200 OK", cors(origin, has_origin, {{"Content-Type", "text/plain"}}), "", keep);
  }

 private:
  // Fluentd's rule: HTTP/1.1 keeps the connection, 1.0 does not; a
  // Connection field saying close or keep-alive decides otherwise.
  static bool keep_alive(const Request& r) {
    bool keep = r.major == 1 && r.minor == 1;
    for (const auto& [k, v] : r.headers) {
      if (!iequals(k, "Connection")) continue;
      if (icontains(v, "close")) {
        keep = false;
      } else if (icontains(v, "keep-alive")) {
        keep = true;
      }
    }
    return keep;
  }

  bool allow_all() const {
    return std::find(h_.cors_allow_origins->begin(), h_.cors_allow_origins->end(), "*") !=
           h_.cors_allow_origins->end();
  }

  // An origin listed, or matching a listed pattern with one '*'.
  bool allowed(const std::string& origin) const {
    for (const auto& o : *h_.cors_allow_origins) {
      if (o == origin) return true;
    }
    for (const auto& o : *h_.cors_allow_origins) {
      auto star = o.find('*');
      if (o.empty() || star == std::string::npos) continue;
      std::string_view head(o.data(), star), tail(o.data() + star + 1, o.size() - star - 1);
      if (origin.starts_with(head) && origin.ends_with(tail)) return true;
    }
    return false;
  }

  HttpFields cors(const std::string& origin, bool has_origin, HttpFields fields) const {
    if (!h_.cors_allow_origins) return fields;
    if (allow_all()) {
      fields.emplace_back("Access-Control-Allow-Origin", "*");
    } else if (has_origin && allowed(origin)) {
      fields.emplace_back("Access-Control-Allow-Origin", origin);
      if (h_.cors_allow_credentials)
        fields.emplace_back("Access-Control-Allow-Credentials", "true");
    }
    return fields;
  }

  void preflight(const Request& r, const std::string& origin, bool has_origin, BatchSet& out) {
    std::string method, headers;
    for (const auto& [k, v] : r.headers) {
      if (iequals(k, "Access-Control-Request-Method")) method = v;
      if (iequals(k, "Access-Control-Request-Headers")) headers = v;
    }
    if (!h_.cors_allow_origins || method != "POST")
      return respond(out, "403 Forbidden", {}, "", false);
    HttpFields f{{"Access-Control-Allow-Methods", "POST"},
                 {"Access-Control-Allow-Headers", headers}};
    if (allow_all()) {
      f.emplace_back("Access-Control-Allow-Origin", "*");
    } else if (has_origin && allowed(origin)) {
      f.emplace_back("Access-Control-Allow-Origin", origin);
      if (h_.cors_allow_credentials) f.emplace_back("Access-Control-Allow-Credentials", "true");
    } else {
      return respond(out, "403 Forbidden", {}, "", false);
    }
    respond(out, "200 OK", std::move(f), "", false);
  }

  void respond(BatchSet& out, std::string_view status, HttpFields fields, std::string_view body,
               bool keep) {
    if (keep) {
      fields.emplace_back("Connection", "Keep-Alive");
    } else {
      out.close_after_replies = true;
    }
    out.replies.push_back(http_response(status, std::move(fields), body));
    for (auto& [code, counter] : responses_) {
      if (status.starts_with(code)) ++*counter;
    }
  }

  static std::string url_part(const std::string& url, http_parser_url_fields f) {
    http_parser_url u{};
    http_parser_url_init(&u);
    if (http_parser_parse_url(url.data(), url.size(), 0, &u) != 0) {
      throw BadRequest{"bad request target '" + url + "'"};
    }
    if (!(u.field_set & (1 << f))) return "";
    return url.substr(u.field_data[f].off, u.field_data[f].len);
  }

  static void set(Json& params, const std::string& k, Json v) { params[k] = std::move(v); }

  // Fluentd's params: the query's fields, then the body's (form fields, or
  // json/ndjson/msgpack by Content-Type, or the body for a <parse>), then
  // QUERY_*, then HTTP_* for every header and REMOTE_ADDR.
  Json request_params(const Request& r, const std::string& type, const Peer& peer) {
    Json params = Json::object();
    std::string query = url_part(r.url, UF_QUERY);
    auto q = decode_form(query);
    if (!q) throw BadRequest{"the query string must be ASCII only"};
    for (auto& [k, v] : *q) set(params, k, v);
    if (custom_) {
      set(params, "_event_record", Json::binary({r.body.begin(), r.body.end()}));
    } else if (type.starts_with("application/x-www-form-urlencoded")) {
      auto f = decode_form(r.body);
      if (!f) throw BadRequest{"the form must be ASCII only"};
      for (auto& [k, v] : *f) set(params, k, v);
    } else if (type.starts_with("multipart/form-data; boundary=")) {
      auto f = decode_multipart(r.body, type.substr(30));
      if (!f) throw BadRequest{"a multipart/form-data body that does not parse"};
      for (auto& [k, v] : *f) set(params, k, v);
    } else if (type.starts_with("application/json") || type.starts_with("application/csp-report")) {
      set(params, "json", r.body);
    } else if (type.starts_with("application/msgpack")) {
      set(params, "msgpack", Json::binary({r.body.begin(), r.body.end()}));
    } else if (type.starts_with("application/x-ndjson")) {
      set(params, "ndjson", r.body);
    }
    if (h_.add_query_params) {
      for (auto& [k, v] : *q) set(params, "QUERY_" + env_name(k), v);
    }
    // A field sent twice under one name is an array of its values (as
    // Fluentd's HTTP parser gives them); X-Forwarded-For's first value counts.
    std::string remote = peer.address;
    std::vector<std::string> seen;
    for (const auto& [k, v] : r.headers) {
      std::string name = "HTTP_" + env_name(k);
      bool again = std::find(seen.begin(), seen.end(), k) != seen.end();
      if (again && params.contains(name)) {
        Json& old = params[name];
        if (!old.is_array()) old = Json::array({old});
        old.push_back(v);
      } else {
        set(params, name, v);
        seen.push_back(k);
        if (iequals(k, "X-Forwarded-For")) remote = v.substr(0, v.find(','));
      }
    }
    set(params, "REMOTE_ADDR", remote);
    return params;
  }

  // A name as Fluentd's env keys: '-' as '_', upper case.
  static std::string env_name(std::string k) {
    for (char& c : k)
      c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return k;
  }

  static std::string text_of(const Json& v) {
    if (v.is_binary()) return std::string(v.get_binary().begin(), v.get_binary().end());
    return v.is_string() ? v.get<std::string>() : v.dump();
  }

  // The request's events, or BadRequest (then none of them is emitted).
  void events(const std::string& path, const Json& params, EventTime now, BatchSet& out) {
    // Ruby's path[1..].split('/').join('.'): empty parts kept but at the end.
    std::vector<std::string_view> parts;
    std::string_view rest = path.size() > 1 ? std::string_view(path).substr(1) : "";
    while (!rest.empty()) {
      auto slash = rest.find('/');
      parts.push_back(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    while (!parts.empty() && parts.back().empty()) parts.pop_back();
    std::string tag;
    for (std::size_t i = 0; i < parts.size(); ++i) tag.append(i ? "." : "").append(parts[i]);
    // As in_forward's tags: 1 to 1024 bytes (Fluentd takes "POST /" as the
    // empty tag; here it is a bad request).
    if (tag.empty() || tag.size() > 1024) {
      throw BadRequest{"the tag (the path, '/' as '.') must be 1 to 1024 bytes"};
    }
    if (!h_.add_tag_prefix.empty()) tag = h_.add_tag_prefix + "." + tag;
    std::vector<std::pair<EventTime, Json>> records;
    auto add = [&](std::optional<EventTime> parsed, Json record) {
      // Fluentd's order: every HTTP_*, then every QUERY_*, then REMOTE_ADDR.
      for (const auto& [on, prefix] :
           {std::pair{h_.add_http_headers, "HTTP_"}, std::pair{h_.add_query_params, "QUERY_"}}) {
        if (!on) continue;
        for (auto it = params.begin(); it != params.end(); ++it) {
          if (it.key().starts_with(prefix)) record[it.key()] = *it;
        }
      }
      if (h_.add_remote_addr) record["REMOTE_ADDR"] = params.value("REMOTE_ADDR", Json());
      EventTime t = now;
      if (auto p = params.find("time"); p != params.end()) {
        double v = ruby_to_f(text_of(*p));
        if (v != 0.0) {
          auto ft = float_time(v);
          if (!ft) throw BadRequest{"time out of range"};
          t = *ft;
        }
      } else if (parsed) {
        t = *parsed;
      } else if (auto it = record.find(time_key_); it != record.end()) {
        Json v = *it;
        if (!keep_time_key_) record.erase(it);
        if (v.is_null() || (v.is_boolean() && !v.get<bool>())) {
          // no time: now
        } else if (time_parse_) {
          std::string text = v.is_string() ? v.get<std::string>() : v.dump();
          auto read = time_parse_(text);
          if (!read) throw BadRequest{"invalid time value: '" + text + "'"};
          t = *read;
        } else {
          t = time_at(v);
        }
      }
      records.emplace_back(t, std::move(record));
    };
    if (custom_) {
      parse_custom(text_of(params.at("_event_record")), now, add);
    } else if (auto m = params.find("msgpack"); m != params.end()) {
      parse_msgpack(text_of(*m), add);
    } else if (auto j = params.find("json"); j != params.end()) {
      parse_json(text_of(*j), add);
    } else if (auto n = params.find("ndjson"); n != params.end()) {
      std::string text = text_of(*n);
      std::vector<std::string_view> lines;
      for (std::size_t i = 0; i < text.size();) {
        auto nl = text.find('\n', i);
        std::string_view line(text.data() + i, (nl == std::string::npos ? text.size() : nl) - i);
        if (line.ends_with('\r')) line.remove_suffix(1);
        lines.push_back(line);
        i = nl == std::string::npos ? text.size() : nl + 1;
      }
      while (!lines.empty() && lines.back().empty()) lines.pop_back();  // Ruby's split drops them
      for (auto line : lines) parse_json(line, add);
    } else {
      throw BadRequest{"'json', 'ndjson' or 'msgpack' parameter is required"};
    }
    if (records.empty()) return;
    EventBatch& b = out.for_tag(tag);
    for (auto& [t, record] : records) {
      std::vector<std::uint8_t> packed;
      Json::to_msgpack(record, packed);
      RecordWriter w(b);
      w.begin(t, 0);
      w.record_packed({reinterpret_cast<const char*>(packed.data()), packed.size()});
      w.end();
    }
  }

  template <typename Add>
  void parse_json(std::string_view text, Add& add) {
    auto v = parse_json_bounded<Json>(text);
    if (!v) throw BadRequest{v.error().message};
    each_record(std::move(*v), add);
  }

  template <typename Add>
  void parse_msgpack(std::string_view bytes, Add& add) {
    MsgpackScanner scan;
    while (!bytes.empty()) {
      auto end = scan.end_of_object(bytes);
      if (!end) throw BadRequest{end.error().message};
      if (!*end) throw BadRequest{"an incomplete MessagePack object"};
      Json v;
      try {
        v = Json::from_msgpack(bytes.substr(0, **end));
      } catch (const std::exception& e) {
        throw BadRequest{std::string("bad MessagePack: ") + e.what()};
      }
      each_record(std::move(v), add);
      bytes.remove_prefix(**end);
      scan.reset();
    }
  }

  // A map is one record; an array's maps are records (anything else in it,
  // or any other value, is skipped, as Fluentd skips a nil record).
  template <typename Add>
  void each_record(Json v, Add& add) {
    if (v.is_object()) return add(std::nullopt, std::move(v));
    if (!v.is_array()) return;
    for (auto& e : v) {
      if (e.is_object()) add(std::nullopt, std::move(e));
    }
  }

  // A <parse> of another type: the body is its text. A line it does not
  // match is skipped (200, as Fluentd); json and msgpack fail the request.
  template <typename Add>
  void parse_custom(const std::string& text, EventTime now, Add& add) {
    EventBatch scratch;
    if (auto st = custom_->parse(text, now, {}, scratch); !st) {
      if (custom_raises_) throw BadRequest{st.error().message};
      ++c_.parse_errors;
      log_.write(log::Level::kWarn,
                 "input " + o_.id + ": a request body did not parse: " + st.error().message);
      return;
    }
    for (const auto& e : scratch.entries) {
      std::string_view entry = scratch.entry(e);
      Json pair = Json::from_msgpack(entry);  // [time, record]
      if (pair.is_array() && pair.size() == 2) add(e.time, std::move(pair[1]));
    }
  }

  std::unique_ptr<Parser> custom_;
  bool custom_raises_;
  HandlerOptions o_;
  HttpOptions h_;
  InputCounters c_;
  std::string time_key_;
  bool keep_time_key_;
  TimeParse time_parse_;  // set: time_format/time_type read the record's time
  std::vector<std::pair<std::string, std::atomic<std::uint64_t>*>> responses_;
  log::RateLimited log_;
};

}  // namespace

Result<HttpOptions> http_options(const config::Section& src) {
  HttpOptions o;
  o.add_tag_prefix = src.str("add_tag_prefix");
  o.add_http_headers = src.flag("add_http_headers");
  o.add_remote_addr = src.flag("add_remote_addr");
  o.add_query_params = src.flag("add_query_params");
  if (src.is_set("cors_allow_origins")) o.cors_allow_origins = src.array("cors_allow_origins");
  o.cors_allow_credentials = src.flag("cors_allow_credentials");
  o.respond_with_empty_img = src.flag("respond_with_empty_img");
  o.use_204_response = src.flag("use_204_response");
  o.dump_error_log = src.flag("dump_error_log");
  o.decompression_limit = src.size("decompression_size_limit");
  if (o.cors_allow_credentials &&
      (!o.cors_allow_origins ||
       std::find(o.cors_allow_origins->begin(), o.cors_allow_origins->end(), "*") !=
           o.cors_allow_origins->end())) {
    return make_error(
        ErrorCode::kInvalidArgument,
        src.where().str() + ": cors_allow_credentials needs cors_allow_origins without '*'");
  }
  return o;
}

Result<std::unique_ptr<MessageHandler>> make_http_handler(const config::Section& source,
                                                          HandlerOptions o, HttpOptions h,
                                                          const InputContext& ctx) {
  std::unique_ptr<Parser> custom;
  const auto* parse = source.child("parse");
  if (parse && parse->type() != "in_http") {
    auto p = make_parser(*parse);
    if (!p) return std::unexpected(p.error());
    custom = std::move(*p);
  }
  return std::make_unique<HttpHandler>(source, std::move(custom), std::move(o), std::move(h), ctx);
}

}  // namespace logctl::agentd
