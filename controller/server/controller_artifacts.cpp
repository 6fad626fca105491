// The Controller's releases and config revisions: upload, listing,
// validation against release schemas.
#include "controller/server/controller.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "controller/compat/config_schema.h"
#include "controller/compat/semver.h"
#include "controller/server/controller_internal.h"
#include "logctl/schema/config.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/plugin_schema.h"
#include "logctl/schema/release_manifest.h"

namespace logctl::controller {

using namespace detail;
using lifecycle::Command;
using store::ClusterState;

// ---- releases and configs ---------------------------------------------------

ApiResult<json> Controller::add_release(const std::string& manifest_text,
                                        const std::string& artifact_tmp, const std::string& sha256,
                                        std::int64_t size, const Principal& who) {
  auto drop = [&] { ::unlink(artifact_tmp.c_str()); };
  json mj = json::parse(manifest_text, nullptr, false);
  if (mj.is_discarded()) {
    drop();
    return std::unexpected(api_error(400, "bad_request", "manifest: not JSON"));
  }
  auto m = release::manifest_from_json(mj);
  if (!m) {
    drop();
    return std::unexpected(api_error(422, "invalid_manifest", "manifest: " + m.error().message));
  }
  if (!compat::SemVer::parse(m->version)) {
    drop();
    return std::unexpected(
        api_error(422, "invalid_manifest", "manifest: version '" + m->version + "' is not SemVer"));
  }
  if (size <= 0) {
    drop();
    return std::unexpected(api_error(400, "bad_request", "the artifact is empty"));
  }
  if (shared_) {
    // Several controllers: the bytes go into the database first, so that
    // whichever leads later serves them (content-addressed: a retry rewrites).
    if (leading()) {
      if (auto s = share_artifact(artifact_tmp, sha256); !s) {
        drop();
        return std::unexpected(api_error(s.error()));
      }
    }
  }
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) {
    drop();
    return std::unexpected(*e);
  }
  store::Release r{m->version, sha256, size, release::to_json(*m).dump(), 0};
  if (auto s = store_->add_release(r); !s) {
    drop();
    return std::unexpected(api_error(s.error()));
  }
  // Content-addressed: the same bytes land on the same name.
  std::string final_path = artifacts_dir() + "/" + sha256;
  if (::rename(artifact_tmp.c_str(), final_path.c_str()) != 0) {
    drop();
    return std::unexpected(
        api_error(500, "internal", "store artifact: " + std::string(std::strerror(errno))));
  }
  ::chmod(final_path.c_str(), 0640);
  (void)record(who, "release.push", {{"version", m->version}, {"sha256", sha256}, {"size", size}},
               false, "accepted");
  return json{{"version", m->version}, {"sha256", sha256}, {"size", size}};
}

ApiResult<json> Controller::releases() {
  std::lock_guard lock(mu_);
  auto rs = store_->releases();
  if (!rs) return std::unexpected(api_error(rs.error()));
  json out = json::array();
  for (const auto& r : *rs) {
    json m = json::parse(r.manifest, nullptr, false);
    out.push_back({{"version", r.version},
                   {"sha256", r.sha256},
                   {"size", r.size},
                   {"created_at", r.created_at},
                   {"min_upgrade_from", m.is_discarded() ? "" : m.value("min_upgrade_from", "")}});
  }
  return json{{"releases", out}};
}

ApiResult<json> Controller::release(const std::string& version) {
  std::lock_guard lock(mu_);
  auto r = store_->release(version);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r) return std::unexpected(no_release(version));
  json m = json::parse((*r)->manifest, nullptr, false);
  return json{{"version", (*r)->version},
              {"sha256", (*r)->sha256},
              {"size", (*r)->size},
              {"created_at", (*r)->created_at},
              {"manifest", m.is_discarded() ? json() : m}};
}

