// The controller's store on both engines — real SQLite files and a real
// PostgreSQL server (support/pg_server.h) — through the same tests: hostile
// values stored as values, the history append-only, cluster writes that lose
// a race refused, every record round-tripping; and per engine: migrations
// all-or-nothing, an older schema migrated, a newer one refused untouched.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "controller/store/read_cache.h"
#include "controller/store/sqlite_migrate.h"
#include "controller/store/store.h"
#include "support/harness.h"
#include "support/pg_server.h"

using namespace logctl;
using namespace logctl::store;

namespace {

int user_version(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  sqlite3_step(s);
  int v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

// Runs SQL on the file outside the store; returns SQLite's error text ("" if none).
std::string run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string out = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  return out;
}

// A fresh store on `engine` ("sqlite": a file in dir; "postgres": a new
// database on the test process's PostgreSQL server), and raw SQL on it
// outside the store (the engine's error text, "" if none).
struct Engine {
  explicit Engine(std::string name) : engine(std::move(name)) {
    if (engine == "sqlite") {
      store = open_sqlite_store(dir / "c.db").value();
      return;
    }
    auto& pg = test::PgServer::shared();
    INFO(pg.error());
    REQUIRE(pg.ready());
    conninfo = pg.fresh_database();
    auto s = open_postgres_store(conninfo);
    INFO((s ? std::string() : s.error().message) + pg.error());
    REQUIRE(s);
    store = std::move(*s);
  }
  std::string sql(const std::string& text) {
    if (engine == "sqlite") return run_sql(dir / "c.db", text);
    std::string db = conninfo.substr(conninfo.find("dbname=") + 7);
    return test::PgServer::shared().run_sql(db.substr(0, db.find(' ')), text);
  }
  // Another connection to the same database (a second controller).
  std::unique_ptr<Store> second() {
    auto s = engine == "sqlite" ? open_sqlite_store(dir / "c.db") : open_postgres_store(conninfo);
    REQUIRE(s);
    return std::move(*s);
  }
  std::string engine;
  test::TempDir dir;
  std::string conninfo;
  std::unique_ptr<Store> store;
};

}  // namespace

TEST_CASE("store: both engines start at the last migration and enforce foreign keys") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  CHECK(e.store->schema_version().value() == migrations().back().version);
  CHECK(postgres_migrations().back().version == migrations().back().version);
  auto c = e.store->cluster().value();
  CHECK(c.state == ClusterState::kStopped);
  CHECK(c.adopting);  // 0006 on a fresh database
  auto next = c;
  next.current_config = 42;  // no such config revision
  CHECK_FALSE(e.store->put_cluster(next));
  CHECK(e.store->cluster().value().revision == c.revision);
}

TEST_CASE("store: PostgreSQL: a newer schema is refused untouched, an open is idempotent") {
  Engine e("postgres");
  REQUIRE(e.sql("UPDATE logctl_schema SET version = 99").empty());
  auto newer = open_postgres_store(e.conninfo);
  REQUIRE_FALSE(newer);
  CHECK_THAT(newer.error().message, Catch::Contains("schema version 99") &&
                                        Catch::Contains("newer than this controller knows"));
  REQUIRE(e.sql("UPDATE logctl_schema SET version = " + std::to_string(migrations().back().version))
              .empty());
  // Opened again (another controller): nothing to apply, the data kept.
  REQUIRE(e.store->append_history({0, 0, "admin", "start", "{}", false, "committed"}));
  auto again = open_postgres_store(e.conninfo);
  REQUIRE(again);
  CHECK((*again)->history(5).value().size() == 1);
  // No password or server is ever in what the store says of a bad target.
  auto bad = open_postgres_store(
      "host=127.0.0.1 port=1 user=x password=s3cret dbname=y "
      "connect_timeout=2");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("cannot connect to PostgreSQL"));
  CHECK(bad.error().message.find("s3cret") == std::string::npos);
}

