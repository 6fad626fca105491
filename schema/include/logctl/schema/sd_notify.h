// systemd's readiness protocol (sd_notify(3)), without libsystemd: a service
// started with Type=notify tells its manager "READY=1", "RELOADING=1",
// "STOPPING=1", "MAINPID=N" as datagrams on $NOTIFY_SOCKET (a path, or an
// abstract name starting with '@'). A contract with the service manager,
// shared by agentd's supervisor and logctl-controller. Without
// NOTIFY_SOCKET it does nothing.
// Thread safety: reentrant.
#pragma once

#include <string>

namespace logctl {

void sd_notify(const std::string& state);

}  // namespace logctl
