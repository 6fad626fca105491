// Fuzzes in_forward's message handler (Message, Forward, PackedForward and
// CompressedPackedForward modes, acks) with whatever one MessagePack frame
// may hold: nothing may crash or overflow; every event it keeps must be a
// well-formed [time, map] entry under a tag of 1 to 1024 bytes (plus the
// prefix) whose record renders as valid JSON; every reply must be {"ack": str}.
// The first byte picks the options (source address/host keys, a tag prefix).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "agentd/core/log.h"
#include "agentd/core/metrics.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/inputs/forward_handler.h"
#include "fuzz/fuzz_checks.h"

using namespace logctl;
using namespace logctl::agentd;

namespace {

std::unique_ptr<MessageHandler> make(bool extra, bool prefix) {
  static Metrics metrics;
  HandlerOptions o;
  o.id = "in_forward";
  o.type = "forward";
  if (extra) {
    o.source_address_key = "addr";
    o.source_hostname_key = "host";
  }
  ForwardOptions f;
  f.max_decompressed = 1 << 20;  // gzip bombs stop early (the input's limit is 64 MiB)
  if (prefix) f.add_tag_prefix = "pre";
  return make_forward_handler(o, f, metrics);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static bool quiet = (log::set_level(log::Level::kFatal), true);
  (void)quiet;
  static std::unique_ptr<MessageHandler> handlers[4] = {make(false, false), make(true, false),
                                                        make(false, true), make(true, true)};
  MessageHandler& h = *handlers[data[0] & 3];
  std::string_view msg(reinterpret_cast<const char*>(data) + 1, size - 1);
  BatchSet out;
  Peer peer{"127.0.0.1", "localhost"};
  h.handle(msg, peer, EventTime{1'700'000'000'000'000'000}, out);
  for (auto& b : out.batches()) {
    if (b.entries.empty()) continue;
    std::size_t max_tag = 1024 + ((data[0] & 2) ? 4 : 0);
    if (b.tag.empty() || b.tag.size() > max_tag) __builtin_trap();
    fuzz::check_batch(b);
  }
  for (const auto& r : out.replies) {
    std::string json;
    append_json(json, r);
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (!j.is_object() || j.size() != 1 || !j["ack"].is_string()) __builtin_trap();
  }
  return 0;
}
