// logctl node list | show NAME | revoke NAME | delete NAME: what each node
// runs and reports, shutting a node out, and decommissioning it.
#include <algorithm>
#include <cctype>
#include <iostream>

#include "cli/cli.h"

namespace logctl::cli {
namespace {

std::string labels_of(json n) {
  std::string out;
  for (const auto& [k, v] : n["labels"].items())
    out += (out.empty() ? "" : ",") + k + "=" + cell(v);
  return out.empty() ? "-" : out;
}

std::string listeners_of(json n) {
  std::string out;
  for (auto l : n["listeners"]) out += (out.empty() ? "" : " ") + cell(l);
  return out.empty() ? "-" : out;
}

// What the node's last report says holds only while it is heard: an
// unreachable node shows its liveness, never a stale RUNNING.
std::string state_of(json n) {
  std::string live = n.value("liveness", n.value("connected", false) ? "connected" : "unreachable");
  if (n.value("revoked", false)) return "revoked";
  if (live != "connected") return live;
  return std::string(n.value("running", false) ? "running" : "stopped") +
         (n.value("worker_up", false) ? "" : ", worker down");
}

void print_nodes(json doc) {
  Table t({"NAME", "VERSION", "CONFIG", "GEN", "STATE", "HEALTHY", "LAST HEARTBEAT", "LISTENERS"});
  for (auto n : doc["nodes"]) {
    t.row({cell(n["name"]), cell(n["version"]), cell(n["config_revision"]), cell(n["generation"]),
           state_of(n), cell(n["healthy"]), when(n.value("last_heartbeat", std::int64_t{0})),
           listeners_of(n)});
  }
  t.print(std::cout);
}

void print_node(json n) {
  Table t({"NODE", cell(n["name"])});
  t.row({"labels", labels_of(n)});
  t.row({"version", cell(n["version"]) + "   desired " + cell(n["desired"]["version"])});
  t.row({"config",
         cell(n["config_revision"]) + "   desired " + cell(n["desired"]["config_revision"])});
  t.row({"generation", cell(n["generation"])});
  t.row({"state", state_of(n) + (n.value("healthy", false) ? ", healthy" : ", unhealthy")});
  t.row({"liveness", n.value("liveness_detail", "?")});
  t.row({"last heartbeat", when(n.value("last_heartbeat", std::int64_t{0}))});
  t.row({"listeners", listeners_of(n)});
  for (const auto& [k, v] : n["figures"].items()) t.row({"  " + k, cell(v)});
  if (n["last_handover"].is_object()) {
    json h = n["last_handover"];
    t.row({"last handover", h.value("result", "?") + " (generation " + cell(h["generation"]) +
                                ", " + std::to_string(h.value("connections_handed_over", 0)) +
                                " connection(s) handed over, " +
                                std::to_string(h.value("events_through_spool", 0)) +
                                " event(s) through the spool)"});
  }
  if (n["converge"].is_object() && n["converge"].value("state", "") == "failed") {
    t.row({"converge", "failed: " + n["converge"].value("error", "")});
  }
  t.print(std::cout);
}

int bad_name(Cli& cli, const std::string& n) {
  return fail(cli.format(), Exit::kUsage, "usage",
              "'" + n.substr(0, 64) + "' is not a node name (1-63 of A-Za-z0-9._-)");
}

int revoke(Cli& cli, const std::string& name) {
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post("/v1/nodes/" + name + "/revoke", json::object());
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    std::cout << "node " << name << ": " << r->value("revoked_tokens", 0)
              << " token(s) revoked; it is refused until it enrols again (remove ROOT/node.token "
                 "on the node; it needs the enrolment token)\n";
  } else {
    print_json(*r);
  }
  return 0;
}

int remove(Cli& cli, const std::string& name) {
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->post("/v1/nodes/" + name + "/delete", json::object());
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    std::cout << "node " << name << " deleted: " << r->value("revoked_tokens", 0)
              << " token(s) revoked; it is in no list, plan or check (the name may enrol again)\n";
  } else {
    print_json(*r);
  }
  return 0;
}

int get_and_print(Cli& cli, const std::string& path, void (*human)(json)) {
  auto client = cli.client();
  if (!client) return client.error();
  auto r = (*client)->get(path);
  if (!r) return fail(cli.format(), r.error());
  if (cli.format() == Format::kTable) {
    human(*r);
  } else {
    print_json(*r);
  }
  return 0;
}

}  // namespace

void setup_node(CLI::App& app, Cli& cli) {
  auto* node = app.add_subcommand("node", "The nodes: what each runs and reports");
  node->require_subcommand(1);
  auto* list = node->add_subcommand("list", "Every node: version, config, health, listeners");
  list->footer("Example:\n  logctl node list --output json");
  list->callback([&cli] { cli.rc = get_and_print(cli, "/v1/nodes", print_nodes); });
  auto name = std::make_shared<std::string>();
  auto* show = node->add_subcommand("show", "One node in full: figures, last handover");
  show->add_option("NAME", *name, "The node's name")->required();
  show->footer("Example:\n  logctl node show node-1");
  show->callback([&cli, name] {
    cli.rc = plain_name(*name) ? get_and_print(cli, "/v1/nodes/" + *name, print_node)
                               : bad_name(cli, *name);
  });
  auto* rev = node->add_subcommand("revoke", "Revoke a node's tokens: the controller refuses it");
  rev->add_option("NAME", *name, "The node's name")->required();
  rev->footer(
      "The node keeps serving its data plane; its heartbeats are refused (HTTP 401) until it\n"
      "enrols again (remove ROOT/node.token on the node).\n"
      "Example:\n  logctl node revoke node-7");
  rev->callback(
      [&cli, name] { cli.rc = plain_name(*name) ? revoke(cli, *name) : bad_name(cli, *name); });
  auto* del = node->add_subcommand(
      "delete", "Decommission a node: tokens revoked, out of every list, plan and check");
  del->add_option("NAME", *name, "The node's name")->required();
  del->footer(
      "A rollout in flight skips its step. The history keeps the node; the name may enrol\n"
      "again with the enrolment token (a replacement host).\n"
      "Example:\n  logctl node delete node-7");
  del->callback(
      [&cli, name] { cli.rc = plain_name(*name) ? remove(cli, *name) : bad_name(cli, *name); });
}

}  // namespace logctl::cli
