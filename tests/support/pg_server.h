// A real PostgreSQL server for the tests (Debian's `postgresql` package, which
// scripts/setup.sh installs): initdb into a fresh directory under /tmp, run
// as the `postgres` system user when the tests run as root (PostgreSQL
// refuses root), on a free loopback port with its socket in that directory
// and trust authentication for loopback only; stopped (immediate) and the
// directory removed when the object goes. One per test process is plenty:
// each test takes a fresh database from it.
#pragma once

#include <string>

namespace logctl::test {

class PgServer {
 public:
  PgServer();
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // Whether it runs; else error() says what failed (with initdb's or the
  // server's own output).
  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  // A new, empty database; its libpq connection string.
  std::string fresh_database();
  std::string conninfo(const std::string& db) const;
  // Runs SQL in `db` with psql; its error text ("" when it succeeded).
  std::string run_sql(const std::string& db, const std::string& sql) const;
  // Stops the server as a crash would (immediate: every connection cut,
  // recovery at the next start), and starts it again on the same port.
  bool stop();
  bool start();
  // The one server of this test process (started on first use).
  static PgServer& shared();

 private:
  std::string as_owner(const std::string& cmd) const;
  std::string bin_, dir_, error_;
  int port_ = 0;
  int next_db_ = 0;
  bool ready_ = false;
};

}  // namespace logctl::test
