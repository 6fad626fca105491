#include "logctl/schema/config_compat.h"

#include <algorithm>
#include <optional>
#include <set>

#include "logctl/schema/plugin_schema.h"

namespace logctl::config {
namespace {

// v0.12 parameter -> its name in the v1 section ("@type" for the plugin type).
using Mapping = std::vector<std::pair<std::string, std::string>>;

const Mapping& parser_params() {
  static const Mapping m = {
      {"format", "@type"},
      {"time_key", "time_key"},
      {"time_format", "time_format"},
      {"keep_time_key", "keep_time_key"},
      {"format_firstline", "format_firstline"},
      {"message_key", "message_key"},
      {"with_priority", "with_priority"},
      {"json_parser", "json_parser"},
      {"keys", "keys"},
      {"delimiter", "delimiter"},
      {"label_delimiter", "label_delimiter"},
      {"null_empty_string", "null_empty_string"},
      {"null_value_pattern", "null_value_pattern"},
      {"types", "types"},
      {"localtime", "localtime"},
      {"utc", "utc"},
  };
  return m;
}

const Mapping& buffer_params() {
  static const Mapping m = {
      {"buffer_type", "@type"},
      {"buffer_path", "path"},
      {"num_threads", "flush_thread_count"},
      {"flush_interval", "flush_interval"},
      {"try_flush_interval", "flush_thread_interval"},
      {"queued_chunk_flush_interval", "flush_thread_burst_interval"},
      {"disable_retry_limit", "retry_forever"},
      {"retry_limit", "retry_max_times"},
      {"retry_wait", "retry_wait"},
      {"max_retry_wait", "retry_max_interval"},
      {"buffer_chunk_limit", "chunk_limit_size"},
      {"buffer_queue_limit", "queue_limit_length"},
      {"buffer_queue_full_action", "overflow_action"},
      {"flush_at_shutdown", "flush_at_shutdown"},
      {"time_slice_wait", "timekey_wait"},
      {"time_slice_format", ""},  // becomes the time chunk key and a timekey
  };
  return m;
}

const Mapping& formatter_params() {
  static const Mapping m = {
      {"format", "@type"},
      {"delimiter", "delimiter"},
      {"output_time", "output_time"},
      {"output_tag", "output_tag"},
      {"message_key", "message_key"},
      {"add_newline", "add_newline"},
      {"output_type", "output_type"},
  };
  return m;
}

bool takes(const PluginSpec* spec, const std::string& name) {
  if (!spec) return false;
  for (const auto& p : spec->params) {
    if (p.name == name) return true;
    for (const auto& a : p.aliases) {
      if (a == name) return true;
    }
  }
  return false;
}

const SectionRule* rule_of(const PluginSpec* spec, const std::string& section) {
  if (!spec) return nullptr;
  for (const auto& r : spec->sections) {
    if (r.name == section) return &r;
  }
  return nullptr;
}

bool has_child(const Element& e, const std::string& name) {
  return std::any_of(e.children.begin(), e.children.end(),
                     [&](const Element& c) { return c.name == name; });
}

std::string type_of(const Element& e) {
  const Param* t = e.find("@type");
  return t ? t->value : "";
}

class Upgrader {
 public:
  explicit Upgrader(std::vector<std::string>& warnings) : warnings_(warnings) {}

  Status element(Element& e, const std::string& parent) {
    static const std::set<std::string> typed = {"source", "match",  "filter", "store",
                                                "parse",  "format", "buffer", "secondary"};
    if (typed.contains(e.name)) rename(e, "type", "@type");
    // multi_format's <pattern> names its parser with 'format' (the plugin's own syntax).
    if (e.name == "pattern" && parent == "parse" && !e.find("@type")) {
      std::optional<Param> expression;
      for (auto& p : e.params) {
        if (p.key != "format") continue;
        p.key = "@type";
        if (p.value.size() >= 2 && p.value.front() == '/' && p.value.back() == '/') {
          expression = Param{"expression", p.value, p.where};  // format /re/: a regexp
          p.value = "regexp";
        }
      }
      if (expression) e.params.push_back(*expression);
    }
    if (e.name == "source" || e.name == "match" || e.name == "filter" || e.name == "store") {
      rename(e, "log_level", "@log_level");
    }
    if (e.name == "source") {
      if (auto s = source(e); !s) return s;
    }
    if (e.name == "match" || e.name == "store") {
      if (auto s = output(e); !s) return s;
    }
    if (e.name == "filter" && type_of(e) == "grep") grep_flat(e);
    for (auto& c : e.children) {
      if (auto s = element(c, e.name); !s) return s;
    }
    return {};
  }

