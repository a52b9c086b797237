#!/usr/bin/env bash
# Runs every check and test. Installs what the tests need first (idempotent; cached under
# ~/.cache/sealed-secrets-rs): apt packages, kube-apiserver + etcd + kubectl, the interop oracles.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
for tool in openssl python3 node npm git; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]}" >&2
  apt-get update -qq
  apt-get install -y -qq openssl python3 python3-venv nodejs npm git >/dev/null
fi

echo "==> control plane (tests/envtest/install.sh)" >&2
KUBEBUILDER_ASSETS="$(tests/envtest/install.sh | tail -n 1)"
export KUBEBUILDER_ASSETS
echo "==> interop oracles (tests/oracles/install.sh)" >&2
tests/oracles/install.sh >/dev/null
echo "==> kubectl with kustomize v5 (tests/kubectl-v5/install.sh)" >&2
tests/kubectl-v5/install.sh >/dev/null

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test" >&2
cargo test --workspace
