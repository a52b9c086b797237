#!/usr/bin/env bash
# deploy/ installed on a real node as a user does it, and the upstream chart's shape (issue 16,
# items 3 and 4):
#   tests/node/deploy-test.sh [WORKDIR]        (as root; WORKDIR default: a new /tmp/ssnode-deploy.*)
# 1. node.sh start, controller-image.sh, node.sh import.
# 2. `kubectl apply -k` of a kustomization holding only `resources: [<repo>/deploy/overlays/prod]`
#    and an `images:` entry naming the imported image (kubectl v1.37 / kustomize v5: the 1.20
#    kubectl's kustomize v2.0.3 cannot take a directory in `resources:`). v1.20 serves no
#    policy/v1: the PodDisruptionBudget is the one object `apply -k` may refuse, and is then applied
#    as policy/v1beta1, as deploy/README.md says and controller/tests/deploy.rs does. Then every
#    replica Running and Ready (/readyz), exactly one leader, the Lease holder.
# 3. kubeseal --fetch-cert and sealing (no flags: JSON out) with only KUBECONFIG set (Service
#    proxy to the Pods);
#    `kubectl apply` of the SealedSecret; the Secret holds the value.
# 4. The leader Pod deleted: another replica takes the Lease, a SealedSecret applied right after is
#    unsealed by it (its Unsealed Event names the new leader) within the Lease (15 s) + 10 s; the
#    replacement Pod comes back Ready as a follower: a surviving replica leads, exactly one.
# 5. Every replica's process, from the node's /proc: uid/gid 65532, no capabilities,
#    no_new_privs, seccomp, read-only / (proc-check.sh).
# Then the stag and dev overlays applied over it (rolled out, Ready, one leader).
# 6. Our install removed except the CRD and the keys; tests/node/chart-shape.yaml (the upstream
#    chart's Deployment, default arguments, RBAC and Service, our image) unseals a new
#    SealedSecret with the same keys; its process runs as the chart's uid 1001, read-only /.
# Every wait is bounded; a failure is one line naming the component and its log (after the log's
# last lines); a container in CrashLoopBackOff fails the test with its last log lines. The node is
# always stopped (trap), WORKDIR removed when this script made it.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
NS=kube-system
APP=sealed-secrets-controller
SEL=name=sealed-secrets-controller
REF=localhost/sealed-secrets-rs-controller:dev
LEASE_SECONDS=15 # the controller's --leader-elect-lease-duration default
FAILOVER_BOUND=$((LEASE_SECONDS + 10))
DEMO="node-demo"

node_test_init node/deploy-test /tmp/ssnode-deploy.XXXXXX "${1:-}"

