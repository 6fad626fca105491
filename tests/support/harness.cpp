#include "support/harness.h"

#include <sys/un.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace logctl::test {

namespace fsys = std::filesystem;

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);  // polling interval, not a wait for an outcome
  }
  return cond();
}

TempDir::TempDir() {
  std::random_device rd;
  auto base = fsys::path(LOGCTL_TEST_TMP);
  fsys::create_directories(base);
  path_ = (base / ("t" + std::to_string(::getpid()) + "_" + std::to_string(rd()))).string();
  fsys::create_directories(path_);
}
TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("LOGCTL_KEEP_TMP")) fsys::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& text) {
  fsys::create_directories(fsys::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  // Everything the child needs is allocated before the fork: tests fork from
  // several threads, and a child of a multithreaded process that calls malloc
  // can hang for good on a lock another thread held at the fork (under ASan
  // that is its allocator's lock: a compat case's agentd once "ran" 20 s
  // without a line of log, stuck here before its exec).
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    // Async-signal-safe calls only until exec.
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
}

Process::~Process() {
  if (running()) {
    signal(SIGKILL);
    wait(5s);
  }
}

void Process::signal(int sig) {
  if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

bool Process::running() {
  if (exited_ || pid_ <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    exited_ = true;
    status_ = st;
    return false;
  }
  return true;
}

int Process::wait(std::chrono::milliseconds timeout) {
  if (!wait_until([&] { return !running(); }, timeout)) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
}

namespace {

// Whether 127.0.0.1:port can be bound now for TCP (as a listener would, with
// SO_REUSEADDR) and for UDP.
bool bindable(int port) {
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

// The directory of per-port lock files shared by every test process of this
// user, or "" when it cannot be trusted (not ours, not a directory).
std::string port_lock_dir() {
  std::string dir = "/tmp/logctl-test-ports-" + std::to_string(::getuid());
  ::mkdir(dir.c_str(), 0700);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid() ||
      (st.st_mode & 077) != 0) {
    return "";
  }
  return dir;
}

}  // namespace

int free_port() {
  // Ports come from below the kernel's ephemeral range: a port the kernel
  // handed out for port 0 is also what it hands to the next client connection
  // as its source port, and with tests running side by side one of them took a
  // port between this call and the agent's bind (the agent then exits at
  // start). Test processes running at once each hold a lock on the ports they
  // took (released when the process exits), so two never take the same one.
  static std::mutex mu;
  static std::set<int> taken;
  static const std::string lock_dir = port_lock_dir();
  static const auto [first, span] = [] {
    int low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
    int from = 10000, to = std::min(low, 65536) - 1;
    if (to - from < 1000) from = 1024;  // an unusual range: use what is below it
    return std::pair{from, to - from + 1};
  }();
  std::lock_guard lock(mu);
  static int next = static_cast<int>(std::random_device{}() % static_cast<unsigned>(span));
  for (int tries = 0; tries < span; ++tries) {
    int port = first + (next++ % span);
    if (taken.count(port)) continue;
    if (!lock_dir.empty()) {
      std::string path = lock_dir + "/" + std::to_string(port);
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        continue;
      }
      // Kept open: the lock lasts as long as this process.
    }
    taken.insert(port);
    if (bindable(port)) return port;
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

std::string agentd_bin() {
  return AGENTD_BIN;
}

std::string agentd_build(const std::string& name) {
  std::string bin = AGENTD_BIN;
  return bin.substr(0, bin.rfind('/') + 1) + name;
}

Agent::Agent(const std::string& config_text, const TempDir& dir, const std::string& name,
             std::vector<std::string> extra_args, std::string binary)
    : config_path_(dir / (name + ".conf")),
      log_path_(dir / (name + ".log")),
      root_(dir / (name + "-data")),
      admin_port_(free_port()),
      extra_args_(std::move(extra_args)),
      binary_(binary.empty() ? agentd_bin() : std::move(binary)) {
  write_file(config_path_, config_text);
  launch();
}

Agent::~Agent() {
  if (proc_ && proc_->running()) {
    proc_->signal(SIGTERM);
    if (proc_->wait(30s) < 0) proc_->signal(SIGKILL);
  }
}

void Agent::launch() {
  std::vector<std::string> argv{binary_,
                                "-c",
                                config_path_,
                                "--root-dir",
                                root_,
                                "--admin",
                                "127.0.0.1:" + std::to_string(admin_port_)};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = std::make_unique<Process>(argv, log_path_);
}

std::string Agent::control(const std::string& request) const {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string path = root_ + "/agentd.sock";
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string line = request + "\n";
    if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        reply.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return reply;
}

long Agent::worker_pid() const {
  auto j = nlohmann::json::parse(control(R"({"op":"status"})"), nullptr, false);
  return j.is_object() ? j.value("worker_pid", -1L) : -1;
}

void Agent::restart() {
  proc_.reset();
  launch();
}

bool Agent::ready(std::chrono::milliseconds timeout) {
  if (wait_until(
          [&] {
            if (!proc_->running()) return true;
            httplib::Client c("127.0.0.1", admin_port_);
            c.set_connection_timeout(0, 200000);
            auto r = c.Get("/readyz");
            return r && r->status == 200;
          },
          timeout) &&
      proc_->running()) {
    return true;
  }
  // What the agent said is the first thing a failed start needs.
  std::string log = read_file(log_path_);
  if (log.size() > 4000) log = "...\n" + log.substr(log.size() - 4000);
  std::fprintf(stderr, "agentd (%s) not ready after %lld ms, %s; its log:\n%s\n",
               config_path_.c_str(), static_cast<long long>(timeout.count()),
               proc_->running() ? "still running" : "exited", log.c_str());
  return false;
}

std::string Agent::metrics() const {
  httplib::Client c("127.0.0.1", admin_port_);
  auto r = c.Get("/metrics");
  return r ? r->body : "";
}

double Agent::metric(const std::string& name, const std::string& labels) const {
  std::string text = metrics();
  std::string want = labels.empty() ? name + " " : name + "{" + labels + "} ";
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(want, 0) == 0) return std::stod(line.substr(want.size()));
    // With no labels given, sum every series of the family.
    if (labels.empty() && line.rfind(name + "{", 0) == 0) {
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

TcpSender::TcpSender(int port, const std::string& host) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) a.sin_addr.s_addr = 0;
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close();
}
TcpSender::~TcpSender() {
  close();
}

bool TcpSender::send(const std::string& data) {
  if (fd_ < 0) return false;
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

void TcpSender::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool TcpSender::finish(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return false;
  ::shutdown(fd_, SHUT_WR);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
  }
  close();
  return n == 0;  // orderly close by the peer after it read everything
}

std::string TcpSender::receive_until_closed(std::chrono::milliseconds timeout) {
  std::string got;
  if (fd_ < 0) return got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  close();
  return got;
}

bool send_udp(int port, const std::string& datagram) {
  static thread_local int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&a),
                  sizeof a) == static_cast<ssize_t>(datagram.size());
}

