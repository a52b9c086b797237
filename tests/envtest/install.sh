#!/usr/bin/env bash
# Installs a real Kubernetes control plane (kube-apiserver, kubectl,
# kube-controller-manager v1.20.2 and etcd) for the envtest harness, built
# entirely from Debian bookworm packages (see tests/envtest/README.md).
#
# Idempotent: when the binaries are already present this takes well under a
# second. The bin directory is printed as the LAST line of stdout, so callers
# can do:   ASSETS=$(tests/envtest/install.sh | tail -1)
# Progress is logged to stderr.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT="${HOME:?HOME must be set}/.cache/sealed-secrets-rs"
PREFIX="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN_DIR="$PREFIX/bin"
BINARIES=(kube-apiserver kubectl kube-controller-manager etcd)
APT_PACKAGES=(etcd-server golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev)
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2

log() { printf '[envtest/install] %s\n' "$*" >&2; }
die() { printf '[envtest/install] ERROR: %s\n' "$*" >&2; exit 1; }

has_all() { # has_all DIR -> 0 when DIR holds every binary, executable
    local dir=$1 b
    for b in "${BINARIES[@]}"; do
        [[ -x "$dir/$b" ]] || return 1
    done
}

# 1. Explicit override, as with controller-runtime's envtest.
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    for b in kube-apiserver etcd kubectl; do
        [[ -x "$KUBEBUILDER_ASSETS/$b" ]] ||
            die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS does not contain an executable '$b'"
    done
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
fi

# 2. Fast path: already built.
if has_all "$BIN_DIR"; then
    log "control plane binaries present in $BIN_DIR"
    echo "$BIN_DIR"
    exit 0
fi

# 3. Build, serialised by a lock so concurrent runs do not collide.
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/k8s-$K8S_VERSION.lock"
if ! flock -n 9; then
    log "another install is running; waiting for its lock"
    flock 9
fi
if has_all "$BIN_DIR"; then # built by whoever held the lock before us
    log "control plane binaries present in $BIN_DIR"
    echo "$BIN_DIR"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this installer needs Debian (bookworm) packages"

as_root() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root to $* (or set KUBEBUILDER_ASSETS to a dir with kube-apiserver, etcd, kubectl)"
}

apt_updated=0
apt_update() {
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq >&2
        apt_updated=1
    fi
}

# 3a. deb-src entry, mirroring the deb822 source of the main archive.
has_deb_src() {
    grep -Eqs '^\s*(deb-src\b|Types:.*\bdeb-src\b)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}
if ! has_deb_src; then
    as_root "add a deb-src apt source"
    main_sources=/etc/apt/sources.list.d/debian.sources
    [[ -f $main_sources ]] || die "no deb-src entry and no $main_sources to mirror; add a deb-src line for bookworm by hand"
    log "adding /etc/apt/sources.list.d/envtest-deb-src.sources (mirror of $main_sources)"
    sed -E 's/^Types:.*/Types: deb-src/' "$main_sources" >/etc/apt/sources.list.d/envtest-deb-src.sources
    apt_updated=0
    apt_update
fi

# 3b. Build dependencies, installed only when missing.
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    as_root "install ${missing[*]}"
    apt_update
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
[[ -x /usr/bin/etcd ]] || die "/usr/bin/etcd missing after installing etcd-server"
[[ -d $REFLECT2_SRC ]] || die "$REFLECT2_SRC missing after installing golang-github-modern-go-reflect2-dev"

# 3c. Fetch and unpack the Kubernetes source (with vendor/).
BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/envtest-k8s-build.XXXXXX")
cleanup() { rm -rf "$BUILD_DIR" "$PREFIX/bin.tmp"; }
trap cleanup EXIT
cd "$BUILD_DIR"
log "apt-get source --download-only kubernetes (into $BUILD_DIR)"
if ! apt-get source --download-only kubernetes >&2; then
    apt_updated=0
    as_root "refresh apt lists"
    apt_update
    apt-get source --download-only kubernetes >&2
fi
orig=$(find . -maxdepth 1 -name 'kubernetes_*.orig.tar.*' ! -name '*.asc' | sort | head -n1)
[[ -n $orig ]] || die "no kubernetes_*.orig.tar.* downloaded"
log "unpacking $orig"
tar -xf "$orig"
src=$(find . -maxdepth 1 -type d -name "kubernetes-$K8S_VERSION" | head -n1)
[[ -n $src ]] || die "expected kubernetes-$K8S_VERSION/ in $orig"
cd "$src"

# 3d. The vendored reflect2 panics under Go >= 1.18; use Debian's 1.0.2.
log "swapping vendor/github.com/modern-go/reflect2 for $REFLECT2_SRC"
rm -rf vendor/github.com/modern-go/reflect2
cp -r "$REFLECT2_SRC" vendor/github.com/modern-go/reflect2

# 3e. Build as the Debian packaging does (GOPATH with a symlink to the tree).
mkdir -p .go/src/k8s.io
ln -s ../../.. .go/src/k8s.io/kubernetes
log "building kube-apiserver, kubectl, kube-controller-manager (takes several minutes)"
start=$(date +%s)
GOPATH="$PWD/.go" GOCACHE="$BUILD_DIR/gocache" GOFLAGS='' CGO_ENABLED=0 \
    make WHAT="cmd/kube-apiserver cmd/kubectl cmd/kube-controller-manager" >&2
log "build took $(($(date +%s) - start))s"

# 3f. Install atomically: stage, then rename.
rm -rf "$PREFIX/bin.tmp"
mkdir -p "$PREFIX/bin.tmp"
for b in kube-apiserver kubectl kube-controller-manager; do
    install -m 0755 "_output/bin/$b" "$PREFIX/bin.tmp/$b"
done
ln -s /usr/bin/etcd "$PREFIX/bin.tmp/etcd"
rm -rf "$BIN_DIR"
mv "$PREFIX/bin.tmp" "$BIN_DIR"
has_all "$BIN_DIR" || die "installation into $BIN_DIR incomplete"
log "installed into $BIN_DIR; removing build tree"
cd /
echo "$BIN_DIR"
