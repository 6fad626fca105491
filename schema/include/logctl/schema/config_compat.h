// The v0.12 spellings Fluentd v1 still accepts, rewritten into v1 form before
// validation (as Fluentd's compat_parameters helper does), each with a
// warning naming file:line and the v1 spelling:
//   type X                          -> @type X  (source, match, filter, store, parse,
//                                      format, buffer, secondary); log_level -> @log_level
//   on a source without <parse>:    format (/regexp/ or a parser name), time_key,
//                                   time_format, keep_time_key, format_firstline, formatN,
//                                   message_key, with_priority, json_parser, keys,
//                                   delimiter, label_delimiter, null_empty_string, types,
//                                   localtime/utc  -> <parse>
//   on a match without <buffer>:    buffer_type, buffer_path, buffer_chunk_limit,
//                                   buffer_queue_limit, buffer_queue_full_action,
//                                   flush_interval, flush_at_shutdown, num_threads,
//                                   retry_limit, disable_retry_limit, max_retry_wait,
//                                   retry_wait, try_flush_interval,
//                                   queued_chunk_flush_interval, time_slice_format,
//                                   time_slice_wait -> <buffer>
//   on a match without <format>:    format, output_time, output_tag, message_key,
//                                   add_newline, output_type, delimiter -> <format>
//   in_tcp / in_udp source_host_key -> source_hostname_key
// A parameter moves when the plugin itself does not take it, and is copied
// when both do (in_tcp's own `delimiter`), as Fluentd copies.
// Thread safety: pure.
#pragma once

#include <string>
#include <vector>

#include "logctl/schema/config.h"
#include "logctl/schema/result.h"

namespace logctl::config {

// Rewrites `root` in place; appends one warning per rewrite.
Status apply_v012_spellings(Element& root, std::vector<std::string>& warnings);

}  // namespace logctl::config
