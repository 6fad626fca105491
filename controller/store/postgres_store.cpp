// The Store on PostgreSQL (libpq): the same interface, schema versions and
// guarantees as the SQLite engine — migrations all or nothing (serialised
// between controllers by an advisory lock), the history append-only (a
// trigger), cluster writes refused when the revision moved. Every value is a
// parameter ($1..); nothing becomes SQL text.
#include <libpq-fe.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "controller/store/columns.h"
#include "controller/store/pg_conn.h"
#include "controller/store/store.h"
#include "logctl/schema/migrations.h"

namespace logctl::store {
namespace {

// A parameter: text, or NULL.
using Param = std::optional<std::string>;
Param p(const std::string& v) {
  return v;
}
Param p(std::int64_t v) {
  return std::to_string(v);
}
Param p(bool v) {
  return std::string(v ? "1" : "0");
}
// NULL for "" / 0: "none" in the schema.
Param p_or_null(const std::string& v) {
  return v.empty() ? Param() : Param(v);
}
Param p_or_null(std::int64_t v) {
  return v == 0 ? Param() : Param(std::to_string(v));
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ConfigRevision config_row(const Res& r, int i) {
  return ConfigRevision{r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4)};
}

Node node_row(const Res& r, int i) {
  return Node{r.text(i, 0),    r.text(i, 1), r.text(i, 2),    r.integer(i, 3),
              r.integer(i, 4), r.text(i, 5), r.integer(i, 6), r.integer(i, 7)};
}

Rollout rollout_row(const Res& r, int i) {
  return Rollout{r.integer(i, 0), r.text(i, 1),    r.text(i, 2),    r.text(i, 3),
                 r.integer(i, 4), r.integer(i, 5), r.text(i, 6),    r.integer(i, 7) != 0,
                 r.text(i, 8),    r.integer(i, 9), r.integer(i, 10)};
}

Release release_row(const Res& r, int i) {
  return Release{r.text(i, 0), r.text(i, 1), r.integer(i, 2), r.text(i, 3), r.integer(i, 4)};
}

// The key of the advisory lock that serialises migrations between
// controllers starting at once ("logctl" in ASCII).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(108111103099116108)";

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(PGconn* c) : c_(c) {}
  Status setup() { return session_setup(); }
  ~PostgresStore() override { PQfinish(c_); }

  // One statement with its parameters. A connection found broken is reset
  // once first (the server restarted); the statement is not retried.
  Res run(const std::string& sql, const std::vector<Param>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& v : params) values.push_back(v ? v->c_str() : nullptr);
    return exec_params(sql.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                       nullptr, 0);
  }

  // PQexecParams on a connection that is reset once first if found broken.
  Res exec_params(const char* sql, int n, const char* const* values, const int* lengths,
                  const int* formats, int result_format) {
    if (PQstatus(c_) != CONNECTION_OK) {
      PQreset(c_);
      // The session's settings and fence go with it: a new session gets them again first.
      if (PQstatus(c_) == CONNECTION_OK) (void)session_setup();
    }
    return Res(PQexecParams(c_, sql, n, nullptr, values, lengths, formats, result_format));
  }

  Error fail(const Res& r, const std::string& what) const {
    // LF001: raised by logctl_fence() (migration 0008), a superseded term.
    return Error{r.sqlstate() == "LF001" ? ErrorCode::kFenced : ErrorCode::kIo,
                 what + ": " + r.message()};
  }

