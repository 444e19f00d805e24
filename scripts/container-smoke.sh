#!/usr/bin/env bash
# Build the container image for real and run `stitch-connector demo` inside it, on a Debian machine
# without a Docker engine (CI):
#   1. podman and debootstrap from Debian, if missing;
#   2. a debian:bookworm-slim base made with debootstrap from this machine's Debian mirror, if podman
#      does not have one yet (no registry is needed);
#   3. `podman build --isolation=chroot`, with this machine's CA bundle for pip;
#   4. the image mounted read-only (as Kubernetes' readOnlyRootFilesystem), /proc and /dev bound, tmpfs
#      on /tmp and on the state dir (the volume), then `chroot` as the image's user (10001) with the
#      image's environment, entrypoint and working dir: `stitch-connector demo` must list every member.
# Needs root (podman, mount, chroot). Idempotent: a second run reuses the base and podman's layer cache;
# nothing is kept outside the clone but podman's own storage. Bounded: SMOKE_TIMEOUT seconds in all.
#
# Settings (environment): IMAGE (localhost/stitch-connector:smoke), SMOKE_TIMEOUT (1200),
# SMOKE_MEMBERS (120), DEBIAN_MIRROR (found in /etc/apt/sources.list*), HOST_CA_BUNDLE
# (/etc/ssl/certs/ca-certificates.crt), PIP_INDEX_URL / PIP_EXTRA_INDEX_URL (passed on when http(s)).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-localhost/stitch-connector:smoke}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"  # the Dockerfile's FROM
SUITE="bookworm"
SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-1200}"
MEMBERS="${SMOKE_MEMBERS:-120}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
STATE_DIR="/var/lib/stitch-connector"  # the image's VOLUME
RUN_UID=10001

