//! Minimal DER plumbing between the RSA key containers: PKCS#1 ⇄ PKCS#8 for private keys and
//! PKCS#1 → SubjectPublicKeyInfo for public keys. Only framing; no cryptography.

use x509_cert::der::asn1::ObjectIdentifier;

/// `rsaEncryption` (1.2.840.113549.1.1.1).
pub(crate) const RSA_ENCRYPTION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// DER of `AlgorithmIdentifier { rsaEncryption, NULL }`.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;

/// Wraps a PKCS#1 `RSAPrivateKey` into a PKCS#8 `PrivateKeyInfo`.
pub(crate) fn pkcs8_from_pkcs1_private(pkcs1: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(pkcs1.len() + 32);
    body.extend_from_slice(&[TAG_INTEGER, 0x01, 0x00]);
    body.extend_from_slice(&RSA_ALGORITHM_ID);
    push_tlv(&mut body, TAG_OCTET_STRING, pkcs1);
    let mut out = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// Extracts the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub(crate) fn pkcs1_from_pkcs8_private(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (_, private_key) = pkcs8_parts(pkcs8)?;
    Some(private_key.to_vec())
}

/// True when a PKCS#8 `PrivateKeyInfo` holds an RSA key.
pub(crate) fn pkcs8_is_rsa(pkcs8: &[u8]) -> bool {
    pkcs8_parts(pkcs8).is_some()
}

/// Wraps a PKCS#1 `RSAPublicKey` into a `SubjectPublicKeyInfo`.
pub(crate) fn spki_from_pkcs1_public(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(pkcs1.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut body = Vec::with_capacity(bits.len() + 24);
    body.extend_from_slice(&RSA_ALGORITHM_ID);
    push_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut out = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// True when a `SubjectPublicKeyInfo` names `rsaEncryption`.
pub(crate) fn spki_is_rsa(spki: &[u8]) -> bool {
    (|| {
        let (tag, body, _) = read_tlv(spki)?;
        if tag != TAG_SEQUENCE {
            return None;
        }
        let (tag, alg, _) = read_tlv(body)?;
        (tag == TAG_SEQUENCE && algorithm_is_rsa(alg)).then_some(())
    })()
    .is_some()
}

/// `(version, privateKey)` of an RSA `PrivateKeyInfo`.
fn pkcs8_parts(pkcs8: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, body, _) = read_tlv(pkcs8)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, version, rest) = read_tlv(body)?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, alg, rest) = read_tlv(rest)?;
    if tag != TAG_SEQUENCE || !algorithm_is_rsa(alg) {
        return None;
    }
    let (tag, key, _) = read_tlv(rest)?;
    (tag == TAG_OCTET_STRING).then_some((version, key))
}

/// Checks the contents of an `AlgorithmIdentifier` for the rsaEncryption OID.
fn algorithm_is_rsa(alg_body: &[u8]) -> bool {
    // RSA_ALGORITHM_ID without its outer SEQUENCE header, up to and including the OID.
    alg_body.starts_with(&RSA_ALGORITHM_ID[2..13])
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

/// Reads one tag-length-value; returns `(tag, value, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, after) = rest.split_at_checked(n)?;
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((tag, value, rest))
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
        let pkcs8 = pkcs8_from_pkcs1_private(&fake_pkcs1);
        assert!(pkcs8_is_rsa(&pkcs8));
        assert_eq!(pkcs1_from_pkcs8_private(&pkcs8), Some(fake_pkcs1));
    }

    #[test]
    fn rejects_truncated_der() {
        let pkcs8 = pkcs8_from_pkcs1_private(&[1, 2, 3]);
        assert!(!pkcs8_is_rsa(&pkcs8[..pkcs8.len() - 1]));
        assert!(!spki_is_rsa(&[0x30, 0x05, 0x30]));
    }
}
