#!/usr/bin/env bash
# Throughput of an agent -> collector tier over the forward protocol, end to
# end: one forward connection of 200-byte events (PackedForward, 1,000 per
# message) into an agent (in_forward -> file buffer -> out_forward with
# require_ack_response) -> a collector (in_forward -> file buffer -> file).
# From the first byte sent until the last event is in the collector's output:
# events/s, MiB/s, CPU µs/event and peak RSS of both agentd process trees
# (supervisor and worker each) together, then of each alone.
# Usage: bench/forward_tier.sh [EVENTS]   (build first: cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000000}
BYTES=200
BIN=build/bin
LOADGEN=$BIN/forward_loadgen
work=$(mktemp -d /var/tmp/logctl-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/lib.sh

echo "workload: $N events of $BYTES bytes, one forward connection, $(nproc) cores"
ap=$(port)
cp=$(port)
cat > "$work/collector.conf" <<CONF
<source>
  @type forward
  bind 127.0.0.1
  port $cp
</source>
<match fluent.**>
  @type null
</match>
$(bench_file_match '**' "$work/out/bench" "$work/collector-buffer")
CONF
cat > "$work/agent.conf" <<CONF
<source>
  @type forward
  bind 127.0.0.1
  port $ap
</source>
<match fluent.**>
  @type null
</match>
<match **>
  @type forward
  require_ack_response true
  <server>
    host 127.0.0.1
    port $cp
  </server>
  <buffer tag>
    @type file
    path $work/agent-buffer
    flush_mode interval
    flush_interval 0.2s
    chunk_limit_size 8m
    flush_thread_count 2
  </buffer>
</match>
CONF
"$BIN/agentd" -c "$work/collector.conf" --root-dir "$work/collector-root" --log-level warn &
cpid=$!
"$BIN/agentd" -c "$work/agent.conf" --root-dir "$work/agent-root" --log-level warn &
apid=$!
for p in $ap $cp; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
done
measure tier "$apid $cpid" "$ap" "$work"/out/*
echo "of which: agent $(cpu_ticks $apid) ticks, peak RSS $(($(peak_rss_kib $apid) / 1024)) MiB;" \
  "collector $(cpu_ticks $cpid) ticks, peak RSS $(($(peak_rss_kib $cpid) / 1024)) MiB" \
  "(ticks: $clk per CPU second, since start)"
kill "$apid"
wait "$apid" 2>/dev/null || true
kill "$cpid"
wait "$cpid" 2>/dev/null || true
