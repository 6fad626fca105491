// out_http: each chunk's events, formatted by <format> (json by default), in
// one request to `endpoint` — NDJSON, or one JSON array with json_array.
// 2xx: written. A status in retryable_response_codes (503 by default) or no
// answer at all: kUnavailable, retried through the buffer's retry machinery.
// Any other status: kInvalidArgument, so the runner sets the chunk aside
// (<secondary>, else quarantine) and the queue behind it flows — as
// Fluentd's error_response_as_unrecoverable. A request per chunk, on its own
// connection, so flush threads never share one.
#pragma once

#include <memory>

#include "agentd/outputs/output.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

Result<std::unique_ptr<Output>> make_http_output(const config::Section& section);

}  // namespace logctl::agentd
