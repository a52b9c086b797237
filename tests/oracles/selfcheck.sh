#!/usr/bin/env bash
# ok() never fails, so "cond && ok || bad" is a safe if/else here.
# shellcheck disable=SC2015
# Self-check of the oracles: every oracle's sealed output must unseal with every oracle that can
# unseal (aes <-> kubesealpy, linode -> aes/kubesealpy), in every scope each supports, with text,
# empty, large and binary (all 256 byte values) payloads for the Python ones; wrong label / wrong
# key must fail; kubesealpy objects must round-trip and match the raw format.
# Uses a fresh RSA-4096 key + self-signed cert (PKCS#8 and PKCS#1 copies of the key).
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
O="$HERE/oracle"
ORACLES_DIR="$("$HERE/install.sh" | tail -n1)"
export ORACLES_DIR
PY="$ORACLES_DIR/venv/bin/python" # has PyYAML; used for helpers below

T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
cd "$T"

openssl req -x509 -newkey rsa:4096 -nodes -keyout k8.pem -out c.pem -days 3650 \
  -subj /CN=sealed-secret/O=sealed-secret 2>/dev/null
openssl rsa -in k8.pem -traditional -out k1.pem 2>/dev/null
openssl req -x509 -newkey rsa:4096 -nodes -keyout other.pem -out other.crt -days 1 \
  -subj /CN=other 2>/dev/null
grep -q 'BEGIN PRIVATE KEY' k8.pem && grep -q 'BEGIN RSA PRIVATE KEY' k1.pem

# payloads
printf 'p4ssw0rd: héllo wörld ✓ 🔑\n' >text.bin
: >empty.bin
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))' >bin256.bin
head -c 65536 /dev/urandom >big.bin
[[ $(wc -c <bin256.bin) -eq 256 ]]

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

