// logctl cluster …: the lifecycle verbs (start, shutdown, upgrade, resume,
// rollback, pause, abort), status, history, and the local cluster's start /
// delete. Each verb is one API call (docs/api.md); --wait then follows the
// rollout it began until it ends or --timeout passes (the rollout goes on
// either way: waiting is the client's business only).
#include <unistd.h>

#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "cli/local_cluster.h"
#include "cli/progress.h"
#include "cli/terminal.h"

namespace logctl::cli {
namespace {

struct StrategyFlags {
  int batch_size = 0, max_unavailable = 0, canary = 0, max_failed = -1;
  bool skip_unreachable = false;
  std::string ramp, order_label, min_healthy_time, healthy_deadline;
  void add(CLI::App* c) {
    auto* g = c->add_option_group("strategy", "How the rollout moves (docs/api.md, Strategy)");
    auto* b = g->add_option("--batch-size", batch_size, "Nodes per batch");
    auto* m = g->add_option("--max-unavailable", max_unavailable, "Nodes moving at once");
    auto* r = g->add_option("--ramp", ramp, "Cumulative steps, e.g. 1,10%,50%,100%");
    b->excludes(m)->excludes(r);
    m->excludes(r);
    g->add_option("--canary", canary, "A first batch of N nodes");
    g->add_option("--order-label", order_label, "Order nodes by this label's value");
    g->add_option("--min-healthy-time", min_healthy_time, "Gate: healthy this long (e.g. 5s)");
    g->add_option("--healthy-deadline", healthy_deadline, "Gate: reached within (e.g. 2m)");
    g->add_option("--max-failed", max_failed, "Node failures tolerated before rolling back");
    g->add_flag("--skip-unreachable", skip_unreachable,
                "Skip a node that cannot be heard when its batch starts (else it fails at once)");
  }
  // The strategy object, or the name of the flag that is malformed.
  std::expected<json, std::string> to_json() const {
    json s = json::object();
    if (batch_size > 0) s["batch_size"] = batch_size;
    if (max_unavailable > 0) s["max_unavailable"] = max_unavailable;
    if (!ramp.empty()) s["ramp"] = ramp;
    if (canary > 0) s["canary"] = canary;
    if (!order_label.empty()) s["order_label"] = order_label;
    if (max_failed >= 0) s["max_failed"] = max_failed;
    if (skip_unreachable) s["skip_unreachable"] = true;
    for (auto [flag, value, key] :
         {std::tuple{"--min-healthy-time", &min_healthy_time, "min_healthy_time_ms"},
          std::tuple{"--healthy-deadline", &healthy_deadline, "healthy_deadline_ms"}}) {
      if (value->empty()) continue;
      auto d = parse_duration(*value);
      if (!d) return std::unexpected(flag);
      s[key] = d->count() * 1000;
    }
    return s;
  }
};

struct WaitFlags {
  bool wait = false;
  std::string timeout = "30m";
  void add(CLI::App* c) {
    c->add_flag("--wait", wait,
                "Wait until done: the rollout ended, or every node runs (or stopped) as the "
                "cluster says (Ctrl-C stops waiting only)");
    c->add_option("--timeout", timeout, "Give up waiting after this long (exit 6)")
        ->capture_default_str();
  }
};

void print_cluster(json doc) {
  json c = doc["cluster"];
  Table t({"CLUSTER", c.value("state", "?") + " (revision " + cell(c["revision"]) + ")"});
  if (c.value("held", json()).is_string()) {
    t.row({"HELD", c.value("held", "") + "; `logctl cluster resume` re-converges (gated)"});
  }
  if (c.value("adopting", false)) {
    t.row({"adopting", "nodes keep what they run until `logctl cluster start` or `resume`"});
  }
  auto version_row = [&](const char* name, const char* cur, const char* target, const char* prev) {
    t.row({name, cell(c[cur]) + "   target " + cell(c[target]) + "   previous " + cell(c[prev])});
  };
  version_row("version", "current_version", "target_version", "previous_version");
  auto rev = [&](const char* k) {
    return c.value(k, 0) == 0 ? std::string("-") : "rev " + cell(c[k]);
  };
  t.row({"config", rev("current_config") + "   target " + rev("target_config") + "   previous " +
                       rev("previous_config")});
  json n = doc["nodes"];
  t.row({"nodes", cell(n["total"]) + " total, " + cell(n["connected"]) + " connected, " +
                      cell(n["healthy"]) + " healthy, " + cell(n.value("unreachable", json(0))) +
                      " unreachable"});
  // A fleet on more than one version or config (an aborted or partial
  // rollout) is said so, with the ways to move it on.
  if (n.contains("running") && n["running"].is_object() && n["running"].size() > 1) {
    std::string mixed;
    for (const auto& [what, count] : n["running"].items()) {
      mixed += (mixed.empty() ? "" : ", ") + what + " on " + count.dump();
    }
    t.row({"MIXED", mixed + ": `logctl cluster resume --wait` finishes the move, `logctl cluster "
                            "rollback` reverts it"});
  }
  if (doc["rollout"].is_object()) {
    json r = doc["rollout"];
    std::size_t done = 0;
    for (auto s : r["steps"]) done += s.value("state", "") == "done";
    std::string line = "#" + cell(r["id"]) + " " + r.value("state", "?") + "  " + transition(r) +
                       "  " + std::to_string(done) + "/" + std::to_string(r["steps"].size()) +
                       " nodes done";
    if (!r.value("reason", "").empty()) line += "  (" + r.value("reason", "") + ")";
    t.row({"rollout", line});
  }
  std::string legal;
  for (auto l : c["legal_commands"]) legal += (legal.empty() ? "" : ", ") + cell(l);
  t.row({"legal now", legal});
  // Several controllers on one database: who leads, in which term, and each one.
  json ctl = doc.value("controllers", json::object());
  if (ctl.value("mode", "") == "shared") {
    json leader = ctl.value("leader", json::object());
    t.row({"leader", cell(leader["url"]) + "  term " + cell(leader["term"]) + "  (answered by " +
                         ctl.value("url", "?") + ", " + ctl.value("role", "?") + ")"});
    for (const auto& k : ctl.value("controllers", json::array())) {
      t.row({"controller", cell(k["url"]) + "  " + cell(k["version"]) +
                               (k.value("leader", false) ? "  leader" : "  follower") + "  seen " +
                               when(k.value("seen_at", std::int64_t{0}))});
    }
  }
  t.print(std::cout);
}

// The names of a plan's failed checks, comma-separated ("" when all passed).
std::string failed_checks(const json& plan) {
  std::string failed;
  for (const auto& c : plan.value("checks", json::array())) {
    if (c.value("outcome", "") == "failed")
      failed += (failed.empty() ? "" : ", ") + cell(c["name"]);
  }
  return failed;
}

void print_plan(json plan) {
  Table checks({"CHECK", "OUTCOME", "DETAIL"});
  for (auto c : plan["checks"]) {
    checks.row({cell(c["name"]), cell(c["outcome"]), c.value("detail", "")});
  }
  checks.print(std::cout);
  std::cout << "\n";
  Table nodes({"NODE", "BATCH", "VERSION", "CONFIG"});
  std::map<std::string, int> batch_of;
  int b = 0;
  for (auto batch : plan["batches"]) {
    ++b;
    for (auto n : batch) batch_of[n.is_string() ? n.get<std::string>() : n.value("node", "")] = b;
  }
  for (auto n : plan["nodes"]) {
    std::string name = n.value("node", "");
    // What moves is shown as a move; what stays, once.
    auto move = [&](const char* from, const char* to) {
      return n[from] == n[to] ? cell(n[to]) + " (same)" : cell(n[from]) + " -> " + cell(n[to]);
    };
    nodes.row({name, batch_of.count(name) ? std::to_string(batch_of[name]) : "-",
               move("from_version", "to_version"), move("from_config", "to_config")});
  }
  nodes.print(std::cout);
  if (!plan["config_diff"].empty()) {
    std::cout << "\nconfig diff:\n";
    for (auto l : plan["config_diff"]) std::cout << "  " << l.get<std::string>() << "\n";
  }
  if (failed_checks(plan).empty())
    std::cout << "\nplan token: " << plan.value("plan_token", "") << "\n";
}

// Waits for what a verb began: the rollout `id`, or (0: offline path) the
// nodes converging on the cluster's version and config.
int wait_after(Cli& cli, Client& client, const json& answer, const WaitFlags& w) {
  auto timeout = parse_duration(w.timeout);
  if (!timeout) return fail(cli.format(), Exit::kUsage, "usage", "bad --timeout " + w.timeout);
  // "rollout": its id (resume, rollback) or the rollout itself (status).
  std::int64_t id = 0;
  if (answer.contains("rollout")) {
    const json& r = answer["rollout"];
    id = r.is_number_integer() ? r.get<std::int64_t>()
         : r.is_object()       ? r.value("id", std::int64_t{0})
                               : 0;
  }
  Progress p(cli.format(), ::isatty(STDERR_FILENO) == 1);
  return id ? p.follow_rollout(client, id, *timeout) : p.follow_convergence(client, *timeout);
}

int run_verb(Cli& cli, const std::string& verb, const json& body, const WaitFlags* w) {
  if (w && w->wait && !parse_duration(w->timeout)) {  // before anything changes
    return fail(cli.format(), Exit::kUsage, "usage", "bad --timeout " + w->timeout);
  }
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post("/v1/cluster/" + verb, body);
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    json c = (*r)["cluster"];
    std::cout << "cluster " << c.value("state", "?") << " (revision " << cell(c["revision"]) << ")";
    if ((*r)["rollout"].is_number()) std::cout << ", rollout #" << (*r)["rollout"];
    std::cout << std::endl;
    if ((*r)["rollback_to"].is_object()) {
      json to = (*r)["rollback_to"];
      std::cout << "back to version " << cell(to["version"]) << " with config rev "
                << cell(to["config"]) << std::endl;
    }
  } else if (!(w && w->wait)) {
    print_json(*r);
  }
  return w && w->wait ? wait_after(cli, **client, *r, *w) : 0;
}

struct UpgradeFlags {
  std::string to, plan_token;
  std::int64_t config = 0;
  bool force = false, allow_downgrade = false, dry_run = false;
  std::vector<std::string> ignore;
  StrategyFlags strategy;
};

int run_upgrade(Cli& cli, const UpgradeFlags& f) {
  if (f.to.empty() && f.config == 0) {
    return fail(cli.format(), Exit::kUsage, "usage", "upgrade needs --to VERSION or --config REV");
  }
  auto strategy = f.strategy.to_json();
  if (!strategy) return fail(cli.format(), Exit::kUsage, "usage", "bad " + strategy.error());
  json body = {{"force", f.force}, {"allow_downgrade", f.allow_downgrade}, {"dry_run", f.dry_run}};
  if (!f.to.empty()) body["version"] = f.to;
  if (f.config) body["config"] = f.config;
  if (!f.ignore.empty()) body["ignore_checks"] = f.ignore;
  if (!f.plan_token.empty()) body["plan_token"] = f.plan_token;
  if (!strategy->empty()) body["strategy"] = *strategy;
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post("/v1/cluster/upgrade", body);
  if (!r) {
    if (cli.format() == Format::kTable && r.error().details.contains("plan")) {
      print_plan(r.error().details["plan"]);
      std::cout << "\n";
    }
    return fail(cli.format(), r.error());
  }
  // A dry run whose checks fail exits as the real run would (4): a CI job
  // that gates on the dry run must not go on to apply a plan that fails.
  std::string failed = failed_checks((*r)["plan"]);
  if (f.dry_run && !failed.empty()) {
    if (cli.format() == Format::kTable) {
      print_plan((*r)["plan"]);
      std::cout << "\n";
    }
    return fail(
        cli.format(), Exit::kChecksFailed, "checks_failed",
        "dry run: compatibility checks failed (" + failed + "); this plan cannot be applied",
        {{"plan", (*r)["plan"]}});
  }
  if (cli.format() != Format::kTable) {
    print_json(*r);
    return 0;
  }
  print_plan((*r)["plan"]);
  if (f.dry_run) {
    std::cerr << "dry run: nothing changed; apply exactly this plan with --plan-token "
              << (*r)["plan"].value("plan_token", "") << "\n";
  } else {
    std::cerr << "target recorded; carry it out with `logctl cluster resume --wait`\n";
  }
  return 0;
}

void print_history(json doc) {
  Table t({"WHEN", "ACTOR", "ACTION", "OUTCOME", "FORCED", "DETAIL"});
  for (auto e : doc["history"]) {
    std::string detail =
        e["detail"].is_string() ? e["detail"].get<std::string>() : e["detail"].dump();
    if (detail.size() > 60) detail = detail.substr(0, 57) + "...";
    t.row({when(e.value("at", std::int64_t{0})), cell(e["actor"]), cell(e["action"]),
           cell(e["outcome"]), e.value("forced", false) ? "yes" : "-", detail});
  }
  t.print(std::cout);
}

int run_status(Cli& cli, bool watch, const std::string& timeout) {
  auto client = cli.client();
  if (!client) return client.error();
  auto limit = parse_duration(timeout);
  if (!limit) return fail(cli.format(), Exit::kUsage, "usage", "bad --timeout " + timeout);
  auto deadline = std::chrono::steady_clock::now() + *limit;
  for (bool first = true;; first = false) {
    auto r = (*client)->get("/v1/cluster");
    if (!r) return fail(cli.format(), r.error());
    if (cli.format() != Format::kTable) {
      print_json(*r);
    } else {
      if (watch && !first && ::isatty(STDOUT_FILENO)) {
        std::cout << std::flush;
        unfiltered_stdout() << "\x1b[H\x1b[2J" << std::flush;
      }
      if (watch)
        std::cout << "-- "
                  << when(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count())
                  << "\n";
      print_cluster(*r);
    }
    if (!watch || std::chrono::steady_clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the refresh period
  }
}

// Every flag of the group; it lives as long as the app (the callbacks hold it).
struct ClusterOptions {
  LocalOptions local;
  bool is_local = false, del_local = false, flush = false;
  UpgradeFlags up;
  StrategyFlags resume_strategy, rollback_strategy;
  WaitFlags resume_wait, rollback_wait, shutdown_wait;
  bool watch = false;
  std::string watch_timeout = "1h";
  int limit = 50;
};

}  // namespace

void setup_cluster(CLI::App& app, Cli& cli) {
  auto o = std::make_shared<ClusterOptions>();
  auto* cluster = app.add_subcommand("cluster", "The fleet: lifecycle, rollouts, status");
  cluster->require_subcommand(1);

  auto* start =
      cluster->add_subcommand("start", "Start the cluster's workers (or a local cluster)");
  start->add_flag("--local", o->is_local, "Boot a controller and N nodes on this machine");
  start->add_option("--nodes", o->local.nodes, "Local: how many nodes")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  start->add_option("--data-dir", o->local.data_dir,
                    "Local: data directory (default ~/.local/share/logctl/local, or under "
                    "$XDG_DATA_HOME)");
  start->add_option("--agentd", o->local.agentd,
                    "Local: the agentd binary (default: beside logctl)");
  start->add_option("--controller-bin", o->local.controller_bin,
                    "Local: the logctl-controller binary (default: beside logctl)");
  start
      ->add_option("--node-ready-timeout", o->local.ready_timeout,
                   "Local: how long a node's new worker may take to be ready (handovers)")
      ->capture_default_str();
  start
      ->add_option("--heartbeat-interval-ms", o->local.heartbeat_ms,
                   "Local: how often the nodes heartbeat the controller")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  start->add_option("--subnet", o->local.subnet, "Local: node I listens on SUBNET.I (in 127/8)")
      ->capture_default_str();
  start
      ->add_option("--up-timeout", o->local.up_timeout,
                   "Local: how long the cluster may take to come up (else what started is "
                   "stopped)")
      ->capture_default_str();
  start->add_option("--pipeline-config", o->local.config,
                    "Local: the nodes' starting pipeline config (default: a built-in one)");
  start->footer("Example:\n  logctl cluster start --local --nodes 3");
  start->callback([&cli, o] {
    cli.rc =
        o->is_local ? start_local(cli, o->local) : run_verb(cli, "start", json::object(), nullptr);
  });

  auto* del = cluster->add_subcommand("delete",
                                      "Stop every process of the local cluster and "
                                      "remove its data directory");
  del->add_flag("--local", o->del_local, "The local cluster (the only kind this deletes)")
      ->required();
  del->add_option("--data-dir", o->local.data_dir, "Its data directory");
  del->footer("Example:\n  logctl cluster delete --local");
  del->callback([&cli, o] { cli.rc = delete_local(cli, o->local); });

  auto* shutdown = cluster->add_subcommand(
      "shutdown", "Stop every node's worker (buffers flushed or persisted; supervisors stay)");
  shutdown->add_flag("--flush", o->flush,
                     "Deliver every buffer before stopping (file buffers too), not only "
                     "what each buffer's flush_at_shutdown says");
  o->shutdown_wait.add(shutdown);
  shutdown->footer("Example:\n  logctl cluster shutdown --flush --wait --timeout 5m");
  shutdown->callback([&cli, o] {
    cli.rc = run_verb(cli, "shutdown", o->flush ? json{{"flush", true}} : json::object(),
                      &o->shutdown_wait);
  });

  auto* upgrade = cluster->add_subcommand(
      "upgrade", "Check and record a target version and/or config (resume carries it out)");
  upgrade->add_option("--to", o->up.to, "Target version (a pushed release)");
  upgrade->add_option("--config", o->up.config, "Target config revision (from `config apply`)");
  upgrade->add_flag("--force", o->up.force, "Skip every check; allow the same version again");
  upgrade->add_option("--ignore-check", o->up.ignore, "Skip this check (repeatable)");
  upgrade->add_flag("--allow-downgrade", o->up.allow_downgrade, "Allow a lower version");
  upgrade->add_flag("--dry-run", o->up.dry_run, "Print the plan and its token; change nothing");
  upgrade->add_option("--plan-token", o->up.plan_token, "Apply exactly the plan with this token");
  o->up.strategy.add(upgrade);
  upgrade->footer(
      "Examples:\n  logctl cluster upgrade --to 1.4.0 --dry-run\n"
      "  logctl cluster upgrade --to 1.4.0 --plan-token 3f2a…\n"
      "  logctl cluster upgrade --to 1.4.0 --force   # CI: no checks");
  upgrade->callback([&cli, o] { cli.rc = run_upgrade(cli, o->up); });

  // resume and rollback: a strategy for the rollout they begin, and --wait.
  for (auto [verb, help, example, strategy, wait] :
       {std::tuple{"resume", "Carry out the recorded target",
                   "logctl cluster resume --wait --timeout 10m --canary 1 --batch-size 2",
                   &o->resume_strategy, &o->resume_wait},
        std::tuple{"rollback", "Back to the (version, config) pair before the last rollout",
                   "logctl cluster rollback --wait", &o->rollback_strategy, &o->rollback_wait}}) {
    auto* c = cluster->add_subcommand(verb, help);
    wait->add(c);
    strategy->add(c);
    c->footer(std::string("Example:\n  ") + example);
    c->callback([&cli, o, v = std::string(verb), strategy, wait] {
      auto s = strategy->to_json();
      if (!s) {
        cli.rc = fail(cli.format(), Exit::kUsage, "usage", "bad " + s.error());
        return;
      }
      cli.rc = run_verb(cli, v, s->empty() ? json::object() : json{{"strategy", *s}}, wait);
    });
  }
  for (auto [verb, help] :
       {std::pair{"pause", "Let the batch in flight finish its gate; start no other"},
        std::pair{"abort",
                  "End the rollout in any state (rolling back too), leaving nodes where they "
                  "are"}}) {
    auto* c = cluster->add_subcommand(verb, help);
    c->footer(std::string("Example:\n  logctl cluster ") + verb);
    c->callback(
        [&cli, v = std::string(verb)] { cli.rc = run_verb(cli, v, json::object(), nullptr); });
  }

  auto* status = cluster->add_subcommand("status", "State, versions, nodes and the rollout");
  status->add_flag("--watch", o->watch, "Refresh every second (until --timeout or Ctrl-C)");
  status->add_option("--timeout", o->watch_timeout, "Stop watching after this long")
      ->capture_default_str();
  status->footer("Example:\n  logctl cluster status --output json");
  status->callback([&cli, o] { cli.rc = run_status(cli, o->watch, o->watch_timeout); });

  auto* history = cluster->add_subcommand("history", "Every transition: who, what, outcome");
  history->add_option("--limit", o->limit, "Newest N entries")->capture_default_str();
  history->footer("Example:\n  logctl cluster history --limit 10");
  history->callback([&cli, o] {
    auto client = cli.client();
    if (!client) {
      cli.rc = client.error();
      return;
    }
    auto r = (*client)->get("/v1/cluster/history?limit=" + std::to_string(o->limit));
    if (!r) {
      cli.rc = fail(cli.format(), r.error());
      return;
    }
    if (cli.format() == Format::kTable) {
      print_history(*r);
    } else {
      print_json(*r);
    }
  });
}

}  // namespace logctl::cli
