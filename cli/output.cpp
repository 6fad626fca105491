#include "cli/output.h"

#include <ctime>
#include <iostream>

#include "cli/terminal.h"

namespace logctl::cli {

Format parse_format(const std::string& s) {
  if (s == "json") return Format::kJson;
  if (s == "ndjson") return Format::kNdjson;
  return Format::kTable;
}

void Table::print(std::ostream& out) const {
  // Cells hold text from nodes: escaped, so a "\r\n" cannot forge a row.
  std::vector<std::vector<std::string>> rows = rows_;
  for (auto& r : rows) {
    for (auto& c : r) c = printable(c);
  }
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string transition(const json& r) {
  std::string fv = cell(r.value("from_version", json())), tv = cell(r.value("to_version", json()));
  auto rev = [](const json& v) {
    return v.is_number_integer() && v.get<std::int64_t>() != 0 ? "rev " + v.dump()
                                                               : std::string("node's own file");
  };
  json fc = r.value("from_config", json()), tc = r.value("to_config", json());
  bool version_moves = fv != tv, config_moves = fc != tc;
  std::string config = "config " + rev(fc) + " -> " + rev(tc);
  if (version_moves && config_moves) return fv + " -> " + tv + ", " + config;
  if (version_moves) return fv + " -> " + tv;
  if (config_moves) return config + " on " + tv;
  return "redeploy of " + tv;
}

std::string when(std::int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

namespace {

// The next step for the errors where there is an obvious one.
std::string hint(const std::string& code, const std::string& message) {
  if (code == "unauthenticated") {
    return "check the token (--token, --token-file, LOGCTL_TOKEN or the context's token_file)";
  }
  if (code == "not_found" && message.find("release") != std::string::npos &&
      message.find("logctl release push") == std::string::npos) {
    return "push it with `logctl release push BINARY`";
  }
  if (code == "stale_plan") return "run the dry run again and apply its new plan token";
  if (code == "checks_failed") {
    return "fix what failed, or skip a check with --ignore-check NAME (or all with --force)";
  }
  return "";
}

}  // namespace

int fail(Format f, Exit e, const std::string& code, const std::string& message,
         const json& details) {
  std::cerr << "logctl: " << message << "\n";
  if (details.is_object() && details.contains("plan") && details["plan"].contains("checks")) {
    for (const auto& c : details["plan"]["checks"]) {
      if (c.value("outcome", "") != "failed") continue;
      std::cerr << "  check " << c.value("name", "?") << " failed: " << c.value("detail", "")
                << "\n";
    }
  }
  if (auto h = hint(code, message); !h.empty()) std::cerr << "  next: " << h << "\n";
  if (f != Format::kTable) {
    json doc = {{"error", {{"code", code}, {"message", message}, {"details", details}}},
                {"exit_code", static_cast<int>(e)}};
    std::cout << doc.dump() << std::endl;
  }
  return static_cast<int>(e);
}

int fail(Format f, const ApiFailure& a) {
  return fail(f, a.exit(), a.code, a.message, a.details);
}

int fail(Format f, const Error& e) {
  Exit x = e.code == ErrorCode::kNotFound          ? Exit::kNotFound
           : e.code == ErrorCode::kInvalidArgument ? Exit::kUsage
           : e.code == ErrorCode::kAlreadyExists   ? Exit::kConflict
           : e.code == ErrorCode::kUnavailable     ? Exit::kUnreachable
                                                   : Exit::kError;
  return fail(f, x, error_code_name(e.code), e.message);
}

void print_json(const json& doc) {
  std::cout << doc.dump() << std::endl;
}

}  // namespace logctl::cli