 private:
  void warn(const Location& where, const std::string& what) {
    warnings_.push_back(where.str() + ": " + what);
  }

  // grep's v0.12 `regexpN KEY PATTERN` / `excludeN KEY PATTERN` (N 1..20),
  // which Fluentd 1.19 still reads: a <regexp> / <exclude> section each.
  void grep_flat(Element& e) {
    std::vector<Param> kept;
    for (auto& p : e.params) {
      std::string kind = p.key.starts_with("regexp")    ? "regexp"
                         : p.key.starts_with("exclude") ? "exclude"
                                                        : "";
      std::string n = kind.empty() ? "" : p.key.substr(kind.size());
      bool numbered =
          !n.empty() && n.size() <= 2 && n.find_first_not_of("0123456789") == std::string::npos;
      auto space = p.value.find_first_of(" \t");
      if (!numbered || space == std::string::npos) {
        kept.push_back(p);
        continue;
      }
      Element section;
      section.name = kind;
      section.where = p.where;
      section.params.push_back({"key", p.value.substr(0, space), p.where});
      section.params.push_back(
          {"pattern", p.value.substr(p.value.find_first_not_of(" \t", space)), p.where});
      e.children.push_back(std::move(section));
      warn(p.where, "'" + p.key + "' (v0.12) read as a <" + kind + "> section");
    }
    e.params = std::move(kept);
  }

  void rename(Element& e, const std::string& from, const std::string& to) {
    if (e.find(to)) return;
    for (auto& p : e.params) {
      if (p.key != from) continue;
      warn(p.where, "'" + from + "' is the v0.12 spelling of '" + to + "'; read as '" + to + " " +
                        p.value + "'");
      p.key = to;
      return;
    }
  }

  // Moves (or copies) the v0.12 parameters `m` of `e` into a new section.
  // `plugin`: what `e` itself takes; `target`: what the new section takes
  // (null: unknown, everything is moved and validation will say what is not
  // taken).
  void carry(Element& e, Element& into, const Mapping& m, const PluginSpec* plugin,
             const PluginSpec* target) {
    std::vector<Param> kept;
    for (auto& p : e.params) {
      auto it = std::find_if(m.begin(), m.end(), [&](const auto& kv) { return kv.first == p.key; });
      bool formatn = into.name == "parse" && p.key.size() > 6 && p.key.starts_with("format") &&
                     std::all_of(p.key.begin() + 6, p.key.end(), ::isdigit);
      if (it == m.end() && !formatn) {
        kept.push_back(p);
        continue;
      }
      std::string name = formatn ? p.key : it->second;
      bool own = takes(plugin, p.key);
      if (!name.empty() && name != "@type" && (!target || takes(target, name) || !own)) {
        into.params.push_back(Param{name, p.value, p.where});
      }
      if (own) kept.push_back(p);
    }
    e.params = std::move(kept);
  }

  Status source(Element& e) {
    const PluginSpec* input = find_plugin(PluginKind::kInput, type_of(e));
    if (!input) return {};  // validation names the unknown plugin
    std::string t = type_of(e);
    if (t == "tcp" || t == "udp") {
      for (auto& p : e.params) {
        if (p.key == "source_host_key" && !e.find("source_hostname_key")) {
          warn(p.where, "'source_host_key' is the v0.12 spelling of 'source_hostname_key'");
          p.key = "source_hostname_key";
        }
      }
    }
    const SectionRule* rule = rule_of(input, "parse");
    if (!rule || has_child(e, "parse")) return {};
    bool any = std::any_of(e.params.begin(), e.params.end(), [&](const Param& p) {
      return !takes(input, p.key) &&
             (std::any_of(parser_params().begin(), parser_params().end(),
                          [&](const auto& kv) { return kv.first == p.key; }) ||
              (p.key.starts_with("format") && p.key.size() > 6));
    });
    if (!any) return {};
    Element parse;
    parse.name = "parse";
    parse.where = e.where;
    std::string ptype = rule->default_type;
    if (const Param* f = e.find("format")) {
      parse.where = f->where;
      if (f->value.size() >= 2 && f->value.front() == '/' && f->value.back() == '/') {
        ptype = "regexp";
        parse.params.push_back(Param{"expression", f->value, f->where});
      } else {
        ptype = f->value;
      }
    }
    if (ptype.empty()) return {};  // validation says <parse> is needed
    parse.params.insert(parse.params.begin(), Param{"@type", ptype, parse.where});
    carry(e, parse, parser_params(), input, find_plugin(PluginKind::kParser, ptype));
    warn(parse.where, "v0.12 parser parameters on a <source> (format, time_format, …); read as " +
                          describe(parse));
    e.children.push_back(std::move(parse));
    return {};
  }