TEST_CASE("store: a new database gets every migration, WAL and foreign keys") {
  test::TempDir dir;
  auto s = open_sqlite_store(dir / "c.db");
  REQUIRE(s);
  CHECK((*s)->schema_version().value() == migrations().back().version);
  auto c = (*s)->cluster();
  REQUIRE(c);
  CHECK(c->state == ClusterState::kStopped);
  CHECK(std::filesystem::exists(dir / "c.db-wal"));
  // Foreign keys are enforced: a cluster pointing at a missing config is refused.
  auto next = *c;
  next.current_config = 42;
  CHECK_FALSE((*s)->put_cluster(next));
}

TEST_CASE("store: an older schema is migrated, a newer one refused and left untouched") {
  test::TempDir dir;
  std::string path = dir / "c.db";
  {  // a database from a controller that knew only the first migration
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(migrate(db, migrations().first(1), path));
    sqlite3_close(db);
  }
  CHECK(user_version(path) == 1);
  CHECK_THAT(run_sql(path, "SELECT * FROM nodes"), Catch::Contains("no such table"));
  {
    auto s = open_sqlite_store(path);
    REQUIRE(s);
    CHECK((*s)->schema_version().value() == migrations().back().version);
  }
  CHECK(run_sql(path, "SELECT * FROM nodes") == "");
  // A newer controller's database: refused, nothing changed.
  int newer = migrations().back().version + 1;
  REQUIRE(run_sql(path, "PRAGMA user_version = " + std::to_string(newer)) == "");
  auto size_before = std::filesystem::file_size(path);
  auto s = open_sqlite_store(path);
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("newer than this controller knows"));
  CHECK(user_version(path) == newer);
  CHECK(std::filesystem::file_size(path) == size_before);
}

TEST_CASE("store: a failing migration leaves the database as it was (never half-migrated)") {
  test::TempDir dir;
  std::string path = dir / "c.db";
  const Migration broken[] = {
      migrations()[0],
      {2, "0002_broken", "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);"}};
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  auto s = migrate(db, broken, path);
  sqlite3_close(db);
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("0002_broken"));
  CHECK(user_version(path) == 0);
  CHECK_THAT(run_sql(path, "SELECT * FROM cluster"), Catch::Contains("no such table"));
  CHECK_THAT(run_sql(path, "SELECT * FROM half"), Catch::Contains("no such table"));
}

TEST_CASE("store: hostile values are stored as values, releases are content-addressed") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  std::string evil = "1.0.0'); DROP TABLE releases; --";
  REQUIRE(s->add_release({evil, std::string(64, 'a'), 10, "{}", 0}));
  REQUIRE(s->add_release({"1.4.0", std::string(64, 'b'), 20, "{\"v\":1}", 0}));
  auto all = s->releases().value();
  REQUIRE(all.size() == 2);
  CHECK(s->release(evil).value()->size == 10);
  // The same version again: fine with the same hash, refused with another.
  CHECK(s->add_release({"1.4.0", std::string(64, 'b'), 20, "{}", 0}));
  auto other = s->add_release({"1.4.0", std::string(64, 'c'), 20, "{}", 0});
  REQUIRE_FALSE(other);
  CHECK(other.error().code == ErrorCode::kAlreadyExists);
  CHECK_FALSE(s->release("9.9.9").value().has_value());
}

TEST_CASE("store: the history is append-only") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  REQUIRE(s->append_history({0, 0, "admin", "upgrade", "{\"to\":\"1.4.0\"}", true, "planned"}));
  REQUIRE(s->append_history({0, 0, "admin", "resume", "{}", false, "committed"}));
  auto h = s->history(10).value();
  REQUIRE(h.size() == 2);
  CHECK(h[0].action == "resume");
  CHECK(h[1].forced);
  CHECK_THAT(e.sql("UPDATE history SET outcome = 'x'"), Catch::Contains("append-only"));
  CHECK_THAT(e.sql("DELETE FROM history"), Catch::Contains("append-only"));
  if (e.engine == "postgres") {
    CHECK_THAT(e.sql("TRUNCATE history"), Catch::Contains("append-only"));
  }
  CHECK(s->history(10).value().size() == 2);
}

