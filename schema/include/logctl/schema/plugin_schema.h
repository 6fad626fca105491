// The plugin parameter schema: which plugins exist, which parameters each takes,
// their types and Fluentd's defaults — as data. It drives three things:
//   1. validation (validate.h): unknown plugin/parameter/section, bad value,
//      missing required parameter are errors with file:line;
//   2. typed access with defaults (Section), so a default lives in one place;
//   3. `agentd schema` prints it as JSON (release manifests carry it).
// Thread safety: the tables are immutable after static initialisation.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace logctl::config {

enum class ParamType {
  kString,
  kInteger,
  kFloat,
  kSize,  // bytes, "8m"
  kTime,  // seconds, "30s"
  kBool,
  kEnum,    // one of ParamSpec::choices
  kArray,   // of strings
  kHash,    // string -> string
  kRegexp,  // "/.../" or bare text; compiled by the plugin
};

enum class Need { kRequired, kOptional };

struct ParamSpec {
  std::string name;
  ParamType type;
  Need need = Need::kOptional;
  std::optional<std::string> default_value;  // config text; nullopt = nil (unset)
  std::vector<std::string> choices;          // for kEnum
  std::vector<std::string> aliases;          // old names Fluentd still accepts
  std::string doc;
};

// kSection: a plain section with fixed parameters and no @type (<system>,
// <transport>); its PluginSpec `type` is the section name.
enum class PluginKind { kInput, kOutput, kParser, kFormatter, kBuffer, kSection, kFilter };

// A nested section a plugin accepts, e.g. <parse> in a tcp source.
struct SectionRule {
  std::string name;             // "parse", "buffer", "format", "secondary", "transport"
  PluginKind kind;              // which plugin family its @type selects (kSection: plain)
  std::string default_type;     // @type when the section or @type is absent
  Need need = Need::kOptional;  // must the section be written?
  bool repeated = false;        // may be given more than once (<server>, <store>)
};

struct PluginSpec {
  PluginKind kind;
  std::string type;
  std::string doc;
  std::vector<ParamSpec> params;
  std::vector<SectionRule> sections;
  // For outputs: defaults this plugin gives its <buffer> (Fluentd's
  // config_set_default), e.g. out_file's chunk keys "time" and timekey 1d.
  std::vector<std::pair<std::string, std::string>> buffer_defaults;
  std::string default_chunk_keys;
  // A section of free key/value pairs (record_transformer's <record>): any
  // parameter name, every value a string, kept in written order.
  bool free_params = false;
};

const std::vector<PluginSpec>& all_plugins();
const PluginSpec* find_plugin(PluginKind kind, std::string_view type);
const char* plugin_kind_name(PluginKind kind);
const char* param_type_name(ParamType type);

// The whole schema as JSON, stable key order; `schema_version` bumps when its
// shape (not its content) changes.
constexpr int kPluginSchemaVersion = 1;
nlohmann::json plugin_schema_json();

}  // namespace logctl::config
