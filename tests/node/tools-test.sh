#!/usr/bin/env bash
# The ccloud-keys watcher and the key-rotation job as real Pods on the test node (issue 16,
# item 5):
#   tests/node/tools-test.sh [WORKDIR]        (as root; WORKDIR default: a new /tmp/ssnode-tools.*)
# 1. Waits (15 min bound) until no other node runs on this machine; tool-images.sh (ccloud-keys
#    and reseal images), controller-image.sh; node.sh start; node.sh import.
# 2. deploy/overlays/dev (one replica) applied with `kubectl apply -k` and an `images:` override
#    (the PodDisruptionBudget as policy/v1beta1 on v1.20, as deploy-test.sh does); Ready.
# 3. `git daemon` on the node's bridge address (10.244.77.1, a free port; the Pods reach it, nothing
#    else does), a bare repository seeded as ccloud-keys expects (secrets/keys/dev.crt).
# 4. deploy/ccloud-keys applied through a kustomization with `images:` and the ccloud-keys-git
#    Secret (git://10.244.77.1:PORT/gitops.git): the init container clones, the watcher is Ready.
#    It fetches the certificate through the API server's Service proxy (no cluster DNS).
# 5. A Secret minted the ccloud-operator's way (cc.api-key.<sa>.<resource> in `default`, its
#    labels and data): within 60 s the bare repository has a new commit of exactly
#    secrets/sealed/dev/default-<name>.yaml, a SealedSecret for default/<name> (strict scope)
#    without the plaintext; applied, the controller adopts the Secret (owner reference) and it
#    holds the same value.
# 6. The watcher's process from the node's /proc: uid/gid 65532, no capabilities,
#    no_new_privs, seccomp, read-only / (proc-check.sh).
# 7. The key-rotation job: the controller renews its key (SIGUSR1 from the node, README
#    "Rotating keys"); deploy/reseal applied (CronJob as batch/v1beta1 on v1.20) with a
#    reseal-git Secret to the same daemon; `kubectl create job --from=cronjob/...`; Complete;
#    a new commit re-encrypted the stale file, which opens with the newest key alone
#    (kubeseal --recovery-unseal) to the same value, and the controller unseals it.
# Every wait is bounded; a failure is one line naming the component and its log; a container in
# CrashLoopBackOff fails at once with its last log lines. The node and the git daemon are always
# stopped (trap); WORKDIR removed on success when this script made it.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
NODE_IP=10.244.77.1
CTRL_REF=localhost/sealed-secrets-rs-controller:dev
CCLOUD_REF=localhost/sealed-secrets-rs-ccloud-keys:dev
RESEAL_REF=localhost/sealed-secrets-rs-reseal:dev
CTRL_SEL=name=sealed-secrets-controller
WATCH_NS=ccloud-keys
WATCH_SEL=app.kubernetes.io/name=ccloud-keys
RESEAL_NS=sealed-secrets-reseal
COMMIT_BOUND=60
NAME=cc.api-key.orders-app.lkc-9z8y
SEALED_PATH=secrets/sealed/dev/default-$NAME.yaml

node_test_init node/tools-test /tmp/ssnode-tools.XXXXXX "${1:-}"
daemon_pid=
on_cleanup() {
  if [[ -n $daemon_pid ]]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
}

git_() { git -c user.name=tools-test -c user.email=tools-test@localhost "$@"; }
# cert_pem: the controller's certificate through the API server's Service proxy.
cert_pem() { kc get --raw "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem"; }
# bare_has_file: the bare repository's main holds the sealed file.
bare_has_file() { git -C "$bare" cat-file -e "main:$SEALED_PATH" 2>/dev/null; }
secret_field() { kc -n default get secret "$NAME" -o jsonpath="{$1}" 2>/dev/null || true; }
# render_tool NAME OVERLAY IMAGE REF SECRET NS WHAT: $work/k-NAME holding deploy/OVERLAY with
# IMAGE as REF and the git Secret NS/SECRET (url: $POD_GIT_URL), rendered into
# $work/rendered-NAME.yaml; fails unless both containers of the WHAT run REF.
render_tool() {
  local name=$1 overlay=$2 image=$3 ref=$4 secret=$5 ns=$6 what=$7 dir="$work/k-$1"
  kust "$dir" "$ROOT/deploy/$overlay" "$image" "$ref" git-secret.yaml
  cat >"$dir/git-secret.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: $ns
stringData:
  url: $POD_GIT_URL
EOF
  "$V5" kustomize "$dir" >"$work/rendered-$name.yaml" 2>"$work/kustomize.log" || fail "kustomize" "kubectl kustomize $dir failed" "$work/kustomize.log"
  [[ $(grep -c "image: $ref\$" "$work/rendered-$name.yaml") == 2 ]] || fail "kustomize" "the rendered $what does not run $ref in both containers"
}

