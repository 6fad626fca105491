#!/usr/bin/env bash
# Records what real Fluentd writes for compat cases, as their expected bytes.
#
#   FLUENTD=/path/to/fluentd-wrapper bash tests/compat/record.sh tests/compat/cases/NAME...
#
# FLUENTD runs real Fluentd (the developers' oracle set-up; CI cannot run it,
# so the corpus carries what it recorded). For each case the script makes a
# scratch directory, sets COMPAT_DIR (and COMPAT_PORT, a free port, and the
# case's TZ, UTC unless case.env says otherwise) the way compat_test.cpp does,
# copies input.log and files/, starts Fluentd, feeds `input` over TCP or UDP
# when case.env says FEED=tcp|udp (FEED=http: raw requests on one connection,
# the responses kept as out/responses), waits until the output directory has been
# quiet for 2 s, stops Fluentd with SIGTERM and copies every output file
# (buffer files and Fluentd's own fluent.* log files excepted) into
# expected/, the scratch path written as @DIR@, the host name as @HOST@ and
# the current year, where the input does not hold it (RFC 3164), as @YEAR@.
# A case whose output holds the time of the run (an ingest time) is refused:
# its expected bytes would not hold tomorrow.
set -euo pipefail
FLUENTD=${FLUENTD:?set FLUENTD to the command that runs real Fluentd}
here=$(cd "$(dirname "$0")" && pwd)
scratch_root=${SCRATCH:-/tmp/logctl-compat-record}
host=$(hostname)
version=$("$FLUENTD" --version)

free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

record() {
  local c=${1%/} name dir port FEED=tail TZ_CASE=UTC WAIT=0 KEEP_FLUENT=0
  name=$(basename "$c")
  dir=$scratch_root/$name
  rm -rf "$dir" && mkdir -p "$dir"
  [[ -f $c/case.env ]] && source "$c/case.env"
  [[ -n ${TZ_ENV:-} ]] && TZ_CASE=$TZ_ENV
  port=$(free_port)
  [[ -f $c/input.log ]] && cp "$c/input.log" "$dir/"
  [[ -d $c/files ]] && cp -a "$c/files/." "$dir/"
  local t0 t1
  t0=$(date +%s)
  (cd "$dir" && COMPAT_DIR=$dir COMPAT_PORT=$port TZ=$TZ_CASE exec setsid "$FLUENTD" -c "$c/fluent.conf") \
    > "$dir/fluentd.log" 2>&1 &
  local pid=$!
  # Ready: Fluentd says so, or (a case whose log level hides that line)
  # its worker has been running for 10 s.
  local ready=0
  for _ in $(seq 1 100); do
    grep -q 'fluentd worker is now running' "$dir/fluentd.log" && { ready=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ((ready == 0)) && kill -0 "$pid" 2>/dev/null && ! grep -qE '\[(error|fatal)\]|"level":"(error|fatal)"' "$dir/fluentd.log"; then
    ready=1
  fi
  if ((ready == 0)); then
    echo "$name: Fluentd did not start (its log: $dir/fluentd.log)" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true  # the supervisor and its worker
    [[ -f $c/expect-refused ]] && { grep -m1 -E '\[(error|fatal)\]|error' "$dir/fluentd.log" > "$c/fluentd-refusal.txt" || true; echo "$name: refused, as the case expects"; return 0; }
    return 1
  fi
  case $FEED in
    http)
      # The requests back to back on one connection (the last one closes
      # it); the responses are an output of the case too.
      mkdir -p "$dir/out"
      python3 - "$port" "$c/input" "$dir/out/responses" <<'PY'
import socket, sys, time
port, data, out = int(sys.argv[1]), open(sys.argv[2], 'rb').read(), sys.argv[3]
s = socket.create_connection(('127.0.0.1', port)); s.sendall(data)
s.settimeout(15); got = b''
try:
    while True:
        b = s.recv(65536)
        if not b: break
        got += b
except (socket.timeout, ConnectionResetError):  # Fluentd closes with SO_LINGER 0: a reset
    pass
open(out, 'wb').write(got)
PY
      ;;
    tcp | udp)
      python3 - "$FEED" "$port" "$c/input" <<'PY'
import socket, sys, time
kind, port, data = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read()
if kind == 'tcp':
    s = socket.create_connection(('127.0.0.1', port)); s.sendall(data); s.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for line in data.split(b'\n'):
        if line:
            s.sendto(line, ('127.0.0.1', port)); time.sleep(0.01)
PY
      ;;
  esac
  sleep "$WAIT"
  # Quiet for 2 s: no file under out/ changed size.
  local last="" now quiet=0
  for _ in $(seq 1 100); do
    now=$(find "$dir/out" -type f -printf '%p %s\n' 2>/dev/null | sort | md5sum)
    if [[ $now == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
    ((quiet >= 10)) && break
    sleep 0.2
  done
  kill -TERM "$pid"
  wait "$pid" || true
  t1=$(date +%s)
  rm -rf "$c/expected" && mkdir -p "$c/expected"
  local f rel n=0
  while IFS= read -r f; do
    rel=${f#"$dir/out/"}
    case ${rel##*/} in buffer.* | *.meta) continue ;; esac
    # a directory that holds buffer files is a buffer, not output
    compgen -G "$(dirname "$f")/buffer.*" > /dev/null && continue
    if [[ $rel == fluent.* && $KEEP_FLUENT != 1 ]]; then continue; fi
    mkdir -p "$(dirname "$c/expected/$rel")"
    sed -e "s#$dir#@DIR@#g" -e "s#$host#@HOST@#g" "$f" > "$c/expected/$rel"
    n=$((n + 1))
  done < <(find "$dir/out" -type f | sort)
  # RFC 3164 times have no year: the reader's current year fills it in, so
  # where the input does not hold this year, the output's is written @YEAR@.
  local year
  year=$(TZ=$TZ_CASE date +%Y)
  if ! cat "$c"/input* 2>/dev/null | grep -q "$year" && ! grep -rq "$year" "$c/files" 2>/dev/null; then
    grep -rl -- "$year-" "$c/expected" 2>/dev/null | xargs -r sed -i "s/$year-/@YEAR@-/g"
  fi
  if [[ -f $dir/tail.pos && -f $c/expected.pos ]]; then
    local inode
    inode=$(printf '%016x' "$(stat -c %i "$dir/input.log")")
    sed -e "s#$dir#@DIR@#g" -e "s#$inode#@INODE@#g" "$dir/tail.pos" > "$c/expected.pos"
  fi
  if python3 - "$t0" "$t1" "$c/expected" <<'PY'; then
import os, re, sys, datetime
t0, t1, d = int(sys.argv[1]) - 5, int(sys.argv[2]) + 5, sys.argv[3]
days = {datetime.datetime.utcfromtimestamp(t).strftime('%Y-%m-%d') for t in (t0, t1)}
epoch = re.compile(r'(?<![\d.])1\d{9}(?![\d])')
for root, _, names in os.walk(d):
  for f in names:
    text = open(os.path.join(root, f), encoding='utf-8', errors='replace').read()
    if any(day in text or day.replace('-', '') in f for day in days) or \
       any(t0 <= int(m) <= t1 for m in epoch.findall(text)):
        print(f'{f}: holds the time of the run', file=sys.stderr); sys.exit(0)
sys.exit(1)
PY
    echo "$name: its output holds the time of the run; give the records their own times" >&2
    return 1
  fi
  echo "$version" > "$c/recorded-by"
  printf '%-48s %d file(s)\n' "$name" "$n"
}

status=0
for c in "$@"; do
  record "$(cd "$c" && pwd)" || status=1
done
exit $status
