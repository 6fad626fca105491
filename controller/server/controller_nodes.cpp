// The Controller's node operations: enrolment, heartbeats (and the restore
// hold they can reveal), listing, revocation and deletion.
#include "controller/server/controller.h"

#include <algorithm>

#include "controller/server/controller_internal.h"
#include "controller/server/heartbeat_fields.h"
#include "logctl/schema/digest.h"

namespace logctl::controller {

using namespace detail;
using lifecycle::Command;
using store::ClusterState;

// ---- nodes -----------------------------------------------------------------

ApiResult<json> Controller::enroll(const json& body, const Principal& who) {
  if (who.kind != store::TokenKind::kEnrollment && who.kind != store::TokenKind::kAdmin) {
    return std::unexpected(api_error(403, "forbidden", "enrolment needs an enrolment token"));
  }
  if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
    return std::unexpected(api_error(400, "bad_request", "body: 'name' (string) is required"));
  }
  std::string name = body["name"].get<std::string>();
  if (!valid_name(name)) {
    return std::unexpected(
        api_error(400, "bad_request",
                  "node name: 1 to 63 of [A-Za-z0-9._-], starting with a letter or digit"));
  }
  json labels = json::object();
  if (body.contains("labels")) {
    const auto& l = body["labels"];
    if (!l.is_object() || l.size() > kMaxLabels) {
      return std::unexpected(
          api_error(400, "bad_request", "labels: an object of at most 32 string values"));
    }
    for (const auto& [k, v] : l.items()) {
      if (!valid_name(k) || !v.is_string() || !valid_label_value(v.get<std::string>())) {
        return std::unexpected(api_error(400, "bad_request",
                                         "label '" + json(k).dump() +
                                             "': keys as node names, values up to 63 printable "
                                             "characters"));
      }
    }
    labels = l;
  }
  if (!who.names.empty()) {
    json allowed = json::parse(who.names, nullptr, false);
    bool listed = false;
    for (const auto& n : allowed.is_array() ? allowed : json::array()) {
      listed = listed || (n.is_string() && n.get<std::string>() == name);
    }
    if (!listed) {
      return std::unexpected(
          api_error(403, "forbidden", "this enrolment token may not enrol '" + name + "'"));
    }
  }
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) return std::unexpected(*e);
  // Names are one per node whatever their case (no WEB-1 beside web-1).
  auto same = store_->node_name_nocase(name);
  if (!same) return std::unexpected(api_error(same.error()));
  if (*same && **same != name) {
    return std::unexpected(api_error(409, "conflict",
                                     "node '" + **same +
                                         "' is enrolled: names are compared "
                                         "without regard to case"));
  }
  auto existing = store_->node(name);
  if (!existing) return std::unexpected(api_error(existing.error()));
  if (!*existing && nodes_.all().size() >= o_.max_nodes) {
    return std::unexpected(
        api_error(409, "conflict",
                  "the controller has " + std::to_string(nodes_.all().size()) +
                      " nodes, its limit (serve --max-nodes); delete nodes that are gone first"));
  }
  if (*existing) {
    // A node that lost its token enrols again only after an admin revoked
    // the old one: an enrolment token alone cannot take over a live node.
    auto valid = store_->valid_node_tokens(name);
    if (!valid) return std::unexpected(api_error(valid.error()));
    if (*valid > 0) {
      return std::unexpected(api_error(409, "conflict",
                                       "node '" + name +
                                           "' is enrolled and holds a valid token; revoke it first "
                                           "(POST /v1/nodes/" +
                                           name + "/revoke) to enrol it again"));
    }
  }
  if (who.uses_left) {
    // One use of a counted enrolment token, taken before the node exists.
    auto used = store_->use_token(who.token_id);
    if (!used) return std::unexpected(api_error(used.error()));
    if (!*used) {
      return std::unexpected(api_error(401, "unauthenticated", "the token has no uses left"));
    }
  }
  std::string secret = "lct_node_" + digest::random_hex(32);
  if (!*existing) {
    store::Node n;
    n.name = name;
    n.labels = labels.dump();
    n.enrolled_at = now_ms();
    if (auto s = store_->add_node(n); !s) return std::unexpected(api_error(s.error()));
    nodes_.add(n);
  }
  auto id = store_->add_token(
      store::Token::of(store::TokenKind::kNode, digest::sha256_hex(secret), name));
  if (!id) return std::unexpected(api_error(id.error()));
  if (auto* n = nodes_.find(name)) n->revoked = false;
  (void)record(who, "node.enroll",
               {{"node", name}, {"labels", labels}, {"reenrolled", bool(*existing)}}, false,
               "accepted");
  return json{
      {"name", name}, {"token", secret}, {"heartbeat_interval_ms", o_.heartbeat_interval.count()}};
}