need_root

# --- 0. one node per machine: wait for another run's node to go ---------------------------------
deadline=$((SECONDS + 900))
while ip link show ssnode0 >/dev/null 2>&1 || pgrep -x kubelet >/dev/null; do
  ((SECONDS < deadline)) || fail "node" "another node still runs on this machine after 15 min (bridge ssnode0 or a kubelet)"
  log "another node runs on this machine (bridge ssnode0 or a kubelet); waiting (15 min bound)"
  sleep 15
done

# --- 1. images, node ---------------------------------------------------------------------------
need_v5
target=${CARGO_TARGET_DIR:-$ROOT/target}
KUBESEAL=$target/release/kubeseal
t_all=$(now)
t=$(now)
"$HERE/tool-images.sh" "$work/images" >"$work/tool-images.log" 2>&1 || fail "tool images" "tool-images.sh failed" "$work/tool-images.log"
f_tools=$(secs "$t" "$(now)")
t=$(now)
"$HERE/controller-image.sh" "$work/images/controller.tar" "$CTRL_REF" >"$work/controller-image.log" 2>&1 ||
  fail "controller image" "controller-image.sh failed" "$work/controller-image.log"
f_ctrl=$(secs "$t" "$(now)")
[[ -x $KUBESEAL ]] || fail "kubeseal" "$KUBESEAL missing after tool-images.sh"
size() { du -h "$1" | cut -f1; }
f_sizes="ccloud-keys $(size "$work/images/ccloud-keys.tar"), reseal $(size "$work/images/reseal.tar"), controller $(size "$work/images/controller.tar")"
log "images: tool-images.sh ${f_tools}s, controller-image.sh ${f_ctrl}s; archives $f_sizes"

node_start
node_import "$work/images/controller.tar" "$work/images/ccloud-keys.tar" "$work/images/reseal.tar"
node_has_images "$CTRL_REF" "$CCLOUD_REF" "$RESEAL_REF"
log "node started in ${f_node}s; 3 images imported"

# --- 2. the controller: deploy/overlays/dev ------------------------------------------------------
t=$(now)
render_or_fail dev "$work/k-dev" "$CTRL_REF" "$work/rendered-dev.yaml"
apply_k dev "$work/k-dev" "$work/rendered-dev.yaml"
wait_ready kube-system "$CTRL_SEL" 1 240
f_ctrl_ready=$(secs "$t" "$(now)")
cert_pem >"$work/cert1.pem" 2>"$work/cert.log" || fail "controller" "no certificate through the Service proxy" "$work/cert.log"
log "deploy/overlays/dev: controller Ready in ${f_ctrl_ready}s; certificate served through the Service proxy"

