#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian 12 packages.
# Idempotent; run as root. Each package's reason is in docs/dependencies.md.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config   # toolchain and build
  clang-19 libclang-rt-19-dev                     # libFuzzer targets, sanitizer runtime
  clang-format                                    # formatting check
  catch2                                          # unit and integration test framework
  libasio-dev                                     # agentd network I/O
  nlohmann-json3-dev                              # JSON records, schema dump, parsers
  libmsgpack-cxx-dev                              # chunk payloads, forward protocol
  libcli11-dev                                    # command line parsing
  libcpp-httplib-dev libssl-dev                   # HTTPS API, out_forward TLS, handshake digests
  openssl                                         # the tests' throwaway TLS certificates
  libsqlite3-dev                                  # controller store
  sqlite3                                         # the documented online backup (tests restore one)
  iproute2                                        # fault tests: a node host in a network namespace
  zlib1g-dev                                      # gzip output
  libdeflate-dev                                  # chunk checksums (CRC-32 with PCLMULQDQ)
  libpcre2-dev                                    # <parse> @type regexp (named captures)
  libcctz-dev                                     # time zones by name (Fluentd's timezone parameters)
  libhttp-parser-dev                              # in_http: HTTP/1.1 request framing (chunked, pipelining)
  libpq-dev                                       # the controller's PostgreSQL store (libpq)
  postgresql                                      # the store tests start a real PostgreSQL server
  rsyslog                                         # benchmark comparison peer
  bsdutils                                        # logger(1): real syslog client in tests
  procps psmisc                                   # ps/pkill in scripts
  jq                                              # examples/ci-upgrade.sh reads logctl's JSON
  python3-fluent-logger                           # a real forward-protocol client in tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Real forward-protocol clients from the npm registry, pinned in
# tests/clients/package.json, installed under the tests' own folder with the
# machine's Node.js (Debian's nodejs and npm when there is none).
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends nodejs npm
fi
clients="$(dirname "$0")/../tests/clients"
if [ ! -d "$clients/node_modules/fluent-logger" ] || [ ! -d "$clients/node_modules/@fluent-org/logger" ]; then
  npm install --prefix "$clients" --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
fi
echo "setup: all ${#packages[@]} packages present, and the test clients"
