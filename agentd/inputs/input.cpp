#include "agentd/inputs/input.h"

#include "agentd/inputs/network_input.h"
#include "agentd/inputs/tail_input.h"

namespace logctl::agentd {

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