LABELS=("team-a/db-creds" "team-a" "")
scope_of() { case "$1" in */*) echo strict ;; "") echo cluster-wide ;; *) echo namespace-wide ;; esac; }

# roundtrip SEAL_IMPL PAYLOAD LABEL
roundtrip() {
  local s="$1" p="$2" label="$3" u key
  if ! "$O" seal-raw --impl "$s" --cert c.pem --label "$label" <"$p" >ct.b64 2>err; then
    bad "seal-raw $s $p label='$label': $(cat err)"
    return
  fi
  # one line of standard base64, 0x02 0x00 length prefix for RSA-4096
  if [[ $(wc -l <ct.b64) -ne 1 ]] || ! base64 -d <ct.b64 >ct.bin 2>/dev/null \
     || [[ "$(head -c 2 ct.bin | od -An -tx1 | tr -d ' ')" != 0200 ]] \
     || [[ $(wc -c <ct.bin) -ne $((2 + 512 + $(wc -c <"$p") + 16)) ]]; then
    bad "seal-raw $s $p label='$label': unexpected framing"
    return
  fi
  for u in aes kubesealpy; do
    for key in k8.pem k1.pem; do
      if "$O" unseal-raw --impl "$u" --key "$key" --label "$label" <ct.b64 >pt.bin 2>err && cmp -s pt.bin "$p"; then
        ok
      else
        bad "$s -> $u ($key) $p [$(scope_of "$label")]: $(cat err)"
      fi
    done
    # negative checks once per (seal impl, label), on the text payload
    [[ "$p" == text.bin ]] || continue
    # the label must matter: every other label fails
    local other
    for other in "${LABELS[@]}" "team-b/db-creds"; do
      [[ "$other" == "$label" ]] && continue
      if "$O" unseal-raw --impl "$u" --key k8.pem --label "$other" <ct.b64 >/dev/null 2>&1; then
        bad "$s -> $u: sealed with '$label' but unsealed with label '$other'"
      else
        ok
      fi
    done
    # the key must matter; with several keys the right one is found
    if "$O" unseal-raw --impl "$u" --key other.pem --label "$label" <ct.b64 >/dev/null 2>&1; then
      bad "$s -> $u: unsealed with an unrelated key"
    else
      ok
    fi
    if "$O" unseal-raw --impl "$u" --key other.pem --key k1.pem --label "$label" <ct.b64 >pt.bin 2>err && cmp -s pt.bin "$p"; then
      ok
    else
      bad "$s -> $u with [other, right] keys: $(cat err)"
    fi
  done
}

for s in aes kubesealpy; do
  for label in "${LABELS[@]}"; do
    for p in text.bin empty.bin bin256.bin big.bin; do
      roundtrip "$s" "$p" "$label"
    done
  done
done
# linode: namespace-wide, UTF-8 text only
for p in text.bin empty.bin; do
  roundtrip linode "$p" "team-a"
done
# linode refuses what it cannot do
for label in "team-a/db-creds" ""; do
  if "$O" seal-raw --impl linode --cert c.pem --label "$label" <text.bin >/dev/null 2>&1; then
    bad "linode accepted label '$label'"
  else
    ok
  fi
done
if "$O" seal-raw --impl linode --cert c.pem --label team-a <bin256.bin >/dev/null 2>&1; then
  bad "linode accepted non-UTF-8 plaintext"
else
  ok
fi
# unseal of garbage fails with exit 1
for u in aes kubesealpy; do
  rc=0
  echo 'AgAAAA==' | "$O" unseal-raw --impl "$u" --key k8.pem --label x >/dev/null 2>&1 || rc=$?
  [[ $rc -eq 1 ]] && ok || bad "unseal-raw $u of garbage: exit $rc, want 1"
done

# objects: kubesealpy seal-object -> unseal-object, and its values against the raw oracles
b64() { base64 -w0 <"$1"; }
printf '{"text":"%s","empty":"%s","bin":"%s"}' "$(b64 text.bin)" "$(b64 empty.bin)" "$(b64 bin256.bin)" >data.json
want="$("$PY" -c 'import json,sys; print(json.dumps(json.load(open("data.json")), sort_keys=True))')"
for scope in strict namespace-wide cluster-wide; do
  if ! "$O" seal-object --cert c.pem --name db-creds --namespace team-a --scope "$scope" <data.json >obj.yaml 2>err; then
    bad "seal-object $scope: $(cat err)"
    continue
  fi
  for key in k8.pem k1.pem; do
    got="$("$O" unseal-object --key "$key" <obj.yaml 2>err || true)"
    [[ "$got" == "$want" ]] && ok || bad "seal-object/unseal-object $scope ($key): got '$got' $(cat err)"
  done
  case "$scope" in strict) label="team-a/db-creds" ;; namespace-wide) label="team-a" ;; *) label="" ;; esac
  # shape and per-value label, checked with plain PyYAML + the aes oracle
  "$PY" - "$scope" obj.yaml >shape.txt 2>&1 <<'EOF' || true
import sys, yaml
scope = sys.argv[1]
o = yaml.safe_load(open(sys.argv[2]))
assert o["apiVersion"] == "bitnami.com/v1alpha1" and o["kind"] == "SealedSecret", o
assert o["metadata"]["name"] == "db-creds" and o["metadata"]["namespace"] == "team-a", o
ann = o["metadata"].get("annotations")
want = {"strict": None,
        "namespace-wide": {"sealedsecrets.bitnami.com/namespace-wide": "true"},
        "cluster-wide": {"sealedsecrets.bitnami.com/cluster-wide": "true"}}[scope]
assert ann == want, ann
t = o["spec"]["template"]
assert t == {"type": "Opaque", "metadata": {"name": "db-creds", "namespace": "team-a"}}, t
assert sorted(o["spec"]["encryptedData"]) == ["bin", "empty", "text"]
print("OK")
EOF
  [[ "$(cat shape.txt)" == OK ]] && ok || bad "seal-object $scope shape: $(cat shape.txt)"
  for k in text empty bin; do
    "$PY" -c 'import sys,yaml; print(yaml.safe_load(open("obj.yaml"))["spec"]["encryptedData"][sys.argv[1]])' "$k" >v.b64
    if "$O" unseal-raw --impl aes --key k8.pem --label "$label" <v.b64 >pt.bin 2>err; then
      case "$k" in text) f=text.bin ;; empty) f=empty.bin ;; bin) f=bin256.bin ;; esac
      cmp -s pt.bin "$f" && ok || bad "seal-object $scope value $k: wrong plaintext"
    else
      bad "seal-object $scope value $k with aes label '$label': $(cat err)"
    fi
  done
done
# an object built by hand from raw aes/linode ciphertexts (Go-kubeseal-like shape) unseals
"$O" seal-raw --impl aes --cert c.pem --label team-a <bin256.bin >v1.b64
"$O" seal-raw --impl linode --cert c.pem --label team-a <text.bin >v2.b64
cat >hand.yaml <<EOF
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    sealedsecrets.bitnami.com/namespace-wide: "true"
  creationTimestamp: null
  name: other-name
  namespace: team-a
spec:
  encryptedData:
    bin: $(cat v1.b64)
    text: $(cat v2.b64)
  template:
    metadata:
      annotations:
        sealedsecrets.bitnami.com/namespace-wide: "true"
      creationTimestamp: null
      name: other-name
      namespace: team-a
    type: Opaque
EOF
want="$(printf '{"bin": "%s", "text": "%s"}' "$(b64 bin256.bin)" "$(b64 text.bin)")"
got="$("$O" unseal-object --key k1.pem <hand.yaml 2>err || true)"
[[ "$got" == "$want" ]] && ok || bad "hand-built object: got '$got' $(cat err)"
# ... and fails once the scope annotation is gone from metadata (label becomes strict)
"$PY" -c 'import yaml; o=yaml.safe_load(open("hand.yaml")); del o["metadata"]["annotations"]; print(yaml.safe_dump(o))' >hand2.yaml
if "$O" unseal-object --key k1.pem <hand2.yaml >/dev/null 2>&1; then
  bad "unseal-object ignored the missing metadata scope annotation"
else
  ok
fi

echo "${pass} passed, ${fail} failed"
[[ $fail -eq 0 ]]
