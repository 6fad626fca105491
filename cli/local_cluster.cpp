#include "cli/local_cluster.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>

namespace logctl::cli {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The nodes' starting config: one TCP input on the node's own address, every
// event to a JSON-lines file under the node's directory through a file buffer.
constexpr const char* kDefaultPipeline =
    R"(# The local cluster's starting config (logctl cluster start --local).
# Each node gets its own loopback address and directory through the
# environment, so this one file serves every node.
<source>
  @type tcp
  @id in_tcp
  tag app
  bind "#{ENV['LOGCTL_NODE_ADDR']}"
  port 5170
  <parse>
    @type none
  </parse>
</source>

# agentd's own log (tags fluent.info, fluent.warn, ...) reaches a top-level
# <match **> when there is no <label @FLUENT_LOG>, as in Fluentd; the events
# file keeps only the cluster's traffic.
<match fluent.**>
  @type null
</match>

<match **>
  @type file
  @id out_file
  path "#{ENV['LOGCTL_NODE_DIR']}/out/events"
  append true
  <format>
    @type json
  </format>
  <buffer>
    @type file
    path "#{ENV['LOGCTL_NODE_DIR']}/buffer"
    flush_mode interval
    flush_interval 1s
  </buffer>
</match>
)";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string beside_self(const std::string& name) {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return name;
  std::string self(buf, static_cast<std::size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + name;
}

Status mkdir_p(const std::string& dir, mode_t mode) {
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::kIo, "cannot create " + part + ": " + std::strerror(errno));
    }
  }
  return {};
}

Status write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ErrorCode::kIo, "cannot write " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kIo, "cannot write " + path);
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Is `pid` alive and one of ours: its command line names `dir` (a recorded
// pid may have been reused by an unrelated process since).
bool ours(long pid, const std::string& dir) {
  if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) != 0) return false;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return false;
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find(dir) != std::string::npos;
}

// Starts a process in its own session (it outlives this CLI), stdout and
// stderr to `log`, stdin from /dev/null, with `extra_env` added.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::string& log,
                    const std::vector<std::string>& extra_env = {}) {
  int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0)
    return make_error(ErrorCode::kIo, "cannot open " + log + ": " + std::strerror(errno));
  // Arguments and environment are built before the fork: the child makes
  // async-signal-safe calls only (no malloc, no putenv) until its exec.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  auto overridden = [&](std::string_view entry) {  // NAME= given again in extra_env
    auto name = entry.substr(0, entry.find('=') + 1);
    return std::ranges::any_of(extra_env, [&](const auto& e) { return e.starts_with(name); });
  };
  for (char** e = environ; *e; ++e) {
    if (!overridden(*e)) envp.push_back(*e);
  }
  for (const auto& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    return make_error(ErrorCode::kIo, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);  // nothing of this CLI leaks into it
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  return pid;
}

// Stops recorded processes: SIGTERM, then SIGKILL after `grace`.
void stop_all(const std::vector<long>& pids, const std::string& dir, std::chrono::seconds grace) {
  std::vector<long> live;
  for (long p : pids) {
    if (ours(p, dir)) {
      ::kill(static_cast<pid_t>(p), SIGTERM);
      live.push_back(p);
    }
  }
  auto deadline = Clock::now() + grace;
  while (!live.empty() && Clock::now() < deadline) {
    std::erase_if(live, [&](long p) { return !ours(p, dir); });
    std::this_thread::sleep_for(50ms);  // polling the processes' exit
  }
  for (long p : live) ::kill(static_cast<pid_t>(p), SIGKILL);
}

int remove_tree(const std::string& dir) {
  return ::nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

std::vector<long> recorded_pids(json rec) {
  std::vector<long> pids;
  for (auto n : rec.value("nodes", json::array())) pids.push_back(n.value("pid", 0L));
  pids.push_back(rec.value("controller_pid", 0L));  // the controller last
  return pids;
}

// "127.A.B" with A and B in 0-255: node I gets 127.A.B.I (all of 127/8 is
// loopback on Linux).
bool loopback_subnet(const std::string& s) {
  if (s.rfind("127.", 0) != 0) return false;
  int octets = 1, value = -1;
  for (std::size_t i = 4; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (value < 0 || value > 255) return false;
      ++octets;
      value = -1;
    } else if (s[i] >= '0' && s[i] <= '9') {
      value = (value < 0 ? 0 : value * 10) + (s[i] - '0');
      if (value > 255) return false;
    } else {
      return false;
    }
  }
  return octets == 3;
}

