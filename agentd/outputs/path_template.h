// out_file's path template (Fluentd's generate_path_template): placeholders
// ${tag}, ${tag[N]} (N may be negative), ${chunk_id}, ${record_key} /
// ${$.nested.key} for record chunk keys, and strftime's %Y%m%d... filled from the
// chunk's timekey. Without time placeholders and with a time chunk key, the
// timekey's format (%Y%m%d for a day, %Y%m%d%H for an hour...) is appended.
// Non-append files get "_N" (first unused N), then path_suffix and ".gz".
// Thread safety: immutable after construction.
#pragma once

#include <string>

#include "agentd/buffer/buffer.h"
#include "agentd/buffer/chunk.h"

namespace logctl::agentd {

struct PathTemplateOptions {
  std::string path;
  bool append = false;
  std::string suffix;  // ".log" or ""
  bool gzip = false;
  const ChunkKeys* keys = nullptr;
  std::int64_t timekey = 0;
  bool utc = false;
};

class PathTemplate {
 public:
  static Result<PathTemplate> make(const PathTemplateOptions& o);
  // The path for a chunk; `index` replaces the "_**" marker of non-append files.
  std::string render(const Chunk& chunk, int index) const;
  bool indexed() const { return indexed_; }
  const std::string& pattern() const { return template_; }

 private:
  std::string template_;
  bool indexed_ = false;
  bool utc_ = false;
};

std::string timekey_format(std::int64_t timekey);

// A placeholder value made safe as (part of) one path component: '/', '\\',
// NUL and other control bytes become '_'; a value that is only dots ("." or
// "..") becomes as many '_'; a value longer than kMaxComponentValue bytes is
// cut and ends in '~' and 8 hex digits of its hash, so distinct values stay
// distinct. Nothing from a record or a tag can leave the template's directory
// or make a name the file system refuses.
inline constexpr std::size_t kMaxComponentValue = 128;
std::string safe_component(std::string_view value);

}  // namespace logctl::agentd
