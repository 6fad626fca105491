// The embedded Ruby of real Fluentd configs — "#{...}" inside a double-quoted
// value — evaluated by a small interpreter of the idioms configs use, never by
// a Ruby: nothing here can run a command, read a file or loop.
//
//   expr     := term ('||' term)*            Ruby's ||: the left value unless nil
//   term     := postfix ('+' postfix)*       string concatenation (nil + ...: error)
//   postfix  := primary ('.to_s' | '.to_i' | '.strip' | '.downcase' | '.upcase')*
//   primary  := 'string' | "string" | integer | '(' expr ')'
//             | ENV['NAME']                  the variable, nil when unset
//             | ENV.fetch('NAME'[, expr])    the variable, else the default, else an error
//             | File.join(expr, ...)         joined with '/', as Ruby's
//             | Socket.gethostname | hostname
//             | worker_id                    "0"; N inside <worker N>
//             | use_default | use_nil        the whole value: leave the parameter
//                                            unset, so its default applies
//
// Anything else is an error naming the expression and what was not understood.
// Thread safety: pure; `Env`'s functions are called on the caller's thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "logctl/schema/result.h"

namespace logctl::config {

struct ExprEnv {
  std::function<const char*(const char*)> getenv;  // null: std::getenv
  std::function<std::string()> hostname;           // null: gethostname(2)
  std::string worker_id = "0";  // inside <worker N>: N (agentd runs them all in one worker)
};

struct ExprValue {
  enum class Kind { kString, kNil, kUseDefault };  // use_nil is kUseDefault (see above)
  Kind kind = Kind::kNil;
  std::string text;
  // As Ruby's to_s in an interpolation: nil is "".
  std::string str() const { return kind == Kind::kString ? text : ""; }
};

// `code` is what stands between "#{" and "}". kInvalidArgument names it.
Result<ExprValue> eval_embedded(std::string_view code, const ExprEnv& env);

// Where the "}" that closes an embedded expression starting at code[0] is
// (quotes and parentheses respected), or npos.
std::size_t embedded_end(std::string_view text);

}  // namespace logctl::config
