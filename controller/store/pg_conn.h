// What the PostgreSQL engine's files share (postgres_store.cpp, and the
// copy from SQLite in sqlite_to_postgres.cpp): a connection with our bounds,
// and a statement's result. Not part of the store's interface.
// Thread safety: a connection is used from one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "logctl/schema/result.h"

namespace logctl::store {

// Connects with `conninfo` (a URL or key=value pairs; `password`, when not
// empty, over anything else) and our bounds on what it leaves unset: a
// connect never waits more than 5 s, and a database host that vanished is
// noticed within seconds (TCP keepalives, tcp_user_timeout). NOTICEs are
// not the controller's log.
Result<PGconn*> pg_connect(const std::string& conninfo, const std::string& password);

// A statement's result; cleared on destruction.
class Res {
 public:
  explicit Res(PGresult* r) : r_(r) {}
  ~Res() { PQclear(r_); }
  Res(const Res&) = delete;
  Res& operator=(const Res&) = delete;
  Res(Res&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  bool ok() const {
    auto s = PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  int rows() const { return PQntuples(r_); }
  std::string text(int row, int c) const {
    return std::string(PQgetvalue(r_, row, c), static_cast<std::size_t>(PQgetlength(r_, row, c)));
  }
  std::int64_t integer(int row, int c) const {
    return PQgetisnull(r_, row, c) ? 0 : std::stoll(PQgetvalue(r_, row, c));
  }
  bool is_null(int row, int c) const { return PQgetisnull(r_, row, c) != 0; }
  // Rows an UPDATE or DELETE changed.
  int changed() const {
    const char* n = PQcmdTuples(r_);
    return n && *n ? std::atoi(n) : 0;
  }
  std::string sqlstate() const {
    const char* s = PQresultErrorField(r_, PG_DIAG_SQLSTATE);
    return s ? s : "";
  }
  std::string message() const {
    const char* m = PQresultErrorMessage(r_);
    std::string s = m ? m : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }

 private:
  PGresult* r_;
};

}  // namespace logctl::store