TEST_CASE("store: a cluster write based on an old revision is refused") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  auto seen = s->cluster().value();
  auto mine = seen;
  mine.state = ClusterState::kRunning;
  mine.current_version = "1.3.0";
  auto rev = s->put_cluster(mine);
  REQUIRE(rev);
  CHECK(*rev == seen.revision + 1);
  auto late = seen;  // a second writer that read before the first wrote
  late.target_version = "1.4.0";
  auto r = s->put_cluster(late);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kAlreadyExists);
  auto now = s->cluster().value();
  CHECK(now.state == ClusterState::kRunning);
  CHECK(now.current_version == "1.3.0");
  CHECK(now.target_version.empty());
}

TEST_CASE("store: nodes, tokens, config revisions and rollouts round-trip") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  // Config revisions: the same text twice is one revision.
  auto r1 = s->add_config({0, "<source>\n</source>\n", std::string(64, '1'), "admin#1", 0});
  REQUIRE(r1);
  CHECK(s->add_config({0, "<source>\n</source>\n", std::string(64, '1'), "admin#1", 0}).value() ==
        *r1);
  auto r2 = s->add_config({0, "other", std::string(64, '2'), "admin#1", 0}).value();
  CHECK(r2 != *r1);
  CHECK(s->config(r2).value()->text == "other");
  CHECK(s->configs(10).value().size() == 2);
  // Nodes: names are unique; live figures written in one batch.
  Node n{"web-1", R"({"zone":"a"})", "", 0, 0, "{}", 0, 0};
  REQUIRE(s->add_node(n));
  auto dup = s->add_node(n);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == ErrorCode::kAlreadyExists);
  REQUIRE(s->add_node({"web-2", "{}", "", 0, 0, "{}", 0, 0}));
  n.version = "1.2.3";
  n.config_revision = r2;
  n.generation = 7;
  n.health = R"({"worker_up":true})";
  n.last_heartbeat = 42;
  REQUIRE(s->put_node_states({n}));
  auto back = s->node("web-1").value().value();
  CHECK(back.version == "1.2.3");
  CHECK(back.config_revision == r2);
  CHECK(back.generation == 7);
  CHECK(back.health == R"({"worker_up":true})");
  CHECK(s->nodes().value().size() == 2);
  // A node state naming an unknown config revision is refused as a whole.
  Node bad = n;
  bad.config_revision = 999;
  CHECK_FALSE(s->put_node_states({bad}));
  CHECK(s->node("web-1").value()->config_revision == r2);
  // Tokens: found by hash, revoked per node.
  auto t = s->add_token(Token::of(TokenKind::kNode, std::string(64, 'f'), "web-1")).value();
  CHECK(s->token_by_hash(std::string(64, 'f')).value()->node == "web-1");
  CHECK(s->valid_node_tokens("web-1").value() == 1);
  CHECK(s->revoke_node_tokens("web-1").value() == 1);
  CHECK(s->valid_node_tokens("web-1").value() == 0);
  CHECK(s->token_by_hash(std::string(64, 'f')).value()->revoked_at > 0);
  CHECK(s->revoke_token(t));
  CHECK_FALSE(s->token_by_hash(std::string(64, '0')).value().has_value());
  // Rollouts and their steps, written together.
  Rollout r;
  r.state = "running";
  r.from_version = "1.2.3";
  r.to_version = "1.3.0";
  auto id =
      s->add_rollout(r, {{0, "web-1", 0, "pending", "{}", 0}, {0, "web-2", 1, "pending", "{}", 0}});
  REQUIRE(id);
  auto steps = s->steps(*id).value();
  REQUIRE(steps.size() == 2);
  steps[0].state = "done";
  steps[0].report = R"({"handover":{"result":"committed"}})";
  REQUIRE(s->put_step(steps[0]));
  CHECK(s->steps(*id).value()[0].state == "done");
  CHECK_FALSE(s->put_step({*id, "nobody", 0, "done", "{}", 0}));
  r.id = *id;
  r.state = "succeeded";
  REQUIRE(s->put_rollout(r));
  CHECK(s->rollout(*id).value()->state == "succeeded");
  CHECK(s->rollouts(5).value().front().id == *id);
  // A rollout naming an unknown node is refused whole: no rollout row left.
  auto orphan = s->add_rollout(r, {{0, "ghost", 0, "pending", "{}", 0}});
  CHECK_FALSE(orphan);
  CHECK(s->rollouts(5).value().size() == 1);
}

