// The controller's state behind one narrow interface (docs/architecture.md):
// SQLite is its first engine, PostgreSQL (several controllers on one
// database) its second; both pass the same store tests. Every query is a
// prepared statement inside the engine; nothing outside builds SQL.
//
// Thread safety: a Store is used from one thread at a time (the controller
// serialises writes); engines may add their own locking.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  std::int64_t revision = 0;           // grows with every change; a plan names the one it saw
  std::int64_t updated_at = 0;         // Unix ms
  std::string target_strategy = "{}";  // JSON: the strategy `upgrade` planned with
  bool target_forced = false;          // `upgrade --force`
  bool stop_flush = false;             // `shutdown --flush`: workers deliver every buffer
  // Never started: nodes that enrol keep running what they run (a new
  // controller adopts a live fleet); the first start or resume ends it.
  bool adopting = false;
  // Why nothing moves ("": it does): the database was found older than what
  // a node was told (a backup restored). Resume re-converges, gated.
  std::string held;
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

struct ConfigRevision {
  std::int64_t id = 0;
  std::string text;
  std::string sha256;  // of text, lowercase hex
  std::string author;
  std::int64_t created_at = 0;
};

// A node as last seen. The live figures (version .. last_heartbeat) are soft
// state: heartbeats refresh them; the controller writes them back in batches.
struct Node {
  std::string name;
  std::string labels = "{}";  // JSON object
  std::string version;        // "" = not reported yet
  std::int64_t config_revision = 0;
  std::int64_t generation = 0;
  std::string health = "{}";  // JSON: the figures a gate reads, the last handover
  std::int64_t last_heartbeat = 0;
  std::int64_t enrolled_at = 0;
};

enum class TokenKind { kAdmin, kEnrollment, kNode };
const char* token_kind_name(TokenKind k);
std::optional<TokenKind> parse_token_kind(std::string_view s);

struct Token {
  std::int64_t id = 0;
  TokenKind kind = TokenKind::kNode;
  std::string hash;  // SHA-256 of the secret, lowercase hex; the secret is never stored
  std::string node;  // kNode: the node it belongs to
  std::int64_t created_at = 0;
  std::int64_t revoked_at = 0;  // 0 = valid
  // Enrolment tokens' bounds: enrolments left, when it expires (Unix ms),
  // the names it may enrol (a JSON array). Unset: no bound.
  std::optional<std::int64_t> uses_left;
  std::int64_t expires_at = 0;
  std::string names;

  // A valid token of `kind` with no bounds (`node`: the node's own).
  static Token of(TokenKind kind, std::string hash, std::string node = "") {
    Token t;
    t.kind = kind;
    t.hash = std::move(hash);
    t.node = std::move(node);
    return t;
  }
};

struct Rollout {
  std::int64_t id = 0;
  std::string state;  // running | paused | succeeded | rolling_back | rolled_back | aborted
  std::string from_version, to_version;
  std::int64_t from_config = 0, to_config = 0;
  std::string strategy = "{}";  // JSON: batches, canary, gate
  bool forced = false;
  std::string reason;  // why it ended as it did
  std::int64_t created_at = 0, updated_at = 0;
};

struct RolloutStep {
  std::int64_t rollout_id = 0;
  std::string node;
  int batch = 0;
  std::string state;          // pending | moving | settling | done | failed | reverting | reverted
  std::string report = "{}";  // JSON: the node's handover report and the gate's figures
  std::int64_t updated_at = 0;
};

// Leadership among the controllers that share a database (migration 0008).
struct Lease {
  std::string holder;           // "" = never held
  std::int64_t term = 0;        // grows by one with every new holder
  std::int64_t expires_at = 0;  // Unix ms (PostgreSQL: the database's clock)
};

// A controller process sharing the database (migration 0009).
struct ControllerInfo {
  std::string holder;  // its lease name: unique per process
  std::string url;     // how nodes and operators reach it ("" = not said)
  std::string version;
  std::int64_t started_at = 0, seen_at = 0;  // Unix ms
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
  // Raises the revision to at least `at_least` (never lowers it): after a
  // restore, past every revision a node was told. Returns the revision.
  virtual Result<std::int64_t> advance_revision(std::int64_t at_least) = 0;
  // kAlreadyExists when the version is stored with another hash.
  virtual Status add_release(const Release& r) = 0;
  virtual Result<std::optional<Release>> release(const std::string& version) = 0;
  virtual Result<std::vector<Release>> releases() = 0;
  // Removes the release's record; how many records still name its SHA-256
  // (0: its artifact may go).
  virtual Result<int> delete_release(const std::string& version) = 0;
  virtual Result<std::int64_t> append_history(const HistoryEntry& e) = 0;
  // The newest `limit` entries, newest first.
  virtual Result<std::vector<HistoryEntry>> history(std::size_t limit) = 0;

  // Config revisions: the same text again returns the revision it already has.
  virtual Result<std::int64_t> add_config(const ConfigRevision& c) = 0;
  virtual Result<std::optional<ConfigRevision>> config(std::int64_t id) = 0;
  virtual Result<std::vector<ConfigRevision>> configs(std::size_t limit) = 0;

  // kAlreadyExists when the name is taken.
  virtual Status add_node(const Node& n) = 0;
  virtual Result<std::optional<Node>> node(const std::string& name) = 0;
  virtual Result<std::vector<Node>> nodes() = 0;
  // Writes the live figures of every node given, in one transaction.
  virtual Status put_node_states(const std::vector<Node>& nodes) = 0;

