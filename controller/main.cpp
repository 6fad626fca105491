// logctl-controller: the control plane's server (docs/architecture.md).
//
//   logctl-controller init  --data-dir D [--san NAME]...   database, CA, tokens
//   logctl-controller serve --data-dir D [--listen H:P] [--insecure-http]
//   logctl-controller rotate-token --data-dir D --kind admin|enrollment
//   logctl-controller rotate-cert  --data-dir D [--san NAME]...
//   logctl-controller migrate --from sqlite:D --to postgresql://…
//
// Exit codes: 0 ok, 1 runtime failure, 2 usage error.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/api/http_api.h"
#include "controller/api/tls_init.h"
#include "controller/server/controller.h"
#include "logctl/schema/digest.h"
#include "logctl/schema/sd_notify.h"

using namespace logctl;
using namespace logctl::controller;

namespace {

// A new token: "lct_KIND_" and 256 random bits in hex (only its hash is stored).
std::string new_secret(store::TokenKind kind) {
  return std::string("lct_") + store::token_kind_name(kind) + "_" + digest::random_hex(32);
}

// Writes a secret to a new 0600 file (never over an existing one or a link).
Status write_secret(const std::string& path, const std::string& secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kIo, "create " + path + ": " + std::strerror(errno));
  std::string line = secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return make_error(ErrorCode::kIo, "write " + path);
  return {};
}

// Where the fleet's state is: --store, else what `init --store` kept in
// DIR/store, else DIR/controller.db (SQLite). The PostgreSQL password comes
// from --store-password-file (this user's, mode 0600, not a link), else
// libpq's PGPASSWORD / PGPASSFILE; never from the URL, never logged.
struct StoreFlags {
  std::string store, password_file;
};

Result<std::string> read_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 0077) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kInvalidArgument,
                      path + " must be a regular file of this user's with mode 0600");
  }
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 65536) text.append(buf, n);
  ::close(fd);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Result<ControllerOptions> store_options(const std::string& dir, const StoreFlags& f) {
  ControllerOptions o;
  o.data_dir = dir;
  o.store = f.store;
  if (o.store.empty() && ::access((dir + "/store").c_str(), F_OK) == 0) {
    auto kept = read_private_file(dir + "/store");
    if (!kept) return std::unexpected(kept.error());
    o.store = *kept;
  }
  if (o.store.starts_with("sqlite:")) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--store: the SQLite database is always DATA_DIR/controller.db (leave "
                      "--store out); --store names a PostgreSQL database");
  }
  if (!o.store.empty()) {
    auto d = store::describe_postgres(o.store);
    if (!d) return std::unexpected(d.error());
  }
  if (!f.password_file.empty()) {
    auto pw = read_private_file(f.password_file);
    if (!pw) return std::unexpected(pw.error());
    o.store_password = *pw;
  }
  return o;
}

std::string store_description(const ControllerOptions& o) {
  if (o.store.empty()) return o.data_dir + "/controller.db";
  auto d = store::describe_postgres(o.store);
  return d ? *d : std::string("PostgreSQL");
}

