#!/usr/bin/env bash
# The quick start on a real single-node cluster (run by demo.sh, as root): the controller image
# built here, deploy/overlays/dev applied as a user applies it (only the image changed), then the
# user's path: fetch the certificate, seal, apply, the unsealed Secret printed.
#
# Exit status 3: the node could not be installed or started here (the reason is the last line on
# stderr, and in $DEMO_REASON_FILE when set); demo.sh then falls back to the control plane alone. Any other failure is the demo's.
# The node is stopped on exit; DEMO_KEEP_NODE=1 keeps it running (stop it with
# `tests/node/node.sh stop DIR`).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
NODE="$ROOT/tests/node"
CP_BIN="${KUBEBUILDER_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/bin}"
REF=localhost/sealed-secrets-rs-controller:dev
dir=${DEMO_NODE_DIR:-/tmp/sealed-secrets-demo-node}
work=$(mktemp -d /tmp/sealed-secrets-demo.XXXXXX)
t0=$SECONDS
# shellcheck source=../node/render.sh
. "$NODE/render.sh"
# shellcheck source=seal-apply.sh
. "$ROOT/tests/demo/seal-apply.sh"

# cannot REASON: the node is not available here; demo.sh falls back.
cannot() {
  printf '%s\n' "$1" >&2
  [[ -n ${DEMO_REASON_FILE:-} ]] && printf '%s\n' "$1" >"$DEMO_REASON_FILE"
  exit 3
}
fail() {
  [[ -n ${2:-} && -f $2 ]] && tail -n 20 "$2" | sed 's/^/    /' >&2
  printf 'demo: %s%s\n' "$1" "${2:+ (log: $2)}" >&2
  exit 1
}
started=
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ -n $started && -z ${DEMO_KEEP_NODE:-} ]]; then
    step "stopping the node"
    "$NODE/node.sh" stop "$dir" >"$work/node-stop.log" 2>&1 || {
      echo "demo: node.sh stop failed (log: $work/node-stop.log)" >&2
      exit 1
    }
  fi
  ((rc == 0)) && rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

((EUID == 0)) || cannot "a node needs root (a kubelet, containerd and a bridge)"
step "installing the node (kubelet, containerd, runc, CNI; built and cached on first run)"
"$NODE/install.sh" >"$work/install.log" 2>&1 ||
  cannot "tests/node/install.sh failed: $(tail -n 1 "$work/install.log") (log: $work/install.log)"
V5=$("$ROOT/tests/kubectl-v5/install.sh" 2>"$work/kubectl-v5.log" | tail -n 1) ||
  fail "installing kubectl with kustomize v5 failed" "$work/kubectl-v5.log"

step "building kubeseal (release; the controller is built with its image below)"
# Built alone, as controller-image.sh builds the controller alone: one build each, no feature
# unification between the two that would make the other rebuild.
(cd "$ROOT" && cargo build --release --locked --quiet -p kubeseal)
target=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export PATH="$target/release:$CP_BIN:$PATH"

step "starting a single-node cluster in $dir"
if [[ -e $dir ]]; then
  "$NODE/node.sh" stop "$dir" >"$work/node-stop-old.log" 2>&1 || true
fi
if ! "$NODE/node.sh" start "$dir" >"$work/node-start.log" 2>&1; then
  # Past its checks (DIR made), whatever did start is stopped by the trap; a check that failed
  # (not root, no cgroups, a bridge or port taken by another node) started nothing to stop.
  [[ -d $dir ]] && started=1
  cannot "$(grep -m1 'error:' "$work/node-start.log" || tail -n 1 "$work/node-start.log")"
fi
started=1
export KUBECONFIG=$dir/admin.kubeconfig

step "building the controller image and importing it into containerd"
"$NODE/controller-image.sh" "$work/controller.tar" >"$work/image.log" 2>&1 || fail "controller-image.sh failed" "$work/image.log"
"$NODE/node.sh" import "$dir" "$work/controller.tar" >"$work/import.log" 2>&1 || fail "node.sh import failed" "$work/import.log"

step "deploy/overlays/dev with only the image changed: kubectl kustomize | kubectl apply"
# This API server (v1.20) serves no policy/v1: the PodDisruptionBudget goes in as v1beta1, as
# deploy/README.md says for clusters older than 1.21.
rendered=0
render_overlay dev "$work/kustomize" "$REF" "$work/rendered.yaml" "$work/kustomize.log" || rendered=$?
cat "$work/kustomize/kustomization.yaml"
((rendered == 0)) || fail "kubectl kustomize failed" "$work/kustomize.log"
pdb_v1beta1 "$work/rendered.yaml" >"$work/install.yaml" || fail "the PodDisruptionBudget as policy/v1beta1 failed"
kubectl apply -f "$work/install.yaml"
kubectl -n kube-system rollout status deployment/sealed-secrets-controller --timeout=180s ||
  fail "the controller did not become Ready: $(kubectl -n kube-system get pods -l name=sealed-secrets-controller --no-headers 2>&1 | head -n 3)"
kubectl -n kube-system get pods -l name=sealed-secrets-controller -o wide

step "kubeseal --fetch-cert (through the API server's Service proxy, to the Pod)"
kubeseal --fetch-cert >"$work/cert.pem"
head -n 2 "$work/cert.pem"

seal_apply_show "$work" "sealing a Secret with kubeseal (no flags: it finds the controller itself)" "controller Pod"
printf '\ndemo on the node done in %ss\n' "$((SECONDS - t0))" >&2
