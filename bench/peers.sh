#!/usr/bin/env bash
# agentd beside its peers on the same workloads, in one run, each system run
# several times in alternation (agentd, Fluent Bit memory, Fluent Bit
# filesystem, rsyslog; each round starting with the next of them), so that
# the machine's drift over the run falls on every system alike. Per run: events/s, CPU µs per event and peak
# RSS of the whole process tree (bench/lib.sh), and every output line checked
# (bench/line_check: each numbered line once, nothing else). Then per shape
# and system the median, min and max, and the ratios of the medians.
#
# Before each run: the machine idle, and on a VM that hands freed memory
# back to its host, that done (settle() below).
#
# Shapes (--shapes, comma-separated; default tcp1,tcp16,tail,tail200):
#   tcp1   one TCP connection of LINES 200-byte lines -> buffer -> file
#   tcp16  the same lines over 16 connections at once
#   tail   one file of LINES lines, written before the clock starts, tailed
#          from its head -> buffer -> file
#   tail200 the same lines spread over 200 files (a node's containers), one
#          glob
# agentd: <parse> none, @type file buffer (flush_interval 0.2s,
# chunk_limit_size 16m), out_file single_value. Fluent Bit: the same plugins
# (tcp with format none, or tail; out_file with Template {log}), Flush 0.2,
# its memory buffer ("fb-mem") and its filesystem buffer ("fb-fs"). rsyslog:
# imtcp -> omfile, its memory queue (tcp shapes only).
#
# --baseline PATH adds another agentd binary ("base", e.g. a build of the
# commit before a change) run the same way: a change's before and after,
# alternated in one run. --dir DIR puts the runs' buffers, inputs and outputs
# on another file system (default /var/tmp), e.g. a slow disk.
#
# Usage: bench/peers.sh [--runs R] [--lines N] [--shapes LIST] [--baseline AGENTD]
#                       [--fluent-bit PATH | --no-fluent-bit] [--no-fb-fs] [--rsyslog]
#                       [--dir DIR]
# (build first: cmake --build build; Fluent Bit: ../shared/peers/fluent-bit/setup.sh
# or any fluent-bit binary; without one, agentd alone)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
N=5000000
SHAPES=tcp1,tcp16,tail,tail200
FB=${FLUENT_BIT:-/tmp/peers/fluent-bit-build/bin/fluent-bit}
FB_FS=true
RSYSLOG=false
BASELINE=
DIR=/var/tmp
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --lines) N=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --fluent-bit) FB=$2; shift 2 ;;
    --no-fluent-bit) FB=; shift ;;
    --no-fb-fs) FB_FS=false; shift ;;
    --rsyslog) RSYSLOG=true; shift ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
BYTES=200
BIN=build/bin
work=$(mktemp -d "$DIR/logctl-peers.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. bench/lib.sh

systems=(agentd)
if [ -n "$BASELINE" ]; then
  [ -x "$BASELINE" ] || { echo "no agentd at $BASELINE" >&2; exit 2; }
  systems+=(base)
fi
if [ -n "$FB" ] && [ -x "$FB" ]; then
  systems+=(fb-mem)
  $FB_FS && systems+=(fb-fs)
elif [ -n "$FB" ]; then
  echo "no Fluent Bit at $FB: without it (--fluent-bit PATH)"
fi
if $RSYSLOG; then systems+=(rsyslog); fi
results=$work/results.tsv
: >"$results"

cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
echo "peers: $N lines of $BYTES bytes; shapes $SHAPES; ${systems[*]}; $RUNS runs each"
echo "machine: $(nproc) cores, ${cpu_model:-unknown CPU}, $(uname -r)"
[ -r /sys/module/page_reporting/parameters/reported_kib ] && echo "free page reporting to the host: on (each run waits until it is quiet)"
[ -n "$FB" ] && [ -x "$FB" ] && echo "fluent-bit: $("$FB" --version 2>/dev/null | head -n 1)"
echo "agentd: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with local changes')"

# Quiet before each measurement: dirty pages of the last run written back and
# the machine idle — at least 90 % of the CPU time idle over one second (the
# 1-minute load average would hold every run for a minute after the last) —
# for at most SETTLE_SECONDS (default 60).
cpu_idle_pct() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat)
  echo "$a $b" | awk '{t = $3 - $1; print (t > 0 ? int(100 * ($4 - $2) / t) : 100)}'
}
# On a VM whose kernel reports freed pages to the host (page_reporting:
# Firecracker's, ~128 MiB every 2 s here), memory the last run freed (its
# deleted output: 1 GB) is handed back over the next seconds, and a page the
# host took back costs a fault on the host when the guest writes it again:
# a run began with some hot and some cold memory, which alone swung a run's
# CPU per event by a third and favoured whichever system ran second. So each
# run also waits until no page was reported for 4.5 s (two passes): every run
# starts with the free memory handed back.
REPORTED=/sys/module/page_reporting/parameters/reported_kib
settle() {
  sync
  local deadline=$((SECONDS + ${SETTLE_SECONDS:-60}))
  while [ "$(cpu_idle_pct)" -lt 90 ] && [ $SECONDS -lt $deadline ]; do :; done
  [ -r "$REPORTED" ] || return 0
  local last now quiet=0
  last=$(cat "$REPORTED")
  while [ $quiet -lt 9 ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.5
    now=$(cat "$REPORTED")
    if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
  done
}

wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on port $1" >&2
  return 1
}

