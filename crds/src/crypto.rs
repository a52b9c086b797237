//! The hybrid encryption of one value: RSA-OAEP(SHA-256) wraps a fresh AES-256 session key,
//! AES-256-GCM (zero nonce, no AAD) encrypts the value.
//!
//! Wire format: `u16be(len(rsa_ct)) || rsa_ct || aes_gcm_ct_with_tag`. Base64 is the caller's
//! business (see [`crate::seal_bytes`] and [`crate::unseal_bytes`]).
//!
//! All RSA and AES operations run in `aws-lc-rs` (constant-time, not affected by
//! RUSTSEC-2023-0071).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OaepPublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use zeroize::Zeroizing;

use crate::keys::{PrivateKey, PublicKey};

/// Length of the AES-256 session key.
const SESSION_KEY_LEN: usize = 32;
/// Length of the AES-GCM authentication tag.
const TAG_LEN: usize = 16;

/// Why a ciphertext could not be opened. Never carries any secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// Shorter than the 2-byte length prefix, or than the length it announces.
    #[error("ciphertext is truncated ({len} bytes)")]
    Truncated {
        /// Length of the ciphertext that was given.
        len: usize,
    },
    /// No key (or label) opened the session key, or the AES-GCM tag did not verify.
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
}

/// Why a value could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The RSA or AES primitive refused the input (e.g. a key too small for OAEP).
    #[error("encryption failed: {0}")]
    Primitive(&'static str),
}

/// Encrypts `plaintext` for `key` with the OAEP `label`.
pub fn hybrid_encrypt(
    key: &PublicKey,
    label: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let mut session_key = Zeroizing::new([0u8; SESSION_KEY_LEN]);
    aws_lc_rs::rand::fill(session_key.as_mut()).map_err(|_| EncryptError::Random)?;

    let oaep = OaepPublicEncryptingKey::new(key.inner().clone())
        .map_err(|_| EncryptError::Primitive("not an RSA key usable for OAEP"))?;
    let rsa_len = oaep.ciphertext_size();
    let rsa_len_u16 =
        u16::try_from(rsa_len).map_err(|_| EncryptError::Primitive("RSA key too large"))?;

    let mut out = Vec::with_capacity(2 + rsa_len + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&rsa_len_u16.to_be_bytes());
    out.resize(2 + rsa_len, 0);
    let written = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            session_key.as_ref(),
            &mut out[2..],
            Some(label),
        )
        .map_err(|_| EncryptError::Primitive("RSA-OAEP encryption failed"))?
        .len();
    debug_assert_eq!(written, rsa_len);

    let aes = aes_key(session_key.as_ref())
        .map_err(|_| EncryptError::Primitive("AES key setup failed"))?;
    let start = out.len();
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(start);
    aes.seal_in_place_append_tag(zero_nonce(), Aad::empty(), &mut body)
        .map_err(|_| EncryptError::Primitive("AES-GCM encryption failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts `ciphertext` with the first of `keys` that opens it under `label`.
///
/// The returned buffer is zeroized when dropped.
pub fn hybrid_decrypt<'k>(
    keys: impl IntoIterator<Item = &'k PrivateKey>,
    label: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    hybrid_decrypt_indexed(keys, label, ciphertext).map(|(_, plain)| plain)
}

/// Like [`hybrid_decrypt`], also returning the position in `keys` of the key that opened it.
pub fn hybrid_decrypt_indexed<'k>(
    keys: impl IntoIterator<Item = &'k PrivateKey>,
    label: &[u8],
    ciphertext: &[u8],
) -> Result<(usize, Zeroizing<Vec<u8>>), DecryptError> {
    let truncated = DecryptError::Truncated {
        len: ciphertext.len(),
    };
    let (prefix, rest) = ciphertext.split_at_checked(2).ok_or(truncated.clone())?;
    let rsa_len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    let (rsa_ct, aes_ct) = rest.split_at_checked(rsa_len).ok_or(truncated.clone())?;
    if aes_ct.len() < TAG_LEN {
        return Err(truncated);
    }

    for (index, key) in keys.into_iter().enumerate() {
        if let Some(plain) = try_key(key, label, rsa_ct, aes_ct) {
            return Ok((index, plain));
        }
    }
    Err(DecryptError::NoKeyCouldDecrypt)
}

fn try_key(
    key: &PrivateKey,
    label: &[u8],
    rsa_ct: &[u8],
    aes_ct: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let oaep: &OaepPrivateDecryptingKey = key.oaep();
    if rsa_ct.len() != oaep.key_size_bytes() {
        return None;
    }
    let mut session_key = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
    let opened = oaep
        .decrypt(
            &OAEP_SHA256_MGF1SHA256,
            rsa_ct,
            &mut session_key,
            Some(label),
        )
        .ok()?;
    if opened.len() != SESSION_KEY_LEN {
        return None;
    }
    let aes = aes_key(opened).ok()?;
    let mut buf = Zeroizing::new(aes_ct.to_vec());
    let plain_len = aes
        .open_in_place(zero_nonce(), Aad::empty(), &mut buf)
        .ok()?
        .len();
    buf.truncate(plain_len);
    Some(buf)
}

fn aes_key(key: &[u8]) -> Result<LessSafeKey, aws_lc_rs::error::Unspecified> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?))
}

/// The session key is used exactly once, so a constant nonce is safe (as in the original).
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; NONCE_LEN])
}