long Count::missing_in(long first, long last) const {
  long missing = 0;
  for (long i = first; i <= last; ++i) missing += seen.count(i) ? 0 : 1;
  return missing;
}

long Count::duplicates() const {
  long d = 0;
  for (const auto& [n, c] : seen) d += c - 1;
  return d;
}

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fsys::exists(dir, ec)) return out;
  for (auto& e : fsys::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  return out;
}

Count count_numbers(const std::vector<std::string>& files, const std::string& marker) {
  Count c;
  for (const auto& f : files) {
    std::string text = read_file(f);
    for (std::size_t p = 0; (p = text.find(marker, p)) != std::string::npos;) {
      p += marker.size();
      char* end = nullptr;
      long n = std::strtol(text.c_str() + p, &end, 10);
      if (end != text.c_str() + p) ++c.seen[n];
    }
  }
  return c;
}

int sh(const std::string& cmd) {
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string tcp_lines_source(int port, const std::string& tag, const std::string& extra) {
  return "<source>\n @type tcp\n tag " + tag + "\n bind 127.0.0.1\n port " + std::to_string(port) +
         "\n" + extra + " <parse>\n @type none\n </parse>\n</source>\n";
}

std::string null_match() {
  return "<match **>\n @type null\n</match>\n";
}

std::string fluent_log_fence() {
  return "<match fluent.**>\n @type null\n</match>\n";
}

std::string json_file_match(const TempDir& dir) {
  return fluent_log_fence() + "<match **>\n @type file\n path " + (dir / "out/events") +
         "\n append true\n <format>\n  @type json\n </format>\n <buffer>\n  @type memory\n"
         "  flush_mode interval\n  flush_interval 0.1s\n </buffer>\n</match>\n";
}

int attacker_uid() {
  static const int uid = [] {
    auto lookup = [] {
      passwd* pw = ::getpwnam("logctl-attacker");
      return pw ? static_cast<int>(pw->pw_uid) : -1;
    };
    if (lookup() >= 0) return lookup();
    if (::geteuid() != 0) return -1;
    sh("useradd --system --no-create-home --shell /usr/sbin/nologin logctl-attacker "
       ">/dev/null 2>&1");
    return lookup();
  }();
  return uid;
}

Feeder::Feeder(int port, long base, int per_tick, long max, std::string word)
    : base_(base),
      word_(std::move(word)),
      thread_([this, port, per_tick, max] { run(port, per_tick, max); }) {}

void Feeder::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Feeder::run(int port, int per_tick, long max) {
  TcpSender c(port);
  if (!c.connected()) {
    ++failures_;
    return;
  }
  auto next = std::chrono::steady_clock::now();
  while (!stop_ && sent_ < max) {
    std::string batch;
    for (int i = 0; i < per_tick; ++i) {
      batch += "seq=" + std::to_string(base_ + sent_ + i) + " " + word_ + "\n";
    }
    if (!c.send(batch)) {
      ++failures_;
      return;
    }
    sent_ += per_tick;
    next += std::chrono::milliseconds(10);
    std::this_thread::sleep_until(next);  // paces the load; not a wait for a condition
  }
  if (!c.finish()) ++failures_;
}

}  // namespace logctl::test
