// The release manifest: what an agentd binary says about itself
// (`agentd manifest`), stored with each release by the controller, which takes
// every compatibility fact from it and never guesses: the version, the oldest
// version it can take over from, the chunk formats it reads and writes, the
// handover protocol versions it speaks, and its plugin schema (to validate a
// config against the release before rolling it out).
//
// Wire format: one JSON object, documented in docs/release-manifest.md. Its
// "manifest_version" says how to read it; readers refuse a newer one.
// Thread safety: plain values and pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "logctl/schema/result.h"

namespace logctl::release {

// Bump when a field's meaning changes or a required field is added; never
// reuse a value. 1: the fields below.
inline constexpr int kManifestVersion = 1;

// An inclusive range of format or protocol versions.
struct VersionRange {
  int min = 0;
  int max = 0;
  bool contains(int v) const { return v >= min && v <= max; }
  bool overlaps(const VersionRange& o) const { return min <= o.max && o.min <= max; }
};

struct Manifest {
  std::string name = "agentd";
  std::string version;           // SemVer of the binary
  std::string min_upgrade_from;  // oldest version a staged handover can replace
  VersionRange chunk_format_read;
  int chunk_format_write = 0;
  VersionRange handover_protocol;
  nlohmann::json plugin_schema;  // what `agentd schema` prints
};

nlohmann::json to_json(const Manifest& m);
// Validates every field; kInvalidArgument names the first bad one.
Result<Manifest> manifest_from_json(const nlohmann::json& j);

}  // namespace logctl::release
