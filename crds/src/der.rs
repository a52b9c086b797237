//! The RSA key containers converted into each other: PKCS#1 ⇄ PKCS#8 for private keys and
//! PKCS#1 → SubjectPublicKeyInfo for public keys, by the RustCrypto `pkcs8` and `spki` crates.
//! Only framing; no cryptography.

use pkcs8::PrivateKeyInfo;
use x509_cert::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier};
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

/// `rsaEncryption` (1.2.840.113549.1.1.1).
pub(crate) const RSA_ENCRYPTION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// `AlgorithmIdentifier { rsaEncryption, NULL }`, as RFC 8017 writes it.
const RSA_ALGORITHM: AlgorithmIdentifierRef<'static> = AlgorithmIdentifierRef {
    oid: RSA_ENCRYPTION_OID,
    parameters: Some(AnyRef::NULL),
};

/// Wraps a PKCS#1 `RSAPrivateKey` into a PKCS#8 `PrivateKeyInfo`; `None` only for a key too
/// large for DER lengths.
pub(crate) fn pkcs8_from_pkcs1_private(pkcs1: &[u8]) -> Option<Vec<u8>> {
    PrivateKeyInfo::new(RSA_ALGORITHM, pkcs1).to_der().ok()
}

/// Extracts the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub(crate) fn pkcs1_from_pkcs8_private(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let info = PrivateKeyInfo::from_der(pkcs8).ok()?;
    (info.algorithm.oid == RSA_ENCRYPTION_OID).then(|| info.private_key.to_vec())
}

/// True when a PKCS#8 `PrivateKeyInfo` holds an RSA key.
pub(crate) fn pkcs8_is_rsa(pkcs8: &[u8]) -> bool {
    PrivateKeyInfo::from_der(pkcs8).is_ok_and(|info| info.algorithm.oid == RSA_ENCRYPTION_OID)
}

/// Wraps a PKCS#1 `RSAPublicKey` into a `SubjectPublicKeyInfo`; `None` only for a key too large
/// for DER lengths.
pub(crate) fn spki_from_pkcs1_public(pkcs1: &[u8]) -> Option<Vec<u8>> {
    SubjectPublicKeyInfoRef {
        algorithm: RSA_ALGORITHM,
        subject_public_key: BitStringRef::from_bytes(pkcs1).ok()?,
    }
    .to_der()
    .ok()
}

/// True when a `SubjectPublicKeyInfo` names `rsaEncryption`.
pub(crate) fn spki_is_rsa(spki: &[u8]) -> bool {
    SubjectPublicKeyInfoRef::from_der(spki).is_ok_and(|s| s.algorithm.oid == RSA_ENCRYPTION_OID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_pkcs8_round_trip() {
        let fake_pkcs1 = vec![0x30, 0x82, 0x01, 0x00]
            .into_iter()
            .chain(std::iter::repeat_n(7u8, 256))
            .collect::<Vec<_>>();
        let pkcs8 = pkcs8_from_pkcs1_private(&fake_pkcs1).expect("encodes");
        assert!(pkcs8_is_rsa(&pkcs8));
        assert_eq!(pkcs1_from_pkcs8_private(&pkcs8), Some(fake_pkcs1));
    }

    #[test]
    fn the_framing_is_rfc_8017s() {
        // SEQUENCE { INTEGER 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING { 01 02 03 } }
        let expected = [
            0x30, 0x17, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
            0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04, 0x03, 0x01, 0x02, 0x03,
        ];
        assert_eq!(
            pkcs8_from_pkcs1_private(&[1, 2, 3]).as_deref(),
            Some(&expected[..])
        );
        let spki = spki_from_pkcs1_public(&[1, 2, 3]).expect("encodes");
        assert_eq!(&spki[..2], &[0x30, 0x15]);
        assert_eq!(
            &spki[spki.len() - 6..],
            &[0x03, 0x04, 0x00, 0x01, 0x02, 0x03]
        );
        assert!(spki_is_rsa(&spki));
    }

    #[test]
    fn rejects_truncated_der() {
        let pkcs8 = pkcs8_from_pkcs1_private(&[1, 2, 3]).expect("encodes");
        assert!(!pkcs8_is_rsa(&pkcs8[..pkcs8.len() - 1]));
        assert!(!spki_is_rsa(&[0x30, 0x05, 0x30]));
    }
}
