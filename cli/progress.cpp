#include "cli/progress.h"

#include "cli/terminal.h"

#include <cstdio>
#include <ctime>
#include <iostream>
#include <thread>

namespace logctl::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(500);  // the polling period
constexpr std::size_t kColumns = 80;

bool terminal_state(const std::string& s) {
  return s == "succeeded" || s == "succeeded_partial" || s == "rolled_back" || s == "aborted";
}

std::string fit(std::string s) {
  if (s.size() > kColumns) s = s.substr(0, kColumns - 3) + "...";
  return s;
}

std::string bar(std::size_t done, std::size_t total, std::size_t width) {
  std::size_t filled = total ? done * width / total : width;
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

}  // namespace

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string describe_step(json step) {
  // Batches are numbered from 0 on the wire, from 1 for people.
  std::string s = step.value("node", "?") + " (batch " +
                  std::to_string(step.value("batch", 0) + 1) + "): " + step.value("state", "?");
  json rep = step["report"];
  if (!rep.is_object()) return s;
  if (rep.contains("handover") && rep["handover"].is_object()) {
    json h = rep["handover"];
    s += ", handover " + h.value("result", "?");
    if (h.contains("phases_ms") && h["phases_ms"].contains("total")) {
      s += " in " + std::to_string(static_cast<long>(h["phases_ms"].value("total", 0.0))) + " ms";
    }
    s += ", " + std::to_string(h.value("connections_handed_over", 0)) + " conn handed over, " +
         std::to_string(h.value("events_through_spool", 0)) + " events via spool";
  }
  if (rep.contains("reason")) s += ": " + rep.value("reason", "");
  return s;
}

void Progress::note(const std::string& line) {
  if (format_ == Format::kTable) std::cerr << timestamp() << " " << line << std::endl;
}

void Progress::step_changed(json rollout, json step) {
  if (format_ == Format::kNdjson) {
    std::cout << json{{"event", "step"},          {"at", timestamp()},
                      {"rollout", rollout["id"]}, {"rollout_state", rollout["state"]},
                      {"node", step["node"]},     {"batch", step["batch"]},
                      {"state", step["state"]},   {"report", step["report"]}}
                     .dump()
              << std::endl;
  } else if (format_ == Format::kTable && !terminal_) {
    note("rollout #" + cell(rollout["id"]) + " " + describe_step(step));
  }
}

// The live view: erased and redrawn in place on each poll.
void Progress::draw(json rollout) {
  std::vector<std::string> lines;
  json steps = rollout["steps"];
  std::size_t done = 0;
  int batches = 0, current = 0;
  for (auto s : steps) {
    batches = std::max(batches, s.value("batch", 0) + 1);
    auto st = s.value("state", "");
    done += st == "done";
    if (st != "pending") current = std::max(current, s.value("batch", 0) + 1);
  }
  lines.push_back(fit("rollout #" + cell(rollout["id"]) + " " + rollout.value("state", "?") + "  " +
                      transition(rollout) + "  batch " + std::to_string(current) + "/" +
                      std::to_string(batches)));
  lines.push_back(fit(bar(done, steps.size(), 50) + " " + std::to_string(done) + "/" +
                      std::to_string(steps.size()) + " nodes"));
  for (auto s : steps) {
    char row[160];
    json h = s["report"].is_object() ? s["report"]["handover"] : json();
    std::snprintf(
        row, sizeof row, "  %-20.20s b%-3d %-10.10s %-11.11s %6s ms  conn %-4d spool %d",
        s.value("node", "?").c_str(), s.value("batch", 0) + 1, s.value("state", "?").c_str(),
        h.is_object() ? h.value("result", "").c_str() : "",
        h.is_object() && h["phases_ms"].is_object()
            ? std::to_string(static_cast<long>(h["phases_ms"].value("total", 0.0))).c_str()
            : "-",
        h.is_object() ? h.value("connections_handed_over", 0) : 0,
        h.is_object() ? h.value("events_through_spool", 0) : 0);
    lines.push_back(fit(row));
  }
  // The view's own cursor movements go out as they are; what it draws
  // (node names, reports) is escaped (terminal.h).
  std::ostream& out = unfiltered_stderr();
  std::cerr << std::flush;
  for (int i = 0; i < drawn_lines_; ++i) out << "\x1b[1A\x1b[2K";
  for (const auto& l : lines) out << printable(l) << "\n";
  out << std::flush;
  drawn_lines_ = static_cast<int>(lines.size());
}

