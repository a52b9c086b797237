//! Private keys: generated (`genPrivateKey`'s RSA-4096, ECDSA P-256 and Ed25519, the
//! certificates' RSA-2048), read from PEM as sprig's `parsePrivateKeyPEM` reads them, written as
//! its `pemBlockForKey` writes them, and signing as Go's `x509.CreateCertificate` signs.
//!
//! aws-lc-rs does the cryptography. It has no DSA (deprecated since FIPS 186-5): `genPrivateKey
//! "dsa"` fails, and a DSA key is only accepted by `buildCustomCert`, which merely checks its
//! shape (Go cannot sign certificates with one either). Its RSA keys are 2048 to 8192 bits
//! (Go takes any size), its curves P-256, P-384 and P-521 (Go also has P-224).

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair};

use super::super::call::{bytes, Cx, FResult};
use super::der::{self, bits, contents, pem_decode, pem_encode, seq, split, tlv, Bytes};
use super::Heavy;

const RSA_ENCRYPTION: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01";
const SHA256_WITH_RSA: &[u8] = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b";
const EC_PUBLIC_KEY: &[u8] = b"\x2a\x86\x48\xce\x3d\x02\x01";
const ED25519: &[u8] = b"\x2b\x65\x70";

/// The named curves aws-lc-rs signs with.
#[derive(Debug, Clone, Copy)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    const ALL: [Self; 3] = [Self::P256, Self::P384, Self::P521];

    fn oid(self) -> &'static [u8] {
        match self {
            Self::P256 => b"\x2a\x86\x48\xce\x3d\x03\x01\x07",
            Self::P384 => b"\x2b\x81\x04\x00\x22",
            Self::P521 => b"\x2b\x81\x04\x00\x23",
        }
    }

    fn from_oid(oid: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == oid)
    }

    /// Go's hash for the curve: SHA-256, -384, -512, DER signatures.
    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            Self::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        }
    }

    fn signature_oid(self) -> &'static [u8] {
        match self {
            Self::P256 => b"\x2a\x86\x48\xce\x3d\x04\x03\x02",
            Self::P384 => b"\x2a\x86\x48\xce\x3d\x04\x03\x03",
            Self::P521 => b"\x2a\x86\x48\xce\x3d\x04\x03\x04",
        }
    }
}

/// A private key a certificate can be made for and signed with.
pub(super) enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Curve),
    Ed25519(Ed25519KeyPair),
}

const KEY_ERROR: &str = "failed to generate private key";

/// `genPrivateKey`: a new key in PEM, as sprig writes it.
pub(super) fn generate_pem(kind: &[u8], cx: &mut Cx) -> FResult {
    let key = match kind {
        b"" | b"rsa" => Key::rsa(KeySize::Rsa4096, cx)?,
        b"ecdsa" => EcdsaKeyPair::generate(Curve::P256.signing())
            .map(|k| Key::Ec(k, Curve::P256))
            .map_err(|_| KEY_ERROR)?,
        b"ed25519" => Ed25519KeyPair::generate()
            .map(Key::Ed25519)
            .map_err(|_| KEY_ERROR)?,
        b"dsa" => return Err("DSA keys are not supported (aws-lc-rs has no DSA)".to_owned()),
        _ => return Err("unknown key type (rsa, ecdsa, ed25519)".to_owned()),
    };
    bytes(&key.to_pem()?, cx)
}

impl Key {
    /// A new RSA key, charged to the budget.
    pub(super) fn rsa(size: KeySize, cx: &mut Cx) -> Result<Self, String> {
        // 4096 bits is the most sprig asks for.
        let heavy = match size {
            KeySize::Rsa2048 => Heavy::Rsa2048,
            _ => Heavy::Rsa4096,
        };
        heavy.start(cx)?;
        RsaKeyPair::generate(size)
            .map(Self::Rsa)
            .map_err(|_| KEY_ERROR.to_owned())
    }

