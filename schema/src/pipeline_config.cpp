#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/zone.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "logctl/schema/config_compat.h"
#include "logctl/schema/values.h"

namespace logctl::config {

namespace {}  // namespace

class Validator {
 public:
  Result<PipelineConfig> run(const Element& root) {
    PipelineConfig out;
    for (const auto& p : root.params) {
      return fail(p.where, "parameter '" + p.key + "' outside of any section");
    }
    const Element* system = nullptr;
    for (const auto& e : root.children) {
      if (e.name == "system") {
        if (system) return fail(e.where, "<system> given twice");
        system = &e;
      }
    }
    auto sys = plain(system, "system", root.where);
    if (!sys) return std::unexpected(sys.error());
    out.system = std::move(*sys);
    // <system> workers N and <worker N> / <worker N-M> (multi-process
    // Fluentd): agentd runs every section in its one worker, a <worker>'s
    // sections as if written at the top (their #{worker_id} is N, see the
    // parser), so each writes the files it writes in Fluentd.
    std::int64_t workers = out.system.integer("workers");
    if (workers < 1) return fail(out.system.where(), "workers must be at least 1");
    if (workers > 1) {
      out.warnings.push_back(out.system.where().str() + ": workers " + std::to_string(workers) +
                             ": agentd runs the sections of every worker in one worker process");
    }
    for (const auto& e : root.children) {
      if (e.name != "worker") {
        if (auto s = top_level(e, out); !s) return std::unexpected(s.error());
        continue;
      }
      if (auto st = worker_range(e, workers); !st) return std::unexpected(st.error());
      if (!e.params.empty()) {
        return fail(e.params[0].where, "parameter '" + e.params[0].key + "' inside <worker>");
      }
      for (const auto& c : e.children) {
        if (c.name == "system" || c.name == "worker") {
          return fail(c.where, "<" + c.name + "> inside <worker " + e.arg + ">");
        }
        if (auto s = top_level(c, out); !s) return std::unexpected(s.error());
      }
    }
    auto known = [&](const std::string& name) {
      return std::any_of(out.labels.begin(), out.labels.end(),
                         [&](const LabelConfig& l) { return l.name == name; });
    };
    for (const auto& src : out.sources) {
      if (!src.label().empty() && !known(src.label())) {
        return fail(src.where(),
                    "@label " + src.label() + ": there is no <label " + src.label() + ">");
      }
    }
    auto check_relabel = [&](const std::vector<MatchConfig>& ms) -> Status {
      for (const auto& m : ms) {
        if (m.output.type() != "relabel") continue;
        if (m.output.label().empty()) return fail(m.where, "@type relabel needs @label @NAME");
        if (!known(m.output.label())) {
          return fail(m.where, "@label " + m.output.label() + ": there is no <label " +
                                   m.output.label() + ">");
        }
      }
      return {};
    };
    if (auto st = check_relabel(out.matches); !st) return std::unexpected(st.error());
    for (const auto& l : out.labels) {
      if (auto st = check_relabel(l.matches); !st) return std::unexpected(st.error());
    }
    // Fluentd refuses two in_tail sources on one pos_file (each would move
    // the other's positions).
    std::map<std::string, const Section*> pos_files;
    for (const auto& src : out.sources) {
      if (src.type() != "tail" || !src.is_set("pos_file")) continue;
      auto [it, fresh] = pos_files.emplace(src.str("pos_file"), &src);
      if (!fresh) {
        return fail(src.where(), "pos_file " + src.str("pos_file") +
                                     " is already the pos_file of the tail source at " +
                                     it->second->where().str() +
                                     ": each in_tail needs its own (Fluentd refuses this too)");
      }
    }
    out.warnings.insert(out.warnings.end(), param_warnings_.begin(), param_warnings_.end());
    // Fluentd runs such configs; so does agentd, saying what they will do.
    if (out.sources.empty()) {
      out.warnings.push_back(root.where.str() + ": no <source> section: nothing will be read");
    }
    if (out.matches.empty() && out.labels.empty()) {
      out.warnings.push_back(root.where.str() +
                             ": no <match> section: every event will be dropped (counted)");
    }
    return out;
  }