  Status output(Element& e) {
    const PluginSpec* out = find_plugin(PluginKind::kOutput, type_of(e));
    if (!out) return {};
    if (const SectionRule* b = rule_of(out, "buffer"); b && !has_child(e, "buffer")) {
      auto present = [&](const Param& p) {
        return !takes(out, p.key) && std::any_of(buffer_params().begin(), buffer_params().end(),
                                                 [&](const auto& kv) { return kv.first == p.key; });
      };
      if (std::any_of(e.params.begin(), e.params.end(), present)) {
        Element buffer;
        buffer.name = "buffer";
        buffer.where = e.where;
        buffer.arg = out->default_chunk_keys;
        std::string btype = b->default_type;
        for (const auto& p : e.params) {
          if (p.key == "buffer_type") btype = p.value;
        }
        buffer.params.push_back(Param{"@type", btype, e.where});
        if (const Param* ts = e.find("time_slice_format")) {
          const std::string& f = ts->value;
          std::string timekey = f.find("%S") != std::string::npos   ? "1"
                                : f.find("%M") != std::string::npos ? "60"
                                : f.find("%H") != std::string::npos ? "3600"
                                : f.find("%d") != std::string::npos ? "86400"
                                                                    : "";
          if (timekey.empty()) {
            return make_error(ErrorCode::kInvalidArgument,
                              ts->where.str() + ": time_slice_format '" + f +
                                  "' with only %Y or %m is too coarse (Fluentd refuses it too)");
          }
          buffer.arg = "time";
          buffer.params.push_back(Param{"timekey", timekey, ts->where});
        }
        carry(e, buffer, buffer_params(), out, find_plugin(PluginKind::kBuffer, btype));
        for (auto& p : buffer.params) {
          if (p.key == "overflow_action" && p.value == "exception") p.value = "throw_exception";
        }
        warn(e.where, "v0.12 buffer parameters on <" + e.name + "> (buffer_type, …); read as " +
                          describe(buffer));
        e.children.push_back(std::move(buffer));
      }
    }
    if (const SectionRule* f = rule_of(out, "format"); f && !has_child(e, "format")) {
      const Param* fp = e.find("format");
      bool any =
          fp != nullptr || std::any_of(e.params.begin(), e.params.end(), [&](const Param& p) {
            return !takes(out, p.key) && p.key != "format" &&
                   std::any_of(formatter_params().begin(), formatter_params().end(),
                               [&](const auto& kv) { return kv.first == p.key; });
          });
      if (any) {
        Element format;
        format.name = "format";
        format.where = fp ? fp->where : e.where;
        std::string ftype = fp ? fp->value : f->default_type;
        format.params.push_back(Param{"@type", ftype, format.where});
        carry(e, format, formatter_params(), out, find_plugin(PluginKind::kFormatter, ftype));
        warn(format.where, "v0.12 formatter parameters on <" + e.name + "> (format, …); read as " +
                               describe(format));
        e.children.push_back(std::move(format));
      }
    }
    return {};
  }

  static std::string describe(const Element& s) {
    std::string out = "<" + s.name + (s.arg.empty() ? "" : " " + s.arg) + ">";
    for (const auto& p : s.params) out += " " + p.key + " " + p.value + ";";
    return out + " </" + s.name + ">";
  }

  std::vector<std::string>& warnings_;
};

}  // namespace

Status apply_v012_spellings(Element& root, std::vector<std::string>& warnings) {
  Upgrader u(warnings);
  for (auto& c : root.children) {
    if (auto s = u.element(c, root.name); !s) return s;
  }
  return {};
}

}  // namespace logctl::config
