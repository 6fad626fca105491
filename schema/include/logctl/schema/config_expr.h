// The embedded Ruby of real Fluentd configs — "#{...}" inside a double-quoted
// value — evaluated by a small interpreter of the idioms configs use, never by
// a Ruby: nothing here can run a command, read a file or loop.
//
//   stmts    := stmt (';' stmt)*             the last statement's value
//   stmt     := NAME '=' stmt | rescue       a local variable (read by its NAME after)
//   rescue   := ternary ('rescue' ternary)*  the right side when the left raised
//   ternary  := expr ('?' ternary ':' ternary)?
//   expr     := term ('||' term)*            Ruby's ||: the left value unless nil or
//                                            false (the right side then does not run)
//   term     := postfix ('+' postfix)*       string concatenation (nil + ...: raises)
//   postfix  := primary ('.to_s' | '.to_i' | '.strip' | '.downcase' | '.upcase'
//                        | '.ipv6?' | '.ipv4?')*
//   primary  := 'string' | "string" | integer | true | false | nil | '(' stmts ')'
//             | ENV['NAME']                  the variable, nil when unset
//             | ENV.fetch('NAME'[, stmt])    the variable, else the default, else raises
//             | IPAddr.new(stmt)             an IPv4/IPv6 address, else raises
//             | File.join(stmt, ...)         joined with '/', as Ruby's
//             | Socket.gethostname | hostname
//             | worker_id                    "0"; N inside <worker N>
//             | NAME                         a local variable
//             | use_default | use_nil        the whole value: leave the parameter
//                                            unset, so its default applies
//
// That is what the official Kubernetes DaemonSet configs write, e.g.
//   ENV['URL'] || (host = ENV.fetch('HOST'); port = ENV.fetch('PORT');
//     host = (IPAddr.new(host).ipv6? ? '[' + host + ']' : host rescue host);
//     'https://' + host + ':' + port + '/api')
// What raises where no rescue takes it is an error naming the expression and
// the cause; anything else is an error naming what was not understood.
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
  // use_nil is kUseDefault (see above); kBool's text is "true"/"false" and
  // kIpAddr's the address (IPAddr#to_s), as an interpolation writes them.
  enum class Kind { kString, kNil, kUseDefault, kBool, kIpAddr };
  Kind kind = Kind::kNil;
  std::string text;
  // As Ruby's to_s in an interpolation: nil is "".
  std::string str() const { return kind == Kind::kNil || kind == Kind::kUseDefault ? "" : text; }
};

// `code` is what stands between "#{" and "}". kInvalidArgument names it.
Result<ExprValue> eval_embedded(std::string_view code, const ExprEnv& env);

// Where the "}" that closes an embedded expression starting at code[0] is
// (quotes and parentheses respected), or npos.
std::size_t embedded_end(std::string_view text);

}  // namespace logctl::config
