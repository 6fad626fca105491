#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test;
# then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# every test once more; then builds the libFuzzer targets and runs each briefly.
# Run as root on Debian 12 (the full-disk test mounts a small tmpfs).
#
# The tests wait on real processes and timeouts far more than they compute
# (on 2 cores they leave about half the CPU idle), so each next build runs
# beside the tests before it at idle priority (SCHED_IDLE: it gets a core
# only when no test process wants one). That takes the sanitizer and fuzz
# builds, about 10 of the run's minutes, off its critical path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

declare -A build_pid=()
trap 'for p in "${build_pid[@]}"; do kill -- -"$p" 2>/dev/null || true; done' EXIT
# idle_build DIR builds DIR in the background at idle CPU priority (its own
# process group, output in DIR/build.log); finish_build DIR waits for it and
# stops the run, showing the log's end, if it failed.
idle_build() {
  set -m
  chrt --idle 0 nice -n 19 cmake --build "$1" -j "$jobs" >"$1/build.log" 2>&1 &
  build_pid[$1]=$!
  set +m
}
finish_build() {
  if ! wait "${build_pid[$1]}"; then
    tail -n 60 "$1/build.log"
    echo "build of $1 failed (whole log: $1/build.log)" >&2
    exit 1
  fi
  unset "build_pid[$1]"
  echo "$1: built ($(grep -c '^\[' "$1/build.log") steps)"
}

echo "== clang-format check (at ${SECONDS} s)"
git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

echo "== release build and tests (at ${SECONDS} s)"
# Line tables only (-g1): backtraces and perf keep file:line, and the build
# takes a quarter less time than with full debug info.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLOGCTL_DEBUG_INFO=-g1 >/dev/null
cmake --build build -j "$jobs"
# (no benchmark tools in the sanitizer build: they are measured in release only)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLOGCTL_SANITIZE=ON \
  -DLOGCTL_DEBUG_INFO=-g1 -DLOGCTL_BENCH=OFF >/dev/null
idle_build build-asan
echo "== release tests, the sanitizer build beside them (at ${SECONDS} s)"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

echo "== ASan+UBSan build and tests (at ${SECONDS} s)"
finish_build build-asan
fuzz=false
if [ -f fuzz/CMakeLists.txt ]; then
  fuzz=true
  CXX=clang++-19 cmake -S fuzz -B build-fuzz -G Ninja >/dev/null
  idle_build build-fuzz
fi
echo "== ASan+UBSan tests, the fuzz build beside them (at ${SECONDS} s)"
# The longest load runs (sustained load through 20 handovers; logctl
# upgrades under load; three nodes upgraded under load; the CLI contract's
# many rollouts) are release-only: under the sanitizers they take 6 of the
# run's minutes and exercise no code the other handover, controller and CLI
# tests here do not.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" --timeout 600 \
    -E "handover: 20 handovers alternating|cli: upgrades under load through logctl|controller: three real nodes upgraded online under load|cli: the contract")

if $fuzz; then
  echo "== libFuzzer targets (clang-19), 4 s each (at ${SECONDS} s)"
  finish_build build-fuzz
  for f in build-fuzz/fuzz_*; do
    name=$(basename "$f" | sed 's/^fuzz_//')
    mkdir -p "build-fuzz/corpus-$name"   # new inputs go here; fuzz/corpus stays the seed
    "$f" -max_total_time=4 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
      "build-fuzz/corpus-$name" "fuzz/corpus/$name" 2>&1 | tail -n 1
  done
fi

echo "== done in ${SECONDS} s"
