// Recursive-descent parser for Fluentd's v1 configuration syntax. See config.h.
#include <glob.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "logctl/schema/config.h"
#include "logctl/schema/config_expr.h"

namespace logctl::config {
namespace {

constexpr int kMaxIncludeDepth = 32;

Result<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open config file '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '@' || c == '-' ||
         c == '.';
}

class Parser {
 public:
  Parser(const std::string& text, std::string file, const GetEnv& getenv_fn, int depth,
         ConfigSources* sources = nullptr, std::vector<std::string>* not_read = nullptr)
      : text_(text),
        file_(std::move(file)),
        getenv_(getenv_fn),
        sources_(sources),
        not_read_(not_read),
        depth_(depth) {}

  // Parses elements and parameters into `into` until "</closing>" (or EOF at root).
  Status parse_body(Element& into, const std::string& closing) {
    for (;;) {
      skip_blank_and_comments();
      if (eof()) {
        if (closing.empty()) return {};
        return fail(into.where, "<" + closing + "> is never closed");
      }
      if (peek() == '<') {
        if (peek(1) == '/') return parse_close(closing);
        Element child;
        if (auto s = parse_open(child); !s) return s;
        // Inside <worker N> (or N-M), #{worker_id} is N, as in that Fluentd worker.
        std::string outer_worker = worker_;
        if (child.name == "worker" && closing.empty()) {
          worker_ = child.arg.substr(0, child.arg.find('-'));
        }
        auto body = parse_body(child, child.name);
        worker_ = outer_worker;
        if (!body) return body;
        into.children.push_back(std::move(child));
        continue;
      }
      if (auto s = parse_param(into); !s) return s;
    }
  }

  Location here() const { return Location{file_, line_}; }

 private:
  bool eof() const { return pos_ >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  char take() {
    char c = text_[pos_++];
    if (c == '\n') ++line_;
    return c;
  }

  std::unexpected<Error> fail(const Location& where, const std::string& what) const {
    return make_error(ErrorCode::kInvalidArgument, where.str() + ": " + what);
  }
  std::unexpected<Error> fail(const std::string& what) const { return fail(here(), what); }

  void skip_spaces() {
    while (!eof() && (peek() == ' ' || peek() == '\t' || peek() == '\r')) take();
  }
  void skip_to_eol() {
    while (!eof() && peek() != '\n') take();
  }
  void skip_blank_and_comments() {
    while (!eof()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        take();
      } else if (c == '#') {
        skip_to_eol();
      } else {
        return;
      }
    }
  }
  // After a directive or value only a comment may follow on the same line.
  Status expect_line_end() {
    skip_spaces();
    if (eof() || peek() == '\n') return {};
    if (peek() == '#') {
      skip_to_eol();
      return {};
    }
    return fail(std::string("unexpected text '") + current_line_rest() + "' after value");
  }
  std::string current_line_rest() const {
    size_t end = text_.find('\n', pos_);
    return text_.substr(pos_, end == std::string::npos ? std::string::npos : end - pos_);
  }

  Status parse_open(Element& child) {
    child.where = here();
    take();  // '<'
    while (!eof() && is_name_char(peek())) child.name.push_back(take());
    if (child.name.empty()) return fail("expected a section name after '<'");
    std::string arg;
    while (!eof() && peek() != '>' && peek() != '\n') arg.push_back(take());
    if (peek() != '>') return fail("section <" + child.name + " is missing its closing '>'");
    take();
    size_t b = arg.find_first_not_of(" \t");
    size_t e = arg.find_last_not_of(" \t\r");
    child.arg = b == std::string::npos ? "" : arg.substr(b, e - b + 1);
    return expect_line_end();
  }

  Status parse_close(const std::string& closing) {
    Location where = here();
    take();
    take();  // "</"
    std::string name;
    while (!eof() && peek() != '>' && peek() != '\n') name.push_back(take());
    if (peek() != '>') return fail(where, "unterminated closing tag </" + name);
    take();
    if (closing.empty()) return fail(where, "unexpected </" + name + "> with no open section");
    if (name != closing) {
      return fail(where, "</" + name + "> does not close the open <" + closing + ">");
    }
    return expect_line_end();
  }

