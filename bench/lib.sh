# Shared by the bench/*.sh scripts (sourced): free ports, CPU and peak RSS
# of a whole process tree (agentd is a supervisor and a worker: CPU summed over
# every process, peak RSS the sum of each process's VmHWM), and `measure`.
# Expects N, BYTES and BIN set by the caller.

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
clk=$(getconf CLK_TCK)
# The pid and all its descendants.
tree() {
  local p
  echo "$1"
  for p in $(pgrep -P "$1"); do tree "$p"; done
}
# The fields after "(comm)" start at field 3; utime and stime are 14 and 15.
cpu_ticks() {  # PID... (each with its descendants)
  local t=0 p r
  for p in $(for r in "$@"; do tree "$r"; done); do
    t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12+$13}')))
  done
  echo "$t"
}
peak_rss_kib() {  # PID...
  local k=0 p r
  for p in $(for r in "$@"; do tree "$r"; done); do k=$((k + $(awk '/VmHWM/{print $2}' "/proc/$p/status"))); done
  echo "$k"
}
# Lines in the outputs while waiting, from their sizes (every line is BYTES
# long): reading gigabytes every 50 ms would load the machine being measured.
lines_in() {
  local b
  b=$(stat -c %s "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}')
  echo $((b / BYTES))
}

# measure NAME "PID..." PORT OUTPUT_GLOB...: $LOADGEN (default tcp_loadgen)
# sends N events of BYTES to PORT; done when the outputs hold N lines. CPU and
# peak RSS are of every PID's process tree together.
measure() {
  local name=$1 pids=$2 p=$3; shift 3
  local c0; c0=$(cpu_ticks $pids)
  local t0; t0=$(date +%s.%N)
  "${LOADGEN:-$BIN/tcp_loadgen}" "$p" "$N" "$BYTES" >/dev/null
  local deadline=$((SECONDS + 600))
  while [ "$(lines_in $@)" -lt "$N" ]; do
    [ $SECONDS -lt $deadline ] || { echo "$name: timed out"; return 1; }
    sleep 0.05
  done
  local t1; t1=$(date +%s.%N)
  local c1; c1=$(cpu_ticks $pids)
  local rss; rss=$(peak_rss_kib $pids)
  local exact; exact=$(cat $@ | wc -l)  # after the clock stopped (globs expand now)
  [ "$exact" -eq "$N" ] || echo "$name: $exact lines in the output, expected $N"
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


# The buffer -> file output every bench writes: bench_file_match PATTERN OUT
# BUFFER_DIR [FORMAT=single_value] [EXTRA_LINE] — out_file appending to OUT,
# file buffer in BUFFER_DIR (flush_interval 0.2s, chunk_limit_size 16m).
bench_file_match() {
  cat <<CONF
<match $1>
  @type file${5:+
  $5}
  path $2
  append true
  <format>
    @type ${4:-single_value}
  </format>
  <buffer>
    @type file
    path $3
    flush_mode interval
    flush_interval 0.2s
    chunk_limit_size 16m
  </buffer>
</match>
CONF
}
