#include "agentd/outputs/path_template.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <regex>

namespace logctl::agentd {

std::string safe_component(std::string_view value) {
  std::string out(value);
  bool dots_only = !out.empty();
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\' || u < 0x20 || u == 0x7f) c = '_';
    dots_only = dots_only && c == '.';
  }
  if (dots_only) std::fill(out.begin(), out.end(), '_');
  if (out.size() > kMaxComponentValue) {
    char h[16];
    std::snprintf(h, sizeof h, "~%08x",
                  static_cast<unsigned>(std::hash<std::string_view>{}(value)&0xffffffffu));
    out.resize(kMaxComponentValue - 9);
    out += h;
  }
  return out;
}

std::string timekey_format(std::int64_t timekey) {
  if (timekey <= 0) return "";
  if (timekey < 60) return "%Y%m%d%H%M%S";
  if (timekey < 3600) return "%Y%m%d%H%M";
  if (timekey < 86400) return "%Y%m%d%H";
  return "%Y%m%d";
}

Result<PathTemplate> PathTemplate::make(const PathTemplateOptions& o) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "path '" + o.path + "': " + why);
  };
  bool has_time = o.path.find('%') != std::string::npos;
  bool has_tag = o.path.find("${tag") != std::string::npos;
  if (has_tag && !o.keys->tag) return bad("${tag} needs 'tag' in the <buffer> chunk keys");
  if (has_time && !o.keys->time) return bad("time placeholders need 'time' in the chunk keys");
  std::regex var(R"(\$\{([^}]+)\})");
  for (std::sregex_iterator it(o.path.begin(), o.path.end(), var), end; it != end; ++it) {
    std::string name = (*it)[1];
    if (name == "chunk_id" || name == "tag" ||
        std::regex_match(name, std::regex(R"(tag\[-?\d+\])"))) {
      continue;
    }
    bool known = false;
    for (const auto& f : o.keys->fields) known = known || f == name;
    if (!known) return bad("placeholder ${" + name + "} is not a chunk key of <buffer>");
  }
  if (o.path.find('*') != std::string::npos) return bad("'*' is not allowed in path");
  PathTemplate t;
  t.utc_ = o.utc;
  std::string index = o.append ? "" : "_**";
  t.indexed_ = !o.append;
  std::string time_part = o.keys->time && !has_time ? "." + timekey_format(o.timekey) : "";
  t.template_ = o.path + time_part + index + o.suffix + (o.gzip ? ".gz" : "");
  return t;
}

std::string PathTemplate::render(const Chunk& chunk, int index) const {
  const auto& m = chunk.metadata();
  std::string out = template_;
  if (m.timekey) {
    std::time_t t = *m.timekey;
    std::tm tm{};
    if (utc_) {
      gmtime_r(&t, &tm);
    } else {
      localtime_r(&t, &tm);
    }
    char buf[4096];
    std::size_t n = std::strftime(buf, sizeof buf, out.c_str(), &tm);
    if (n > 0) out.assign(buf, n);
  }
  auto replace_all = [&](const std::string& from, const std::string& to) {
    for (std::size_t p = 0; (p = out.find(from, p)) != std::string::npos; p += to.size()) {
      out.replace(p, from.size(), to);
    }
  };
  if (m.tag) {
    replace_all("${tag}", safe_component(*m.tag));
    std::vector<std::string> parts;
    for (std::size_t b = 0;;) {
      auto e = m.tag->find('.', b);
      parts.push_back(safe_component(m.tag->substr(b, e == std::string::npos ? e : e - b)));
      if (e == std::string::npos) break;
      b = e + 1;
    }
    std::regex part(R"(\$\{tag\[(-?\d+)\]\})");
    std::smatch sm;
    while (std::regex_search(out, sm, part)) {
      int i = std::stoi(sm[1]);
      if (i < 0) i += static_cast<int>(parts.size());
      std::string v = i >= 0 && i < static_cast<int>(parts.size()) ? parts[i] : "";
      out.replace(sm.position(0), sm.length(0), v);
    }
  }
  for (const auto& [k, v] : m.variables) replace_all("${" + k + "}", safe_component(v));
  replace_all("${chunk_id}", chunk.id());
  if (indexed_) replace_all("_**", "_" + std::to_string(index));
  return out;
}

}  // namespace logctl::agentd
