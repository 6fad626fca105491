// The embedded Ruby idioms of real Fluentd configs, evaluated without a Ruby
// (config_expr.h), and what the parser does with them.
#include <catch2/catch.hpp>

#include "logctl/schema/config.h"
#include "logctl/schema/config_expr.h"
#include "logctl/schema/pipeline_config.h"
#include "logctl/schema/values.h"

using namespace logctl::config;

namespace {

const char* fake_env(const char* name) {
  std::string n = name;
  if (n == "LOG_DIR") return "/var/log/app";
  if (n == "FLUENT_PORT") return "24225";
  if (n == "EMPTY") return "";
  if (n == "MIXED") return "  Prod  ";
  if (n == "KUBERNETES_SERVICE_PORT") return "443";
  if (n == "V4_HOST") return "10.96.0.1";
  if (n == "V6_HOST") return "fd00:0::1";
  if (n == "NAME_HOST") return "kubernetes.default.svc";
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
  // The DaemonSet's "#{ENV['KUBERNETES_VERIFY_SSL'] || true}" and "|| 60".
  CHECK(eval("ENV['NOPE'] || true") == "true");
  CHECK(eval("ENV['NOPE'] || false") == "false");
  CHECK(eval("ENV['NOPE'] || 60") == "60");
}

// The official Kubernetes DaemonSet's kubernetes_url: the service host in
// brackets when it is IPv6, a name kept as it is (IPAddr raises, rescued).
std::string daemonset_url(const std::string& host_var) {
  return eval("ENV['NOPE'] || (host = ENV.fetch('" + host_var +
              "'); port = ENV.fetch('KUBERNETES_SERVICE_PORT'); host = "
              "(IPAddr.new(host).ipv6? ? '[' + host + ']' : host rescue host); 'https://' + host "
              "+ ':' + port + '/api')");
}

TEST_CASE("embedded Ruby: the DaemonSet's assignments, ternary, rescue and IPAddr") {
  CHECK(daemonset_url("V4_HOST") == "https://10.96.0.1:443/api");
  CHECK(daemonset_url("V6_HOST") == "https://[fd00:0::1]:443/api");
  CHECK(daemonset_url("NAME_HOST") == "https://kubernetes.default.svc:443/api");
  // Unset, ENV.fetch raises and nothing rescues it: the error says so.
  CHECK_THAT(error("ENV['NOPE'] || (host = ENV.fetch('NOPE_HOST'); 'https://' + host)"),
             Catch::Contains("NOPE_HOST is not set"));
  // || does not run its right side when the left is set (it would raise).
  CHECK(eval("ENV['LOG_DIR'] || ENV.fetch('NOPE')") == "/var/log/app");
  CHECK(eval("ENV['NOPE'] || false || 'x'") == "x");
  CHECK(eval("true ? 'yes' : ENV.fetch('NOPE')") == "yes");
  CHECK(eval("ENV['NOPE'] ? ENV.fetch('NOPE') : 'no'") == "no");
  CHECK(eval("ENV['EMPTY'] ? 'empty is true' : 'no'") == "empty is true");
  CHECK(eval("ENV.fetch('NOPE') rescue 'fallback'") == "fallback");
  CHECK(eval("ENV['LOG_DIR'] rescue ENV.fetch('NOPE')") == "/var/log/app");
  CHECK(eval("ENV['NOPE'] + 'x' rescue 'caught'") == "caught");
  CHECK(eval("a = 'x'; b = a + 'y'; b + a") == "xyx");
  CHECK(eval("IPAddr.new('[::1]').ipv6?") == "true");
  CHECK(eval("IPAddr.new('10.0.0.0/8').ipv4?") == "true");
  CHECK(eval("IPAddr.new('10.0.0.0/8').to_s") == "10.0.0.0");
  CHECK(eval("IPAddr.new('fd00:0:0::1').to_s") == "fd00::1");
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
  CHECK_THAT(error("1 + 1; exit"), Catch::Contains("'exit' is not supported"));
  CHECK_THAT(error("x = 1; y"), Catch::Contains("'y' is not supported"));
  CHECK_THAT(error("ENV['NOPE'] ? 'a'"), Catch::Contains("without its ':'"));
  CHECK_THAT(error("IPAddr.new('nope').ipv6?"), Catch::Contains("invalid address: nope"));
  CHECK_THAT(error("'a'.ipv6?"), Catch::Contains("not an IPAddr"));
  CHECK_THAT(error(std::string(100, '(') + "1" + std::string(100, ')')),
             Catch::Contains("nested too deep"));
  // A rescue takes what Ruby raises, never a construct it does not know.
  CHECK_THAT(error("Kernel.exit rescue 'x'"), Catch::Contains("'Kernel' is not supported"));
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

TEST_CASE("v0.12 spellings are read as their v1 form with a warning naming the line") {
  auto root = parse_string(R"(<source>
  type tail
  path /var/log/app.log
  pos_file /var/lib/app.pos
  tag app
  format /^(?<host>[^ ]*) (?<msg>.*)$/
  time_format %d/%b/%Y:%H:%M:%S %z
</source>
<source>
  type tcp
  port 5170
  tag raw
  delimiter "\n"
  format json
  source_host_key host
</source>
<match app.**>
  type file
  path /var/log/out
  buffer_type file
  buffer_path /var/lib/buf
  buffer_chunk_limit 4MB
  buffer_queue_limit 64
  flush_interval 5s
  time_slice_format %Y%m%d%H
  format json
  retry_limit 5
  num_threads 2
</match>
<match other>
  type forward
  buffer_queue_full_action exception
  <server>
    host 127.0.0.1
  </server>
</match>
)",
                           "old.conf");
  REQUIRE(root);
  auto cfg = validate(*root);
  INFO((cfg ? "" : cfg.error().message));
  REQUIRE(cfg);
  const Section* tail_parse = cfg->sources[0].child("parse");
  CHECK(tail_parse->type() == "regexp");
  CHECK(tail_parse->str("expression") == "/^(?<host>[^ ]*) (?<msg>.*)$/");
  CHECK(tail_parse->str("time_format") == "%d/%b/%Y:%H:%M:%S %z");
  const Section& tcp = cfg->sources[1];
  CHECK(tcp.child("parse")->type() == "json");
  CHECK(tcp.str("delimiter") == "\n");  // in_tcp's own: kept
  CHECK(tcp.str("source_hostname_key") == "host");
  const Section& file = cfg->matches[0].output;
  const Section* buf = file.child("buffer");
  CHECK(buf->type() == "file");
  CHECK(buf->arg() == "time");
  CHECK(buf->str("path") == "/var/lib/buf");
  CHECK(buf->size("chunk_limit_size") == 4u << 20);
  CHECK(buf->integer("queue_limit_length") == 64);
  CHECK(buf->number("flush_interval") == 5);
  CHECK(buf->number("timekey") == 3600);
  CHECK(buf->integer("retry_max_times") == 5);
  CHECK(buf->integer("flush_thread_count") == 2);
  CHECK(file.child("format")->type() == "json");
  CHECK(cfg->matches[1].output.child("buffer")->str("overflow_action") == "throw_exception");
  std::string all;
  for (const auto& w : cfg->warnings) all += w + "\n";
  CHECK_THAT(all, Catch::Contains("old.conf:2: 'type' is the v0.12 spelling of '@type'"));
  CHECK_THAT(all, Catch::Contains("old.conf:6: v0.12 parser parameters"));
  CHECK_THAT(all, Catch::Contains("old.conf:15: 'source_host_key'"));
  CHECK_THAT(all, Catch::Contains("<buffer time> @type file;"));
}

TEST_CASE("configs without <source> or <match> run with a warning") {
  auto root = parse_string("<match **>\n  @type null\n</match>\n", "m.conf");
  REQUIRE(root);
  auto cfg = validate(*root);
  REQUIRE(cfg);
  REQUIRE(cfg->warnings.size() == 1);
  CHECK_THAT(cfg->warnings[0], Catch::Contains("no <source>"));
  CHECK(logctl::config::parse_size("4KB") == 4096u);
  CHECK(logctl::config::parse_size("512B") == 512u);
  CHECK_FALSE(logctl::config::parse_size("B"));
}

TEST_CASE("near-miss names get a did-you-mean naming the line") {
  auto err = [](const std::string& text) {
    auto root = parse_string(text, "dym.conf");
    REQUIRE(root);
    auto cfg = validate(*root);
    REQUIRE_FALSE(cfg);
    return cfg.error().message;
  };
  std::string tail = "<source>\n  @type tail\n  path /x\n  tag t\n";
  {  // a warning (the config runs, as in Fluentd), with its hint
    auto root = parse_string(
        tail + "  pos_fle /p\n  <parse>\n    @type none\n  </parse>\n</source>\n", "dym.conf");
    REQUIRE(root);
    auto cfg = validate(*root);
    REQUIRE(cfg);
    REQUIRE_FALSE(cfg->warnings.empty());
    CHECK_THAT(cfg->warnings.front(), Catch::Contains("dym.conf:5: unknown parameter 'pos_fle'") &&
                                          Catch::Contains("did you mean 'pos_file'?"));
  }
  CHECK_THAT(err(tail + "  <parser>\n    @type none\n  </parser>\n</source>\n"),
             Catch::Contains("dym.conf:5: unexpected section <parser>") &&
                 Catch::Contains("did you mean 'parse'?"));
  CHECK_THAT(err("<sorce>\n</sorce>\n"), Catch::Contains("did you mean 'source'?"));
  auto far = parse_string(tail + "  <parse>\n    @type none\n  </parse>\n  zzzzzz 1\n</source>\n",
                          "dym.conf");
  REQUIRE(far);
  auto far_cfg = validate(*far);
  REQUIRE(far_cfg);
  CHECK_THAT(far_cfg->warnings.front(),
             Catch::Contains("unknown parameter 'zzzzzz'") && !Catch::Contains("did you mean"));
}
