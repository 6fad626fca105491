// A simulated Kubernetes node: the kubelet's directory tree under a test
// directory (/var/log/pods/<ns>_<pod>_<uid>/<container>/N.log,
// /var/log/containers/<pod>_<ns>_<container>-<id>.log symlinks into it),
// tailed by agentd with a config in the style of the official Fluentd
// DaemonSet (ENV-driven embedded Ruby, cri or json parser, kubernetes_metadata
// filter). Two runtimes: containerd (CRI lines in the kubelet's files, rotated
// by the kubelet) and Docker (json-file logs under /var/lib/docker/containers
// that the kubelet's files link to, rotated by Docker). Numbered events go
// through rotations, a container restart, handovers and short-lived
// containers; every one is counted once with the metadata of the file it was
// written to, and the worker holds no descriptor of a deleted file at the end.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/harness.h"

using namespace logctl::test;
namespace fs = std::filesystem;

namespace {

// Environment for the agent (inherited by the process it starts).
struct Env {
  std::vector<std::string> names;
  void set(const std::string& k, const std::string& v) {
    ::setenv(k.c_str(), v.c_str(), 1);
    names.push_back(k);
  }
  ~Env() {
    for (const auto& k : names) ::unsetenv(k.c_str());
  }
};

// The DaemonSet's shape: paths, tag, parser and the API settings come from
// the environment with defaults, as its fluent.conf / kubernetes.conf do.
const char* kDaemonSetConfig = R"(
<system>
  root_dir "#{ENV['AGENT_ROOT']}"
</system>
<source>
  @type tail
  @id in_tail_container_logs
  path "#{ENV['FLUENT_CONTAINER_TAIL_PATH'] || '/var/log/containers/*.log'}"
  pos_file "#{ENV['FLUENT_POS_DIR'] || '/var/log'}/fluentd-containers.log.pos"
  tag "#{ENV['FLUENT_CONTAINER_TAIL_TAG'] || 'kubernetes.*'}"
  exclude_path "#{ENV['FLUENT_CONTAINER_TAIL_EXCLUDE_PATH'] || use_default}"
  read_from_head true
  refresh_interval "#{ENV['FLUENT_CONTAINER_TAIL_REFRESH_INTERVAL'] || 60}"
  rotate_wait 1
  <parse>
    @type "#{ENV['FLUENT_CONTAINER_TAIL_PARSER_TYPE'] || 'json'}"
    time_format "#{ENV['FLUENT_CONTAINER_TAIL_PARSER_TIME_FORMAT'] || '%Y-%m-%dT%H:%M:%S.%NZ'}"
  </parse>
</source>
<filter kubernetes.**>
  @type kubernetes_metadata
  @id filter_kube_metadata
  kubernetes_url "#{ENV['FLUENT_FILTER_KUBERNETES_URL'] || 'https://' + ENV.fetch('KUBERNETES_SERVICE_HOST') + ':' + ENV.fetch('KUBERNETES_SERVICE_PORT') + '/api'}"
  verify_ssl "#{ENV['KUBERNETES_VERIFY_SSL'] || true}"
  ca_file "#{ENV['KUBERNETES_CA_FILE']}"
  skip_labels "#{ENV['FLUENT_KUBERNETES_METADATA_SKIP_LABELS'] || 'false'}"
</filter>
<match kubernetes.**>
  @type file
  @id out_file
  path "#{ENV['OUT_DIR']}/containers"
  append true
  <format>
    @type json
  </format>
  <buffer>
    @type file
    path "#{ENV['AGENT_ROOT']}/buffer"
    flush_mode interval
    flush_interval 0.2s
  </buffer>
</match>
)";

struct Container {
  std::string ns, pod, uid, name, id;
  int restart = 0;
  std::string pod_file(const std::string& root) const {
    return root + "/var/log/pods/" + ns + "_" + pod + "_" + uid + "/" + name + "/" +
           std::to_string(restart) + ".log";
  }
  std::string link(const std::string& root) const {
    return root + "/var/log/containers/" + pod + "_" + ns + "_" + name + "-" + id + ".log";
  }
};

std::string hex_id(int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%064x", n * 7919 + 17);
  return buf;
}

std::string uid_of(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012x", n, n * 31);
  return buf;
}

