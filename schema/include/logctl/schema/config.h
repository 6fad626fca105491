// The pipeline configuration language: Fluentd's v1 syntax, parsed into a tree.
//
//   <source>                 element "source", no argument
//     @type tcp              parameter "@type" = "tcp"
//     <parse>                nested element
//       @type none
//     </parse>
//   </source>
//   <match app.**>           element "match", argument "app.**"
//   @include conf.d/*.conf   expanded in place (relative to the including file, sorted)
//
// Values: unquoted text to end of line ("#" after whitespace starts a comment),
// "double quoted" with escapes (\n \t \" \\ ...) and the embedded-Ruby idioms
// of config_expr.h ("#{ENV['X'] || 'default'}", File.join, hostname,
// use_default; any other Ruby is an error), 'single quoted' (no escapes),
// and JSON arrays/objects that may span lines.
//
// The parser only builds the tree; what parameters mean and whether they are
// allowed is the job of plugin_schema.h. Every node carries file:line so that
// every later error can name where it is.
// Thread safety: the parse functions are reentrant; the tree is a plain value.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::config {

struct Location {
  std::string file;
  int line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

struct Param {
  std::string key;
  std::string value;
  Location where;
};

struct Element {
  std::string name;  // "ROOT" for the top level
  std::string arg;   // text after the name in <name arg>, trimmed
  Location where;
  std::vector<Param> params;
  std::vector<Element> children;
  // The root only: what reading the files noticed, e.g. an @include glob
  // that matched nothing ("file:line: what"); validate() reports them.
  std::vector<std::string> warnings;

  const Param* find(const std::string& key) const;
  std::vector<const Element*> children_named(const std::string& name) const;
};

// Reads a file (recursively expanding @include). Environment lookups for
// "#{ENV['X']}" go through `getenv_fn` so that tests can inject them.
using GetEnv = std::function<const char*(const char*)>;

// What a config file is made of: the file itself, every file its @include
// directives read (in order), and the absolute glob patterns of those
// directives, so that a watcher sees included files appear, change or go.
struct ConfigSources {
  std::vector<std::string> files;
  std::vector<std::string> patterns;
};

Result<Element> parse_file(const std::string& path, const GetEnv& getenv_fn = nullptr,
                           ConfigSources* sources = nullptr);
Result<Element> parse_string(const std::string& text, const std::string& file_name,
                             const GetEnv& getenv_fn = nullptr);
// As parse_string, but no file is opened: each @include's path goes to
// `includes` and its directive is left out of the tree. For a config checked
// away from where it runs (the controller): a path in it names a file on the
// node, never one on the checking host.
Result<Element> parse_string_unresolved(const std::string& text, const std::string& file_name,
                                        const GetEnv& getenv_fn,
                                        std::vector<std::string>& includes);

}  // namespace logctl::config
