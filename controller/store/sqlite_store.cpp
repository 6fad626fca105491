#include <sqlite3.h>

#include <chrono>
#include <string>
#include <utility>

#include "controller/store/columns.h"
#include "controller/store/sqlite_migrate.h"
#include "controller/store/store.h"

namespace logctl::store {
namespace {

Error sql_error(sqlite3* db, const std::string& what) {
  std::string msg = sqlite3_errmsg(db);
  // Raised by this connection's fence triggers (set_fence): a superseded term.
  return Error{msg.starts_with("fenced: ") ? ErrorCode::kFenced : ErrorCode::kIo,
               what + ": " + msg};
}

// The tables a fenced leader may no longer write once its term is superseded.
constexpr const char* kFencedTables[] = {"cluster",  "releases",      "config_revisions",
                                         "history",  "nodes",         "tokens",
                                         "rollouts", "rollout_steps", "artifact_chunks"};

// A prepared statement: bind by position, step, read columns; finalized on
// destruction. Values never become SQL text.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  // A NULL for "" / 0: "none" in the schema.
  Stmt& bind_or_null(int i, const std::string& v) {
    if (v.empty()) sqlite3_bind_null(s_, i);
    return v.empty() ? *this : bind(i, v);
  }
  Stmt& bind_or_null(int i, std::int64_t v) {
    if (v == 0) sqlite3_bind_null(s_, i);
    return v == 0 ? *this : bind(i, v);
  }
  int step() { return sqlite3_step(s_); }
  std::string text(int c) const {
    auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  std::int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  sqlite3_stmt* raw() { return s_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ConfigRevision config_row(const Stmt& s) {
  return ConfigRevision{s.integer(0), s.text(1), s.text(2), s.text(3), s.integer(4)};
}

Node node_row(const Stmt& s) {
  return Node{s.text(0),    s.text(1), s.text(2),    s.integer(3),
              s.integer(4), s.text(5), s.integer(6), s.integer(7)};
}

Rollout rollout_row(const Stmt& s) {
  return Rollout{s.integer(0), s.text(1),    s.text(2),    s.text(3),
                 s.integer(4), s.integer(5), s.text(6),    s.integer(7) != 0,
                 s.text(8),    s.integer(9), s.integer(10)};
}

Release release_row(const Stmt& s) {
  return Release{s.text(0), s.text(1), s.integer(2), s.text(3), s.integer(4)};
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Result<int> schema_version() override {
    Stmt s(db_, "PRAGMA user_version");
    if (!s.ok() || s.step() != SQLITE_ROW) return std::unexpected(sql_error(db_, "user_version"));
    return static_cast<int>(s.integer(0));
  }

  Result<Cluster> cluster() override {
    Stmt s(db_,
           "SELECT state, current_version, target_version, previous_version, current_config, "
           "target_config, previous_config, revision, updated_at, target_strategy, target_forced, "
           "stop_flush, adopting, held FROM cluster WHERE id = 1");
    if (!s.ok() || s.step() != SQLITE_ROW) return std::unexpected(sql_error(db_, "read cluster"));
    auto state = parse_cluster_state(s.text(0));
    if (!state) return make_error(ErrorCode::kCorrupt, "cluster state '" + s.text(0) + "'");
    return Cluster{*state,
                   s.text(1),
                   s.text(2),
                   s.text(3),
                   s.integer(4),
                   s.integer(5),
                   s.integer(6),
                   s.integer(7),
                   s.integer(8),
                   s.text(9),
                   s.integer(10) != 0,
                   s.integer(11) != 0,
                   s.integer(12) != 0,
                   s.text(13)};
  }

  Result<std::int64_t> put_cluster(const Cluster& c) override {
    Stmt s(db_,
           "UPDATE cluster SET state = ?1, current_version = ?2, target_version = ?3, "
           "previous_version = ?4, current_config = ?5, target_config = ?6, "
           "previous_config = ?7, revision = revision + 1, updated_at = ?8, "
           "target_strategy = ?10, target_forced = ?11, stop_flush = ?12, adopting = ?13, "
           "held = ?14 WHERE id = 1 AND revision = ?9");
    if (!s.ok()) return std::unexpected(sql_error(db_, "write cluster"));
    s.bind(1, std::string(cluster_state_name(c.state)))
        .bind_or_null(2, c.current_version)
        .bind_or_null(3, c.target_version)
        .bind_or_null(4, c.previous_version)
        .bind_or_null(5, c.current_config)
        .bind_or_null(6, c.target_config)
        .bind_or_null(7, c.previous_config)
        .bind(8, now_ms())
        .bind(9, c.revision)
        .bind(10, c.target_strategy)
        .bind(11, std::int64_t{c.target_forced ? 1 : 0})
        .bind(12, std::int64_t{c.stop_flush ? 1 : 0})
        .bind(13, std::int64_t{c.adopting ? 1 : 0})
        .bind_or_null(14, c.held);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "write cluster"));
    if (sqlite3_changes(db_) != 1) {
      return make_error(ErrorCode::kAlreadyExists,
                        "the cluster changed since revision " + std::to_string(c.revision));
    }
    return c.revision + 1;
  }

  Result<std::int64_t> advance_revision(std::int64_t at_least) override {
    Stmt s(db_, "UPDATE cluster SET revision = MAX(revision, ?1) WHERE id = 1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "advance revision"));
    s.bind(1, at_least);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "advance revision"));
    auto c = cluster();
    if (!c) return std::unexpected(c.error());
    return c->revision;
  }

