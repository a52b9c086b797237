#!/usr/bin/env bash
# Installs what the browser tests of the sealing page (controller/tests/ui.rs) need:
#   /usr/bin/chromium                   Debian's chromium (apt-get; `apt-get update` once first)
#   $BROWSER_DIR/npm/node_modules/playwright-core   pinned, from npm (drives that chromium over CDP;
#                                       it downloads no browser of its own)
# with BROWSER_DIR defaulting to $HOME/.cache/sealed-secrets-rs/browser.
#
# Idempotent: a stamp file records the pins; a rerun with the same pins only checks the stamp and
# the binaries. Concurrent runs serialise on a lock file. Progress goes to stderr; the last stdout
# line is the browser directory (export it as SEALED_SECRETS_BROWSER_DIR for the test).
set -euo pipefail

PLAYWRIGHT_CORE_VERSION=1.65.2
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

BROWSER_DIR="${BROWSER_DIR:-$HOME/.cache/sealed-secrets-rs/browser}"
STAMP="$BROWSER_DIR/stamp"
WANT="browser-v1 chromium=$CHROMIUM playwright-core@$PLAYWRIGHT_CORE_VERSION"

log() { echo "[browser] $*" >&2; }

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$CHROMIUM" \
     && -f "$BROWSER_DIR/npm/node_modules/playwright-core/package.json" ]]
}

if installed; then
  log "already installed in $BROWSER_DIR"
  echo "$BROWSER_DIR"
  exit 0
fi

mkdir -p "$BROWSER_DIR"
exec 9>"$BROWSER_DIR/.install.lock"
flock 9
if installed; then # another process finished the install while we waited
  log "already installed in $BROWSER_DIR"
  echo "$BROWSER_DIR"
  exit 0
fi
rm -f "$STAMP"

if [[ ! -x "$CHROMIUM" ]]; then
  log "apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
fi
"$CHROMIUM" --version >&2

command -v npm >/dev/null || { log "npm not found on PATH"; exit 1; }
log "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION"
mkdir -p "$BROWSER_DIR/npm"
[[ -f "$BROWSER_DIR/npm/package.json" ]] || echo '{"name":"sealed-secrets-rs-browser","private":true}' >"$BROWSER_DIR/npm/package.json"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$BROWSER_DIR/npm" --no-audit --no-fund \
  --loglevel=error --save-exact "playwright-core@$PLAYWRIGHT_CORE_VERSION" >&2

echo "$WANT" >"$STAMP"
log "installed in $BROWSER_DIR"
echo "$BROWSER_DIR"
