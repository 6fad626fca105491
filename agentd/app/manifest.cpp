#include "agentd/app/manifest.h"

#include "agentd/buffer/file_chunk.h"
#include "logctl/schema/handover_protocol.h"
#include "logctl/schema/plugin_schema.h"

namespace logctl::agentd {

release::Manifest build_manifest(const std::string& version) {
  release::Manifest m;
  m.version = version;
  m.min_upgrade_from = kMinUpgradeFrom;
  m.chunk_format_read = {1, kChunkFormatVersion};
  m.chunk_format_write = kChunkFormatVersion;
  m.handover_protocol = {handover::kMinSupportedProtocolVersion,
                         handover::kHandoverProtocolVersion};
  m.plugin_schema = config::plugin_schema_json();
  return m;
}

}  // namespace logctl::agentd
