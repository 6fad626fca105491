// `logctl cluster start --local` and `cluster delete --local`: a controller and
// N agentd nodes on this machine under one data directory, every process
// detached and recorded in DIR/local.json, the CLI's context written.
//
// Layout: DIR/controller/ (logctl-controller's data), DIR/controller.log,
// DIR/pipeline.conf (the nodes' starting config), DIR/nodes/NAME/ (each
// node's root directory, log and output), DIR/local.json (pids, ports,
// addresses). Node i listens on its own loopback address 127.0.1.i (the
// prefix is --subnet), given
// to the config as ENV['LOGCTL_NODE_ADDR'], so one config with fixed ports
// serves every node.
//
// Thread safety: one thread.
#pragma once

#include <string>

#include "cli/cli.h"

namespace logctl::cli {

struct LocalOptions {
  int nodes = 3;
  std::string data_dir;  // default: $XDG_DATA_HOME/logctl/local or ~/.local/share/logctl/local
  std::string agentd;    // default: next to this logctl binary
  std::string controller_bin;  // default: next to this logctl binary
  std::string config;          // the nodes' starting config (default: a built-in one)
  int heartbeat_ms = 1000;
  std::string subnet = "127.0.1";     // node i listens on SUBNET.i
  std::string ready_timeout = "30s";  // how long a node's new worker may take to be ready
  std::string up_timeout = "60s";     // for the cluster to come up (then what started is stopped)
  int timeout_s = 60;                 // up_timeout, parsed
};

std::string default_local_dir();
int start_local(Cli& cli, LocalOptions o);
int delete_local(Cli& cli, LocalOptions o);

}  // namespace logctl::cli