  Result<int> schema_version() override {
    Res r = run("SELECT version FROM logctl_schema");
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "schema version"));
    return static_cast<int>(r.integer(0, 0));
  }

  Result<Cluster> cluster() override {
    Res r =
        run("SELECT state, current_version, target_version, previous_version, current_config, "
            "target_config, previous_config, revision, updated_at, target_strategy, target_forced, "
            "stop_flush, adopting, held FROM cluster WHERE id = 1");
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "read cluster"));
    auto state = parse_cluster_state(r.text(0, 0));
    if (!state) return make_error(ErrorCode::kCorrupt, "cluster state '" + r.text(0, 0) + "'");
    return Cluster{*state,
                   r.text(0, 1),
                   r.text(0, 2),
                   r.text(0, 3),
                   r.integer(0, 4),
                   r.integer(0, 5),
                   r.integer(0, 6),
                   r.integer(0, 7),
                   r.integer(0, 8),
                   r.text(0, 9),
                   r.integer(0, 10) != 0,
                   r.integer(0, 11) != 0,
                   r.integer(0, 12) != 0,
                   r.text(0, 13)};
  }

  Result<std::int64_t> put_cluster(const Cluster& c) override {
    Res r =
        run("UPDATE cluster SET state = $1, current_version = $2, target_version = $3, "
            "previous_version = $4, current_config = $5, target_config = $6, previous_config = $7, "
            "revision = revision + 1, updated_at = $8, target_strategy = $10, target_forced = $11, "
            "stop_flush = $12, adopting = $13, held = $14 WHERE id = 1 AND revision = $9",
            {p(std::string(cluster_state_name(c.state))), p_or_null(c.current_version),
             p_or_null(c.target_version), p_or_null(c.previous_version),
             p_or_null(c.current_config), p_or_null(c.target_config), p_or_null(c.previous_config),
             p(now_ms()), p(c.revision), p(c.target_strategy), p(c.target_forced), p(c.stop_flush),
             p(c.adopting), p_or_null(c.held)});
    if (!r.ok()) return std::unexpected(fail(r, "write cluster"));
    if (r.changed() != 1) {
      return make_error(ErrorCode::kAlreadyExists,
                        "the cluster changed since revision " + std::to_string(c.revision));
    }
    return c.revision + 1;
  }

  Result<std::int64_t> advance_revision(std::int64_t at_least) override {
    Res r =
        run("UPDATE cluster SET revision = GREATEST(revision, $1) WHERE id = 1 "
            "RETURNING revision",
            {p(at_least)});
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "advance revision"));
    return r.integer(0, 0);
  }

  Status add_release(const Release& rel) override {
    auto existing = release(rel.version);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) {
      if ((*existing)->sha256 == rel.sha256) return {};  // the same artifact again
      return make_error(
          ErrorCode::kAlreadyExists,
          "release " + rel.version + " exists with another SHA-256 (" + (*existing)->sha256 + ")");
    }
    Res r =
        run("INSERT INTO releases (version, sha256, size, manifest, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            {p(rel.version), p(rel.sha256), p(rel.size), p(rel.manifest), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "add release"));
    return {};
  }

  Result<int> delete_release(const std::string& version) override {
    int left = 0;
    auto st = transaction("delete release", [&]() -> Status {
      auto rel = release(version);
      if (!rel) return std::unexpected(rel.error());
      if (!*rel) return make_error(ErrorCode::kNotFound, "release " + version);
      Res d = run("DELETE FROM releases WHERE version = $1", {p(version)});
      if (!d.ok()) return std::unexpected(fail(d, "delete release"));
      Res n = run("SELECT COUNT(*) FROM releases WHERE sha256 = $1", {p((*rel)->sha256)});
      if (!n.ok()) return std::unexpected(fail(n, "count releases"));
      left = static_cast<int>(n.integer(0, 0));
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return left;
  }

  Result<std::optional<Release>> release(const std::string& version) override {
    Res r =
        run("SELECT version, sha256, size, manifest, created_at FROM releases WHERE version = $1",
            {p(version)});
    if (!r.ok()) return std::unexpected(fail(r, "read release"));
    if (r.rows() == 0) return std::optional<Release>();
    return std::optional<Release>(release_row(r, 0));
  }

  Result<std::vector<Release>> releases() override {
    Res r =
        run("SELECT version, sha256, size, manifest, created_at FROM releases "
            "ORDER BY created_at, version");
    return collect<Release>(r, release_row, "list releases");
  }

  Result<std::int64_t> append_history(const HistoryEntry& e) override {
    Res r =
        run("INSERT INTO history (at, actor, action, detail, forced, outcome) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            {p(e.at ? e.at : now_ms()), p(e.actor), p(e.action), p(e.detail), p(e.forced),
             p(e.outcome)});
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "append history"));
    return r.integer(0, 0);
  }

  Result<std::vector<HistoryEntry>> history(std::size_t limit) override {
    Res r =
        run("SELECT id, at, actor, action, detail, forced, outcome FROM history "
            "ORDER BY id DESC LIMIT $1",
            {p(static_cast<std::int64_t>(limit))});
    return collect<HistoryEntry>(
        r,
        [](const Res& x, int i) {
          return HistoryEntry{x.integer(i, 0), x.integer(i, 1),      x.text(i, 2), x.text(i, 3),
                              x.text(i, 4),    x.integer(i, 5) != 0, x.text(i, 6)};
        },
        "read history");
  }

  Result<std::int64_t> add_config(const ConfigRevision& c) override {
    Res found =
        run("SELECT id FROM config_revisions WHERE sha256 = $1 ORDER BY id LIMIT 1", {p(c.sha256)});
    if (!found.ok()) return std::unexpected(fail(found, "find config"));
    if (found.rows() == 1) return found.integer(0, 0);
    Res r =
        run("INSERT INTO config_revisions (text, sha256, author, created_at) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            {p(c.text), p(c.sha256), p(c.author), p(now_ms())});
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "add config"));
    return r.integer(0, 0);
  }

  Result<std::optional<ConfigRevision>> config(std::int64_t id) override {
    Res r = run("SELECT id, text, sha256, author, created_at FROM config_revisions WHERE id = $1",
                {p(id)});
    if (!r.ok()) return std::unexpected(fail(r, "read config"));
    if (r.rows() == 0) return std::optional<ConfigRevision>();
    return std::optional<ConfigRevision>(config_row(r, 0));
  }

  Result<std::vector<ConfigRevision>> configs(std::size_t limit) override {
    Res r =
        run("SELECT id, text, sha256, author, created_at FROM config_revisions "
            "ORDER BY id DESC LIMIT $1",
            {p(static_cast<std::int64_t>(limit))});
    return collect<ConfigRevision>(r, config_row, "list configs");
  }

  Status add_node(const Node& n) override {
    std::int64_t at = n.enrolled_at ? n.enrolled_at : now_ms();
    // A name deleted earlier enrols again: its row comes back, fresh.
    Res revive =
        run("UPDATE nodes SET labels = $2, version = NULL, config_revision = NULL, "
            "generation = NULL, health = '{}', last_heartbeat = NULL, enrolled_at = $3, "
            "deleted_at = NULL WHERE name = $1 AND deleted_at IS NOT NULL",
            {p(n.name), p(n.labels), p(at)});
    if (!revive.ok()) return std::unexpected(fail(revive, "add node"));
    if (revive.changed() == 1) return {};
    Res r = run(std::string("INSERT INTO nodes (") + kNodeColumns +
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                {p(n.name), p(n.labels), p_or_null(n.version), p_or_null(n.config_revision),
                 p(n.generation), p(n.health), p(n.last_heartbeat), p(at)});
    if (r.sqlstate() == "23505") {  // unique_violation
      return make_error(ErrorCode::kAlreadyExists, "node '" + n.name + "' is already enrolled");
    }
    if (!r.ok()) return std::unexpected(fail(r, "add node"));
    return {};
  }

  Result<std::optional<Node>> node(const std::string& name) override {
    Res r = run(std::string("SELECT ") + kNodeColumns +
                    " FROM nodes WHERE name = $1 AND deleted_at IS NULL",
                {p(name)});
    if (!r.ok()) return std::unexpected(fail(r, "read node"));
    if (r.rows() == 0) return std::optional<Node>();
    return std::optional<Node>(node_row(r, 0));
  }

  Result<std::vector<Node>> nodes() override {
    Res r = run(std::string("SELECT ") + kNodeColumns +
                " FROM nodes WHERE deleted_at IS NULL ORDER BY name COLLATE \"C\"");
    return collect<Node>(r, node_row, "list nodes");
  }

  Status put_node_states(const std::vector<Node>& nodes) override {
    if (nodes.empty()) return {};
    // One statement for the whole pass (a fleet's worth of rows), not a
    // round trip per node: the rows as one JSON parameter.
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& n : nodes) {
      rows.push_back(
          {{"name", n.name},
           {"version", n.version.empty() ? nlohmann::json() : nlohmann::json(n.version)},
           {"config_revision",
            n.config_revision == 0 ? nlohmann::json() : nlohmann::json(n.config_revision)},
           {"generation", n.generation},
           {"health", n.health},
           {"last_heartbeat", n.last_heartbeat}});
    }
    Res r = run(
        "UPDATE nodes AS n SET version = v.version, config_revision = v.config_revision, "
        "generation = v.generation, health = v.health, last_heartbeat = v.last_heartbeat "
        "FROM json_to_recordset($1::json) AS v(name TEXT, version TEXT, config_revision BIGINT, "
        "generation BIGINT, health TEXT, last_heartbeat BIGINT) WHERE n.name = v.name",
        {p(rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))});
    if (!r.ok()) return std::unexpected(fail(r, "write node states"));
    return {};
  }

  Result<std::int64_t> add_token(const Token& t) override {
    Res r =
        run("INSERT INTO tokens (kind, hash, node, created_at, revoked_at, uses_left, expires_at, "
            "names) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7) RETURNING id",
            {p(std::string(token_kind_name(t.kind))), p(t.hash), p_or_null(t.node), p(now_ms()),
             t.uses_left ? p(*t.uses_left) : Param(), p_or_null(t.expires_at), p_or_null(t.names)});
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "add token"));
    return r.integer(0, 0);
  }

  Result<std::optional<Token>> token_by_hash(const std::string& hash) override {
    Res r =
        run("SELECT id, kind, hash, node, created_at, revoked_at, uses_left, expires_at, names "
            "FROM tokens WHERE hash = $1",
            {p(hash)});
    if (!r.ok()) return std::unexpected(fail(r, "read token"));
    if (r.rows() == 0) return std::optional<Token>();
    auto kind = parse_token_kind(r.text(0, 1));
    if (!kind) return make_error(ErrorCode::kCorrupt, "token kind '" + r.text(0, 1) + "'");
    Token t = Token::of(*kind, r.text(0, 2), r.text(0, 3));
    t.id = r.integer(0, 0);
    t.created_at = r.integer(0, 4);
    t.revoked_at = r.integer(0, 5);
    if (!r.is_null(0, 6)) t.uses_left = r.integer(0, 6);
    t.expires_at = r.integer(0, 7);
    t.names = r.text(0, 8);
    return std::optional<Token>(std::move(t));
  }

  Result<bool> use_token(std::int64_t id) override {
    Res r =
        run("UPDATE tokens SET uses_left = uses_left - 1 WHERE id = $1 AND uses_left > 0", {p(id)});
    if (!r.ok()) return std::unexpected(fail(r, "use token"));
    return r.changed() == 1;
  }

  Result<std::optional<std::string>> node_name_nocase(const std::string& name) override {
    Res r =
        run("SELECT name FROM nodes WHERE lower(name) = lower($1) AND deleted_at IS NULL LIMIT 1",
            {p(name)});
    if (!r.ok()) return std::unexpected(fail(r, "read node"));
    if (r.rows() == 0) return std::optional<std::string>();
    return std::optional<std::string>(r.text(0, 0));
  }

  Result<int> revoke_node_tokens(const std::string& node) override {
    Res r = run("UPDATE tokens SET revoked_at = $2 WHERE node = $1 AND revoked_at IS NULL",
                {p(node), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "revoke tokens"));
    return r.changed();
  }

  Result<int> delete_node(const std::string& node) override {
    int revoked = 0;
    auto st = transaction("delete node", [&]() -> Status {
      auto n = revoke_node_tokens(node);
      if (!n) return std::unexpected(n.error());
      revoked = *n;
      Res r = run("UPDATE nodes SET deleted_at = $2 WHERE name = $1 AND deleted_at IS NULL",
                  {p(node), p(now_ms())});
      if (!r.ok()) return std::unexpected(fail(r, "delete node"));
      if (r.changed() != 1) return make_error(ErrorCode::kNotFound, "node '" + node + "'");
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return revoked;
  }

  Result<int> revoke_tokens_of_kind(TokenKind kind, std::int64_t keep) override {
    Res r =
        run("UPDATE tokens SET revoked_at = $3 WHERE kind = $1 AND id <> $2 AND revoked_at IS NULL",
            {p(std::string(token_kind_name(kind))), p(keep), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "revoke tokens"));
    return r.changed();
  }

  Result<int> valid_node_tokens(const std::string& node) override {
    Res r = run("SELECT COUNT(*) FROM tokens WHERE node = $1 AND revoked_at IS NULL", {p(node)});
    if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "count tokens"));
    return static_cast<int>(r.integer(0, 0));
  }

  Status revoke_token(std::int64_t id) override {
    Res r = run("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                {p(id), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "revoke token"));
    return {};
  }

  Result<std::int64_t> add_rollout(const Rollout& ro, std::vector<RolloutStep> steps) override {
    std::int64_t id = 0;
    auto st = transaction("add rollout", [&]() -> Status {
      std::int64_t at = now_ms();
      Res r =
          run("INSERT INTO rollouts (state, from_version, to_version, from_config, to_config, "
              "strategy, forced, reason, created_at, updated_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
              {p(ro.state), p_or_null(ro.from_version), p_or_null(ro.to_version),
               p_or_null(ro.from_config), p_or_null(ro.to_config), p(ro.strategy), p(ro.forced),
               p_or_null(ro.reason), p(at)});
      if (!r.ok() || r.rows() != 1) return std::unexpected(fail(r, "add rollout"));
      id = r.integer(0, 0);
      for (auto& step : steps) {
        Res s =
            run("INSERT INTO rollout_steps (rollout_id, node, batch, state, report, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                {p(id), p(step.node), p(std::int64_t{step.batch}), p(step.state), p(step.report),
                 p(at)});
        if (!s.ok()) return std::unexpected(fail(s, "add step"));
      }
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return id;
  }

  Status put_rollout(const Rollout& ro) override {
    Res r = run("UPDATE rollouts SET state = $2, reason = $3, updated_at = $4 WHERE id = $1",
                {p(ro.id), p(ro.state), p_or_null(ro.reason), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "write rollout"));
    if (r.changed() != 1)
      return make_error(ErrorCode::kNotFound, "rollout " + std::to_string(ro.id));
    return {};
  }

  Status put_step(const RolloutStep& step) override {
    Res r =
        run("UPDATE rollout_steps SET state = $3, report = $4, updated_at = $5 "
            "WHERE rollout_id = $1 AND node = $2",
            {p(step.rollout_id), p(step.node), p(step.state), p(step.report), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "write step"));
    if (r.changed() != 1) {
      return make_error(ErrorCode::kNotFound, "rollout " + std::to_string(step.rollout_id) +
                                                  " has no step for node '" + step.node + "'");
    }
    return {};
  }

  Result<std::optional<Rollout>> rollout(std::int64_t id) override {
    Res r = run(std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE id = $1", {p(id)});
    if (!r.ok()) return std::unexpected(fail(r, "read rollout"));
    if (r.rows() == 0) return std::optional<Rollout>();
    return std::optional<Rollout>(rollout_row(r, 0));
  }

  Result<std::vector<Rollout>> rollouts(std::size_t limit) override {
    Res r =
        run(std::string("SELECT ") + kRolloutColumns + " FROM rollouts ORDER BY id DESC LIMIT $1",
            {p(static_cast<std::int64_t>(limit))});
    return collect<Rollout>(r, rollout_row, "list rollouts");
  }

  Result<Lease> acquire_lease(const std::string& holder, std::int64_t ttl_ms) override {
    // The database's clock decides, not the controllers' (they may differ).
    Res r =
        run("WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS ms) "
            "UPDATE leader SET term = CASE WHEN holder = $1 AND expires_at > now.ms THEN term "
            "ELSE term + 1 END, holder = $1, expires_at = now.ms + $2 FROM now "
            "WHERE id = 1 AND ((holder = $1 AND expires_at > now.ms) OR expires_at <= now.ms) "
            "RETURNING holder, term, expires_at",
            {p(holder), p(ttl_ms)});
    if (!r.ok()) return std::unexpected(fail(r, "acquire lease"));
    if (r.rows() == 1) return Lease{r.text(0, 0), r.integer(0, 1), r.integer(0, 2)};
    return lease();
  }

  Status release_lease(const std::string& holder, std::int64_t term) override {
    Res r = run("UPDATE leader SET expires_at = 0 WHERE id = 1 AND holder = $1 AND term = $2",
                {p(holder), p(term)});
    if (!r.ok()) return std::unexpected(fail(r, "release lease"));
    return {};
  }

  Status set_fence(std::int64_t term) override {
    fence_ = term;
    return apply_fence();
  }

  Result<Lease> lease() override {
    Res cur = run("SELECT holder, term, expires_at FROM leader WHERE id = 1");
    if (!cur.ok() || cur.rows() != 1) return std::unexpected(fail(cur, "read lease"));
    return Lease{cur.text(0, 0), cur.integer(0, 1), cur.integer(0, 2)};
  }

  Status put_controller(const ControllerInfo& c) override {
    Res r =
        run("INSERT INTO controllers (holder, url, version, started_at, seen_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (holder) DO UPDATE SET url = $2, "
            "version = $3, seen_at = $5",
            {p(c.holder), p(c.url), p(c.version), p(c.started_at), p(now_ms())});
    if (!r.ok()) return std::unexpected(fail(r, "record controller"));
    return {};
  }

  Result<std::vector<ControllerInfo>> controllers(std::int64_t since) override {
    Res r =
        run("SELECT holder, url, version, started_at, seen_at FROM controllers "
            "WHERE seen_at >= $1 ORDER BY url COLLATE \"C\", holder COLLATE \"C\"",
            {p(since)});
    return collect<ControllerInfo>(
        r,
        [](const Res& x, int i) {
          return ControllerInfo{x.text(i, 0), x.text(i, 1), x.text(i, 2), x.integer(i, 3),
                                x.integer(i, 4)};
        },
        "list controllers");
  }

  Status put_artifact_chunk(const std::string& sha256, int seq, std::string_view data) override {
    // The bytes go as a binary parameter (no escaping, no text form).
    std::string seq_text = std::to_string(seq);
    const char* values[] = {sha256.c_str(), seq_text.c_str(), data.data()};
    const int lengths[] = {0, 0, static_cast<int>(data.size())};
    const int formats[] = {0, 0, 1};
    Res r = exec_params(
        "INSERT INTO artifact_chunks (sha256, seq, data) VALUES ($1, $2, $3) "
        "ON CONFLICT (sha256, seq) DO UPDATE SET data = EXCLUDED.data",
        3, values, lengths, formats, 0);
    if (!r.ok()) return std::unexpected(fail(r, "store artifact"));
    return {};
  }

  Result<std::optional<std::string>> artifact_chunk(const std::string& sha256, int seq) override {
    std::string seq_text = std::to_string(seq);
    const char* values[] = {sha256.c_str(), seq_text.c_str()};
    Res r = exec_params("SELECT data FROM artifact_chunks WHERE sha256 = $1 AND seq = $2", 2,
                        values, nullptr, nullptr, 1);
    if (!r.ok()) return std::unexpected(fail(r, "read artifact"));
    if (r.rows() == 0) return std::optional<std::string>();
    return std::optional<std::string>(r.text(0, 0));  // binary result: the bytes as they are
  }

  Status delete_artifact(const std::string& sha256) override {
    Res r = run("DELETE FROM artifact_chunks WHERE sha256 = $1", {p(sha256)});
    if (!r.ok()) return std::unexpected(fail(r, "delete artifact"));
    return {};
  }

  Result<std::vector<RolloutStep>> steps(std::int64_t rollout_id) override {
    Res r =
        run("SELECT rollout_id, node, batch, state, report, updated_at FROM rollout_steps "
            "WHERE rollout_id = $1 ORDER BY batch, node COLLATE \"C\"",
            {p(rollout_id)});
    return collect<RolloutStep>(
        r,
        [](const Res& x, int i) {
          return RolloutStep{x.integer(i, 0), x.text(i, 1), static_cast<int>(x.integer(i, 2)),
                             x.text(i, 3),    x.text(i, 4), x.integer(i, 5)};
        },
        "list steps");
  }

 private:
  // What every session of ours runs with: bounded statements and lock waits
  // (a controller never hangs on a stuck database: it fails the call and
  // tries again on its next pass), and the fence.
  Status session_setup() {
    Res r(PQexec(c_,
                 "SET statement_timeout = '10s'; SET lock_timeout = '5s'; "
                 "SET idle_in_transaction_session_timeout = '30s'"));
    if (!r.ok()) return std::unexpected(fail(r, "session settings"));
    return apply_fence();
  }

  // The session's logctl.fence_term, which logctl_fence() reads.
  Status apply_fence() {
    std::string term = std::to_string(fence_);
    const char* value = term.c_str();
    Res r(PQexecParams(c_, "SELECT set_config('logctl.fence_term', $1, false)", 1, nullptr, &value,
                       nullptr, nullptr, 0));
    if (!r.ok()) return std::unexpected(fail(r, "set fence"));
    return {};
  }

  template <typename T, typename Row>
  Result<std::vector<T>> collect(const Res& r, Row row, const char* what) {
    if (!r.ok()) return std::unexpected(fail(r, what));
    std::vector<T> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) out.push_back(row(r, i));
    return out;
  }

  // Runs `body` inside BEGIN .. COMMIT; rolls back when it fails.
  template <typename F>
  Status transaction(const char* what, F body) {
    if (Res b = run("BEGIN"); !b.ok()) return std::unexpected(fail(b, what));
    Status st = body();
    if (!st) {
      (void)run("ROLLBACK");
      return st;
    }
    if (Res c = run("COMMIT"); !c.ok()) {
      auto e = fail(c, what);
      (void)run("ROLLBACK");
      return std::unexpected(e);
    }
    return {};
  }

  PGconn* c_;
  std::int64_t fence_ = 0;
};

// Every migration newer than the database's version, in one transaction,
// under an advisory lock (controllers starting together migrate once).
Status migrate(PGconn* c, std::span<const Migration> all) {
  auto exec = [&](const std::string& sql) { return Res(PQexec(c, sql.c_str())); };
  auto fail = [&](const Res& r, const std::string& what) -> Status {
    Error e{ErrorCode::kIo, what + ": " + r.message()};
    (void)exec("ROLLBACK");
    return std::unexpected(e);
  };
  if (Res r = exec("BEGIN"); !r.ok()) return fail(r, "migrate");
  if (Res r = exec(kMigrationLock); !r.ok()) return fail(r, "migrate");
  if (Res r = exec("CREATE TABLE IF NOT EXISTS logctl_schema (version INTEGER NOT NULL)");
      !r.ok()) {
    return fail(r, "migrate");
  }
  Res v = exec("SELECT version FROM logctl_schema");
  if (!v.ok()) return fail(v, "migrate");
  int have = v.rows() == 0 ? 0 : static_cast<int>(v.integer(0, 0));
  if (v.rows() == 0) {
    if (Res r = exec("INSERT INTO logctl_schema (version) VALUES (0)"); !r.ok()) {
      return fail(r, "migrate");
    }
  }
  int known = all.empty() ? 0 : all.back().version;
  if (have > known) {
    (void)exec("ROLLBACK");
    return make_error(ErrorCode::kInvalidArgument,
                      "the database is at schema version " + std::to_string(have) +
                          ", newer than this controller knows (" + std::to_string(known) +
                          "): run the newer logctl-controller, or restore a backup");
  }
  for (const auto& m : all) {
    if (m.version <= have) continue;
    if (Res r = exec(std::string(m.sql)); !r.ok()) {
      return fail(r, "migration " + std::string(m.name));
    }
  }
  if (Res r = exec("UPDATE logctl_schema SET version = " + std::to_string(known)); !r.ok()) {
    return fail(r, "migrate");
  }
  if (Res r = exec("COMMIT"); !r.ok()) return fail(r, "migrate");
  return {};
}

}  // namespace

