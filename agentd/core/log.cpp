#include "agentd/core/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace logctl::agentd::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};
Sink g_sink;  // set before threads start
thread_local int t_in_sink = 0;

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

const char* level_name(Level level) {
  return name(level);
}

void set_format(Format format) {
  g_format = static_cast<int>(format);
}

void set_sink(Sink sink) {
  g_sink = std::move(sink);
}

SinkScope::SinkScope() {
  ++t_in_sink;
}
SinkScope::~SinkScope() {
  --t_in_sink;
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

namespace {
void append_json_text(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", u);
      out += b;
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}
}  // namespace

void write(Level level, const std::string& message) {
  if (!enabled(level)) return;
  std::int64_t ns = now_ns();
  std::time_t secs = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>((ns / 1'000'000) % 1000));
  std::string out;
  if (static_cast<Format>(g_format.load()) == Format::kJson) {
    out = "{\"time\":\"";
    out += stamp;
    out += "\",\"level\":\"";
    out += name(level);
    out += "\",\"process\":";
    append_json_text(out, g_process.empty() ? "supervisor"
                                            : std::string_view(g_process).substr(
                                                  0, g_process.size() - 2));  // no ": "
    out += ",\"message\":";
    append_json_text(out, message);
    out += "}\n";
  } else {
    out = stamp;
    out += " [";
    out += name(level);
    out += "] ";
    out += g_process;
    bool clean = true;
    for (char c : message) clean = clean && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    out += clean ? message : escape(message);
    out += '\n';
  }
  // One write(2) per line keeps lines whole when threads log concurrently.
  (void)!::write(STDERR_FILENO, out.data(), out.size());
  if (g_sink && t_in_sink == 0) {
    SinkScope scope;
    g_sink(level, message);
  }
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
