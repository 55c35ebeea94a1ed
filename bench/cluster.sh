#!/usr/bin/env bash
# Cluster mode (issue 7): requests/s and latency of the cached directory route and of an
# uncached route (/api/health/ping: one database round trip per request), one process versus
# `--workers 2`, same data, same run, interleaved rounds.
#
#   bench/cluster.sh                  # SQLite, Redis on 127.0.0.1:6379
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/nyaya_bench bench/cluster.sh
#   ONE_REDIS=off bench/cluster.sh    # the single process without Redis (it needs none)
#   COMPARE_BIN=/path/to/previous/nyaya bench/cluster.sh   # also that build's `--workers 2`
#   ROUTES=directory bench/cluster.sh # the cached directory only
#
# wrk connects from one address, so the workers run with `--balance connection` (the kernel
# spreads connections); with the default `--balance ip` one client address reaches one worker.
# Needs wrk and Redis. Loopback only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-2}
ONE_PORT=${ONE_PORT:-5081}
TWO_PORT=${TWO_PORT:-5082}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"

# NYAYA_BIN: an already built binary (skips the build).
if [ -z "${NYAYA_BIN:-}" ]; then cargo build --release -q; fi
NYAYA_BIN=${NYAYA_BIN:-./target/release/nyaya}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=warn HOST=127.0.0.1 REDIS_URL
export JWT_SECRET=bench-access JWT_REFRESH_SECRET=bench-refresh
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  export DATABASE_URL="$BENCH_DATABASE_URL"
  db_label=postgresql
else
  export DATABASE_URL="sqlite://$work/nyaya.db?mode=rwc"
  db_label=sqlite
fi
DATA_DIR="$work/seed" "$NYAYA_BIN" seed >/dev/null

start() { # label port binary args...
  local label=$1 port=$2 bin=$3 redis=$REDIS_URL; shift 3
  if [ "$label" = one ] && [ "${ONE_REDIS:-on}" = off ]; then redis=""; fi
  mkdir -p "$work/$label"
  DATA_DIR="$work/$label" PORT=$port ADMIN_ADDR=127.0.0.1:0 REDIS_PREFIX="bench-$label-$$:" REDIS_URL="$redis" \
    "$bin" serve "$@" > "$work/$label.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "127.0.0.1:$port/api/health/ping" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$label did not start"; cat "$work/$label.log"; exit 1
}
setups=(one:$ONE_PORT two:$TWO_PORT)
start one "$ONE_PORT" "$NYAYA_BIN"
start two "$TWO_PORT" "$NYAYA_BIN" --workers 2 --balance connection
if [ -n "${COMPARE_BIN:-}" ]; then
  start two-compare $((TWO_PORT + 1)) "$COMPARE_BIN" --workers 2 --balance connection
  setups+=("two-compare:$((TWO_PORT + 1))")
fi
sleep 1

run() { # label url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" > "$OUT/$1.txt"
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/$1.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$OUT/$1.txt" | tr '\n' ' ')
  echo "$1 $rps $p50 $p99 ${errors:-no-errors}" | tee -a "$work/results"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $db_label + Redis, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds interleaved"
echo "# label requests/s p50 p99"
for round in $(seq 1 "$ROUNDS"); do
  for setup in "${setups[@]}"; do
    label=${setup%%:*} port=${setup##*:}
    run "cluster-directory-$label-$db_label-$round" "http://127.0.0.1:$port/api/lawyers/verified?page=1&limit=20"
    if [ "${ROUTES:-all}" != directory ]; then
      run "cluster-ping-$label-$db_label-$round" "http://127.0.0.1:$port/api/health/ping"
    fi
  done
done

# Medians per route and setup.
python3 - "$work/results" <<'PY'
import re, statistics, sys
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m[1]) * {"us": 0.001, "ms": 1, "s": 1000}[m[2]]
rows = {}
for line in open(sys.argv[1]):
    label, rps, p50, p99 = line.split()[:4]
    rows.setdefault(label.rsplit("-", 2)[0], []).append((float(rps), ms(p50), ms(p99)))
print("\nmedians: target, requests/s, p50 ms, p99 ms")
for name, runs in rows.items():
    print(f"{name:34} {statistics.median(r[0] for r in runs):10.0f} "
          f"{statistics.median(r[1] for r in runs):8.2f} {statistics.median(r[2] for r in runs):8.2f}")
PY
