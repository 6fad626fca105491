// Fuzzes the <filter> plugins with hostile tags and records (a forward
// client sends any tag and any map; a local user names the files whose paths
// become tags): record_transformer with every kind of placeholder, grep,
// parser (json and regexp, reserve_data), kubernetes_metadata. Nothing may
// crash; every event out must be a well-formed [time, map] entry whose record
// renders as valid JSON.
// Input: byte 0 picks the filter, byte 1 the tag's length, then the tag,
// then one MessagePack value as the record (used only when it is a map, as
// inputs guarantee).
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/filters/filter.h"
#include "agentd/inputs/msgpack_framing.h"
#include "fuzz/fuzz_checks.h"
#include "logctl/schema/pipeline_config.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

const char* kFilters[] = {
    "@type record_transformer\n <record>\n  host ${hostname}\n  t ${tag}\n  p0 ${tag_parts[0]}\n"
    "  pl ${tag_parts[-1]}\n  pre ${tag_prefix[1]}\n  suf ${tag_suffix[1]}\n"
    "  copy ${record[\"msg\"]}\n  nested ${record[\"a\"][\"b\"]}\n  when ${time}\n </record>\n"
    " remove_keys x",
    "@type record_transformer\n renew_record true\n keep_keys msg,a\n auto_typecast true\n"
    " renew_time_key t\n <record>\n  n ${record[\"n\"]}\n </record>",
    "@type grep\n <regexp>\n  key msg\n  pattern /a+b/\n </regexp>\n <exclude>\n  key $.a.b\n"
    "  pattern /x/\n </exclude>",
    "@type parser\n key_name msg\n reserve_data true\n <parse>\n  @type json\n </parse>",
    "@type parser\n key_name msg\n hash_value_field parsed\n inject_key_prefix p_\n"
    " <parse>\n  @type regexp\n  expression /^(?<k>\\w+)=(?<v>.*)$/\n </parse>",
    "@type kubernetes_metadata",
    "@type kubernetes_metadata\n path_key path",
};

struct Case {
  config::PipelineConfig cfg;
  std::unique_ptr<Filter> filter;
};

std::vector<Case>& cases() {
  static Metrics metrics;
  static std::vector<Case> all = [] {
    std::vector<Case> v;
    v.reserve(std::size(kFilters));  // a filter may refer into its config: no moves
    for (const char* body : kFilters) {
      auto tree = config::parse_string(
          std::string("<filter **>\n") + body + "\n</filter>\n<match **>\n @type null\n</match>\n",
          "fuzz.conf");
      if (!tree) __builtin_trap();
      auto cfg = config::validate(*tree);
      if (!cfg) __builtin_trap();
      Case& c = v.emplace_back(Case{std::move(*cfg), nullptr});
      auto f = make_filter(c.cfg.filters[0].filter, metrics);
      if (!f) __builtin_trap();
      c.filter = std::move(*f);
    }
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bool quiet = (log::set_level(log::Level::kFatal), true);
  (void)quiet;
  if (size < 2) return 0;
  auto& all = cases();
  const Case& c = all[data[0] % all.size()];
  std::size_t tag_len = data[1];
  if (size < 2 + tag_len) return 0;
  std::string tag(reinterpret_cast<const char*>(data) + 2, tag_len);
  std::string_view record(reinterpret_cast<const char*>(data) + 2 + tag_len, size - 2 - tag_len);
  std::size_t n = msgpack_value_len(record);
  auto h = msgpack_header(record);
  if (n == 0 || !h || h->kind != MsgpackKind::kMap) return 0;
  record = record.substr(0, n);
  EventBatch out, errors;
  c.filter->filter(tag, EventTime{1'700'000'000'000'000'000}, record, out, &errors);
  fuzz::check_batch(out);
  fuzz::check_batch(errors);
  return 0;
}
