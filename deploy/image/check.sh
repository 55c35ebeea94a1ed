#!/usr/bin/env bash
# Checks the nyaya container image. Builds it first (deploy/image/build.sh, with the same
# PROFILE / NYAYA_BIN / IMAGE settings; SKIP_BUILD=1 checks an existing IMAGE), then:
#
# 1. configuration (`podman image inspect`): a non-root user, the /data volume, PORT exposed,
#    `nyaya serve` as the command, the health check, DATA_DIR=/data and an ops listener that
#    probes can reach;
#    and deploy/kubernetes/deployment.yaml runs it so (image, user, volume, ports, probe);
# 2. contents (`podman export`): the binary and nothing but its loader, libraries, passwd,
#    group, nsswitch.conf and CA certificates; /data owned by the image's user; /tmp 1777;
# 3. a run: `nyaya serve` in the image must answer /api/health/ping and /ready, the image's own
#    health check command must pass, `nyaya backup` and `nyaya backup --verify` must work
#    inside it, and SIGTERM must stop it with status 0. How it runs (RUN):
#      podman   `podman run --network host`. Sandboxes that may not raise resource limits need
#               runc and explicit --ulimit values: the attempts are listed in the output.
#      extract  the exported filesystem, the image's command started in it with chroot as the
#               image's user and environment (needs root): for machines where no container
#               can start.
#      auto     (default) podman, else extract.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
export IMAGE=${IMAGE:-localhost/nyaya:$version}
PODMAN=${PODMAN:-podman}
RUN=${RUN:-auto}
case $RUN in auto | podman | extract) ;; *) echo "check.sh: RUN must be auto, podman or extract" >&2; exit 2 ;; esac

if [ "${SKIP_BUILD:-}" != 1 ]; then
  deploy/image/build.sh
fi

work=$(mktemp -d)
container=
volume=
server=
cleanup() {
  if [ -n "$server" ]; then kill -KILL "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "$container" ]; then "$PODMAN" rm -f -v "$container" >/dev/null 2>&1 || true; fi
  if [ -n "$volume" ]; then "$PODMAN" volume rm -f "$volume" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check.sh: FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- 1. configuration ----
"$PODMAN" image inspect "$IMAGE" > "$work/inspect.json" || fail "no image $IMAGE"
python3 - "$work/inspect.json" <<'PY' || fail "image configuration"
import json, sys
image = json.load(open(sys.argv[1]))[0]
config = image["Config"]
env = dict(e.split("=", 1) for e in config.get("Env", []))
health = image.get("Healthcheck") or config.get("Healthcheck") or {}
checks = [
    ("runs as a non-root user", config.get("User", "") not in ("", "0", "root") and not config.get("User", "").startswith(("0:", "root:"))),
    ("declares the /data volume", "/data" in (config.get("Volumes") or {})),
    ("DATA_DIR is /data", env.get("DATA_DIR") == "/data"),
    ("exposes PORT", f"{env.get('PORT')}/tcp" in (config.get("ExposedPorts") or {})),
    ("binds the public port on every interface", env.get("HOST") == "0.0.0.0"),
    ("binds the ops listener where probes reach it", env.get("ADMIN_ADDR", "").startswith("0.0.0.0:")),
    ("entrypoint is nyaya", config.get("Entrypoint") == ["/usr/local/bin/nyaya"]),
    ("command is serve", config.get("Cmd") == ["serve"]),
    ("health check runs nyaya healthcheck", health.get("Test") == ["CMD", "/usr/local/bin/nyaya", "healthcheck"]),
    ("stops with SIGTERM", config.get("StopSignal") in (None, "SIGTERM", "15")),
]
for name, ok in checks:
    print(f"  {'ok  ' if ok else 'FAIL'} {name}")
print(f"  user {config.get('User')}, env {sorted(env)}, health {health}")
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["Config"]["User"])' "$work/inspect.json")
uid=${user%%:*}
size=$("$PODMAN" image inspect --format '{{.Size}}' "$IMAGE")
echo "check.sh: configuration of $IMAGE ok ($(( size / 1024 / 1024 )) MiB)"