say() { printf '\033[1m==> [%4ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
left() {  # seconds left of SMOKE_TIMEOUT; fails once it is spent
  local n=$((SMOKE_TIMEOUT - SECONDS))
  [ "$n" -gt 0 ] || die "the smoke ran out of time (SMOKE_TIMEOUT=${SMOKE_TIMEOUT}s)"
  echo "$n"
}
# Run a command within the time left. In the background, so that a signal to this script is handled at
# once (bash runs traps only between commands), and the clean-up can stop it.
CHILD=""
bounded() {
  local n rc=0
  n="$(left)"
  timeout --kill-after=15 "$n" "$@" &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""  # gone: its pid must never be signalled again
  return "$rc"
}

[ "$(id -u)" -eq 0 ] || die "run as root: podman builds, mount and chroot need it (CI runs as root)"
[ "$(uname -s)" = Linux ] || die "Linux only"

# --- clean-up: everything this run mounted or started, whatever happens --------------------------
exec 3>&2  # this script's stderr, for the clean-up: a signal may come while fd 2 is redirected
WORK=""; ROOT=""; IMAGE_MOUNTED=""; BUILDING=""; CONTAINERS_BEFORE=""
cleanup() {
  local rc=$? pid signal in_root
  set +e
  exec 2>&3
  if [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null; then  # timeout(1) passes it on to its command
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.5; done
  fi
  if [ -n "$BUILDING" ]; then  # an interrupted build leaves its working containers behind
    podman ps -a --external -q --no-trunc | sort | comm -13 <(echo "$CONTAINERS_BEFORE") - \
      | xargs -r podman rm -f >/dev/null 2>&1
  fi
  if [ -n "$ROOT" ]; then
    # Processes still inside the chroot (the sandbox; Chromium after a failure) keep the mounts busy.
    for signal in TERM KILL; do
      in_root=()
      for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/root" 2>/dev/null)" != "$ROOT" ] || in_root+=("${pid#/proc/}")
      done
      [ "${#in_root[@]}" -gt 0 ] || break
      kill "-$signal" "${in_root[@]}" 2>/dev/null
      [ "$signal" = KILL ] || sleep 2
    done
    if mountpoint -q "$ROOT"; then umount -R "$ROOT" 2>/dev/null || umount -R -l "$ROOT"; fi
    rmdir "$ROOT" 2>/dev/null
  fi
  [ -n "$IMAGE_MOUNTED" ] && podman image unmount "$IMAGE" >/dev/null 2>&1
  if [ -n "$WORK" ]; then
    # An interrupted debootstrap or build can leave mounts below it.
    findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$WORK"
  fi
  [ "$rc" -eq 0 ] || printf 'error: container smoke test failed (exit %s) after %ss\n' "$rc" "$SECONDS" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/stitch-smoke.XXXXXX")"

# --- 1. tools -----------------------------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  say "Installing ${missing[*]} from Debian"
  bounded env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  bounded env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- 2. the base image --------------------------------------------------------------------------
# The first URI that apt uses for suite $1 (one-line and deb822 sources), else $2.
apt_uri() {
  local found
  found="$(for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
    do [ ! -f "$f" ] || { cat "$f"; echo; }; done | awk -v suite="$1" '
    /^[[:space:]]*#/ { next }
    $1 == "deb" { sub(/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?/, ""); if ($2 == suite) { print $1; exit } ; next }
    /^[[:space:]]*$/ { if (uri != "" && has) { print uri; exit } uri = ""; has = 0; next }
    tolower($1) == "uris:" { uri = $2 }
    tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
    END { if (uri != "" && has) print uri }' | head -n 1)"
  echo "${found:-$2}"
}

if podman image exists "$BASE_IMAGE"; then
  say "Base image $BASE_IMAGE: already in podman's storage"
else
  mirror="${DEBIAN_MIRROR:-$(apt_uri "$SUITE" http://deb.debian.org/debian)}"
  security="$(apt_uri "$SUITE-security" http://deb.debian.org/debian-security)"
  say "Making $BASE_IMAGE with debootstrap from $mirror (a few minutes, once)"
  rootfs="$WORK/rootfs"
  bounded debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  # As the official slim image: apt sources with updates and security, no docs or man pages.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  bounded tar --numeric-owner --xattrs -C "$rootfs" -cf "$WORK/rootfs.tar" .
  rm -rf --one-file-system "$rootfs"
  bounded podman import --change 'CMD ["bash"]' "$WORK/rootfs.tar" "$BASE_IMAGE" >"$WORK/import.log" 2>&1 \
    || { cat "$WORK/import.log" >&2; die "podman import failed"; }
  rm -f "$WORK/rootfs.tar"
fi

# --- 3. the build -------------------------------------------------------------------------------
build_args=()
if [ -f "$HOST_CA_BUNDLE" ]; then
  build_args+=(-v "$HOST_CA_BUNDLE:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
# This machine's pip index, when the build can reach it (a file:// or local one it cannot).
case "${PIP_INDEX_URL:-}" in http://* | https://*) build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL") ;; esac
extra=""
for url in ${PIP_EXTRA_INDEX_URL:-}; do
  case "$url" in http://* | https://*) extra="${extra:+$extra }$url" ;; esac
done
[ -z "$extra" ] || build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra")

say "Building $IMAGE (podman, chroot isolation)"
build_started=$SECONDS
previous="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
CONTAINERS_BEFORE="$(podman ps -a --external -q --no-trunc | sort)"
BUILDING=1
mkdir "$WORK/tmp"  # buildah's own temporary files, removed with $WORK
bounded env TMPDIR="$WORK/tmp" podman build --isolation=chroot --pull=never "${build_args[@]}" \
  -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1 \
  || { tail -n 40 "$WORK/build.log" >&2; die "podman build failed (log above)"; }
BUILDING=""
# The image this build replaced: drop it, so that podman's storage does not grow run after run.
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
say "Built in $((SECONDS - build_started))s: $(podman image inspect --format '{{.Size}}' "$IMAGE" \
  | awk '{printf "%.0f MB", $1 / 1e6}')"

# --- 4. the image's contract --------------------------------------------------------------------
inspect() { podman image inspect --format "$1" "$IMAGE"; }
user="$(inspect '{{.Config.User}}')"
entrypoint="$(inspect '{{json .Config.Entrypoint}}')"
cmd="$(inspect '{{json .Config.Cmd}}')"
workdir="$(inspect '{{.Config.WorkingDir}}')"
volumes="$(inspect '{{json .Config.Volumes}}')"
[ "$user" = "$RUN_UID:$RUN_UID" ] || die "image user is '$user', expected $RUN_UID:$RUN_UID"
[ "$entrypoint" = '["stitch-connector"]' ] || die "image entrypoint is $entrypoint"
[ "$cmd" = '["sync"]' ] || die "image command is $cmd, expected [\"sync\"]"
case "$volumes" in *"\"$STATE_DIR\""*) ;; *) die "image volumes are $volumes, expected $STATE_DIR" ;; esac
mapfile -t image_env < <(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
say "Image: user $user, entrypoint $entrypoint, command $cmd, volume $STATE_DIR"

# --- 5. run the demo inside it ------------------------------------------------------------------
mnt="$(podman image mount "$IMAGE")"
IMAGE_MOUNTED=1
ROOT="$(mktemp -d "${TMPDIR:-/var/tmp}/stitch-smoke-root.XXXXXX")"
mount --bind "$mnt" "$ROOT"
mount --make-rslave "$ROOT"                 # nothing mounted below propagates back to this machine
mount -o remount,bind,ro "$ROOT"            # readOnlyRootFilesystem
[ "$(findmnt -n -o OPTIONS --mountpoint "$ROOT" | cut -d, -f1)" = ro ] || die "could not make the root read-only"
mount --rbind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev"
mount --rbind /proc "$ROOT/proc" && mount --make-rslave "$ROOT/proc"
mount -t tmpfs -o mode=1777,size=1g tmpfs "$ROOT/tmp"  # an emptyDir on Kubernetes
mount -t tmpfs -o "uid=$RUN_UID,gid=$RUN_UID,mode=0700,size=256m" tmpfs "$ROOT$STATE_DIR"  # the volume
# What a container runtime provides: /etc/hosts (the sandbox's sign-in origin is "localhost").
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$WORK/hosts"
mount --bind "$WORK/hosts" "$ROOT/etc/hosts"

home="$(awk -F: -v uid="$RUN_UID" '$3 == uid { print $6 }' "$ROOT/etc/passwd")"
[ -n "$home" ] || die "the image has no user $RUN_UID in /etc/passwd"
EXTRA_ENV=()
image_cmd() {  # IMAGE_CMD: the entrypoint with these arguments, run as a container runtime would
  IMAGE_CMD=(chroot --userspec="$RUN_UID:$RUN_UID" --groups="$RUN_UID" "$ROOT" /usr/bin/env -i
    -C "${workdir:-/}" "${image_env[@]}" HOME="$home" "${EXTRA_ENV[@]}" stitch-connector "$@")
}
in_image() { image_cmd "$@"; bounded "${IMAGE_CMD[@]}"; }

say "In the image: stitch-connector --help"
in_image --help >/dev/null || die "stitch-connector --help failed inside the image"

say "In the image, as uid $RUN_UID on a read-only root: stitch-connector demo --members $MEMBERS"
demo_started=$SECONDS
in_image demo --members "$MEMBERS" --json --state-dir "$STATE_DIR" >"$WORK/demo.json" 2>"$WORK/demo.err" \
  || { rc=$?; cat "$WORK/demo.err" >&2
       [ "$rc" -ne 124 ] || die "stitch-connector demo timed out inside the image (SMOKE_TIMEOUT)"
       die "stitch-connector demo exited $rc inside the image"; }
count="$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["members"]))' "$WORK/demo.json")"
[ "$count" = "$MEMBERS" ] || die "the demo listed $count members, expected $MEMBERS"
session="$ROOT$STATE_DIR/session.json"
[ -f "$session" ] || die "no session.json in the state dir $STATE_DIR"
[ "$(stat -c '%u %a' "$session")" = "$RUN_UID 600" ] \
  || die "session.json is $(stat -c 'owner %u, mode %a' "$session"), expected owner $RUN_UID, mode 600"


# The image's default command, as the CronJob runs it: credentials from mounted files (root:10001,
# 0440, as Kubernetes mounts a Secret with fsGroup), the state dir on the volume, against a sandbox
# started from the same image.
say "In the image: its default command ($cmd) with STITCH_*_FILE secrets, against the sandbox"
sync_started=$SECONDS
image_cmd sandbox --port 0 --login-port 0 --members "$MEMBERS" --mfa totp
"${IMAGE_CMD[@]}" >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &  # stopped by the clean-up
for _ in $(seq 1 60); do
  app_url="$(grep -o 'app: *http://[0-9.:]*' "$WORK/sandbox.err" | grep -o 'http://.*' || true)"
  [ -z "$app_url" ] || break
  sleep 0.5
done
[ -n "$app_url" ] || { cat "$WORK/sandbox.err" >&2; die "the sandbox did not start inside the image"; }
umount "$ROOT$STATE_DIR"  # a new, empty volume: the CronJob's first run
mount -t tmpfs -o "uid=$RUN_UID,gid=$RUN_UID,mode=0700,size=256m" tmpfs "$ROOT$STATE_DIR"
mount -t tmpfs -o mode=0755,size=1m tmpfs "$ROOT/run"
install -d -m 0755 "$ROOT/run/secrets/stitch"
printf %s admin@example.com >"$ROOT/run/secrets/stitch/email"
printf %s sandbox-password >"$ROOT/run/secrets/stitch/password"
printf %s JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP >"$ROOT/run/secrets/stitch/totp-secret"  # the sandbox's
chown "0:$RUN_UID" "$ROOT"/run/secrets/stitch/*
chmod 0440 "$ROOT"/run/secrets/stitch/*
EXTRA_ENV=(STITCH_BASE_URL="$app_url" STITCH_EMAIL_FILE=/run/secrets/stitch/email
  STITCH_PASSWORD_FILE=/run/secrets/stitch/password STITCH_TOTP_SECRET_FILE=/run/secrets/stitch/totp-secret)
for run in first second; do
  in_image sync >"$WORK/sync.out" 2>"$WORK/sync.err" \
    || { rc=$?; cat "$WORK/sync.out" "$WORK/sync.err" >&2; die "the $run sync exited $rc inside the image"; }
done
[ -f "$ROOT$STATE_DIR/snapshots.sqlite3" ] || die "sync stored no snapshots.sqlite3 in $STATE_DIR"

say "OK: as uid $RUN_UID on a read-only root, the demo listed all $MEMBERS members \
($((sync_started - demo_started))s) and two syncs stored snapshots ($((SECONDS - sync_started))s); \
whole smoke ${SECONDS}s"