ApiResult<json> Controller::delete_release(const std::string& version, const Principal& who) {
  std::string artifact;
  {
    std::lock_guard lock(mu_);
    if (auto e = refuse_if_following()) return std::unexpected(*e);
    auto r = store_->release(version);
    if (!r) return std::unexpected(api_error(r.error()));
    if (!*r) {
      return std::unexpected(
          api_error(404, "not_found",
                    "no release '" + version + "' on the controller (`logctl release list`)"));
    }
    auto c = store_->cluster();
    if (!c) return std::unexpected(api_error(c.error()));
    // Who still needs it, named.
    std::string needed;
    auto need = [&](const std::string& why) { needed += (needed.empty() ? "" : "; ") + why; };
    if (c->current_version == version) need("it is the cluster's current version");
    if (c->target_version == version) need("it is the cluster's target version");
    if (c->previous_version == version) need("it is the version a rollback returns to");
    if (runner_.active() &&
        (runner_.rollout().from_version == version || runner_.rollout().to_version == version)) {
      need("rollout #" + std::to_string(runner_.rollout().id) + " moves nodes from or to it");
    }
    std::string nodes;
    for (const auto& [name, l] : nodes_.all()) {
      if (!l.revoked && l.row.version == version) nodes += (nodes.empty() ? "" : ", ") + name;
    }
    if (!nodes.empty()) need("node(s) " + nodes + " run it");
    if (!needed.empty()) {
      (void)record(who, "release.delete", {{"version", version}}, false, "refused: " + needed);
      return std::unexpected(
          api_error(409, "conflict", "release " + version + " is in use: " + needed));
    }
    auto left = store_->delete_release(version);
    if (!left) return std::unexpected(api_error(left.error()));
    if (*left == 0) {
      artifact = artifacts_dir() + "/" + (*r)->sha256;
      if (shared_) (void)store_->delete_artifact((*r)->sha256);
    }
    (void)record(who, "release.delete", {{"version", version}, {"sha256", (*r)->sha256}}, false,
                 "accepted");
  }
  // The bytes go outside the lock; a name made of hex digits inside the
  // private data directory (never a path from the request).
  bool removed = !artifact.empty() && ::unlink(artifact.c_str()) == 0;
  return json{{"version", version}, {"deleted", true}, {"artifact_removed", removed}};
}

ApiResult<std::string> Controller::artifact_path(const std::string& version, const Principal& who) {
  if (who.kind == store::TokenKind::kEnrollment) {
    return std::unexpected(
        api_error(403, "forbidden", "an enrolment token cannot download releases"));
  }
  std::optional<store::Release> rel;
  {
    std::lock_guard lock(mu_);
    auto r = store_->release(version);
    if (!r) return std::unexpected(api_error(r.error()));
    if (!*r) return std::unexpected(no_release(version));
    rel = **r;
  }
  std::string path = artifacts_dir() + "/" + rel->sha256;
  // Several controllers: a release another one received is fetched from the
  // database into this one's cache once (its own connection: mu_ is free).
  if (shared_ && ::access(path.c_str(), F_OK) != 0) {
    if (auto s = fetch_artifact(*rel, path); !s) {
      return std::unexpected(
          api_error(503, "unavailable", "release " + version + ": " + s.error().message));
    }
  }
  return path;
}

ApiResult<Controller::ConfigCheck> Controller::validate_config_text(const std::string& text,
                                                                    const std::string& version) {
  ConfigCheck out;
  auto root = config::parse_string_unresolved(
      text, "config", [](const char*) -> const char* { return compat::kNodeEnvironment; },
      out.includes);
  if (!root) return std::unexpected(api_error(422, "invalid_config", root.error().message));
  auto r = version.empty() ? Result<std::optional<store::Release>>(std::nullopt)
                           : store_->release(version);
  json m = r && *r ? json::parse((*r)->manifest, nullptr, false) : json();
  if (!m.is_object() || !m.contains("plugin_schema")) {
    // No release record for this version (e.g. what nodes were installed
    // with): the controller's own schema is the best knowledge there is.
    // Values from each node's environment ("#{ENV['…']}") are checked there.
    if (auto v = compat::config_fits_schema(*root, config::plugin_schema_json(), &out.warnings);
        !v) {
      return std::unexpected(
          api_error(422, "invalid_config",
                    v.error().message +
                        " (checked with this controller's plugin schema: no release "
                        "record for " +
                        (version.empty() ? std::string("the running version") : version) + ")"));
    }
    return out;
  }
  if (auto s = compat::config_fits_schema(*root, m["plugin_schema"], &out.warnings); !s) {
    return std::unexpected(api_error(422, "invalid_config",
                                     "does not fit release " + version + ": " + s.error().message));
  }
  return out;
}

