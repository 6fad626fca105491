// A release artifact file read in the pieces the database keeps it in
// (artifact_chunks: 1 MiB rows, numbered from 0). Shared by the controller,
// which shares an uploaded artifact through the database, and by
// `logctl-controller migrate`, which copies a SQLite install's artifacts.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "logctl/schema/result.h"

namespace logctl::store {

inline constexpr std::size_t kArtifactChunkBytes = 1 << 20;

// Calls fn(seq, bytes) for each kArtifactChunkBytes piece of the file at
// `path` in order (the last one shorter; none for an empty file), stopping
// at fn's first error. The file is opened without following a link at its
// end. Errors: kNotFound when there is no such file, kIo naming the path.
Status for_each_artifact_chunk(const std::string& path,
                               const std::function<Status(int, std::string_view)>& fn);

}  // namespace logctl::store
