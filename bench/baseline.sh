#!/usr/bin/env bash
# First baseline (issue 2): requests/s and latency of the lawyer directory on the seeded data
# set, against a bare hyper hello-world as the ceiling, same machine, same run.
#
#   bench/baseline.sh                 # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/nyaya_bench bench/baseline.sh
#
# Needs wrk (Debian package `wrk`). Loopback only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-5077}
HELLO_PORT=${HELLO_PORT:-5999}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q
[ -n "${SKIP_BUILD:-}" ] || (cd bench/hello && cargo build --release -q)

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

export DATA_DIR="$work/data" PORT ADMIN_ADDR=127.0.0.1:0 RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=warn
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  export DATABASE_URL="$BENCH_DATABASE_URL"
  db_label=postgresql
else
  db_label=sqlite
fi
./target/release/nyaya seed >/dev/null
./target/release/nyaya serve &
bench/hello/target/release/hello "127.0.0.1:$HELLO_PORT" 2>/dev/null &
for _ in $(seq 1 100); do curl -fs "localhost:$PORT/api/health/ping" >/dev/null 2>&1 && break; sleep 0.1; done

run() { # label url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" > "$OUT/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/$1.txt")
  echo "$1 $rps $p50 $p99"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $db_label, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds interleaved"
for round in $(seq 1 "$ROUNDS"); do
  run "directory-$db_label-$round" "http://127.0.0.1:$PORT/api/lawyers/verified?page=1&limit=20"
  run "hello-$round" "http://127.0.0.1:$HELLO_PORT/"
done
