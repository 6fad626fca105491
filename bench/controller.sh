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
# With --postgres: the same fleets against three controllers on one
# PostgreSQL database (a server of its own, started here as the `postgres`
# user with the package's defaults: fsync and synchronous commit on); the
# simulated nodes know all three and follow not_leader to the leader, as
# agentd does. Adds the controllers' summed CPU, each one's peak RSS, and the
# database's CPU (every postgres process) and memory (summed PSS).
#   bash bench/controller.sh --postgres
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

next=$("$build/bin/agentd-next" version | awk '{print $2}')
if [[ ${1:-} != --postgres ]]; then
  run 1000 --threads 12 --connection-per-node
  run 5000 --threads 12 --connection-per-node
  run 1000 --threads 8
  run 1000 --threads 12 --connection-per-node --rollout-to "$next" --batch-size 100 --min-healthy-ms 1000
  exit 0
fi

# ---- PostgreSQL: three controllers on one database --------------------------
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/logctl-bench-pg.XXXXXX)
chown postgres "$pgdir"
pgport=$(( 20000 + RANDOM % 20000 ))
as_pg() { runuser -u postgres -- "$@"; }
as_pg "$pgbin/initdb" -D "$pgdir/data" -U postgres -A trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w \
  -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
trap 'as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
db=0

pg_pids() {  # the server's postmaster and its children (backends, workers)
  local pm; pm=$(head -n 1 "$pgdir/data/postmaster.pid")
  echo "$pm" $(pgrep -P "$pm" || true)
}
pg_cpu() {  # CPU ticks of the server's processes
  local total=0 pid t
  for pid in $(pg_pids); do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$(( total + t ))
  done
  echo "$total"
}
machine_idle() {  # idle + iowait ticks of all CPUs
  awk '/^cpu / {print $5 + $6}' /proc/stat
}
pg_pss_mib() {
  local total=0 pid kb
  for pid in $(pg_pids); do
    kb=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    total=$(( total + kb ))
  done
  echo $(( total / 1024 ))
}

run_ha() {  # run_ha NODES [heartbeat_bench args...]
  local nodes=$1; shift
  local dir; dir=$(mktemp -d /tmp/logctl-bench.XXXXXX)
  db=$(( db + 1 ))
  as_pg psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE bench$db" >/dev/null
  local store="host=127.0.0.1 port=$pgport user=postgres dbname=bench$db"
  "$build/bin/logctl-controller" init --data-dir "$dir/c1" --store "$store" >/dev/null
  cp -a "$dir/c1" "$dir/c2"; cp -a "$dir/c1" "$dir/c3"
  local pids=() urls=() i
  for i in 1 2 3; do
    "$build/bin/logctl-controller" serve --data-dir "$dir/c$i" --listen 127.0.0.1:0 \
      --port-file "$dir/port$i" 2>"$dir/c$i.log" &
    pids+=($!)
  done
  for i in 1 2 3; do
    for _ in $(seq 1 100); do [[ -s $dir/port$i ]] && break; sleep 0.1; done
    urls+=("https://127.0.0.1:$(cat "$dir/port$i")")
  done
  # The leader first: enrolment and the admin calls go to the first URL.
  local leader=""
  for _ in $(seq 1 100); do
    for u in "${urls[@]}"; do
      if curl -sf --cacert "$dir/c1/tls/ca.pem" "$u/readyz?role=leader" >/dev/null; then leader=$u; fi
    done
    [[ -n $leader ]] && break
    sleep 0.1
  done
  local list=$leader
  for u in "${urls[@]}"; do [[ $u == "$leader" ]] || list+=",$u"; done
  if [[ $* == *--rollout-to* ]]; then
    "$build/bin/agentd-next" manifest >"$dir/manifest.json"
    curl -sf --cacert "$dir/c1/tls/ca.pem" -H "Authorization: Bearer $(cat "$dir/c1/admin.token")" \
      -F manifest=@"$dir/manifest.json" -F artifact=@"$build/bin/agentd-next" "$leader/v1/releases" >/dev/null
  fi
  local cpu0 t0 idle0; cpu0=$(pg_cpu); t0=$(date +%s.%N); idle0=$(machine_idle)
  "$build/bin/heartbeat_bench" --url "$list" --ca "$dir/c1/tls/ca.pem" \
    --admin-token-file "$dir/c1/admin.token" --nodes "$nodes" --seconds "$seconds" \
    --controller-pid "$(IFS=,; echo "${pids[*]}")" "$@" 2> >(grep -v '^enrolled' >&2) || true
  local cpu1 t1 idle1; cpu1=$(pg_cpu); t1=$(date +%s.%N); idle1=$(machine_idle)
  # What the other design would pay on every reconcile pass: every node's
  # row read back from the database (a follower's view of /v1/cluster reads
  # them all; the second request, a second later, times a fresh read).
  local follower=${list#*,}; follower=${follower%%,*}
  curl -s -o /dev/null --cacert "$dir/c1/tls/ca.pem" -H "Authorization: Bearer $(cat "$dir/c1/admin.token")" "$follower/v1/cluster"
  sleep 1.1
  echo "  a follower's GET /v1/cluster, reading all $nodes node rows: $(curl -s -o /dev/null \
    -w '%{time_total}' --cacert "$dir/c1/tls/ca.pem" -H "Authorization: Bearer $(cat "$dir/c1/admin.token")" \
    "$follower/v1/cluster") s"
  local rss=""
  for i in 0 1 2; do rss+=" $(( $(awk '/VmHWM/ {print $2}' /proc/${pids[$i]}/status) / 1024 ))"; done
  echo "  controllers' peak RSS (MiB):$rss; PostgreSQL: $(awk -v c="$(( cpu1 - cpu0 ))" \
    -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", c / hz / (b - a)}') cores" \
    "(enrolment included), $(pg_pss_mib) MiB PSS; the machine idle $(awk -v i="$(( idle1 - idle0 ))" \
    -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", i / hz / (b - a)}') of $(nproc) cores"
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$dir"
}

run_ha 1000 --threads 12 --connection-per-node
run_ha 5000 --threads 12 --connection-per-node
run_ha 1000 --threads 12 --connection-per-node --rollout-to "$next" --batch-size 100 --min-healthy-ms 1000
