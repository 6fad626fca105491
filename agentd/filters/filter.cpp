#include "agentd/filters/filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <vector>

#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/inputs/msgpack_framing.h"
#include "agentd/parsers/parser.h"

namespace logctl::agentd {
namespace {

// One top-level field of a packed record map.
struct Pair {
  std::string key;
  std::string_view value;  // packed
};

// The fields of a packed map in order; false when it is not a map.
bool pairs_of(std::string_view rec, std::vector<Pair>& out) {
  return for_each_packed_field(rec,
                               [&](const MsgpackField& f) {
                                 out.push_back({std::string(f.key), f.value});
                               })
      .has_value();
}

void write(EventTime t, const std::vector<Pair>& pairs, EventBatch& out) {
  RecordWriter w(out);
  w.begin(t, static_cast<std::uint32_t>(pairs.size()));
  for (const auto& p : pairs) w.field_packed(p.key, p.value);
  w.end();
}

void copy_through(EventTime t, std::string_view record, EventBatch& out) {
  RecordWriter w(out);
  w.begin(t, 0);
  w.record_packed(record);
  w.end();
}

std::vector<std::string> split_dots(std::string_view s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '.') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

struct Counters {
  Counters(Metrics& m, const config::Section& s)
      : dropped(m.counter("agentd_filter_dropped_records_total",
                          "Events a filter did not pass on (grep, or a field that did not parse).",
                          {{"plugin_id", s.id()}, {"type", s.type()}})),
        errors(m.counter("agentd_filter_errors_total",
                         "Events a filter could not process (logged).",
                         {{"plugin_id", s.id()}, {"type", s.type()}})) {}
  std::atomic<std::uint64_t>& dropped;
  std::atomic<std::uint64_t>& errors;
};

// A compiled pattern; matched with per-call match data (thread-safe).
class Pattern {
 public:
  static Result<std::shared_ptr<Pattern>> make(const config::Section& s) {
    std::string expr = s.str("pattern");
    std::uint32_t flags = 0;
    if (expr.size() >= 2 && expr.front() == '/') {
      auto end = expr.rfind('/');
      if (end > 0) {
        for (char f : expr.substr(end + 1)) {
          if (f == 'i') flags |= PCRE2_CASELESS;
          if (f == 'm') flags |= PCRE2_DOTALL;
          if (f == 'x') flags |= PCRE2_EXTENDED;
        }
        expr = expr.substr(1, end - 1);
      }
    }
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expr.c_str()), expr.size(), flags,
                                     &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": bad pattern at offset " +
                                                         std::to_string(off) + ": " +
                                                         reinterpret_cast<char*>(msg));
    }
    auto p = std::make_shared<Pattern>();
    p->code_ = code;
    p->path_ = field_path(s.str("key"));
    return p;
  }
  ~Pattern() { pcre2_code_free(code_); }

  // The field exists (not nil) and its text matches.
  bool matches(std::string_view record) const {
    auto v = lookup_field(record, path_);
    if (!v) return false;
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    int rc =
        pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(v->data()), v->size(), 0, 0, md, nullptr);
    pcre2_match_data_free(md);
    return rc >= 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  std::vector<std::string> path_;
};

class GrepFilter final : public Filter {
 public:
  struct Group {
    bool all;  // <and> (and the top level's regexps); <or>: any
    std::vector<std::shared_ptr<Pattern>> regexps, excludes;
  };

  static Result<std::unique_ptr<Filter>> make(const config::Section& s, Metrics& m) {
    auto f = std::unique_ptr<GrepFilter>(new GrepFilter(s, m));
    Group top{true, {}, {}};
    if (auto st = fill(s, top); !st) return std::unexpected(st.error());
    f->top_regexps_ = std::move(top.regexps);
    f->top_excludes_ = std::move(top.excludes);
    for (const char* kind : {"and", "or"}) {
      for (const config::Section* g : s.children(kind)) {
        Group grp{std::string(kind) == "and", {}, {}};
        if (auto st = fill(*g, grp); !st) return std::unexpected(st.error());
        f->groups_.push_back(std::move(grp));
      }
    }
    return std::unique_ptr<Filter>(std::move(f));
  }

  void filter(const std::string&, EventTime t, std::string_view record, EventBatch& out,
              EventBatch* /*errors*/) const override {
    if (!keep(record)) {
      ++c_.dropped;
      return;
    }
    copy_through(t, record, out);
  }

 private:
  GrepFilter(const config::Section& s, Metrics& m) : c_(m, s) {}