  Status add_release(const Release& r) override {
    auto existing = release(r.version);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) {
      if ((*existing)->sha256 == r.sha256) return {};  // the same artifact again
      return make_error(
          ErrorCode::kAlreadyExists,
          "release " + r.version + " exists with another SHA-256 (" + (*existing)->sha256 + ")");
    }
    Stmt s(db_,
           "INSERT INTO releases (version, sha256, size, manifest, created_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "add release"));
    s.bind(1, r.version).bind(2, r.sha256).bind(3, r.size).bind(4, r.manifest).bind(5, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add release"));
    return {};
  }

  Result<int> delete_release(const std::string& version) override {
    int left = 0;
    auto st = transaction("delete release", [&]() -> Status {
      auto r = release(version);
      if (!r) return std::unexpected(r.error());
      if (!*r) return make_error(ErrorCode::kNotFound, "release " + version);
      Stmt d(db_, "DELETE FROM releases WHERE version = ?1");
      if (!d.ok()) return std::unexpected(sql_error(db_, "delete release"));
      d.bind(1, version);
      if (d.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "delete release"));
      Stmt n(db_, "SELECT COUNT(*) FROM releases WHERE sha256 = ?1");
      if (!n.ok()) return std::unexpected(sql_error(db_, "count releases"));
      n.bind(1, (*r)->sha256);
      if (n.step() != SQLITE_ROW) return std::unexpected(sql_error(db_, "count releases"));
      left = static_cast<int>(n.integer(0));
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return left;
  }

  Result<std::optional<Release>> release(const std::string& version) override {
    Stmt s(db_,
           "SELECT version, sha256, size, manifest, created_at FROM releases WHERE version = ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read release"));
    s.bind(1, version);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<Release>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read release"));
    return std::optional<Release>(release_row(s));
  }

  Result<std::vector<Release>> releases() override {
    Stmt s(db_,
           "SELECT version, sha256, size, manifest, created_at FROM releases "
           "ORDER BY created_at, version");
    if (!s.ok()) return std::unexpected(sql_error(db_, "list releases"));
    std::vector<Release> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(release_row(s));
    if (rc != SQLITE_DONE) return std::unexpected(sql_error(db_, "list releases"));
    return out;
  }

  Result<std::int64_t> append_history(const HistoryEntry& e) override {
    Stmt s(db_,
           "INSERT INTO history (at, actor, action, detail, forced, outcome) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "append history"));
    s.bind(1, e.at ? e.at : now_ms())
        .bind(2, e.actor)
        .bind(3, e.action)
        .bind(4, e.detail)
        .bind(5, std::int64_t{e.forced ? 1 : 0})
        .bind(6, e.outcome);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "append history"));
    return sqlite3_last_insert_rowid(db_);
  }