 private:
  static std::unexpected<Error> fail(const Location& where, const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, where.str() + ": " + what);
  }

  // <worker N> or <worker N-M> within 0..workers-1, as Fluentd checks it.
  static Status worker_range(const Element& e, std::int64_t workers) {
    auto number = [](const std::string& t) -> std::optional<std::int64_t> {
      if (t.empty() || t.size() > 6 || t.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
      }
      return std::stoll(t);
    };
    auto dash = e.arg.find('-');
    auto first = number(e.arg.substr(0, dash));
    auto last = dash == std::string::npos ? first : number(e.arg.substr(dash + 1));
    if (!first || !last || *last < *first) {
      return fail(e.where, "<worker " + e.arg + ">: a worker id N or a range N-M");
    }
    if (*last >= workers) {
      return fail(e.where, "<worker " + e.arg + ">: worker ids go from 0 to " +
                               std::to_string(workers - 1) + " (<system> workers " +
                               std::to_string(workers) + ")");
    }
    return {};
  }

  // Filters and matches, at the top level or inside a <label>.
  Status routing(const Element& e, std::vector<FilterConfig>& filters,
                 std::vector<MatchConfig>& matches, bool& handled) {
    handled = true;
    if (e.name == "match") {
      MatchConfig m;
      m.where = e.where;
      std::istringstream words(e.arg);
      for (std::string w; words >> w;) m.patterns.push_back(w);
      if (m.patterns.empty()) return fail(e.where, "<match> needs a tag pattern");
      auto s = typed(e, PluginKind::kOutput, "", "<match " + e.arg + ">", {});
      if (!s) return std::unexpected(s.error());
      m.output = std::move(*s);
      m.order = ++order_;
      matches.push_back(std::move(m));
      return {};
    }
    if (e.name == "filter") {
      FilterConfig f;
      f.where = e.where;
      f.order = ++order_;
      std::istringstream words(e.arg);
      for (std::string w; words >> w;) f.patterns.push_back(w);
      if (f.patterns.empty()) f.patterns.push_back("**");  // Fluentd: <filter> alone is **
      auto s = typed(e, PluginKind::kFilter, "", "<filter " + e.arg + ">", {});
      if (!s) return std::unexpected(s.error());
      f.filter = std::move(*s);
      filters.push_back(std::move(f));
      return {};
    }
    handled = false;
    return {};
  }

  Status top_level(const Element& e, PipelineConfig& out) {
    if (e.name == "system") return {};
    if (e.name == "source") {
      auto s = typed(e, PluginKind::kInput, "", "<source>", {});
      if (!s) return std::unexpected(s.error());
      out.sources.push_back(std::move(*s));
      return {};
    }
    bool handled = false;
    if (auto st = routing(e, out.filters, out.matches, handled); !st || handled) return st;
    if (e.name == "label") {
      if (e.arg.size() < 2 || e.arg[0] != '@' || e.arg.find(' ') != std::string::npos) {
        return fail(e.where, "<label> needs a name starting with @ (<label @NAME>)");
      }
      for (const auto& l : out.labels) {
        if (l.name == e.arg) return fail(e.where, "<label " + e.arg + "> given twice");
      }
      LabelConfig l;
      l.name = e.arg;
      l.where = e.where;
      if (!e.params.empty()) {
        return fail(e.params[0].where, "parameter '" + e.params[0].key + "' inside <label>");
      }
      for (const auto& c : e.children) {
        bool done = false;
        if (auto st = routing(c, l.filters, l.matches, done); !st) return st;
        if (!done) {
          return fail(c.where,
                      "<" + c.name + "> inside <label " + e.arg + "> (only <filter> and <match>)");
        }
      }
      out.labels.push_back(std::move(l));
      return {};
    }
    return fail(e.where,
                "unknown section <" + e.name + ">" +
                    did_you_mean(e.name, {"source", "match", "system", "filter", "label"}));
  }

