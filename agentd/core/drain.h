// How much of its buffers a stopping worker delivers before it exits.
// Thread safety: a value.
#pragma once

namespace logctl::agentd {

enum class Drain {
  kAsConfigured,  // each buffer per its flush_at_shutdown (file buffers keep their chunks)
  kEverything,    // every buffer, file buffers too (`logctl cluster shutdown --flush`)
};

}  // namespace logctl::agentd
