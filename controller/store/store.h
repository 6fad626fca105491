// The controller's state behind one narrow interface (docs/architecture.md):
// SQLite is its first engine; a later one (PostgreSQL, several controllers)
// implements the same interface and passes the same tests. Every query is a
// prepared statement inside the engine; nothing outside builds SQL.
//
// Thread safety: a Store is used from one thread at a time (the controller
// serialises writes); engines may add their own locking.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::store {

// Stored as text ("stopped", ...): the words are part of the schema.
enum class ClusterState {
  kStopped,      // no worker runs; supervisors stay enrolled
  kRunning,      // every node runs current_version / current_config
  kUpgrading,    // a rollout moves nodes to target_version / target_config
  kPaused,       // a rollout stopped between batches; resume continues it
  kRollingBack,  // a failed rollout moves the moved nodes back
};
const char* cluster_state_name(ClusterState s);
std::optional<ClusterState> parse_cluster_state(std::string_view s);

struct Cluster {
  ClusterState state = ClusterState::kStopped;
  std::string current_version, target_version, previous_version;            // "" = none
  std::int64_t current_config = 0, target_config = 0, previous_config = 0;  // 0 = none
  std::int64_t revision = 0;    // grows with every change; a plan names the one it saw
  std::int64_t updated_at = 0;  // Unix ms
};

struct Release {
  std::string version;
  std::string sha256;
  std::int64_t size = 0;
  std::string manifest;  // JSON (docs/release-manifest.md)
  std::int64_t created_at = 0;
};

struct HistoryEntry {
  std::int64_t id = 0;
  std::int64_t at = 0;
  std::string actor, action, detail;
  bool forced = false;
  std::string outcome;
};

class Store {
 public:
  virtual ~Store() = default;
  // The schema version the database is at (its last migration).
  virtual Result<int> schema_version() = 0;
  virtual Result<Cluster> cluster() = 0;
  // Stores `next` only if the stored revision is still next.revision, and
  // bumps the revision: kAlreadyExists (a conflict) when someone else wrote
  // first. Returns the new revision.
  virtual Result<std::int64_t> put_cluster(const Cluster& next) = 0;
  // kAlreadyExists when the version is stored with another hash.
  virtual Status add_release(const Release& r) = 0;
  virtual Result<std::optional<Release>> release(const std::string& version) = 0;
  virtual Result<std::vector<Release>> releases() = 0;
  virtual Result<std::int64_t> append_history(const HistoryEntry& e) = 0;
  // The newest `limit` entries, newest first.
  virtual Result<std::vector<HistoryEntry>> history(std::size_t limit) = 0;
};

// Opens (creating) the SQLite database at `path`: WAL, foreign keys on,
// busy_timeout 5 s; applies the embedded migrations it lacks in one
// transaction. A database from a newer controller is refused, untouched.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

}  // namespace logctl::store
