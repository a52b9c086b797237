#!/usr/bin/env bash
# Installs the parts of a single-node Kubernetes v1.20.2 cluster that the control-plane
# installer (tests/envtest/install.sh: kube-apiserver, kubectl, kube-controller-manager, etcd)
# does not: kubelet, kube-scheduler and kube-proxy built from Debian's `kubernetes` source, a
# pause image built from the same source (build/pause/linux/pause.c, gcc -static), and
# containerd, runc and the CNI plugins from Debian. See tests/node/README.md.
#
# Idempotent: with everything cached (~/.cache/sealed-secrets-rs/k8s-1.20.2/node) it takes well
# under a second. The node directory is printed as the LAST line of stdout:
#   NODE_ASSETS=$(tests/node/install.sh | tail -1)
# Progress goes to stderr. A cold install takes about 7-10 minutes on 2 cores.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT="${HOME:?HOME must be set}/.cache/sealed-secrets-rs"
PREFIX="$CACHE_ROOT/k8s-$K8S_VERSION"
NODE_DIR="$PREFIX/node"
BINARIES=(kubelet kube-scheduler kube-proxy)
APT_PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 conntrack curl openssl
  busybox-static git gcc libc6-dev golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
PAUSE_REF=localhost/pause:3.4
HERE="$(cd "$(dirname "$0")" && pwd)"

log() { printf '[node/install] %s\n' "$*" >&2; }
die() { printf '[node/install] ERROR: %s\n' "$*" >&2; exit 1; }

has_packages() { # one dpkg-query for all (the warm path stays well under a second)
  local n
  n=$(dpkg-query -W -f='${Status}\n' "${APT_PACKAGES[@]}" 2>/dev/null | grep -c '^install ok installed$' || true)
  [[ $n -eq ${#APT_PACKAGES[@]} ]]
}
has_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$NODE_DIR/bin/$b" ]] || return 1; done
  [[ -s "$NODE_DIR/pause.tar" ]]
}

# The control plane first (its own cache and lock); also provides kube-controller-manager.
"$HERE/../envtest/install.sh" >/dev/null

if has_all && has_packages; then
  log "node binaries present in $NODE_DIR"
  echo "$NODE_DIR"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/k8s-$K8S_VERSION-node.lock"
if ! flock -n 9; then
  log "another install is running; waiting for its lock"
  flock 9
fi
[[ "$(id -u)" -eq 0 ]] || die "must run as root (apt-get, and later the node itself)"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if has_all; then
  log "node binaries present in $NODE_DIR"
  echo "$NODE_DIR"
  exit 0
fi

# Same source and the same fixes as tests/envtest/install.sh (which added the deb-src entry).
BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/node-k8s-build.XXXXXX")
cleanup() { rm -rf "$BUILD_DIR" "$NODE_DIR.tmp"; }
trap cleanup EXIT
cd "$BUILD_DIR"
log "apt-get source --download-only kubernetes (into $BUILD_DIR)"
apt-get source --download-only kubernetes >&2 || { apt-get update -qq >&2; apt-get source --download-only kubernetes >&2; }
orig=$(find . -maxdepth 1 -name 'kubernetes_*.orig.tar.*' ! -name '*.asc' | sort | head -n1)
[[ -n $orig ]] || die "no kubernetes_*.orig.tar.* downloaded"
tar -xf "$orig"
src=$(find . -maxdepth 1 -type d -name "kubernetes-$K8S_VERSION" | head -n1)
[[ -n $src ]] || die "expected kubernetes-$K8S_VERSION/ in $orig"
cd "$src"
rm -rf vendor/github.com/modern-go/reflect2
cp -r "$REFLECT2_SRC" vendor/github.com/modern-go/reflect2
mkdir -p .go/src/k8s.io
ln -s ../../.. .go/src/k8s.io/kubernetes
log "building kubelet, kube-scheduler, kube-proxy (takes several minutes)"
start=$(date +%s)
GOPATH="$PWD/.go" GOCACHE="$BUILD_DIR/gocache" GOFLAGS='' CGO_ENABLED=0 \
  make WHAT="cmd/kubelet cmd/kube-scheduler cmd/kube-proxy" >&2
log "build took $(($(date +%s) - start))s"

rm -rf "$NODE_DIR.tmp"
mkdir -p "$NODE_DIR.tmp/bin"
for b in "${BINARIES[@]}"; do install -m 0755 "_output/bin/$b" "$NODE_DIR.tmp/bin/$b"; done

# The pause image: the static pause binary as the only file, written as an OCI archive.
log "building the pause image ($PAUSE_REF)"
rootfs="$BUILD_DIR/pause-rootfs"
mkdir -p "$rootfs"
gcc -Os -static -DVERSION=v3.4-sealed-secrets-rs -o "$rootfs/pause" build/pause/linux/pause.c
strip "$rootfs/pause"
python3 "$HERE/oci-image.py" --rootfs "$rootfs" --ref "$PAUSE_REF" --entrypoint /pause \
  --user 65535:65535 --out "$NODE_DIR.tmp/pause.tar"

rm -rf "$NODE_DIR"
mv "$NODE_DIR.tmp" "$NODE_DIR"
has_all || die "installation into $NODE_DIR incomplete"
log "installed into $NODE_DIR; removing build tree"
cd /
echo "$NODE_DIR"