Result<std::string> describe_postgres(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (!opts) {
    std::string msg = err ? err : "out of memory";
    PQfreemem(err);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return make_error(ErrorCode::kInvalidArgument, "--store: not a PostgreSQL conninfo: " + msg);
  }
  std::string db, host, port, user, sslmode;
  bool password = false;
  for (auto* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    std::string k = o->keyword;
    if (k == "password") password = true;
    if (k == "dbname") db = o->val;
    if (k == "host" || (k == "hostaddr" && host.empty())) host = o->val;
    if (k == "port") port = o->val;
    if (k == "user") user = o->val;
    if (k == "sslmode") sslmode = o->val;
  }
  PQconninfoFree(opts);
  if (password) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--store holds a password: anyone who can run `ps` or read the logs would "
                      "see it; put it in a file (--store-password-file, mode 0600), PGPASSWORD or "
                      "PGPASSFILE");
  }
  return "PostgreSQL database " + (db.empty() ? std::string("(default)") : db) + " on " +
         (host.empty() ? std::string("(default host)") : host) + (port.empty() ? "" : ":" + port) +
         (user.empty() ? "" : " as " + user) + ", sslmode " +
         (sslmode.empty() ? std::string("prefer (libpq's default)") : sslmode);
}

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo,
                                                   const std::string& password) {
  auto conn = pg_connect(conninfo, password);
  if (!conn) return std::unexpected(conn.error());
  PGconn* c = *conn;
  if (auto s = migrate(c, postgres_migrations()); !s) {
    PQfinish(c);
    return std::unexpected(s.error());
  }
  auto store = std::make_unique<PostgresStore>(c);
  if (auto s = store->setup(); !s) return std::unexpected(s.error());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace logctl::store
