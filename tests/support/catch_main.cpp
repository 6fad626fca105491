// The tests' main: Catch2's, with SIGPIPE ignored (a client writing to a
// server that already answered and closed, e.g. a 413 before the body was
// read, must see EPIPE, not die).
#define CATCH_CONFIG_RUNNER
#include <signal.h>

#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
