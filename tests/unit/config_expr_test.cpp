// The embedded Ruby idioms of real Fluentd configs, evaluated without a Ruby
// (config_expr.h), and what the parser does with them.
#include <catch2/catch.hpp>

#include "logctl/schema/config.h"
#include "logctl/schema/config_expr.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl::config;

namespace {

const char* fake_env(const char* name) {
  std::string n = name;
  if (n == "LOG_DIR") return "/var/log/app";
  if (n == "FLUENT_PORT") return "24225";
  if (n == "EMPTY") return "";
  if (n == "MIXED") return "  Prod  ";
  return nullptr;
}

ExprEnv env() {
  return ExprEnv{fake_env, [] { return std::string("node-7"); }};
}

std::string eval(const std::string& code) {
  auto v = eval_embedded(code, env());
  REQUIRE(v);
  return v->kind == ExprValue::Kind::kUseDefault ? "<use_default>"
         : v->kind == ExprValue::Kind::kNil      ? "<nil>"
                                                 : v->text;
}

std::string error(const std::string& code) {
  auto v = eval_embedded(code, env());
  REQUIRE_FALSE(v);
  return v.error().message;
}

}  // namespace

TEST_CASE("embedded Ruby: the idioms real configs use") {
  CHECK(eval("ENV['LOG_DIR']") == "/var/log/app");
  CHECK(eval("ENV[\"LOG_DIR\"]") == "/var/log/app");
  CHECK(eval("ENV['NOPE']") == "<nil>");
  CHECK(eval("ENV['NOPE'] || 'fallback'") == "fallback");
  CHECK(eval("ENV['EMPTY'] || 'fallback'") == "");  // Ruby: "" is not nil
  CHECK(eval("ENV['LOG_DIR'] || 'fallback'") == "/var/log/app");
  CHECK(eval("ENV.fetch('FLUENT_PORT', '24224')") == "24225");
  CHECK(eval("ENV.fetch('NOPE', '24224')") == "24224");
  CHECK(eval("ENV.fetch('NOPE', 24224)") == "24224");
  CHECK(eval("ENV.fetch('NOPE', ENV['LOG_DIR'])") == "/var/log/app");
  CHECK(eval("File.join(ENV['LOG_DIR'], 'pos', 'tail.pos')") == "/var/log/app/pos/tail.pos");
  CHECK(eval("File.join('/a/', '/b')") == "/a/b");
  CHECK(eval("Socket.gethostname") == "node-7");
  CHECK(eval("hostname") == "node-7");
  CHECK(eval("worker_id") == "0");
  CHECK(eval("'k8s.' + hostname + '.log'") == "k8s.node-7.log");
  CHECK(eval("(ENV['NOPE'] || 'a') + 'b'") == "ab");
  CHECK(eval("ENV['NOPE'] || use_default") == "<use_default>");
  CHECK(eval("use_nil") == "<use_default>");
  CHECK(eval("ENV['MIXED'].strip.downcase") == "prod");
  CHECK(eval("ENV['NOPE'].to_s") == "");
  CHECK(eval("ENV['FLUENT_PORT'].to_i") == "24225");
  CHECK(eval("  ENV['LOG_DIR']  ") == "/var/log/app");
}

TEST_CASE("embedded Ruby: anything else is refused naming the expression") {
  CHECK_THAT(error("`rm -rf /`"), Catch::Contains("'#{`rm -rf /`}'"));
  CHECK_THAT(error("system('id')"), Catch::Contains("'system' is not supported"));
  CHECK_THAT(error("File.read('/etc/shadow')"), Catch::Contains("File only takes .join"));
  CHECK_THAT(error("ENV['NOPE'] + '/x'"), Catch::Contains("'+' needs two strings"));
  CHECK_THAT(error("ENV.fetch('NOPE')"), Catch::Contains("NOPE is not set"));
  CHECK_THAT(error("ENV['A'"), Catch::Contains("not closed"));
  CHECK_THAT(error("'abc"), Catch::Contains("unterminated string"));
  CHECK_THAT(error("hostname.send(:exit)"), Catch::Contains("'.send' is not supported"));
  CHECK_THAT(error("1 + 1; exit"), Catch::Contains("unexpected"));
  CHECK_THAT(error(""), Catch::Contains("missing"));
  CHECK_THAT(error(std::string(5000, 'a')), Catch::Contains("longer than 4096"));
}

TEST_CASE("embedded Ruby in a config: values and use_default") {
  auto root = parse_string(
      "<source>\n"
      "  @type tail\n"
      "  path \"#{ENV['LOG_DIR'] || '/var/log'}/*.log\"\n"
      "  pos_file \"#{File.join(ENV.fetch('NOPE', '/var/lib/agentd'), 'app.pos')}\"\n"
      "  tag \"app.#{Socket.gethostname}\"\n"
      "  read_from_head \"#{ENV['NOPE'] || use_default}\"\n"
      "  <parse>\n    @type none\n  </parse>\n"
      "</source>\n"
      "<match **>\n  @type null\n</match>\n",
      "t.conf", fake_env);
  REQUIRE(root);
  const Element& src = root->children[0];
  CHECK(src.find("path")->value == "/var/log/app/*.log");
  CHECK(src.find("pos_file")->value == "/var/lib/agentd/app.pos");
  CHECK(src.find("tag")->value.rfind("app.", 0) == 0);
  CHECK(src.find("read_from_head") == nullptr);  // as if not written: the default applies
  auto cfg = validate(*root);
  REQUIRE(cfg);
  CHECK_FALSE(cfg->sources[0].flag("read_from_head"));

  auto bad = parse_string("<source>\n  x \"a#{use_default}\"\n</source>\n", "t.conf", fake_env);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("t.conf:2") && Catch::Contains("whole value"));
  auto ruby = parse_string("<source>\n  x \"#{Dir.glob('*')}\"\n</source>\n", "t.conf", fake_env);
  REQUIRE_FALSE(ruby);
  CHECK_THAT(ruby.error().message, Catch::Contains("t.conf:2") && Catch::Contains("Dir"));
}