// What the kubelet does when a container starts: its log file and the link.
void start_cri(const Container& c, const std::string& root) {
  fs::create_directories(fs::path(c.pod_file(root)).parent_path());
  fs::create_directories(root + "/var/log/containers");
  write_file(c.pod_file(root), "");
  fs::create_symlink(c.pod_file(root), c.link(root));
}

// containerd's lines; every 7th event is split in a P part and an F part.
void write_events(const Container& c, const std::string& root, long first, long count) {
  std::ofstream f(c.pod_file(root), std::ios::app);
  for (long n = first; n < first + count; ++n) {
    std::string msg = "seq=" + std::to_string(n) + " pod=" + c.pod + " cid=" + c.id.substr(56);
    std::string ts = "2026-12-03T07:00:00." + std::to_string(100000000 + n % 899999999) + "Z";
    if (n % 7 == 0) {
      f << ts << " stdout P " << msg.substr(0, 6) << "\n";
      f << ts << " stdout F " << msg.substr(6) << "\n";
    } else {
      f << ts << (n % 2 ? " stdout F " : " stderr F ") << msg << "\n";
    }
  }
}

// Docker's json-file driver: /var/lib/docker/containers/<id>/<id>-json.log,
// which the kubelet's N.log links to (dockershim's layout).
std::string docker_file(const Container& c, const std::string& root) {
  return root + "/var/lib/docker/containers/" + c.id + "/" + c.id + "-json.log";
}

void start_docker(const Container& c, const std::string& root) {
  fs::create_directories(fs::path(docker_file(c, root)).parent_path());
  fs::create_directories(fs::path(c.pod_file(root)).parent_path());
  fs::create_directories(root + "/var/log/containers");
  write_file(docker_file(c, root), "");
  fs::create_symlink(docker_file(c, root), c.pod_file(root));
  fs::create_symlink(c.pod_file(root), c.link(root));
}

// The message of event n as the container printed it: quotes, a backslash,
// a tab and non-ASCII text, which the json-file line escapes.
std::string docker_message(const Container& c, long n) {
  return "seq=" + std::to_string(n) + " pod=" + c.pod +
         " said \"hi\" \\ \t caf\u00e9 cid=" + c.id.substr(56);
}

void write_docker_events(const Container& c, const std::string& root, long first, long count) {
  std::ofstream f(docker_file(c, root), std::ios::app);
  for (long n = first; n < first + count; ++n) {
    nlohmann::json line = {
        {"log", docker_message(c, n) + "\n"},
        {"stream", n % 2 ? "stdout" : "stderr"},
        {"time", "2026-12-03T07:00:00." + std::to_string(100000000 + n % 899999999) + "Z"}};
    f << line.dump() << "\n";
  }
}

// Docker's rotation at max-size: <id>-json.log.1 -> .2, the live file -> .1,
// a new live file.
void rotate_docker(const Container& c, const std::string& root) {
  std::string live = docker_file(c, root);
  std::error_code ec;
  fs::rename(live + ".1", live + ".2", ec);
  fs::rename(live, live + ".1");
  write_file(live, "");
}

std::string all_output(const std::string& dir) {
  std::string all;
  for (const auto& f : files_under(dir)) all += read_file(f);
  return all;
}

int deleted_fds(long pid) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    auto target = fs::read_symlink(e.path(), ec);
    if (!ec && target.string().find("(deleted)") != std::string::npos) ++n;
  }
  return n;
}

