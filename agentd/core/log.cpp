#include "agentd/core/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace logctl::agentd::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

const char* name(Level l) {
  switch (l) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kFatal:
      return "fatal";
  }
  return "?";
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void set_level(Level level) {
  g_level = static_cast<int>(level);
}

bool parse_level(const std::string& s, Level& out) {
  for (Level l :
       {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kFatal}) {
    if (s == name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

namespace {
std::string g_process;  // written once before any thread starts
}  // namespace

void set_process(const std::string& name) {
  g_process = name + ": ";
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      out += b;
    }
  }
  return out;
}

void write(Level level, const std::string& message) {
  if (!enabled(level)) return;
  std::int64_t ns = now_ns();
  std::time_t secs = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char line[64];
  std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = line;
  char ms[16];
  std::snprintf(ms, sizeof ms, ".%03dZ [", static_cast<int>((ns / 1'000'000) % 1000));
  out += ms;
  out += name(level);
  out += "] ";
  out += g_process;
  bool clean = true;
  for (char c : message) clean = clean && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  out += clean ? message : escape(message);
  out += '\n';
  // One write(2) per line keeps lines whole when threads log concurrently.
  (void)!::write(STDERR_FILENO, out.data(), out.size());
}

void RateLimited::write(Level level, const std::string& message) {
  std::int64_t now = now_ns();
  std::int64_t last = last_ns_.load();
  if (now - last < 1'000'000'000 || !last_ns_.compare_exchange_strong(last, now)) {
    ++suppressed_;
    return;
  }
  std::uint64_t n = suppressed_.exchange(0);
  log::write(level, n ? message + " (" + std::to_string(n) + " similar suppressed)" : message);
}

}  // namespace logctl::agentd::log
