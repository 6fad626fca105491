// agentd's command line, compiled once and linked into each build of agentd
// (main.cpp): the release build and the test builds differ only in identity.
#pragma once

#include <string>

#include "agentd/app/worker.h"

namespace logctl::agentd {

struct BuildIdentity {
  std::string version;         // what `agentd version`, the manifest and the supervisor report
  Fault fault = Fault::kNone;  // test builds only: see Fault in app/worker.h
};

int agentd_main(int argc, char** argv, const BuildIdentity& id);

}  // namespace logctl::agentd