# The input section of each system for a shape: $1 shape, $2 port or file.
agentd_source() {
  if [ "$1" = tail ]; then
    cat <<CONF
<source>
  @type tail
  tag bench
  path $2
  pos_file $work/run/agentd.pos
  read_from_head true
  <parse>
    @type none
  </parse>
</source>
CONF
  else
    cat <<CONF
<source>
  @type tcp
  tag bench
  bind 127.0.0.1
  port $2
  <parse>
    @type none
  </parse>
</source>
CONF
  fi
}

start_agentd() {  # binary, shape, port or file; sets pid
  local bin=$1; shift
  agentd_source "$1" "$2" >"$work/run/agentd.conf"
  bench_file_match bench "$work/run/out/bench" "$work/run/buffer" >>"$work/run/agentd.conf"
  "$bin" -c "$work/run/agentd.conf" --root-dir "$work/run/root" --log-level warn 2>>"$work/run/log" &
  pid=$!
}

start_fluent_bit() {  # shape, port or file, memory|filesystem; sets pid
  {
    echo "[SERVICE]"
    echo "    Flush 0.2"
    echo "    Log_Level warn"
    echo "    storage.path $work/run/fb-storage"
    if [ "$1" = tail ]; then
      echo "[INPUT]"
      echo "    Name tail"
      echo "    Path $2"
      echo "    Read_from_Head On"
      echo "    DB $work/run/fb-tail.db"
    else
      echo "[INPUT]"
      echo "    Name tcp"
      echo "    Listen 127.0.0.1"
      echo "    Port $2"
      echo "    Format none"
    fi
    echo "    Tag bench"
    echo "    storage.type $3"
    echo "[OUTPUT]"
    echo "    Name file"
    echo "    Match bench"
    echo "    Path $work/run/out"
    echo "    File bench.log"
    echo "    Format template"
    echo "    Template {log}"
  } >"$work/run/fluent-bit.conf"
  "$FB" -c "$work/run/fluent-bit.conf" >>"$work/run/log" 2>&1 &
  pid=$!
}

start_rsyslog() {  # port; sets pid
  cat >"$work/run/rsyslog.conf" <<CONF
global(workDirectory="$work/run")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
input(type="imtcp" address="127.0.0.1" port="$1")
action(type="omfile" file="$work/run/out/bench.log" template="raw" asyncWriting="on" ioBufferSize="1m" flushOnTXEnd="off")
CONF
  rsyslogd -n -f "$work/run/rsyslog.conf" -i "$work/run/rsyslog.pid" 2>>"$work/run/log" &
  pid=$!
}

# One measured run of a system on a shape; appends a line to $results.
run_one() {
  local sys=$1 shape=$2 run=$3 p="" conns=1 t0 c0=0
  rm -rf "$work/run" && mkdir -p "$work/run/out"
  settle
  [ "$shape" = tcp16 ] && conns=16
  if [[ $shape == tail* ]]; then
    local input=$work/input.log
    [ "$shape" = tail200 ] && input="$work/input200/*.log"
    # The clock starts before the process: reading the files is the work.
    t0=$(date +%s.%N)
    case $sys in
      agentd) start_agentd "$BIN/agentd" tail "$input" ;;
      base) start_agentd "$BASELINE" tail "$input" ;;
      fb-mem) start_fluent_bit tail "$input" memory ;;
      fb-fs) start_fluent_bit tail "$input" filesystem ;;
      *) return 0 ;;
    esac
  else
    p=$(port)
    case $sys in
      agentd) start_agentd "$BIN/agentd" tcp "$p" ;;
      base) start_agentd "$BASELINE" tcp "$p" ;;
      fb-mem) start_fluent_bit tcp "$p" memory ;;
      fb-fs) start_fluent_bit tcp "$p" filesystem ;;
      rsyslog) start_rsyslog "$p" ;;
    esac
    wait_port "$p"
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    "$BIN/tcp_loadgen" "$p" "$N" "$BYTES" 0 127.0.0.1 "$conns" >/dev/null
  fi
  local deadline=$((SECONDS + 600))
  while [ "$(lines_in "$work"/run/out/*)" -lt "$N" ]; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "$sys $shape run $run: stopped short at $(lines_in "$work"/run/out/*) lines; its log:"
      tail -n 20 "$work/run/log"
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 0.02
  done
  local t1 c1 rss check
  t1=$(date +%s.%N)
  c1=$(cpu_ticks "$pid")
  rss=$(peak_rss_kib "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  check=$("$BIN/line_check" "$N" "$BYTES" "$work"/run/out/*) || {
    echo "$sys $shape run $run: output check failed: $check"
    return 1
  }
  python3 - "$sys" "$shape" "$run" "$N" "$t0" "$t1" "$c0" "$c1" "$clk" "$rss" 2>&1 >>"$results" <<'PY'
