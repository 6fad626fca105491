#!/usr/bin/env bash
# Container log collection on a simulated node, end to end: FILES container
# logs in the kubelet's layout (/var/log/pods/... with /var/log/containers
# symlinks) written concurrently in the CRI format (200-byte lines) by
# cri_writer, tailed by agentd with the DaemonSet's shape — tail (cri parser,
# pos file) -> kubernetes_metadata -> file buffer -> out_file (JSON records).
# From the first line written until the output has written every event
# (agentd_output_write_records_total): lines/s, CPU µs/line and peak RSS of
# the agentd process tree (supervisor and worker together).
# Usage: bench/k8s_tail.sh [LINES] [FILES]   (build first: cmake --build build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4000000}
FILES=${2:-200}
BYTES=200
BIN=build/bin
work=$(mktemp -d /var/tmp/logctl-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/lib.sh

echo "workload: $N CRI lines of $BYTES bytes over $FILES container logs, $(nproc) cores"
node=$work/node
mkdir -p "$node/var/log/containers"
logs=()
for i in $(seq 1 "$FILES"); do
  id=$(printf '%064x' "$i")
  d="$node/var/log/pods/bench_app-$i-7d9f_$(printf '%08x-0000-4000-8000-%012x' "$i" "$i")/app"
  mkdir -p "$d"
  : > "$d/0.log"
  ln -s "$d/0.log" "$node/var/log/containers/app-$i-7d9f_bench_app-$id.log"
  logs+=("$d/0.log")
done
admin=$(port)
cat > "$work/agentd.conf" <<CONF
<source>
  @type tail
  @id in_tail_container_logs
  path $node/var/log/containers/*.log
  pos_file $work/containers.log.pos
  tag kubernetes.*
  read_from_head true
  <parse>
    @type cri
    time_format %Y-%m-%dT%H:%M:%S.%NZ
  </parse>
</source>
<filter kubernetes.**>
  @type kubernetes_metadata
</filter>
$(bench_file_match 'kubernetes.**' "$work/out/containers" "$work/buffer" json '@id out')
CONF
"$BIN/agentd" -c "$work/agentd.conf" --root-dir "$work/root" --admin "127.0.0.1:$admin" \
  --log-level warn &
apid=$!
written() {
  curl -s "http://127.0.0.1:$admin/metrics" |
    awk '/^agentd_output_write_records_total/{s += $2} END {print s + 0}'
}
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break; sleep 0.05; done

# PERF="perf record -g -o F" (or strace -c -f -o F): that tool attaches to the worker (0.5 s to attach).
[ -n "${PERF:-}" ] && { $PERF -p "$(pgrep -P "$apid" | head -1)" & sleep 0.5; }
c0=$(cpu_ticks "$apid")
t0=$(date +%s.%N)
"$BIN/cri_writer" "$N" "$BYTES" 100 "${logs[@]}"
deadline=$((SECONDS + 600))
while [ "$(written)" -lt "$N" ]; do
  [ $SECONDS -lt $deadline ] || { echo "timed out at $(written) of $N"; exit 1; }
  sleep 0.1
done
t1=$(date +%s.%N)
c1=$(cpu_ticks "$apid")
rss=$(peak_rss_kib "$apid")
lines=$(cat "$work"/out/* | wc -l)
[ "$lines" -eq "$N" ] || echo "$lines lines in the output, expected $N"
python3 - "$N" "$BYTES" "$t0" "$t1" "$c0" "$c1" "$clk" "$rss" <<'PY'
import sys
n, b, t0, t1, c0, c1, clk, rss = sys.argv[1:]
n, b = int(n), int(b); secs = float(t1) - float(t0)
cpu = (int(c1) - int(c0)) / int(clk)
print(f"k8s tail {n/secs:12,.0f} lines/s {n*b/secs/2**20:8.1f} MiB/s "
      f"{cpu*1e6/n:6.2f} CPU us/line  peak RSS {int(rss)/1024:6.1f} MiB  ({secs:.2f} s)")
PY
kill "$apid"; wait "$apid" 2>/dev/null || true
