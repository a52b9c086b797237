"""Third-party sealing oracles (kubesealpy 1.0.1, aes-gcm-rsa-oaep 0.1.0) behind a tiny CLI.

Run through the `oracle` wrapper, which uses the venv made by install.sh.

  seal-raw      --impl {aes|kubesealpy} --cert CERT.pem --label LABEL   stdin: plaintext bytes
                -> stdout: base64 ciphertext, one line
  unseal-raw    --impl {aes|kubesealpy} --key KEY.pem [--key ...] --label LABEL
                stdin: base64 ciphertext -> stdout: plaintext bytes (exit 1 on failure)
  seal-object   --cert CERT.pem --name N --namespace NS [--scope strict|namespace-wide|cluster-wide]
                stdin: JSON {"key": "<base64 of value>"} -> stdout: kubesealpy SealedSecret YAML
  unseal-object --key KEY.pem [--key ...]
                stdin: SealedSecret YAML (or JSON) -> stdout: JSON {"key": "<base64 of plaintext>"}

Options: --no-validity-check (seal-*, kubesealpy: accept an expired / not-yet-valid cert);
--validate-key (unseal-*: run cryptography's slow RSA key consistency check, ~0.5 s for 4096 bits).
Exit codes: 0 ok, 1 operation failed (message on stderr), 2 usage error.

Quirks of the packages (read from their installed source):
- kubesealpy `Sealer.from_certificate_file` checks the certificate validity window by default
  (CertificateExpiredError / CertificateNotYetValidError); `--no-validity-check` turns it off.
  aes-gcm-rsa-oaep does no such check.
- kubesealpy `Sealer.seal` puts the scope annotation (`sealedsecrets.bitnami.com/namespace-wide`
  or `/cluster-wide`: "true") ONLY on the SealedSecret's own metadata.annotations, not on
  spec.template.metadata (Go kubeseal puts it on both). Strict scope adds no annotation and the
  metadata has no `annotations` key at all. The YAML is `yaml.dump(sort_keys=False)` of the
  pydantic model with None fields dropped: apiVersion, kind, metadata{name, namespace,
  [annotations]}, spec{encryptedData{...}, template{type: Opaque, metadata{name, namespace}}};
  no creationTimestamp, no status, no template.data.
- kubesealpy `Unsealer.unseal` takes the scope from the SealedSecret's metadata.annotations
  only (template annotations are ignored, like the Go controller), compares the value
  case-insensitively (`"True"` counts; Go requires exactly "true"), cluster-wide wins over
  namespace-wide. It ignores spec.template.data (no Go templates) and spec.data (v1 format).
- kubesealpy's pydantic models ignore unknown fields (creationTimestamp, status, ...) but
  REQUIRE `name` in every metadata block that is present, including spec.template.metadata,
  and template.data values must be strings (not null); spec.encryptedData is required.
- Both libraries pass the label straight to OAEP; kubesealpy maps b"" to label=None, which is
  the same OAEP label (empty).
- For kubesealpy raw calls the LABEL is mapped onto its scope API: "ns/name" -> strict
  (namespace=ns, name=name; split at the first "/"), "ns" -> namespace-wide, "" -> cluster-wide.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
from typing import NoReturn


def _die(msg: str) -> NoReturn:
    print(f"oracle: {msg}", file=sys.stderr)
    sys.exit(1)


def _read_stdin() -> bytes:
    return sys.stdin.buffer.read()


def _b64decode(text: str | bytes, what: str) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="strict")
    text = "".join(text.split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        _die(f"invalid base64 in {what}: {e}")


def _label_to_scope(label: str):
    from kubesealpy.scopes import SealingScope

    if label == "":
        return SealingScope.CLUSTER_WIDE, None, None
    if "/" in label:
        ns, name = label.split("/", 1)
        return SealingScope.STRICT, ns, name
    return SealingScope.NAMESPACE_WIDE, label, None


def _load_cert_public_key(path: str):
    from cryptography import x509

    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_key()


def _load_private_key(path: str, validate: bool = False):
    # load_pem_private_key reads PKCS#1 ("RSA PRIVATE KEY") and PKCS#8 ("PRIVATE KEY").
    # Its RSA consistency check costs ~0.5 s for a 4096-bit key, so it is skipped unless
    # --validate-key is given (kubesealpy's own loader always runs it).
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    with open(path, "rb") as f:
        pem = f.read()
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=not validate)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError(f"{path}: not an RSA private key ({type(key).__name__})")
    return key


def _sealer(cert: str, no_validity_check: bool):
    from kubesealpy.sealer import Sealer

    return Sealer.from_certificate_file(cert, validate=not no_validity_check)


def _unsealer(keys: list[str], validate: bool):
    # Unsealer.from_private_key_file reads one key; the constructor takes several
    # (tried in order, like the controller's "try every key"). Keys are loaded with
    # _load_private_key (same cryptography call as kubesealpy's loader, minus the slow check).
    from kubesealpy.unsealer import Unsealer

    return Unsealer([_load_private_key(k, validate) for k in keys])


def cmd_seal_raw(a) -> None:
    plaintext = _read_stdin()
    label = a.label
    if a.impl == "aes":
        import aes_gcm_rsa_oaep

        ct = aes_gcm_rsa_oaep.encrypt(plaintext, _load_cert_public_key(a.cert), label.encode("utf-8"))
    else:
        scope, ns, name = _label_to_scope(label)
        ct = _sealer(a.cert, a.no_validity_check).seal_value(plaintext, namespace=ns, name=name, scope=scope)
    sys.stdout.write(base64.b64encode(ct).decode("ascii") + "\n")


def cmd_unseal_raw(a) -> None:
    ct = _b64decode(_read_stdin(), "stdin")
    label = a.label
    if a.impl == "aes":
        import aes_gcm_rsa_oaep

        errors = []
        for k in a.key:
            try:
                pt = aes_gcm_rsa_oaep.decrypt(ct, _load_private_key(k, a.validate_key), label.encode("utf-8"))
                break
            except Exception as e:  # noqa: BLE001 - any failure means "this key does not open it"
                errors.append(f"{k}: {type(e).__name__}: {e}")
        else:
            _die("aes-gcm-rsa-oaep could not decrypt: " + "; ".join(errors))
    else:
        scope, ns, name = _label_to_scope(label)
        pt = _unsealer(a.key, a.validate_key).unseal_value(ct, namespace=ns, name=name, scope=scope)
    sys.stdout.buffer.write(pt)
    sys.stdout.buffer.flush()


def cmd_seal_object(a) -> None:
    from kubesealpy.scopes import SealingScope

    try:
        raw = json.loads(_read_stdin())
    except json.JSONDecodeError as e:
        _die(f"stdin is not JSON: {e}")
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        _die('stdin must be a JSON object {"key": "<base64>"}')
    data = {k: _b64decode(v, f"value of {k!r}") for k, v in raw.items()}
    sealed = _sealer(a.cert, a.no_validity_check).seal(
        name=a.name, namespace=a.namespace, data=data, scope=SealingScope(a.scope)
    )
    sys.stdout.write(sealed.to_yaml())


def cmd_unseal_object(a) -> None:
    from kubesealpy.models import SealedSecret

    text = _read_stdin().decode("utf-8")
    sealed = SealedSecret.from_yaml(text)
    secret = _unsealer(a.key, a.validate_key).unseal(sealed)
    sys.stdout.write(json.dumps(secret.data or {}, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="oracle", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seal-raw", help="seal stdin bytes with LABEL; print base64")
    s.add_argument("--impl", choices=["aes", "kubesealpy"], required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--no-validity-check", action="store_true", help="kubesealpy: skip cert expiry check")
    s.set_defaults(fn=cmd_seal_raw)

    s = sub.add_parser("unseal-raw", help="unseal base64 stdin with LABEL; write plaintext bytes")
    s.add_argument("--impl", choices=["aes", "kubesealpy"], required=True)
    s.add_argument("--key", required=True, action="append", help="PKCS#1 or PKCS#8 PEM; repeatable")
    s.add_argument("--validate-key", action="store_true", help="run the (slow) RSA key consistency check")
    s.add_argument("--label", required=True)
    s.set_defaults(fn=cmd_unseal_raw)

    s = sub.add_parser("seal-object", help="seal JSON {key: base64} into a kubesealpy SealedSecret YAML")
    s.add_argument("--cert", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--namespace", required=True)
    s.add_argument("--scope", choices=["strict", "namespace-wide", "cluster-wide"], default="strict")
    s.add_argument("--no-validity-check", action="store_true", help="skip cert expiry check")
    s.set_defaults(fn=cmd_seal_object)

    s = sub.add_parser("unseal-object", help="unseal a SealedSecret YAML; print JSON {key: base64}")
    s.add_argument("--key", required=True, action="append", help="PKCS#1 or PKCS#8 PEM; repeatable")
    s.add_argument("--validate-key", action="store_true", help="run the (slow) RSA key consistency check")
    s.set_defaults(fn=cmd_unseal_object)

    a = p.parse_args(argv)
    try:
        a.fn(a)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - report any library failure as exit 1
        _die(f"{a.cmd} failed: {type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
