#!/usr/bin/env bash
# The demo's steps, run by demo.sh inside a live local control plane (KUBECONFIG is set).
set -euo pipefail
# shellcheck source=seal-apply.sh
. "$(dirname "${BASH_SOURCE[0]}")/seal-apply.sh"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step "starting sealed-secrets-controller (keys in kube-system, API on 127.0.0.1:$port)"
POD_NAMESPACE=kube-system sealed-secrets-controller --kubeconfig "$KUBECONFIG" \
  --listen-addr "127.0.0.1:$port" --listen-metrics-addr "127.0.0.1:$mport" >"$work/controller.log" 2>&1 &
controller=$!
trap 'kill $controller 2>/dev/null || true; wait $controller 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/v1/cert.pem" -o "$work/cert.pem" && break
  sleep 0.5
done
[ -s "$work/cert.pem" ] || { cat "$work/controller.log" >&2; echo "controller did not come up" >&2; exit 1; }
kubectl get secrets -n kube-system -l sealedsecrets.bitnami.com/sealed-secrets-key

seal_apply_show "$work" "fetching the certificate and sealing a Secret with kubeseal" controller \
  --cert "http://127.0.0.1:$port/v1/cert.pem"