  Status parse_param(Element& into) {
    Param p;
    p.where = here();
    while (!eof() && !std::isspace(static_cast<unsigned char>(peek())) && peek() != '#') {
      p.key.push_back(take());
    }
    skip_spaces();
    auto value = parse_value();
    if (!value) return std::unexpected(value.error());
    p.value = std::move(*value);
    if (auto s = expect_line_end(); !s) return s;
    if (p.key == "@include") return include(into, p);
    if (use_default_) {  // "#{use_default}": as if the parameter were not written
      use_default_ = false;
      return {};
    }
    into.params.push_back(std::move(p));
    return {};
  }

  Result<std::string> parse_value() {
    if (eof() || peek() == '\n' || peek() == '#') return std::string();
    char c = peek();
    if (c == '"') return parse_double_quoted();
    if (c == '\'') return parse_single_quoted();
    if (c == '[' || c == '{') return parse_json_literal();
    std::string v;
    while (!eof() && peek() != '\n') {
      if (peek() == '#' && !v.empty() && (v.back() == ' ' || v.back() == '\t')) break;
      v.push_back(take());
    }
    size_t e = v.find_last_not_of(" \t\r");
    v.resize(e == std::string::npos ? 0 : e + 1);
    return v;
  }

  Result<std::string> parse_single_quoted() {
    Location start = here();
    take();
    std::string v;
    while (!eof() && peek() != '\'') {
      if (peek() == '\\' && (peek(1) == '\'' || peek(1) == '\\')) take();
      v.push_back(take());
    }
    if (eof()) return fail(start, "unterminated single-quoted string");
    take();
    return v;
  }

  Result<std::string> parse_double_quoted() {
    Location start = here();
    take();
    std::string v;
    while (!eof() && peek() != '"') {
      char c = take();
      if (c == '\\') {
        if (eof()) break;
        v.push_back(unescape(take()));
      } else if (c == '#' && peek() == '{') {
        auto embedded = parse_embedded();
        if (!embedded) return std::unexpected(embedded.error());
        if (embedded->kind == ExprValue::Kind::kUseDefault) use_default_ = true;
        v += embedded->str();
      } else {
        v.push_back(c);
      }
    }
    if (eof()) return fail(start, "unterminated double-quoted string");
    take();
    if (use_default_ && !v.empty()) {
      return fail(start,
                  "use_default / use_nil must be the whole value (\"#{ENV['X'] || "
                  "use_default}\")");
    }
    return v;
  }

  static char unescape(char c) {
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case 'f':
        return '\f';
      case 'b':
        return '\b';
      case 'v':
        return '\v';
      case 'a':
        return '\a';
      case 'e':
        return '\x1b';
      case 's':
        return ' ';
      case '0':
        return '\0';
      default:
        return c;  // \" \\ \# \' and any other char stand for themselves
    }
  }

  // "#{...}": the embedded Ruby idioms of config_expr.h; Fluentd would run any
  // Ruby here, agentd evaluates only those.
  Result<ExprValue> parse_embedded() {
    Location start = here();
    take();  // '{'
    std::size_t end = embedded_end(std::string_view(text_).substr(pos_));
    if (end == std::string_view::npos) {
      return fail(start, "unterminated #{...} in double-quoted string");
    }
    std::string code = text_.substr(pos_, end);
    pos_ += end + 1;
    ExprEnv env{getenv_ ? std::function<const char*(const char*)>(getenv_) : nullptr, nullptr,
                worker_};
    auto v = eval_embedded(code, env);
    if (!v) return fail(start, v.error().message);
    return v;
  }