  Result<std::vector<HistoryEntry>> history(std::size_t limit) override {
    Stmt s(db_,
           "SELECT id, at, actor, action, detail, forced, outcome FROM history "
           "ORDER BY id DESC LIMIT ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read history"));
    s.bind(1, static_cast<std::int64_t>(limit));
    std::vector<HistoryEntry> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back(HistoryEntry{s.integer(0), s.integer(1), s.text(2), s.text(3), s.text(4),
                                 s.integer(5) != 0, s.text(6)});
    }
    if (rc != SQLITE_DONE) return std::unexpected(sql_error(db_, "read history"));
    return out;
  }

  Result<std::int64_t> add_config(const ConfigRevision& c) override {
    {
      Stmt s(db_, "SELECT id FROM config_revisions WHERE sha256 = ?1 ORDER BY id LIMIT 1");
      if (!s.ok()) return std::unexpected(sql_error(db_, "find config"));
      s.bind(1, c.sha256);
      if (s.step() == SQLITE_ROW) return s.integer(0);
    }
    Stmt s(db_,
           "INSERT INTO config_revisions (text, sha256, author, created_at) "
           "VALUES (?1, ?2, ?3, ?4)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "add config"));
    s.bind(1, c.text).bind(2, c.sha256).bind(3, c.author).bind(4, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add config"));
    return sqlite3_last_insert_rowid(db_);
  }

  Result<std::optional<ConfigRevision>> config(std::int64_t id) override {
    Stmt s(db_, "SELECT id, text, sha256, author, created_at FROM config_revisions WHERE id = ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read config"));
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<ConfigRevision>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read config"));
    return std::optional<ConfigRevision>(config_row(s));
  }

  Result<std::vector<ConfigRevision>> configs(std::size_t limit) override {
    Stmt s(db_,
           "SELECT id, text, sha256, author, created_at FROM config_revisions "
           "ORDER BY id DESC LIMIT ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "list configs"));
    s.bind(1, static_cast<std::int64_t>(limit));
    return collect<ConfigRevision>(s, config_row, "list configs");
  }

  Status add_node(const Node& n) override {
    // A name deleted earlier enrols again: its row comes back, fresh.
    Stmt revive(db_,
                "UPDATE nodes SET labels = ?2, version = NULL, config_revision = NULL, "
                "generation = NULL, health = '{}', last_heartbeat = NULL, enrolled_at = ?3, "
                "deleted_at = NULL WHERE name = ?1 AND deleted_at IS NOT NULL");
    if (!revive.ok()) return std::unexpected(sql_error(db_, "add node"));
    revive.bind(1, n.name).bind(2, n.labels).bind(3, n.enrolled_at ? n.enrolled_at : now_ms());
    if (revive.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add node"));
    if (sqlite3_changes(db_) == 1) return {};
    std::string sql = std::string("INSERT INTO nodes (") + kNodeColumns +
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error(db_, "add node"));
    s.bind(1, n.name)
        .bind(2, n.labels)
        .bind_or_null(3, n.version)
        .bind_or_null(4, n.config_revision)
        .bind(5, n.generation)
        .bind(6, n.health)
        .bind(7, n.last_heartbeat)
        .bind(8, n.enrolled_at ? n.enrolled_at : now_ms());
    int rc = s.step();
    if (rc == SQLITE_CONSTRAINT && sqlite3_extended_errcode(db_) != SQLITE_CONSTRAINT_TRIGGER) {
      return make_error(ErrorCode::kAlreadyExists, "node '" + n.name + "' is already enrolled");
    }
    if (rc != SQLITE_DONE) return std::unexpected(sql_error(db_, "add node"));
    return {};
  }

  Result<std::optional<Node>> node(const std::string& name) override {
    std::string sql = std::string("SELECT ") + kNodeColumns +
                      " FROM nodes WHERE name = ?1 AND deleted_at IS NULL";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error(db_, "read node"));
    s.bind(1, name);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<Node>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read node"));
    return std::optional<Node>(node_row(s));
  }

  Result<std::vector<Node>> nodes() override {
    std::string sql = std::string("SELECT ") + kNodeColumns +
                      " FROM nodes WHERE deleted_at IS NULL ORDER BY name";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error(db_, "list nodes"));
    return collect<Node>(s, node_row, "list nodes");
  }

  Status put_node_states(const std::vector<Node>& nodes) override {
    if (nodes.empty()) return {};
    return transaction("write node states", [&]() -> Status {
      Stmt s(db_,
             "UPDATE nodes SET version = ?2, config_revision = ?3, generation = ?4, "
             "health = ?5, last_heartbeat = ?6 WHERE name = ?1");
      if (!s.ok()) return std::unexpected(sql_error(db_, "write node states"));
      for (const auto& n : nodes) {
        sqlite3_reset(s.raw());
        s.bind(1, n.name)
            .bind_or_null(2, n.version)
            .bind_or_null(3, n.config_revision)
            .bind(4, n.generation)
            .bind(5, n.health)
            .bind(6, n.last_heartbeat);
        if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "write node state"));
      }
      return {};
    });
  }

  Result<std::int64_t> add_token(const Token& t) override {
    Stmt s(db_,
           "INSERT INTO tokens (kind, hash, node, created_at, revoked_at, uses_left, expires_at, "
           "names) VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "add token"));
    s.bind(1, std::string(token_kind_name(t.kind)))
        .bind(2, t.hash)
        .bind_or_null(3, t.node)
        .bind(4, now_ms())
        .bind_or_null(6, t.expires_at)
        .bind_or_null(7, t.names);
    if (t.uses_left) s.bind(5, *t.uses_left);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add token"));
    return sqlite3_last_insert_rowid(db_);
  }

  Result<std::optional<Token>> token_by_hash(const std::string& hash) override {
    Stmt s(db_,
           "SELECT id, kind, hash, node, created_at, revoked_at, uses_left, expires_at, names "
           "FROM tokens WHERE hash = ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read token"));
    s.bind(1, hash);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<Token>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read token"));
    auto kind = parse_token_kind(s.text(1));
    if (!kind) return make_error(ErrorCode::kCorrupt, "token kind '" + s.text(1) + "'");
    Token t = Token::of(*kind, s.text(2), s.text(3));
    t.id = s.integer(0);
    t.created_at = s.integer(4);
    t.revoked_at = s.integer(5);
    if (!s.is_null(6)) t.uses_left = s.integer(6);
    t.expires_at = s.integer(7);
    t.names = s.text(8);
    return std::optional<Token>(std::move(t));
  }

  Result<bool> use_token(std::int64_t id) override {
    Stmt s(db_, "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1 AND uses_left > 0");
    if (!s.ok()) return std::unexpected(sql_error(db_, "use token"));
    s.bind(1, id);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "use token"));
    return sqlite3_changes(db_) == 1;
  }

  Result<std::optional<std::string>> node_name_nocase(const std::string& name) override {
    Stmt s(db_,
           "SELECT name FROM nodes WHERE name = ?1 COLLATE NOCASE AND deleted_at IS NULL "
           "LIMIT 1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read node"));
    s.bind(1, name);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read node"));
    return std::optional<std::string>(s.text(0));
  }

  Result<int> revoke_node_tokens(const std::string& node) override {
    Stmt s(db_, "UPDATE tokens SET revoked_at = ?2 WHERE node = ?1 AND revoked_at IS NULL");
    if (!s.ok()) return std::unexpected(sql_error(db_, "revoke tokens"));
    s.bind(1, node).bind(2, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "revoke tokens"));
    return sqlite3_changes(db_);
  }

  Result<int> delete_node(const std::string& node) override {
    int revoked = 0;
    auto st = transaction("delete node", [&]() -> Status {
      auto n = revoke_node_tokens(node);
      if (!n) return std::unexpected(n.error());
      revoked = *n;
      Stmt s(db_, "UPDATE nodes SET deleted_at = ?2 WHERE name = ?1 AND deleted_at IS NULL");
      if (!s.ok()) return std::unexpected(sql_error(db_, "delete node"));
      s.bind(1, node).bind(2, now_ms());
      if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "delete node"));
      if (sqlite3_changes(db_) != 1) {
        return make_error(ErrorCode::kNotFound, "node '" + node + "'");
      }
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return revoked;
  }

  Result<int> revoke_tokens_of_kind(TokenKind kind, std::int64_t keep) override {
    Stmt s(db_,
           "UPDATE tokens SET revoked_at = ?3 WHERE kind = ?1 AND id <> ?2 AND revoked_at IS NULL");
    if (!s.ok()) return std::unexpected(sql_error(db_, "revoke tokens"));
    s.bind(1, std::string(token_kind_name(kind))).bind(2, keep).bind(3, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "revoke tokens"));
    return sqlite3_changes(db_);
  }

  Result<int> valid_node_tokens(const std::string& node) override {
    Stmt s(db_, "SELECT COUNT(*) FROM tokens WHERE node = ?1 AND revoked_at IS NULL");
    if (!s.ok()) return std::unexpected(sql_error(db_, "count tokens"));
    s.bind(1, node);
    if (s.step() != SQLITE_ROW) return std::unexpected(sql_error(db_, "count tokens"));
    return static_cast<int>(s.integer(0));
  }

  Status revoke_token(std::int64_t id) override {
    Stmt s(db_, "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL");
    if (!s.ok()) return std::unexpected(sql_error(db_, "revoke token"));
    s.bind(1, id).bind(2, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "revoke token"));
    return {};
  }

  Result<std::int64_t> add_rollout(const Rollout& r, std::vector<RolloutStep> steps) override {
    std::int64_t id = 0;
    auto st = transaction("add rollout", [&]() -> Status {
      Stmt s(db_,
             "INSERT INTO rollouts (state, from_version, to_version, from_config, to_config, "
             "strategy, forced, reason, created_at, updated_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)");
      if (!s.ok()) return std::unexpected(sql_error(db_, "add rollout"));
      s.bind(1, r.state)
          .bind_or_null(2, r.from_version)
          .bind_or_null(3, r.to_version)
          .bind_or_null(4, r.from_config)
          .bind_or_null(5, r.to_config)
          .bind(6, r.strategy)
          .bind(7, std::int64_t{r.forced ? 1 : 0})
          .bind_or_null(8, r.reason)
          .bind(9, now_ms());
      if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add rollout"));
      id = sqlite3_last_insert_rowid(db_);
      for (auto& step : steps) {
        step.rollout_id = id;
        if (auto w = insert_step(step); !w) return w;
      }
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return id;
  }

  Status put_rollout(const Rollout& r) override {
    Stmt s(db_, "UPDATE rollouts SET state = ?2, reason = ?3, updated_at = ?4 WHERE id = ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "write rollout"));
    s.bind(1, r.id).bind(2, r.state).bind_or_null(3, r.reason).bind(4, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "write rollout"));
    if (sqlite3_changes(db_) != 1) {
      return make_error(ErrorCode::kNotFound, "rollout " + std::to_string(r.id));
    }
    return {};
  }

  Status put_step(const RolloutStep& step) override {
    Stmt s(db_,
           "UPDATE rollout_steps SET state = ?3, report = ?4, updated_at = ?5 "
           "WHERE rollout_id = ?1 AND node = ?2");
    if (!s.ok()) return std::unexpected(sql_error(db_, "write step"));
    s.bind(1, step.rollout_id).bind(2, step.node).bind(3, step.state).bind(4, step.report);
    s.bind(5, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "write step"));
    if (sqlite3_changes(db_) != 1) {
      return make_error(ErrorCode::kNotFound, "rollout " + std::to_string(step.rollout_id) +
                                                  " has no step for node '" + step.node + "'");
    }
    return {};
  }

  Result<std::optional<Rollout>> rollout(std::int64_t id) override {
    std::string sql = std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE id = ?1";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error(db_, "read rollout"));
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<Rollout>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read rollout"));
    return std::optional<Rollout>(rollout_row(s));
  }

  Result<std::vector<Rollout>> rollouts(std::size_t limit) override {
    std::string sql =
        std::string("SELECT ") + kRolloutColumns + " FROM rollouts ORDER BY id DESC LIMIT ?1";
    Stmt s(db_, sql.c_str());
    if (!s.ok()) return std::unexpected(sql_error(db_, "list rollouts"));
    s.bind(1, static_cast<std::int64_t>(limit));
    return collect<Rollout>(s, rollout_row, "list rollouts");
  }

  Result<Lease> acquire_lease(const std::string& holder, std::int64_t ttl_ms) override {
    std::int64_t now = now_ms();
    Stmt s(db_,
           "UPDATE leader SET term = CASE WHEN holder = ?1 AND expires_at > ?3 THEN term "
           "ELSE term + 1 END, holder = ?1, expires_at = ?3 + ?2 "
           "WHERE id = 1 AND ((holder = ?1 AND expires_at > ?3) OR expires_at <= ?3)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "acquire lease"));
    s.bind(1, holder).bind(2, ttl_ms).bind(3, now);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "acquire lease"));
    return lease();
  }

  Status release_lease(const std::string& holder, std::int64_t term) override {
    Stmt s(db_, "UPDATE leader SET expires_at = 0 WHERE id = 1 AND holder = ?1 AND term = ?2");
    if (!s.ok()) return std::unexpected(sql_error(db_, "release lease"));
    s.bind(1, holder).bind(2, term);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "release lease"));
    return {};
  }

  // This connection's fence: a TEMP table holding the term and TEMP
  // triggers on every fleet table that abort a write once the lease's term
  // differs (BEGIN IMMEDIATE and SQLite's one writer order it against a
  // successor's acquire).
  Status set_fence(std::int64_t term) override {
    std::string sql =
        "CREATE TEMP TABLE IF NOT EXISTS fence (term INTEGER NOT NULL); DELETE FROM temp.fence; "
        "INSERT INTO temp.fence (term) VALUES (" +
        std::to_string(term) + ");";
    for (const char* table : kFencedTables) {
      for (const char* event : {"INSERT", "UPDATE", "DELETE"}) {
        sql += std::string("CREATE TEMP TRIGGER IF NOT EXISTS fence_") + table + "_" + event +
               " BEFORE " + event + " ON main." + table +
               " WHEN (SELECT term FROM temp.fence) <> 0 AND (SELECT term FROM main.leader WHERE "
               "id = 1) <> (SELECT term FROM temp.fence) BEGIN SELECT RAISE(ABORT, 'fenced: "
               "this controller''s term was superseded'); END;";
      }
    }
    return exec_sql(sql, "set fence");
  }

  Result<Lease> lease() override {
    Stmt cur(db_, "SELECT holder, term, expires_at FROM leader WHERE id = 1");
    if (!cur.ok() || cur.step() != SQLITE_ROW) return std::unexpected(sql_error(db_, "read lease"));
    return Lease{cur.text(0), cur.integer(1), cur.integer(2)};
  }

  Status put_controller(const ControllerInfo& c) override {
    Stmt s(db_,
           "INSERT INTO controllers (holder, url, version, started_at, seen_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (holder) DO UPDATE SET url = ?2, "
           "version = ?3, seen_at = ?5");
    if (!s.ok()) return std::unexpected(sql_error(db_, "record controller"));
    s.bind(1, c.holder).bind(2, c.url).bind(3, c.version).bind(4, c.started_at).bind(5, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "record controller"));
    return {};
  }

  Result<std::vector<ControllerInfo>> controllers(std::int64_t since) override {
    Stmt s(db_,
           "SELECT holder, url, version, started_at, seen_at FROM controllers "
           "WHERE seen_at >= ?1 ORDER BY url, holder");
    if (!s.ok()) return std::unexpected(sql_error(db_, "list controllers"));
    s.bind(1, since);
    std::vector<ControllerInfo> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      out.push_back({s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4)});
    }
    if (rc != SQLITE_DONE) return std::unexpected(sql_error(db_, "list controllers"));
    return out;
  }

  Status put_artifact_chunk(const std::string& sha256, int seq, std::string_view data) override {
    Stmt s(db_, "INSERT OR REPLACE INTO artifact_chunks (sha256, seq, data) VALUES (?1, ?2, ?3)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "store artifact"));
    s.bind(1, sha256).bind(2, std::int64_t{seq});
    sqlite3_bind_blob64(s.raw(), 3, data.data(), data.size(), SQLITE_TRANSIENT);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "store artifact"));
    return {};
  }

  Result<std::optional<std::string>> artifact_chunk(const std::string& sha256, int seq) override {
    Stmt s(db_, "SELECT data FROM artifact_chunks WHERE sha256 = ?1 AND seq = ?2");
    if (!s.ok()) return std::unexpected(sql_error(db_, "read artifact"));
    s.bind(1, sha256).bind(2, std::int64_t{seq});
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return std::unexpected(sql_error(db_, "read artifact"));
    const void* p = sqlite3_column_blob(s.raw(), 0);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(s.raw(), 0));
    return std::optional<std::string>(p ? std::string(static_cast<const char*>(p), n) : "");
  }

  Status delete_artifact(const std::string& sha256) override {
    Stmt s(db_, "DELETE FROM artifact_chunks WHERE sha256 = ?1");
    if (!s.ok()) return std::unexpected(sql_error(db_, "delete artifact"));
    s.bind(1, sha256);
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "delete artifact"));
    return {};
  }

  Result<std::vector<RolloutStep>> steps(std::int64_t rollout_id) override {
    Stmt s(db_,
           "SELECT rollout_id, node, batch, state, report, updated_at FROM rollout_steps "
           "WHERE rollout_id = ?1 ORDER BY batch, node");
    if (!s.ok()) return std::unexpected(sql_error(db_, "list steps"));
    s.bind(1, rollout_id);
    return collect<RolloutStep>(
        s,
        [](const Stmt& r) {
          return RolloutStep{r.integer(0), r.text(1), static_cast<int>(r.integer(2)),
                             r.text(3),    r.text(4), r.integer(5)};
        },
        "list steps");
  }

 private:
  template <typename T, typename Row>
  Result<std::vector<T>> collect(Stmt& s, Row row, const char* what) {
    std::vector<T> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back(row(s));
    if (rc != SQLITE_DONE) return std::unexpected(sql_error(db_, what));
    return out;
  }

  Status insert_step(const RolloutStep& step) {
    Stmt s(db_,
           "INSERT INTO rollout_steps (rollout_id, node, batch, state, report, updated_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s.ok()) return std::unexpected(sql_error(db_, "add step"));
    s.bind(1, step.rollout_id)
        .bind(2, step.node)
        .bind(3, std::int64_t{step.batch})
        .bind(4, step.state)
        .bind(5, step.report)
        .bind(6, now_ms());
    if (s.step() != SQLITE_DONE) return std::unexpected(sql_error(db_, "add step"));
    return {};
  }

  // Runs `body` inside BEGIN IMMEDIATE .. COMMIT; rolls back when it fails.
  template <typename F>
  Status transaction(const char* what, F body) {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      return std::unexpected(sql_error(db_, what));
    }
    Status st = body();
    if (!st) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return st;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto e = sql_error(db_, what);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return std::unexpected(e);
    }
    return {};
  }

  Status exec_sql(const std::string& sql, const char* what) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return {};
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return make_error(ErrorCode::kIo, std::string(what) + ": " + msg);
  }

  sqlite3* db_;
};

