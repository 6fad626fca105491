// Fuzzes the <parse> plugins (regexp, json, csv, tsv, ltsv, apache2,
// apache_error, nginx, syslog, cri, none, multi_format, multiline) with
// their time formats: nothing may crash, what parses must be well-formed
// [time, record] entries, and a parser that has parsed earlier inputs (its
// per-thread time cache warm) must give the same bytes as a fresh one.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "agentd/core/msgpack_view.h"
#include "agentd/parsers/parser.h"
#include "fuzz/fuzz_checks.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

const char* kParses[] = {
    "@type regexp\n expression /^(?<host>[^ ]*) \\[(?<time>[^\\]]*)\\] (?<msg>.*)$/\n"
    " time_format %d/%b/%Y:%H:%M:%S %z\n types msg:integer",
    "@type json\n time_format %Y-%m-%dT%H:%M:%S.%NZ\n null_empty_string true",
    "@type json\n time_type float\n keep_time_key true",
    "@type csv\n keys time,a,b\n time_key time\n time_format %Y-%m-%d %H:%M:%S.%L",
    "@type tsv\n keys a,b,c\n types b:bool,c:array",
    "@type ltsv\n time_key t\n time_format %s",
    "@type apache2",
    "@type apache_error",
    "@type nginx",
    "@type syslog\n message_format auto\n with_priority true",
    "@type cri\n time_format %Y-%m-%dT%H:%M:%S.%NZ",
    "@type none",
    "@type multi_format\n <pattern>\n  format json\n </pattern>\n <pattern>\n"
    "  format /^(?<k>\\w+)=(?<v>.*)$/\n </pattern>",
    "@type multiline\n format_firstline /^\\d{4}-/\n format1 /^(?<time>\\S+) (?<msg>.*)/m\n"
    " time_format %Y-%m-%dT%H:%M:%S%z",
};

struct Case {
  config::PipelineConfig cfg;
  std::unique_ptr<Parser> warm;
};

std::vector<Case>& cases() {
  static std::vector<Case> all = [] {
    std::vector<Case> v;
    v.reserve(std::size(kParses));  // a parser may refer into its config: no moves
    for (const char* body : kParses) {
      auto tree =
          config::parse_string(std::string("<source>\n @type tcp\n tag t\n <parse>\n") + body +
                                   "\n </parse>\n</source>\n<match **>\n @type "
                                   "null\n</match>\n",
                               "fuzz.conf");
      if (!tree) __builtin_trap();
      auto cfg = config::validate(*tree);
      if (!cfg) __builtin_trap();
      Case& c = v.emplace_back(Case{std::move(*cfg), nullptr});
      auto p = make_parser(*c.cfg.sources[0].child("parse"));
      if (!p) __builtin_trap();
      c.warm = std::move(*p);
    }
    return v;
  }();
  return all;
}

std::string run(Parser& p, std::string_view text, bool& ok) {
  EventBatch b;
  Extra extra[] = {{"path", "/var/log/x.log"}};
  ok = p.parse(text, EventTime{1'795'392'000'000'000'000}, extra, b).has_value();
  if (!ok) return {};
  fuzz::check_batch(b);
  return b.data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto& all = cases();
  Case& c = all[data[0] % all.size()];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  bool warm_ok = false, fresh_ok = false;
  std::string warm = run(*c.warm, text, warm_ok);
  auto fresh = make_parser(*c.cfg.sources[0].child("parse"));
  if (!fresh) __builtin_trap();
  std::string cold = run(**fresh, text, fresh_ok);
  if (warm_ok != fresh_ok || warm != cold) __builtin_trap();
  return 0;
}