  static Status fill(const config::Section& s, Group& g) {
    for (const char* kind : {"regexp", "exclude"}) {
      for (const config::Section* r : s.children(kind)) {
        auto p = Pattern::make(*r);
        if (!p) return std::unexpected(p.error());
        (std::string(kind) == "regexp" ? g.regexps : g.excludes).push_back(std::move(*p));
      }
    }
    return {};
  }

  bool keep(std::string_view record) const {
    for (const auto& r : top_regexps_) {
      if (!r->matches(record)) return false;
    }
    for (const auto& e : top_excludes_) {
      if (e->matches(record)) return false;
    }
    for (const auto& g : groups_) {
      if (!g.regexps.empty()) {  // <and>: every one matches; <or>: one does
        bool pass = g.all;
        for (const auto& r : g.regexps) {
          bool m = r->matches(record);
          pass = g.all ? pass && m : pass || m;
        }
        if (!pass) return false;
      }
      if (!g.excludes.empty()) {  // <and>: dropped when every one matches; <or>: when one does
        bool drop = g.all;
        for (const auto& e : g.excludes) {
          bool m = e->matches(record);
          drop = g.all ? drop && m : drop || m;
        }
        if (drop) return false;
      }
    }
    return true;
  }

  std::vector<std::shared_ptr<Pattern>> top_regexps_, top_excludes_;
  std::vector<Group> groups_;
  mutable Counters c_;
};

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

