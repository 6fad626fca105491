#!/usr/bin/env bash
# The controller under simulated fleets (docs/benchmarks.md). Each run starts
# a fresh controller, enrols the simulated nodes, then:
#   - N nodes heartbeating at 1 Hz over TLS, every node on its own kept-alive
#     connection (what agentd's link does), for N = 1,000 and 5,000; and, to
#     compare, a new TLS connection per heartbeat;
#   - 1,000 nodes (a connection each) rolled to a release in batches of 100.
# Prints the load tool's line: rate, latency percentiles, the controller's CPU
# over the heartbeat phase; and the controller's peak RSS.
#   bash bench/controller.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
seconds=${SECONDS_PER_RUN:-20}

run() {  # run NODES [heartbeat_bench args...]
  local nodes=$1; shift
  local dir; dir=$(mktemp -d /tmp/logctl-bench.XXXXXX)
  "$build/bin/logctl-controller" init --data-dir "$dir/ctl" >/dev/null
  "$build/bin/logctl-controller" serve --data-dir "$dir/ctl" --listen 127.0.0.1:0 \
    --port-file "$dir/port" 2>"$dir/ctl.log" &
  local pid=$!
  for _ in $(seq 1 100); do [[ -s $dir/port ]] && break; sleep 0.1; done
  local url="https://127.0.0.1:$(cat "$dir/port")"
  if [[ $* == *--rollout-to* ]]; then
    "$build/bin/agentd-next" manifest >"$dir/manifest.json"
    curl -sf --cacert "$dir/ctl/tls/ca.pem" -H "Authorization: Bearer $(cat "$dir/ctl/admin.token")" \
      -F manifest=@"$dir/manifest.json" -F artifact=@"$build/bin/agentd-next" "$url/v1/releases" >/dev/null
  fi
  "$build/bin/heartbeat_bench" --url "$url" --ca "$dir/ctl/tls/ca.pem" \
    --admin-token-file "$dir/ctl/admin.token" --nodes "$nodes" --seconds "$seconds" \
    --controller-pid "$pid" "$@" 2> >(grep -v '^enrolled' >&2) || true
  echo "  controller peak RSS $(( $(awk '/VmHWM/ {print $2}' /proc/$pid/status) / 1024 )) MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

run 1000 --threads 12 --connection-per-node
run 5000 --threads 12 --connection-per-node
run 1000 --threads 8
next=$("$build/bin/agentd-next" version | awk '{print $2}')
run 1000 --threads 12 --connection-per-node --rollout-to "$next" --batch-size 100 --min-healthy-ms 1000
