// logctl docs: the command reference in Markdown, generated from the same
// CLI11 definitions that parse the command line. docs/cli.md holds it below
// its marker line, and a test fails when the two differ.
#include <iostream>

#include "cli/cli.h"

namespace logctl::cli {
namespace {

std::string escape(std::string s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// Options of `app` and of its option groups (nameless subcommands).
void collect(const CLI::App* app, std::vector<const CLI::Option*>& out) {
  for (const auto* o : app->get_options()) {
    if (o->get_name() == "--help" || o->get_group().empty()) continue;
    out.push_back(o);
  }
  for (const auto* g :
       app->get_subcommands([](const CLI::App* a) { return a->get_name().empty(); })) {
    collect(g, out);
  }
}

void document(std::ostream& out, const CLI::App* app, const std::string& path) {
  auto subs = app->get_subcommands(
      [](const CLI::App* a) { return !a->get_name().empty() && !a->get_group().empty(); });
  std::vector<const CLI::Option*> opts;
  collect(app, opts);
  bool leaf = subs.empty();
  if (leaf || !opts.empty()) {
    out << "### `" << path << "`\n\n" << app->get_description() << "\n\n";
    if (!opts.empty()) {
      out << "| argument | meaning | default |\n|---|---|---|\n";
      for (const auto* o : opts) {
        std::string name = o->get_name(true, true);
        out << "| `" << escape(name) << "` | " << escape(o->get_description()) << " | "
            << (o->get_default_str().empty() ? "" : "`" + escape(o->get_default_str()) + "`")
            << " |\n";
      }
      out << "\n";
    }
    if (!app->get_footer().empty()) out << "```\n" << app->get_footer() << "\n```\n\n";
  }
  for (const auto* s : subs) document(out, s, path + " " + s->get_name());
}

}  // namespace

void setup_docs(CLI::App& app, Cli& cli) {
  auto* docs = app.add_subcommand("docs", "Print the command reference (Markdown)");
  docs->group("");  // for docs/cli.md, not for operators
  docs->callback([&app, &cli] {
    document(std::cout, &app, "logctl");
    cli.rc = 0;
  });
}

}  // namespace logctl::cli
