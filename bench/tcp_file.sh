#!/usr/bin/env bash
# Throughput of one TCP connection of 200-byte lines -> buffer -> file output,
# end to end (first byte sent until the last event is in the output files),
# for agentd (file buffer) and, in the same run, rsyslog (imtcp -> omfile).
# Prints events/s, MiB/s, CPU us/event and peak RSS, and the ratio. CPU and RSS
# are of the whole process tree (agentd is a supervisor and a worker): CPU
# summed over every process, peak RSS the sum of each process's VmHWM.
# Usage: bench/tcp_file.sh [EVENTS]   (build first: cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000000}
BYTES=200
BIN=build/bin
work=$(mktemp -d /var/tmp/logctl-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

. bench/lib.sh

echo "workload: $N lines of $BYTES bytes, one TCP connection, $(nproc) cores"

# --- agentd: tcp -> file buffer -> out_file
ap=$(port)
cat > "$work/agentd.conf" <<CONF
<source>
  @type tcp
  tag bench
  bind 127.0.0.1
  port $ap
  <parse>
    @type none
  </parse>
</source>
<match bench>
  @type file
  path $work/agentd-out/bench
  append true
  <format>
    @type single_value
  </format>
  <buffer>
    @type file
    path $work/agentd-buffer
    flush_mode interval
    flush_interval 0.2s
    chunk_limit_size 16m
  </buffer>
</match>
CONF
"$BIN/agentd" -c "$work/agentd.conf" --log-level warn &
apid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$ap) 2>/dev/null && break; sleep 0.05; done
measure agentd "$apid" "$ap" "$work"/agentd-out/*
kill "$apid"; wait "$apid" 2>/dev/null || true

# --- rsyslog: imtcp -> omfile (its default in-memory main queue)
rp=$(port)
mkdir -p "$work/rsyslog"
cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work/rsyslog")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
input(type="imtcp" address="127.0.0.1" port="$rp")
action(type="omfile" file="$work/rsyslog/out.log" template="raw" asyncWriting="on" ioBufferSize="1m" flushOnTXEnd="off")
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" &
rpid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$rp) 2>/dev/null && break; sleep 0.05; done
measure rsyslog "$rpid" "$rp" "$work/rsyslog/out.log"
kill "$rpid"; wait "$rpid" 2>/dev/null || true

python3 -c "a=float(open('/tmp/bench-agentd.rate').read()); r=float(open('/tmp/bench-rsyslog.rate').read()); print(f'agentd / rsyslog throughput: {a/r:.2f}x')"
