#!/usr/bin/env bash
# Keyplane's benchmark, one command: builds a release keyplane, starts it on SQLite and
# then on PostgreSQL, seeds it through the API, drives load over loopback with wrk and
# prints one table. `bash bench/run.sh --smoke` is the few-seconds run CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)" >&2
  (apt-get install -y -qq wrk >/dev/null 2>&1) || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
fi

binary=target/release/keyplane
args=("$@")
for a in "$@"; do
  if [ "$a" = "--smoke" ]; then binary=target/debug/keyplane; fi
done
if [ "$binary" = target/release/keyplane ]; then
  cargo build --release -p keyplane-api --bin keyplane
else
  cargo build -p keyplane-api --bin keyplane
fi
exec python3 bench/bench.py --binary "$binary" "${args[@]}"