# ---- the Kubernetes manifest runs this image as it is meant to ----
python3 - "$work/inspect.json" deploy/kubernetes/deployment.yaml "$version" <<'PY' || fail "deploy/kubernetes/deployment.yaml does not match the image"
import json, sys
try:
    import yaml
except ImportError:
    print("  (python3-yaml missing: manifest not checked)")
    sys.exit(0)
image = json.load(open(sys.argv[1]))[0]
config = image["Config"]
env = dict(e.split("=", 1) for e in config.get("Env", []))
version = sys.argv[3]
deployment = next(d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d.get("kind") == "Deployment")
pod = deployment["spec"]["template"]["spec"]
container = next(c for c in pod["containers"] if c["name"] == "nyaya")
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
menv = {e["name"]: e.get("value") for e in container.get("env", [])}
uid = int(config["User"].split(":")[0])
data_dir = menv.get("DATA_DIR", env["DATA_DIR"])
checks = [
    (f"names the image nyaya:{version}", container["image"].rsplit("/", 1)[-1] == f"nyaya:{version}"),
    ("runs nyaya serve", container.get("args", ["serve"])[0] == "serve"),
    ("runs as the image's user", pod.get("securityContext", {}).get("runAsUser") == uid),
    ("mounts the image's data volume", set(config.get("Volumes") or {}) <= mounts and data_dir in mounts),
    ("http port is PORT", ports.get("http") == int(menv.get("PORT", env["PORT"]))),
    ("ops port is ADMIN_ADDR's", ports.get("ops") == int(menv.get("ADMIN_ADDR", env["ADMIN_ADDR"]).rsplit(":", 1)[1])),
    ("readiness asks /ready on the ops port", container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "ops"}),
]
for name, ok in checks:
    print(f"  {'ok  ' if ok else 'FAIL'} manifest {name}")
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY

