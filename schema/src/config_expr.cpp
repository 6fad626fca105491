#include "logctl/schema/config_expr.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <optional>

namespace logctl::config {
namespace {

using Kind = ExprValue::Kind;

ExprValue str(std::string s) {
  return ExprValue{Kind::kString, std::move(s)};
}

class Eval {
 public:
  Eval(std::string_view code, const ExprEnv& env) : code_(code), env_(env) {}

  Result<ExprValue> run() {
    auto v = expr();
    if (!v) return v;
    skip();
    if (pos_ != code_.size())
      return fail("unexpected '" + std::string(code_.substr(pos_, 12)) + "'");
    return v;
  }

 private:
  std::unexpected<Error> fail(const std::string& what) const {
    return make_error(
        ErrorCode::kInvalidArgument,
        "embedded Ruby '#{" + std::string(code_) + "}': " + what +
            " (supported: string, number, true/false/nil literals, ENV['X'], "
            "ENV.fetch('X', default), ||, +, File.join, Socket.gethostname, hostname, worker_id, "
            "use_default, use_nil, .to_s/.to_i/.strip/.downcase/.upcase)");
  }

  void skip() {
    while (pos_ < code_.size() && std::isspace(static_cast<unsigned char>(code_[pos_]))) ++pos_;
  }
  bool eat(std::string_view tok) {
    skip();
    if (code_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  std::string ident() {
    skip();
    std::string id;
    while (pos_ < code_.size() &&
           (std::isalnum(static_cast<unsigned char>(code_[pos_])) || code_[pos_] == '_')) {
      id.push_back(code_[pos_++]);
    }
    return id;
  }

  Result<ExprValue> expr() {
    auto left = term();
    if (!left) return left;
    while (eat("||")) {
      auto right = term();
      if (!right) return right;
      if (left->kind == Kind::kNil) left = std::move(right);
    }
    return left;
  }

  Result<ExprValue> term() {
    auto left = postfix();
    if (!left) return left;
    while (eat("+")) {
      auto right = postfix();
      if (!right) return right;
      if (left->kind != Kind::kString || right->kind != Kind::kString) {
        return fail("'+' needs two strings (a nil: is the environment variable unset?)");
      }
      left->text += right->text;
    }
    return left;
  }

  Result<ExprValue> postfix() {
    auto v = primary();
    if (!v) return v;
    for (;;) {
      std::size_t save = pos_;
      if (!eat(".")) break;
      std::string m = ident();
      if (m == "to_s") {
        v = str(v->str());
      } else if (m == "to_i") {
        std::string s = v->str(), digits;
        std::size_t i = s.find_first_not_of(" \t");
        if (i != std::string::npos && (s[i] == '-' || s[i] == '+')) digits.push_back(s[i++]);
        while (i != std::string::npos && i < s.size() &&
               std::isdigit(static_cast<unsigned char>(s[i])))
          digits.push_back(s[i++]);
        v = str(digits.empty() || digits == "-" || digits == "+" ? "0" : digits);
      } else if (m == "strip" || m == "downcase" || m == "upcase") {
        if (v->kind != Kind::kString) return fail("'." + m + "' of nil");
        std::string s = v->text;
        if (m == "strip") {
          std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
          s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
        }
        for (char& c : s) {
          if (m == "downcase") c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (m == "upcase") c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        v = str(s);
      } else {
        pos_ = save;
        return fail("method '." + m + "' is not supported");
      }
    }
    return v;
  }

  Result<std::string> quoted() {
    skip();
    if (pos_ >= code_.size() || (code_[pos_] != '\'' && code_[pos_] != '"')) {
      return fail("expected a quoted string");
    }
    char q = code_[pos_++];
    std::string s;
    while (pos_ < code_.size() && code_[pos_] != q) {
      char c = code_[pos_++];
      if (c == '\\' && pos_ < code_.size()) {
        char n = code_[pos_++];
        if (q == '\'') {
          if (n != '\'' && n != '\\') s.push_back('\\');
          s.push_back(n);
        } else {
          s.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
        }
        continue;
      }
      if (q == '"' && c == '#' && pos_ < code_.size() && code_[pos_] == '{') {
        return std::unexpected(fail("nested interpolation is not supported").error());
      }
      s.push_back(c);
    }
    if (pos_ >= code_.size()) return std::unexpected(fail("unterminated string").error());
    ++pos_;
    return s;
  }

  Result<ExprValue> env_var(const std::string& name, bool fetch) {
    if (name.empty()) return fail("an empty variable name");
    const char* v = env_.getenv ? env_.getenv(name.c_str()) : std::getenv(name.c_str());
    if (v) return str(v);
    if (!fetch) return ExprValue{};
    return fail("ENV.fetch('" + name + "') without a default, and " + name + " is not set");
  }

  Result<ExprValue> primary() {
    skip();
    if (pos_ >= code_.size()) return fail("an expression is missing");
    char c = code_[pos_];
    if (c == '\'' || c == '"') {
      auto s = quoted();
      if (!s) return std::unexpected(s.error());
      return str(std::move(*s));
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      std::string n(1, code_[pos_++]);
      while (pos_ < code_.size() && std::isdigit(static_cast<unsigned char>(code_[pos_]))) {
        n.push_back(code_[pos_++]);
      }
      if (n == "-") return fail("a '-' without a number");
      return str(n);
    }
    if (eat("(")) {
      auto v = expr();
      if (!v) return v;
      if (!eat(")")) return fail("a '(' is not closed");
      return v;
    }
    std::string id = ident();
    if (id == "ENV") {
      if (eat("[")) {
        auto name = quoted();
        if (!name) return std::unexpected(name.error());
        if (!eat("]")) return fail("ENV[ is not closed");
        return env_var(*name, false);
      }
      if (eat(".")) {
        if (ident() != "fetch" || !eat("(")) return fail("ENV only takes [NAME] and .fetch(NAME)");
        auto name = quoted();
        if (!name) return std::unexpected(name.error());
        std::optional<ExprValue> fallback;
        if (eat(",")) {
          auto d = expr();
          if (!d) return d;
          fallback = std::move(*d);
        }
        if (!eat(")")) return fail("ENV.fetch( is not closed");
        const char* v = env_.getenv ? env_.getenv(name->c_str()) : std::getenv(name->c_str());
        if (v) return str(v);
        if (fallback) return *fallback;
        return env_var(*name, true);
      }
      return fail("ENV only takes [NAME] and .fetch(NAME)");
    }
    if (id == "File") {
      if (!eat(".") || ident() != "join" || !eat("(")) return fail("File only takes .join(...)");
      std::string out;
      bool first = true;
      do {
        auto part = expr();
        if (!part) return part;
        if (part->kind != Kind::kString) return fail("File.join of nil");
        if (!first) {
          while (!out.empty() && out.back() == '/') out.pop_back();
          std::string p = part->text;
          std::size_t b = p.find_first_not_of('/');
          out += "/" + (b == std::string::npos ? "" : p.substr(b));
        } else {
          out = part->text;
        }
        first = false;
      } while (eat(","));
      if (!eat(")")) return fail("File.join( is not closed");
      return str(out);
    }
    if (id == "Socket") {
      if (!eat(".") || ident() != "gethostname") return fail("Socket only takes .gethostname");
      return str(host());
    }
    if (id == "hostname") return str(host());
    if (id == "worker_id") return str(env_.worker_id);
    if (id == "use_default" || id == "use_nil") return ExprValue{Kind::kUseDefault, ""};
    if (id == "nil") return ExprValue{};
    if (id == "true" || id == "false") return str(id);  // interpolated as their text
    return fail(id.empty() ? "unexpected '" + std::string(1, c) + "'"
                           : "'" + id + "' is not supported");
  }

  std::string host() const {
    if (env_.hostname) return env_.hostname();
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
  }

  std::string_view code_;
  const ExprEnv& env_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<ExprValue> eval_embedded(std::string_view code, const ExprEnv& env) {
  if (code.size() > 4096) {
    return make_error(ErrorCode::kInvalidArgument, "embedded Ruby longer than 4096 bytes");
  }
  return Eval(code, env).run();
}

std::size_t embedded_end(std::string_view text) {
  char quote = 0;
  int parens = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') return std::string_view::npos;
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    if (c == '(') ++parens;
    if (c == ')') --parens;
    if (c == '}' && parens <= 0) return i;
  }
  return std::string_view::npos;
}

}  // namespace logctl::config