TEST_CASE(
    "store: a deleted node leaves every list, its tokens are revoked, and its name enrols again") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  REQUIRE(s->add_node({"web-1", R"({"zone":"a"})", "", 0, 0, "{}", 0, 0}));
  REQUIRE(s->add_node({"web-2", "{}", "", 0, 0, "{}", 0, 0}));
  REQUIRE(s->add_token(Token::of(TokenKind::kNode, std::string(64, 'a'), "web-1")));
  Node live{"web-1", R"({"zone":"a"})", "1.2.3", 0, 4, R"({"worker_up":true})", 99, 0};
  REQUIRE(s->put_node_states({live}));
  // A rollout step names it: the row must stay for the history.
  REQUIRE(s->add_rollout({0, "running", "1", "2", 0, 0, "{}", false, "", 0, 0},
                         {{0, "web-1", 0, "pending", "{}", 0}}));
  CHECK(s->delete_node("web-1").value() == 1);
  CHECK(s->valid_node_tokens("web-1").value() == 0);
  CHECK_FALSE(s->node("web-1").value().has_value());
  REQUIRE(s->nodes().value().size() == 1);
  CHECK(s->nodes().value()[0].name == "web-2");
  auto again = s->delete_node("web-1");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kNotFound);
  // Enrolled again (a replacement host): a fresh row, nothing of the old figures.
  REQUIRE(s->add_node({"web-1", R"({"zone":"b"})", "", 0, 0, "{}", 0, 0}));
  auto back = s->node("web-1").value().value();
  CHECK(back.labels == R"({"zone":"b"})");
  CHECK(back.version.empty());
  CHECK(back.last_heartbeat == 0);
  CHECK(back.health == "{}");
  CHECK_FALSE(s->add_node({"web-1", "{}", "", 0, 0, "{}", 0, 0}));  // taken again
}

TEST_CASE("store: one leader per term, and a superseded leader's writes are refused") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& a = e.store;
  auto b = e.second();
  // a takes the lease (term 1); b finds it held; a renews in the same term.
  auto la = a->acquire_lease("ctl-a", 400).value();
  CHECK(la.holder == "ctl-a");
  CHECK(la.term == 1);
  CHECK(b->acquire_lease("ctl-b", 400).value().holder == "ctl-a");
  CHECK(a->acquire_lease("ctl-a", 400).value().term == 1);
  REQUIRE(a->set_fence(1));
  REQUIRE(a->append_history({0, 0, "ctl-a", "start", "{}", false, "committed"}));
  // a stops renewing (stopped, partitioned): b takes term 2 once it ends.
  REQUIRE(test::wait_until(
      [&] {
        auto l = b->acquire_lease("ctl-b", 60000);
        return l && l->holder == "ctl-b";
      },
      std::chrono::seconds(5)));
  CHECK(b->acquire_lease("ctl-b", 60000).value().term == 2);
  REQUIRE(b->set_fence(2));
  // a wakes: the database refuses each of its writes; it still reads.
  auto h = a->append_history({0, 0, "ctl-a", "resume", "{}", false, "committed"});
  REQUIRE_FALSE(h);
  CHECK(h.error().code == ErrorCode::kFenced);
  auto c = a->cluster().value();
  c.state = ClusterState::kRunning;
  auto w = a->put_cluster(c);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == ErrorCode::kFenced);
  auto n = a->add_node({"web-1", "{}", "", 0, 0, "{}", 0, 0});
  REQUIRE_FALSE(n);
  CHECK(n.error().code == ErrorCode::kFenced);
  CHECK(a->acquire_lease("ctl-a", 400).value().holder == "ctl-b");  // no renewal either
  // b leads and writes; the history holds one leader per term.
  REQUIRE(b->append_history({0, 0, "ctl-b", "resume", "{}", false, "committed"}));
  auto all = b->history(10).value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].actor == "ctl-b");
  CHECK(all[1].actor == "ctl-a");
  CHECK(b->cluster().value().state == ClusterState::kStopped);
  // A clean stop hands over at once: the next holder gets term 3.
  REQUIRE(b->release_lease("ctl-b", 2));
  auto l3 = a->acquire_lease("ctl-a", 400).value();
  CHECK(l3.holder == "ctl-a");
  CHECK(l3.term == 3);
  REQUIRE(a->set_fence(3));
  CHECK(a->append_history({0, 0, "ctl-a", "start", "{}", false, "committed"}));
  // Without a fence (one controller), writes never look at the lease.
  REQUIRE(b->set_fence(0));
  CHECK(b->append_history({0, 0, "single", "start", "{}", false, "committed"}));
}

