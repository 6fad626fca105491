// Process log: one line per message to stderr, "2026-11-23T10:00:00.123Z [warn] worker 3: text".
// Rate-limited helpers keep a flood of bad input from flooding the log; the
// metrics count every occurrence regardless.
// Thread safety: all functions are safe from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

namespace logctl::agentd::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kFatal };

void set_level(Level level);
// Names the process in every line ("supervisor", "worker 3"); set once at start.
void set_process(const std::string& name);
bool parse_level(const std::string& name, Level& out);
const char* level_name(Level level);
// <system><log> format: text (above) or json, one object per line:
// {"time":"…Z","level":"warn","process":"worker 3","message":"…"}.
enum class Format { kText, kJson };
void set_format(Format format);
// Also hands every line written to `sink` (the @FLUENT_LOG label), after it
// is written; not for lines written on a thread inside SinkScope (the sink's
// own work: no feedback). Set before threads start; empty: none.
using Sink = std::function<void(Level, const std::string& message)>;
void set_sink(Sink sink);
struct SinkScope {
  SinkScope();
  ~SinkScope();
};
bool enabled(Level level);
// Writes one line. Messages quote input from the network and files, so every
// control byte in them (newline, CR, ESC, ...) is written escaped ("\n",
// "\x1b"): nobody can forge a log line or drive the operator's terminal.
void write(Level level, const std::string& message);
// The escaping write() applies: control bytes as \n \r \t or \xNN.
std::string escape(std::string_view text);

inline void debug(const std::string& m) {
  write(Level::kDebug, m);
}
inline void info(const std::string& m) {
  write(Level::kInfo, m);
}
inline void warn(const std::string& m) {
  write(Level::kWarn, m);
}
inline void error(const std::string& m) {
  write(Level::kError, m);
}

// Logs at most once per second per limiter, adding how many were suppressed.
class RateLimited {
 public:
  void write(Level level, const std::string& message);

 private:
  std::atomic<std::int64_t> last_ns_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace logctl::agentd::log
