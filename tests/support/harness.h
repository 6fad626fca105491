// Shared test helpers: real processes, real sockets on loopback, polling with
// deadlines (never fixed sleeps), and numbered events counted at the far end.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace logctl::test {

using namespace std::chrono_literals;

// Built with AddressSanitizer + UndefinedBehaviorSanitizer (LOGCTL_SANITIZE).
#ifdef LOGCTL_SANITIZE
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// Polls `cond` every few ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 20s);

// A fresh directory under the build tree, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// A child process with stdout/stderr captured to a file.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Waits for exit; returns the exit code (128+sig if killed) or -1 on timeout.
  int wait(std::chrono::milliseconds timeout = 30s);
  bool running();
  std::string log() const { return read_file(log_path_); }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
  std::string log_path_;
};

// A loopback port free for both TCP and UDP, below the kernel's ephemeral
// range (so no client connection takes it as its source port) and locked
// for this process's life against other test processes.
int free_port();

// The agentd binary built by this tree, and its test builds by name
// ("agentd-next", "agentd-broken-exit", "agentd-broken-hang", "agentd-broken-crash").
std::string agentd_bin();
std::string agentd_build(const std::string& name);

// Starts agentd (the supervisor) with a config and an admin port.
class Agent {
 public:
  // `binary`: the agentd to run (default: this tree's).
  Agent(const std::string& config_text, const TempDir& dir, const std::string& name = "agentd",
        std::vector<std::string> extra_args = {}, std::string binary = {});
  ~Agent();
  bool ready(std::chrono::milliseconds timeout = 20s);
  double metric(const std::string& name, const std::string& labels = "") const;
  std::string metrics() const;
  Process& process() { return *proc_; }
  int admin_port() const { return admin_port_; }
  void restart();
  // One request on the control socket ({"op":"status"|"reload"|"upgrade",...});
  // returns the JSON reply ("" if the socket is not there).
  std::string control(const std::string& request) const;
  // Pid of the serving worker, from the status (-1 if unknown).
  long worker_pid() const;
  const std::string& config_path() const { return config_path_; }
  const std::string& root() const { return root_; }

 private:
  void launch();
  std::string config_path_, log_path_, root_;
  int admin_port_;
  std::vector<std::string> extra_args_;
  std::string binary_;
  std::unique_ptr<Process> proc_;
};

// Sends lines over one TCP connection; false on any error (refused, reset).
class TcpSender {
 public:
  explicit TcpSender(int port, const std::string& host = "127.0.0.1");
  ~TcpSender();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& data);
  void close();
  // Half-closes and waits until the peer closes too (it read everything);
  // false on a reset or timeout: the client then knows delivery is unsure.
  bool finish(std::chrono::milliseconds timeout = 10s);
  // Everything the peer sends until it closes (or resets, or the timeout);
  // then closes this end.
  std::string receive_until_closed(std::chrono::milliseconds timeout = 20s);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Numbered lines ("seq=N <word>") into one agent over one TCP connection,
// `per_tick` lines every 10 ms, from `base` on; bounded by `max` and by stop().
// stop() half-closes and waits for the agent to close: failures() counts
// refused connections, failed writes and an unorderly close.
class Feeder {
 public:
  Feeder(int port, long base, int per_tick, long max, std::string word = "tier");
  ~Feeder() { stop(); }
  void stop();
  long sent() const { return sent_; }
  long failures() const { return failures_; }
  long base() const { return base_; }

 private:
  void run(int port, int per_tick, long max);

  long base_;
  std::string word_;
  std::atomic<bool> stop_{false};
  std::atomic<long> sent_{0}, failures_{0};
  std::thread thread_;
};

bool send_udp(int port, const std::string& datagram);

// "seq=<N> " markers in output files: which numbers arrived, how often.
struct Count {
  std::map<long, int> seen;
  long missing_in(long first, long last) const;
  long duplicates() const;
  std::size_t distinct() const { return seen.size(); }
};
Count count_numbers(const std::vector<std::string>& files, const std::string& marker = "seq=");
std::vector<std::string> files_under(const std::string& dir);

// Runs a shell command; returns its exit status.
int sh(const std::string& cmd);

// Config snippets the tests share: a TCP source of unparsed lines, a
// <match **> that discards, and one that writes JSON lines under DIR/out/
// from a memory buffer flushed every 0.1 s.
std::string tcp_lines_source(int port, const std::string& tag = "t", const std::string& extra = "");
std::string null_match();
// json_file_match begins with fluent_log_fence(): agentd's own log lines
// (tag fluent.LEVEL, sent to a top-level <match> that takes them when there
// is no <label @FLUENT_LOG>, as Fluentd does) are discarded first, so the
// file holds only the test's events.
std::string json_file_match(const TempDir& dir);
std::string fluent_log_fence();

// A second local user for attacker tests ("logctl-attacker", created once);
// -1 when this machine cannot create one (then the test skips, saying so).
int attacker_uid();

}  // namespace logctl::test
