#include "support/pg_server.h"

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/harness.h"

namespace logctl::test {
namespace {

// The newest installed server's binaries (/usr/lib/postgresql/N/bin).
std::string server_bin() {
  glob_t g{};
  std::string best;
  if (::glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) {
      std::string p = g.gl_pathv[i];
      if (best.empty() || p > best) best = p;
    }
  }
  ::globfree(&g);
  return best.empty() ? "" : best.substr(0, best.rfind('/'));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string PgServer::as_owner(const std::string& cmd) const {
  // PostgreSQL refuses to run as root: the package's system user runs it.
  return ::geteuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
}

PgServer::PgServer() {
  bin_ = server_bin();
  if (bin_.empty()) {
    error_ = "no PostgreSQL server installed (/usr/lib/postgresql/*/bin): run scripts/setup.sh";
    return;
  }
  char tmpl[] = "/tmp/logctl-pg-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      error_ = "no 'postgres' system user to run the server as (install postgresql)";
      return;
    }
  }
  port_ = free_port();
  std::string log = dir_ + "/setup.log";
  if (sh(as_owner(bin_ + "/initdb -D " + dir_ +
                  "/data -U postgres -A trust -E UTF8 --locale=C "
                  "--no-sync") +
         " > " + log + " 2>&1") != 0) {
    error_ = "initdb failed: " + slurp(log);
    return;
  }
  if (!start()) {
    error_ = "pg_ctl start failed: " + slurp(log) + slurp(dir_ + "/server.log");
    return;
  }
  ready_ = true;
  // A test process that dies without its destructor (a crash, kill -9)
  // leaves no server behind: a watcher stops it and removes the directory
  // once this process is gone.
  sh("(while kill -0 " + std::to_string(::getpid()) + " 2>/dev/null; do sleep 1; done; " +
     as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop") + "; rm -rf " + dir_ +
     ") > /dev/null 2>&1 < /dev/null &");
}

bool PgServer::start() {
  // fsync off (the tests need no power-loss safety), but every commit in the
  // WAL before it returns: a crash (stop() is immediate) loses nothing that
  // was committed, as on a production server.
  std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                     " -c listen_addresses=127.0.0.1 -c fsync=off"
                     " -c full_page_writes=off";
  return sh(as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                     "/server.log -w -t 60 -o '" + opts + "' start") +
            " >> " + dir_ + "/setup.log 2>&1") == 0;
}

bool PgServer::stop() {
  return sh(as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop") + " >> " + dir_ +
            "/setup.log 2>&1") == 0;
}

PgServer::~PgServer() {
  if (ready_) {
    sh(as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop") + " > /dev/null 2>&1");
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PgServer::conninfo(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + db +
         " connect_timeout=10";
}

std::string PgServer::run_sql(const std::string& db, const std::string& sql) const {
  std::string file = dir_ + "/q" + std::to_string(::getpid()) + ".sql";
  std::string out = dir_ + "/q" + std::to_string(::getpid()) + ".out";
  {
    std::ofstream f(file);
    f << sql << "\n";
  }
  int rc = sh("psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(port_) +
              " -U postgres -d " + db + " -f " + file + " > " + out + " 2>&1");
  std::string text = slurp(out);
  return rc == 0 ? "" : (text.empty() ? "psql failed" : text);
}

std::string PgServer::fresh_database() {
  std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++next_db_);
  std::string err = run_sql("postgres", "CREATE DATABASE " + name);
  if (!err.empty()) error_ = err;
  return conninfo(name);
}

PgServer& PgServer::shared() {
  static PgServer server;
  return server;
}

}  // namespace logctl::test
