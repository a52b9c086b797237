#!/usr/bin/env bash
# Quick start, end to end. As root on a machine that can run a node: on a real single-node
# cluster (kubelet + containerd from Debian; tests/demo/node.sh), the controller as a Pod from
# deploy/. Otherwise, or when the node cannot start, on a local control plane alone
# (kube-apiserver v1.20.2 + etcd) with the controller as a local process. Everything is built
# from Debian's packages on first run and cached under ~/.cache/sealed-secrets-rs.
set -euo pipefail
cd "$(dirname "$0")"
export KUBEBUILDER_ASSETS="${KUBEBUILDER_ASSETS:-$(tests/envtest/install.sh | tail -n 1)}"
if [[ -z ${DEMO_NO_NODE:-} ]]; then
  rc=0
  reason=$(mktemp)
  DEMO_REASON_FILE=$reason tests/demo/node.sh || rc=$?
  ((rc == 3)) || { rm -f "$reason"; exit "$rc"; }
  echo "demo: no node here ($(cat "$reason")); running on the control plane alone" >&2
  rm -f "$reason"
fi
echo "==> building kubeseal, the controller and the control-plane launcher" >&2
cargo build --release --quiet -p kubeseal -p envtest -p sealed-secrets-controller
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export PATH="$target/release:$PATH"
exec envtest exec --crd crds/sealedsecrets.bitnami.com.yaml -- bash tests/demo/steps.sh
