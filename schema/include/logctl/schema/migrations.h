// The controller's SQL migrations (schema/migrations/NNNN_name.sql), embedded
// in the binary at build time. Versions run 1..N without gaps; the database
// records the last one applied (SQLite: PRAGMA user_version; PostgreSQL: the
// logctl_schema table). A migration that has
// landed is never edited: a change is the next migration.
// Thread safety: immutable data.
#pragma once

#include <span>
#include <string_view>

namespace logctl::store {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Every migration, in version order (SQLite).
std::span<const Migration> migrations();
// Their PostgreSQL twins: the same versions and names, PostgreSQL's dialect.
std::span<const Migration> postgres_migrations();

}  // namespace logctl::store
