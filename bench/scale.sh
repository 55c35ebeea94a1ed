#!/usr/bin/env bash
# Proof at scale (issue 8): seeds USERS simulated users, starts nyaya in MODE, runs the load
# scenario (bench/load: citizens, lawyers and admins over HTTP and Socket.IO at human rates)
# for DURATION, and writes OUT/results.md (the table), OUT/results.json and OUT/latency.png.
#
#   bench/scale.sh                                         # after, SQLite, 1000 users, 60s
#   MODE=before USERS=200 DURATION=30s bench/scale.sh
#   MODE=after DB=postgres USERS=10000 DURATION=5m bench/scale.sh
#   BASELINE=bench/results/<before run>/results.json bench/scale.sh   # adds the query cut
#
# MODE   before: CACHE=off, EMAIL_MODE=inline, one process (about 20,000 sockets at most here)
#        after:  cache on, queued email, `nyaya serve --workers WORKERS` (Redis for more than 1)
# DB     sqlite (a new file) or postgres (a new database on PG_ADMIN_URL's server; Redis too)
# Other: WORKERS, OUT, PROFILE (release|debug), SKIP_BUILD=1 (binaries already built),
#        THINK_MIN/THINK_MAX (10s/60s), MIX (e.g. chat=50), PROCS (load processes; by
#        default one per 15,000 users), RAMP (new sockets/s per load process, 500),
#        SOURCE_IPS (client addresses, 16: workers are chosen by address), PORT, OPS_PORT, REDIS_URL,
#        PG_ADMIN_URL, NYAYA_BIN (another nyaya binary, for side-by-side runs), PLOT=0 (no image), WARMUP (e.g. 2m: the users act that long first; server
#        counters, i.e. CPU, database queries and cache hits, are measured after it).
#        RELOAD_AT (e.g. 30s: a rolling reload, SIGHUP to the supervisor, that far into the run;
#        after mode), DROP (e.g. 5%: that share of users drop their connection once mid-run) and
#        DROP_FOR (10s: how long they stay away); sockets resume their sessions (issue 15).
# Exits non-zero on any error, stale read or lost message (3) or when the tool fails.
# Loopback only; every run stops by itself (DURATION plus connecting and draining).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-after}
DB=${DB:-sqlite}
USERS=${USERS:-1000}
DURATION=${DURATION:-60s}
PROFILE=${PROFILE:-release}
PORT=${PORT:-5090}
OPS_PORT=${OPS_PORT:-9190}
THINK_MIN=${THINK_MIN:-10s}
THINK_MAX=${THINK_MAX:-60s}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1/postgres}
case $MODE in before | after) ;; *) echo "MODE must be before or after" >&2; exit 2 ;; esac
case $DB in sqlite | postgres) ;; *) echo "DB must be sqlite or postgres" >&2; exit 2 ;; esac
case $PROFILE in release) target=release build=(--release) ;; debug) target=debug build=() ;;
  *) echo "PROFILE must be release or debug" >&2; exit 2 ;; esac
# A process may hold ~20,000 sockets: more workers when the users need them.
WORKERS=${WORKERS:-$(( USERS > 30000 ? (USERS + 17999) / 18000 : 2 ))}
OUT=${OUT:-bench/results/scale-$MODE-$DB-$USERS-$(date -u +%Y%m%dT%H%M%SZ)}

seconds() { # 90s, 5m, 2h, 500ms -> whole seconds
  local v=$1
  case $v in *ms) echo $(( ${v%ms} / 1000 )) ;; *s) echo "${v%s}" ;; *m) echo $(( ${v%m} * 60 )) ;;
    *h) echo $(( ${v%h} * 3600 )) ;; *) echo "$v" ;; esac
}

if [ "${SKIP_BUILD:-}" != 1 ]; then
  cargo build -q "${build[@]}" -p nyaya -p nyaya-load
fi
NYAYA=${NYAYA_BIN:-./target/$target/nyaya}
LOAD=./target/$target/nyaya-load

