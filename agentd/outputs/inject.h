// <inject> (Fluentd's inject helper) on an output: adds the event's time, tag
// or the host name to every record before the output buffers it (Fluentd
// formats at emit time too, so the fields are in the chunk).
//   time_key + time_type float (seconds.nanoseconds) | unixtime | string
//   (time_format, localtime/utc/timezone; default ISO 8601), tag_key,
//   hostname_key (+ hostname, default this host's name).
// Thread safety: apply() may run on every input thread at once.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "agentd/core/event.h"
#include "agentd/outputs/formatter.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

class Injector {
 public:
  // Null when there is no <inject> or it names no key.
  static std::unique_ptr<Injector> make(const config::Section* inject);
  // `out` gets every entry of `in` with the fields added (a key the record
  // already has keeps its place, as with Ruby's record[key] = value).
  void apply(const EventBatch& in, EventBatch& out);

 private:
  explicit Injector(const config::Section& s);
  std::string time_key_, time_type_, tag_key_, hostname_key_, hostname_;
  std::mutex mu_;  // guards tf_ (its cache)
  TimeFormatter tf_;
};

}  // namespace logctl::agentd