  virtual Result<std::int64_t> add_token(const Token& t) = 0;
  virtual Result<std::optional<Token>> token_by_hash(const std::string& hash) = 0;
  // Revokes every valid token of the node; returns how many.
  virtual Result<int> revoke_node_tokens(const std::string& node) = 0;
  // Marks the node deleted (out of nodes() and node(); add_node may take the
  // name again) and revokes its tokens, in one transaction; how many tokens.
  // kNotFound when no such node is enrolled.
  virtual Result<int> delete_node(const std::string& node) = 0;
  // Revokes every valid token of `kind` but `keep` (token rotation); how many.
  virtual Result<int> revoke_tokens_of_kind(TokenKind kind, std::int64_t keep) = 0;
  virtual Result<int> valid_node_tokens(const std::string& node) = 0;
  virtual Status revoke_token(std::int64_t id) = 0;
  // Takes one use of a token with a use count; false when none is left.
  virtual Result<bool> use_token(std::int64_t id) = 0;
  // The enrolled (not deleted) node whose name equals `name` without regard
  // to case, if any.
  virtual Result<std::optional<std::string>> node_name_nocase(const std::string& name) = 0;

  // A rollout and its steps, in one transaction; returns its id.
  virtual Result<std::int64_t> add_rollout(const Rollout& r, std::vector<RolloutStep> steps) = 0;
  virtual Status put_rollout(const Rollout& r) = 0;  // state and reason
  virtual Status put_step(const RolloutStep& s) = 0;
  virtual Result<std::optional<Rollout>> rollout(std::int64_t id) = 0;
  // The newest `limit` rollouts, newest first.
  virtual Result<std::vector<Rollout>> rollouts(std::size_t limit) = 0;
  virtual Result<std::vector<RolloutStep>> steps(std::int64_t rollout_id) = 0;

  // Renews `holder`'s running lease for `ttl_ms` (the same term), or takes
  // one that has ended (or was never held) with the next term; otherwise
  // changes nothing. Returns the lease as it stands: holder == the caller
  // means it leads until expires_at.
  virtual Result<Lease> acquire_lease(const std::string& holder, std::int64_t ttl_ms) = 0;
  // Ends the lease now if `holder` holds it in `term` (a clean stop), so a
  // successor need not wait for it to run out.
  virtual Status release_lease(const std::string& holder, std::int64_t term) = 0;
  // Fencing, done by the database: while `term` is set (non-zero), every
  // write this store makes to the fleet's tables is refused (kFenced) once
  // the lease's term is no longer `term`; a write either commits while the
  // term is still its own or not at all. 0 lifts it (a single controller).
  virtual Status set_fence(std::int64_t term) = 0;
  // The lease as it stands, changing nothing.
  virtual Result<Lease> lease() = 0;

  // Records a controller process (or refreshes it: seen_at becomes now).
  virtual Status put_controller(const ControllerInfo& c) = 0;
  // The controllers seen at or after `since` (Unix ms), by URL then holder.
  virtual Result<std::vector<ControllerInfo>> controllers(std::int64_t since) = 0;

  // Release artifacts by SHA-256 in numbered chunks, so that any controller
  // on a shared database serves a release another one received. Writing a
  // chunk again replaces it (a retried upload).
  virtual Status put_artifact_chunk(const std::string& sha256, int seq, std::string_view data) = 0;
  // The chunk, or nullopt past the last one (or for an unknown SHA-256).
  virtual Result<std::optional<std::string>> artifact_chunk(const std::string& sha256, int seq) = 0;
  virtual Status delete_artifact(const std::string& sha256) = 0;
};

// Opens (creating) the SQLite database at `path`: WAL, foreign keys on,
// busy_timeout 5 s; applies the embedded migrations it lacks in one
// transaction. A database from a newer controller is refused, untouched.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path);

// Connects to PostgreSQL (`conninfo`: a postgresql:// URL or key=value pairs,
// libpq's; the password from it, PGPASSWORD or ~/.pgpass, never logged) and
// applies the PostgreSQL twins of the migrations it lacks, in one
// transaction under an advisory lock (several controllers may start at
// once). A database from a newer controller is refused, untouched.
// `password`, when not empty, is used over anything else (a file's content:
// serve --store-password-file).
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo,
                                                   const std::string& password = "");
// `logctl-controller migrate`: copies every record of the SQLite database at
// `sqlite_path`, and the release artifacts in `artifacts_dir` (files named by
// SHA-256, each verified), into the PostgreSQL database `conninfo`, which
// must hold no fleet yet; both are first brought to this controller's schema
// version. Ids and revisions are kept; one PostgreSQL transaction (all or
// nothing) over one SQLite read snapshot. Returns what it copied, per table.
Result<std::vector<std::pair<std::string, std::int64_t>>> copy_sqlite_to_postgres(
    const std::string& sqlite_path, const std::string& artifacts_dir, const std::string& conninfo,
    const std::string& password = "");
// Checks a conninfo before use: it must parse, and must not hold a password
// (a URL's password shows in `ps` and in logs: a password file, PGPASSWORD
// or PGPASSFILE instead). Returns what may be logged of it
// ("PostgreSQL database D on H:P as U, sslmode M").
Result<std::string> describe_postgres(const std::string& conninfo);

}  // namespace logctl::store
