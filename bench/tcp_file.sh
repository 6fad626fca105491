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

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
clk=$(getconf CLK_TCK)
# The pid and all its descendants.
tree() {
  local p
  echo "$1"
  for p in $(pgrep -P "$1"); do tree "$p"; done
}
# The fields after "(comm)" start at field 3; utime and stime are 14 and 15.
cpu_ticks() {
  local t=0 p
  for p in $(tree "$1"); do
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12+$13}')))
  done
  echo "$t"
}
peak_rss_kib() {
  local k=0 p
  for p in $(tree "$1"); do k=$((k + $(awk '/VmHWM/{print $2}' "/proc/$p/status"))); done
  echo "$k"
}
lines_in() { cat "$@" 2>/dev/null | wc -l; }

# measure NAME PID PORT OUTPUT_GLOB...
measure() {
  local name=$1 pid=$2 p=$3; shift 3
  local c0; c0=$(cpu_ticks "$pid")
  local t0; t0=$(date +%s.%N)
  "$BIN/tcp_loadgen" "$p" "$N" "$BYTES" >/dev/null
  local deadline=$((SECONDS + 600))
  while [ "$(lines_in $@)" -lt "$N" ]; do
    [ $SECONDS -lt $deadline ] || { echo "$name: timed out"; return 1; }
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  local c1; c1=$(cpu_ticks "$pid")
  local rss; rss=$(peak_rss_kib "$pid")
  python3 - "$name" "$N" "$BYTES" "$t0" "$t1" "$c0" "$c1" "$clk" "$rss" <<'PY'
import sys
name, n, b, t0, t1, c0, c1, clk, rss = sys.argv[1:]
n, b = int(n), int(b); secs = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / int(clk)
print(f"{name:8s} {n/secs:12,.0f} events/s {n*b/secs/2**20:8.1f} MiB/s "
      f"{cpu*1e6/n:6.2f} CPU us/event  peak RSS {int(rss)/1024:6.1f} MiB  ({secs:.2f} s)")
with open(f"/tmp/bench-{name}.rate", "w") as f: f.write(str(n/secs))
PY
}

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