  std::string next_id(const PluginSpec& spec) {
    return std::string(plugin_kind_name(spec.kind)) + "." + spec.type + "#" +
           std::to_string(++counter_);
  }

  // A plain section (no @type): <system>, <transport>. `e` may be null.
  Result<Section> plain(const Element* e, const std::string& name, const Location& parent) {
    Section s;
    s.spec_ = find_plugin(PluginKind::kSection, name);
    assert(s.spec_);
    s.where_ = e ? e->where : parent;
    s.arg_ = e ? e->arg : "";
    s.id_ = name;
    if (e && s.spec_->free_params) {
      for (const auto& p : e->params) s.free_.emplace_back(p.key, p.value);
    } else if (e) {
      if (auto st = fill_params(s, *e, "<" + name + ">", {}); !st)
        return std::unexpected(st.error());
    }
    if (e && !s.spec_->sections.empty()) {
      if (auto st = children(s, e, "<" + name + ">"); !st) return std::unexpected(st.error());
    } else if (e && !e->children.empty()) {
      return fail(e->children[0].where,
                  "unexpected section <" + e->children[0].name + "> inside <" + name + ">");
    }
    return s;
  }

  // A section whose @type selects a plugin of `kind`. `e` may be null for an
  // implicit section, then `default_type` is used.
  Result<Section> typed(const Element& e, PluginKind kind, const std::string& default_type,
                        const std::string& what,
                        const std::vector<std::pair<std::string, std::string>>& defaults) {
    const Param* type_param = e.find("@type");
    std::string type = type_param ? type_param->value : default_type;
    if (type.empty()) return fail(e.where, what + " needs @type");
    Section s;
    s.spec_ = find_plugin(kind, type);
    if (!s.spec_) {
      return fail(type_param ? type_param->where : e.where,
                  "unknown " + std::string(plugin_kind_name(kind)) + " plugin '" + type + "' in " +
                      what + " (supported: " + supported(kind) + ")");
    }
    s.where_ = e.where;
    s.arg_ = e.arg;
    for (const auto& [k, v] : defaults) s.defaults_[k] = v;
    std::string label = what + " @type " + type;
    std::set<std::string> skip = {"@type"};
    if (what.starts_with("<store>")) skip.insert({"priority", "weight"});  // store_params()
    if (auto st = fill_params(s, e, label, skip); !st) return std::unexpected(st.error());
    const Param* id = e.find("@id");
    s.id_ = id ? id->value : next_id(*s.spec_);
    if (id && !ids_.insert(id->value).second) {
      return fail(id->where, "@id '" + id->value + "' is used twice");
    }
    if (auto st = children(s, &e, label); !st) return std::unexpected(st.error());
    return s;
  }

  Result<Section> implicit(PluginKind kind, const std::string& type, const Location& where,
                           const std::vector<std::pair<std::string, std::string>>& defaults) {
    Section s;
    s.spec_ = find_plugin(kind, type);
    assert(s.spec_);
    s.where_ = where;
    s.id_ = next_id(*s.spec_);
    for (const auto& [k, v] : defaults) s.defaults_[k] = v;
    if (auto st = children(s, nullptr, ""); !st) return std::unexpected(st.error());
    return s;
  }

