#include "agentd/supervisor/desired_state.h"

#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "agentd/platform/fs.h"
#include "agentd/supervisor/controller_link.h"

namespace logctl::agentd {

using nlohmann::json;

std::string desired_state_path(const std::string& root) {
  return root + "/desired.json";
}

Status save_desired_state(const std::string& root, const DesiredState& d) {
  json j = {{"format", kDesiredStateFormat},
            {"version", d.version},
            {"config_revision", d.config_revision},
            {"binary", d.binary},
            {"config", d.config},
            {"at", d.at ? d.at
                        : std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()}};
  return fs::write_file_atomic(desired_state_path(root), j.dump() + "\n", fs::Sync::kYes, 0600);
}

Status remember_desired_state(const std::string& root, const std::string& binary,
                              const std::string& config) {
  DesiredState d;
  d.version = ControllerLink::version_of(root, binary);
  d.config_revision = ControllerLink::config_of(root, config);
  if (!d.version.empty()) d.binary = binary;
  if (d.config_revision != 0) d.config = config;
  if (d.binary.empty() && d.config.empty()) return {};
  return save_desired_state(root, d);
}

Result<std::optional<DesiredState>> load_desired_state(const std::string& root) {
  std::string path = desired_state_path(root);
  if (::access(path.c_str(), F_OK) != 0) return std::optional<DesiredState>();
  auto text = fs::read_file(path, fs::Follow::kNo);
  if (!text) return std::unexpected(text.error());
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kCorrupt, path + ": " + why);
  };
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return bad("not a JSON object");
  if (j.value("format", 0) != kDesiredStateFormat) {
    return bad("format " + j.value("format", json()).dump() + " (this agentd reads " +
               std::to_string(kDesiredStateFormat) + ")");
  }
  DesiredState d;
  if (!j.value("binary", json()).is_string() || !j.value("config", json()).is_string()) {
    return bad("'binary' and 'config' are strings");
  }
  d.binary = j["binary"].get<std::string>();
  d.config = j["config"].get<std::string>();
  d.version = ControllerLink::version_of(root, d.binary);
  d.config_revision = ControllerLink::config_of(root, d.config);
  d.at = j.value("at", std::int64_t{0});
  if (!d.binary.empty()) {
    if (d.version.empty()) return bad("binary " + d.binary + " is not ROOT/versions/V/agentd");
    auto trusted = fs::check_trusted_executable(d.binary);
    if (!trusted) return bad(trusted.error().message);
    d.binary = *trusted;
  }
  if (!d.config.empty()) {
    if (d.config_revision == 0) return bad("config " + d.config + " is not ROOT/configs/N.conf");
    if (::access(d.config.c_str(), R_OK) != 0) return bad("config " + d.config + " is missing");
  }
  if (d.binary.empty() && d.config.empty()) return std::optional<DesiredState>();
  return std::optional<DesiredState>(d);
}

}  // namespace logctl::agentd