holder() { kc -n "$NS" get lease "$APP" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
# secret_is NAME VALUE: Secret DEMO/NAME has data.password == VALUE (now).
secret_is() { [[ $(kc -n $DEMO get secret "$1" -o jsonpath='{.data.password}' 2>/dev/null | base64 -d 2>/dev/null) == "$2" ]]; }
# one_leader: exactly one leader: the Lease holder is one of the Pods, and the only one whose
# log says it leads (sets $leader).
one_leader() {
  local deadline=$((SECONDS + 30)) p leading=()
  until leader=$(holder) && [[ -n $leader ]] && grep -qxF "$leader" <<<"$(pods "$NS" "$SEL" | awk '{ print $1 }')"; do
    ((SECONDS < deadline)) || fail "leader election" "Lease $NS/$APP held by '${leader:-nobody}', not one of the Pods" "$node/kube-apiserver.log"
    sleep 1
  done
  for p in $(pods "$NS" "$SEL" | awk '{ print $1 }'); do
    if grep -q 'leading: reconciling SealedSecrets' <<<"$(kc -n $NS logs "$p")"; then leading+=("$p"); fi
  done
  [[ ${#leading[@]} == 1 && ${leading[0]} == "$leader" ]] || fail "leader election" "Pods logging 'leading': ${leading[*]:-none}; Lease holder $leader"
}

# apply_overlay NAME: `kubectl apply -k` of a kustomization holding only deploy/overlays/NAME and
# the image; sets $rendered and $replicas.
apply_overlay() {
  local kust=$work/kustomize-$1
  rendered=$work/rendered-$1.yaml
  render_or_fail "$1" "$kust" "$REF" "$rendered"
  replicas=$(python3 -c '
import re, sys
docs = re.split(r"^---$", open(sys.argv[1]).read(), flags=re.M)
d = [d for d in docs if re.search(r"^kind: Deployment$", d, re.M)]
print(re.search(r"^  replicas: (\d+)$", d[0], re.M).group(1))' "$rendered")
  grep -q "image: $REF\$" "$rendered" || fail "kustomize" "the rendered Deployment of $1 does not run $REF"
  apply_k "$1" "$kust" "$rendered"
  if ((pdb_as_v1beta1)); then
    log "apply -k ($1): everything but the PodDisruptionBudget (v1.20 serves no policy/v1), which went in as policy/v1beta1"
  fi
}

# --- tools -----------------------------------------------------------------------------------
need_root
need_v5
target=${CARGO_TARGET_DIR:-$ROOT/target}
t=$(now)
# Both packages in one build: the same feature resolution as the controller-and-kubeseal builds
# elsewhere, so a warm target directory stays warm.
(cd "$ROOT" && cargo build --release --locked -p kubeseal -p sealed-secrets-controller >"$work/kubeseal-build.log" 2>&1) ||
  fail "kubeseal" "cargo build --release -p kubeseal failed" "$work/kubeseal-build.log"
KUBESEAL=$target/release/kubeseal
[[ -x $KUBESEAL ]] || fail "kubeseal" "$KUBESEAL missing after the build"
log "kubeseal release binary ready in $(secs "$t" "$(now)")s"

# --- 1. node, image --------------------------------------------------------------------------
t_all=$(now)
node_start
log "node started in ${f_node}s"
t=$(now)
"$HERE/controller-image.sh" "$work/controller.tar" "$REF" >"$work/image.log" 2>&1 || fail "controller image" "controller-image.sh failed" "$work/image.log"
f_image=$(secs "$t" "$(now)")
node_import "$work/controller.tar"
node_has_images "$REF"
log "controller image built in ${f_image}s ($(du -h "$work/controller.tar" | cut -f1)), imported"

# --- 2. apply -k, as a user does -------------------------------------------------------------
t=$(now)
apply_overlay prod
wait_ready "$NS" "$SEL" "$replicas" 300 "Deployment $APP"
f_ready=$(secs "$t" "$(now)")
prod_replicas=$replicas
log "apply -k to all $replicas Pods Ready: ${f_ready}s"

one_leader
log "one leader: $leader (Lease holder; the other replicas follow)"

# --- 3. kubeseal with no flags, through the Service proxy -------------------------------------
export KUBECONFIG=$node/admin.kubeconfig
"$KUBESEAL" --fetch-cert >"$work/cert.pem" 2>"$work/kubeseal.log" || fail "kubeseal --fetch-cert" "failed" "$work/kubeseal.log"
key_crt=$(kc -n $NS get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o jsonpath='{.items[0].data.tls\.crt}' | base64 -d)
[[ $(cat "$work/cert.pem") == "$key_crt" ]] || fail "kubeseal --fetch-cert" "the certificate is not the key Secret's tls.crt"
kc create namespace $DEMO >/dev/null
value1="s3cr3t-$RANDOM$RANDOM"
kc -n $DEMO create secret generic db-creds --from-literal=password="$value1" --dry-run=client -o yaml |
  "$KUBESEAL" >"$work/db-creds.sealed.json" 2>"$work/kubeseal.log" || fail "kubeseal" "sealing failed" "$work/kubeseal.log"
kc apply -f "$work/db-creds.sealed.json" >/dev/null
deadline=$((SECONDS + 30))
until secret_is db-creds "$value1"; do
  check_pods "$NS" "$SEL"
  ((SECONDS < deadline)) || pod_fail "$NS" "$leader" "Secret $DEMO/db-creds not unsealed within 30s"
  sleep 0.5
done
log "kubeseal --fetch-cert and sealing with only KUBECONFIG: Secret $DEMO/db-creds unsealed"

# --- 4. the leader deleted --------------------------------------------------------------------
value2="after-failover-$RANDOM$RANDOM"
kc -n $DEMO create secret generic after-failover --from-literal=password="$value2" --dry-run=client -o yaml |
  "$KUBESEAL" --cert "$work/cert.pem" -o yaml >"$work/after-failover.sealed.yaml" 2>"$work/kubeseal.log" || fail "kubeseal" "sealing failed" "$work/kubeseal.log"
old_leader=$leader
before=$(pods "$NS" "$SEL" | awk '{ print $1 }')
t=$(now)
kc -n $NS delete pod "$old_leader" --wait=false >/dev/null
kc apply -f "$work/after-failover.sealed.yaml" >/dev/null
t_applied=$(now)
until secret_is after-failover "$value2"; do
  [[ $(secs "$t" "$(now)" | cut -d. -f1) -lt $FAILOVER_BOUND ]] ||
    fail "fail-over" "Secret $DEMO/after-failover not unsealed within ${FAILOVER_BOUND}s of deleting leader $old_leader (Lease holder now: $(holder))"
  sleep 0.2
done
f_failover=$(secs "$t" "$(now)")
new_leader=$(holder)
[[ -n $new_leader && $new_leader != "$old_leader" ]] || fail "fail-over" "the Lease is still held by '$new_leader' (the deleted leader was $old_leader)"
# When the new leader took the Lease: its acquireTime (a MicroTime written by the new leader's
# clock, which is this machine's).
t_lease=$(kc -n $NS get lease "$APP" -o jsonpath='{.spec.acquireTime}' | python3 -c '
import sys, datetime
v = sys.stdin.read().strip()
f = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in v else "%Y-%m-%dT%H:%M:%SZ"
print(datetime.datetime.strptime(v, f).replace(tzinfo=datetime.timezone.utc).timestamp())') ||
  fail "fail-over" "cannot read the Lease's acquireTime"
# Unsealed by the new leader, not by the old one in its last moments: the Event names the Pod.
deadline=$((SECONDS + 20))
until by=$(kc -n $DEMO get events --field-selector involvedObject.name=after-failover,reason=Unsealed \
  -o jsonpath='{.items[*].reportingInstance}' 2>/dev/null) && [[ -n $by ]]; do
  ((SECONDS < deadline)) || fail "fail-over" "no Unsealed Event for $DEMO/after-failover"
  sleep 0.5
done
[[ $by == "$new_leader" ]] || fail "fail-over" "after-failover was unsealed by '$by', not by the new leader $new_leader"
f_lease=$(secs "$t" "$t_lease")
log "fail-over: leader $old_leader deleted; $new_leader took the Lease after ${f_lease}s; a SealedSecret applied $(secs "$t" "$t_applied")s after the delete was unsealed by it ${f_failover}s after the delete (bound ${FAILOVER_BOUND}s)"

# The replacement Pod comes back Ready; exactly one replica leads, the others follow.
wait_ready "$NS" "$SEL" "$replicas" 180 "Deployment $APP"
[[ $(holder) == "$new_leader" ]] || fail "fail-over" "the Lease moved again, to $(holder)"
grep -qxF "$old_leader" <<<"$(pods "$NS" "$SEL" | awk '{ print $1 }')" && fail "fail-over" "the deleted Pod $old_leader is still there"
replacement=$(pods "$NS" "$SEL" | awk '{ print $1 }' | grep -vxF "$before" || true)
[[ $(wc -w <<<"$replacement") == 1 ]] || fail "fail-over" "expected one replacement Pod, found '$replacement'"
one_leader
[[ $leader == "$new_leader" ]] || fail "fail-over" "the leader is $leader, not $new_leader"
# A survivor took the released Lease (followers read it every 2 s); the replacement, which
# leaves an existing Lease to the running replicas for its first 6 s, came back as a follower.
[[ $new_leader != "$replacement" ]] || fail "fail-over" "the replacement Pod $replacement took the Lease, not a surviving replica"
log "all $replicas Pods Ready after the fail-over; a surviving replica ($new_leader) leads, the replacement $replacement follows"

# --- 5. what the kubelet enforced, from the node's /proc --------------------------------------
while read -r name _ _ cid _; do
  pid=$(task_pid "$cid")
  summary=$(proc_check "$pid" 65532 65532) || pod_fail "$NS" "$name" "$summary"
  log "$name: $summary"
done < <(pods "$NS" "$SEL")

# --- the other overlays, applied over prod as a change of environment: rolled out, Ready ----
f_overlays=""
for o in stag dev; do
  t=$(now)
  apply_overlay "$o"
  kc -n $NS rollout status "deploy/$APP" --timeout=240s >"$work/rollout-$o.log" 2>&1 &
  rpid=$!
  while kill -0 "$rpid" 2>/dev/null; do check_pods "$NS" "$SEL"; sleep 1; done
  wait "$rpid" || fail "Deployment $APP ($o)" "rollout not done within 240s" "$work/rollout-$o.log"
  wait_ready "$NS" "$SEL" "$replicas" 120 "Deployment $APP"
  one_leader
  f_overlays+=" $o $(secs "$t" "$(now)")s ($replicas Pods)"
  log "overlay $o applied over the previous one: $replicas Pods Ready, one leader ($leader), in $(secs "$t" "$(now)")s"
done

# --- 6. the upstream chart's shape, our image ------------------------------------------------
# Our install goes, except the CRD (deleting it deletes every SealedSecret) and the key Secrets
# (made by the controller, not by kubectl): the chart's install then finds them, as in a switch.
python3 -c '
import re, sys
docs = re.split(r"^---$", open(sys.argv[1]).read(), flags=re.M)
print("---".join(d for d in docs if not re.search(r"^kind: (CustomResourceDefinition|PodDisruptionBudget)$", d, re.M)))' \
  "$work/rendered-prod.yaml" >"$work/ours-but-crd.yaml"
kc delete -f "$work/ours-but-crd.yaml" --wait=false >/dev/null
kc -n $NS delete pdb "$APP" --ignore-not-found >/dev/null
deadline=$((SECONDS + 60))
while [[ -n $(pods "$NS" "$SEL") ]]; do
  ((SECONDS < deadline)) || fail "uninstall" "the Deployment's Pods still there 60s after kubectl delete" "$node/kubelet.log"
  sleep 1
done
sed "s|image: IMAGE|image: $REF|" "$HERE/chart-shape.yaml" >"$work/chart-shape.yaml"
t=$(now)
kc apply -f "$work/chart-shape.yaml" >"$work/chart-apply.log" 2>&1 || fail "chart shape" "kubectl apply failed" "$work/chart-apply.log"
CHART_SEL=app.kubernetes.io/name=sealed-secrets
wait_ready "$NS" "$CHART_SEL" 1 180 "Deployment $APP"
"$KUBESEAL" --fetch-cert >"$work/chart-cert.pem" 2>"$work/kubeseal.log" || fail "kubeseal --fetch-cert (chart shape)" "failed" "$work/kubeseal.log"
cmp -s "$work/cert.pem" "$work/chart-cert.pem" || fail "chart shape" "the chart's controller serves another certificate than the keys deploy/ made"
value3="chart-$RANDOM$RANDOM"
kc -n $DEMO create secret generic chart-shape --from-literal=password="$value3" --dry-run=client -o yaml |
  "$KUBESEAL" >"$work/chart-shape.sealed.json" 2>"$work/kubeseal.log" || fail "kubeseal" "sealing failed (chart shape)" "$work/kubeseal.log"
kc apply -f "$work/chart-shape.sealed.json" >/dev/null
chart_pod=$(pods "$NS" "$CHART_SEL" | awk '{ print $1 }')
deadline=$((SECONDS + 30))
until secret_is chart-shape "$value3"; do
  check_pods "$NS" "$CHART_SEL"
  ((SECONDS < deadline)) || pod_fail "$NS" "$chart_pod" "Secret $DEMO/chart-shape not unsealed within 30s by the chart-shaped controller"
  sleep 0.5
done
f_chart=$(secs "$t" "$(now)")
# The Secrets made before the switch are still there and owned by their SealedSecrets.
{ secret_is db-creds "$value1" && secret_is after-failover "$value2"; } || fail "chart shape" "a Secret unsealed before the switch changed"
status=$(kc -n $DEMO get sealedsecret chart-shape -o jsonpath='{.status.conditions[?(@.type=="Synced")].status}')
[[ $status == True ]] || pod_fail "$NS" "$chart_pod" "SealedSecret $DEMO/chart-shape has Synced '$status' (--update-status)"
read -r _ _ _ cid _ < <(pods "$NS" "$CHART_SEL")
summary=$(PROC_CHECK_SECCOMP=0 proc_check "$(task_pid "$cid")" 1001) || pod_fail "$NS" "$chart_pod" "$summary"
[[ $(tr '\0' ' ' <"/proc/$(task_pid "$cid")/cmdline") == "controller --update-status --key-prefix sealed-secrets-key --listen-addr :8080 --listen-metrics-addr :8081 " ]] ||
  pod_fail "$NS" "$chart_pod" "the chart-shaped container runs '$(tr '\0' ' ' <"/proc/$(task_pid "$cid")/cmdline")'"
log "chart shape ($chart_pod: command [controller], the chart's default args and RBAC): same certificate, Secret $DEMO/chart-shape unsealed, Synced True; $summary"

failed=0
log "OK. figures: node start ${f_node}s, image build ${f_image}s, apply -k (prod) to $prod_replicas Pods Ready ${f_ready}s, fail-over ${f_failover}s (Lease taken after ${f_lease}s, by a surviving replica), overlays${f_overlays}, chart shape applied to unsealed ${f_chart}s; total $(secs "$t_all" "$(now)")s before node stop"
