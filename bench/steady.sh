#!/usr/bin/env bash
# Steady state under a constant HTTP load: resident memory and CPU of one or two builds over
# time, both loaded at the same time (same data, same route mix, half the connections each),
# sampled every INTERVAL. Nothing scrapes `/metrics` during the run, as in a deployment whose
# monitoring is off.
#
#   NYAYA_BIN=target/release/nyaya bench/steady.sh
#   NYAYA_BIN=new COMPARE_BIN=old DURATION=120 INTERVAL=10 bench/steady.sh
#
# The load: wrk on the cached directory and on `/api/health/ping` (one database round trip).
# Needs wrk. Loopback only; the run stops after DURATION seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-120}
INTERVAL=${INTERVAL:-10}
CONNECTIONS=${CONNECTIONS:-16}
PORT=${PORT:-5277}
NYAYA_BIN=${NYAYA_BIN:-target/release/nyaya}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export ADMIN_ADDR=127.0.0.1:0 RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=warn

labels=() pids=() ports=()
start() { # label binary port
  mkdir -p "$work/$1"
  DATA_DIR="$work/$1" "$2" seed >/dev/null
  DATA_DIR="$work/$1" PORT="$3" "$2" serve >"$work/$1.log" 2>&1 &
  pids+=($!) labels+=("$1") ports+=("$3")
  for _ in $(seq 1 200); do curl -fs "127.0.0.1:$3/api/health/ping" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}
start current "$NYAYA_BIN" "$PORT"
if [ -n "${COMPARE_BIN:-}" ]; then start compare "$COMPARE_BIN" $((PORT + 1)); fi

loads=()
for port in "${ports[@]}"; do
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/api/lawyers/verified?page=1&limit=20" \
    >"$work/wrk-dir-$port.txt" &
  loads+=($!)
  wrk -t1 -c4 -d"${DURATION}s" "http://127.0.0.1:$port/api/health/ping" >"$work/wrk-ping-$port.txt" &
  loads+=($!)
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "# $(date -u +%FT%TZ) $(nproc) cores, ${DURATION}s, sample every ${INTERVAL}s; RSS MB and CPU % of a core per interval"
printf '%6s' "t(s)"
for l in "${labels[@]}"; do printf ' %12s %8s' "$l-rss" "$l-cpu"; done
echo
declare -A last
for i in "${!pids[@]}"; do last[$i]=$(ticks "${pids[$i]}"); done
elapsed=0
while [ "$elapsed" -lt "$DURATION" ]; do
  sleep "$INTERVAL"
  elapsed=$((elapsed + INTERVAL))
  printf '%6d' "$elapsed"
  for i in "${!pids[@]}"; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[$i]}/status")
    now=$(ticks "${pids[$i]}")
    cpu=$(( (now - last[$i]) * 100 / (hz * INTERVAL) ))
    last[$i]=$now
    printf ' %12.1f %8d' "$(echo "$rss / 1024" | bc -l)" "$cpu"
  done
  echo
done
wait "${loads[@]}" 2>/dev/null || true
for i in "${!ports[@]}"; do
  echo "${labels[$i]}: directory $(awk '/Requests\/sec/ {print $2}' "$work/wrk-dir-${ports[$i]}.txt") req/s," \
    "ping $(awk '/Requests\/sec/ {print $2}' "$work/wrk-ping-${ports[$i]}.txt") req/s"
done
