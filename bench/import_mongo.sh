#!/usr/bin/env bash
# Import speed of `nyaya import-mongo` (issue 18): generates a dump of the original's shape
# (`nyaya mongo-dump-synthetic`, mongodump's BSON files), imports it into a fresh database,
# then runs the import again (nothing to write: the cost of an idempotent rerun).
#
#   bench/import_mongo.sh                                   # SQLite, 100,000 users, 1,000,000 messages
#   USERS=10000 MESSAGES=100000 bench/import_mongo.sh       # smaller
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/import_mongo.sh
#
# With BENCH_DATABASE_URL (an admin connection) a database nyaya_import_bench is created there
# and dropped afterwards. GZIP=1 writes the dump as `mongodump --gzip` does.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-100000}
MESSAGES=${MESSAGES:-1000000}
PER_CHAT=${PER_CHAT:-50}
# NYAYA_BIN: a binary built elsewhere (then nothing is built).
if [ -n "${NYAYA_BIN:-}" ]; then bin=$NYAYA_BIN; else cargo build --release -q --bin nyaya; bin=$PWD/target/release/nyaya; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RUST_LOG=${RUST_LOG:-warn,sqlx=error} DATA_DIR="$work/data"
gzip_flag=()
[ -n "${GZIP:-}" ] && gzip_flag=(--gzip)

echo "== dump: $USERS users, $MESSAGES messages, $PER_CHAT per chat"
"$bin" mongo-dump-synthetic "$work/dump" --users "$USERS" --messages "$MESSAGES" --per-chat "$PER_CHAT" "${gzip_flag[@]}"
du -sh "$work/dump"

if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  base=${BENCH_DATABASE_URL%/*}
  psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS nyaya_import_bench" -c "CREATE DATABASE nyaya_import_bench"
  export DATABASE_URL="$base/nyaya_import_bench"
  trap 'psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS nyaya_import_bench"; rm -rf "$work"' EXIT
else
  export DATABASE_URL="sqlite://$work/data/nyaya.db?mode=rwc"
fi
"$bin" migrate >/dev/null

echo "== import"
/usr/bin/time -f "wall %es, max RSS %MKB, CPU %P" "$bin" import-mongo "$work/dump"
echo "== second run (nothing to write)"
/usr/bin/time -f "wall %es, max RSS %MKB, CPU %P" "$bin" import-mongo "$work/dump" | grep -E '^(collection|total|took)'
