// A Store that answers the reads a leader makes on every heartbeat from
// memory (docs/architecture.md, "Several controllers"): on PostgreSQL each
// is a network round trip under the controller's lock, and 5,000 nodes at
// 1 Hz make five of them each. Cached while enabled — only while this
// process leads, the one writer of what it caches:
//   cluster()            until this store writes it (put_cluster, advance_revision)
//   release(version)     until add_release / delete_release
//   config(id)           for ever (config revisions never change)
//   token_by_hash(hash)  node tokens that are valid, until any revocation
//                        through this store, and at most 60 s (another
//                        process's rotation reaches a leader within that)
// Everything else, and every read while disabled, goes to the inner store.
// Disabling clears it (a follower reads what the leader wrote).
//
// Thread safety: as Store (one thread at a time; the controller's lock).
#pragma once

#include <chrono>
#include <map>
#include <memory>

#include "controller/store/store.h"

namespace logctl::store {

class ReadCache final : public Store {
 public:
  explicit ReadCache(std::unique_ptr<Store> inner) : s_(std::move(inner)) {}
  void enable(bool on);

  Result<int> schema_version() override { return s_->schema_version(); }
  Result<Cluster> cluster() override;
  Result<std::int64_t> put_cluster(const Cluster& next) override;
  Result<std::int64_t> advance_revision(std::int64_t at_least) override;
  Status add_release(const Release& r) override;
  Result<std::optional<Release>> release(const std::string& version) override;
  Result<std::vector<Release>> releases() override { return s_->releases(); }
  Result<int> delete_release(const std::string& version) override;
  Result<std::int64_t> append_history(const HistoryEntry& e) override {
    return s_->append_history(e);
  }
  Result<std::vector<HistoryEntry>> history(std::size_t limit) override {
    return s_->history(limit);
  }
  Result<std::int64_t> add_config(const ConfigRevision& c) override { return s_->add_config(c); }
  Result<std::optional<ConfigRevision>> config(std::int64_t id) override;
  Result<std::vector<ConfigRevision>> configs(std::size_t limit) override {
    return s_->configs(limit);
  }
  Status add_node(const Node& n) override { return s_->add_node(n); }
  Result<std::optional<Node>> node(const std::string& name) override { return s_->node(name); }
  Result<std::vector<Node>> nodes() override { return s_->nodes(); }
  Status put_node_states(const std::vector<Node>& nodes) override {
    return s_->put_node_states(nodes);
  }
  Result<std::int64_t> add_token(const Token& t) override { return s_->add_token(t); }
  Result<std::optional<Token>> token_by_hash(const std::string& hash) override;
  Result<int> revoke_node_tokens(const std::string& node) override;
  Result<int> delete_node(const std::string& node) override;
  Result<int> revoke_tokens_of_kind(TokenKind kind, std::int64_t keep) override;
  Result<int> valid_node_tokens(const std::string& node) override {
    return s_->valid_node_tokens(node);
  }
  Status revoke_token(std::int64_t id) override;
  Result<bool> use_token(std::int64_t id) override { return s_->use_token(id); }
  Result<std::optional<std::string>> node_name_nocase(const std::string& name) override {
    return s_->node_name_nocase(name);
  }
  Result<std::int64_t> add_rollout(const Rollout& r, std::vector<RolloutStep> steps) override {
    return s_->add_rollout(r, std::move(steps));
  }
  Status put_rollout(const Rollout& r) override { return s_->put_rollout(r); }
  Status put_step(const RolloutStep& st) override { return s_->put_step(st); }
  Result<std::optional<Rollout>> rollout(std::int64_t id) override { return s_->rollout(id); }
  Result<std::vector<Rollout>> rollouts(std::size_t limit) override { return s_->rollouts(limit); }
  Result<std::vector<RolloutStep>> steps(std::int64_t rollout_id) override {
    return s_->steps(rollout_id);
  }
  Result<Lease> acquire_lease(const std::string& holder, std::int64_t ttl_ms) override {
    return s_->acquire_lease(holder, ttl_ms);
  }
  Status release_lease(const std::string& holder, std::int64_t term) override {
    return s_->release_lease(holder, term);
  }
  Status set_fence(std::int64_t term) override { return s_->set_fence(term); }
  Result<Lease> lease() override { return s_->lease(); }
  Status put_controller(const ControllerInfo& c) override { return s_->put_controller(c); }
  Result<std::vector<ControllerInfo>> controllers(std::int64_t since) override {
    return s_->controllers(since);
  }
  Status put_artifact_chunk(const std::string& sha256, int seq, std::string_view data) override {
    return s_->put_artifact_chunk(sha256, seq, data);
  }
  Result<std::optional<std::string>> artifact_chunk(const std::string& sha256, int seq) override {
    return s_->artifact_chunk(sha256, seq);
  }
  Status delete_artifact(const std::string& sha256) override { return s_->delete_artifact(sha256); }

 private:
  void clear();
  std::unique_ptr<Store> s_;
  bool on_ = false;
  std::optional<Cluster> cluster_;
  std::map<std::string, std::optional<Release>> releases_;
  std::map<std::int64_t, ConfigRevision> configs_;
  struct CachedToken {
    Token token;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, CachedToken> tokens_;
};

}  // namespace logctl::store
