#!/bin/sh
# Entrypoint of every Reelflow image: ROLE [--check] [ARGS...]
#   api | edge | airflow SUBCOMMAND... | init
# --check prints the resolved settings and the command, then exits 0 (runs outside Docker too).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${REELFLOW_PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x /opt/venv/bin/python ]; then PYTHON=/opt/venv/bin/python; else PYTHON="$HERE/../.venv/bin/python"; fi
fi
[ $# -ge 1 ] || { echo "usage: $0 api|edge|airflow|init [--check] [ARGS...]" >&2; exit 2; }
role=$1; shift
if [ "${1:-}" = "--check" ]; then
  shift
  exec "$PYTHON" -m reelflow.container check "$role" "$@"
fi
if [ "$role" = "init" ]; then exec "$PYTHON" -m reelflow.container init; fi
exec "$PYTHON" -m reelflow.container run "$role" "$@"
