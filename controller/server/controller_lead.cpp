// The Controller's leadership among controllers that share a PostgreSQL
// database (docs/architecture.md, "Several controllers"): a lease row in the
// database (holder, term, expiry by the database's clock) decides who runs
// the reconcile loop and rollouts and answers writes and heartbeats; every
// write the leader makes carries its term and is refused by the database
// once a newer term exists (Store::set_fence). A follower serves reads from
// the database and refuses writes with 503 not_leader naming the leader.
//
//   follower --lease free--> take_over: fence(term), reload, "controller.lead"
//      ^                              |
//      +---- step_down <--------------+  lease lost, superseded, or ran out
//                                        locally (stopped past it, no database)
//
// A controller on its own SQLite file always leads (term 0, no lease).
#include <unistd.h>

#include <fcntl.h>
#include <cstdio>
#include <iostream>

#include "controller/server/controller.h"
#include "controller/server/controller_internal.h"
#include "controller/store/artifact_file.h"
#include "controller/store/read_cache.h"
#include "logctl/schema/digest.h"

namespace logctl::controller {

using namespace detail;

namespace {
// A controller not seen for this long is no longer listed.
constexpr std::int64_t kControllerSeenMs = 60'000;
}  // namespace

void Controller::set_advertise_url(const std::string& url) {
  std::lock_guard lock(mu_);
  o_.advertise_url = url;
}

bool Controller::leading() {
  std::lock_guard lock(mu_);
  return leads(Clock::now());
}

void Controller::lead_pass() {
  const auto t0 = Clock::now();
  std::lock_guard lock(mu_);
  const auto ttl = o_.lease_ttl;
  // The leader renews every third of its lease; a follower tries twice as
  // often, so a lease that ran out is taken within a sixth of it.
  if (t0 < renewed_at_ + (leading_ ? ttl / 3 : ttl / 6)) return;
  renewed_at_ = t0;
  auto l = store_->acquire_lease(holder_, ttl.count());
  if (!l) {
    if (db_ok_) std::cerr << "logctl-controller: the lease: " << l.error().message << "\n";
    db_ok_ = false;
    if (leading_ && !leads(Clock::now())) {
      step_down("its lease ran out while the database could not be reached");
    }
    return;
  }
  if (!db_ok_) std::cerr << "logctl-controller: the database answers again\n";
  db_ok_ = true;
  lease_ = *l;
  (void)store_->put_controller({holder_, o_.advertise_url, LOGCTL_VERSION, started_ms_, 0});
  if (l->holder == holder_) {
    // The database's lease ends at least ttl after t0 (it was renewed after
    // t0): this process leads until then, less a margin for clock rates.
    lease_until_ = t0 + ttl - ttl / 10;
    leader_url_ = o_.advertise_url;
    if (!leading_ || l->term != term_) {
      if (auto s = take_over(*l); !s) {
        leading_ = false;
        std::cerr << "logctl-controller: cannot take over term " << l->term << ": "
                  << s.error().message << "\n";
      }
    }
    return;
  }
  if (leading_) {
    step_down("term " + std::to_string(term_) + " was superseded: " + l->holder +
              " leads in term " + std::to_string(l->term));
  }
  leader_url_.clear();
  if (auto cs = store_->controllers(now_ms() - kControllerSeenMs)) {
    for (const auto& c : *cs) {
      if (c.holder == l->holder) leader_url_ = c.url;
    }
  }
}

Status Controller::take_over(const store::Lease& l) {
  // Fenced first: from here every write of this connection commits under
  // this term or not at all.
  if (auto s = store_->set_fence(l.term); !s) return s;
  {
    std::lock_guard lock(state_mu_);
    if (auto s = state_store_->set_fence(l.term); !s) return s;
  }
  term_ = l.term;
  // A failover is a restart on another host: the nodes' liveness is judged
  // afresh (unknown for a node timeout), the rollout read from the store.
  if (auto s = reload(); !s) return s;
  cache_->enable(true);  // from here this process is the only writer of what it caches
  leading_ = true;
  refreshed_at_ = {};
  std::cerr << "logctl-controller: leading in term " << term_ << " (" << holder_ << ")\n";
  record_system("controller.lead",
                {{"holder", holder_}, {"term", term_}, {"url", o_.advertise_url}}, "leading");
  return {};
}

void Controller::step_down(const std::string& why) {
  leading_ = false;
  cache_->enable(false);
  lease_until_ = {};
  refreshed_at_ = {};  // the next read takes the nodes and rollout from the store
  std::cerr << "logctl-controller: following: " << why << "\n";
}

Status Controller::reload() {
  auto rows = store_->nodes();
  if (!rows) return std::unexpected(rows.error());
  Now t = now();
  nodes_ = NodeRegistry(o_.node_timeout, t.steady, t.ms);
  for (auto& n : *rows) {
    auto valid = store_->valid_node_tokens(n.name);
    if (!valid) return std::unexpected(valid.error());
    nodes_.add(std::move(n)).revoked = *valid == 0;
  }
  return runner_.load();
}

void Controller::refresh_follower_view() {
  const auto t = Clock::now();
  if (leads(t) || t < refreshed_at_ + std::chrono::seconds(1)) return;
  refreshed_at_ = t;
  auto rows = store_->nodes();
  if (!rows) return;
  // What the leader last wrote back (every reconcile pass): a node heard
  // within the timeout is shown connected, as the leader sees it.
  std::map<std::string, bool> revoked;
  for (const auto& [name, l] : nodes_.all()) revoked[name] = l.revoked;
  nodes_.all().clear();
  const std::int64_t ms = now_ms();
  for (auto& n : *rows) {
    std::string name = n.name;
    std::int64_t heard = n.last_heartbeat;
    LiveNode& l = nodes_.add(std::move(n));
    if (auto it = revoked.find(name); it != revoked.end()) {
      l.revoked = it->second;
    } else if (auto valid = store_->valid_node_tokens(name)) {
      l.revoked = *valid == 0;
    }
    auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, ms - heard));
    if (heard != 0 && age < o_.node_timeout) l.seen = t - age;
  }
  (void)runner_.load();
}

