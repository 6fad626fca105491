// A validated pipeline configuration. validate() walks the parsed tree against
// the plugin schema and either returns every section typed and checked, or the
// first error with file:line. After validation, the typed getters cannot fail:
// each value was converted once during validation, and a getter for a name the
// plugin's schema does not declare is a programming error (assertion).
// Thread safety: immutable after validate(); safe to read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "logctl/schema/config.h"
#include "logctl/schema/plugin_schema.h"
#include "logctl/schema/result.h"

namespace logctl::config {

class Section {
 public:
  const PluginSpec& spec() const { return *spec_; }
  const std::string& type() const { return spec_->type; }
  const std::string& arg() const { return arg_; }
  const Location& where() const { return where_; }
  // "@id" if given, else "<kind>.<type>#<n>" unique within the pipeline.
  const std::string& id() const { return id_; }
  const std::string& log_level() const { return log_level_; }
  // "@label @NAME" on a source (its events go to <label @NAME>) or on a
  // relabel output; "" when not given.
  const std::string& label() const { return label_; }

  // The configured text or the default; nullopt for an unset nil parameter.
  std::optional<std::string> raw(const std::string& name) const;
  bool is_set(const std::string& name) const { return raw(name).has_value(); }
  bool explicitly_set(const std::string& name) const { return values_.count(name) > 0; }

  std::string str(const std::string& name) const;
  std::int64_t integer(const std::string& name) const;
  double number(const std::string& name) const;  // kFloat and kTime (seconds)
  std::uint64_t size(const std::string& name) const;
  bool flag(const std::string& name) const;
  std::vector<std::string> array(const std::string& name) const;
  std::vector<std::pair<std::string, std::string>> hash(const std::string& name) const;

  // The child section by rule name; implicit sections (not written, with a
  // default type) are present too. Null only when optional with no default.
  const Section* child(const std::string& name) const;
  // Every section of a repeated rule (<server>, <store>), in written order.
  std::vector<const Section*> children(const std::string& name) const;

  // A <store>'s own parameters, read by its group: priority (failover),
  // weight (load_balance); `fallback` when not written. Validated integers.
  std::int64_t store_param(const std::string& name, std::int64_t fallback) const;
  bool ignore_error() const { return arg_ == "ignore_error"; }  // <store ignore_error>
  // A free-form section's pairs (PluginSpec::free_params), in written order.
  const std::vector<std::pair<std::string, std::string>>& free_params() const { return free_; }

 private:
  friend class Validator;
  const PluginSpec* spec_ = nullptr;
  std::string arg_;
  Location where_;
  std::string id_;
  std::string log_level_;
  std::string label_;
  std::map<std::string, std::string> values_;    // explicit, by canonical name
  std::map<std::string, std::string> defaults_;  // parent-imposed defaults
  std::map<std::string, std::vector<std::shared_ptr<Section>>> children_;
  std::map<std::string, std::string> store_values_;
  std::vector<std::pair<std::string, std::string>> free_;

  const ParamSpec& param(const std::string& name) const;
};

struct MatchConfig {
  std::vector<std::string> patterns;  // "<match a.** b.*>" -> {"a.**", "b.*"}
  Section output;
  Location where;
  std::size_t order = 0;  // position among <filter> and <match> sections
};

// A <filter PATTERN>: applied to events whose tag matches, before the first
// <match> after it that takes them (Fluentd's order of appearance).
struct FilterConfig {
  std::vector<std::string> patterns;
  Section filter;
  Location where;
  std::size_t order = 0;
};

// <label @NAME>: filters and matches of their own, for the events of the
// sources (or relabel outputs) that name it.
struct LabelConfig {
  std::string name;  // "@NAME"
  std::vector<MatchConfig> matches;
  std::vector<FilterConfig> filters;
  Location where;
};

struct PipelineConfig {
  Section system;
  std::vector<Section> sources;
  std::vector<MatchConfig> matches;
  std::vector<FilterConfig> filters;
  std::vector<LabelConfig> labels;
  // "file:line: what": v0.12 spellings read as v1 (config_compat.h), a config
  // without <source> or <match>. The config runs; agentd logs these.
  std::vector<std::string> warnings;
};

// Rewrites v0.12 spellings (config_compat.h), then validates.
Result<PipelineConfig> validate(const Element& root);

// parse_file + validate; `sources` (optional) gets the files read.
Result<PipelineConfig> load_pipeline(const std::string& path, const GetEnv& getenv_fn = nullptr,
                                     ConfigSources* sources = nullptr);

}  // namespace logctl::config
