#include "controller/server/heartbeat_fields.h"

#include <array>
#include <cstdio>

#include "controller/compat/semver.h"

namespace logctl::controller {

using json = nlohmann::json;

namespace {

constexpr std::array<std::string_view, 7> kFigures = {
    "events_in", "events_out",         "drops",          "parse_errors",
    "retries",   "buffer_queue_bytes", "worker_restarts"};

// The length of the UTF-8 sequence at s[i] (0: not a valid one).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80           ? 1
                  : (b >> 5) == 0x6  ? 2
                  : (b >> 4) == 0xe  ? 3
                  : (b >> 3) == 0x1e ? 4
                                     : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

std::unexpected<Error> bad(const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, "heartbeat: " + what);
}

// Copies integer field `k` (>= 0) of `from` into `to`, when present.
Status copy_count(const json& from, json& to, const char* k) {
  if (!from.contains(k)) return {};
  if (!from[k].is_number_integer() || from[k].get<std::int64_t>() < 0) {
    return bad(std::string("'") + k + "' is an integer >= 0");
  }
  to[k] = from[k].get<std::int64_t>();
  return {};
}

Status copy_bool(const json& from, json& to, const char* k) {
  if (!from.contains(k)) return {};
  if (!from[k].is_boolean()) return bad(std::string("'") + k + "' is a boolean");
  to[k] = from[k].get<bool>();
  return {};
}

Status copy_text(const json& from, json& to, const char* k, std::size_t max = kMaxText) {
  if (!from.contains(k)) return {};
  if (!from[k].is_string()) return bad(std::string("'") + k + "' is a string");
  to[k] = safe_text(from[k].get<std::string>(), max);
  return {};
}

// A handover report (agentd's HandoverReport::json()): its known fields.
Result<json> bounded_report(const json& r, const std::string& where) {
  if (r.is_null()) return json();
  if (!r.is_object()) return bad("'" + where + "' is an object");
  json out = json::object();
  for (const char* k : {"generation", "connections_handed_over", "events_through_spool"}) {
    if (auto s = copy_count(r, out, k); !s) return std::unexpected(s.error());
  }
  if (auto s = copy_bool(r, out, "ok"); !s) return std::unexpected(s.error());
  for (const char* k : {"result", "reason", "error"}) {
    if (auto s = copy_text(r, out, k); !s) return std::unexpected(s.error());
  }
  if (r.contains("phases_ms")) {
    if (!r["phases_ms"].is_object()) return bad("'phases_ms' is an object");
    json ph = json::object();
    for (const auto& [name, ms] : r["phases_ms"].items()) {
      if (ph.size() >= 16) break;
      if (!ms.is_number()) continue;
      ph[safe_text(name, 32)] = ms;
    }
    out["phases_ms"] = ph;
  }
  return out;
}

}  // namespace

std::string safe_text(std::string_view s, std::size_t max) {
  constexpr std::string_view kEllipsis = "\xe2\x80\xa6";  // …
  std::string out;
  out.reserve(std::min(s.size(), max) + 8);
  std::size_t fits = 0;  // the longest prefix of whole pieces that leaves room for "…"
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_length(s, i);
    unsigned cp = n == 2 ? ((static_cast<unsigned char>(s[i]) & 0x1f) << 6) |
                               (static_cast<unsigned char>(s[i + 1]) & 0x3f)
                         : 0;
    char esc[8];
    std::string_view piece;
    if (n == 0) {
      piece = "\xef\xbf\xbd";  // U+FFFD for a byte that is not UTF-8
      n = 1;
    } else if (n == 1 && (static_cast<unsigned char>(s[i]) < 0x20 || s[i] == 0x7f)) {
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned char>(s[i]));
      piece = esc;
    } else if (n == 2 && cp >= 0x80 && cp <= 0x9f) {  // C1 controls (e.g. U+009B, CSI)
      std::snprintf(esc, sizeof esc, "\\u%04x", cp);
      piece = esc;
    } else {
      piece = s.substr(i, n);
    }
    if (out.size() + piece.size() > max) {
      out.resize(fits);
      out += kEllipsis;
      return out;
    }
    out += piece;
    if (out.size() + kEllipsis.size() <= max) fits = out.size();
    i += n;
  }
  return out;
}

Result<json> bounded_heartbeat(const json& body) {
  if (!body.is_object()) return bad("the body is not an object");
  json out = json::object();
  if (body.contains("version")) {
    if (!body["version"].is_string()) return bad("'version' is a string");
    std::string v = body["version"];
    if (!v.empty() && (v.size() > 64 || !compat::SemVer::parse(v))) {
      return bad("'version' is not SemVer");
    }
    out["version"] = v;
  }
  for (const char* k : {"config_revision", "generation", "chunk_format_written", "redeployed",
                        "seen_cluster_revision"}) {
    if (auto s = copy_count(body, out, k); !s) return std::unexpected(s.error());
  }
  for (const char* k : {"running", "worker_up"}) {
    if (auto s = copy_bool(body, out, k); !s) return std::unexpected(s.error());
  }
  if (auto s = copy_text(body, out, "state", 32); !s) return std::unexpected(s.error());
  if (body.contains("handover_protocol")) {
    const auto& h = body["handover_protocol"];
    if (!h.is_object() || !h.value("min", json()).is_number_integer() ||
        !h.value("max", json()).is_number_integer()) {
      return bad("'handover_protocol' is {\"min\": int, \"max\": int}");
    }
    out["handover_protocol"] = {{"min", h["min"].get<std::int64_t>()},
                                {"max", h["max"].get<std::int64_t>()}};
  }
  if (body.contains("figures")) {
    const auto& f = body["figures"];
    if (!f.is_object()) return bad("'figures' is an object");
    json kept = json::object();
    for (const auto& [k, v] : f.items()) {
      if (!v.is_number_integer()) return bad("figure '" + safe_text(k, 64) + "' is an integer");
      for (auto known : kFigures) {
        if (k == known) kept[k] = v.get<std::int64_t>();
      }
    }
    out["figures"] = kept;
  }
  if (body.contains("listeners")) {
    const auto& l = body["listeners"];
    if (!l.is_array()) return bad("'listeners' is an array of strings");
    json kept = json::array();
    for (const auto& one : l) {
      if (!one.is_string()) return bad("'listeners' is an array of strings");
      if (kept.size() < kMaxListeners)
        kept.push_back(safe_text(one.get<std::string>(), kMaxListenerText));
    }
    out["listeners"] = kept;
  }
  if (body.contains("handover")) {
    auto r = bounded_report(body["handover"], "handover");
    if (!r) return std::unexpected(r.error());
    out["handover"] = *r;
  }
  if (body.contains("converge")) {
    const auto& c = body["converge"];
    if (!c.is_object()) return bad("'converge' is an object");
    json kept = json::object();
    if (auto s = copy_text(c, kept, "version", 64); !s) return std::unexpected(s.error());
    if (auto s = copy_count(c, kept, "config_revision"); !s) return std::unexpected(s.error());
    if (auto s = copy_bool(c, kept, "running"); !s) return std::unexpected(s.error());
    for (const char* k : {"state", "error"}) {
      if (auto s = copy_text(c, kept, k); !s) return std::unexpected(s.error());
    }
    if (c.contains("handover")) {
      auto r = bounded_report(c["handover"], "converge.handover");
      if (!r) return std::unexpected(r.error());
      kept["handover"] = *r;
    }
    out["converge"] = kept;
  }
  return out;
}

}  // namespace logctl::controller
