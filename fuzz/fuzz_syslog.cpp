// Fuzzes the syslog parser in every mode: a result's fields must lie inside
// the input, and nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agentd/parsers/syslog_message.h"

using namespace logctl::agentd;

static void check_inside(std::string_view whole, std::string_view part) {
  if (part.empty()) return;
  if (part.data() < whole.data() || part.data() + part.size() > whole.data() + whole.size()) {
    __builtin_trap();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto format : {SyslogFormat::kRfc3164, SyslogFormat::kRfc5424, SyslogFormat::kAuto}) {
    for (bool pri : {true, false}) {
      auto m = parse_syslog(text, EventTime{1'795'392'000'000'000'000}, {format, pri, true, {}});
      if (!m) continue;
      for (auto f : {m->host, m->ident, m->pid, m->msgid, m->extradata, m->message}) {
        check_inside(text, f);
      }
      if (pri && (m->pri < 0 || m->pri > 191)) __builtin_trap();
    }
  }
  (void)parse_rfc3339(text);
  return 0;
}
