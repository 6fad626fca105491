#!/usr/bin/env bash
# The README's main job: installs dependencies, builds, runs agentd on
# examples/agentd.conf, sends numbered events over TCP and syslog (logger(1)),
# and shows every one arriving in the output files and in /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

demo=/tmp/agentd-demo
rm -rf "$demo"
build/bin/agentd -c examples/agentd.conf --root-dir "$demo" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf 127.0.0.1:24220/readyz >/dev/null && break; sleep 0.1; done

N=10000
echo "== sending $N numbered events over TCP and 20 syslog messages with logger(1)"
build/bin/tcp_loadgen 5170 "$N" 200
for i in $(seq 1 10); do
  logger -n 127.0.0.1 -P 5140 -d --rfc5424 -t demo -p local0.info "syslog rfc5424 seq=$i"
  logger -n 127.0.0.1 -P 5140 -d --rfc3164 -t demo -p local0.warning "syslog rfc3164 seq=$i"
done

echo "== waiting for every event to reach the output files"
for _ in $(seq 200); do
  got=$({ cat "$demo"/out/app.* 2>/dev/null || true; } | wc -l)
  [ "$got" -ge "$N" ] && break
  sleep 0.1
done
echo "tcp events written: $(cat "$demo"/out/app.* | wc -l) of $N"
echo "distinct sequence numbers: $(grep -ho 'seq=[0-9]*' "$demo"/out/app.* | sort -u | wc -l)"
for _ in $(seq 50); do [ "$({ cat "$demo"/out/syslog.* 2>/dev/null || true; } | wc -l)" -ge 20 ] && break; sleep 0.1; done
echo "syslog events written: $(cat "$demo"/out/syslog.* | wc -l) of 20"
echo "== a few output lines"
head -n 2 "$demo"/out/app.*
head -n 2 "$demo"/out/syslog.*
echo "== metrics"
curl -s 127.0.0.1:24220/metrics | grep -E '^agentd_(input_records|output_write_records|buffer_total_bytes)'
kill "$pid"; wait "$pid" || true
