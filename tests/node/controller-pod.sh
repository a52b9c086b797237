#!/usr/bin/env bash
# Runs the controller image as a Pod on a started node and checks what the kubelet enforced:
#   tests/node/controller-pod.sh DIR IMAGE.tar [REF]
# DIR is a node started with `node.sh start DIR`; IMAGE.tar comes from controller-image.sh
# (REF default: localhost/sealed-secrets-rs-controller:dev). It imports the image, applies
# deploy/base (CRD, ServiceAccount, RBAC, Services) and, instead of its Deployment, one Pod made
# from the Deployment's Pod template as shipped (same security context, probes, arguments) with
# only the image replaced. Then, bounded: the Pod is Ready (/readyz: a sealing key exists);
# from the node's /proc, the container's process runs as 65532:65532, with no capabilities,
# no_new_privs, seccomp filtering and a read-only `/` (a write through /proc/PID/root fails);
# the certificate is served through the API server's Service proxy. One-line error on failure,
# after the container's last log lines.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CP_BIN="${KUBEBUILDER_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/bin}"
dir=$(realpath -m -- "${1:?usage: controller-pod.sh DIR IMAGE.tar [REF]}")
image=${2:?usage: controller-pod.sh DIR IMAGE.tar [REF]}
REF=${3:-localhost/sealed-secrets-rs-controller:dev}
NS=kube-system
POD=sealed-secrets-controller-node-test
UID_GID=65532

# shellcheck source=proc-check.sh
. "$HERE/proc-check.sh"
log() { printf '[node/controller-pod] %s\n' "$*" >&2; }
kc() { "$CP_BIN/kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$dir/containerd.sock" --connect-timeout 2s --timeout 20s -n k8s.io "$@"; }
fail() {
  kc -n $NS logs "$POD" --tail 20 2>/dev/null | sed 's/^/    /' >&2 || true
  printf '[node/controller-pod] FAIL: %s\n' "$*" >&2
  exit 1
}

[[ -S $dir/containerd.sock ]] || fail "no node in $dir (node.sh start $dir first)"
t0=$SECONDS
"$HERE/node.sh" import "$dir" "$image" 2>/dev/null || fail "importing $image (node.sh import)"
ctr_ images ls -q | grep -qxF "$REF" || fail "$REF not in containerd after importing $image"
log "imported $REF in $((SECONDS - t0))s"

# deploy/base as rendered by kubectl's kustomize, the Deployment turned into one Pod, the PDB
# (policy/v1, served from 1.21 on) left out.
kc kustomize "$ROOT/deploy/base" | python3 -c '
import re, sys
docs = re.split(r"^---$", sys.stdin.read(), flags=re.M)
print("---".join(d for d in docs if not re.search(r"^kind: PodDisruptionBudget$", d, re.M)))
' >"$dir/base.yaml"
kc apply --dry-run=client -o json -f "$dir/base.yaml" >"$dir/base.json"
python3 - "$dir/base.json" "$REF" "$POD" >"$dir/controller-pod.json" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
out = []
for o in items:
    if o["kind"] == "Deployment":
        t = o["spec"]["template"]
        for c in t["spec"]["containers"]:
            c["image"], c["imagePullPolicy"] = sys.argv[2], "Never"
        o = {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": sys.argv[3], "namespace": o["metadata"]["namespace"],
                          "labels": t["metadata"]["labels"]},
             "spec": t["spec"]}
    out.append(o)
json.dump({"apiVersion": "v1", "kind": "List", "items": out}, sys.stdout)
PY
kc apply -f "$dir/controller-pod.json" >/dev/null || fail "kubectl apply of deploy/base with the Pod"
t1=$SECONDS
kc -n $NS wait --for=condition=Ready "pod/$POD" --timeout=240s >/dev/null 2>&1 ||
  fail "Pod $NS/$POD not Ready within 240s: $(kc -n $NS get pod "$POD" -o jsonpath='{.status.containerStatuses[0].state}' 2>/dev/null)"
log "Pod Ready $((SECONDS - t1))s after kubectl apply"

# The container's process on the node.
cid=$(kc -n $NS get pod "$POD" -o jsonpath='{.status.containerStatuses[0].containerID}')
cid=${cid#containerd://}
pid=$(ctr_ tasks ls | awk -v id="$cid" '$1 == id { print $2 }')
[[ -n $pid && -d /proc/$pid ]] || fail "no process for container $cid in containerd"
# exe, Uid/Gid, CapEff, no_new_privs, seccomp, read-only /, the `controller` link (proc-check.sh).
summary=$(proc_check "$pid" "$UID_GID" "$UID_GID") || fail "controller $summary"
log "$summary"

# The API server's Service proxy reaches the Pod: the certificate kubeseal --fetch-cert gets.
cert=$(kc get --raw "/api/v1/namespaces/$NS/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem" 2>&1) ||
  fail "cert through the Service proxy: $(head -1 <<<"$cert")"
grep -q 'BEGIN CERTIFICATE' <<<"$cert" || fail "the Service proxy answered no certificate: $(head -c 100 <<<"$cert")"
log "OK: certificate served through the Service proxy; total $((SECONDS - t0))s"
