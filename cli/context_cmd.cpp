// logctl context set | use | list: the config file's contexts (docs/cli.md,
// "Settings"), so nobody writes its JSON by hand. A context names the
// controller's URL, its CA (pinned) and a token file; the token itself is
// never written there.
#include <unistd.h>

#include <iostream>

#include "cli/cli.h"

namespace logctl::cli {
namespace {

int set(Cli& cli, const std::string& name, bool use) {
  const GlobalFlags& f = cli.flags;
  if (!plain_name(name)) {
    return fail(cli.format(), Exit::kUsage, "usage",
                "context name '" + name + "': 1 to 63 of [A-Za-z0-9._-]");
  }
  if (f.server.rfind("https://", 0) != 0 && f.server.rfind("http://", 0) != 0) {
    return fail(cli.format(), Exit::kUsage, "usage",
                "context set needs --server https://HOST:PORT (got '" + f.server + "')");
  }
  if (!f.token.empty()) {
    return fail(cli.format(), Exit::kUsage, "usage",
                "a context keeps a --token-file, never the token itself");
  }
  for (const auto* file : {&f.ca, &f.token_file}) {
    if (!file->empty() && ::access(file->c_str(), R_OK) != 0) {
      return fail(cli.format(), Exit::kError, "io", "cannot read " + *file);
    }
  }
  if (f.server.rfind("https://", 0) == 0 && f.ca.empty()) {
    return fail(cli.format(), Exit::kUsage, "usage",
                "context set needs --ca (the controller's CA certificate, pinned)");
  }
  auto doc = read_config_file();
  if (!doc) return fail(cli.format(), doc.error());
  json ctx = {{"server", f.server}};
  if (!f.ca.empty()) ctx["ca"] = absolute(f.ca);
  if (!f.token_file.empty()) ctx["token_file"] = absolute(f.token_file);
  (*doc)["contexts"][name] = ctx;
  if (use || doc->value("current_context", "").empty()) (*doc)["current_context"] = name;
  if (auto s = write_config_file(*doc); !s) return fail(cli.format(), s.error());
  if (cli.format() != Format::kTable) {
    print_json(
        {{"context", name}, {"current", (*doc)["current_context"] == name}, {"settings", ctx}});
  } else {
    std::cout << "context '" << name << "' written to " << config_path()
              << ((*doc)["current_context"] == name ? " (current)" : "") << "\n";
  }
  return 0;
}

int use(Cli& cli, const std::string& name) {
  auto doc = read_config_file();
  if (!doc) return fail(cli.format(), doc.error());
  if (!(*doc)["contexts"].contains(name)) {
    return fail(cli.format(), Exit::kNotFound, "not_found",
                "no context '" + name + "' in " + config_path() + " (`logctl context list`)");
  }
  (*doc)["current_context"] = name;
  if (auto s = write_config_file(*doc); !s) return fail(cli.format(), s.error());
  if (cli.format() != Format::kTable) {
    print_json({{"current_context", name}});
  } else {
    std::cout << "current context: " << name << "\n";
  }
  return 0;
}

int list(Cli& cli) {
  auto doc = read_config_file();
  if (!doc) return fail(cli.format(), doc.error());
  if (cli.format() != Format::kTable) {
    print_json(*doc);
    return 0;
  }
  std::string current = doc->value("current_context", "");
  Table t({"CURRENT", "NAME", "SERVER", "CA", "TOKEN FILE"});
  for (const auto& [name, c] : (*doc)["contexts"].items()) {
    t.row({name == current ? "*" : "", name, cell(c.value("server", json())),
           cell(c.value("ca", json())), cell(c.value("token_file", json()))});
  }
  t.print(std::cout);
  return 0;
}

}  // namespace

void setup_context(CLI::App& app, Cli& cli) {
  auto* context = app.add_subcommand("context", "The controllers this CLI knows (the config file)");
  context->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto use_it = std::make_shared<bool>(false);
  auto* set_cmd = context->add_subcommand(
      "set", "Write a context from --server, --ca and --token-file (current when --use or first)");
  set_cmd->add_option("NAME", *name, "Context name")->required();
  set_cmd->add_flag("--use", *use_it, "Make it the current context");
  set_cmd->footer(
      "Example:\n  logctl context set prod --server https://ctl.example:7443 --ca prod-ca.pem "
      "--token-file ~/.prod.token --use");
  set_cmd->callback([&cli, name, use_it] { cli.rc = set(cli, *name, *use_it); });
  auto* use_cmd = context->add_subcommand("use", "Make a context the current one");
  use_cmd->add_option("NAME", *name, "Context name")->required();
  use_cmd->footer("Example:\n  logctl context use local");
  use_cmd->callback([&cli, name] { cli.rc = use(cli, *name); });
  auto* list_cmd = context->add_subcommand("list", "The contexts, the current one marked");
  list_cmd->footer("Example:\n  logctl context list");
  list_cmd->callback([&cli] { cli.rc = list(cli); });
}

}  // namespace logctl::cli
