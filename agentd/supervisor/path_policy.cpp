#include "agentd/supervisor/path_policy.h"

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string_view>

#include "agentd/platform/fs.h"
#include "logctl/schema/config.h"

namespace logctl::agentd {
namespace {

// Parameters whose values are paths on the node.
const std::set<std::string, std::less<>> kPathKeys = {"path",
                                                      "pos_file",
                                                      "symlink_path",
                                                      "directory",
                                                      "root_dir",
                                                      "cert_path",
                                                      "private_key_path",
                                                      "ca_path",
                                                      "ca_file",
                                                      "tls_ca_cert_path",
                                                      "tls_client_cert_path",
                                                      "tls_client_private_key_path",
                                                      "enroll_token_file",
                                                      "controller_ca"};

std::string normal(const std::string& p) {
  std::string n = std::filesystem::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

bool under(const std::string& path, const std::vector<std::string>& allowed) {
  for (const auto& a : allowed) {
    if (a == "/" || path == a || path.starts_with(a + "/")) return true;
  }
  return false;
}

// The part of a path that is fixed: up to the directory before its first
// placeholder (${tag}, %Y) or wildcard (*, ?, [, {).
std::string fixed_part(const std::string& value) {
  auto cut = value.find_first_of("$%*?[{");
  if (cut == std::string::npos) return value;
  auto slash = value.rfind('/', cut);
  return slash == std::string::npos ? std::string() : value.substr(0, slash + 1);
}

std::string list(const std::vector<std::string>& allowed) {
  std::string s;
  for (const auto& a : allowed) s += (s.empty() ? "" : ", ") + a;
  return s;
}

Status check_value(const config::Param& p, const std::vector<std::string>& allowed) {
  // in_tail's path is a comma-separated list.
  std::string_view rest = p.value;
  while (true) {
    auto comma = rest.find(',');
    std::string one(rest.substr(0, comma));
    while (!one.empty() && one.front() == ' ') one.erase(0, 1);
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (!one.empty()) {
      std::string fixed = fixed_part(one);
      if (fixed.empty() || fixed[0] != '/' || !under(normal(fixed), allowed)) {
        return make_error(ErrorCode::kInvalidArgument,
                          p.where.str() + ": " + p.key + " '" + one +
                              "' is outside the paths this node allows configs from the "
                              "controller to name (--allowed-paths " +
                              list(allowed) + ")");
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return {};
}

Status walk(const config::Element& e, const std::vector<std::string>& allowed) {
  for (const auto& p : e.params) {
    if (kPathKeys.contains(p.key)) {
      if (auto s = check_value(p, allowed); !s) return s;
    }
  }
  for (const auto& c : e.children) {
    if (auto s = walk(c, allowed); !s) return s;
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> parse_allowed_paths(const std::string& text) {
  std::vector<std::string> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string one(rest.substr(0, comma));
    if (one.empty() || one[0] != '/' || one.find("..") != std::string::npos) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--allowed-paths: '" + one + "' is not an absolute directory");
    }
    out.push_back(normal(one));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

Status check_config_paths(const std::string& config_file, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return {};
  auto env = [](const char* k) -> const char* { return std::getenv(k); };
  // Its own @include lines first, unread: a file outside is never opened.
  auto text = fs::read_file(config_file);
  if (!text) return std::unexpected(text.error());
  std::vector<std::string> includes;
  if (auto top = config::parse_string_unresolved(*text, config_file, env, includes); !top) {
    return std::unexpected(top.error());
  }
  std::string dir = std::filesystem::path(config_file).parent_path().string();
  for (const auto& inc : includes) {
    std::string full = inc.starts_with("/") ? inc : dir + "/" + inc;
    std::string fixed = fixed_part(full);
    if (fixed.empty() || !under(normal(fixed), allowed)) {
      return make_error(ErrorCode::kInvalidArgument,
                        config_file + ": @include '" + inc +
                            "' is outside the paths this node allows configs from the controller "
                            "to name (--allowed-paths " +
                            list(allowed) + ")");
    }
  }
  config::ConfigSources sources;
  auto root = config::parse_file(config_file, env, &sources);
  if (!root) return std::unexpected(root.error());
  // What it includes: each file it read (the config itself lives in ROOT).
  for (std::size_t i = 1; i < sources.files.size(); ++i) {
    if (!under(normal(sources.files[i]), allowed)) {
      return make_error(ErrorCode::kInvalidArgument,
                        config_file + ": @include of '" + sources.files[i] +
                            "' is outside the paths this node allows configs from the controller "
                            "to name (--allowed-paths " +
                            list(allowed) + ")");
    }
  }
  return walk(*root, allowed);
}

}  // namespace logctl::agentd
