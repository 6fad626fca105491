#!/usr/bin/env bash
# Checks the shipped systemd units with `systemd-analyze verify`, their
# binaries pointed at this build (BIN_DIR): syntax, known directives, and
# executables that exist. Usage: verify_units.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
command -v systemd-analyze > /dev/null || { echo "systemd-analyze missing"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$src"/packaging/systemd/*.service; do
  sed "s|/usr/local/bin/|$bin/|g" "$unit" > "$tmp/$(basename "$unit")"
done
cd "$tmp"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./*.service 2>&1) || {
  echo "$out"
  exit 1
}
# verify exits 0 on some warnings: any line naming our units is a failure.
if echo "$out" | grep -E '\.service'; then exit 1; fi
echo "units verified: $(ls ./*.service | xargs -n1 basename | tr '\n' ' ')"