class Starter {
 public:
  Starter(Cli& cli, LocalOptions o) : cli_(cli), o_(std::move(o)), dir_(o_.data_dir) {}
  int run();

 private:
  int check_existing();
  int start_controller();
  int start_nodes();
  // nullopt: running or not (a new cluster adopts its nodes as they are).
  int wait_nodes(std::optional<bool> running, std::int64_t config);
  int configure();
  int write_context();
  void save() { (void)write_file(dir_ + "/local.json", rec_.dump(2) + "\n"); }
  int error(Exit e, const std::string& msg) { return fail(cli_.format(), e, "local", msg); }

  Cli& cli_;
  LocalOptions o_;
  std::string dir_, url_;
  long ready_ms_ = 30000;
  json rec_ = json::object();
  std::unique_ptr<Client> client_;
};

int Starter::check_existing() {
  std::string rec_path = dir_ + "/local.json";
  if (::access(rec_path.c_str(), F_OK) == 0) {
    auto rec = json::parse(read_file(rec_path), nullptr, false);
    if (!rec.is_object()) rec = json::object();
    auto pids = recorded_pids(rec);
    std::size_t alive = 0;
    for (long p : pids) alive += ours(p, dir_);
    if (alive == pids.size() && alive > 1) {
      return error(Exit::kConflict,
                   "a local cluster is already running under " + dir_ + " (controller pid " +
                       std::to_string(rec.value("controller_pid", 0L)) + ", " +
                       std::to_string(pids.size() - 1) +
                       " nodes): use it, or `logctl cluster delete --local` first");
    }
    std::cerr << "logctl: a stale local cluster under " << dir_ << " (" << pids.size() - alive
              << " of " << pids.size() << " processes gone): replacing it\n";
    stop_all(pids, dir_, 20s);
    remove_tree(dir_);
  } else if (::access(dir_.c_str(), F_OK) == 0 && ::rmdir(dir_.c_str()) != 0) {
    return error(Exit::kConflict, dir_ +
                                      " exists and is not a local cluster's directory; "
                                      "choose another --data-dir");
  }
  return 0;
}

int Starter::start_controller() {
  std::string cdir = dir_ + "/controller";
  std::string init_log = dir_ + "/controller-init.log";
  auto init = spawn({o_.controller_bin, "init", "--data-dir", cdir}, init_log);
  if (!init) return fail(cli_.format(), init.error());
  int status = 0;
  ::waitpid(*init, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return error(Exit::kError, "logctl-controller init failed: " + read_file(init_log));
  }
  std::string port_file = dir_ + "/controller.port";
  auto pid =
      spawn({o_.controller_bin, "serve", "--data-dir", cdir, "--listen", "127.0.0.1:0",
             "--port-file", port_file, "--heartbeat-interval-ms", std::to_string(o_.heartbeat_ms)},
            dir_ + "/controller.log");
  if (!pid) return fail(cli_.format(), pid.error());
  rec_["controller_pid"] = *pid;
  save();
  auto deadline = Clock::now() + std::chrono::seconds(o_.timeout_s);
  std::string port;
  // Our own child: waitpid tells whether it died (its /proc entry may read
  // empty while it execs).
  while (Clock::now() < deadline && port.empty() && ::waitpid(*pid, nullptr, WNOHANG) == 0) {
    port = read_file(port_file);
    if (port.empty()) std::this_thread::sleep_for(50ms);  // polling for the port file
  }
  while (!port.empty() && port.back() == '\n') port.pop_back();
  if (port.empty()) {
    return error(Exit::kError,
                 "the controller did not start: " + read_file(dir_ + "/controller.log"));
  }
  url_ = "https://127.0.0.1:" + port;
  rec_["controller_url"] = url_;
  save();
  auto token = read_secret_file(cdir + "/admin.token");
  if (!token) return fail(cli_.format(), token.error());
  client_ = std::make_unique<Client>(Settings{url_, *token, cdir + "/tls/ca.pem", "local", "local"},
                                     cli_.flags.timeout_s);
  while (Clock::now() < deadline) {
    if (client_->get("/v1/version")) return 0;
    std::this_thread::sleep_for(100ms);  // polling until it answers
  }
  return error(Exit::kUnreachable, "the controller at " + url_ + " does not answer");
}

