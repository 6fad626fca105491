#!/usr/bin/env bash
# The control plane end to end on this machine (the second half of the main
# job; expects a built tree): a local cluster of 3 nodes, numbered traffic
# into every node (TCP, syslog over TCP, a tailed file; UDP too, counted
# against the kernel's drop counter), an online upgrade under that load with
# logctl's live progress, a release whose worker never becomes ready rolled
# back by itself, the offline path (shutdown --flush, upgrade, resume), the
# count that shows nothing was lost, and the cluster deleted. Leaves nothing
# running. Its own CLI config: the user's ~/.config/logctl is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
L=build/bin/logctl
D=/tmp/logctl-demo
export LOGCTL_CONFIG=/tmp/logctl-demo.config
N=150000   # TCP events per node, at 3,000/s: the load outlasts both rollouts
$L cluster delete --local --data-dir "$D" > /dev/null 2>&1 || true
rm -rf "$D" "$LOGCTL_CONFIG"
cleanup() {
  jobs -p | xargs -r kill 2> /dev/null || true
  $L cluster delete --local --data-dir "$D" > /dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== logctl cluster start --local --nodes 3"
$L cluster start --local --nodes 3 --data-dir "$D" --pipeline-config examples/local-cluster.conf \
  --node-ready-timeout 10s
$L node list

echo "== numbered traffic into every node: TCP at 3,000/s each, syslog, a tailed file, UDP"
for i in 1 2 3; do
  build/bin/tcp_loadgen 5170 "$N" 100 3000 "127.0.1.$i" > "$D/load-$i.out" &
done
(
  for round in $(seq 0 9); do
    for i in 1 2 3; do
      for n in $(seq $((round * 500)) $((round * 500 + 499))); do echo "seq=$n tail"; done \
        >> "$D/nodes/node-$i/app.log"
      logger -T -n "127.0.1.$i" -P 5140 --rfc5424 -t demo "seq=$round syslog"
      for n in $(seq $((round * 100)) $((round * 100 + 99))); do echo "seq=$n udp"; done |
        while read -r line; do echo "$line" > "/dev/udp/127.0.1.$i/5160"; done
    done
    sleep 3
  done
) &
sleep 3

next_version=$(build/bin/agentd-next version | awk '{print $2}')
echo "== logctl release push build/bin/agentd-next   (version $next_version)"
$L release push build/bin/agentd-next
echo "== logctl cluster upgrade --to $next_version   (checks, plan, target)"
$L cluster upgrade --to "$next_version" --batch-size 1 --min-healthy-time 2s
echo "== logctl cluster resume --wait   (one node at a time, each a staged handover under load)"
$L cluster resume --wait --timeout 5m
$L node list

bad_version=$(build/bin/agentd-broken-hang version | awk '{print $2}')
echo "== a bad release ($bad_version: its worker never becomes ready)"
$L release push build/bin/agentd-broken-hang > /dev/null
$L cluster upgrade --to "$bad_version" --force --min-healthy-time 2s --healthy-deadline 60s \
  > /dev/null
set +e
$L cluster resume --wait --timeout 5m
rc=$?
set -e
echo "logctl exit code $rc (5: the rollout was rolled back by itself)"
$L node list

echo "== waiting for the traffic to end and every event to arrive"
wait $(jobs -p) 2> /dev/null || true
count() { # count NODE FILE-PREFIX: distinct sequence numbers delivered
  cat "$D/nodes/node-$1/out/$2"* 2> /dev/null | grep -o 'seq=[0-9]*' | sort -u | wc -l
}
for _ in $(seq 300); do
  done_nodes=0
  for i in 1 2 3; do [ "$(count "$i" tcp)" -ge "$N" ] && done_nodes=$((done_nodes + 1)); done
  [ "$done_nodes" -eq 3 ] && break
  sleep 0.2
done
sleep 2  # one flush interval for the tail, syslog and UDP files (counted, not awaited)
lost=0
for i in 1 2 3; do
  tcp=$(count "$i" tcp) tail_n=$(count "$i" tail) sys=$(count "$i" syslog) udp=$(count "$i" udp)
  echo "node-$i: tcp $tcp of $N, tail $tail_n of 5000, syslog $sys of 10, udp $udp of 1000"
  lost=$((lost + N - tcp + 5000 - tail_n + 10 - sys))
done
echo "events lost over TCP, syslog and the tailed file across both rollouts: $lost"

echo "== the offline path: shutdown --flush, upgrade, resume"
$L cluster shutdown --flush
$L cluster upgrade --to "$(build/bin/agentd version | awk '{print $2}')" --allow-downgrade \
  > /dev/null
$L cluster resume --wait --timeout 2m
$L node list
$L cluster history --limit 12

echo "== logctl cluster delete --local"
trap - EXIT
$L cluster delete --local --data-dir "$D"
rm -f "$LOGCTL_CONFIG"
[ "$lost" -eq 0 ]