class RecordTransformer final : public Filter {
 public:
  static Result<std::unique_ptr<Filter>> make(const config::Section& s, Metrics& m) {
    if (s.flag("enable_ruby")) {
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() +
                            ": enable_ruby true is not supported: agentd runs no Ruby; the "
                            "placeholders ${tag}, ${tag_parts[N]}, ${record[\"k\"]}, ${hostname}, "
                            "${time} work without it");
    }
    if (s.is_set("tag")) {
      return make_error(ErrorCode::kInvalidArgument,
                        s.where().str() + ": record_transformer 'tag' is not supported");
    }
    return std::unique_ptr<Filter>(new RecordTransformer(s, m));
  }

  void filter(const std::string& tag, EventTime t, std::string_view record, EventBatch& out,
              EventBatch* /*errors*/) const override {
    std::vector<Pair> in, pairs;
    if (!pairs_of(record, in)) {
      ++c_.errors;
      return copy_through(t, record, out);
    }
    if (!renew_) {
      pairs = in;
    } else {
      for (const auto& k : keep_keys_) {
        for (const auto& p : in) {
          if (p.key == k) pairs.push_back(p);
        }
      }
    }
    std::vector<std::string> values;  // owns what `pairs` points into
    values.reserve(fields_.size());
    for (const auto& [key, tmpl] : fields_) {
      values.push_back(expand(tmpl, tag, t, in));
      std::string_view v = values.back();
      bool found = false;
      for (auto& p : pairs) {
        if (p.key == key) {
          p.value = v;
          found = true;
        }
      }
      if (!found) pairs.push_back({key, v});
    }
    for (const auto& k : remove_keys_) {
      std::erase_if(pairs, [&](const Pair& p) { return p.key == k; });
    }
    if (!renew_time_key_.empty()) {
      for (const auto& p : pairs) {
        if (p.key != renew_time_key_) continue;
        std::string text = render_value(p.value);
        char* end = nullptr;
        double secs = std::strtod(text.c_str(), &end);
        if (end && *end == '\0' && !text.empty()) t = event_time_from_seconds(secs).value_or(t);
      }
    }
    write(t, pairs, out);
  }

 private:
  RecordTransformer(const config::Section& s, Metrics& m)
      : renew_(s.flag("renew_record")),
        typecast_(s.flag("auto_typecast")),
        renew_time_key_(s.str("renew_time_key")),
        keep_keys_(s.array("keep_keys")),
        remove_keys_(s.array("remove_keys")),
        host_(hostname()),
        c_(m, s) {
    if (const auto* r = s.child("record")) fields_ = r->free_params();
  }

  // A packed value as Ruby's to_s (what Fluentd's gsub makes of it).
  static std::string render_value(std::string_view packed) {
    std::string out;
    append_ruby_text(out, packed);
    return out;
  }

  static std::string packed_str(std::string_view s) {
    std::string out;
    RecordWriter::pack_str(out, s);
    return out;
  }

  // An index as Fluentd's placeholder table writes it: "0", "2", "-1".
  static std::optional<long> index_of(std::string_view num) {
    bool neg = num.starts_with('-');
    std::string_view digits = neg ? num.substr(1) : num;
    if (digits.empty() || digits.size() > 9 || (digits.size() > 1 && digits[0] == '0') ||
        (neg && digits == "0") ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    long n = std::stol(std::string(digits));
    return neg ? -n : n;
  }

  // The packed value of a placeholder (`${...}` or `__NAME__`), nil when it
  // is not one of Fluentd's (without enable_ruby): ${tag}, ${hostname},
  // ${time}, ${tag_parts[N]}, ${tag_prefix[N]}, ${tag_suffix[N]} (N from 0,
  // or from -1 back), ${record["key"]} for a top-level key — nothing else, so
  // ${key}, ${record['key']} and ${record["a"]["b"]} are nil, as in Fluentd.
  std::string resolve(std::string_view ph, const std::string& tag, EventTime t,
                      const std::vector<Pair>& rec) const {
    static const std::string nil(1, '\xc0');
    if (!ph.starts_with("${")) return nil;
    std::string_view inside = ph.substr(2, ph.size() - 3);
    if (inside == "tag") return packed_str(tag);
    if (inside == "hostname") return packed_str(host_);
    if (inside == "time") {
      std::time_t secs = static_cast<std::time_t>(t.seconds());
      std::tm tm{};
      localtime_r(&secs, &tm);
      char buf[64];
      std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
      return packed_str(buf);
    }
    for (std::string_view f : {"tag_parts[", "tag_prefix[", "tag_suffix["}) {
      if (!inside.starts_with(f) || !inside.ends_with("]")) continue;
      auto n = index_of(inside.substr(f.size(), inside.size() - f.size() - 1));
      auto p = split_dots(tag);
      long size = static_cast<long>(p.size());
      if (!n || *n >= size || *n < -size) return nil;
      long i = *n < 0 ? size + *n : *n;
      std::string out;
      if (f == "tag_parts[") out = p[static_cast<std::size_t>(i)];
      if (f == "tag_prefix[") {
        for (long k = 0; k <= i; ++k) out += (k ? "." : "") + p[static_cast<std::size_t>(k)];
      }
      if (f == "tag_suffix[") {
        for (long k = i; k < size; ++k) out += (k > i ? "." : "") + p[static_cast<std::size_t>(k)];
      }
      return packed_str(out);
    }
    if (inside.starts_with("record[\"") && inside.ends_with("\"]") && inside.size() >= 10) {
      std::string_view key = inside.substr(8, inside.size() - 10);
      const Pair* found = nullptr;
      for (const auto& p : rec) {
        if (p.key == key) found = &p;
      }
      if (found) return std::string(found->value);
    }
    return nil;
  }

  // Where the next placeholder is in `s` from `from`: Fluentd's
  // /(\$\{[^}]+\}|__[A-Z_]+__)/ (first match, the longest at its start).
  static std::pair<std::size_t, std::size_t> next_placeholder(std::string_view s,
                                                              std::size_t from) {
    for (std::size_t i = from; i + 1 < s.size(); ++i) {
      if (s[i] == '$' && s[i + 1] == '{') {
        auto close = s.find('}', i + 2);
        if (close != std::string_view::npos && close > i + 2) return {i, close + 1 - i};
      } else if (s[i] == '_' && s[i + 1] == '_') {
        std::size_t j = i + 2;
        while (j < s.size() && ((s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_')) ++j;
        // backtrack so that the run ends in "__" after at least one character
        for (std::size_t end = j; end >= i + 5; --end) {
          if (s[end - 1] == '_' && s[end - 2] == '_') return {i, end - i};
        }
      }
    }
    return {std::string_view::npos, 0};
  }

  // The packed value of a template: exactly one placeholder with
  // auto_typecast keeps the value's type (nil when unknown); otherwise the
  // text with every placeholder replaced by Ruby's to_s of its value.
  std::string expand(const std::string& tmpl, const std::string& tag, EventTime t,
                     const std::vector<Pair>& rec) const {
    auto [at, len] = next_placeholder(tmpl, 0);
    if (typecast_ && at == 0 && len == tmpl.size()) return resolve(tmpl, tag, t, rec);
    std::string text;
    std::size_t i = 0;
    for (; at != std::string::npos; std::tie(at, len) = next_placeholder(tmpl, i)) {
      text.append(tmpl, i, at - i);
      text += render_value(resolve(std::string_view(tmpl).substr(at, len), tag, t, rec));
      i = at + len;
    }
    text.append(tmpl, i);
    return packed_str(text);
  }

  bool renew_, typecast_;
  std::string renew_time_key_;
  std::vector<std::string> keep_keys_, remove_keys_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::string host_;
  mutable Counters c_;
};

class ParserFilter final : public Filter {
 public:
  static Result<std::unique_ptr<Filter>> make(const config::Section& s, Metrics& m) {
    auto p = make_parser(*s.child("parse"));
    if (!p) return std::unexpected(p.error());
    return std::unique_ptr<Filter>(new ParserFilter(s, m, std::move(*p)));
  }

  void filter(const std::string& tag, EventTime t, std::string_view record, EventBatch& out,
              EventBatch* errors) const override {
    std::vector<Pair> in;
    auto fail = [&](const std::string& why, const std::vector<Pair>& pairs) {
      failed(tag, why, t, record, pairs, out, errors);
    };
    if (!pairs_of(record, in)) return fail("the record is not a map", {});
    std::optional<std::string> text;
    for (const auto& p : in) {
      if (p.key != key_) continue;
      auto h = msgpack_header(p.value);
      if (h && (h->kind == MsgpackKind::kString || h->kind == MsgpackKind::kBinary)) {
        text = std::string(p.value.substr(h->size, h->payload));
      }
    }
    if (!text) return fail("'" + key_ + "' does not exist or is not a string", in);
    EventBatch parsed;
    Status st;
    {
      std::lock_guard lock(mu_);  // a parser serves one thread at a time
      st = parser_->parse(*text, t, {}, parsed);
    }
    if (!st || parsed.entries.empty()) {
      return fail("'" + key_ + "' does not parse: " + (st ? "" : st.error().message), in);
    }
    std::vector<Pair> fields;
    pairs_of(record_of(parsed.entry(parsed.entries[0])), fields);
    for (auto& f : fields) f.key = prefix_ + f.key;
    EventTime time = reserve_time_ ? t : parsed.entries[0].time;
    std::vector<Pair> result;
    if (reserve_data_) {
      for (const auto& p : in) {
        if (remove_key_ && p.key == key_) continue;
        result.push_back(p);
      }
    }
    std::string nested;
    if (!hash_field_.empty()) {
      RecordWriter::pack_map_header(nested, static_cast<std::uint32_t>(fields.size()));
      for (const auto& f : fields) {
        RecordWriter::pack_str(nested, f.key);
        nested.append(f.value);
      }
      fields = {{hash_field_, nested}};
    }
    merge(result, fields);
    write(time, result, out);
  }

  // Ruby's Hash#merge: a key the record has keeps its place, new ones follow.
  static void merge(std::vector<Pair>& record, const std::vector<Pair>& fields) {
    for (const auto& f : fields) {
      auto it =
          std::find_if(record.begin(), record.end(), [&](const Pair& p) { return p.key == f.key; });
      if (it != record.end()) {
        it->value = f.value;
      } else {
        record.push_back(f);
      }
    }
  }

 private:
  ParserFilter(const config::Section& s, Metrics& m, std::unique_ptr<Parser> p)
      : key_(s.str("key_name")),
        reserve_data_(s.flag("reserve_data")),
        reserve_time_(s.flag("reserve_time")),
        remove_key_(s.flag("remove_key_name_field")),
        prefix_(s.str("inject_key_prefix")),
        hash_field_(s.str("hash_value_field")),
        id_(s.id()),
        to_error_(s.flag("emit_invalid_record_to_error")),
        parser_(std::move(p)),
        c_(m, s) {}

  // As Fluentd: the original event goes to @ERROR when there is one (and
  // emit_invalid_record_to_error), and on unchanged with reserve_data, else
  // it is dropped here; counted and logged either way.
  void failed(const std::string& tag, const std::string& why, EventTime t, std::string_view record,
              const std::vector<Pair>& in, EventBatch& out, EventBatch* errors) const {
    ++c_.errors;
    bool to_error = errors && to_error_;
    log_.write(log::Level::kWarn, "filter " + id_ + ": event of '" + tag + "': " + why +
                                      (to_error ? "; sent to @ERROR" : "") +
                                      (reserve_data_ ? "; passed on unchanged" : "; dropped"));
    if (to_error) {
      RecordWriter w(*errors);
      w.begin(t, 0);
      w.record_packed(record);
      w.end();
    }
    if (!reserve_data_) {
      if (!to_error) ++c_.dropped;
      return;
    }
    if (hash_field_.empty()) return write(t, in, out);
    // Fluentd merges the (empty) result under hash_value_field all the same.
    static const std::string empty_map(1, '\x80');
    std::vector<Pair> result = in;
    merge(result, {{hash_field_, empty_map}});
    write(t, result, out);
  }

  std::string key_;
  bool reserve_data_, reserve_time_, remove_key_;
  std::string prefix_, hash_field_, id_;
  bool to_error_;
  mutable std::mutex mu_;
  std::unique_ptr<Parser> parser_;
  mutable Counters c_;
  mutable log::RateLimited log_;
};

// kubernetes_metadata without the API: what the log file's path says. Paths
// (the tag's dotted form, or a record field with the path):
//   /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log
//   /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<N>.log
//   /var/lib/kubelet/pods/<pod uid>/...            (hostPath volumes: the uid)
// Adds "docker": {"container_id"} and "kubernetes": {"container_name",
// "namespace_name", "pod_name", "pod_id", "host"} (what is known); a path of
// none of these forms passes unchanged. A seam for API enrichment later:
// `Metadata` is what a lookup by namespace/pod would extend.
class KubernetesMetadata final : public Filter {
 public:
  struct Metadata {
    std::string pod, ns, container, container_id, pod_uid;
  };

  static std::optional<Metadata> from_path(std::string p) {
    // The tag form: dots for slashes; names may hold dots too, so match
    // on the known directory prefixes and split the file name ourselves.
    auto after = [&](std::string_view dir_slash,
                     std::string_view dir_dot) -> std::optional<std::string> {
      for (auto d : {dir_slash, dir_dot}) {
        auto at = p.find(d);
        if (at != std::string::npos) return p.substr(at + d.size());
      }
      return std::nullopt;
    };
    Metadata m;
    if (auto rest = after("/var/log/containers/", "var.log.containers.")) {
      // <pod>_<namespace>_<container>-<id>.log
      std::string f = *rest;
      if (!f.ends_with(".log") || f.size() < 4 + 65) return std::nullopt;
      f.resize(f.size() - 4);
      m.container_id = f.substr(f.size() - 64);
      if (f[f.size() - 65] != '-' ||
          m.container_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return std::nullopt;
      }
      f.resize(f.size() - 65);
      auto u1 = f.find('_');
      auto u2 = u1 == std::string::npos ? u1 : f.find('_', u1 + 1);
      if (u2 == std::string::npos) return std::nullopt;
      m.pod = f.substr(0, u1);
      m.ns = f.substr(u1 + 1, u2 - u1 - 1);
      m.container = f.substr(u2 + 1);
      return m;
    }
    if (auto rest = after("/var/log/pods/", "var.log.pods.")) {
      // <namespace>_<pod>_<uid>/<container>/<N>.log (dots in the tag form)
      std::string r = *rest;
      auto u1 = r.find('_');
      auto u2 = u1 == std::string::npos ? u1 : r.find('_', u1 + 1);
      if (u2 == std::string::npos) return std::nullopt;
      m.ns = r.substr(0, u1);
      m.pod = r.substr(u1 + 1, u2 - u1 - 1);
      std::string tail = r.substr(u2 + 1);  // <uid>/<container>/<N>.log
      char sep = tail.find('/') != std::string::npos ? '/' : '.';
      if (sep == '.') {  // a uid has no dots: the first dot ends it
        auto d = tail.find('.');
        if (d == std::string::npos) return std::nullopt;
        m.pod_uid = tail.substr(0, d);
        std::string c = tail.substr(d + 1);  // <container>.<N>.log
        auto log = c.rfind(".log");
        auto n = log == std::string::npos ? log : c.rfind('.', log - 1);
        if (n == std::string::npos) return std::nullopt;
        m.container = c.substr(0, n);
      } else {
        auto s1 = tail.find('/');
        auto s2 = tail.find('/', s1 + 1);
        if (s2 == std::string::npos) return std::nullopt;
        m.pod_uid = tail.substr(0, s1);
        m.container = tail.substr(s1 + 1, s2 - s1 - 1);
      }
      return m;
    }
    if (auto rest = after("/var/lib/kubelet/pods/", "var.lib.kubelet.pods.")) {
      std::string r = *rest;
      auto end = r.find_first_of("/.");
      m.pod_uid = r.substr(0, end);
      if (m.pod_uid.size() != 36) return std::nullopt;  // a UID: 8-4-4-4-12
      return m;
    }
    return std::nullopt;
  }

  static Result<std::unique_ptr<Filter>> make(const config::Section& s, Metrics& m) {
    return std::unique_ptr<Filter>(new KubernetesMetadata(s, m));
  }

  void filter(const std::string& tag, EventTime t, std::string_view record, EventBatch& out,
              EventBatch* /*errors*/) const override {
    // One pass over the keys: where the path is (the tag, or path_key's
    // value) and whether the record has docker/kubernetes maps to replace.
    std::string_view path = tag;
    bool replaces = false;
    std::uint32_t n = 0;
    auto size = for_each_packed_field(record, [&](const MsgpackField& f) {
      ++n;
      if (f.key == "docker" || f.key == "kubernetes") replaces = true;
      if (!path_key_.empty() && f.key == path_key_) {
        auto vh = msgpack_header(f.value);
        if (vh && vh->kind == MsgpackKind::kString) path = f.value.substr(vh->size, vh->payload);
      }
    });
    if (!size) return copy_through(t, record, out);
    // The same path (a tag) comes again and again: its packed metadata is
    // kept per thread for the last path seen.
    thread_local Packed cache;
    if (cache.owner != this || cache.path != path) {
      cache.owner = this;
      cache.path = path;
      cache.found = pack(from_path(std::string(path)), cache);
    }
    if (!cache.found) {
      ++c_.errors;
      return copy_through(t, record, out);
    }
    if (!replaces) {  // the common case: the record's pairs as they are, then ours
      std::size_t header = msgpack_header(record)->size;
      RecordWriter w(out);
      w.begin(t, n + (cache.docker.empty() ? 1 : 2));
      w.fields_packed(record.substr(header, *size - header), n);
      if (!cache.docker.empty()) w.field_packed("docker", cache.docker);
      w.field_packed("kubernetes", cache.kube);
      w.end();
      return;
    }
    std::vector<Pair> in;
    pairs_of(record, in);
    std::erase_if(in, [](const Pair& p) { return p.key == "docker" || p.key == "kubernetes"; });
    if (!cache.docker.empty()) in.push_back({"docker", cache.docker});
    in.push_back({"kubernetes", cache.kube});
    write(t, in, out);
  }

 private:
  struct Packed {
    const KubernetesMetadata* owner = nullptr;
    std::string path;
    bool found = false;
    std::string docker, kube;  // packed maps
  };

  bool pack(const std::optional<Metadata>& md, Packed& p) const {
    p.docker.clear();
    p.kube.clear();
    if (!md) return false;
    if (!md->container_id.empty()) {
      RecordWriter::pack_map_header(p.docker, 1);
      RecordWriter::pack_str(p.docker, "container_id");
      RecordWriter::pack_str(p.docker, md->container_id);
    }
    std::vector<std::pair<const char*, const std::string*>> fields;
    if (!md->container.empty()) fields.emplace_back("container_name", &md->container);
    if (!md->ns.empty()) fields.emplace_back("namespace_name", &md->ns);
    if (!md->pod.empty()) fields.emplace_back("pod_name", &md->pod);
    if (!md->pod_uid.empty()) fields.emplace_back("pod_id", &md->pod_uid);
    fields.emplace_back("host", &host_);
    RecordWriter::pack_map_header(p.kube, static_cast<std::uint32_t>(fields.size()));
    for (const auto& [k, v] : fields) {
      RecordWriter::pack_str(p.kube, k);
      RecordWriter::pack_str(p.kube, *v);
    }
    return true;
  }

  KubernetesMetadata(const config::Section& s, Metrics& m)
      : path_key_(s.str("path_key")), host_(hostname()), c_(m, s) {}

  std::string path_key_, host_;
  mutable Counters c_;
};

}  // namespace

std::string_view record_of(std::string_view entry) {
  if (entry.empty()) return entry;
  std::size_t tn = msgpack_value_len(entry.substr(1));  // after the [time, record] header
  return entry.substr(1 + tn);
}

Result<std::unique_ptr<Filter>> make_filter(const config::Section& s, Metrics& m) {
  if (s.type() == "grep") return GrepFilter::make(s, m);
  if (s.type() == "record_transformer") return RecordTransformer::make(s, m);
  if (s.type() == "parser") return ParserFilter::make(s, m);
  if (s.type() == "kubernetes_metadata") return KubernetesMetadata::make(s, m);
  return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": unknown filter " + s.type());
}

}  // namespace logctl::agentd