int Starter::start_nodes() {
  std::string cdir = dir_ + "/controller";
  rec_["nodes"] = json::array();
  for (int i = 1; i <= o_.nodes; ++i) {
    std::string name = "node-" + std::to_string(i);
    std::string addr = o_.subnet + "." + std::to_string(i);
    std::string ndir = dir_ + "/nodes/" + name;
    if (auto s = mkdir_p(ndir, 0700); !s) return fail(cli_.format(), s.error());
    auto pid = spawn(
        {o_.agentd, "--config", dir_ + "/pipeline.conf", "--root-dir", ndir, "--controller", url_,
         "--controller-ca", cdir + "/tls/ca.pem", "--enroll-token-file", cdir + "/enroll.token",
         "--node-name", name, "--labels", "local=true,index=" + std::to_string(i),
         "--ready-timeout-ms", std::to_string(ready_ms_)},
        ndir + "/agentd.log",
        {"LOGCTL_NODE_NAME=" + name, "LOGCTL_NODE_ADDR=" + addr, "LOGCTL_NODE_DIR=" + ndir});
    if (!pid) return fail(cli_.format(), pid.error());
    rec_["nodes"].push_back({{"name", name}, {"pid", *pid}, {"address", addr}, {"dir", ndir}});
    save();
  }
  return 0;
}

// The last error line of a node's log (what to show when it did not come up).
std::string last_error(const std::string& log) {
  std::string text = read_file(log), found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("[error]") != std::string::npos) found = line;
  }
  return found;
}

// Every node enrolled, heard from, running (or not) as asked, on `config`.
int Starter::wait_nodes(std::optional<bool> running, std::int64_t config) {
  auto deadline = Clock::now() + std::chrono::seconds(o_.timeout_s);
  std::string last;
  while (Clock::now() < deadline) {
    for (auto n : rec_["nodes"]) {  // our children: one that exited will not come up
      auto pid = static_cast<pid_t>(n.value("pid", 0L));
      if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == pid) {
        std::string dir = n.value("dir", "");
        return error(Exit::kError, n.value("name", "?") +
                                       " exited: " + last_error(dir + "/agentd.log") +
                                       " (log: " + dir + "/agentd.log)");
      }
    }
    auto r = client_->get("/v1/nodes");
    if (r) {
      std::size_t ok = 0;
      for (auto n : (*r)["nodes"]) {
        bool run = n.value("running", false);
        ok += n.value("connected", false) && (!running || run == *running) &&
              (config == 0 || n.value("config_revision", std::int64_t{0}) == config) &&
              (!running || !*running || n.value("healthy", false));
      }
      if (ok == static_cast<std::size_t>(o_.nodes) && (*r)["nodes"].size() == ok) return 0;
      last = std::to_string(ok) + " of " + std::to_string(o_.nodes) + " ready";
    }
    std::this_thread::sleep_for(200ms);  // polling the nodes' state
  }
  std::string why;
  for (auto n : rec_["nodes"]) {
    auto e = last_error(n.value("dir", "") + "/agentd.log");
    if (!e.empty()) why += "\n  " + n.value("name", "?") + ": " + e;
  }
  return error(Exit::kTimeout, "the nodes did not come up within " + std::to_string(o_.timeout_s) +
                                   " s (" + last + "); their logs are under " + dir_ +
                                   "/nodes/*/agentd.log" + why);
}