int init(const std::string& dir, const std::vector<std::string>& sans, const StoreFlags& sf) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::cerr << "logctl-controller init: mkdir " << dir << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 0077) != 0) {
    std::cerr << "logctl-controller init: " << dir
              << " must be a directory of this user, not a link, mode 0700\n";
    return 1;
  }
  if (::access((dir + "/controller.db").c_str(), F_OK) == 0 ||
      ::access((dir + "/store").c_str(), F_OK) == 0) {
    std::cerr << "logctl-controller init: " << dir
              << " is initialised already (controller.db or store exists)\n";
    return 1;
  }
  auto opts = store_options(dir, sf);
  if (!opts) {
    std::cerr << "logctl-controller init: " << opts.error().message << "\n";
    return 2;
  }
  auto c = Controller::open(*opts);
  if (!c) {
    std::cerr << "logctl-controller init: " << c.error().message << "\n";
    return 1;
  }
  if (auto s = make_tls(dir, sans); !s) {
    std::cerr << "logctl-controller init: " << s.error().message << "\n";
    return 1;
  }
  auto add = [&](store::TokenKind kind, const std::string& file) -> Status {
    std::string secret = new_secret(kind);
    if (auto s = write_secret(dir + "/" + file, secret); !s) return s;
    auto st2 = (*c)->add_token_for_init(kind, digest::sha256_hex(secret));
    if (!st2) return std::unexpected(st2.error());
    return {};
  };
  for (auto [kind, file] : {std::pair{store::TokenKind::kAdmin, "admin.token"},
                            std::pair{store::TokenKind::kEnrollment, "enroll.token"}}) {
    if (auto s = add(kind, file); !s) {
      std::cerr << "logctl-controller init: " << s.error().message << "\n";
      return 1;
    }
  }
  if (!opts->store.empty()) {
    // The conninfo (no password: refused above) for the other subcommands,
    // written as the token files are (a new 0600 file, never a link).
    if (auto s = write_secret(dir + "/store", opts->store); !s) {
      std::cerr << "logctl-controller init: " << s.error().message << "\n";
      return 1;
    }
  }
  auto f = tls_files(dir);
  std::cout << "initialised " << dir << "\n"
            << "  database      " << store_description(*opts) << "\n"
            << "  CA            " << f.ca_cert << "  (clients pin this)\n"
            << "  admin token   " << dir << "/admin.token  (0600)\n"
            << "  enrol token   " << dir << "/enroll.token (0600)\n";
  return 0;
}

// A new admin or enrolment token: its hash stored and every other token of
// that kind revoked (while `serve` runs too: SQLite serialises), then the
// secret renamed over DIR/admin.token or DIR/enroll.token.
int rotate_token(const std::string& dir, const std::string& kind_name, const StoreFlags& sf) {
  auto kind = kind_name == "admin"        ? store::TokenKind::kAdmin
              : kind_name == "enrollment" ? store::TokenKind::kEnrollment
                                          : store::TokenKind::kNode;
  if (kind == store::TokenKind::kNode) {
    std::cerr << "logctl-controller rotate-token: --kind is admin or enrollment (node tokens are "
                 "revoked with `logctl node revoke`)\n";
    return 2;
  }
  std::string file = dir + (kind == store::TokenKind::kAdmin ? "/admin.token" : "/enroll.token");
  std::string tmp = file + ".new";
  auto opts = store_options(dir, sf);
  if (!opts) {
    std::cerr << "logctl-controller rotate-token: " << opts.error().message << "\n";
    return 2;
  }
  auto c = Controller::open(*opts);
  if (!c) {
    std::cerr << "logctl-controller rotate-token: " << c.error().message << "\n";
    return 1;
  }
  std::string secret = new_secret(kind);
  ::unlink(tmp.c_str());  // left by an interrupted run
  if (auto s = write_secret(tmp, secret); !s) {
    std::cerr << "logctl-controller rotate-token: " << s.error().message << "\n";
    return 1;
  }
  auto n = (*c)->rotate_token(kind, digest::sha256_hex(secret));
  if (!n || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    std::cerr << "logctl-controller rotate-token: "
              << (n ? "rename " + tmp + ": " + std::strerror(errno) : n.error().message) << "\n";
    return 1;
  }
  std::cout << "new " << kind_name << " token in " << file << " (0600); " << *n
            << " old one(s) revoked\n";
  return 0;
}

// "90s", "30m", "1h", "7d" in milliseconds; 0 when malformed.
std::int64_t parse_ttl(const std::string& s) {
  if (s.size() < 2 || s.size() > 12) return 0;
  std::int64_t n = 0;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return 0;
    n = n * 10 + (s[i] - '0');
  }
  switch (s.back()) {
    case 's':
      return n * 1000;
    case 'm':
      return n * 60'000;
    case 'h':
      return n * 3'600'000;
    case 'd':
      return n * 86'400'000;
    default:
      return 0;
  }
}