TEST_CASE("store: the controllers sharing a database, and artifacts any of them can serve") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto& s = e.store;
  REQUIRE(s->put_controller({"ctl-a#1", "https://a:7443", "1.0.0", 1000, 0}));
  REQUIRE(s->put_controller({"ctl-b#2", "https://b:7443", "1.0.0", 2000, 0}));
  REQUIRE(s->put_controller({"ctl-a#1", "https://a:7443", "1.0.1", 1000, 0}));  // refreshed
  auto all = s->controllers(0).value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].holder == "ctl-a#1");
  CHECK(all[0].version == "1.0.1");
  CHECK(all[0].started_at == 1000);
  CHECK(all[0].seen_at > 0);
  CHECK(all[1].url == "https://b:7443");
  CHECK(s->controllers(all[0].seen_at + 3'600'000).value().empty());  // none seen since
  CHECK(s->lease().value().term == 0);

  // Bytes as they are: NULs, every byte value, a large chunk, replaced on a retry.
  std::string bin;
  for (int i = 0; i < 256 * 4096; ++i) bin.push_back(static_cast<char>(i * 7));
  std::string sha(64, 'f');
  REQUIRE(s->put_artifact_chunk(sha, 0, bin));
  REQUIRE(s->put_artifact_chunk(sha, 1, "partial"));
  REQUIRE(s->put_artifact_chunk(sha, 1, std::string("tail\0end", 8)));
  CHECK(s->artifact_chunk(sha, 0).value() == bin);
  CHECK(s->artifact_chunk(sha, 1).value() == std::string("tail\0end", 8));
  CHECK_FALSE(s->artifact_chunk(sha, 2).value().has_value());
  CHECK_FALSE(s->artifact_chunk(std::string(64, 'e'), 0).value().has_value());
  REQUIRE(s->delete_artifact(sha));
  CHECK_FALSE(s->artifact_chunk(sha, 0).value().has_value());
}

TEST_CASE("store: the leader's read cache answers from memory only while enabled and never stale") {
  Engine e(GENERATE(as<std::string>{}, "sqlite", "postgres"));
  INFO(e.engine);
  auto other = e.second();  // another process writing the same database
  ReadCache cache(std::move(e.store));
  REQUIRE(cache.add_node({"web-1", "{}", "", 0, 0, "{}", 0, 0}));
  auto id = cache.add_token(Token::of(TokenKind::kNode, std::string(64, 'a'), "web-1")).value();
  cache.enable(true);
  auto c = cache.cluster().value();
  CHECK(cache.token_by_hash(std::string(64, 'a')).value().has_value());
  // Enabled: what another writer changes is not seen (the leader is the one writer)...
  auto theirs = other->cluster().value();
  theirs.state = ClusterState::kRunning;
  REQUIRE(other->put_cluster(theirs));
  CHECK(cache.cluster().value().state == ClusterState::kStopped);
  // ...and its own writes are: a write through it drops what it held.
  auto again = cache.put_cluster(c);
  CHECK_FALSE(again);  // the revision moved under it: refused, as without a cache
  CHECK(cache.cluster().value().state == ClusterState::kRunning);
  // A revocation through it is seen at once.
  REQUIRE(cache.revoke_token(id));
  CHECK(cache.token_by_hash(std::string(64, 'a')).value()->revoked_at != 0);
  // Disabled (a follower): every read goes to the database.
  cache.enable(false);
  theirs = other->cluster().value();
  theirs.state = ClusterState::kStopped;
  REQUIRE(other->put_cluster(theirs));
  CHECK(cache.cluster().value().state == ClusterState::kStopped);
}