# --- 3. the Git server on the node's bridge --------------------------------------------------------
port=$(python3 -c '
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$NODE_IP")
mkdir -p "$work/git"
bare=$work/git/gitops.git
git init --quiet --bare --initial-branch=main "$bare"
git_ clone --quiet "$bare" "$work/seed" 2>/dev/null
mkdir -p "$work/seed/secrets/keys" "$work/seed/secrets/sealed/dev"
cp "$work/cert1.pem" "$work/seed/secrets/keys/dev.crt"
echo "GitOps repository of tests/node/tools-test.sh" >"$work/seed/README"
git_ -C "$work/seed" add . && git_ -C "$work/seed" commit --quiet -m "certificate"
git_ -C "$work/seed" push --quiet origin HEAD:main
git daemon --reuseaddr --base-path="$work/git" --export-all --enable=receive-pack \
  --listen="$NODE_IP" --port="$port" --verbose >"$work/git-daemon.log" 2>&1 &
daemon_pid=$!
GIT_URL=git://$NODE_IP:$port/gitops.git
# The URL the Pods get (TOOLS_TEST_POD_GIT_URL: another one, to check the failure path).
POD_GIT_URL=${TOOLS_TEST_POD_GIT_URL:-$GIT_URL}
deadline=$((SECONDS + 15))
until git ls-remote "$GIT_URL" >/dev/null 2>&1; do
  kill -0 "$daemon_pid" 2>/dev/null || fail "git daemon" "exited" "$work/git-daemon.log"
  ((SECONDS < deadline)) || fail "git daemon" "$GIT_URL not answering within 15s" "$work/git-daemon.log"
  sleep 0.3
done
commits() { git -C "$bare" rev-list --count main; }
log "git daemon on $GIT_URL (bare repository seeded: secrets/keys/dev.crt)"

# --- 4. the watcher: deploy/ccloud-keys -------------------------------------------------------------
t=$(now)
render_tool ccloud ccloud-keys ghcr.io/example/sealed-secrets-rs-ccloud-keys "$CCLOUD_REF" ccloud-keys-git "$WATCH_NS" Deployment
grep -q -- '--cert' "$work/rendered-ccloud.yaml" && fail "deploy/ccloud-keys" "the Deployment still passes --cert (needs cluster DNS)"
"$V5" --kubeconfig "$node/admin.kubeconfig" apply -k "$work/k-ccloud" >"$work/apply-ccloud.log" 2>&1 ||
  fail "kubectl apply -k (ccloud-keys)" "failed" "$work/apply-ccloud.log"
wait_ready "$WATCH_NS" "$WATCH_SEL" 1 180
f_watch_ready=$(secs "$t" "$(now)")
read -r watch_pod _ _ watch_cid _ < <(pods "$WATCH_NS" "$WATCH_SEL")
log "deploy/ccloud-keys: $watch_pod cloned $GIT_URL and is Ready in ${f_watch_ready}s after apply -k"

# --- 5. the operator mints a key: sealed, committed, pushed ------------------------------------------
key_id=KEY$RANDOM$RANDOM
key_secret="s3cr3t/$RANDOM+$RANDOM"
value="{\"key\":\"$key_id\",\"secret\":\"$key_secret\"}"
before=$(commits)
kc -n default create secret generic "$NAME" --from-literal=ccloud-api-key="$value" --dry-run=client -o yaml |
  kc label --local -f - -o yaml resource_id=lkc-9z8y service_accont=orders-app service_account_id=sa-1x2y "key=$key_id" category=kafka >"$work/operator-secret.yaml"
t=$(now)
kc apply -f "$work/operator-secret.yaml" >/dev/null
deadline=$((SECONDS + COMMIT_BOUND))
until [[ $(commits) -gt $before ]] && bare_has_file; do
  check_pods "$WATCH_NS" "$WATCH_SEL"
  ((SECONDS < deadline)) || pod_fail "$WATCH_NS" "$watch_pod" "no commit of $SEALED_PATH in $GIT_URL within ${COMMIT_BOUND}s of the operator's Secret"
  sleep 0.3
done
f_commit=$(secs "$t" "$(now)")
[[ $(commits) == $((before + 1)) ]] || fail "ccloud-keys" "$(($(commits) - before)) commits pushed, expected 1" "$work/git-daemon.log"
files=$(git -C "$bare" show --format= --name-only main)
[[ $files == "$SEALED_PATH" ]] || fail "ccloud-keys" "the commit holds '$files', not exactly $SEALED_PATH"
author=$(git -C "$bare" show -s --format='%an <%ae>' main)
[[ $author == "ccloud-keys <ccloud-keys@users.noreply.example.com>" ]] || fail "ccloud-keys" "commit author '$author' is not the Deployment's --author"
git -C "$bare" show "main:$SEALED_PATH" >"$work/sealed1.yaml"
grep -qF "$key_secret" "$work/sealed1.yaml" && fail "ccloud-keys" "the committed file holds the plaintext"
python3 - "$work/sealed1.yaml" "$NAME" <<'EOF' || fail "ccloud-keys" "the committed file is not a strict SealedSecret for default/$NAME" "$work/sealed1.yaml"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert len(docs) == 1, docs
d = docs[0]
assert d["kind"] == "SealedSecret" and d["apiVersion"] == "bitnami.com/v1alpha1", d
m = d["metadata"]
assert m["name"] == sys.argv[2] and m["namespace"] == "default", m
ann = m.get("annotations") or {}
assert not any(k.startswith("sealedsecrets.bitnami.com/") and k.endswith("-wide") for k in ann), ann
assert list(d["spec"]["encryptedData"]) == ["ccloud-api-key"], d["spec"]
labels = d["spec"]["template"]["metadata"]["labels"]
assert labels["service_accont"] == "orders-app" and labels["resource_id"] == "lkc-9z8y", labels
EOF
log "operator Secret default/$NAME to the pushed commit of $SEALED_PATH: ${f_commit}s (bound ${COMMIT_BOUND}s); SealedSecret default/$NAME, strict, no plaintext, author $author"

# Flux's part: the file applied; the controller adopts the operator's Secret, same value.
kc apply -f "$work/sealed1.yaml" >/dev/null
deadline=$((SECONDS + 30))
until [[ $(secret_field '.metadata.ownerReferences[0].kind') == SealedSecret &&
  $(secret_field '.metadata.ownerReferences[0].name') == "$NAME" ]]; do
  check_pods kube-system "$CTRL_SEL"
  ((SECONDS < deadline)) || fail "controller" "Secret default/$NAME not owned by its SealedSecret within 30s"
  sleep 0.5
done
[[ $(secret_field '.data.ccloud-api-key' | base64 -d) == "$value" ]] || fail "controller" "Secret default/$NAME does not hold the operator's value after the adoption"
[[ $(secret_field '.metadata.labels.key') == "$key_id" ]] || fail "controller" "Secret default/$NAME lost the operator's labels"
log "SealedSecret applied: the controller owns Secret default/$NAME, same value and labels"

# --- 6. what the kubelet enforced on the watcher ------------------------------------------------------
summary=$(PROC_CHECK_EXE=ccloud-keys proc_check "$(task_pid "$watch_cid")" 65532 65532) || pod_fail "$WATCH_NS" "$watch_pod" "$summary"
log "$watch_pod: $summary"
[[ $(kc -n "$WATCH_NS" logs "$watch_pod" -c ccloud-keys) != *orbidden* ]] || pod_fail "$WATCH_NS" "$watch_pod" "the watcher logged a Forbidden"

if [[ ${TOOLS_TEST_RESEAL:-1} == 1 ]]; then
# --- 7. key rotation: renew, then the reseal job -----------------------------------------------------
keys() { kc -n kube-system get secrets -l sealedsecrets.bitnami.com/sealed-secrets-key -o name | wc -l; }
nkeys=$(keys)
read -r ctrl_pod _ _ ctrl_cid _ < <(pods kube-system "$CTRL_SEL")
kill -USR1 "$(task_pid "$ctrl_cid")"
deadline=$((SECONDS + 120))
until [[ $(keys) -gt $nkeys ]] && cert_pem >"$work/cert2.pem" 2>/dev/null && ! cmp -s "$work/cert1.pem" "$work/cert2.pem"; do
  ((SECONDS < deadline)) || pod_fail kube-system "$ctrl_pod" "no new key served within 120s of SIGUSR1"
  sleep 1
done
log "SIGUSR1 to the controller from the node: key $((nkeys + 1)) made and served"

t=$(now)
render_tool reseal reseal ghcr.io/example/sealed-secrets-rs-reseal "$RESEAL_REF" reseal-git "$RESEAL_NS" CronJob
# v1.20 serves CronJob as batch/v1beta1 only (batch/v1 arrived in 1.21): the same fields.
if kc get --raw /apis/batch/v1 | grep -q '"name":"cronjobs"'; then
  cp "$work/rendered-reseal.yaml" "$work/reseal-apply.yaml"
else
  sed 's|^apiVersion: batch/v1$|apiVersion: batch/v1beta1|' "$work/rendered-reseal.yaml" >"$work/reseal-apply.yaml"
fi
kc apply -f "$work/reseal-apply.yaml" >"$work/apply-reseal.log" 2>&1 || fail "kubectl apply (reseal)" "failed" "$work/apply-reseal.log"
before=$(commits)
kc -n "$RESEAL_NS" create job reseal-now --from=cronjob/sealed-secrets-reseal >>"$work/apply-reseal.log" 2>&1 ||
  fail "kubectl create job --from=cronjob/sealed-secrets-reseal" "failed" "$work/apply-reseal.log"
deadline=$((SECONDS + 180))
until [[ $(kc -n "$RESEAL_NS" get job reseal-now -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}') == True ]]; do
  check_pods "$RESEAL_NS" job-name=reseal-now
  [[ $(kc -n "$RESEAL_NS" get job reseal-now -o jsonpath='{.status.failed}') == "" ]] ||
    pod_fail "$RESEAL_NS" "$(pods "$RESEAL_NS" job-name=reseal-now | awk 'NR == 1 { print $1 }')" "a reseal Pod failed"
  ((SECONDS < deadline)) || pod_fail "$RESEAL_NS" "$(pods "$RESEAL_NS" job-name=reseal-now | awk 'NR == 1 { print $1 }')" "Job not Complete within 180s"
  sleep 1
done
f_reseal=$(secs "$t" "$(now)")
reseal_pod=$(pods "$RESEAL_NS" job-name=reseal-now | awk 'NR == 1 { print $1 }')
kc -n "$RESEAL_NS" logs "$reseal_pod" -c reseal >"$work/reseal.log" 2>&1 || true
[[ $(commits) == $((before + 1)) ]] || fail "reseal job" "$(($(commits) - before)) commits pushed, expected 1" "$work/reseal.log"
author=$(git -C "$bare" show -s --format='%an' main)
[[ $author == sealed-secrets-reseal ]] || fail "reseal job" "the last commit's author is '$author'" "$work/reseal.log"
files=$(git -C "$bare" show --format= --name-only main)
[[ $files == "$SEALED_PATH" ]] || fail "reseal job" "the commit holds '$files', not exactly $SEALED_PATH" "$work/reseal.log"
git -C "$bare" show "main:$SEALED_PATH" >"$work/sealed2.yaml"
cmp -s "$work/sealed1.yaml" "$work/sealed2.yaml" && fail "reseal job" "$SEALED_PATH unchanged" "$work/reseal.log"
# The newest key alone opens the re-encrypted file (and not the old one).
newest=$(kc -n kube-system get secrets -l sealedsecrets.bitnami.com/sealed-secrets-key --sort-by=.metadata.creationTimestamp -o name | tail -1)
kc -n kube-system get "$newest" -o yaml >"$work/newest-key.yaml"
[[ $(kc -n kube-system get "$newest" -o jsonpath='{.data.tls\.crt}' | base64 -d) == "$(cat "$work/cert2.pem")" ]] ||
  fail "controller" "the newest key Secret $newest is not the served certificate"
"$KUBESEAL" --recovery-unseal --recovery-private-key "$work/newest-key.yaml" -o json <"$work/sealed2.yaml" >"$work/unsealed2.json" 2>"$work/recovery.log" ||
  fail "reseal job" "$SEALED_PATH does not open with the newest key alone" "$work/recovery.log"
[[ $(python3 -c 'import base64, json, sys; print(base64.b64decode(json.load(open(sys.argv[1]))["data"]["ccloud-api-key"]).decode())' "$work/unsealed2.json") == "$value" ]] ||
  fail "reseal job" "the re-encrypted file does not open to the operator's value"
if "$KUBESEAL" --recovery-unseal --recovery-private-key "$work/newest-key.yaml" <"$work/sealed1.yaml" >/dev/null 2>&1; then
  fail "reseal job" "the file before the job opened with the newest key (it was not stale: the test proves nothing)"
fi
# Applied (Flux's part): the controller still unseals it, same value.
gen=$(kc -n default get sealedsecret "$NAME" -o jsonpath='{.metadata.generation}')
kc apply -f "$work/sealed2.yaml" >/dev/null
[[ $(kc -n default get sealedsecret "$NAME" -o jsonpath='{.metadata.generation}') -gt $gen ]] || fail "reseal job" "applying the re-encrypted file changed nothing"
deadline=$((SECONDS + 30))
until kc -n default get events --field-selector "involvedObject.kind=SealedSecret,involvedObject.name=$NAME,reason=Unsealed" -o json |
  python3 -c 'import json, sys; sys.exit(0 if sum(e.get("count") or 1 for e in json.load(sys.stdin)["items"]) >= 2 else 1)'; do
  ((SECONDS < deadline)) || pod_fail kube-system "$ctrl_pod" "the re-encrypted SealedSecret default/$NAME not unsealed within 30s"
  sleep 0.5
done
[[ $(secret_field '.data.ccloud-api-key' | base64 -d) == "$value" ]] || fail "controller" "Secret default/$NAME changed value after the re-encrypted file"
f_reseal_txt=" reseal job (apply to Complete, pushed) ${f_reseal}s,"
log "reseal job $reseal_pod: Complete in ${f_reseal}s after apply; one commit re-encrypted $SEALED_PATH to the newest key ($newest), which alone opens it to the same value; the controller unsealed it"
else
  f_reseal_txt=""
fi

failed=0
log "OK. figures: tool images ${f_tools}s (archives $f_sizes; controller image ${f_ctrl}s), node start ${f_node}s, controller apply -k to Ready ${f_ctrl_ready}s, ccloud-keys apply -k to Ready ${f_watch_ready}s, operator Secret to pushed commit ${f_commit}s,${f_reseal_txt} total $(secs "$t_all" "$(now)")s before node stop"