struct EnrollTokenFlags {
  std::string out, ttl;
  std::int64_t uses = 0;
  std::vector<std::string> names;
};

int enroll_token_create(const std::string& dir, const EnrollTokenFlags& f, const StoreFlags& sf) {
  auto t = store::Token::of(store::TokenKind::kEnrollment, "");
  if (f.uses > 0) t.uses_left = f.uses;
  if (!f.ttl.empty()) {
    std::int64_t ms = parse_ttl(f.ttl);
    if (ms <= 0) {
      std::cerr << "logctl-controller enroll-token create: --ttl is a number and s, m, h or d "
                   "(e.g. 1h), not '"
                << f.ttl << "'\n";
      return 2;
    }
    t.expires_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() +
                   ms;
  }
  auto opts = store_options(dir, sf);
  if (!opts) {
    std::cerr << "logctl-controller enroll-token create: " << opts.error().message << "\n";
    return 2;
  }
  auto c = Controller::open(*opts);
  if (!c) {
    std::cerr << "logctl-controller enroll-token create: " << c.error().message << "\n";
    return 1;
  }
  std::string secret = new_secret(store::TokenKind::kEnrollment);
  if (auto s = write_secret(f.out, secret); !s) {
    std::cerr << "logctl-controller enroll-token create: " << s.error().message << "\n";
    return 1;
  }
  t.hash = digest::sha256_hex(secret);
  auto id = (*c)->add_enrollment_token(t, f.names);
  if (!id) {
    ::unlink(f.out.c_str());
    std::cerr << "logctl-controller enroll-token create: " << id.error().message << "\n";
    return id.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "enrolment token #" << *id << " in " << f.out << " (0600): "
            << (f.uses > 0 ? std::to_string(f.uses) + " enrolment(s)" : "any number of enrolments")
            << (f.ttl.empty() ? ", no expiry" : ", for " + f.ttl)
            << (f.names.empty() ? ", any name" : ", names: " + nlohmann::json(f.names).dump())
            << "\n";
  return 0;
}

// migrate --from sqlite:PATH --to CONNINFO: a single-host install moved to a
// shared PostgreSQL database. PATH is its controller.db (or its data
// directory); the artifacts beside it go too. `serve` must be stopped (its
// API socket answering is refused): what it wrote after the copy would be
// lost. The data directory then names the new store (DIR/store), so the
// same `serve --data-dir DIR` runs on PostgreSQL; controller.db stays as it
// was, a backup no one writes.
int migrate(const std::string& from, const std::string& to, const std::string& password_file) {
  if (!from.starts_with("sqlite:")) {
    std::cerr << "logctl-controller migrate: --from is sqlite:PATH (the controller.db of a "
                 "single-host install, or its data directory)\n";
    return 2;
  }
  std::string path = from.substr(7);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) path += "/controller.db";
  std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (dir.empty()) dir = ".";
  if (::access(path.c_str(), R_OK) != 0) {
    std::cerr << "logctl-controller migrate: " << path << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  StoreFlags sf{to, password_file};
  auto opts = store_options(dir, sf);
  if (!opts || to.empty()) {
    std::cerr << "logctl-controller migrate: "
              << (opts ? std::string("--to names the PostgreSQL database") : opts.error().message)
              << "\n";
    return 2;
  }
  if (::access((dir + "/store").c_str(), F_OK) == 0) {
    std::cerr << "logctl-controller migrate: " << dir
              << "/store exists: this install runs on a shared database already\n";
    return 1;
  }
  // A serve still running would go on writing the SQLite file.
  sockaddr_un sa{};
  std::string sock = dir + "/api.sock";
  if (sock.size() < sizeof sa.sun_path) {
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, sock.c_str(), sock.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (fd >= 0) ::close(fd);
    if (live) {
      std::cerr << "logctl-controller migrate: `serve` is running on " << dir
                << " (its API socket answers): stop it first (the nodes keep serving), then "
                   "migrate, then start the controllers on the new store\n";
      return 1;
    }
  }
  auto copied =
      store::copy_sqlite_to_postgres(path, dir + "/artifacts", opts->store, opts->store_password);
  if (!copied) {
    std::cerr << "logctl-controller migrate: " << copied.error().message
              << " (nothing was written to PostgreSQL)\n";
    return 1;
  }
  auto kept = write_secret(dir + "/store", opts->store);
  std::cout << "copied " << path << " into " << store_description(*opts) << ":\n";
  for (const auto& [table, n] : *copied) std::cout << "  " << table << "  " << n << "\n";
  if (!kept) {
    std::cerr << "logctl-controller migrate: " << kept.error().message
              << ": pass --store to serve\n";
    return 1;
  }
  std::cout << dir << "/store now names it: `logctl-controller serve --data-dir " << dir
            << "` runs on PostgreSQL (" << path << " is kept, unused: a backup). Copy " << dir
            << " to each other controller host and start serve there too.\n";
  return 0;
}

int rotate_cert(const std::string& dir, const std::vector<std::string>& sans) {
  if (auto s = reissue_server_cert(dir, sans); !s) {
    std::cerr << "logctl-controller rotate-cert: " << s.error().message << "\n";
    return 1;
  }
  std::cout << "new server certificate " << tls_files(dir).server_cert
            << " from the same CA; restart `serve` to use it (clients pin the CA: nothing to "
               "change on them)\n";
  return 0;
}

// serve's flags.
struct ServeFlags {
  std::string listen = "127.0.0.1:7443", port_file;
  bool insecure = false;
  int heartbeat_ms = 1000, node_timeout_ms = 0, max_pending_per_source = 64;
  std::size_t max_nodes = 10000;
  std::string advertise_url;
  int lease_ttl_ms = 6000;
};

int serve(const std::string& dir, const ServeFlags& flags, const StoreFlags& sf) {
  const std::string& listen = flags.listen;
  const std::string& port_file = flags.port_file;
  const bool insecure = flags.insecure;
  const int heartbeat_ms = flags.heartbeat_ms, node_timeout_ms = flags.node_timeout_ms;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "logctl-controller: --listen wants HOST:PORT, got '" << listen << "'\n";
    return 2;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    std::cerr << "logctl-controller: bad port in --listen '" << listen << "'\n";
    return 2;
  }
  auto opts = store_options(dir, sf);
  if (!opts) {
    std::cerr << "logctl-controller: " << opts.error().message << "\n";
    return 2;
  }
  if (opts->store.empty() ? ::access((dir + "/controller.db").c_str(), F_OK) != 0
                          : ::access(tls_files(dir).ca_cert.c_str(), F_OK) != 0) {
    std::cerr << "logctl-controller: " << dir
              << " is not initialised: run `logctl-controller init --data-dir " << dir
              << "` first (with several controllers: once, then copy the directory to each)\n";
    return 1;
  }
  // The directory holds the CA key, the tokens and the database: ours alone,
  // as init made it (a restored copy with a wider mode is refused).
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 0077) != 0 ||
      st.st_uid != ::geteuid()) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    std::cerr << "logctl-controller: " << dir << " must be a directory of this user's with mode "
              << "0700 (it is " << (S_ISDIR(st.st_mode) ? mode : "not a directory")
              << "): it holds the CA key and the tokens; `chmod 0700 " << dir << "`\n";
    return 1;
  }
  ControllerOptions co = *opts;
  co.lease_ttl = std::chrono::milliseconds(flags.lease_ttl_ms);
  co.advertise_url = flags.advertise_url;
  co.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
  co.max_nodes = flags.max_nodes;
  co.node_timeout = node_timeout_ms > 0
                        ? std::chrono::milliseconds(node_timeout_ms)
                        : std::max(std::chrono::milliseconds(10000), co.heartbeat_interval * 5);
  if (co.node_timeout < co.heartbeat_interval * 3) {
    std::cerr << "logctl-controller: --node-timeout-ms must be at least 3 heartbeat intervals\n";
    return 2;
  }
  // The URL others reach this controller by: said, or what it listens on.
  // Known once bound (port 0): the Controller reads it only from its loop.
  auto c = Controller::open(co);
  if (!c) {
    std::cerr << "logctl-controller: " << c.error().message << "\n";
    return 1;
  }
  auto f = tls_files(dir);
  ApiOptions ao;
  ao.host = host;
  ao.port = port;
  ao.insecure_http = insecure;
  ao.cert = f.server_cert;
  ao.key = f.server_key;
  ao.backend_socket = dir + "/api.sock";
  ao.max_pending_per_source = flags.max_pending_per_source;
  ApiServer api(**c, ao);
  auto bound = api.bind();
  if (!bound) {
    std::cerr << "logctl-controller: " << bound.error().message << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    FILE* pf = std::fopen(tmp.c_str(), "w");
    if (pf) {
      std::fprintf(pf, "%d\n", *bound);
      std::fclose(pf);
      std::rename(tmp.c_str(), port_file.c_str());
    }
  }
  std::string url =
      (insecure ? "http://" : "https://") + listen.substr(0, colon) + ":" + std::to_string(*bound);
  if (flags.advertise_url.empty()) (*c)->set_advertise_url(url);
  std::cerr << "logctl-controller " << LOGCTL_VERSION << ": serving " << url << " (data " << dir
            << ", store " << store_description(co) << ")\n";
  // SIGTERM / SIGINT stop the server; a thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "logctl-controller: signal " << sig << ", stopping\n";
    sd_notify("STOPPING=1");
    api.stop();
  });
  (*c)->start();
  // Ready once SIGTERM is handled and the listening socket (bound above)
  // queues connections for serve().
  sd_notify("READY=1\nMAINPID=" + std::to_string(::getpid()));
  api.serve();
  (*c)->stop();
  if (waiter.joinable()) {
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::umask(077);  // the database holds token hashes; nothing here is for others
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"logctl-controller: the fleet's control plane"};
  app.require_subcommand(1);
  std::string dir;
  std::vector<std::string> sans;
  auto* init_cmd =
      app.add_subcommand("init", "Create the database, the CA and certificates, and tokens");
  init_cmd->add_option("--data-dir", dir, "Data directory (created 0700)")->required();
  init_cmd->add_option("--san", sans, "Extra DNS name or IP address for the server certificate");
  ServeFlags sf;
  auto& [listen, port_file, insecure, heartbeat_ms, node_timeout_ms, max_pending, max_nodes,
         advertise_url, lease_ttl_ms] = sf;
  StoreFlags stf;
  // Every subcommand that opens the database takes these.
  auto store_flags = [&stf](CLI::App* cmd) {
    cmd->add_option("--store", stf.store,
                    "A PostgreSQL database shared by several controllers (postgresql://USER@HOST/DB"
                    "?sslmode=verify-full, or key=value pairs; no password in it). Default: what "
                    "init --store kept in DATA_DIR/store, else DATA_DIR/controller.db (SQLite)");
    cmd->add_option("--store-password-file", stf.password_file,
                    "The PostgreSQL password, in a file of this user's (0600); else PGPASSWORD "
                    "or PGPASSFILE");
  };
  store_flags(init_cmd);
  auto* serve_cmd = app.add_subcommand("serve", "Serve the API and drive the fleet");
  serve_cmd->add_option("--data-dir", dir, "Data directory made by init")->required();
  serve_cmd->add_option("--listen", listen, "HOST:PORT (port 0: any free port)");
  serve_cmd->add_flag("--insecure-http", insecure, "Plain HTTP, loopback only (development)");
  serve_cmd->add_option("--heartbeat-interval-ms", heartbeat_ms, "What nodes are told")
      ->check(CLI::Range(100, 600000));
  serve_cmd
      ->add_option("--node-timeout-ms", node_timeout_ms,
                   "A node not heard from this long is unreachable (default: 5 heartbeat "
                   "intervals, at least 10 s; at least 3 intervals)")
      ->check(CLI::Range(300, 3600000));
  serve_cmd->add_option("--port-file", port_file, "Write the bound port here");
  serve_cmd
      ->add_option("--max-pending-per-source", max_pending,
                   "Connections from one address that may be mid-handshake or mid-request at "
                   "once (more are refused)")
      ->check(CLI::Range(1, 100000));
  serve_cmd->add_option("--max-nodes", max_nodes, "Enrolled nodes at most (default 10000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000000}));
  serve_cmd->add_option("--advertise-url", advertise_url,
                        "This controller's URL as nodes and operators reach it (shared store: "
                        "followers name the leader's; default: what it listens on)");
  serve_cmd
      ->add_option("--lease-ttl-ms", lease_ttl_ms,
                   "Shared store: the leader's lease (renewed every third of it; a dead leader "
                   "is replaced within about this)")
      ->check(CLI::Range(1000, 60000));
  store_flags(serve_cmd);
  std::string kind;
  auto* rotate_token_cmd =
      app.add_subcommand("rotate-token", "Replace the admin or enrolment token (old ones revoked)");
  rotate_token_cmd->add_option("--data-dir", dir, "Data directory made by init")->required();
  rotate_token_cmd->add_option("--kind", kind, "admin or enrolment (also spelt enrollment)")
      ->required()
      ->check(CLI::IsMember({"admin", "enrollment", "enrolment"}));
  store_flags(rotate_token_cmd);
  EnrollTokenFlags etf;
  auto* enroll_token_cmd =
      app.add_subcommand("enroll-token", "Bounded enrolment tokens (beside the one init made)");
  enroll_token_cmd->require_subcommand(1);
  auto* et_create = enroll_token_cmd->add_subcommand(
      "create", "A new enrolment token with a use count, an expiry and allowed names");
  et_create->add_option("--data-dir", dir, "Data directory made by init")->required();
  et_create->add_option("--out", etf.out, "Write the token to this new file (0600)")->required();
  et_create->add_option("--uses", etf.uses, "How many nodes it may enrol (default: no limit)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000}));
  et_create->add_option("--ttl", etf.ttl,
                        "How long it is valid: 90s, 30m, 1h, 7d (default: no expiry)");
  et_create->add_option("--name", etf.names, "A node name it may enrol (repeat; default: any)");
  store_flags(et_create);
  auto* rotate_cert_cmd = app.add_subcommand(
      "rotate-cert", "Re-issue the server certificate from the same CA (restart serve after)");
  rotate_cert_cmd->add_option("--data-dir", dir, "Data directory made by init")->required();
  rotate_cert_cmd->add_option("--san", sans, "Extra DNS name or IP address for the certificate");
  std::string migrate_from, migrate_to;
  auto* migrate_cmd = app.add_subcommand(
      "migrate", "Move a single-host install (SQLite) into an empty PostgreSQL database");
  migrate_cmd
      ->add_option("--from", migrate_from, "sqlite:PATH (controller.db or its data directory)")
      ->required();
  migrate_cmd->add_option("--to", migrate_to, "The PostgreSQL database (as serve --store)")
      ->required();
  migrate_cmd->add_option("--store-password-file", stf.password_file,
                          "The PostgreSQL password, in a file of this user's (0600)");
  auto* version_cmd = app.add_subcommand("version", "Print the version");
  CLI11_PARSE(app, argc, argv);
  if (*version_cmd) {
    std::cout << LOGCTL_VERSION << "\n";
    return 0;
  }
  if (*init_cmd) return init(dir, sans, stf);
  if (*rotate_token_cmd) return rotate_token(dir, kind == "enrolment" ? "enrollment" : kind, stf);
  if (*et_create) return enroll_token_create(dir, etf, stf);
  if (*rotate_cert_cmd) return rotate_cert(dir, sans);
  if (*migrate_cmd) return migrate(migrate_from, migrate_to, stf.password_file);
  return serve(dir, sf, stf);
}
