// Fuzzes the config parser and validator: any input must yield a tree or an
// error with file:line, never a crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "logctl/schema/config.h"
#include "logctl/schema/pipeline_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto getenv = [](const char*) -> const char* { return "value"; };
  auto tree = logctl::config::parse_string(text, "fuzz.conf", getenv);
  if (!tree) {
    // Every error names where: "<file>:<line>: ..." (an @include glob may
    // point into another file, so the file name varies).
    const std::string& m = tree.error().message;
    auto sep = m.find(": ");
    auto colon = sep == std::string::npos ? std::string::npos : m.rfind(':', sep - 1);
    if (colon == std::string::npos || colon + 1 >= sep ||
        m.find_first_not_of("0123456789", colon + 1) != sep) {
      __builtin_trap();
    }
    return 0;
  }
  (void)logctl::config::validate(*tree);
  return 0;
}