// The node under a test directory, the DaemonSet's environment for the
// agent, and every event written so far (seq -> the container it was for).
struct Node {
  enum Runtime { kContainerd, kDocker };
  explicit Node(Runtime r) : runtime(r) {
    env.set("FLUENT_CONTAINER_TAIL_PATH", root + "/var/log/containers/*.log");
    env.set("FLUENT_POS_DIR", dir.path());
    // Docker: the DaemonSet's default parser, json with %Y-%m-%dT%H:%M:%S.%NZ.
    if (runtime == kContainerd) env.set("FLUENT_CONTAINER_TAIL_PARSER_TYPE", "cri");
    env.set("FLUENT_CONTAINER_TAIL_REFRESH_INTERVAL", "1");
    env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
    env.set("KUBERNETES_SERVICE_PORT", "443");
    env.set("AGENT_ROOT", dir / "root");
    env.set("OUT_DIR", dir / "out");
  }
  // web-1, api-2 and dns-3 start and write `count` events each.
  void start_pods(long count) {
    for (const auto& c : pods) start(c);
    for (const auto& c : pods) write(c, count);
  }
  void start(const Container& c) const {
    runtime == kDocker ? start_docker(c, root) : start_cri(c, root);
  }
  void write(const Container& c, long count) {
    for (long n = next; n < next + count; ++n) expect.emplace(n, c);
    if (runtime == kDocker) {
      write_docker_events(c, root, next, count);
    } else {
      write_events(c, root, next, count);
    }
    next += count;
  }
  // Every event written so far is in the output.
  std::function<bool()> arrived() const {
    return [this] { return count_numbers(files_under(dir / "out")).missing_in(1, next - 1) == 0; };
  }

  Runtime runtime;
  TempDir dir;
  std::string root = dir / "node";
  Env env;
  long next = 1;
  std::map<long, Container> expect;
  std::vector<Container> pods = {
      {"shop", "web-1", uid_of(1), "nginx", hex_id(1)},
      {"shop", "api-2", uid_of(2), "app", hex_id(2)},
      {"kube-system", "dns-3", uid_of(3), "coredns", hex_id(3)},
  };
};

}  // namespace

TEST_CASE("k8s node: container logs through rotations, a restart, a handover and churn") {
  Node node(Node::kContainerd);
  const std::string& root = node.root;
  TempDir& dir = node.dir;

  auto& pods = node.pods;
  node.start_pods(500);  // written before agentd starts: read_from_head

  Agent agent(kDaemonSetConfig, dir);
  REQUIRE(agent.ready());
  auto arrived = node.arrived();
  REQUIRE(wait_until(arrived));

  // The kubelet rotates web-1's log: 0.log -> 0.log.<time>, a new 0.log.
  node.write(pods[0], 300);
  fs::rename(pods[0].pod_file(root), pods[0].pod_file(root) + ".20261203-070000");
  write_file(pods[0].pod_file(root), "");
  node.write(pods[0], 300);
  node.write(pods[2], 300);

  // A handover while files are written.
  REQUIRE_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  node.write(pods[1], 300);

  // api-2's container restarts: a new id, 1.log, a new link; the old link
  // goes once its lines are in.
  REQUIRE(wait_until(arrived));
  Container restarted = pods[1];
  restarted.restart = 1;
  restarted.id = hex_id(22);
  node.start(restarted);
  fs::remove(pods[1].link(root));
  node.write(restarted, 400);
  REQUIRE(wait_until(arrived));

  // Churn: short-lived containers appear, write, and are deleted (file and
  // link) once their lines are in — while another handover runs.
  constexpr int kShortLived = kSanitized ? 100 : 1000;
  std::vector<Container> churn;
  for (int i = 0; i < kShortLived; ++i) {
    churn.push_back({"ci", "build-" + std::to_string(i), uid_of(100 + i), "step", hex_id(100 + i)});
    node.start(churn.back());
    node.write(churn.back(), 5);
    if (i == kShortLived / 2) {
      REQUIRE_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
    }
  }
  REQUIRE(wait_until(arrived, 60s));
  for (const auto& c : churn) {
    fs::remove(c.link(root));
    fs::remove_all(fs::path(c.pod_file(root)).parent_path().parent_path());
  }
  node.write(pods[2], 100);
  REQUIRE(wait_until(arrived));

  // Every event once, with the metadata of the file it was written to.
  auto c = count_numbers(files_under(dir / "out"));
  CHECK(c.duplicates() == 0);
  CHECK(c.distinct() == node.expect.size());
  std::istringstream lines(all_output(dir / "out"));
  long checked = 0, wrong = 0;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE(j.is_object());
    std::string msg = j.value("message", "");
    long n = std::stol(msg.substr(4));
    const Container& e = node.expect.at(n);
    const std::string& pod = e.pod;
    const std::string& id = e.id;
    const auto& k = j["kubernetes"];
    bool ok = k.value("pod_name", "") == pod && j["docker"].value("container_id", "") == id &&
              msg.ends_with("cid=" + id.substr(56)) && j.value("logtag", "") == "F" &&
              j.contains("time") && k.contains("namespace_name") && k.contains("container_name");
    if (!ok && wrong++ < 3) UNSCOPED_INFO("unexpected record: " << line);
    ++checked;
  }
  CHECK(wrong == 0);
  CHECK(checked == static_cast<long>(node.expect.size()));

  // Deleted logs are released (rotate_wait 1 s): no descriptor of a deleted
  // file stays open in the worker.
  long worker = agent.worker_pid();
  REQUIRE(worker > 0);
  CHECK(wait_until([&] { return deleted_fds(worker) == 0; }));
  // web-1, api-2 (restarted) and dns-3 are left.
  CHECK(wait_until([&] { return agent.metric("agentd_tail_watched_files") == 3; }));
}