// Every version's warnings once, in order; with `strict` they refuse the
// config (as `agentd --dry-run --strict` does).
ApiResult<std::vector<std::string>> Controller::checked_for_versions(
    const std::string& text, const std::set<std::string>& versions, bool strict,
    std::vector<std::string>* includes) {
  std::vector<std::string> warnings;
  for (const auto& v : versions) {
    auto ok = validate_config_text(text, v);
    if (!ok) return std::unexpected(ok.error());
    for (auto& w : ok->warnings) {
      if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(w);
    }
    if (includes) *includes = std::move(ok->includes);
  }
  if (strict && !warnings.empty()) {
    std::string all;
    for (const auto& w : warnings) all += (all.empty() ? "" : "; ") + w;
    return std::unexpected(api_error(422, "invalid_config", "strict: " + all));
  }
  return warnings;
}

std::set<std::string> Controller::cluster_versions(const store::Cluster& c) const {
  std::set<std::string> versions;
  for (const auto& v : {c.current_version, c.target_version}) {
    if (!v.empty()) versions.insert(v);
  }
  for (const auto& [name, l] : nodes_.all()) {
    if (!l.revoked && !l.row.version.empty()) versions.insert(l.row.version);
  }
  if (versions.empty()) versions.insert("");
  return versions;
}

ApiResult<json> Controller::check_config(const std::string& text, const std::string& version,
                                         bool strict) {
  std::lock_guard lock(mu_);
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  std::set<std::string> versions = {version};
  if (version.empty()) {
    versions = cluster_versions(*c);
  } else if (auto r = store_->release(version); !r || !*r) {
    return std::unexpected(no_release(version));
  }
  std::vector<std::string> includes;
  auto warnings = checked_for_versions(text, versions, strict, &includes);
  if (!warnings) return std::unexpected(warnings.error());
  std::string current;
  if (c->current_config != 0) {
    if (auto r = store_->config(c->current_config); r && *r) current = (*r)->text;
  }
  json checked = json::array();
  for (const auto& v : versions) checked.push_back(v);
  return json{{"valid", true},
              {"checked_against", checked},
              {"sha256", digest::sha256_hex(text)},
              {"diff_from", c->current_config},
              {"diff", config_diff(current, text)},
              // Not read here: each node checks them when it applies the config.
              {"includes_checked_on_nodes", includes},
              {"warnings", *warnings}};
}

ApiResult<json> Controller::add_config(const std::string& text, const Principal& who, bool strict) {
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) return std::unexpected(*e);
  // Validated against every version the cluster runs or is moving to.
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  auto warnings = checked_for_versions(text, cluster_versions(*c), strict, nullptr);
  if (!warnings) return std::unexpected(warnings.error());
  store::ConfigRevision rev{0, text, digest::sha256_hex(text), who.name(), 0};
  auto id = store_->add_config(rev);
  if (!id) return std::unexpected(api_error(id.error()));
  (void)record(who, "config.add", {{"revision", *id}, {"sha256", rev.sha256}}, false, "accepted");
  return json{{"revision", *id}, {"sha256", rev.sha256}, {"warnings", *warnings}};
}

ApiResult<json> Controller::config(std::int64_t id, const Principal& who) {
  if (who.kind == store::TokenKind::kEnrollment) {
    return std::unexpected(api_error(403, "forbidden", "an enrolment token cannot read configs"));
  }
  std::lock_guard lock(mu_);
  auto r = store_->config(id);
  if (!r) return std::unexpected(api_error(r.error()));
  if (!*r) return std::unexpected(no_config(id));
  return json{{"revision", (*r)->id},
              {"sha256", (*r)->sha256},
              {"author", (*r)->author},
              {"created_at", (*r)->created_at},
              {"text", (*r)->text}};
}

ApiResult<json> Controller::configs() {
  std::lock_guard lock(mu_);
  auto rs = store_->configs(100);
  if (!rs) return std::unexpected(api_error(rs.error()));
  json out = json::array();
  for (const auto& r : *rs) {
    out.push_back({{"revision", r.id},
                   {"sha256", r.sha256},
                   {"author", r.author},
                   {"created_at", r.created_at}});
  }
  return json{{"configs", out}};
}

}  // namespace logctl::controller
