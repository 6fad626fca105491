#include "controller/compat/config_schema.h"

#include <algorithm>

#include "logctl/schema/config_compat.h"
#include "logctl/schema/values.h"

namespace logctl::compat {
namespace {

using nlohmann::json;

// A string field of a schema object, "" when absent or not a string: the
// schema comes from an uploaded manifest and may be anything.
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

const json* find_plugin(const json& schema, const std::string& kind, const std::string& type) {
  if (!schema.contains("plugins") || !schema["plugins"].is_array()) return nullptr;
  for (const auto& p : schema["plugins"]) {
    if (str(p, "kind") == kind && str(p, "type") == type) return &p;
  }
  return nullptr;
}

// The schema's entry for parameter `key` (by name or alias), or null.
const json* param_spec(const json& plugin, const std::string& key) {
  if (!plugin.contains("params") || !plugin["params"].is_array()) return nullptr;
  for (const auto& p : plugin["params"]) {
    if (!p.is_object()) continue;
    if (str(p, "name") == key) return &p;
    auto aliases = p.find("aliases");
    if (aliases == p.end() || !aliases->is_array()) continue;
    for (const auto& a : *aliases) {
      if (a.is_string() && a.get<std::string>() == key) return &p;
    }
  }
  return nullptr;
}

// A value against the type the release declares; "" when it fits. Types this
// controller does not know are the release's business (a newer release).
template <typename T>
std::string why(const Result<T>& r) {
  return r ? "" : r.error().message;
}

std::string type_error(const json& spec, const std::string& value) {
  const std::string type = str(spec, "type");
  if (type == "integer") return why(config::parse_integer(value));
  if (type == "float") return why(config::parse_float(value));
  if (type == "size") return why(config::parse_size(value));
  if (type == "time") return why(config::parse_time(value));
  if (type == "bool") return why(config::parse_bool(value));
  if (type == "array") return why(config::parse_array(value));
  if (type == "hash") return why(config::parse_hash(value));
  if (type == "enum" && spec.contains("choices") && spec["choices"].is_array()) {
    const json& c = spec["choices"];
    if (std::none_of(c.begin(), c.end(), [&](const json& v) { return v == value; })) {
      return "'" + value + "' is not one of " + c.dump();
    }
  }
  return "";
}

Status fail(const config::Element& e, const std::string& what) {
  return make_error(ErrorCode::kInvalidArgument, e.where.str() + ": " + what);
}

// The names of a plugin's parameters (for "did you mean").
std::vector<std::string> param_names(const json& plugin) {
  std::vector<std::string> names;
  if (!plugin.contains("params") || !plugin["params"].is_array()) return names;
  for (const auto& p : plugin["params"]) {
    if (std::string n = str(p, "name"); !n.empty()) names.push_back(n);
  }
  return names;
}

Status check(const config::Element& e, const json& schema, const std::string& kind,
             std::string type, std::vector<std::string>* warnings) {
  if (kind != "section") {
    if (const auto* t = e.find("@type")) type = t->value;
    if (type.empty()) return fail(e, "<" + e.name + "> has no @type");
  }
  const json* plugin = find_plugin(schema, kind, type);
  if (!plugin) {
    return fail(e, "this release has no " + kind + " plugin '" + type + "' (in <" + e.name + ">)");
  }
  bool free = plugin->value("free_params", false);  // <record>: any names
  for (const auto& p : e.params) {
    if (free) break;
    if (p.key.starts_with("@")) continue;  // @type, @id, @log_level, @label: the framework's
    if (e.name == "store" && (p.key == "priority" || p.key == "weight")) continue;  // the group's
    const json* spec = param_spec(*plugin, p.key);
    if (!spec) {
      std::string what = "this release's " + kind + " '" + type + "' has no parameter '" + p.key +
                         "'" + config::did_you_mean(p.key, param_names(*plugin));
      // As Fluentd and agentd: an unknown parameter is ignored with a warning.
      if (!warnings) return fail(e, what);
      warnings->push_back(p.where.str() + ": " + what + " (ignored)");
      continue;
    }
    if (p.value.find(kNodeEnvironment) != std::string::npos) continue;
    if (std::string why = type_error(*spec, p.value); !why.empty()) {
      return make_error(ErrorCode::kInvalidArgument, p.where.str() + ": parameter '" + p.key +
                                                         "' of this release's " + kind + " '" +
                                                         type + "': " + why);
    }
  }
  if (plugin->contains("params") && (*plugin)["params"].is_array()) {
    for (const auto& spec : (*plugin)["params"]) {
      if (!spec.is_object() || !spec.value("required", false)) continue;
      bool given = std::any_of(e.params.begin(), e.params.end(),
                               [&](const auto& p) { return param_spec(*plugin, p.key) == &spec; });
      if (!given) {
        return fail(e, "this release's " + kind + " '" + type + "' needs parameter '" +
                           str(spec, "name") + "'");
      }
    }
  }
  for (const auto& child : e.children) {
    const json* rule = nullptr;
    if (plugin->contains("sections") && (*plugin)["sections"].is_array()) {
      for (const auto& r : (*plugin)["sections"]) {
        if (str(r, "name") == child.name) rule = &r;
      }
    }
    if (!rule) {
      return fail(child, "this release's " + kind + " '" + type + "' takes no <" + child.name +
                             "> section");
    }
    std::string child_kind = str(*rule, "kind");
    std::string child_type = child_kind == "section" ? child.name : str(*rule, "default_type");
    if (auto s = check(child, schema, child_kind, child_type, warnings); !s) return s;
  }
  return {};
}

}  // namespace

Status config_fits_schema(const config::Element& original, const json& plugin_schema,
                          std::vector<std::string>* warnings) {
  // v0.12 spellings are read as their v1 form first, as agentd reads them.
  config::Element root = original;
  std::vector<std::string> spellings;
  if (auto s = config::apply_v012_spellings(root, spellings); !s) return s;
  auto top = [&](const config::Element& e, auto& self) -> Status {
    if (e.name == "source") return check(e, plugin_schema, "input", "", warnings);
    if (e.name == "match") return check(e, plugin_schema, "output", "", warnings);
    if (e.name == "filter") return check(e, plugin_schema, "filter", "", warnings);
    if (e.name == "label") {
      for (const auto& c : e.children) {
        Status s = c.name == "filter" ? check(c, plugin_schema, "filter", "", warnings)
                   : c.name == "match"
                       ? check(c, plugin_schema, "output", "", warnings)
                       : fail(c, "this release does not know <" + c.name + "> in <label>");
        if (!s) return s;
      }
      return {};
    }
    if (e.name == "system") return check(e, plugin_schema, "section", "system", warnings);
    if (e.name == "worker") {  // <worker N>: its sections as top-level ones
      for (const auto& c : e.children) {
        if (auto s = self(c, self); !s) return s;
      }
      return {};
    }
    return fail(e, "this release does not know the <" + e.name + "> directive");
  };
  for (const auto& e : root.children) {
    if (auto s = top(e, top); !s) return s;
  }
  return {};
}

}  // namespace logctl::compat