Status exec(sqlite3* db, const char* sql, const std::string& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return {};
  std::string msg = err ? err : sqlite3_errmsg(db);
  sqlite3_free(err);
  return make_error(ErrorCode::kIo, what + ": " + msg);
}

}  // namespace

const char* cluster_state_name(ClusterState s) {
  switch (s) {
    case ClusterState::kStopped:
      return "stopped";
    case ClusterState::kRunning:
      return "running";
    case ClusterState::kUpgrading:
      return "upgrading";
    case ClusterState::kPaused:
      return "paused";
    case ClusterState::kRollingBack:
      return "rolling_back";
  }
  return "stopped";
}

const char* token_kind_name(TokenKind k) {
  switch (k) {
    case TokenKind::kAdmin:
      return "admin";
    case TokenKind::kEnrollment:
      return "enrollment";
    case TokenKind::kNode:
      return "node";
  }
  return "node";
}

std::optional<TokenKind> parse_token_kind(std::string_view s) {
  for (auto k : {TokenKind::kAdmin, TokenKind::kEnrollment, TokenKind::kNode}) {
    if (s == token_kind_name(k)) return k;
  }
  return std::nullopt;
}

std::optional<ClusterState> parse_cluster_state(std::string_view s) {
  for (auto st : {ClusterState::kStopped, ClusterState::kRunning, ClusterState::kUpgrading,
                  ClusterState::kPaused, ClusterState::kRollingBack}) {
    if (s == cluster_state_name(st)) return st;
  }
  return std::nullopt;
}

