#!/usr/bin/env bash
# Quick start, end to end on a local control plane (kube-apiserver v1.20.2 + etcd, built from
# Debian's packages on first run and cached under ~/.cache/sealed-secrets-rs).
set -euo pipefail
cd "$(dirname "$0")"
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(tests/envtest/install.sh | tail -n 1)}"
echo "==> building kubeseal, the controller and the control-plane launcher" >&2
cargo build --release --quiet -p kubeseal -p envtest -p sealed-secrets-controller
export PATH="$PWD/target/release:$PATH"
exec envtest exec --crd crds/sealedsecrets.bitnami.com.yaml -- bash tests/demo/steps.sh
