#!/usr/bin/env bash
# The plan's before/after table (issue 8): bench/scale.sh for each database, mode and size,
# then one summary table (bench/plan_table.py) in OUT/table.md.
#
#   bench/plan.sh                                  # SIZES="1000 10000", both databases
#   SIZES="1000 10000 50000" DBS=sqlite DURATION=60s bench/plan.sh
#   WARMUP=60s bench/plan.sh                       # server counters after a warm-up (scale.sh)
#
# "before" runs only up to BEFORE_MAX users: one process holds about 20,000 sockets here.
set -uo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000"}
DBS=${DBS:-"sqlite postgres"}
DURATION=${DURATION:-60s}
BEFORE_MAX=${BEFORE_MAX:-19000}
OUT=${OUT:-bench/results/plan-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
[ -n "${SKIP_BUILD:-}" ] || cargo build -q --release -p nyaya -p nyaya-load
runs=()
for db in $DBS; do
  for users in $SIZES; do
    before=
    if [ "$users" -le "$BEFORE_MAX" ]; then
      before="$OUT/before-$db-$users"
      SKIP_BUILD=1 MODE=before DB=$db USERS=$users DURATION=$DURATION OUT=$before bench/scale.sh > "$before.log" 2>&1
      echo "before $db $users: exit $?"
      runs+=("$before")
    fi
    after="$OUT/after-$db-$users"
    BASELINE=${before:+$before/results.json} SKIP_BUILD=1 MODE=after DB=$db USERS=$users DURATION=$DURATION OUT=$after \
      bench/scale.sh > "$after.log" 2>&1
    echo "after $db $users: exit $?"
    runs+=("$after")
  done
done
python3 bench/plan_table.py "${runs[@]}" | tee "$OUT/table.md"
