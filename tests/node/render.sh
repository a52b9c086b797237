# shellcheck shell=bash
# Rendering deploy/ as a user does, for the v1.20 node (sourced by tests/node/lib.sh, hence by
# deploy-test.sh and tools-test.sh, and by tests/demo/node.sh). Functions only; each returns
# non-zero on failure and leaves the one-line error to the caller. $V5: a kubectl with kustomize v5
# (tests/kubectl-v5/install.sh).

RENDER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

relpath() { python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$2"; }

# kust DIR RESOURCE IMAGE-NAME NEW-REF [EXTRA-RESOURCE...]: DIR/kustomization.yaml holding
# RESOURCE (a path, relative: kustomize v5 refuses absolute ones), the extras and the image
# override.
kust() {
  local dir=$1 res=$2 name=$3 ref=$4 r
  shift 4
  mkdir -p "$dir"
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    echo "- $(relpath "$res" "$dir")"
    for r in "$@"; do echo "- $r"; done
    echo "images:"
    echo "- name: $name"
    echo "  newName: ${ref%:*}"
    echo "  newTag: ${ref##*:}"
  } >"$dir/kustomization.yaml"
}

# render_overlay OVERLAY DIR REF OUT LOG: DIR/kustomization.yaml holding only
# deploy/overlays/OVERLAY with the controller image REF, rendered by kustomize v5 into OUT
# (kustomize's stderr in LOG).
render_overlay() {
  kust "$2" "$RENDER_ROOT/deploy/overlays/$1" ghcr.io/example/sealed-secrets-rs-controller "$3" || return
  "$V5" kustomize "$2" >"$4" 2>"$5"
}

# pdb_v1beta1 RENDERED [--only]: RENDERED with its PodDisruptionBudget as policy/v1beta1 (v1.20
# serves no policy/v1; deploy/README.md); with --only, that document alone.
pdb_v1beta1() {
  python3 - "$1" "${2:-}" <<'EOF'
import re, sys
docs = re.split(r"^---$", open(sys.argv[1]).read(), flags=re.M)
pdb = [i for i, d in enumerate(docs) if re.search(r"^kind: PodDisruptionBudget$", d, re.M)]
assert len(pdb) == 1, "exactly one PodDisruptionBudget expected"
docs[pdb[0]] = docs[pdb[0]].replace("apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n", 1)
if sys.argv[2] == "--only":
    print(docs[pdb[0]])
else:
    sys.stdout.write("---".join(docs))
EOF
}