import sys
s, shape, run, n, t0, t1, c0, c1, clk, rss = sys.argv[1:]
secs = float(t1) - float(t0)
rate, cpu, mib = int(n) / secs, (int(c1) - int(c0)) / int(clk) * 1e6 / int(n), int(rss) / 1024
print(f"{s}\t{shape}\t{run}\t{rate:.0f}\t{cpu:.3f}\t{mib:.1f}\t{secs:.3f}")
print(f"{s:8s} {shape:7s} run {run} {rate:12,.0f} events/s {cpu:6.3f} CPU us/event "
      f"peak RSS {mib:6.1f} MiB ({secs:.2f} s)", file=sys.stderr)
PY
}

IFS=, read -r -a shape_list <<<"$SHAPES"
for shape in "${shape_list[@]}"; do
  case $shape in tcp1 | tcp16 | tail | tail200) ;; *) echo "unknown shape $shape" >&2; exit 2 ;; esac
  if [ "$shape" = tail ] && [ ! -f "$work/input.log" ]; then
    python3 - "$N" "$BYTES" "$work/input.log" <<'PY'
import sys
n, b, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    for start in range(0, n, 10000):
        f.write("".join(f"seq={i} ".ljust(b - 1, "x") + "\n" for i in range(start, min(n, start + 10000))))
PY
  fi
  if [ "$shape" = tail200 ] && [ ! -d "$work/input200" ]; then
    mkdir -p "$work/input200"
    python3 - "$N" "$BYTES" "$work/input200" <<'PY'
import sys
n, b, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
files = [open(f"{d}/app-{k:03d}.log", "w") for k in range(200)]
for k, f in enumerate(files):  # line i goes to file i % 200
    f.write("".join(f"seq={i} ".ljust(b - 1, "x") + "\n" for i in range(k, n, 200)))
    f.close()
PY
  fi
  for run in $(seq 1 "$RUNS"); do
    # Each round starts with the next system: none always runs first.
    for k in $(seq 0 $((${#systems[@]} - 1))); do
      sys=${systems[$(((run - 1 + k) % ${#systems[@]}))]}
      [ "$sys" = rsyslog ] && [[ $shape == tail* ]] && continue
      run_one "$sys" "$shape" "$run"
    done
  done
done

echo
python3 - "$results" <<'PY'
import statistics, sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for s, shape, run, rate, cpu, rss, secs in rows:
    by[(shape, s)].append((float(rate), float(cpu), float(rss)))
shapes = list(dict.fromkeys(r[1] for r in rows))
systems = list(dict.fromkeys(r[0] for r in rows))
print(f"{'shape':7s} {'system':8s} {'runs':>4s} {'events/s median (min - max)':>34s} "
      f"{'CPU us/event median (min - max)':>33s} {'max/min':>7s} {'peak RSS max':>12s}")
med = {}
for shape in shapes:
    for s in systems:
        v = by.get((shape, s))
        if not v:
            continue
        rates = [x[0] for x in v]; cpus = [x[1] for x in v]; rss = [x[2] for x in v]
        med[(shape, s)] = (statistics.median(rates), statistics.median(cpus))
        print(f"{shape:7s} {s:8s} {len(v):4d} {statistics.median(rates):12,.0f} "
              f"({min(rates):9,.0f} - {max(rates):9,.0f}) {statistics.median(cpus):12.3f} "
              f"({min(cpus):6.3f} - {max(cpus):6.3f}) {max(cpus) / min(cpus):7.2f} "
              f"{max(rss):8.1f} MiB")
print()
for shape in shapes:
    a = med.get((shape, "agentd"))
    for s in systems:
        if s == "agentd" or (shape, s) not in med or not a:
            continue
        o = med[(shape, s)]
        print(f"{shape:7s} agentd / {s}: {a[0] / o[0]:.2f}x events/s (medians), "
              f"{a[1] / o[1]:.2f}x CPU per event")
PY
