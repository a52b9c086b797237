# shellcheck shell=bash
# The helpers deploy-test.sh and tools-test.sh share (sourced, after `set -euo pipefail`):
#   node_test_init PREFIX WORK-TEMPLATE [WORKDIR]
# sets the log prefix ("[PREFIX] ..."), $work (WORKDIR, or a new mktemp -d WORK-TEMPLATE), $node
# and $failed=1, and the EXIT trap: on_cleanup (when the script defines it), `node.sh stop $node`,
# "FAILED (work dir: ...)" unless the script set failed=0, $work removed when made here and all
# went well. Then: log, fail, pod_fail, the Pod waits, the node's start and import, kubectl (kc)
# and ctr (ctr_) on the node, and render.sh's kust, render_overlay, pdb_v1beta1.

LIB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CP_BIN="${KUBEBUILDER_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/bin}"
# shellcheck source=proc-check.sh
. "$LIB_HERE/proc-check.sh"
# shellcheck source=render.sh
. "$LIB_HERE/render.sh"

LOG_PREFIX=node/test
log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

node_test_init() {
  LOG_PREFIX=$1
  made_work=
  if [[ -n ${3:-} ]]; then
    work=$(realpath -m -- "$3"); mkdir -p "$work"
  else
    work=$(mktemp -d "$2"); made_work=1
  fi
  node=$work/node
  failed=1
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if declare -F on_cleanup >/dev/null; then on_cleanup; fi
  if [[ -d $node ]]; then
    "$LIB_HERE/node.sh" stop "$node" >"$work/node-stop.log" 2>&1 || { log "node.sh stop failed (log: $work/node-stop.log)"; rc=1; made_work=; }
  fi
  if ((failed)); then
    log "FAILED (work dir: $work)"; made_work=
  fi
  [[ -n $made_work ]] && rm -rf "$work"
  exit "$rc"
}

kc() { "$CP_BIN/kubectl" --kubeconfig "$node/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$node/containerd.sock" --connect-timeout 2s --timeout 20s -n k8s.io "$@"; }
# fail COMPONENT MESSAGE [LOG]: the log's last lines, then one line.
fail() {
  if [[ -n ${3:-} && -f $3 ]]; then tail -n 20 "$3" | sed 's/^/    /' >&2; fi
  printf '[%s] FAIL: %s: %s%s\n' "$LOG_PREFIX" "$1" "$2" "${3:+ (log: $3)}" >&2
  exit 1
}
# pod_fail NS POD MESSAGE: the containers' last log lines (previous run too), then one line.
pod_fail() {
  kc -n "$1" logs "$2" --all-containers --previous --tail 20 2>/dev/null | sed 's/^/    previous: /' >&2 || true
  kc -n "$1" logs "$2" --all-containers --tail 20 2>/dev/null | sed 's/^/    /' >&2 || true
  printf '[%s] FAIL: Pod %s/%s: %s (log: kubectl -n %s logs %s --all-containers)\n' "$LOG_PREFIX" "$1" "$2" "$3" "$1" "$2" >&2
  exit 1
}
need_root() { [[ $(id -u) == 0 ]] || fail "${LOG_PREFIX#node/}" "run as root (the node needs it)"; }
# need_v5: $V5, a kubectl with kustomize v5 ($KUSTOMIZE_V5_KUBECTL, or tests/kubectl-v5's).
need_v5() {
  V5=${KUSTOMIZE_V5_KUBECTL:-}
  [[ -n $V5 ]] || V5=$("$LIB_HERE/../kubectl-v5/install.sh" | tail -1) || fail "kubectl v5" "tests/kubectl-v5/install.sh failed"
}

# node_start: node.sh start $node; sets $f_node (seconds).
node_start() {
  local t
  t=$(now)
  "$LIB_HERE/node.sh" start "$node" >"$work/node-start.log" 2>&1 || fail "node" "node.sh start failed" "$work/node-start.log"
  # shellcheck disable=SC2034 # read by the script
  f_node=$(secs "$t" "$(now)")
}
# node_import TAR...: node.sh import $node TAR...
node_import() {
  "$LIB_HERE/node.sh" import "$node" "$@" >"$work/import.log" 2>&1 || fail "containerd" "node.sh import failed" "$work/import.log"
}
# node_has_images REF...: each REF is in the node's containerd.
node_has_images() {
  local r
  for r in "$@"; do
    grep -qxF "$r" <<<"$(ctr_ images ls -q)" || fail "containerd" "$r not in containerd after the import" "$node/containerd.log"
  done
}
# The container's process on the node, by its containerd id.
task_pid() { ctr_ tasks ls | awk -v id="$1" '$1 == id && $3 == "RUNNING" { print $2 }'; }