mkdir -p "$OUT"
work=$(mktemp -d)
server=
pg_db=
stop_server() { # SIGTERM, then SIGKILL (the workers too) if it has not stopped within 30s
  kill -TERM "$server" 2>/dev/null || return 0
  for _ in $(seq 1 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server" 2>/dev/null; then
    echo "scale.sh: nyaya did not stop within 30s of SIGTERM: killing it" >&2
    pkill -KILL -P "$server" 2>/dev/null || true
    kill -KILL "$server" 2>/dev/null || true
  fi
  wait "$server" 2>/dev/null || true
}
cleanup() {
  if [ -n "$server" ]; then stop_server; fi
  if [ -n "$pg_db" ]; then psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  if [ -n "${REDIS_PREFIX:-}" ] && command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" | tr '\n' '\0' |
      xargs -0 -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null || true
  fi
  cp "$work/server.log" "$OUT/server.log" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$(ulimit -Hn)"
export JWT_SECRET=scale-access-secret JWT_REFRESH_SECRET=scale-refresh-secret
export RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=${RUST_LOG:-warn} HOST=127.0.0.1 PORT
export ADMIN_ADDR=127.0.0.1:$OPS_PORT DATA_DIR=$work/data
unset REDIS_PREFIX
if [ "$DB" = postgres ]; then
  pg_db=nyaya_scale_$$
  psql -q "$PG_ADMIN_URL" -c "CREATE DATABASE $pg_db" >/dev/null
  export DATABASE_URL=${PG_ADMIN_URL%/*}/$pg_db
else
  export DATABASE_URL="sqlite://$work/nyaya.db?mode=rwc"
fi
serve=(serve)
if [ "$MODE" = before ]; then
  export CACHE=off EMAIL_MODE=inline
else
  export CACHE=on EMAIL_MODE=queue
  serve+=(--workers "$WORKERS")
fi
if [ "$DB" = postgres ] || { [ "$MODE" = after ] && [ "$WORKERS" -gt 1 ]; }; then
  export REDIS_URL REDIS_PREFIX=scale-$$-
else
  unset REDIS_URL
fi

# The mix of the platform's users: mostly citizens, a tenth lawyers, a few admins.
admins=$(( USERS / 500 > 0 ? USERS / 500 : 1 ))
lawyers=$(( USERS / 10 > 2 ? USERS / 10 : 2 ))
citizens=$(( USERS - lawyers - admins ))
pending=$(( USERS / 50 > 10 ? USERS / 50 : 10 ))
"$NYAYA" seed-bench --citizens "$citizens" --lawyers "$lawyers" --pending "$pending" --admins "$admins" \
  --out "$work/accounts.jsonl"

"$NYAYA" "${serve[@]}" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  curl -fs "127.0.0.1:$PORT/api/health/ping" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "nyaya did not start:"; cat "$work/server.log"; exit 1; }
  sleep 0.2
done
curl -fs "127.0.0.1:$PORT/api/health/ping" >/dev/null || { echo "nyaya did not answer"; exit 1; }

label=(--label "mode=$MODE" --label "db=$DB" --label "profile=$PROFILE")
if [ "$MODE" = after ]; then label+=(--label "workers=$WORKERS"); fi
extra=()
if [ -n "${BASELINE:-}" ]; then extra+=(--baseline "$BASELINE"); fi
if [ -n "${MIX:-}" ]; then extra+=(--mix "$MIX"); fi
if [ -n "${PROCS:-}" ]; then extra+=(--procs "$PROCS"); fi
if [ -n "${RAMP:-}" ]; then extra+=(--ramp "$RAMP"); fi
if [ -n "${WARMUP:-}" ]; then extra+=(--warmup "$WARMUP"); fi
if [ -n "${SOURCE_IPS:-}" ]; then extra+=(--source-ips "$SOURCE_IPS"); fi
if [ -n "${RELOAD_AT:-}" ]; then
  [ "$MODE" = after ] || { echo "RELOAD_AT needs MODE=after (a supervisor to reload)" >&2; exit 2; }
  extra+=(--reload-at "$RELOAD_AT")
fi
if [ -n "${DROP:-}" ]; then extra+=(--drop "$DROP"); fi
if [ -n "${DROP_FOR:-}" ]; then extra+=(--drop-for "$DROP_FOR"); fi
# Bound: connecting (at RAMP per process, plus timeouts), the run, the drain.
limit=$(( $(seconds "$DURATION") + $(seconds "${WARMUP:-0s}") + USERS / ${RAMP:-500} + 300 ))
status=0
timeout "$limit" "$LOAD" --url "http://127.0.0.1:$PORT" --accounts "$work/accounts.jsonl" \
  --duration "$DURATION" --think-min "$THINK_MIN" --think-max "$THINK_MAX" --out "$OUT" \
  --server-pid "$server" --metrics "http://$ADMIN_ADDR/metrics" "${label[@]}" "${extra[@]}" || status=$?

# Redis memory of the run's Socket.IO recovery (sessions and event logs) and of all its keys,
# right after the run (the load client's sessions are kept for the window).
if [ -n "${REDIS_PREFIX:-}" ] && command -v redis-cli >/dev/null; then
  redis_usage() { # "<keys> <bytes>" of the keys matching $1
    redis-cli -u "$REDIS_URL" --scan --pattern "$1" | awk '{print "MEMORY USAGE " $0}' |
      redis-cli -u "$REDIS_URL" | awk '{n++; b+=$1} END {print n+0, b+0}'
  }
  read -r rec_keys rec_bytes <<< "$(redis_usage "${REDIS_PREFIX}sio:rec:*")"
  read -r all_keys all_bytes <<< "$(redis_usage "${REDIS_PREFIX}*")"
  printf 'redis: recovery keys %s, %s bytes; all keys of the run %s, %s bytes\n' \
    "$rec_keys" "$rec_bytes" "$all_keys" "$all_bytes" | tee "$OUT/redis.txt"
fi

if ! kill -0 "$server" 2>/dev/null; then
  echo "nyaya exited during the run:"; tail -n 50 "$work/server.log"
  [ "$status" = 0 ] && status=1
fi
if [ "${PLOT:-1}" != 0 ] && [ -f "$OUT/results.json" ]; then
  python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q matplotlib >/dev/null 2>&1 || true
  python3 bench/plot.py "$OUT/results.json" "$OUT/latency.png" || echo "scale.sh: no plot (matplotlib unavailable)" >&2
fi
echo "results: $OUT/results.md"
exit "$status"
