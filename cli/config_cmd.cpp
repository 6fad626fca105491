// logctl config validate | apply | diff | show: pipeline config revisions.
// validate and diff ask the controller (POST /v1/configs/check), which holds
// every release's plugin schema; apply stores a revision and records it as
// the cluster's target (checks included), for `cluster resume` to roll out.
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "cli/terminal.h"

namespace logctl::cli {
namespace {

struct ConfigOptions {
  std::string file, version;
  std::int64_t revision = 0;
  bool dry_run = false;
  bool strict = false;
};

// The controller's warnings (parameters no plugin takes: ignored, as Fluentd
// ignores them), on stderr.
void print_warnings(const nlohmann::json& reply) {
  if (!reply.contains("warnings") || !reply["warnings"].is_array()) return;
  for (const auto& w : reply["warnings"]) {
    if (w.is_string()) std::cerr << "warning: " << printable(w.get<std::string>()) << "\n";
  }
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (1u << 20)) {
    return make_error(ErrorCode::kInvalidArgument, path + " is larger than 1 MiB");
  }
  return ss.str();
}

int check(Cli& cli, const ConfigOptions& o, bool show_diff) {
  auto text = read_text(o.file);
  if (!text) return fail(cli.format(), text.error());
  auto client = cli.client();
  if (!client) return client.error();
  std::string query;
  if (!o.version.empty()) {
    auto v = version_in_url(o.version);
    if (!v)
      return fail(cli.format(), Exit::kUsage, "usage", "'" + o.version + "' is not a version");
    query = *v;
  }
  std::string params = (query.empty() ? "" : "version=" + query) +
                       (o.strict ? std::string(query.empty() ? "" : "&") + "strict=true" : "");
  auto r = (*client)->post_text("/v1/configs/check" + (params.empty() ? "" : "?" + params), *text);
  if (!r) {
    if (r.error().code == "invalid_config") {
      return fail(cli.format(), Exit::kChecksFailed, "invalid_config",
                  o.file + ": " + r.error().message);
    }
    return fail(cli.format(), r.error());
  }
  if (cli.format() != Format::kTable) {
    print_json(*r);
    return 0;
  }
  print_warnings(*r);
  if (show_diff) {
    std::int64_t from = r->value("diff_from", std::int64_t{0});
    std::cout << "--- " << (from ? "revision " + std::to_string(from) : "(no config revision)")
              << "\n+++ " << o.file << "\n";
    for (auto l : (*r)["diff"]) std::cout << l.get<std::string>() << "\n";
    if ((*r)["diff"].empty()) std::cout << "(no change)\n";
    return 0;
  }
  std::string against;
  for (auto v : (*r)["checked_against"]) {
    against += (against.empty() ? "" : ", ") +
               (v.get<std::string>().empty() ? "the controller's schema" : v.get<std::string>());
  }
  std::cout << o.file << ": valid for " << against << "\n";
  return 0;
}

int apply(Cli& cli, const ConfigOptions& o) {
  if (o.dry_run) {
    // Nothing is stored: the file is validated against every version the
    // cluster runs or targets and its diff to the current revision shown.
    int rc = check(cli, o, true);
    if (rc == 0 && cli.format() == Format::kTable) {
      std::cerr << "dry run: nothing stored; `logctl config apply " << o.file
                << "` stores it and records it as the target\n";
    }
    return rc;
  }
  auto text = read_text(o.file);
  if (!text) return fail(cli.format(), text.error());
  auto client = cli.client();
  if (!client) return client.error();
  auto added = (*client)->post_text(o.strict ? "/v1/configs?strict=true" : "/v1/configs", *text);
  if (!added) {
    if (added.error().code == "invalid_config") {
      return fail(cli.format(), Exit::kChecksFailed, "invalid_config",
                  o.file + ": " + added.error().message);
    }
    return fail(cli.format(), added.error());
  }
  std::int64_t rev = added->value("revision", std::int64_t{0});
  auto up = (*client)->post("/v1/cluster/upgrade", {{"config", rev}});
  if (!up) return fail(cli.format(), up.error());
  if (cli.format() != Format::kTable) {
    print_json({{"revision", rev}, {"sha256", (*added)["sha256"]}, {"plan", (*up)["plan"]}});
    return 0;
  }
  print_warnings(*added);
  std::cout << "config revision " << rev << " (sha256 " << added->value("sha256", "") << ")\n";
  for (auto l : (*up)["plan"]["config_diff"]) std::cout << "  " << l.get<std::string>() << "\n";
  std::cerr << "recorded as the cluster's target; roll it out with `logctl cluster resume "
               "--wait`\n";
  return 0;
}

int show(Cli& cli, const ConfigOptions& o) {
  auto client = cli.client();
  if (!client) return client.error();
  std::int64_t rev = o.revision;
  if (rev == 0) {
    auto c = (*client)->get("/v1/cluster");
    if (!c) return fail(cli.format(), c.error());
    rev = (*c)["cluster"].value("current_config", std::int64_t{0});
    if (rev == 0) {
      return fail(cli.format(), Exit::kNotFound, "not_found",
                  "the cluster has no config revision yet (nodes run their own files); "
                  "store one with `logctl config apply FILE`");
    }
  }
  auto r = (*client)->get("/v1/configs/" + std::to_string(rev));
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    std::cout << r->value("text", "");
  } else {
    print_json(*r);
  }
  return 0;
}

}  // namespace

void setup_config(CLI::App& app, Cli& cli) {
  auto o = std::make_shared<ConfigOptions>();
  auto* config = app.add_subcommand("config", "Pipeline config revisions");
  config->require_subcommand(1);
  auto* validate = config->add_subcommand(
      "validate", "Check a config against a release's plugin schema (default: the cluster's)");
  validate->add_option("FILE", o->file, "Config file")->required();
  validate->add_option("--version", o->version, "Check against this release");
  validate->add_flag("--strict", o->strict,
                     "A parameter no plugin takes is an error (exit 4), not a warning");
  validate->footer("Example:\n  logctl config validate pipeline.conf --version 1.4.0");
  validate->callback([&cli, o] { cli.rc = check(cli, *o, false); });
  auto* diff = config->add_subcommand("diff", "Lines that differ from the cluster's config");
  diff->add_option("FILE", o->file, "Config file")->required();
  diff->add_flag("--strict", o->strict, "A parameter no plugin takes is an error (exit 4)");
  diff->footer("Example:\n  logctl config diff pipeline.conf");
  diff->callback([&cli, o] { cli.rc = check(cli, *o, true); });
  auto* apply_cmd = config->add_subcommand(
      "apply", "Store a revision and record it as the target (then `cluster resume`)");
  apply_cmd->add_option("FILE", o->file, "Config file")->required();
  apply_cmd->add_flag("--dry-run", o->dry_run,
                      "Validate and show the diff; store nothing (exit 4 when invalid)");
  apply_cmd->add_flag("--strict", o->strict,
                      "A parameter no plugin takes refuses the config (exit 4), not a warning");
  apply_cmd->footer(
      "Example:\n  logctl config apply pipeline.conf && logctl cluster resume --wait");
  apply_cmd->callback([&cli, o] { cli.rc = apply(cli, *o); });
  auto* show_cmd = config->add_subcommand("show", "Print a revision (default: the current one)");
  show_cmd->add_option("REV", o->revision, "Revision number");
  show_cmd->footer("Example:\n  logctl config show 3");
  show_cmd->callback([&cli, o] { cli.rc = show(cli, *o); });
}

}  // namespace logctl::cli
