#!/usr/bin/env bash
# Builds the two tool images offline, the runtime stages of deploy/Dockerfile.ccloud-keys and
# deploy/Dockerfile.reseal without a registry (their debian-slim + git + the binary, reduced to
# what runs): the release binary at /usr/local/bin + git from this machine's Debian `git`
# package (/usr/bin/git, /usr/lib/git-core/git, git-remote-http/https for https URLs, the
# templates) + the shared libraries `ldd` lists for all of them + /etc/passwd and /etc/group
# naming nonroot (65532) + the CA bundle; user 65532:65532, the Dockerfiles' entrypoints. Written
# with tests/node/oci-image.py as OCI archives for `node.sh import`.
#   tests/node/tool-images.sh OUT_DIR
#     OUT_DIR/ccloud-keys.tar  localhost/sealed-secrets-rs-ccloud-keys:dev  (entrypoint ccloud-keys)
#     OUT_DIR/reseal.tar       localhost/sealed-secrets-rs-reseal:dev       (entrypoint kubeseal)
# Uses $CARGO_TARGET_DIR like cargo (`cargo build --release --locked -p ccloud-keys -p kubeseal`
# first, a no-op when up to date). The last line of stdout names both archives.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
[[ -n ${1:-} ]] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
OUT=$(realpath -m -- "$1")
CCLOUD_REF=${CCLOUD_KEYS_REF:-localhost/sealed-secrets-rs-ccloud-keys:dev}
RESEAL_REF=${RESEAL_REF:-localhost/sealed-secrets-rs-reseal:dev}
log() { printf '[node/tool-images] %s\n' "$*" >&2; }
die() { printf '[node/tool-images] error: %s\n' "$*" >&2; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# git as the Debian package installs it; the helpers clone/commit/push run (builtins re-exec
# /usr/lib/git-core/git) and the https transport for users' https URLs.
GIT_FILES=(/usr/bin/git /usr/lib/git-core/git /usr/lib/git-core/git-remote-http)
for f in "${GIT_FILES[@]}" /usr/lib/git-core/git-remote-https; do
  [[ -e $f ]] || die "$f missing: apt-get install git"
done

t0=$(date +%s.%N)
(cd "$ROOT" && nice -n 10 cargo build --release --locked -p ccloud-keys -p kubeseal >&2) ||
  die "cargo build --release -p ccloud-keys -p kubeseal failed"
target=${CARGO_TARGET_DIR:-$ROOT/target}
t1=$(date +%s.%N)

work=$(mktemp -d "${TMPDIR:-/tmp}/tool-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"

# image NAME BINARY REF: the rootfs in $work/NAME, the archive OUT/NAME.tar.
image() {
  local name=$1 bin=$2 ref=$3 rootfs=$work/$1 libs l
  [[ -x $bin ]] || die "$bin missing after the build"
  install -D -m 0755 "$bin" "$rootfs/usr/local/bin/$(basename "$bin")"
  install -D -m 0755 /usr/bin/git "$rootfs/usr/bin/git"
  # The same program: a link, not a second copy.
  mkdir -p "$rootfs/usr/lib/git-core"
  cmp -s /usr/bin/git /usr/lib/git-core/git || die "/usr/lib/git-core/git is not /usr/bin/git"
  ln -s ../../bin/git "$rootfs/usr/lib/git-core/git"
  install -m 0755 /usr/lib/git-core/git-remote-http "$rootfs/usr/lib/git-core/git-remote-http"
  ln -s git-remote-http "$rootfs/usr/lib/git-core/git-remote-https"
  if [[ -d /usr/share/git-core/templates ]]; then
    mkdir -p "$rootfs/usr/share/git-core"
    cp -a /usr/share/git-core/templates "$rootfs/usr/share/git-core/"
  fi
  # Every library the loader needs for any of the programs, at the path ldd resolved.
  libs=$(for b in "$bin" "${GIT_FILES[@]}"; do ldd "$b"; done |
    awk '$2 == "=>" && $3 ~ "^/" { print $3 } $1 ~ "^/" { print $1 }' | sort -u)
  [[ -n $libs ]] || die "ldd listed no libraries"
  for l in $libs; do
    install -D -m 0755 "$(realpath "$l")" "$rootfs$l"
  done
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot"
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] || die "no /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  python3 "$HERE/oci-image.py" --rootfs "$rootfs" --ref "$ref" \
    --entrypoint "/usr/local/bin/$(basename "$bin")" --user 65532:65532 --out "$OUT/$name.tar"
  log "$ref: $OUT/$name.tar $(du -h "$OUT/$name.tar" | cut -f1) archive, rootfs $(du -sh "$rootfs" | cut -f1) ($(wc -w <<<"$libs") libraries)"
}
image ccloud-keys "$target/release/ccloud-keys" "$CCLOUD_REF"
image reseal "$target/release/kubeseal" "$RESEAL_REF"
t2=$(date +%s.%N)
log "cargo $(secs "$t0" "$t1")s, images $(secs "$t1" "$t2")s"
echo "$OUT/ccloud-keys.tar $OUT/reseal.tar"
