#!/usr/bin/env bash
# Installs the third-party sealing-format oracles, pinned, into a cache directory:
#   $ORACLES_DIR/venv  Python venv: kubesealpy==1.0.1, aes-gcm-rsa-oaep==0.1.0 (+ constraints.txt)
#   $ORACLES_DIR/npm   npm prefix:  @linode/kubeseal-encrypt@1.0.1
# with ORACLES_DIR defaulting to $HOME/.cache/sealed-secrets-rs/oracles.
#
# Idempotent: a stamp file records the pins (and a hash of constraints.txt); a rerun with the
# same pins only checks the stamp. Concurrent runs serialise on a lock file.
# Progress goes to stderr; the last stdout line is the oracles directory.
set -euo pipefail

KUBESEALPY_VERSION=1.0.1
AES_GCM_RSA_OAEP_VERSION=0.1.0
LINODE_VERSION=1.0.1

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Full pinned dependency set (incl. cryptography). aes-gcm-rsa-oaep declares cryptography<38,
# which has no wheels for current Pythons, so it is installed with --no-deps next to the
# current cryptography pinned there (it only uses the stable OAEP/AESGCM API).
CONSTRAINTS="$HERE/constraints.txt"

ORACLES_DIR="${ORACLES_DIR:-$HOME/.cache/sealed-secrets-rs/oracles}"
STAMP="$ORACLES_DIR/stamp"
WANT="oracles-v1 kubesealpy==$KUBESEALPY_VERSION aes-gcm-rsa-oaep==$AES_GCM_RSA_OAEP_VERSION @linode/kubeseal-encrypt@$LINODE_VERSION constraints-sha256=$(sha256sum "$CONSTRAINTS" | cut -c1-64)"

log() { echo "[oracles] $*" >&2; }

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" \
     && -x "$ORACLES_DIR/venv/bin/python" \
     && -f "$ORACLES_DIR/npm/node_modules/@linode/kubeseal-encrypt/package.json" ]]
}

if installed; then
  log "already installed in $ORACLES_DIR"
  echo "$ORACLES_DIR"
  exit 0
fi

mkdir -p "$ORACLES_DIR"
exec 9>"$ORACLES_DIR/.install.lock"
flock 9
if installed; then # another process finished the install while we waited
  log "already installed in $ORACLES_DIR"
  echo "$ORACLES_DIR"
  exit 0
fi
rm -f "$STAMP"

PYTHON="${ORACLES_PYTHON:-$(command -v python3 || echo /usr/bin/python3)}"

make_venv() {
  rm -rf "$ORACLES_DIR/venv"
  "$PYTHON" -m venv "$ORACLES_DIR/venv" >&2
}

log "creating venv with $PYTHON"
if ! make_venv; then
  log "venv creation failed; installing python3-venv via apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y python3-venv >&2
  PYTHON=/usr/bin/python3
  make_venv
fi

VPY="$ORACLES_DIR/venv/bin/python"
PIP=("$VPY" -m pip install --quiet --disable-pip-version-check --no-input)
log "pip install kubesealpy==$KUBESEALPY_VERSION (constrained by constraints.txt)"
"${PIP[@]}" -c "$CONSTRAINTS" "kubesealpy==$KUBESEALPY_VERSION" cryptography >&2
log "pip install --no-deps aes-gcm-rsa-oaep==$AES_GCM_RSA_OAEP_VERSION"
"${PIP[@]}" --no-deps "aes-gcm-rsa-oaep==$AES_GCM_RSA_OAEP_VERSION" >&2
"$VPY" -c 'import kubesealpy.sealer, kubesealpy.unsealer, aes_gcm_rsa_oaep, cryptography' >&2

command -v npm >/dev/null || { log "npm not found on PATH"; exit 1; }
log "npm install @linode/kubeseal-encrypt@$LINODE_VERSION"
mkdir -p "$ORACLES_DIR/npm"
[[ -f "$ORACLES_DIR/npm/package.json" ]] || echo '{"name":"sealed-secrets-rs-oracles","private":true}' >"$ORACLES_DIR/npm/package.json"
npm install --prefix "$ORACLES_DIR/npm" --no-audit --no-fund --loglevel=error \
  --save-exact "@linode/kubeseal-encrypt@$LINODE_VERSION" >&2

echo "$WANT" >"$STAMP"
log "installed in $ORACLES_DIR"
echo "$ORACLES_DIR"
