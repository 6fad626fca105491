// `logctl-controller migrate --from sqlite:PATH --to postgres://…`: a
// single-host install's database moved, whole, into an empty PostgreSQL
// database (docs/operations.md, "From one controller to several"). The
// tables are twins (schema/migrations and migrations/postgres), so rows are
// copied column by column as text, ids kept; identity sequences are moved
// past the copied ids; the release artifacts go into artifact_chunks.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "controller/store/artifact_file.h"
#include "controller/store/pg_conn.h"
#include "controller/store/store.h"
#include "logctl/schema/digest.h"

namespace logctl::store {
namespace {

// In an order the foreign keys accept; `cluster` (one row) is updated after.
constexpr const char* kTables[] = {"config_revisions", "releases",      "nodes",  "tokens",
                                   "rollouts",         "rollout_steps", "history"};
constexpr const char* kIdentityTables[] = {"config_revisions", "history", "tokens", "rollouts"};

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct PgCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};

class Copier {
 public:
  Copier(sqlite3* db, PGconn* pg) : db_(db), pg_(pg) {}

  Status exec(const std::string& sql, const std::string& what) {
    Res r(PQexec(pg_, sql.c_str()));
    if (!r.ok()) return make_error(ErrorCode::kIo, what + ": " + r.message());
    return {};
  }

  // Every row of `table` (or of `where`), as INSERT (or, for the cluster
  // row, UPDATE) statements with the same columns; how many rows.
  Result<std::int64_t> copy(const std::string& table, bool update_row_one = false) {
    std::string select = "SELECT * FROM " + table + (update_row_one ? " WHERE id = 1" : "");
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, select.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
      return make_error(ErrorCode::kIo, "read " + table + ": " + sqlite3_errmsg(db_));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    int n = sqlite3_column_count(raw);
    std::string sql;
    if (update_row_one) {
      sql = "UPDATE " + table + " SET ";
      for (int i = 0; i < n; ++i) {
        std::string col = sqlite3_column_name(raw, i);
        sql += (i > 0 ? ", " : "") + col + " = $" + std::to_string(i + 1);
      }
      sql += " WHERE id = 1";
    } else {
      std::string cols, params;
      for (int i = 0; i < n; ++i) {
        cols += (i ? ", " : "") + std::string(sqlite3_column_name(raw, i));
        params += (i ? ", $" : "$") + std::to_string(i + 1);
      }
      sql = "INSERT INTO " + table + " (" + cols + ") VALUES (" + params + ")";
    }
    std::int64_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      std::vector<std::string> text(static_cast<std::size_t>(n));
      std::vector<const char*> values(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        if (sqlite3_column_type(raw, i) == SQLITE_NULL) continue;  // values[i] stays NULL
        auto* t = sqlite3_column_text(raw, i);
        text[static_cast<std::size_t>(i)].assign(
            reinterpret_cast<const char*>(t),
            static_cast<std::size_t>(sqlite3_column_bytes(raw, i)));
        values[static_cast<std::size_t>(i)] = text[static_cast<std::size_t>(i)].c_str();
      }
      Res r(PQexecParams(pg_, sql.c_str(), n, nullptr, values.data(), nullptr, nullptr, 0));
      if (!r.ok()) {
        return make_error(ErrorCode::kIo, "copy " + table + " row " + std::to_string(rows + 1) +
                                              ": " + r.message());
      }
      ++rows;
    }
    if (rc != SQLITE_DONE) {
      return make_error(ErrorCode::kIo, "read " + table + ": " + sqlite3_errmsg(db_));
    }
    return rows;
  }

