#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test;
# then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# every test once more; then builds the libFuzzer targets and runs each briefly.
# Run as root on Debian 12 (the full-disk test mounts a small tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== clang-format check"
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

echo "== release build and tests"
# Line tables only (-g1): backtraces and perf keep file:line, and the build
# takes a quarter less time than with full debug info.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLOGCTL_DEBUG_INFO=-g1 >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

echo "== ASan+UBSan build and tests"
# (no benchmark tools here: they are measured in the release build only)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOGCTL_SANITIZE=ON \
  -DLOGCTL_DEBUG_INFO=-g1 -DLOGCTL_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
# The longest load runs (sustained load through 20 handovers; logctl
# upgrades under load; three nodes upgraded under load; the CLI contract's
# many rollouts) are release-only: under the sanitizers they take 6 of the
# run's minutes and exercise no code the other handover, controller and CLI
# tests here do not.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" --timeout 600 \
    -E "handover: 20 handovers alternating|cli: upgrades under load through logctl|controller: three real nodes upgraded online under load|cli: the contract")

if [ -f fuzz/CMakeLists.txt ]; then
  echo "== libFuzzer targets (clang-19), 4 s each"
  CXX=clang++-19 cmake -S fuzz -B build-fuzz -G Ninja >/dev/null
  cmake --build build-fuzz -j "$jobs"
  for f in build-fuzz/fuzz_*; do
    name=$(basename "$f" | sed 's/^fuzz_//')
    mkdir -p "build-fuzz/corpus-$name"   # new inputs go here; fuzz/corpus stays the seed
    "$f" -max_total_time=4 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
      "build-fuzz/corpus-$name" "fuzz/corpus/$name" 2>&1 | tail -n 1
  done
fi
