#!/usr/bin/env bash
# The README's main job: installs dependencies, builds, runs agentd on
# examples/agentd.conf, sends numbered events over TCP and syslog (logger(1)),
# and shows every one arriving; then, under steady load, reloads the config,
# upgrades to another build, tries a broken build (rolled back by itself) and
# shows that no event was lost and the supervisor's PID never changed; then
# the control plane on a local cluster (scripts/cluster-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

demo=/tmp/agentd-demo
rm -rf "$demo"
mkdir -p "$demo"
build/bin/agentd -c examples/agentd.conf --root-dir "$demo" 2> "$demo/agentd.log" &
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

echo
echo "== reload and upgrade under load: 300,000 numbered events at 50,000/s on one connection"
M=300000
build/bin/tcp_loadgen 5170 "$M" 120 50000 > "$demo/loadgen.out" &
load=$!
ctl() { build/bin/agentd ctl --root-dir "$demo" "$@" || true; echo; }
for _ in $(seq 100); do grep -q "seq=2000 " "$demo"/out/app.* 2>/dev/null && break; sleep 0.1; done
echo "-- supervisor pid $pid; status: $(build/bin/agentd ctl --root-dir "$demo" status)"
echo "-- 1. reload (SIGHUP-equivalent, same config)";            ctl reload
echo "-- 2. upgrade to another build (agentd-next)";             ctl upgrade --binary build/bin/agentd-next
echo "-- 3. upgrade to a build that crashes after ready";        ctl upgrade --binary build/bin/agentd-broken-crash
echo "-- 4. upgrade back to agentd";                             ctl upgrade --binary build/bin/agentd
wait "$load"
cat "$demo/loadgen.out"
echo "== waiting for all $M events of the second run"
# The loaded run's lines are 119 characters (the first run's are 199).
run2() { grep -ho 'seq=[0-9]* x*' "$demo"/out/app.* | awk 'length($0) == 119'; }
distinct() { run2 | sort -u | wc -l; }
for _ in $(seq 300); do [ "$(distinct)" -ge "$M" ] && break; sleep 0.2; done
d=$(distinct)
echo "distinct sequence numbers of the loaded run: $d of $M (lost: $((M - d)), duplicates: $(($(run2 | wc -l) - d)))"
echo "-- supervisor pid still $pid: $(build/bin/agentd ctl --root-dir "$demo" status)"
curl -s 127.0.0.1:24220/metrics | grep -E '^agentd_(handover_total|generation|input_connections_adopted)'
echo "== the supervisor's log of the handovers ($demo/agentd.log)"
grep -E 'supervisor: (handover|re-exec)|fault injected|resumed normal' "$demo/agentd.log" | cut -c1-200
kill "$pid"; wait "$pid" || true

echo
echo "== the control plane: a local cluster upgraded under load (scripts/cluster-demo.sh)"
bash scripts/cluster-demo.sh
