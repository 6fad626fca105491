// Output plugins write whole chunks. write() may be called concurrently from
// flush_thread_count threads with different chunks; an implementation that
// cannot do that serialises internally. A failed write leaves no partial
// result where it can (file output removes a half-written file) and returns
// an error; the runner retries the same chunk later (at-least-once).
#pragma once

#include "agentd/buffer/chunk.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

class Output {
 public:
  virtual ~Output() = default;
  virtual Status start() { return {}; }
  virtual Status write(const Chunk& chunk) = 0;
};

}  // namespace logctl::agentd
