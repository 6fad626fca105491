#include "agentd/inputs/input.h"

#include "agentd/core/record_writer.h"

namespace logctl::agentd {

InputCounters::InputCounters(Metrics& m, const std::string& id, const std::string& type)
    : records(m.counter("agentd_input_records_total", "Events emitted by the input.",
                        {{"plugin_id", id}, {"type", type}})),
      bytes(m.counter("agentd_input_bytes_total", "Bytes received.",
                      {{"plugin_id", id}, {"type", type}})),
      parse_errors(m.counter("agentd_input_parse_errors_total",
                             "Messages that did not parse (see emit_unmatched_lines and @ERROR).",
                             {{"plugin_id", id}})),
      oversized(m.counter("agentd_input_oversized_messages_total",
                          "Messages over message_length_limit (skipped or truncated).",
                          {{"plugin_id", id}})),
      paused(m.counter("agentd_input_backpressure_pauses_total",
                       "Times reading paused because the buffer refused a batch.",
                       {{"plugin_id", id}})) {}

Unmatched::Unmatched(const config::Section& source, const InputContext& ctx,
                     InputCounters& counters)
    : id_(source.id()),
      emit_(source.flag("emit_unmatched_lines")),
      to_error_(ctx.errors != nullptr),
      parse_errors_(counters.parse_errors),
      dropped_(ctx.metrics.counter("agentd_input_unmatched_dropped_total",
                                   "Unparsable messages dropped (no emit_unmatched_lines and no "
                                   "<label @ERROR>), as Fluentd does.",
                                   {{"plugin_id", source.id()}})) {}

void Unmatched::handle(std::string_view text, std::string_view why, EventTime now,
                       std::span<const Extra> extra, BatchSet& out, const std::string& tag) {
  ++parse_errors_;
  const char* fate = emit_ ? "emitted as unmatched_line" : to_error_ ? "sent to @ERROR" : "dropped";
  log_.write(log::Level::kWarn, "input " + id_ + ": " + std::string(why) + " (" + fate + "): '" +
                                    std::string(text.substr(0, 80)) + "'");
  if (emit_) {
    RecordWriter w(out.for_tag(tag));
    w.begin(now, static_cast<std::uint32_t>(1 + extra.size()));
    w.field("unmatched_line", text);
    for (const auto& e : extra) w.field(e.key, e.value);
    w.end();
  } else if (to_error_) {
    pack_unmatched(text, why, now, extra, out.for_error(tag));
  } else {
    ++dropped_;
  }
}

void parse_or_unmatched(Parser& parser, std::string_view text, EventTime now,
                        std::span<const Extra> extra, BatchSet& out, const std::string& tag,
                        Unmatched& unmatched) {
  auto s = parser.parse(text, now, extra, out.for_tag(tag));
  if (!s) unmatched.handle(text, s.error().message, now, extra, out, tag);
}

EventBatch& BatchSet::for_tag(const std::string& tag) {
  return take(tag, false);
}

EventBatch& BatchSet::for_error(const std::string& tag) {
  return take(tag, true);
}

namespace {

// The thread's emptied batches (see BatchSet). A few, and none larger than a
// read's worth: what a burst grew beyond that is given back.
constexpr std::size_t kMaxSpareBatches = 4;
constexpr std::size_t kMaxSpareBytes = 8 << 20;
thread_local std::vector<EventBatch> t_spare;

}  // namespace

EventBatch& BatchSet::take(const std::string& tag, bool error) {
  for (std::size_t i = 0; i < batches_.size(); ++i) {
    if (error_[i] == error && batches_[i].tag == tag) return batches_[i];
  }
  if (t_spare.empty()) {
    batches_.emplace_back();
  } else {
    batches_.push_back(std::move(t_spare.back()));
    t_spare.pop_back();
  }
  error_.push_back(error);
  EventBatch& b = batches_.back();
  b.tag = tag;
  return b;
}

void BatchSet::retire(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    batches_[i].clear();
    if (t_spare.size() < kMaxSpareBatches && batches_[i].data.capacity() <= kMaxSpareBytes) {
      t_spare.push_back(std::move(batches_[i]));
    }
  }
  batches_.erase(batches_.begin(), batches_.begin() + static_cast<std::ptrdiff_t>(n));
  error_.erase(error_.begin(), error_.begin() + static_cast<std::ptrdiff_t>(n));
}

void BatchSet::clear() {
  retire(batches_.size());
}

std::size_t BatchSet::events() const {
  std::size_t n = 0;
  for (const auto& b : batches_) n += b.entries.size();
  return n;
}

Status BatchSet::emit_to(Emitter& e, Emitter* errors) {
  std::size_t done = 0;
  Status result;
  for (; done < batches_.size(); ++done) {
    if (batches_[done].empty()) continue;
    Emitter* to = error_[done] ? errors : &e;
    if (!to) continue;  // no @ERROR route: nothing is put in an error batch then
    result = to->emit(batches_[done]);
    if (!result) break;
  }
  retire(done);
  return result;
}

}  // namespace logctl::agentd
