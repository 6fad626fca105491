#include "logctl/schema/release_manifest.h"

namespace logctl::release {
namespace {

nlohmann::json range_json(const VersionRange& r) {
  return {{"min", r.min}, {"max", r.max}};
}

Result<VersionRange> range_from(const nlohmann::json& j, const char* name) {
  auto bad = [&] {
    return make_error(
        ErrorCode::kInvalidArgument,
        std::string("manifest: '") + name + "' must be {\"min\": N, \"max\": M}, " + "1 <= N <= M");
  };
  if (!j.contains(name) || !j[name].is_object()) return bad();
  const auto& r = j[name];
  if (!r.contains("min") || !r.contains("max") || !r["min"].is_number_integer() ||
      !r["max"].is_number_integer()) {
    return bad();
  }
  VersionRange out{r["min"].get<int>(), r["max"].get<int>()};
  if (out.min < 1 || out.max < out.min) return bad();
  return out;
}

Result<std::string> string_field(const nlohmann::json& j, const char* name) {
  if (!j.contains(name) || !j[name].is_string() || j[name].get<std::string>().empty() ||
      j[name].get<std::string>().size() > 64) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("manifest: '") + name + "' must be a non-empty string");
  }
  return j[name].get<std::string>();
}

}  // namespace

nlohmann::json to_json(const Manifest& m) {
  return {{"manifest_version", kManifestVersion},
          {"name", m.name},
          {"version", m.version},
          {"min_upgrade_from", m.min_upgrade_from},
          {"chunk_format",
           {{"read", range_json(m.chunk_format_read)}, {"write", m.chunk_format_write}}},
          {"handover_protocol", range_json(m.handover_protocol)},
          {"plugin_schema", m.plugin_schema}};
}

Result<Manifest> manifest_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "manifest: not an object");
  if (!j.contains("manifest_version") || !j["manifest_version"].is_number_integer()) {
    return make_error(ErrorCode::kInvalidArgument, "manifest: no 'manifest_version'");
  }
  int v = j["manifest_version"].get<int>();
  if (v < 1 || v > kManifestVersion) {
    return make_error(ErrorCode::kInvalidArgument, "manifest: version " + std::to_string(v) +
                                                       " is not one this build reads (1.." +
                                                       std::to_string(kManifestVersion) + ")");
  }
  Manifest m;
  for (auto [field, out] : {std::pair{"name", &m.name}, std::pair{"version", &m.version},
                            std::pair{"min_upgrade_from", &m.min_upgrade_from}}) {
    auto s = string_field(j, field);
    if (!s) return std::unexpected(s.error());
    *out = *s;
  }
  if (!j.contains("chunk_format") || !j["chunk_format"].is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "manifest: no 'chunk_format'");
  }
  auto read = range_from(j["chunk_format"], "read");
  if (!read) return std::unexpected(read.error());
  m.chunk_format_read = *read;
  const auto& w = j["chunk_format"].value("write", nlohmann::json());
  if (!w.is_number_integer() || !read->contains(w.get<int>())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "manifest: 'chunk_format.write' must be a version it also reads");
  }
  m.chunk_format_write = w.get<int>();
  auto hp = range_from(j, "handover_protocol");
  if (!hp) return std::unexpected(hp.error());
  m.handover_protocol = *hp;
  if (!j.contains("plugin_schema") || !j["plugin_schema"].is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "manifest: no 'plugin_schema' object");
  }
  m.plugin_schema = j["plugin_schema"];
  return m;
}

}  // namespace logctl::release
