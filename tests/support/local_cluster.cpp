#include "support/local_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace logctl::test {

using nlohmann::json;

std::string bin_dir() {
  return std::string(AGENTD_BIN).substr(0, std::string(AGENTD_BIN).rfind('/'));
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string describe(const Run& r) {
  return "rc " + std::to_string(r.rc) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

Run Logctl::operator()(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env) const {
  std::string cmd =
      "env -u LOGCTL_SERVER -u LOGCTL_TOKEN -u LOGCTL_CA -u LOGCTL_CONTEXT "
      "-u LOGCTL_CONFIG -u XDG_CONFIG_HOME -u XDG_DATA_HOME HOME=" +
      shell_quote(dir_ / "home");
  for (const auto& [k, v] : env) cmd += " " + k + "=" + shell_quote(v);
  cmd += " " + bin_dir() + "/logctl";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " > " + dir_ / "out" + " 2> " + dir_ / "err";
  Run r;
  r.rc = sh(cmd);
  r.out = read_file(dir_ / "out");
  r.err = read_file(dir_ / "err");
  return r;
}

LocalCluster::LocalCluster(int nodes, const TempDir& d, const std::vector<std::string>& extra)
    : dir(d), logctl(d), data(d / "local") {
  std::vector<std::string> args = {"cluster", "start", "--local", "--nodes", std::to_string(nodes),
                                   "--data-dir", data, "--node-ready-timeout",
                                   kSanitized ? "20s" : "5s",
                                   // rollout steps wait on heartbeats
                                   "--heartbeat-interval-ms", "250"};
  subnet = "127.0." + std::to_string(10 + ::getpid() % 240);
  args.insert(args.end(), {"--subnet", subnet});
  args.insert(args.end(), extra.begin(), extra.end());
  started = logctl(args);
}

LocalCluster::~LocalCluster() {
  logctl({"cluster", "delete", "--local", "--data-dir", data});
}

json LocalCluster::nodes() const {
  return logctl({"node", "list", "-o", "json"}).doc()["nodes"];
}

json LocalCluster::record() const {
  return json::parse(read_file(data + "/local.json"), nullptr, false);
}

std::string LocalCluster::out_dir(int i) const {
  return data + "/nodes/node-" + std::to_string(i) + "/out";
}

bool LocalCluster::nodes_running(bool running) const {
  auto ns = nodes();
  if (!ns.is_array() || ns.empty()) return false;
  for (const auto& n : ns) {
    if (!n["connected"].get<bool>() || n["running"].get<bool>() != running) return false;
  }
  return true;
}

Traffic::Traffic(std::string subnet, int nodes, long per_second, std::set<int> skip)
    : subnet_(std::move(subnet)), nodes_(nodes), per_second_(per_second), skip_(std::move(skip)) {
  thread_ = std::thread([this] { run(); });
}

Traffic::~Traffic() {
  stop();
}

long Traffic::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return sent_;
}

double Traffic::rate() const {
  double s = std::chrono::duration<double>(end_ - start_).count();
  return s > 0 ? static_cast<double>(sent_) / s : 0;
}

void Traffic::run() {
  std::vector<std::unique_ptr<TcpSender>> s;
  for (int i = 1; i <= nodes_; ++i) {
    if (skip_.contains(i)) continue;
    s.push_back(std::make_unique<TcpSender>(5170, subnet_ + "." + std::to_string(i)));
  }
  start_ = std::chrono::steady_clock::now();
  auto deadline = start_ + 240s;
  while (!stop_ && std::chrono::steady_clock::now() < deadline && sent_ < 8'000'000) {
    auto now = std::chrono::steady_clock::now();
    long due = static_cast<long>(std::chrono::duration<double>(now - start_).count() *
                                 static_cast<double>(per_second_));
    if (sent_ >= due) {
      std::this_thread::sleep_for(1ms);  // pacing of the load, not a wait for a result
      continue;
    }
    std::string batch;
    auto& to = *s[static_cast<std::size_t>(sent_ / 100) % s.size()];
    for (int k = 0; k < 100; ++k) batch += "seq=" + std::to_string(sent_ + k) + " cli\n";
    if (!to.send(batch)) {
      ok_ = false;
      break;
    }
    sent_ += 100;
  }
  end_ = std::chrono::steady_clock::now();
  for (auto& c : s) ok_ = c->finish() && ok_;
}

Prober::Prober(std::string subnet, int nodes) : subnet_(std::move(subnet)), nodes_(nodes) {
  thread_ = std::thread([this] {
    auto deadline = std::chrono::steady_clock::now() + 240s;
    for (int i = 0; !stop_ && std::chrono::steady_clock::now() < deadline; ++i) {
      std::string host = subnet_ + "." + std::to_string(1 + i % nodes_);
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(5170);
      ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
      ++attempts_;
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ++refused_;
      ::close(fd);
      std::this_thread::sleep_for(5ms);  // probe interval, not a wait for a result
    }
  });
}

Prober::~Prober() {
  stop();
}

void Prober::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

long missing(const LocalCluster& c, int nodes, long sent) {
  std::vector<std::string> files;
  for (int i = 1; i <= nodes; ++i) {
    for (auto& f : files_under(c.out_dir(i))) files.push_back(f);
  }
  return count_numbers(files).missing_in(0, sent - 1);
}

std::string version_of(const std::string& binary) {
  TempDir dir;
  std::string out = dir / "v";
  sh(binary + " version > " + out);
  std::string v = read_file(out);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
  return v.substr(v.rfind(' ') + 1);
}

}  // namespace logctl::test