std::optional<ApiError> Controller::refuse_if_following() {
  if (leads(Clock::now())) return std::nullopt;
  std::string who = leader_url_.empty() ? std::string("another controller") : leader_url_;
  if (!lease_.holder.empty() && lease_.holder == holder_)
    who = "nobody yet (the lease is being renewed)";
  return api_error(503, "not_leader",
                   "this controller follows; writes and heartbeats go to the leader: " + who,
                   {{"leader", leader_url_}, {"term", lease_.term}});
}

json Controller::leadership(bool controllers) {
  std::lock_guard lock(mu_);
  return leadership_json(controllers);
}

json Controller::leadership_json(bool controllers) {
  const bool leads_now = leads(Clock::now());
  json j = {{"mode", shared_ ? "shared" : "single"},
            {"role", leads_now ? "leader" : "follower"},
            {"url", o_.advertise_url}};
  if (!shared_) return j;
  j["holder"] = holder_;
  j["term"] = leads_now ? term_ : lease_.term;
  j["leader"] = {{"holder", lease_.holder},
                 {"url", leads_now ? o_.advertise_url : leader_url_},
                 {"term", lease_.term},
                 {"expires_at", lease_.expires_at}};
  j["database"] = db_ok_ ? "reachable" : "unreachable";
  if (controllers) {
    json all = json::array();
    if (auto cs = store_->controllers(now_ms() - kControllerSeenMs)) {
      for (const auto& c : *cs) {
        all.push_back({{"holder", c.holder},
                       {"url", c.url},
                       {"version", c.version},
                       {"started_at", c.started_at},
                       {"seen_at", c.seen_at},
                       {"leader", c.holder == lease_.holder}});
      }
    }
    j["controllers"] = all;
  }
  return j;
}

// ---- artifacts on a shared database -------------------------------------------

Status Controller::share_artifact(const std::string& path, const std::string& sha256) {
  std::lock_guard lock(artifact_mu_);
  return store::for_each_artifact_chunk(path, [&](int seq, std::string_view bytes) {
    return artifact_store_->put_artifact_chunk(sha256, seq, bytes);
  });
}

Status Controller::fetch_artifact(const store::Release& r, const std::string& path) {
  std::lock_guard lock(artifact_mu_);
  if (::access(path.c_str(), F_OK) == 0) return {};  // fetched by another request meanwhile
  std::string tmp = path + ".fetch-" + digest::random_hex(4);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) return make_error(ErrorCode::kIo, "create " + tmp + ": " + std::strerror(errno));
  digest::Sha256 h;
  std::int64_t size = 0;
  Status st;
  for (int seq = 0; st; ++seq) {
    auto chunk = artifact_store_->artifact_chunk(r.sha256, seq);
    if (!chunk) {
      st = std::unexpected(chunk.error());
      break;
    }
    if (!*chunk) break;
    h.update(**chunk);
    size += static_cast<std::int64_t>((*chunk)->size());
    if (size > r.size) break;
    for (std::size_t off = 0; off < (*chunk)->size();) {
      ssize_t n = ::write(fd, (*chunk)->data() + off, (*chunk)->size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        st = make_error(ErrorCode::kIo, "write " + tmp + ": " + std::strerror(errno));
        break;
      }
      off += static_cast<std::size_t>(n);
    }
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (st && (size != r.size || h.hex() != r.sha256)) {
    st = make_error(ErrorCode::kCorrupt, "the database holds " + std::to_string(size) +
                                             " bytes for release " + r.version +
                                             " that do not match its SHA-256 and size");
  }
  if (st && !synced) st = make_error(ErrorCode::kIo, "fsync " + tmp);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = make_error(ErrorCode::kIo, "rename " + tmp + ": " + std::strerror(errno));
  }
  if (!st) ::unlink(tmp.c_str());
  return st;
}

}  // namespace logctl::controller
