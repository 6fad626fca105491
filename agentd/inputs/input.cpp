#include "agentd/inputs/input.h"

#include "agentd/inputs/network_input.h"
#include "agentd/inputs/tail_input.h"

namespace logctl::agentd {

InputCounters::InputCounters(Metrics& m, const std::string& id, const std::string& type)
    : records(m.counter("agentd_input_records_total", "Events emitted by the input.",
                        {{"plugin_id", id}, {"type", type}})),
      bytes(m.counter("agentd_input_bytes_total", "Bytes received.",
                      {{"plugin_id", id}, {"type", type}})),
      parse_errors(m.counter("agentd_input_parse_errors_total",
                             "Messages that did not parse (delivered as unmatched_line).",
                             {{"plugin_id", id}})),
      oversized(m.counter("agentd_input_oversized_messages_total",
                          "Messages over message_length_limit (skipped or truncated).",
                          {{"plugin_id", id}})),
      paused(m.counter("agentd_input_backpressure_pauses_total",
                       "Times reading paused because the buffer refused a batch.",
                       {{"plugin_id", id}})) {}

void parse_or_unmatched(Parser& parser, std::string_view text, EventTime now,
                        std::span<const Extra> extra, EventBatch& out, const std::string& id,
                        std::atomic<std::uint64_t>& parse_errors, log::RateLimited& log) {
  auto s = parser.parse(text, now, extra, out);
  if (s) return;
  ++parse_errors;
  log.write(log::Level::kWarn, "input " + id + ": " + s.error().message + ": '" +
                                   std::string(text.substr(0, 80)) + "'");
  pack_unmatched(text, s.error().message, now, extra, out);
}

EventBatch& BatchSet::for_tag(const std::string& tag) {
  for (auto& b : batches_) {
    if (b.tag == tag) return b;
  }
  auto& b = batches_.emplace_back();
  b.tag = tag;
  return b;
}

std::size_t BatchSet::events() const {
  std::size_t n = 0;
  for (const auto& b : batches_) n += b.entries.size();
  return n;
}

Status BatchSet::emit_to(Emitter& e) {
  std::size_t done = 0;
  Status result;
  for (; done < batches_.size(); ++done) {
    if (batches_[done].empty()) continue;
    result = e.emit(batches_[done]);
    if (!result) break;
  }
  batches_.erase(batches_.begin(), batches_.begin() + static_cast<std::ptrdiff_t>(done));
  return result;
}

Result<std::unique_ptr<Input>> make_input(const config::Section& source, InputContext ctx) {
  if (source.type() == "tail") return make_tail_input(source, ctx);
  return make_network_input(source, ctx);
}

}  // namespace logctl::agentd