// The release the nodes run, the starting config as revision 1, and the
// cluster started on it (offline path: stopped nodes start directly on it).
int Starter::configure() {
  auto manifest = agentd_manifest(o_.agentd);
  if (!manifest) return fail(cli_.format(), manifest.error());
  std::ifstream in(o_.agentd, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  auto rel = client_->post_release(*manifest, bytes.str());
  if (!rel) return fail(cli_.format(), rel.error());
  rec_["version"] = (*rel)["version"];
  auto cfg = client_->post_text("/v1/configs", read_file(dir_ + "/pipeline.conf"));
  if (!cfg) return fail(cli_.format(), cfg.error());
  std::int64_t rev = cfg->value("revision", std::int64_t{0});
  if (auto up = client_->post("/v1/cluster/upgrade", {{"config", rev}}); !up) {
    return fail(cli_.format(), up.error());
  }
  if (auto r = client_->post("/v1/cluster/resume", json::object()); !r) {
    return fail(cli_.format(), r.error());
  }
  return wait_nodes(true, rev);
}

int Starter::write_context() {
  auto doc = read_config_file();
  if (!doc) return fail(cli_.format(), doc.error());
  (*doc)["contexts"]["local"] = {{"server", url_},
                                 {"ca", dir_ + "/controller/tls/ca.pem"},
                                 {"token_file", dir_ + "/controller/admin.token"},
                                 {"local_data_dir", dir_}};
  // Another context in use (a production controller) stays in use: a local
  // cluster never silently redirects the next command.
  std::string current = doc->value("current_context", "");
  if (current.empty() || current == "local") {
    (*doc)["current_context"] = "local";
  } else {
    std::cerr << "context 'local' written; the current context stays '" << current
              << "' (`logctl context use local` switches)\n";
  }
  if (auto s = write_config_file(*doc); !s) return fail(cli_.format(), s.error());
  return 0;
}

int Starter::run() {
  for (auto* bin : {&o_.agentd, &o_.controller_bin}) {
    if (::access(bin->c_str(), X_OK) != 0) {
      return error(Exit::kUsage, *bin + " is not an executable (pass --agentd / --controller-bin)");
    }
  }
  auto ready = parse_duration(o_.ready_timeout);
  if (!ready || ready->count() < 1) {
    return error(Exit::kUsage, "bad --node-ready-timeout " + o_.ready_timeout);
  }
  ready_ms_ = static_cast<long>(ready->count()) * 1000;
  auto up = parse_duration(o_.up_timeout);
  if (!up || up->count() < 1) return error(Exit::kUsage, "bad --up-timeout " + o_.up_timeout);
  o_.timeout_s = static_cast<int>(std::min<long>(up->count(), 86400));
  if (!loopback_subnet(o_.subnet)) {
    return error(Exit::kUsage, "--subnet " + o_.subnet + ": three octets in 127/8, e.g. 127.0.1");
  }
  if (int rc = check_existing()) return rc;
  if (auto s = mkdir_p(dir_, 0700); !s) return fail(cli_.format(), s.error());
  // Ours alone: a directory another user made (or a symlink planted in its
  // place, e.g. under /tmp) would hand them the tokens and the configs.
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 0077) != 0) {
    return error(Exit::kConflict, dir_ +
                                      " is not a directory of this user's with mode 0700; "
                                      "choose another --data-dir");
  }
  rec_["created_by"] = "logctl " LOGCTL_VERSION;
  rec_["data_dir"] = dir_;
  std::string pipeline = kDefaultPipeline;
  if (!o_.config.empty()) {
    pipeline = read_file(o_.config);
    if (pipeline.empty()) return error(Exit::kUsage, "cannot read " + o_.config);
  }
  if (auto s = write_file(dir_ + "/pipeline.conf", pipeline); !s) {
    return fail(cli_.format(), s.error());
  }
  std::cerr << "starting a controller and " << o_.nodes << " node(s) under " << dir_ << "\n";
  int rc = start_controller();
  if (rc == 0) rc = start_nodes();
  if (rc == 0) rc = wait_nodes(std::nullopt, 0);  // enrolled (a new cluster adopts them)
  if (rc == 0) rc = configure();
  if (rc == 0) rc = write_context();
  if (rc != 0) {
    // A start that failed leaves nothing running: what it started is stopped.
    stop_all(recorded_pids(rec_), dir_, std::chrono::seconds(10));
    std::cerr << "logctl: the local cluster did not start; the controller and node(s) it had "
                 "started are stopped; their logs are under "
              << dir_ << " (`logctl cluster delete --local --data-dir " << dir_
              << "` removes it)\n";
    return rc;
  }
  auto nodes = client_->get("/v1/nodes");
  if (cli_.format() != Format::kTable) {
    json out = rec_;
    out["context"] = "local";
    if (nodes) out["node_status"] = (*nodes)["nodes"];
    print_json(out);
    return 0;
  }
  Table t({"NODE", "ADDRESS", "LISTENERS", "PID", "DIRECTORY"});
  for (auto n : rec_["nodes"]) {
    std::string listeners;
    if (nodes) {
      for (auto s : (*nodes)["nodes"]) {
        if (s["name"] != n["name"]) continue;
        for (auto l : s["listeners"]) listeners += (listeners.empty() ? "" : " ") + cell(l);
      }
    }
    t.row({cell(n["name"]), cell(n["address"]), listeners.empty() ? "-" : listeners, cell(n["pid"]),
           cell(n["dir"])});
  }
  std::cout << "local cluster up: controller " << url_ << " (pid " << rec_["controller_pid"]
            << "), agentd " << cell(rec_["version"]) << ", context 'local'\n";
  t.print(std::cout);
  std::cout << "\nsend events:  echo hello > /dev/tcp/" << o_.subnet << ".1/5170   (bash)\n"
            << "see them:     ls " << dir_ << "/nodes/node-1/out/\n"
            << "next:         logctl cluster status; logctl node list\n"
            << "remove it:    logctl cluster delete --local\n";
  return 0;
}

}  // namespace

