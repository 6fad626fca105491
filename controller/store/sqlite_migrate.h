// Migrating a SQLite database: every migration newer than the database's
// PRAGMA user_version, applied in one transaction (all or none), then the
// new version recorded in the same transaction. A database whose version is
// newer than the last migration known here is refused and left untouched.
// Thread safety: one connection, one thread.
#pragma once

#include <sqlite3.h>

#include <span>

#include "logctl/schema/migrations.h"
#include "logctl/schema/result.h"

namespace logctl::store {

Status migrate(sqlite3* db, std::span<const Migration> all, const std::string& path);

}  // namespace logctl::store
