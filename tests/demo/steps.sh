#!/usr/bin/env bash
# The demo's steps, run by demo.sh inside a live local control plane (KUBECONFIG is set).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n==> %s\n' "$*" >&2; }

step "the controller is not built yet (issue 4): generating a stand-in sealing key with openssl"
openssl req -x509 -newkey rsa:4096 -nodes -days 3650 -subj "/CN=sealed-secret/O=sealed-secret" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

step "sealing a Secret with kubeseal --cert"
kubectl create namespace demo >/dev/null
kubectl create secret generic db-creds -n demo --from-literal=username=admin \
  --from-literal=password='s3cr3t!' --dry-run=client -o yaml \
  | kubeseal --cert "$work/tls.crt" -o yaml > "$work/sealed.yaml"
cat "$work/sealed.yaml"

step "applying the SealedSecret to the API server"
kubectl apply -f "$work/sealed.yaml"
kubectl get sealedsecrets -n demo

step "unsealing what the API server stored (kubeseal --recovery-unseal; the controller will do this)"
kubectl get sealedsecret db-creds -n demo -o yaml \
  | kubeseal --recovery-unseal --recovery-private-key "$work/tls.key" -o yaml