# pods NS SELECTOR: one line per Pod: NAME READY(0/1) DELETING(0/1) CONTAINER-ID REASON PHASE
# (REASON: the first waiting reason of an init or main container, or `-`; CONTAINER-ID: the first
# main container's).
pods() {
  kc -n "$1" get pods -l "$2" -o json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    reason = "-"
    for c in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
        w = (c.get("state") or {}).get("waiting", {}).get("reason")
        if w and w not in ("PodInitializing", "ContainerCreating"):
            reason = w; break
    cs = (st.get("containerStatuses") or [{}])[0]
    cid = (cs.get("containerID") or "-").replace("containerd://", "")
    print(p["metadata"]["name"], int(ready), int("deletionTimestamp" in p["metadata"]), cid, reason, st.get("phase", "-"))
'
}
# check_pods NS SELECTOR: a container that cannot start or keeps crashing, or a Pod Failed (and
# not being deleted), fails at once.
check_pods() {
  local name deleting reason phase
  while read -r name _ deleting _ reason phase; do
    case $reason in
      CrashLoopBackOff | ErrImageNeverPull | ErrImagePull | ImagePullBackOff | InvalidImageName | CreateContainerConfigError | CreateContainerError | RunContainerError)
        pod_fail "$1" "$name" "container waiting: $reason" ;;
    esac
    [[ $phase != Failed || $deleting == 1 ]] || pod_fail "$1" "$name" "phase Failed"
  done < <(pods "$1" "$2")
}
# wait_ready NS SELECTOR N SECONDS [COMPONENT]: until exactly N Pods, none terminating, all Ready;
# else fails naming COMPONENT (default: the Pods).
wait_ready() {
  local deadline=$((SECONDS + $4)) lines
  while :; do
    check_pods "$1" "$2"
    lines=$(pods "$1" "$2")
    if [[ $(awk '$3 == 0 && $2 == 1' <<<"$lines" | wc -l) == "$3" && $(wc -l <<<"$lines") == "$3" ]]; then
      return 0
    fi
    ((SECONDS < deadline)) || { log "Pods:"; sed 's/^/    /' <<<"$lines" >&2; fail "${5:-Pods $1 -l $2}" "not $3 Pods Ready within $4s" "$node/kubelet.log"; }
    sleep 1
  done
}

# render_or_fail OVERLAY DIR REF OUT: render_overlay, kustomize's log in $work/kustomize.log.
render_or_fail() {
  render_overlay "$1" "$2" "$3" "$4" "$work/kustomize.log" || fail "kustomize" "kubectl kustomize $2 failed" "$work/kustomize.log"
}
# apply_k OVERLAY DIR RENDERED: `kubectl apply -k DIR` (kustomize v5) as a user does. This server
# (v1.20) serves no policy/v1: the PodDisruptionBudget is the one object it may refuse, and then
# goes in as policy/v1beta1 (from RENDERED); sets $pdb_as_v1beta1 (1 when it did).
apply_k() {
  local log=$work/apply-$1.log errs
  pdb_as_v1beta1=0
  "$V5" --kubeconfig "$node/admin.kubeconfig" apply -k "$2" >"$log" 2>&1 && return 0
  # Only the PDB may be refused, and only because this server has no policy/v1.
  errs=$(grep -c '^error' "$log" || true)
  if grep -qx policy/v1 <<<"$(kc api-versions)" || [[ $errs != 1 ]] ||
    ! grep -q '^error: resource mapping not found for name: "sealed-secrets-controller" .*no matches for kind "PodDisruptionBudget" in version "policy/v1"' "$log"; then
    fail "kubectl apply -k ($1)" "failed" "$log"
  fi
  pdb_v1beta1 "$3" --only >"$work/pdb-v1beta1.yaml"
  kc apply -f "$work/pdb-v1beta1.yaml" >>"$log" 2>&1 || fail "PodDisruptionBudget" "apply as policy/v1beta1 failed" "$log"
  # shellcheck disable=SC2034 # read by the script
  pdb_as_v1beta1=1
}
