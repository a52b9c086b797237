#!/usr/bin/env bash
# Runs every check and test. Installs what the tests need first (idempotent; cached under
# ~/.cache/sealed-secrets-rs): apt packages, kube-apiserver + etcd + kubectl, the interop oracles.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for tool in openssl python3 node npm git; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
# The zone database the template tests read (dateInZone, the local zone), as Go does.
[ -e /usr/share/zoneinfo/Europe/Berlin ] || missing+=(tzdata)
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq openssl python3 python3-venv nodejs npm git tzdata >/dev/null
fi

# The build cache. Cargo never deletes outdated artifacts, so a cache reused across many changes
# only grows; past its budget it is removed and rebuilt (a clean build takes 2-3 GiB). A disk
# too full for the build fails here, with the figures, rather than in the linker.
target_dir="${CARGO_TARGET_DIR:-target}"
budget_gib="${SEALED_SECRETS_CACHE_BUDGET_GIB:-8}"
cache_kib=0
if [ -d "$target_dir" ]; then
  cache_kib="$(du -sk "$target_dir" | cut -f1)" || {
    echo "error: cannot measure the build cache $target_dir" >&2
    exit 1
  }
  if ((cache_kib > budget_gib * 1024 * 1024)); then
    echo "==> build cache $target_dir is $((cache_kib / 1024)) MiB, over its ${budget_gib} GiB budget: removing it" >&2
    rm -rf "$target_dir"
    cache_kib=0
  fi
fi
mkdir -p "$target_dir"
need_kib=$((4 * 1024 * 1024 - cache_kib))
((need_kib > 1024 * 1024)) || need_kib=$((1024 * 1024))
free_kib="$(df -Pk "$target_dir" | awk 'NR == 2 { print $4 }')"
if ((free_kib < need_kib)); then
  echo "error: $((free_kib / 1024)) MiB free for the build cache $target_dir; the build needs about $((need_kib / 1024)) MiB more (free some disk, or set CARGO_TARGET_DIR to a roomier disk)" >&2
  exit 1
fi

echo "==> control plane (tests/envtest/install.sh)" >&2
KUBEBUILDER_ASSETS="$(tests/envtest/install.sh | tail -n 1)"
export KUBEBUILDER_ASSETS
echo "==> interop oracles (tests/oracles/install.sh)" >&2
tests/oracles/install.sh >/dev/null
echo "==> sprig oracle (tests/oracles/sprig/install.sh: Go text/template + Debian's sprig)" >&2
tests/oracles/sprig/install.sh >/dev/null
echo "==> kubectl with kustomize v5 (tests/kubectl-v5/install.sh)" >&2
tests/kubectl-v5/install.sh >/dev/null
SEALED_SECRETS_BROWSER_DIR="$(tests/browser/install.sh | tail -n 1)"; export SEALED_SECRETS_BROWSER_DIR SEALED_SECRETS_REQUIRE_BROWSER=1 # chromium + playwright-core for controller/tests/ui.rs

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo doc" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "==> cargo test" >&2
cargo test --workspace
echo "==> fuzz smoke (tests/fuzz/run.sh smoke: a few seconds per target)" >&2
tests/fuzz/run.sh smoke

# A real single-node cluster (kubelet, containerd, runc, CNI from Debian; tests/node/README.md):
# the harness' own clean-up test, then the images installed as users install them.
echo "==> real node (tests/node/install.sh: kubelet, kube-scheduler, kube-proxy from Debian's source; containerd, runc, CNI)" >&2
if ((EUID != 0)); then
  echo "error: the node tests start a kubelet and containerd: run ./test.sh as root" >&2
  exit 1
fi
tests/node/install.sh >/dev/null
echo "==> node harness self-test (tests/node/selftest.sh: nothing left after a SIGKILL)" >&2
tests/node/selftest.sh
echo "==> deploy/ on the node (tests/node/deploy-test.sh: overlays, fail-over, the chart's shape)" >&2
tests/node/deploy-test.sh
echo "==> ccloud-keys and the key-rotation job on the node (tests/node/tools-test.sh: watcher commit pushed, reseal job)" >&2
tests/node/tools-test.sh
