#!/usr/bin/env bash
# Builds the controller image offline, the runtime stage of deploy/Dockerfile.controller without a
# registry: scratch + the release binary (also as `controller`, the upstream chart's command) +
# the shared libraries `ldd` lists + /etc/passwd and /etc/group naming nonroot (65532) + the CA
# bundle; user 65532:65532, entrypoint /usr/local/bin/sealed-secrets-controller. Written with
# tests/node/oci-image.py as an OCI archive for `node.sh import` (or `podman load`, `docker load`).
#   tests/node/controller-image.sh [OUT.tar] [REF]
#     OUT  default: $CACHE/images/controller.tar   REF  default: localhost/sealed-secrets-rs-controller:dev
# Uses $CARGO_TARGET_DIR like cargo (`cargo build --release -p sealed-secrets-controller` first,
# which is a no-op when the binary is up to date). The archive path is the last line of stdout.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT=$(realpath -m -- "${1:-$HOME/.cache/sealed-secrets-rs/images/controller.tar}")
REF=${2:-localhost/sealed-secrets-rs-controller:dev}
log() { printf '[node/controller-image] %s\n' "$*" >&2; }
die() { printf '[node/controller-image] error: %s\n' "$*" >&2; exit 1; }

t0=$(date +%s.%N)
(cd "$ROOT" && cargo build --release --locked -p sealed-secrets-controller >&2) || die "cargo build --release -p sealed-secrets-controller failed"
target=${CARGO_TARGET_DIR:-$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}
bin=$target/release/sealed-secrets-controller
[[ -x $bin ]] || die "$bin missing after the build"
t1=$(date +%s.%N)

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/controller-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
install -D -m 0755 "$bin" "$rootfs/usr/local/bin/sealed-secrets-controller"
ln -s sealed-secrets-controller "$rootfs/usr/local/bin/controller"
# Every library the dynamic loader needs, at the path ldd resolved (and the loader itself).
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ "^/" { print $3 } $1 ~ "^/" { print $1 }' | sort -u)
[[ -n $libs ]] || die "ldd $bin listed no libraries (a static binary needs none: drop this check)"
for l in $libs; do
  install -D -m 0755 "$(realpath "$l")" "$rootfs$l"
done
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
mkdir -p "$(dirname "$OUT")"
python3 "$HERE/oci-image.py" --rootfs "$rootfs" --ref "$REF" \
  --entrypoint /usr/local/bin/sealed-secrets-controller --user 65532:65532 --out "$OUT"
t2=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log "$REF: $(du -h "$OUT" | cut -f1) archive, rootfs $(du -sh "$rootfs" | cut -f1); cargo $(secs "$t0" "$t1")s, image $(secs "$t1" "$t2")s"
echo "$OUT"