    /// sprig's `parsePrivateKeyPEM`: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY` or SEC 1
    /// `EC PRIVATE KEY`, the first PEM block in `pem`.
    pub(super) fn from_pem(pem: &[u8], cx: &mut Cx) -> Result<Self, String> {
        let block = pem_decode(pem, cx)?.ok_or("no PEM data in input")?;
        let der = &block.der[..];
        match block.kind {
            b"PRIVATE KEY" => from_pkcs8(der).map_err(|e| format!("decoding PEM as PKCS#8: {e}")),
            b"RSA PRIVATE KEY" => RsaKeyPair::from_der(der).map(Self::Rsa).map_err(|_| {
                "parsing RSA private key from PEM: not a valid PKCS#1 key of 2048 to 8192 bits"
                    .to_owned()
            }),
            b"EC PRIVATE KEY" => {
                from_sec1(der).map_err(|e| format!("parsing EC private key from PEM: {e}"))
            }
            b"DSA PRIVATE KEY" => Err("DSA keys are not supported".to_owned()),
            kind if kind.ends_with(b" PRIVATE KEY") => Err("invalid private key type".to_owned()),
            _ => Err("no private key data in a PEM block of another type".to_owned()),
        }
    }

    /// sprig's `pemBlockForKey`: PKCS#1 for RSA, SEC 1 for ECDSA, PKCS#8 for Ed25519.
    pub(super) fn to_pem(&self) -> Result<Bytes, String> {
        let fail = |_| "error pem-encoding key".to_owned();
        match self {
            Self::Rsa(k) => {
                let pkcs8 = k.as_der().map_err(fail)?;
                pkcs8_private_key(pkcs8.as_ref())
                    .map(|pkcs1| pem_encode("RSA PRIVATE KEY", pkcs1))
                    .ok_or_else(|| "error pem-encoding key".to_owned())
            }
            Self::Ec(k, curve) => {
                let scalar = k.private_key().as_be_bytes().map_err(fail)?;
                let der = seq(&[
                    &tlv(der::INTEGER, &[&[1]]),
                    &tlv(der::OCTET_STRING, &[scalar.as_ref()]),
                    &tlv(0xa0, &[&tlv(der::OID, &[curve.oid()])]),
                    &tlv(0xa1, &[&bits(k.public_key().as_ref())]),
                ]);
                Ok(pem_encode("EC PRIVATE KEY", &der))
            }
            Self::Ed25519(k) => {
                let seed = k.seed().and_then(|s| s.as_be_bytes()).map_err(fail)?;
                let der = seq(&[
                    &tlv(der::INTEGER, &[&[0]]),
                    &seq(&[&tlv(der::OID, &[ED25519])]),
                    &tlv(
                        der::OCTET_STRING,
                        &[&tlv(der::OCTET_STRING, &[seed.as_ref()])],
                    ),
                ]);
                Ok(pem_encode("PRIVATE KEY", &der))
            }
        }
    }

    /// The contents of the public key's BIT STRING in a SubjectPublicKeyInfo.
    pub(super) fn public_bits(&self) -> &[u8] {
        match self {
            Self::Rsa(k) => k.public_key().as_ref(),
            Self::Ec(k, _) => k.public_key().as_ref(),
            Self::Ed25519(k) => k.public_key().as_ref(),
        }
    }

    /// The SubjectPublicKeyInfo's AlgorithmIdentifier.
    pub(super) fn public_algorithm(&self) -> Bytes {
        match self {
            Self::Rsa(_) => seq(&[&tlv(der::OID, &[RSA_ENCRYPTION]), &tlv(der::NULL, &[])]),
            Self::Ec(_, curve) => seq(&[
                &tlv(der::OID, &[EC_PUBLIC_KEY]),
                &tlv(der::OID, &[curve.oid()]),
            ]),
            Self::Ed25519(_) => seq(&[&tlv(der::OID, &[ED25519])]),
        }
    }

