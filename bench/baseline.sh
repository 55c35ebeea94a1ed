#!/usr/bin/env bash
# The lawyer directory (`GET /api/lawyers/verified?page=1&limit=20`, 20 lawyers of the seeded
# data set) against a bare hyper server answering the very same bytes from memory (the ceiling
# for a cached response), same machine, same run, rounds interleaved; medians at the end.
#
#   bench/baseline.sh                                   # this checkout's release build, SQLite
#   COMPARE_BIN=/path/to/previous/nyaya bench/baseline.sh   # side by side with another build
#   UNCACHED=1 bench/baseline.sh                        # also each binary with CACHE=off
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/nyaya_bench bench/baseline.sh
#   EXPRESS=1 bench/baseline.sh                         # also bench/peers/express (Express + pg,
#                                                       # no cache, node:cluster x2 like PM2) on
#                                                       # PostgreSQL, seeded by the current binary
#
# With COMPARE_BIN each binary gets a data set of its own, seeded by itself (the same seed, so
# pages of the same size). Needs wrk (Debian package `wrk`). Loopback only; every run is
# bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-5077}
HELLO_PORT=${HELLO_PORT:-5999}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/results}
NYAYA_BIN=${NYAYA_BIN:-target/release/nyaya}
mkdir -p "$OUT"

[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q
[ -n "${SKIP_BUILD:-}" ] || (cd bench/hello && cargo build --release -q)

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

export ADMIN_ADDR=127.0.0.1:0 RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=warn
db_label=sqlite
if [ -n "${BENCH_DATABASE_URL:-}" ]; then db_label=postgresql; fi

# One server: label, binary, port, extra environment. PostgreSQL: a database per server.
targets=()
start() {
  local label=$1 bin=$2 port=$3; shift 3
  local data="$work/$label" url=""
  mkdir -p "$data"
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    local db="nyaya_bench_${label//-/_}"
    psql -q "${BENCH_DATABASE_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    url="${BENCH_DATABASE_URL%/*}/$db"
  fi
  env DATA_DIR="$data" ${url:+DATABASE_URL=$url} "$bin" seed >/dev/null
  env DATA_DIR="$data" ${url:+DATABASE_URL=$url} PORT="$port" "$@" "$bin" serve >"$work/$label.log" 2>&1 &
  for _ in $(seq 1 200); do curl -fs "127.0.0.1:$port/api/health/ping" >/dev/null 2>&1 && break; sleep 0.1; done
  targets+=("$label=http://127.0.0.1:$port/api/lawyers/verified?page=1&limit=20")
}

start "current" "$NYAYA_BIN" "$PORT"
if [ -n "${COMPARE_BIN:-}" ]; then start "compare" "$COMPARE_BIN" $((PORT + 1)); fi
if [ -n "${UNCACHED:-}" ]; then
  start "current-uncached" "$NYAYA_BIN" $((PORT + 2)) CACHE=off
  if [ -n "${COMPARE_BIN:-}" ]; then start "compare-uncached" "$COMPARE_BIN" $((PORT + 3)) CACHE=off; fi
fi

# The peer: the same route in Express + pg, uncached, on PostgreSQL whatever nyaya runs on.
if [ -n "${EXPRESS:-}" ]; then
  peer_base=${PEER_DATABASE_URL:-postgres://postgres@127.0.0.1/postgres}
  psql -q "$peer_base" -c "DROP DATABASE IF EXISTS nyaya_bench_express" -c "CREATE DATABASE nyaya_bench_express" >/dev/null
  peer_url="${peer_base%/*}/nyaya_bench_express"
  env DATA_DIR="$work/express" DATABASE_URL="$peer_url" "$NYAYA_BIN" seed >/dev/null
  (cd bench/peers/express && { [ -d node_modules ] || npm install --no-audit --no-fund -q >/dev/null; })
  env DATABASE_URL="$peer_url" PORT=$((PORT + 4)) WORKERS="${EXPRESS_WORKERS:-2}" node bench/peers/express/server.js \
    >"$work/express.log" 2>&1 &
  for _ in $(seq 1 100); do curl -fs "127.0.0.1:$((PORT + 4))/api/health/ping" >/dev/null 2>&1 && break; sleep 0.1; done
  targets+=("express=http://127.0.0.1:$((PORT + 4))/api/lawyers/verified?page=1&limit=20")
fi

# The ceiling answers the bytes the current build serves for the directory page.
curl -fs "${targets[0]#*=}" -o "$work/directory.json"
bench/hello/target/release/hello "127.0.0.1:$HELLO_PORT" "$work/directory.json" 2>/dev/null &
for _ in $(seq 1 100); do curl -fs "127.0.0.1:$HELLO_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
targets+=("hello=http://127.0.0.1:$HELLO_PORT/")

run() { # label url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" >"$OUT/$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "$OUT/$1.txt")
  echo "$1 $rps $p50 $p99" | tee -a "$work/results"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $db_label, $(stat -c %s "$work/directory.json") bytes per page," \
  "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds interleaved"
for round in $(seq 1 "$ROUNDS"); do
  for target in "${targets[@]}"; do
    run "${target%%=*}-$db_label-$round" "${target#*=}"
  done
done

# Medians per target, and each as a share of the ceiling's median requests/s.
python3 - "$work/results" "$db_label" <<'PY'
import re, statistics, sys
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m[1]) * {"us": 0.001, "ms": 1, "s": 1000}[m[2]]
rows = {}
for line in open(sys.argv[1]):
    label, rps, p50, p99 = line.split()
    name = label.rsplit("-", 2)[0]
    rows.setdefault(name, []).append((float(rps), ms(p50), ms(p99)))
ceiling = statistics.median(r[0] for r in rows["hello"])
ceiling_p99 = statistics.median(r[2] for r in rows["hello"])
print(f"\nmedians ({sys.argv[2]}): target, requests/s, p50 ms, p99 ms, share of the ceiling, p99 / ceiling p99")
for name, runs in rows.items():
    rps = statistics.median(r[0] for r in runs)
    p50 = statistics.median(r[1] for r in runs)
    p99 = statistics.median(r[2] for r in runs)
    print(f"{name:18} {rps:10.0f} {p50:8.2f} {p99:8.2f} {rps / ceiling:7.1%} {p99 / ceiling_p99:6.2f}x")
PY
