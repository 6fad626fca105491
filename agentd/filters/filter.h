// <filter> plugins: each event on its way from the router to its <match> goes
// through the filters whose pattern matches its tag and that stand before
// that <match> in the config (Fluentd's order of appearance; router.h).
//   grep                <regexp>, <exclude>, <and>, <or> over fields ($.a.b paths)
//   record_transformer  <record> with placeholders, remove_keys, keep_keys,
//                       renew_record, renew_time_key, auto_typecast
//   parser              one field parsed by a <parse> plugin
// A filter appends the event it lets through to `out` (changed or not) and
// nothing for an event it drops; drops are counted
// (agentd_filter_dropped_records_total), parse failures also logged.
// Thread safety: filter() runs on every input thread at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "agentd/core/event.h"
#include "agentd/core/metrics.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

class Filter {
 public:
  virtual ~Filter() = default;
  // `errors`: where error events go (the <label @ERROR> route), or null when
  // the config has none; only the parser filter sends any (Fluentd's
  // emit_invalid_record_to_error).
  virtual void filter(const std::string& tag, EventTime time, std::string_view record,
                      EventBatch& out, EventBatch* errors) const = 0;
};

Result<std::unique_ptr<Filter>> make_filter(const config::Section& section, Metrics& metrics);

// The record of a packed [time, record] entry.
std::string_view record_of(std::string_view entry);

}  // namespace logctl::agentd
