# shellcheck shell=bash
# The user's part of the quick start, shared by tests/demo/node.sh (the controller as a Pod on the
# node) and tests/demo/steps.sh (the controller as a local process); sourced. kubectl and kubeseal
# from PATH, KUBECONFIG set.

step() { printf '\n==> %s\n' "$*" >&2; }

# seal_apply_show WORK SEAL-TITLE UNSEALER [KUBESEAL-ARG...]: Secret demo/db-creds sealed with
# `kubeseal KUBESEAL-ARG... -o yaml` into WORK/sealed.yaml (printed), applied as Flux would; once
# UNSEALER (the step's wording) made the Secret (30 s bound), the SealedSecret, the Secret and its
# password, decoded.
seal_apply_show() {
  local work=$1 title=$2 unsealer=$3
  shift 3
  step "$title"
  kubectl create namespace demo >/dev/null
  kubectl create secret generic db-creds -n demo --from-literal=username=admin \
    --from-literal=password='s3cr3t!' --dry-run=client -o yaml |
    kubeseal "$@" -o yaml >"$work/sealed.yaml"
  cat "$work/sealed.yaml"

  step "applying the SealedSecret (what Flux does with the file from Git)"
  kubectl apply -f "$work/sealed.yaml"

  step "waiting for the $unsealer to unseal it into a Secret"
  for _ in $(seq 1 60); do
    kubectl get secret db-creds -n demo >/dev/null 2>&1 && break
    sleep 0.5
  done
  kubectl get secret db-creds -n demo >/dev/null 2>&1 || {
    printf 'demo: no Secret demo/db-creds after 30 s: %s\n' "$(kubectl get sealedsecret db-creds -n demo -o jsonpath='{.status.conditions}')" >&2
    exit 1
  }
  kubectl get sealedsecret db-creds -n demo
  kubectl get secret db-creds -n demo -o yaml
  printf '\npassword, decoded: %s\n' "$(kubectl get secret db-creds -n demo -o jsonpath='{.data.password}' | base64 -d)"
}