  // Each release's bytes, verified against its SHA-256, into artifact_chunks.
  Result<std::int64_t> copy_artifacts(const std::string& dir) {
    sqlite3_stmt* raw = nullptr;
    sqlite3_prepare_v2(db_, "SELECT DISTINCT sha256, version FROM releases", -1, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    std::int64_t count = 0;
    while (raw && sqlite3_step(raw) == SQLITE_ROW) {
      std::string sha = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
      std::string version = reinterpret_cast<const char*>(sqlite3_column_text(raw, 1));
      bool hex = sha.size() == 64 && std::all_of(sha.begin(), sha.end(), [](char ch) {
                   return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
                 });
      if (!hex) return make_error(ErrorCode::kCorrupt, "release " + version + ": bad SHA-256");
      if (auto s = copy_artifact(dir + "/" + sha, sha, version); !s) {
        return std::unexpected(s.error());
      }
      ++count;
    }
    return count;
  }

 private:
  Status copy_artifact(const std::string& path, const std::string& sha,
                       const std::string& version) {
    digest::Sha256 h;
    Status out = for_each_artifact_chunk(path, [&](int seq, std::string_view bytes) -> Status {
      h.update(bytes);
      std::string seq_text = std::to_string(seq);
      const char* values[] = {sha.c_str(), seq_text.c_str(), bytes.data()};
      const int lengths[] = {0, 0, static_cast<int>(bytes.size())};
      const int formats[] = {0, 0, 1};
      Res r(PQexecParams(pg_, "INSERT INTO artifact_chunks (sha256, seq, data) VALUES ($1, $2, $3)",
                         3, nullptr, values, lengths, formats, 0));
      if (!r.ok()) return make_error(ErrorCode::kIo, "copy " + path + ": " + r.message());
      return {};
    });
    if (!out) {
      bool missing = out.error().code == ErrorCode::kNotFound;
      return make_error(out.error().code,
                        "release " + version + ": its artifact: " + out.error().message +
                            (missing ? " (delete the release, or restore the file)" : ""));
    }
    if (out && h.hex() != sha) {
      out = make_error(ErrorCode::kCorrupt,
                       "release " + version + ": " + path + " does not match its SHA-256");
    }
    return out;
  }

  sqlite3* db_;
  PGconn* pg_;
};

}  // namespace

Result<std::vector<std::pair<std::string, std::int64_t>>> copy_sqlite_to_postgres(
    const std::string& sqlite_path, const std::string& artifacts_dir, const std::string& conninfo,
    const std::string& password) {
  {
    // Both at this controller's schema version first (each engine migrates).
    auto from = open_sqlite_store(sqlite_path);
    if (!from) return std::unexpected(from.error());
    auto to = open_postgres_store(conninfo, password);
    if (!to) return std::unexpected(to.error());
  }
  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(sqlite_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close(raw);
    return make_error(ErrorCode::kIo, "open " + sqlite_path + ": " + msg);
  }
  std::unique_ptr<sqlite3, SqliteCloser> db(raw);
  auto conn = pg_connect(conninfo, password);
  if (!conn) return std::unexpected(conn.error());
  std::unique_ptr<PGconn, PgCloser> pg(*conn);
  Copier c(db.get(), pg.get());
  // One snapshot of the SQLite file (a writer meanwhile changes nothing we read).
  if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::kIo, "read " + sqlite_path + ": " + sqlite3_errmsg(db.get()));
  }
  if (auto s = c.exec("BEGIN ISOLATION LEVEL SERIALIZABLE", "migrate"); !s) {
    return std::unexpected(s.error());
  }
  Res held(PQexec(pg.get(),
                  "SELECT (SELECT COUNT(*) FROM nodes) + (SELECT COUNT(*) FROM history) + "
                  "(SELECT COUNT(*) FROM releases) + (SELECT COUNT(*) FROM config_revisions) + "
                  "(SELECT COUNT(*) FROM rollouts) + (SELECT COUNT(*) FROM tokens)"));
  if (!held.ok()) return make_error(ErrorCode::kIo, "migrate: " + held.message());
  if (held.integer(0, 0) != 0) {
    return make_error(ErrorCode::kAlreadyExists,
                      "the PostgreSQL database already holds a fleet (" +
                          std::to_string(held.integer(0, 0)) +
                          " records): migrate into a new, empty database");
  }
  std::vector<std::pair<std::string, std::int64_t>> copied;
  for (const char* t : kTables) {
    auto n = c.copy(t);
    if (!n) return std::unexpected(n.error());
    copied.emplace_back(t, *n);
  }
  if (auto n = c.copy("cluster", /*update_row_one=*/true); !n) return std::unexpected(n.error());
  for (const char* t : kIdentityTables) {
    std::string sql = std::string("SELECT setval(pg_get_serial_sequence('") + t +
                      "', 'id'), COALESCE((SELECT MAX(id) FROM " + t + "), 0) + 1, false)";
    if (auto s = c.exec(sql, std::string("sequence of ") + t); !s)
      return std::unexpected(s.error());
  }
  auto artifacts = c.copy_artifacts(artifacts_dir);
  if (!artifacts) return std::unexpected(artifacts.error());
  copied.emplace_back("artifacts", *artifacts);
  if (auto s = c.exec("COMMIT", "migrate"); !s) return std::unexpected(s.error());
  return copied;
}

}  // namespace logctl::store
