#!/usr/bin/env bash
# Builds the sprig oracle: Go's text/template with Debian's sprig (3.2.3, the function map the
# Go controller uses minus env/expandenv/getHostByName), in GOPATH mode from Debian's packages
# (no Go module proxy is needed). Installs golang-go and golang-github-masterminds-sprig-dev
# with apt when missing. Idempotent: the binary is rebuilt only when main.go changes.
# Progress goes to stderr; the last stdout line is the oracle binary's path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${SPRIG_ORACLE_DIR:-$HOME/.cache/sealed-secrets-rs/sprig-oracle}"
BIN="$DIR/sprig-oracle"
WANT="sprig-oracle-v1 $(sha256sum "$HERE/main.go" | cut -c1-64)"
log() { echo "[sprig-oracle] $*" >&2; }

if [[ -x "$BIN" && -f "$DIR/stamp" && "$(cat "$DIR/stamp")" == "$WANT" ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [[ -x "$BIN" && -f "$DIR/stamp" && "$(cat "$DIR/stamp")" == "$WANT" ]]; then
  echo "$BIN"
  exit 0
fi
if ! command -v go >/dev/null || [[ ! -d /usr/share/gocode/src/github.com/Masterminds/sprig ]]; then
  log "installing golang-go and golang-github-masterminds-sprig-dev with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq golang-go golang-github-masterminds-sprig-dev >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq golang-go golang-github-masterminds-sprig-dev >&2; }
fi
log "building $BIN"
(cd "$HERE" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$DIR/gocache" \
  go build -o "$BIN.new" .) >&2
mv "$BIN.new" "$BIN"
echo "$WANT" >"$DIR/stamp"
echo "$BIN"
