// agentd's entry point: this build's identity, then the command line
// (agentd_main.cpp). The handover tests' builds set both macros (CMakeLists.txt).
#include "agentd/agentd_main.h"

#ifndef AGENTD_BUILD_VERSION
#define AGENTD_BUILD_VERSION LOGCTL_VERSION
#endif
#ifndef AGENTD_FAULT
#define AGENTD_FAULT 0
#endif

int main(int argc, char** argv) {
  return logctl::agentd::agentd_main(
      argc, argv, {AGENTD_BUILD_VERSION, static_cast<logctl::agentd::Fault>(AGENTD_FAULT)});
}