int Progress::finish(json rollout) {
  std::string state = rollout.value("state", "");
  std::string line = "rollout #" + cell(rollout["id"]) + " " + state;
  if (!rollout.value("reason", "").empty()) line += ": " + rollout.value("reason", "");
  bool ok = state == "succeeded";
  if (format_ == Format::kTable) {
    std::cout << line << std::endl;
  } else if (ok || format_ == Format::kNdjson) {
    json doc = rollout;
    if (format_ == Format::kNdjson) doc["event"] = "rollout";
    print_json(doc);
  }
  if (ok) return 0;
  // A fleet that did not converge never passes a CI job: the failure is
  // reported as every failure is (stderr; the error document with the
  // rollout in its details).
  bool partial = state == "succeeded_partial";
  return fail(format_, partial ? Exit::kPartial : Exit::kRolloutFailed,
              partial ? "rollout_partial" : "rollout_failed", line, {{"rollout", rollout}});
}

int Progress::follow_rollout(Client& c, std::int64_t id, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  bool unreachable_noted = false;
  json last;
  while (Clock::now() < deadline) {
    auto r = c.get("/v1/rollouts/" + std::to_string(id));
    if (!r) {
      if (r.error().http != 0) return fail(format_, r.error());
      if (!unreachable_noted)
        note("controller not answering (" + r.error().message + "); retrying");
      unreachable_noted = true;
    } else {
      unreachable_noted = false;
      last = *r;
      for (auto s : (*r)["steps"]) {
        std::string key = s.value("node", "");
        std::string state = s.value("state", "") + "|" + s["report"].dump();
        if (seen_[key] == state) continue;
        seen_[key] = state;
        step_changed(*r, s);
      }
      if (format_ == Format::kTable && terminal_) draw(*r);
      if (terminal_state(r->value("state", ""))) return finish(*r);
    }
    std::this_thread::sleep_for(kPoll);
  }
  return fail(format_, Exit::kTimeout, "timeout",
              "rollout #" + std::to_string(id) + " still " + last.value("state", "unknown") +
                  " after the timeout; it goes on (follow it with `logctl cluster status`)",
              last.is_null() ? json::object() : json{{"rollout", last}});
}

// Offline path: no rollout; every node connected and running what the cluster
// says (version and config), or not running when it is stopped.
int Progress::follow_convergence(Client& c, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  json cluster, nodes;
  while (Clock::now() < deadline) {
    auto cl = c.get("/v1/cluster");
    auto ns = c.get("/v1/nodes");
    if (cl && ns) {
      cluster = (*cl)["cluster"];
      nodes = (*ns)["nodes"];
      bool running = cluster.value("state", "") != "stopped";
      std::string version = cluster.value("current_version", "");
      std::int64_t config = cluster.value("current_config", std::int64_t{0});
      std::size_t converged = 0;
      for (auto n : nodes) {
        bool ok = n.value("connected", false) && n.value("running", false) == running &&
                  (version.empty() || n.value("version", "") == version) &&
                  (config == 0 || n.value("config_revision", std::int64_t{0}) == config) &&
                  (!running || n.value("healthy", false));
        converged += ok;
        std::string key = n.value("name", "");
        std::string state = ok ? "converged" : "converging";
        if (seen_[key] != state) {
          seen_[key] = state;
          if (format_ == Format::kNdjson) {
            print_json({{"event", "node"}, {"at", timestamp()}, {"node", key}, {"state", state}});
          } else {
            note(key + ": " + state + " (" + cell(n["version"]) + ", config " +
                 cell(n["config_revision"]) + ")");
          }
        }
      }
      if (converged == nodes.size()) {
        if (format_ == Format::kTable) {
          std::cout << "cluster " << cluster.value("state", "") << ": " << converged
                    << " node(s) on " << (version.empty() ? "their version" : version) << std::endl;
        } else {
          print_json({{"event", "converged"}, {"cluster", cluster}, {"nodes", nodes}});
        }
        return 0;
      }
    } else if (!cl && cl.error().http != 0) {
      return fail(format_, cl.error());
    }
    std::this_thread::sleep_for(kPoll);
  }
  return fail(format_, Exit::kTimeout, "timeout", "the nodes did not converge within the timeout",
              json{{"cluster", cluster}, {"nodes", nodes}});
}

}  // namespace logctl::cli
