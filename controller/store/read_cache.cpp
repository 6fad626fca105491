#include "controller/store/read_cache.h"

namespace logctl::store {

namespace {
constexpr auto kTokenTtl = std::chrono::seconds(60);
constexpr std::size_t kMaxTokens = 100'000;  // bounded: one per node, a fleet's worth
}  // namespace

void ReadCache::enable(bool on) {
  on_ = on;
  clear();
}

void ReadCache::clear() {
  cluster_.reset();
  releases_.clear();
  configs_.clear();
  tokens_.clear();
}

Result<Cluster> ReadCache::cluster() {
  if (on_ && cluster_) return *cluster_;
  auto c = s_->cluster();
  if (c && on_) cluster_ = *c;
  return c;
}

Result<std::int64_t> ReadCache::put_cluster(const Cluster& next) {
  cluster_.reset();
  return s_->put_cluster(next);
}

Result<std::int64_t> ReadCache::advance_revision(std::int64_t at_least) {
  cluster_.reset();
  return s_->advance_revision(at_least);
}

Status ReadCache::add_release(const Release& r) {
  releases_.erase(r.version);
  return s_->add_release(r);
}

Result<std::optional<Release>> ReadCache::release(const std::string& version) {
  if (on_) {
    if (auto it = releases_.find(version); it != releases_.end()) return it->second;
  }
  auto r = s_->release(version);
  // Absent ones too (a heartbeat names what it runs): at most one entry per
  // version asked, and versions are names the controller checked.
  if (r && on_ && releases_.size() < 10'000) releases_[version] = *r;
  return r;
}

Result<int> ReadCache::delete_release(const std::string& version) {
  releases_.erase(version);
  return s_->delete_release(version);
}

Result<std::optional<ConfigRevision>> ReadCache::config(std::int64_t id) {
  if (on_) {
    if (auto it = configs_.find(id); it != configs_.end()) return std::optional(it->second);
  }
  auto c = s_->config(id);
  if (c && *c && on_ && configs_.size() < 10'000) configs_[id] = **c;
  return c;
}

Result<std::optional<Token>> ReadCache::token_by_hash(const std::string& hash) {
  auto now = std::chrono::steady_clock::now();
  if (on_) {
    if (auto it = tokens_.find(hash); it != tokens_.end()) {
      if (now < it->second.until) return std::optional(it->second.token);
      tokens_.erase(it);
    }
  }
  auto t = s_->token_by_hash(hash);
  // Only valid node tokens without bounds: revocation is the one change.
  if (t && *t && on_ && (*t)->kind == TokenKind::kNode && (*t)->revoked_at == 0 &&
      (*t)->expires_at == 0 && !(*t)->uses_left && tokens_.size() < kMaxTokens) {
    tokens_[hash] = {**t, now + kTokenTtl};
  }
  return t;
}

Result<int> ReadCache::revoke_node_tokens(const std::string& node) {
  tokens_.clear();
  return s_->revoke_node_tokens(node);
}

Result<int> ReadCache::delete_node(const std::string& node) {
  tokens_.clear();
  return s_->delete_node(node);
}

Result<int> ReadCache::revoke_tokens_of_kind(TokenKind kind, std::int64_t keep) {
  tokens_.clear();
  return s_->revoke_tokens_of_kind(kind, keep);
}

Status ReadCache::revoke_token(std::int64_t id) {
  tokens_.clear();
  return s_->revoke_token(id);
}

}  // namespace logctl::store
