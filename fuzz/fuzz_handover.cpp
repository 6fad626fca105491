// Fuzzes the handover protocol decoder (packets from a worker of any version)
// and the listener-key parser: nothing may crash, and whatever decodes must
// encode and decode again to the same message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "logctl/schema/handover_protocol.h"

using namespace logctl::handover;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string packet(reinterpret_cast<const char*>(data), size);
  if (auto m = decode(packet)) {
    auto again = decode(encode(*m));
    if (!again || again->type != m->type || again->key != m->key || again->pending != m->pending ||
        again->spool != m->spool || again->hold != m->hold) {
      __builtin_trap();
    }
  }
  if (auto k = parse_listener_key(packet)) {
    auto again = parse_listener_key(k->str());
    if (!again || again->port != k->port || again->host != k->host) __builtin_trap();
  }
  return 0;
}
