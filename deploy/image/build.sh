#!/usr/bin/env bash
# Builds the nyaya container image (Containerfile at the repository root) without pulling
# anything: stages the binary, exactly the shared libraries it links (as ldd resolves them),
# /etc/passwd and /etc/group with the nyaya user (uid 10001), the CA certificates, an empty
# /tmp and /data, then runs `podman build`.
#
#   deploy/image/build.sh                           # cargo build --release; image localhost/nyaya:<version>
#   PROFILE=debug deploy/image/build.sh             # the debug binary (CI: already built for the tests)
#   NYAYA_BIN=path/to/nyaya deploy/image/build.sh   # a prebuilt binary; no cargo
#   IMAGE=registry.example.org/nyaya:0.1.0 deploy/image/build.sh
#
# Other settings: CONTEXT=dir keeps the staged build context there (default: a temporary
# folder, removed); STRIP=0 keeps the binary's symbols; PODMAN (default podman).
# No time zone data is staged: nyaya keeps and prints every time in UTC.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROFILE=${PROFILE:-release}
PODMAN=${PODMAN:-podman}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE=${IMAGE:-localhost/nyaya:$version}

if ! command -v "$PODMAN" >/dev/null 2>&1; then
  echo "build.sh: $PODMAN is not installed (apt-get install -y podman)" >&2
  exit 2
fi
if [ ! -r /etc/ssl/certs/ca-certificates.crt ]; then
  echo "build.sh: /etc/ssl/certs/ca-certificates.crt is missing (apt-get install -y ca-certificates)" >&2
  exit 2
fi

if [ -z "${NYAYA_BIN:-}" ]; then
  case $PROFILE in
    release) cargo build --release --locked -p nyaya --bin nyaya ;;
    debug) cargo build --locked -p nyaya --bin nyaya ;;
    *) echo "build.sh: PROFILE must be release or debug" >&2; exit 2 ;;
  esac
  NYAYA_BIN=target/$PROFILE/nyaya
fi
[ -x "$NYAYA_BIN" ] || { echo "build.sh: $NYAYA_BIN is not an executable" >&2; exit 2; }

if [ -n "${CONTEXT:-}" ]; then
  ctx=$CONTEXT
  rm -rf "$ctx"
  mkdir -p "$ctx"
else
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
fi
root=$ctx/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$ctx/data"
chmod 1777 "$root/tmp"
chmod 755 "$root" "$root/usr" "$root/usr/local" "$root/usr/local/bin" "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs"

install -m 755 "$NYAYA_BIN" "$root/usr/local/bin/nyaya"
if [ "${STRIP:-1}" != 0 ] && command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded "$root/usr/local/bin/nyaya"
fi

# The loader and every library, at the paths ldd resolves (the loader searches the same
# default folders inside the image; there is no ld.so.cache).
libs=$(ldd "$NYAYA_BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if ldd "$NYAYA_BIN" | grep -q 'not found'; then
  echo "build.sh: a library of $NYAYA_BIN is missing on this machine:" >&2
  ldd "$NYAYA_BIN" >&2
  exit 2
fi
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nyaya:x:10001:10001:nyaya:/data:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
nyaya:x:10001:
GROUP
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
chmod 644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
install -m 644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp Containerfile "$ctx/Containerfile"

echo "build.sh: $NYAYA_BIN ($PROFILE) with $(echo "$libs" | wc -w) libraries: $(echo $libs)"
"$PODMAN" build --quiet --layers=false --format docker --build-arg "VERSION=$version" --build-arg "PROFILE=$PROFILE" \
  -f "$ctx/Containerfile" -t "$IMAGE" "$ctx" >/dev/null
size=$("$PODMAN" image inspect --format '{{.Size}}' "$IMAGE")
echo "build.sh: built $IMAGE ($(( size / 1024 / 1024 )) MiB)"