ApiResult<json> Controller::heartbeat(const std::string& node, const json& raw,
                                      const Principal& who) {
  if (who.kind != store::TokenKind::kNode || who.node != node) {
    return std::unexpected(
        api_error(403, "forbidden", "only node '" + node + "''s own token may heartbeat for it"));
  }
  // Only what the gate and the checks read is kept, checked and bounded
  // (heartbeat_fields.h); unknown fields are ignored (a newer agent may send
  // more).
  auto bounded = bounded_heartbeat(raw);
  if (!bounded) return std::unexpected(api_error(400, "bad_request", bounded.error().message));
  const json& body = *bounded;
  std::string version = body.value("version", std::string());
  std::int64_t config = body.value("config_revision", std::int64_t{0});
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) return std::unexpected(*e);
  LiveNode* found = nodes_.find(node);
  if (!found) return std::unexpected(no_node(node));
  if (config != 0) {
    // Only a revision this controller knows (the nodes table points at it).
    auto known = store_->config(config);
    if (!known || !*known) config = 0;
  }
  LiveNode& l = *found;
  l.previous_health = l.health;
  l.health = body;
  l.seen = Clock::now();
  l.row.version = version;
  l.row.config_revision = config;
  l.row.generation = body.value("generation", std::int64_t{0});
  l.row.last_heartbeat = now_ms();
  l.dirty = true;
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  // A node was told a newer revision than this database has: it went back in
  // time (a backup restored). Hold everything until the operator resumes.
  std::int64_t seen = body.value("seen_cluster_revision", std::int64_t{0});
  max_seen_revision_ = std::max(max_seen_revision_, seen);
  if (seen > c->revision && c->held.empty()) {
    auto held = hold(*c, "node " + node + " was told cluster revision " + std::to_string(seen) +
                             " but this database is at revision " + std::to_string(c->revision) +
                             " (restored from a backup?)");
    if (!held) return std::unexpected(api_error(held.error()));
    *c = *held;
  }
  // A node whose rollout step is in flight reports 4x as often: its gate is
  // judged on fresh figures and the batch does not wait out a full interval.
  auto interval = o_.heartbeat_interval;
  if (runner_.in_flight(node)) interval = std::max(std::chrono::milliseconds(100), interval / 4);
  return json{{"desired", desired_json(desired_for(node, *c), c->revision)},
              {"heartbeat_interval_ms", interval.count()}};
}

Result<store::Cluster> Controller::hold(store::Cluster c, const std::string& why) {
  if (runner_.active()) {
    // The rollout's steps are from before the restore: it is not continued.
    runner_.abort("aborted: " + why);
    if (auto a = lifecycle::apply(c, Command::kAbort)) c = *a;
  }
  c.held = why;
  auto rev = store_->put_cluster(c);
  if (!rev) return std::unexpected(rev.error());
  record_system("restore.detected", {{"reason", why}},
                "held: nothing moves until `logctl cluster resume` (gated)");
  return store_->cluster();
}

json Controller::node_json(const LiveNode& l, const store::Cluster& c) {
  json labels = json::parse(l.row.labels, nullptr, false);
  json j = {{"name", l.row.name},
            {"labels", labels.is_discarded() ? json::object() : labels},
            {"version", l.row.version},
            {"config_revision", l.row.config_revision},
            {"generation", l.row.generation},
            {"last_heartbeat", l.row.last_heartbeat},
            {"enrolled_at", l.row.enrolled_at},
            {"connected", nodes_.connected(l, Clock::now())},
            {"liveness", liveness_name(nodes_.liveness(l, Clock::now()))},
            {"liveness_detail", nodes_.describe(l, Clock::now(), now_ms())},
            {"revoked", l.revoked},
            {"healthy", healthy(l, c)},
            {"running", l.health.value("running", false)},
            {"worker_up", l.health.value("worker_up", false)},
            {"figures", l.health.value("figures", json::object())},
            {"listeners", l.health.value("listeners", json::array())},
            {"last_handover", l.health.value("handover", json())},
            {"converge", l.health.value("converge", json())}};
  Desired d = desired_for(l.row.name, c);
  j["desired"] = {{"running", d.running}, {"version", d.version}, {"config_revision", d.config}};
  return j;
}

ApiResult<json> Controller::nodes() {
  std::lock_guard lock(mu_);
  refresh_follower_view();
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  json out = json::array();
  for (const auto& [name, l] : nodes_.all()) out.push_back(node_json(l, *c));
  return json{{"nodes", out}};
}

ApiResult<json> Controller::node(const std::string& name) {
  std::lock_guard lock(mu_);
  refresh_follower_view();
  const LiveNode* n = nodes_.find(name);
  if (!n) return std::unexpected(no_node(name));
  auto c = store_->cluster();
  if (!c) return std::unexpected(api_error(c.error()));
  return node_json(*n, *c);
}

ApiResult<json> Controller::revoke_node(const std::string& name, const Principal& who) {
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) return std::unexpected(*e);
  LiveNode* live = nodes_.find(name);
  if (!live) return std::unexpected(no_node(name));
  auto n = store_->revoke_node_tokens(name);
  if (!n) return std::unexpected(api_error(n.error()));
  live->revoked = true;
  (void)record(who, "node.revoke", {{"node", name}, {"tokens", *n}}, false, "accepted");
  return json{{"node", name}, {"revoked_tokens", *n}};
}

ApiResult<json> Controller::delete_node(const std::string& name, const Principal& who) {
  std::lock_guard lock(mu_);
  if (auto e = refuse_if_following()) return std::unexpected(*e);
  if (!nodes_.find(name)) return std::unexpected(no_node(name));
  auto n = store_->delete_node(name);
  if (!n) return std::unexpected(api_error(n.error()));
  nodes_.erase(name);
  runner_.forget(name, now());
  (void)record(who, "node.delete", {{"node", name}, {"revoked_tokens", *n}}, false, "accepted");
  cv_.notify_all();
  return json{{"node", name}, {"deleted", true}, {"revoked_tokens", *n}};
}

void Controller::flush_nodes() {
  (void)store_->put_node_states(nodes_.take_dirty());
}

}  // namespace logctl::controller