  Status children(Section& s, const Element* e, const std::string& label) {
    std::set<std::string> seen;
    if (e) {
      for (const auto& c : e->children) {
        const SectionRule* rule = nullptr;
        for (const auto& r : s.spec_->sections) {
          if (r.name == c.name) rule = &r;
        }
        if (!rule) {
          std::vector<std::string> names;
          for (const auto& r : s.spec_->sections) names.push_back(r.name);
          return fail(c.where, "unexpected section <" + c.name + "> in " + label +
                                   did_you_mean(c.name, names));
        }
        if (!seen.insert(c.name).second && !rule->repeated) {
          return fail(c.where, "section <" + c.name + "> given twice in " + label);
        }
        auto child = child_section(s, *rule, &c, label);
        if (!child) return std::unexpected(child.error());
        s.children_[c.name].push_back(std::make_shared<Section>(std::move(*child)));
      }
    }
    for (const auto& r : s.spec_->sections) {
      if (seen.count(r.name)) continue;
      if (r.need == Need::kRequired) {
        return fail(e ? e->where : s.where_, label + " needs a <" + r.name + "> section");
      }
      if (r.default_type.empty()) continue;
      auto child = child_section(s, r, nullptr, label);
      if (!child) return std::unexpected(child.error());
      s.children_[r.name].push_back(std::make_shared<Section>(std::move(*child)));
    }
    return {};
  }

  Result<Section> child_section(const Section& parent, const SectionRule& rule, const Element* c,
                                const std::string& label) {
    std::vector<std::pair<std::string, std::string>> defaults;
    if (rule.kind == PluginKind::kBuffer) defaults = parent.spec_->buffer_defaults;
    if (rule.kind == PluginKind::kSection) {
      auto s = plain(c, rule.name, parent.where_);
      if (s && rule.name == "transport" && c) {
        // forward and tcp: tcp or tls; syslog: udp, tcp or tls (Fluentd's).
        bool syslog = parent.type() == "syslog";
        std::string args = syslog ? "udp, tcp or tls" : "tcp or tls";
        if (c->arg != "tcp" && c->arg != "tls" && !(syslog && c->arg == "udp")) {
          return fail(c->where, "<transport " + c->arg + "> is not supported here (" + args + ")");
        }
        if (c->arg != "tls" && !c->params.empty()) {
          return fail(c->params[0].where, "'" + c->params[0].key + "' belongs in <transport tls>");
        }
        if (c->arg == "tls" && !s->is_set("cert_path")) {
          return fail(c->where, "<transport tls> needs cert_path (and private_key_path)");
        }
      }
      return s;
    }
    Result<Section> s =
        c ? typed(*c, rule.kind, rule.default_type, "<" + rule.name + "> of " + label, defaults)
          : implicit(rule.kind, rule.default_type, parent.where_, defaults);
    if (!s) return s;
    if (rule.name == "store") {
      if (auto st = store_params(*s, *c, parent.type()); !st) return std::unexpected(st.error());
    }
    if (rule.kind == PluginKind::kBuffer && !(c && !c->arg.empty())) {
      s->arg_ = parent.spec_->default_chunk_keys;
    }
    return s;
  }

  // A group's parameters of one <store>: priority (failover), weight
  // (load_balance); a store may not be a group itself.
  static Status store_params(Section& s, const Element& e, const std::string& group) {
    if (s.type() == "copy" || s.type() == "failover" || s.type() == "load_balance") {
      return fail(e.where,
                  "a <store> of @type " + group + " cannot be a group (@type " + s.type() + ")");
    }
    if (!e.arg.empty() && e.arg != "ignore_error") {
      return fail(e.where, "<store " + e.arg + ">: only 'ignore_error' may follow 'store'");
    }
    for (const auto& p : e.params) {
      if (p.key != "priority" && p.key != "weight") continue;
      bool used = (p.key == "priority" && group == "failover") ||
                  (p.key == "weight" && group == "load_balance");
      if (!used) {
        return fail(p.where, "'" + p.key + "' in a <store> of @type " + group +
                                 " has no meaning (priority: failover, weight: load_balance)");
      }
      auto v = parse_integer(p.value);
      if (!v || *v < 0 || *v > 1000000) {
        return fail(p.where, "'" + p.key + "' must be an integer from 0 to 1000000");
      }
      s.store_values_[p.key] = p.value;
    }
    return {};
  }

