#!/usr/bin/env bash
# The scripted fleet upgrade a CI job runs after building a new agentd:
#   push the release, mark it as the target (--force: a pipeline re-runs the
#   same version on retry), roll it out and wait, then assert the result from
#   the JSON the CLI prints — never from its human output.
# Usage: examples/ci-upgrade.sh PATH/TO/agentd [TIMEOUT]
# The controller comes from the usual settings (LOGCTL_SERVER, LOGCTL_TOKEN,
# LOGCTL_CA or the config file's context); LOGCTL may name the logctl binary.
# Exit codes are logctl's (docs/cli.md): 5 rolled back, 6 timed out, ...
set -euo pipefail
binary=${1:?usage: ci-upgrade.sh AGENTD_BINARY [TIMEOUT]}
timeout=${2:-10m}
logctl=${LOGCTL:-logctl}

version=$("$logctl" release push "$binary" --output json | jq -er .version)
echo "pushed $version"
"$logctl" cluster upgrade --to "$version" --force --output json > /dev/null
result=$(mktemp)
trap 'rm -f "$result"' EXIT
set +e
"$logctl" cluster resume --wait --timeout "$timeout" --output json > "$result"
rc=$?
set -e
# Success is the rollout document; a failure (rolled back, aborted, timed
# out, ...) is the error document, with the rollout in .error.details.rollout.
state=$(jq -r '.state // .error.details.rollout.state // "unknown"' < "$result" 2>/dev/null ||
  echo "unknown")
if [ "$rc" -ne 0 ] || [ "$state" != "succeeded" ]; then
  why=$(jq -r '.error.message // empty' < "$result" 2>/dev/null || true)
  echo "upgrade to $version failed: rollout ${state}${why:+ ($why)} (logctl exit $rc)" >&2
  exit $((rc == 0 ? 1 : rc))
fi
echo "upgraded to $version"