TEST_CASE("k8s node: docker json-file logs through rotations, a restart and a handover") {
  Node node(Node::kDocker);
  const std::string& root = node.root;
  TempDir& dir = node.dir;

  auto& pods = node.pods;
  node.start_pods(400);  // written before agentd starts: read_from_head

  Agent agent(kDaemonSetConfig, dir);
  REQUIRE(agent.ready());
  auto arrived = node.arrived();
  REQUIRE(wait_until(arrived));

  // Docker rotates web-1's log twice while it writes (the second time once
  // the first file's lines are in: a file rotated away twice before the
  // tailer looks is not followed, by Fluentd either); a line that is not JSON
  // (a torn write) is counted as a parse error and loses nothing else.
  node.write(pods[0], 300);
  rotate_docker(pods[0], root);
  node.write(pods[0], 300);
  {
    std::ofstream f(docker_file(pods[0], root), std::ios::app);
    f << "{\"log\":\"torn\n";
  }
  node.write(pods[0], 10);
  REQUIRE(wait_until(arrived));
  rotate_docker(pods[0], root);
  node.write(pods[0], 300);
  node.write(pods[2], 300);
  REQUIRE(wait_until(arrived));
  CHECK(agent.metric("agentd_input_parse_errors_total") == 1);

  // A handover while files are written.
  node.write(pods[1], 200);
  REQUIRE_THAT(agent.control(R"({"op":"reload"})"), Catch::Contains("committed"));
  node.write(pods[1], 200);

  // api-2's container restarts: a new id and json file, 1.log links to it,
  // a new /var/log/containers link; the old one goes once its lines are in.
  REQUIRE(wait_until(arrived));
  Container restarted = pods[1];
  restarted.restart = 1;
  restarted.id = hex_id(22);
  node.start(restarted);
  fs::remove(pods[1].link(root));
  node.write(restarted, 400);
  node.write(pods[2], 100);
  REQUIRE(wait_until(arrived));

  // Every event once: the json parser's record as Fluentd's ("log" with its
  // newline, "stream"; "time" taken as the event time), with the metadata of
  // the file it was written to.
  auto counted = count_numbers(files_under(dir / "out"));
  CHECK(counted.duplicates() == 0);
  CHECK(counted.distinct() == node.expect.size());
  std::istringstream lines(all_output(dir / "out"));
  long checked = 0, wrong = 0;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    REQUIRE(j.is_object());
    std::string log = j.value("log", "");
    long n = std::stol(log.substr(4));
    const Container& c = node.expect.at(n);
    const auto& k = j["kubernetes"];
    bool ok = log == docker_message(c, n) + "\n" &&
              j.value("stream", "") == (n % 2 ? "stdout" : "stderr") && !j.contains("time") &&
              k.value("pod_name", "") == c.pod && k.value("namespace_name", "") == c.ns &&
              k.value("container_name", "") == c.name &&
              j["docker"].value("container_id", "") == c.id;
    if (!ok && wrong++ < 3) UNSCOPED_INFO("unexpected record: " << line);
    ++checked;
  }
  CHECK(wrong == 0);
  CHECK(checked == static_cast<long>(node.expect.size()));

  // Rotated-away files are released after rotate_wait.
  long worker = agent.worker_pid();
  REQUIRE(worker > 0);
  fs::remove(docker_file(pods[0], root) + ".1");
  fs::remove(docker_file(pods[0], root) + ".2");
  CHECK(wait_until([&] { return deleted_fds(worker) == 0; }));
}
