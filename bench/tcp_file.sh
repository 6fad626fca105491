#!/usr/bin/env bash
# Throughput of one TCP connection of 200-byte lines -> buffer -> file output,
# end to end, for agentd (file buffer) and, in the same run, rsyslog (imtcp ->
# omfile): bench/peers.sh's tcp1 shape, once, without Fluent Bit. Prints
# events/s, CPU µs/event and peak RSS of each whole process tree, and the
# ratio. (The results in docs/benchmarks.md, "TCP → file buffer → file
# output", were taken with this script's own copy of the same workload.)
# Usage: bench/tcp_file.sh [EVENTS]   (build first: cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash bench/peers.sh --runs 1 --lines "${1:-5000000}" --shapes tcp1 --no-fluent-bit --rsyslog
