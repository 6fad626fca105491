// A test host of its own: a network namespace joined to this one by a veth
// pair (ROOT_IP on this side, HOST_IP inside, a /30 from 10.231.0.0/16 that
// depends on the test process), for tests that need a host to vanish
// (down(): its link goes down; no RST, no FIN, nothing) and come back (up()).
// Needs root and iproute2; deleted with everything in it by the destructor.
// Header-only test support.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "support/harness.h"

namespace logctl::test {

class NetNs {
 public:
  NetNs() {
    int id = static_cast<int>(::getpid() % 16000);
    name_ = "lct" + std::to_string(id);
    root_if_ = "lct" + std::to_string(id) + "a";
    host_if_ = "lct" + std::to_string(id) + "b";
    std::string net = "10.231." + std::to_string(id / 64) + "." + std::to_string((id % 64) * 4);
    std::string base = net.substr(0, net.rfind('.') + 1);
    int last = (id % 64) * 4;
    root_ip_ = base + std::to_string(last + 1);
    host_ip_ = base + std::to_string(last + 2);
    sh("ip netns del " + name_ + " 2>/dev/null; ip link del " + root_if_ + " 2>/dev/null");
    std::string in = "ip netns exec " + name_ + " ";
    int rc = sh("ip netns add " + name_ + " && ip link add " + root_if_ + " type veth peer name " +
                host_if_ + " && ip link set " + host_if_ + " netns " + name_ + " && ip addr add " +
                root_ip_ + "/30 dev " + root_if_ + " && ip link set " + root_if_ + " up && " + in +
                "ip addr add " + host_ip_ + "/30 dev " + host_if_ + " && " + in + "ip link set " +
                host_if_ + " up && " + in + "ip link set lo up");
    INFO("creating network namespace " << name_ << " (needs root and iproute2)");
    REQUIRE(rc == 0);
  }
  ~NetNs() {
    sh("ip netns del " + name_ + " 2>/dev/null; ip link del " + root_if_ + " 2>/dev/null");
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  // The argv prefix that runs a program inside.
  std::vector<std::string> exec() const { return {"/usr/sbin/ip", "netns", "exec", name_}; }
  const std::string& root_ip() const { return root_ip_; }
  const std::string& host_ip() const { return host_ip_; }
  void down() { REQUIRE(sh("ip link set " + root_if_ + " down") == 0); }
  void up() { REQUIRE(sh("ip link set " + root_if_ + " up") == 0); }

 private:
  std::string name_, root_if_, host_if_, root_ip_, host_ip_;
};

}  // namespace logctl::test
