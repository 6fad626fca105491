#include "controller/compat/semver.h"

#include <charconv>
#include <tuple>

namespace logctl::compat {
namespace {

bool is_numeric(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

bool valid_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  for (std::size_t b = 0;;) {
    auto e = s.find('.', b);
    out.emplace_back(s.substr(b, e == std::string_view::npos ? e : e - b));
    if (e == std::string_view::npos) return out;
    b = e + 1;
  }
}

bool number(std::string_view s, std::uint64_t& out) {
  if (!is_numeric(s) || (s.size() > 1 && s[0] == '0')) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Result<SemVer> SemVer::parse(std::string_view text) {
  auto bad = [&](const char* why) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + std::string(text.substr(0, 64)) + "' is not a SemVer version: " + why);
  };
  if (text.empty() || text.size() > 128) return bad("empty or too long");
  SemVer v;
  std::string_view core = text;
  if (auto plus = core.find('+'); plus != std::string_view::npos) {
    v.build = std::string(core.substr(plus + 1));
    for (const auto& id : split(v.build)) {
      if (!valid_identifier(id)) return bad("bad build metadata");
    }
    core = core.substr(0, plus);
  }
  if (auto dash = core.find('-'); dash != std::string_view::npos) {
    v.pre = split(core.substr(dash + 1));
    for (const auto& id : v.pre) {
      if (!valid_identifier(id) || (is_numeric(id) && id.size() > 1 && id[0] == '0')) {
        return bad("bad pre-release identifier");
      }
    }
    core = core.substr(0, dash);
  }
  auto parts = split(core);
  if (parts.size() != 3 || !number(parts[0], v.major) || !number(parts[1], v.minor) ||
      !number(parts[2], v.patch)) {
    return bad("want MAJOR.MINOR.PATCH without leading zeros");
  }
  return v;
}

std::string SemVer::str() const {
  std::string s = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (std::size_t i = 0; i < pre.size(); ++i) s += (i ? "." : "-") + pre[i];
  if (!build.empty()) s += "+" + build;
  return s;
}

std::strong_ordering compare(const SemVer& a, const SemVer& b) {
  if (auto c = std::tie(a.major, a.minor, a.patch) <=> std::tie(b.major, b.minor, b.patch);
      c != 0) {
    return c;
  }
  if (a.pre.empty() || b.pre.empty()) return b.pre.size() <=> a.pre.size();  // release > pre
  for (std::size_t i = 0; i < a.pre.size() && i < b.pre.size(); ++i) {
    const auto &x = a.pre[i], &y = b.pre[i];
    bool xn = is_numeric(x), yn = is_numeric(y);
    if (xn && yn) {
      if (auto c = x.size() <=> y.size(); c != 0) return c;  // no leading zeros: longer is larger
      if (auto c = x <=> y; c != 0) return c;
    } else if (xn != yn) {
      return xn ? std::strong_ordering::less : std::strong_ordering::greater;
    } else if (auto c = x <=> y; c != 0) {
      return c;
    }
  }
  return a.pre.size() <=> b.pre.size();
}

}  // namespace logctl::compat
