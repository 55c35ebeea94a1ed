#!/usr/bin/env bash
# Worker replacement (issue 7): how soon `nyaya serve --workers 2` has a worker killed with
# SIGKILL replaced and serving again, measured from the kill until /cluster/status shows a new
# pid online in that slot. ROUNDS kills, alternating the slots; prints every round, then the
# median and the maximum. tests/cluster.rs checks that a killed worker is replaced and costs
# almost no request; how soon is this script's figure (docs/scaling.md: restarted at once the
# first time).
#
#   bench/restart.sh
#   ROUNDS=20 NYAYA_BIN=target/debug/nyaya bench/restart.sh
#
# Needs Redis (two workers) and python3. Loopback only; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-10}
PORT=${PORT:-5086}
OPS_PORT=${OPS_PORT:-5087}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
OUT=${OUT:-bench/results}
mkdir -p "$OUT"

# NYAYA_BIN: an already built binary (skips the build).
if [ -z "${NYAYA_BIN:-}" ]; then cargo build --release -q; fi
NYAYA_BIN=${NYAYA_BIN:-./target/release/nyaya}

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export RATE_LIMIT_MAX_REQUESTS=1000000000 RUST_LOG=warn HOST=127.0.0.1 REDIS_URL PORT
export JWT_SECRET=bench-access JWT_REFRESH_SECRET=bench-refresh
export DATA_DIR="$work" DATABASE_URL="sqlite://$work/nyaya.db?mode=rwc"
export ADMIN_ADDR="127.0.0.1:$OPS_PORT" REDIS_PREFIX="bench-restart-$$:"
# A restart window shorter than the pause between two kills: every kill is a slot's first
# crash, which the supervisor restarts at once (no backoff), as after a real, rare crash.
"$NYAYA_BIN" serve --workers 2 --restart-window 1s > "$work/server.log" 2>&1 &
server=$!

python3 - "$OPS_PORT" "$ROUNDS" "$OUT/restart.txt" <<'PY' || { echo "--- server log ---"; cat "$work/server.log"; exit 1; }
import json, os, signal, statistics, sys, time, urllib.request

ops, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def status():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ops}/cluster/status", timeout=5) as r:
            return json.load(r)
    except OSError:
        return None

def slot(s, i):
    return next((w for w in s["workers"] if w["id"] == i and w["status"] != "draining"), None)

def wait(what, done, within=30.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        s = status()
        if s and done(s):
            return s
        time.sleep(0.002)
    sys.exit(f"timed out waiting for {what}")

both_online = lambda s: len(s["workers"]) == 2 and all(w["status"] == "online" for w in s["workers"])
s = wait("two workers online", both_online, 60)
lines = [f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cores; SIGKILL of one worker until its replacement is online"]
times = []
for n in range(rounds):
    i = n % 2
    victim = slot(s, i)["pid"]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    replaced = lambda s: (w := slot(s, i)) is not None and w["pid"] not in (None, victim) and w["status"] == "online"
    s = wait(f"worker {i} to be replaced", replaced)
    ms = (time.monotonic() - killed) * 1000
    times.append(ms)
    lines.append(f"round {n + 1}: worker {i} replaced in {ms:.0f} ms")
    time.sleep(1.5)  # past the restart window: the next kill is again a first crash
    s = wait("two workers online", both_online)
lines.append(f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms over {rounds} kills")
print("\n".join(lines))
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
PY
