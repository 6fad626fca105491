#include "logctl/schema/config_expr.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <map>
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
    auto v = stmts();
    if (!v) return v;
    skip();
    if (pos_ != code_.size())
      return fail("unexpected '" + std::string(code_.substr(pos_, 12)) + "'");
    if (raised_) return std::unexpected(*raised_);
    return v;
  }

 private:
  // A construct this evaluator does not take (or bad syntax): never rescued.
  std::unexpected<Error> fail(const std::string& what) const {
    return make_error(
        ErrorCode::kInvalidArgument,
        "embedded Ruby '#{" + std::string(code_) + "}': " + what +
            " (supported: string, number, true/false/nil literals, ENV['X'], "
            "ENV.fetch('X', default), ||, +, a ? b : c, x rescue y, name = value; ..., "
            "File.join, Socket.gethostname, hostname, worker_id, IPAddr.new(x).ipv6?/.ipv4?, "
            "use_default, use_nil, .to_s/.to_i/.strip/.downcase/.upcase)");
  }

  // What Ruby raises while it runs (ENV.fetch of an unset name, nil + "x",
  // IPAddr.new of a name): `rescue` takes it; else it is the result. From
  // here on nothing runs (values are nil) until a rescue resumes.
  ExprValue raise(const std::string& what) {
    if (live_) {
      raised_ = fail(what).error();
      live_ = false;
    }
    return ExprValue{};
  }

  static bool truthy(const ExprValue& v) {
    return v.kind != Kind::kNil && !(v.kind == Kind::kBool && v.text == "false");
  }
  static ExprValue boolean(bool b) { return ExprValue{Kind::kBool, b ? "true" : "false"}; }

  void skip() {
    while (pos_ < code_.size() && std::isspace(static_cast<unsigned char>(code_[pos_]))) ++pos_;
  }
  bool eat(std::string_view tok) {
    skip();
    if (code_.substr(pos_, tok.size()) != tok) return false;
    pos_ += tok.size();
    return true;
  }
  static bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  // A keyword: the word and not the start of a longer name.
  bool eat_word(std::string_view w) {
    skip();
    if (code_.substr(pos_, w.size()) != w) return false;
    if (pos_ + w.size() < code_.size() && word_char(code_[pos_ + w.size()])) return false;
    pos_ += w.size();
    return true;
  }
  std::string ident() {
    skip();
    std::string id;
    while (pos_ < code_.size() && word_char(code_[pos_])) id.push_back(code_[pos_++]);
    return id;
  }

  // stmts := stmt (';' stmt)*   the last one's value
  Result<ExprValue> stmts() {
    if (++depth_ > kMaxDepth) return fail("nested too deep");
    auto v = stmt();
    while (v && eat(";")) v = stmt();
    --depth_;
    return v;
  }

  // stmt := NAME '=' stmt | rescue_expr
  Result<ExprValue> stmt() {
    skip();
    std::size_t save = pos_;
    std::string name = ident();
    if (!name.empty() && !std::isupper(static_cast<unsigned char>(name[0])) && !keyword(name)) {
      skip();
      if (pos_ < code_.size() && code_[pos_] == '=' &&
          (pos_ + 1 >= code_.size() || code_[pos_ + 1] != '=')) {
        ++pos_;
        auto v = stmt();
        if (!v) return v;
        auto& slot = vars_[name];  // declared even where it does not run, as Ruby's parser does
        if (live_) slot = *v;
        return v;
      }
    }
    pos_ = save;
    return rescue_expr();
  }

  static bool keyword(const std::string& w) {
    return w == "nil" || w == "true" || w == "false" || w == "rescue" || w == "hostname" ||
           w == "worker_id" || w == "use_default" || w == "use_nil";
  }

  // rescue_expr := ternary ('rescue' ternary)*
  Result<ExprValue> rescue_expr() {
    bool was_live = live_;
    auto left = ternary();
    if (!left) return left;
    while (eat_word("rescue")) {
      bool caught = was_live && raised_.has_value();
      if (caught) {
        raised_.reset();
        live_ = true;
      } else {
        live_ = false;  // nothing to rescue: the fallback is only read
      }
      auto right = ternary();
      if (!right) return right;
      if (caught) {
        left = std::move(right);
      } else {
        live_ = was_live && !raised_;
      }
    }
    return left;
  }

  // ternary := or ('?' ternary ':' ternary)?
  Result<ExprValue> ternary() {
    auto cond = expr();
    if (!cond) return cond;
    if (!eat("?")) return cond;
    bool was_live = live_, yes = truthy(*cond);
    live_ = was_live && yes;
    auto a = ternary();
    if (!a) return a;
    if (!eat(":")) return fail("a '?' without its ':'");
    live_ = was_live && !yes && !raised_;
    auto b = ternary();
    if (!b) return b;
    live_ = was_live && !raised_;
    return yes ? a : b;
  }

  // Ruby's ||: the left value unless it is nil or false (the right side
  // then does not run).
  Result<ExprValue> expr() {
    auto left = term();
    if (!left) return left;
    while (eat("||")) {
      bool was_live = live_, done = truthy(*left);
      if (done) live_ = false;
      auto right = term();
      if (!right) return right;
      if (done) {
        live_ = was_live;
      } else {
        left = std::move(right);
      }
    }
    return left;
  }

  Result<ExprValue> term() {
    auto left = postfix();
    if (!left) return left;
    while (eat("+")) {
      auto right = postfix();
      if (!right) return right;
      if (!live_) continue;
      if (left->kind != Kind::kString || right->kind != Kind::kString) {
        *left = raise("'+' needs two strings (a nil: is the environment variable unset?)");
        continue;
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
      if ((m == "ipv6" || m == "ipv4") && pos_ < code_.size() && code_[pos_] == '?') {
        ++pos_;
        if (!live_) continue;
        if (v->kind != Kind::kIpAddr) {
          v = raise("'." + m + "?' of something that is not an IPAddr");
          continue;
        }
        v = boolean(v->text.find(':') != std::string::npos ? m == "ipv6" : m == "ipv4");
      } else if (m == "to_s") {
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
        if (!live_) continue;
        if (v->kind != Kind::kString) {
          v = raise("'." + m + "' of nil");
          continue;
        }
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

  ExprValue env_var(const std::string& name) const {
    const char* v = env_.getenv ? env_.getenv(name.c_str()) : std::getenv(name.c_str());
    return v ? str(v) : ExprValue{};
  }

  // IPAddr.new(text): an IPv4 or IPv6 address (in brackets, with a /prefix
  // or not), else Ruby's IPAddr::InvalidAddressError.
  ExprValue ip_addr(const ExprValue& v) {
    if (v.kind != Kind::kString) return raise("IPAddr.new of nil");
    std::string a = v.text;
    if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
    if (auto slash = a.find('/'); slash != std::string::npos) {
      std::string bits = a.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 ||
          bits.find_first_not_of("0123456789") != std::string::npos) {
        return raise("invalid address: " + v.text);
      }
      a.resize(slash);
    }
    unsigned char buf[16];
    char text[64];
    for (int family : {AF_INET, AF_INET6}) {
      if (inet_pton(family, a.c_str(), buf) == 1 && inet_ntop(family, buf, text, sizeof text)) {
        return ExprValue{Kind::kIpAddr, text};
      }
    }
    return raise("invalid address: " + v.text);
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
      auto v = stmts();
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
        if (name->empty()) return fail("an empty variable name");
        return env_var(*name);
      }
      if (eat(".")) {
        if (ident() != "fetch" || !eat("(")) return fail("ENV only takes [NAME] and .fetch(NAME)");
        auto name = quoted();
        if (!name) return std::unexpected(name.error());
        if (name->empty()) return fail("an empty variable name");
        std::optional<ExprValue> fallback;
        if (eat(",")) {
          auto d = stmt();
          if (!d) return d;
          fallback = std::move(*d);
        }
        if (!eat(")")) return fail("ENV.fetch( is not closed");
        ExprValue v = env_var(*name);
        if (v.kind != Kind::kNil) return v;
        if (fallback) return *fallback;
        return raise("ENV.fetch('" + *name + "') without a default, and " + *name + " is not set");
      }
      return fail("ENV only takes [NAME] and .fetch(NAME)");
    }
    if (id == "IPAddr") {
      if (!eat(".") || ident() != "new" || !eat("(")) return fail("IPAddr only takes .new(x)");
      auto v = stmt();
      if (!v) return v;
      if (!eat(")")) return fail("IPAddr.new( is not closed");
      return live_ ? ip_addr(*v) : ExprValue{};
    }
    if (id == "File") {
      if (!eat(".") || ident() != "join" || !eat("(")) return fail("File only takes .join(...)");
      std::string out;
      bool first = true;
      bool nil = false;
      do {
        auto part = stmt();
        if (!part) return part;
        if (part->kind != Kind::kString) nil = true;
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
      if (nil && live_) return raise("File.join of nil");
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
    if (id == "true" || id == "false") return boolean(id == "true");
    if (auto var = vars_.find(id); var != vars_.end()) return var->second;
    return fail(id.empty() ? "unexpected '" + std::string(1, c) + "'"
                           : "'" + id + "' is not supported");
  }

  std::string host() const {
    if (env_.hostname) return env_.hostname();
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
  }

  static constexpr int kMaxDepth = 64;
  std::string_view code_;
  const ExprEnv& env_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  bool live_ = true;             // false: read without running (a branch not taken)
  std::optional<Error> raised_;  // what Ruby would have raised, for a rescue
  std::map<std::string, ExprValue> vars_;
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
