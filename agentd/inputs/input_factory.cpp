// make_input (input.h): the input plugin a <source> names. Apart from the
// rest of input.cpp, so the handlers and BatchSet build without the listeners
// (the fuzz targets link them alone).
#include "agentd/inputs/input.h"
#include "agentd/inputs/network_input.h"
#include "agentd/inputs/tail_input.h"

namespace logctl::agentd {

Result<std::unique_ptr<Input>> make_input(const config::Section& source, InputContext ctx) {
  if (source.type() == "tail") return make_tail_input(source, ctx);
  return make_network_input(source, ctx);
}

}  // namespace logctl::agentd
