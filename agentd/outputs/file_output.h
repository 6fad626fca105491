// out_file: formats each chunk and writes it to the file its path template
// names (see path_template.h); gzip optional. A non-append write goes to a new
// file created with O_EXCL, removed again if the write fails, so a retry never
// leaves a half file behind. Appends to the same file are serialised, across
// processes too by a lock file in `lock_dir` (the two generations of a
// handover may deliver at once; "" for none).
#pragma once

#include <memory>
#include <string>

#include "agentd/buffer/buffer.h"
#include "agentd/outputs/output.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

Result<std::unique_ptr<Output>> make_file_output(const config::Section& section,
                                                 const ChunkKeys& keys, std::int64_t timekey,
                                                 bool timekey_utc, const std::string& lock_dir);
Result<std::unique_ptr<Output>> make_secondary_file_output(const config::Section& section,
                                                           const std::string& lock_dir);
std::unique_ptr<Output> make_stdout_output(const config::Section& section,
                                           const std::string& lock_dir);
std::unique_ptr<Output> make_null_output();

}  // namespace logctl::agentd