    /// The AlgorithmIdentifier of this key's signatures, as Go chooses it.
    pub(super) fn signature_algorithm(&self) -> Bytes {
        match self {
            Self::Rsa(_) => seq(&[&tlv(der::OID, &[SHA256_WITH_RSA]), &tlv(der::NULL, &[])]),
            Self::Ec(_, curve) => seq(&[&tlv(der::OID, &[curve.signature_oid()])]),
            Self::Ed25519(_) => seq(&[&tlv(der::OID, &[ED25519])]),
        }
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let fail = |_| "error creating certificate: signing failed".to_owned();
        match self {
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(fail)?;
                Ok(sig)
            }
            Self::Ec(k, _) => Ok(k
                .sign(&SystemRandom::new(), message)
                .map_err(fail)?
                .as_ref()
                .to_vec()),
            Self::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// The private key inside a PKCS#8 PrivateKeyInfo.
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let info = contents(der, der::SEQUENCE)?;
    let (_, _, rest) = split(info)?;
    let (_, _, rest) = split(rest)?;
    contents(rest, der::OCTET_STRING)
}

/// The algorithm OID and its parameters in a PKCS#8 PrivateKeyInfo.
fn pkcs8_algorithm(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let info = contents(der, der::SEQUENCE)?;
    let (_, _, rest) = split(info)?;
    let algorithm = contents(rest, der::SEQUENCE)?;
    let (tag, oid, params) = split(algorithm)?;
    (tag == der::OID).then_some((oid, params))
}

fn from_pkcs8(der: &[u8]) -> Result<Key, &'static str> {
    let (oid, params) = pkcs8_algorithm(der).ok_or("not a PKCS#8 private key")?;
    match oid {
        RSA_ENCRYPTION => RsaKeyPair::from_pkcs8(der)
            .map(Key::Rsa)
            .map_err(|_| "not a valid RSA key of 2048 to 8192 bits"),
        EC_PUBLIC_KEY => {
            let curve = contents(params, der::OID)
                .and_then(Curve::from_oid)
                .ok_or("unknown elliptic curve (P-256, P-384, P-521)")?;
            EcdsaKeyPair::from_pkcs8(curve.signing(), der)
                .map(|k| Key::Ec(k, curve))
                .map_err(|_| "not a valid ECDSA key")
        }
        ED25519 => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(Key::Ed25519)
            .map_err(|_| "not a valid Ed25519 key"),
        _ => Err("PKCS#8 wrapping contained private key with unknown algorithm"),
    }
}

/// A SEC 1 ECPrivateKey: version 1, the key, then the curve's OID (Go requires it).
fn from_sec1(der: &[u8]) -> Result<Key, &'static str> {
    let fields = contents(der, der::SEQUENCE).ok_or("not an EC private key")?;
    let (_, version, rest) = split(fields).ok_or("not an EC private key")?;
    if version != [1] {
        return Err("unknown EC private key version");
    }
    let (_, _, rest) = split(rest).ok_or("not an EC private key")?;
    let curve = contents(rest, 0xa0)
        .and_then(|p| contents(p, der::OID))
        .and_then(Curve::from_oid)
        .ok_or("unknown elliptic curve (P-256, P-384, P-521)")?;
    EcdsaKeyPair::from_private_key_der(curve.signing(), der)
        .map(|k| Key::Ec(k, curve))
        .map_err(|_| "not a valid EC private key")
}

/// What `buildCustomCert` checks of a key: that it parses; a DSA key, which sprig reads as a
/// sequence of integers (version, P, Q, G, Y, X), only by that shape.
pub(super) fn check_pem(pem: &[u8], cx: &mut Cx) -> Result<(), String> {
    match pem_decode(pem, cx)? {
        Some(block) if block.kind == b"DSA PRIVATE KEY" => {
            let mut rest = contents(&block.der, der::SEQUENCE).unwrap_or_default();
            for _ in 0..6 {
                match split(rest) {
                    Some((der::INTEGER, n, next)) if !n.is_empty() => rest = next,
                    _ => return Err("parsing DSA private key from PEM: not a DSA key".to_owned()),
                }
            }
            Ok(())
        }
        _ => Key::from_pem(pem, cx).map(drop),
    }
}