# ---- 2. contents ----
fs=$work/rootfs
mkdir -p "$fs"
container=$("$PODMAN" create "$IMAGE")
"$PODMAN" export "$container" | tar -x -C "$fs"
"$PODMAN" rm -f -v "$container" >/dev/null
container=
(cd "$fs" && find . -mindepth 1 \( -type f -o -type l \) | sort) > "$work/files"
echo "check.sh: image files:"; sed 's/^/  /' "$work/files"
unexpected=$(grep -Ev '^\./(usr/local/bin/nyaya|lib(64)?/.*\.so(\.[0-9]+)*|etc/(passwd|group|nsswitch\.conf|ssl/certs/ca-certificates\.crt))$' "$work/files" || true)
[ -z "$unexpected" ] || fail "files beyond the binary and what it needs: $unexpected"
[ -x "$fs/usr/local/bin/nyaya" ] || fail "no executable /usr/local/bin/nyaya"
grep -q "^[^:]*:x:$uid:" "$fs/etc/passwd" || fail "uid $uid is not in /etc/passwd"
[ "$(stat -c %u "$fs/data")" = "$uid" ] || fail "/data is not owned by uid $uid"
[ "$(stat -c %a "$fs/tmp")" = 1777 ] || fail "/tmp is not 1777"
[ -s "$fs/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA certificates"
[ ! -e "$fs/bin/sh" ] || fail "the image has a shell"
echo "check.sh: contents ok"

# ---- 3. a run ----
port=$(free_port)
ops=$(free_port)
wait_ready() { # $1: what, $2: log command
  for _ in $(seq 1 300); do
    if curl -fsS -m 2 "http://127.0.0.1:$ops/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  eval "$2" >&2 || true
  fail "$1 did not become ready"
}
probe() {
  curl -fsS -m 5 "http://127.0.0.1:$port/api/health/ping" | grep -q '"database":"healthy"' || fail "/api/health/ping"
  curl -fsS -m 5 "http://127.0.0.1:$ops/ready" | grep -q ready || fail "/ready"
}

run_podman() {
  local hard attempt started=
  hard=$(ulimit -Hn)
  volume=nyaya-check-$$
  "$PODMAN" volume create "$volume" >/dev/null
  local -a attempts=("" "--ulimit nofile=$hard:$hard --ulimit nproc=4096:4096")
  if command -v runc >/dev/null 2>&1; then
    attempts+=("--runtime runc --ulimit nofile=$hard:$hard --ulimit nproc=4096:4096")
  fi
  for attempt in "${attempts[@]}"; do
    container=nyaya-check-$$
    # shellcheck disable=SC2086 # the attempt's flags are words
    if "$PODMAN" run -d --name "$container" --network host -v "$volume:/data" \
        -e PORT="$port" -e ADMIN_ADDR="127.0.0.1:$ops" -e HOST=127.0.0.1 -e NO_COLOR=1 \
        $attempt "$IMAGE" > "$work/run.out" 2> "$work/run.err"; then
      echo "check.sh: podman run ${attempt:-(no extra flags)}: started"
      started=1
      break
    fi
    echo "check.sh: podman run ${attempt:-(no extra flags)}: $(grep -v 'systemd' "$work/run.err" | tail -n 1)"
    "$PODMAN" rm -f -v "$container" >/dev/null 2>&1 || true
    container=
  done
  [ -n "$started" ] || return 3
  wait_ready "the container" "$PODMAN logs $container"
  probe
  "$PODMAN" healthcheck run "$container" >/dev/null 2>&1 || fail "podman healthcheck run: $("$PODMAN" inspect --format '{{json .State.Health}}' "$container")"
  "$PODMAN" exec "$container" /usr/local/bin/nyaya backup /data/check-backup | sed 's/^/  /'
  "$PODMAN" exec "$container" /usr/local/bin/nyaya backup --verify /data/check-backup >/dev/null || fail "backup --verify in the container"
  "$PODMAN" stop -t 20 "$container" >/dev/null 2>&1
  code=$("$PODMAN" inspect --format '{{.State.ExitCode}}' "$container")
  [ "$code" = 0 ] || { "$PODMAN" logs "$container" >&2; fail "the container stopped with status $code"; }
  echo "check.sh: podman run ok (healthy, backup taken inside, stopped with status 0)"
}

run_extract() {
  [ "$(id -u)" = 0 ] || fail "RUN=extract needs root (chroot into the image's filesystem as its user)"
  local chroot_bin
  chroot_bin=$(command -v chroot)
  # The image's environment, with loopback ports of our own.
  mapfile -t image_env < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))[0]["Config"].get("Env", [])))' "$work/inspect.json")
  local -a in_image=(env -i "${image_env[@]}" PORT="$port" ADMIN_ADDR="127.0.0.1:$ops" HOST=127.0.0.1 NO_COLOR=1
    "$chroot_bin" --userspec="$user" "$fs")
  "${in_image[@]}" /usr/local/bin/nyaya --version
  "${in_image[@]}" /usr/local/bin/nyaya serve > "$work/serve.log" 2>&1 &
  server=$!
  wait_ready "nyaya in the extracted image" "cat $work/serve.log"
  probe
  mapfile -t health < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))[0]["Healthcheck"]["Test"][1:]))' "$work/inspect.json")
  "${in_image[@]}" "${health[@]}" || fail "the image's health check command"
  "${in_image[@]}" /usr/local/bin/nyaya backup /data/check-backup | sed 's/^/  /'
  "${in_image[@]}" /usr/local/bin/nyaya backup --verify /data/check-backup >/dev/null || fail "backup --verify in the image"
  kill -TERM "$server"
  local code=0
  wait "$server" || code=$?
  server=
  [ "$code" = 0 ] || { cat "$work/serve.log" >&2; fail "nyaya stopped with status $code"; }
  echo "check.sh: extracted image ok (served as uid $uid in its own filesystem, healthy, backup taken, stopped with status 0)"
}

case $RUN in
  podman) run_podman || fail "no podman run attempt could start a container" ;;
  extract) run_extract ;;
  auto)
    status=0
    run_podman || status=$?
    if [ "$status" = 3 ]; then
      echo "check.sh: containers cannot start on this machine: running the extracted image instead"
      run_extract
    fi
    ;;
esac
echo "check.sh: $IMAGE passed"