std::string default_local_dir() {
  if (auto x = env("XDG_DATA_HOME"); !x.empty()) return x + "/logctl/local";
  return env("HOME") + "/.local/share/logctl/local";
}

int start_local(Cli& cli, LocalOptions o) {
  if (o.data_dir.empty()) o.data_dir = default_local_dir();
  o.data_dir = absolute(o.data_dir);
  while (o.data_dir.size() > 1 && o.data_dir.back() == '/') o.data_dir.pop_back();
  if (o.agentd.empty()) o.agentd = beside_self("agentd");
  if (o.controller_bin.empty()) o.controller_bin = beside_self("logctl-controller");
  o.agentd = absolute(o.agentd);
  o.controller_bin = absolute(o.controller_bin);
  if (!o.config.empty()) o.config = absolute(o.config);
  return Starter(cli, o).run();
}

int delete_local(Cli& cli, LocalOptions o) {
  if (o.data_dir.empty()) o.data_dir = default_local_dir();
  std::string dir = absolute(o.data_dir);
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string rec_path = dir + "/local.json";
  if (::access(rec_path.c_str(), F_OK) != 0) {
    bool exists = ::access(dir.c_str(), F_OK) == 0;
    return fail(cli.format(), exists ? Exit::kConflict : Exit::kNotFound, "local",
                exists ? dir + " is not a local cluster's directory (no local.json); not touched"
                       : "no local cluster under " + dir);
  }
  auto rec = json::parse(read_file(rec_path), nullptr, false);
  if (!rec.is_object()) rec = json::object();
  auto pids = recorded_pids(rec);
  // Nodes first (their workers flush), then the controller.
  std::vector<long> nodes(pids.begin(), pids.end() - 1);
  stop_all(nodes, dir, 30s);
  stop_all({pids.back()}, dir, 10s);
  if (remove_tree(dir) != 0) {
    return fail(cli.format(), Exit::kError, "local",
                "cannot remove " + dir + ": " + std::strerror(errno));
  }
  auto doc = read_config_file();
  if (doc && (*doc)["contexts"].contains("local") &&
      (*doc)["contexts"]["local"].value("local_data_dir", "") == dir) {
    (*doc)["contexts"].erase("local");
    if (doc->value("current_context", "") == "local") (*doc)["current_context"] = "";
    (void)write_config_file(*doc);
  }
  if (cli.format() != Format::kTable) {
    print_json({{"deleted", dir}, {"stopped", pids.size()}});
  } else {
    std::cout << "local cluster under " << dir << " deleted (" << pids.size()
              << " process(es) stopped)\n";
  }
  return 0;
}

}  // namespace logctl::cli
