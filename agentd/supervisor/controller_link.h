// The node's link to logctl-controller (docs/architecture.md, "Control
// plane"): a thread of the supervisor that enrols once (the node token is kept
// in ROOT/node.token, 0600), then heartbeats the node's actual state and
// converges to the desired state in the answer, through the supervisor's own
// handover queue:
//
//   new version V:  download the artifact over the pinned TLS connection,
//                   verify its SHA-256, install it as ROOT/versions/V/agentd
//                   (keeping the newest few, so a rollback needs no download)
//   new config N:   fetch it, verify its SHA-256, write ROOT/configs/N.conf
//   then:           one staged handover to {binary, config}; its report goes
//                   into the next heartbeat ("converge")
//   redeploy R:     (a forced rollout to what the node runs) one staged
//                   handover to the same spec, reported as "redeployed": R
//   each converge:  the supervisor keeps what now runs in ROOT/desired.json
//                   (the next start of a managed node runs it: desired_state.h)
//   running false:  the worker stops (buffers flushed or persisted), the
//                   supervisor and its listeners stay; running true again
//                   starts it directly on the desired version and config
//
// Heartbeats keep one TLS connection open (the controller's front door holds
// a fleet's connections on one thread), reopened after any failure; downloads
// use their own.
// A controller that is down or unreachable changes nothing on the node: the
// current generation keeps serving; the link retries with backoff (capped,
// with jitter, at most 10 s; 2 s with several controllers, where a failure
// is most likely a failover). A desired state that failed is not retried until it changes
// or a minute has passed.
// Thread safety: two threads, heartbeats and converging (so a node keeps
// heartbeating through a long download or handover); they share converge_,
// the offered desired state and the revision under mu_. The callbacks are
// the supervisor's thread-safe entry points.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agentd/core/drain.h"
#include "logctl/schema/result.h"

namespace httplib {
class Client;
}

namespace logctl::agentd {

struct LinkOptions {
  // https://HOST:PORT ("" = no controller); several controllers sharing one
  // database as URL1,URL2,URL3: the link stays with the one that answers and
  // moves on when it cannot be reached or says it does not lead (503), to
  // the leader it names when that is one of these, else to the next.
  std::string url;
  std::string ca_file;
  std::string enroll_token_file;
  std::string node_name;
  std::map<std::string, std::string> labels;
  std::string root_dir;
  std::chrono::milliseconds interval{1000};  // until the controller says otherwise
  int keep_versions = 3;
  // --allowed-paths: where a config from the controller may point (path_policy.h);
  // empty: anywhere.
  std::vector<std::string> allowed_paths;
};

// Parses "URL[,URL...]" (each http:// or https://HOST:PORT); kInvalidArgument
// names the bad one.
Result<std::vector<std::string>> parse_controller_urls(const std::string& text);

// Parses "k=v,k2=v2"; kInvalidArgument names the bad pair.
Result<std::map<std::string, std::string>> parse_labels(const std::string& text);

class ControllerLink {
 public:
  struct Hooks {
    // The node's actual state (version, config_revision, generation, figures...).
    std::function<nlohmann::json()> actual;
    // Queues a staged handover and waits for its report (JSON).
    std::function<nlohmann::json(const std::string& binary, const std::string& config)> handover;
    // Stops the worker (delivering its buffers as `Drain` says) and keeps it
    // stopped / starts a generation of {binary, config}.
    std::function<nlohmann::json(Drain)> stop;
    std::function<nlohmann::json(const std::string& binary, const std::string& config)> start;
    // The spec the current generation runs.
    std::function<std::pair<std::string, std::string>()> current_spec;
  };
  ControllerLink(LinkOptions o, Hooks h);
  ~ControllerLink();
  void start();
  void stop();

  // Version and config revision a spec stands for (ROOT/versions/V/agentd,
  // ROOT/configs/N.conf); "" / 0 when it is not one the link installed.
  static std::string version_of(const std::string& root, const std::string& binary);
  static std::int64_t config_of(const std::string& root, const std::string& config);

 private:
  void loop();
  void offer(const std::string& tok, const nlohmann::json& desired);
  void converge_loop();
  Result<std::string> token();
  Result<nlohmann::json> heartbeat(const std::string& token);
  void converge(const std::string& token, const nlohmann::json& desired);
  Result<std::string> install_version(const std::string& token, const nlohmann::json& desired);
  Result<std::string> install_config(const std::string& token, const nlohmann::json& desired);
  void keep_running_binary();
  void note_revision(std::int64_t revision);
  void load_revision();
  void prune_versions(const std::string& keep_a, const std::string& keep_b);
  // The controller the link talks to now, and moving on from one that
  // failed (to `leader` when it is one of ours, else the next).
  std::string url();
  void fail_over(const std::string& failed, const std::string& leader);

  LinkOptions o_;
  Hooks h_;
  std::vector<std::string> urls_;                      // from o_.url
  std::size_t current_ = 0;                            // under mu_
  std::string heartbeat_url_;                          // heartbeat_client_'s
  std::unique_ptr<httplib::Client> heartbeat_client_;  // the link thread's kept-alive connection
  std::thread thread_;                                 // heartbeats
  std::thread converge_thread_;                        // downloads and handovers, one at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  nlohmann::json converge_ = nlohmann::json::object();  // reported in heartbeats
  std::string failed_key_;                              // desired state that failed
  std::int64_t redeployed_ = 0;     // the last redeploy request carried out (a rollout id)
  std::int64_t seen_revision_ = 0;  // the highest cluster revision the controller told us
  // The newest desired state (and token) not yet taken by the converge thread.
  std::optional<std::pair<std::string, nlohmann::json>> offered_;
  std::chrono::steady_clock::time_point failed_at_{};
};

}  // namespace logctl::agentd