  static std::string supported(PluginKind kind) {
    std::string out;
    for (const auto& p : all_plugins()) {
      if (p.kind != kind) continue;
      if (!out.empty()) out += ", ";
      out += p.type;
    }
    return out;
  }

  Status fill_params(Section& s, const Element& e, const std::string& label,
                     const std::set<std::string>& skip) {
    std::set<std::string> by_alias;  // parameters given by a deprecated alias
    for (const auto& p : e.params) {
      if (skip.count(p.key)) continue;
      if (p.key == "@id") continue;
      if (p.key == "@log_level") {
        s.log_level_ = p.value;
        continue;
      }
      if (p.key == "@label") {
        bool allowed = s.spec_->kind == PluginKind::kInput ||
                       (s.spec_->kind == PluginKind::kOutput && s.spec_->type == "relabel");
        if (!allowed) return fail(p.where, "@label is taken by sources and @type relabel only");
        if (p.value.size() < 2 || p.value[0] != '@') {
          return fail(p.where, "@label names a label starting with @");
        }
        s.label_ = p.value;
        continue;
      }
      const ParamSpec* spec = nullptr;
      for (const auto& ps : s.spec_->params) {
        if (ps.name == p.key) spec = &ps;
        for (const auto& a : ps.aliases) {
          if (a == p.key) spec = &ps;
        }
      }
      if (!spec) {
        std::vector<std::string> names;
        for (const auto& ps : s.spec_->params) names.push_back(ps.name);
        std::string hint = did_you_mean(p.key, names);
        if (hint.empty() && p.key == "type") hint = "; 'type' is the v0.12 spelling of '@type'";
        // Fluentd warns and runs (old configs carry parameters of earlier
        // versions, e.g. v0.12's flush_method); so does agentd, and
        // `--dry-run --strict` and the controller's check show it.
        param_warnings_.push_back(p.where.str() + ": unknown parameter '" + p.key + "' in " +
                                  label + " is ignored" + hint);
        continue;
      }
      if (s.values_.count(spec->name)) {
        // A parameter and its deprecated alias (in_syslog's severity_key and
        // priority_key): the parameter's own name wins, as in Fluentd.
        if (p.key != spec->name) {
          param_warnings_.push_back(p.where.str() + ": '" + p.key + "' (an alias of '" +
                                    spec->name + "') is ignored: '" + spec->name +
                                    "' is given too");
          continue;
        }
        if (!by_alias.count(spec->name)) {
          return fail(p.where, "parameter '" + p.key + "' given twice in " + label);
        }
      }
      if (auto st = check_value(*spec, p.value); !st) {
        return fail(p.where, "parameter '" + p.key + "' in " + label + ": " + st.error().message);
      }
      if (p.key != spec->name) by_alias.insert(spec->name);
      s.values_[spec->name] = p.value;
    }
    for (const auto& ps : s.spec_->params) {
      if (ps.need == Need::kRequired && !s.values_.count(ps.name)) {
        return fail(e.where, label + " needs parameter '" + ps.name + "'");
      }
    }
    return {};
  }

  static Status check_value(const ParamSpec& spec, const std::string& v) {
    auto ok = [](auto r) -> Status {
      if (!r) return std::unexpected(r.error());
      return {};
    };
    switch (spec.type) {
      case ParamType::kString:
        if ((spec.name == "timezone" || spec.name == "path_timezone") && !Zone::named(v)) {
          return make_error(ErrorCode::kInvalidArgument,
                            "'" + v +
                                "' is no time zone (an offset such as +09:00 or -0500, or a "
                                "zone such as Asia/Tokyo)");
        }
        return {};
      case ParamType::kRegexp:
        if (v.empty()) return make_error(ErrorCode::kInvalidArgument, "empty regexp");
        return {};
      case ParamType::kInteger:
        return ok(parse_integer(v));
      case ParamType::kFloat:
        return ok(parse_float(v));
      case ParamType::kSize:
        return ok(parse_size(v));
      case ParamType::kTime:
        return ok(parse_time(v));
      case ParamType::kBool:
        return ok(parse_bool(v));
      case ParamType::kArray:
        return ok(parse_array(v));
      case ParamType::kHash:
        return ok(parse_hash(v));
      case ParamType::kEnum:
        for (const auto& c : spec.choices) {
          if (c == v) return {};
        }
        {
          std::string all;
          for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
          return make_error(ErrorCode::kInvalidArgument, "'" + v + "' is not one of: " + all);
        }
    }
    return {};
  }

