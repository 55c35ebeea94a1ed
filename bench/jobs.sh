#!/usr/bin/env bash
# Background jobs (issue 6), same binary, one run:
#  1. p50/p99 of POST /api/auth/register while the SMTP server takes 2 s per message,
#     EMAIL_MODE=inline against the email queue, next to POST /api/auth/login (the same
#     password hashing, no write, no email) as the cost of hashing;
#  2. jobs per second processed end to end by one `nyaya worker` with no-op handlers, on
#     SQLite and (with BENCH_REDIS_URL) Redis: COUNT jobs are enqueued first, then the worker
#     starts and the clock runs until its /metrics count COUNT completions.
#
#   bench/jobs.sh
#   BENCH_REDIS_URL=redis://127.0.0.1:6379 bench/jobs.sh
#
# Needs wrk and Python's aiosmtpd (pip install aiosmtpd). Loopback only, bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-200000}
PORT=${PORT:-5078}
SMTP_PORT=${SMTP_PORT:-2526}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q
bin=./target/release/nyaya

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=error JWT_SECRET=bench JWT_REFRESH_SECRET=bench-refresh
unset REDIS_URL DATABASE_URL

mkdir -p "$work/smtp"
python3 tests/support/smtp_server.py "$SMTP_PORT" "$work/smtp" &
echo "delay:2" > "$work/smtp/mode"
for _ in $(seq 1 100); do [ -e "$work/smtp/ready" ] && break; sleep 0.1; done

wait_up() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

latency() { # label script connections path
  wrk -t1 -c"$3" -d"$DURATION" --timeout 30s --latency -s "$2" "http://127.0.0.1:$PORT$4" > "$OUT/jobs-$1.txt"
  if grep -q "Non-2xx" "$OUT/jobs-$1.txt"; then echo "$1: non-2xx answers, see $OUT/jobs-$1.txt" >&2; fi
  printf '%-18s %8s req/s  p50 %8s  p99 %8s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' "$OUT/jobs-$1.txt")" \
    "$(awk '$1=="50%" {print $2}' "$OUT/jobs-$1.txt")" \
    "$(awk '$1=="99%" {print $2}' "$OUT/jobs-$1.txt")"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; SMTP server answers after 2 s; wrk -t1 -d$DURATION"
for mode in inline queue; do
  dir="$work/$mode"
  DATA_DIR="$dir" "$bin" seed >/dev/null
  # Inline requests wait 2 s each: more connections to collect enough samples.
  conns=2; [ "$mode" = inline ] && conns=16
  DATA_DIR="$dir" PORT=$PORT ADMIN_ADDR=127.0.0.1:0 EMAIL_MODE=$mode SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" \
    JOBS_EMAIL_CONCURRENCY=64 "$bin" serve & pid=$!
  wait_up "http://127.0.0.1:$PORT/api/health/ping"
  if [ "$mode" = inline ]; then
    latency "register-inline" bench/lua/register.lua "$conns" /api/auth/register
  else
    # Interleaved rounds: the machine is shared, compare medians.
    for round in $(seq 1 "${ROUNDS:-3}"); do
      latency "register-queue-$round" bench/lua/register.lua "$conns" /api/auth/register
      latency "login-hashing-$round" bench/lua/login.lua "$conns" /api/auth/login
    done
  fi
  kill $pid; wait $pid 2>/dev/null || true
done

throughput() { # label, env...
  local label=$1; shift
  local dir="$work/tp-$label" ops=$((PORT + 100))
  env DATA_DIR="$dir" "$@" "$bin" jobs-push-noop --count "$COUNT" >/dev/null
  local start end done=0
  start=$(date +%s.%N)
  env DATA_DIR="$dir" "$@" "$bin" worker --queues noop --ops-addr "127.0.0.1:$ops" & local pid=$!
  while [ "$done" -lt "$COUNT" ]; do
    sleep 0.05
    done=$(curl -fs "http://127.0.0.1:$ops/metrics" 2>/dev/null \
      | awk '/^nyaya_jobs_total/ && /queue="noop"/ && /outcome="completed"/ {print $2}' | head -1)
    done=${done:-0}
    if [ "$(echo "$(date +%s.%N) - $start > 300" | bc)" = 1 ]; then echo "timeout" >&2; break; fi
  done
  end=$(date +%s.%N)
  kill $pid; wait $pid 2>/dev/null || true
  printf '%-18s %8d jobs in %6.2f s = %8.0f jobs/s\n' "$label" "$done" "$(echo "$end - $start" | bc)" "$(echo "$done / ($end - $start)" | bc -l)"
}

echo "# no-op jobs, one nyaya worker, JOBS_NOOP_CONCURRENCY=${JOBS_NOOP_CONCURRENCY:-512}"
throughput sqlite JOBS_BACKEND=sqlite
if [ -n "${BENCH_REDIS_URL:-}" ]; then
  throughput redis JOBS_BACKEND=redis REDIS_URL="$BENCH_REDIS_URL" REDIS_PREFIX="nyaya-bench-$$:"
fi