Status migrate(sqlite3* db, std::span<const Migration> all, const std::string& path) {
  int have = 0;
  {
    Stmt s(db, "PRAGMA user_version");
    if (!s.ok() || s.step() != SQLITE_ROW) return std::unexpected(sql_error(db, path));
    have = static_cast<int>(s.integer(0));
  }
  int known = all.empty() ? 0 : all.back().version;
  if (have > known) {
    return make_error(ErrorCode::kInvalidArgument,
                      "database " + path + " is at schema version " + std::to_string(have) +
                          ", newer than this controller knows (" + std::to_string(known) +
                          "): run the newer logctl-controller, or restore a backup");
  }
  if (have == known) return {};
  if (auto s = exec(db, "BEGIN IMMEDIATE", path); !s) return s;
  for (const auto& m : all) {
    if (m.version <= have) continue;
    std::string sql(m.sql);
    if (auto s = exec(db, sql.c_str(), "migration " + std::string(m.name)); !s) {
      (void)exec(db, "ROLLBACK", path);
      return s;
    }
  }
  std::string set = "PRAGMA user_version = " + std::to_string(known);
  if (auto s = exec(db, set.c_str(), path); !s) {
    (void)exec(db, "ROLLBACK", path);
    return s;
  }
  return exec(db, "COMMIT", path);
}

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(ErrorCode::kIo, "open database " + path + ": " + msg);
  }
  auto fail = [&](const Error& e) {
    sqlite3_close(db);
    return std::unexpected(e);
  };
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL"}) {
    if (auto s = exec(db, pragma, path); !s) return fail(s.error());
  }
  if (auto s = migrate(db, migrations(), path); !s) return fail(s.error());
  return std::unique_ptr<Store>(new SqliteStore(db));
}

}  // namespace logctl::store