  int counter_ = 0;
  std::size_t order_ = 0;
  std::vector<std::string> param_warnings_;  // unknown parameters, ignored aliases
  std::set<std::string> ids_;
};

const ParamSpec& Section::param(const std::string& name) const {
  for (const auto& p : spec_->params) {
    if (p.name == name) return p;
  }
  assert(false && "parameter not declared in the plugin's schema");
  std::abort();
}

std::optional<std::string> Section::raw(const std::string& name) const {
  const ParamSpec& p = param(name);
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (auto it = defaults_.find(name); it != defaults_.end()) return it->second;
  return p.default_value;
}

std::string Section::str(const std::string& name) const {
  return raw(name).value_or("");
}

std::int64_t Section::integer(const std::string& name) const {
  auto r = raw(name);
  return r ? parse_integer(*r).value_or(0) : 0;
}

double Section::number(const std::string& name) const {
  auto r = raw(name);
  if (!r) return 0;
  return param(name).type == ParamType::kTime ? parse_time(*r).value_or(0)
                                              : parse_float(*r).value_or(0);
}

std::uint64_t Section::size(const std::string& name) const {
  auto r = raw(name);
  return r ? parse_size(*r).value_or(0) : 0;
}

bool Section::flag(const std::string& name) const {
  auto r = raw(name);
  return r ? parse_bool(*r).value_or(false) : false;
}

std::vector<std::string> Section::array(const std::string& name) const {
  auto r = raw(name);
  return r ? parse_array(*r).value_or(std::vector<std::string>{}) : std::vector<std::string>{};
}

std::vector<std::pair<std::string, std::string>> Section::hash(const std::string& name) const {
  auto r = raw(name);
  if (!r) return {};
  return parse_hash(*r).value_or(std::vector<std::pair<std::string, std::string>>{});
}

const Section* Section::child(const std::string& name) const {
  auto it = children_.find(name);
  return it == children_.end() || it->second.empty() ? nullptr : it->second.front().get();
}

std::vector<const Section*> Section::children(const std::string& name) const {
  std::vector<const Section*> out;
  if (auto it = children_.find(name); it != children_.end()) {
    for (const auto& c : it->second) out.push_back(c.get());
  }
  return out;
}

std::int64_t Section::store_param(const std::string& name, std::int64_t fallback) const {
  auto it = store_values_.find(name);
  return it == store_values_.end() ? fallback : parse_integer(it->second).value_or(fallback);
}

Result<PipelineConfig> validate(const Element& root) {
  Element upgraded = root;
  std::vector<std::string> warnings;
  if (auto s = apply_v012_spellings(upgraded, warnings); !s) return std::unexpected(s.error());
  auto out = Validator().run(upgraded);
  if (out) out->warnings.insert(out->warnings.begin(), warnings.begin(), warnings.end());
  if (out) out->warnings.insert(out->warnings.begin(), root.warnings.begin(), root.warnings.end());
  return out;
}

Result<PipelineConfig> load_pipeline(const std::string& path, const GetEnv& getenv_fn,
                                     ConfigSources* sources) {
  auto tree = parse_file(path, getenv_fn, sources);
  if (!tree) return std::unexpected(tree.error());
  return validate(*tree);
}

}  // namespace logctl::config
