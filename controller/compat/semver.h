// Semantic Versioning 2.0.0: parsing (strict: no leading zeros, identifiers
// of [0-9A-Za-z-]) and precedence (a pre-release is lower than its release;
// numeric identifiers compare as numbers and below alphanumeric ones; build
// metadata is ignored). Thread safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::compat {

struct SemVer {
  std::uint64_t major = 0, minor = 0, patch = 0;
  std::vector<std::string> pre;  // dot-separated pre-release identifiers
  std::string build;             // ignored by comparisons

  static Result<SemVer> parse(std::string_view text);
  std::string str() const;
};

std::strong_ordering compare(const SemVer& a, const SemVer& b);
inline bool operator<(const SemVer& a, const SemVer& b) {
  return compare(a, b) < 0;
}
inline bool operator==(const SemVer& a, const SemVer& b) {
  return compare(a, b) == 0;
}

}  // namespace logctl::compat