  // A JSON array or object, possibly over several lines; returned as raw text.
  Result<std::string> parse_json_literal() {
    Location start = here();
    std::string v;
    int depth = 0;
    bool in_string = false;
    while (!eof()) {
      char c = take();
      v.push_back(c);
      if (in_string) {
        if (c == '\\' && !eof()) {
          v.push_back(take());
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') in_string = true;
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') {
        if (--depth == 0) return v;
      }
      if (c == '\n' && depth == 1 && v.find_first_of(",\"") == std::string::npos && v.size() > 1 &&
          v[0] == '[') {
        break;  // "[foo" on one line is not JSON; fall through to the error
      }
    }
    return fail(start, "unterminated array or hash value starting '" + v.substr(0, 40) + "'");
  }

  Status include(Element& into, const Param& p) {
    if (depth_ >= kMaxIncludeDepth) return fail(p.where, "@include nested too deeply (cycle?)");
    if (p.value.empty()) return fail(p.where, "@include needs a path");
    if (p.value.find("://") != std::string::npos) {
      return fail(p.where, "@include of a URL is not supported: '" + p.value + "'");
    }
    if (not_read_) {  // resolved where the config runs, never here
      not_read_->push_back(p.value);
      return {};
    }
    std::filesystem::path target(p.value);
    if (target.is_relative()) target = std::filesystem::path(file_).parent_path() / target;
    bool has_glob = p.value.find_first_of("*?[") != std::string::npos;
    glob_t g{};
    int rc = glob(target.c_str(), 0, nullptr, &g);
    if (sources_) sources_->patterns.push_back(target.lexically_normal().string());
    std::vector<std::string> files;
    if (rc == 0) files.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);  // glob(3) sorts
    globfree(&g);
    if (files.empty() && !has_glob) {
      return fail(p.where, "@include file '" + target.string() + "' does not exist");
    }
    if (files.empty() && warnings_) {  // Fluentd's glob semantics: nothing to include
      warnings_->push_back(p.where.str() + ": @include '" + p.value +
                           "' matches no file: nothing is included");
    }
    for (const auto& f : files) {
      auto text = read_whole_file(f);
      if (!text) return fail(p.where, text.error().message);
      if (sources_) sources_->files.push_back(f);
      Parser sub(*text, f, getenv_, depth_ + 1, sources_);
      sub.warnings_ = warnings_;
      Element holder;
      holder.where = sub.here();
      if (auto s = sub.parse_body(holder, ""); !s) return s;
      for (auto& q : holder.params) into.params.push_back(std::move(q));
      for (auto& c : holder.children) into.children.push_back(std::move(c));
    }
    return {};
  }

  const std::string& text_;
  std::string file_;
  const GetEnv& getenv_;
  std::string worker_ = "0";  // #{worker_id} here (see parse_body)

 public:
  std::vector<std::string>* warnings_ = nullptr;  // the root's (Element::warnings)

 private:
  ConfigSources* sources_;
  std::vector<std::string>* not_read_;
  bool use_default_ = false;  // the value being parsed said use_default / use_nil
  int depth_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

const Param* Element::find(const std::string& key) const {
  for (const auto& p : params) {
    if (p.key == key) return &p;
  }
  return nullptr;
}

std::vector<const Element*> Element::children_named(const std::string& want) const {
  std::vector<const Element*> out;
  for (const auto& c : children) {
    if (c.name == want) out.push_back(&c);
  }
  return out;
}

namespace {
Result<Element> parse_text(const std::string& text, const std::string& file_name,
                           const GetEnv& getenv_fn, ConfigSources* sources,
                           std::vector<std::string>* not_read = nullptr) {
  Parser parser(text, file_name, getenv_fn, 0, sources, not_read);
  Element root;
  root.name = "ROOT";
  root.where = Location{file_name, 1};
  parser.warnings_ = &root.warnings;
  if (auto s = parser.parse_body(root, ""); !s) return std::unexpected(s.error());
  return root;
}

}  // namespace

Result<Element> parse_string(const std::string& text, const std::string& file_name,
                             const GetEnv& getenv_fn) {
  return parse_text(text, file_name, getenv_fn, nullptr);
}

Result<Element> parse_string_unresolved(const std::string& text, const std::string& file_name,
                                        const GetEnv& getenv_fn,
                                        std::vector<std::string>& includes) {
  return parse_text(text, file_name, getenv_fn, nullptr, &includes);
}

Result<Element> parse_file(const std::string& path, const GetEnv& getenv_fn,
                           ConfigSources* sources) {
  if (sources) sources->files.push_back(path);
  auto text = read_whole_file(path);
  if (!text) return std::unexpected(text.error());
  return parse_text(*text, path, getenv_fn, sources);
}

}  // namespace logctl::config
