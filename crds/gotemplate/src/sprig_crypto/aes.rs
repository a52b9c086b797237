//! `encryptAES` and `decryptAES`: AES-256-CBC under the password itself (cut or zero-padded to
//! 32 bytes, no key derivation), a random IV before the ciphertext, PKCS#7 padding, base64.
//! Decryption checks nothing of the padding but its length, as sprig does.

use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey, AES_256,
};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::super::call::{build, bytes, Cx, FResult};
use super::super::value::Value;

const BLOCK: usize = 16;

/// sprig's key: the password's first 32 bytes, zero-padded.
fn key(password: &[u8]) -> Result<UnboundCipherKey, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    let n = password.len().min(key.len());
    key[..n].copy_from_slice(&password[..n]);
    UnboundCipherKey::new(&AES_256, &key[..]).map_err(|_| "internal error: AES key".to_owned())
}

pub(super) fn encrypt(password: &[u8], plaintext: &[u8], cx: &mut Cx) -> FResult {
    if plaintext.is_empty() {
        return Ok(Value::text(""));
    }
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut iv = [0u8; BLOCK];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| "encryptAES: no randomness")?;
    let mut out = Zeroizing::new(Vec::with_capacity(BLOCK + plaintext.len() + pad));
    out.extend_from_slice(&iv);
    out.extend_from_slice(plaintext);
    out.resize(BLOCK + plaintext.len() + pad, pad as u8);
    EncryptingKey::cbc(key(password)?)
        .and_then(|k| k.less_safe_encrypt(&mut out[BLOCK..], EncryptionContext::Iv128(iv.into())))
        .map_err(|_| "encryptAES: encryption failed")?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&out[..]);
    bytes(encoded.as_bytes(), cx)
}

pub(super) fn decrypt(password: &[u8], encoded: &[u8], cx: &mut Cx) -> FResult {
    if encoded.is_empty() {
        return Ok(Value::text(""));
    }
    let mut data = go_base64(encoded)?;
    // Where sprig's slicing panics, with Go's messages where they hold no value.
    if data.len() < BLOCK {
        return Err(
            "runtime error: slice bounds out of range (ciphertext shorter than the IV)".to_owned(),
        );
    }
    let (iv, blocks) = data.split_at_mut(BLOCK);
    if blocks.len() % BLOCK != 0 {
        return Err("crypto/cipher: input not full blocks".to_owned());
    }
    let iv: [u8; BLOCK] = (&*iv).try_into().map_err(|_| "internal error: IV")?;
    DecryptingKey::cbc(key(password)?)
        .and_then(|k| k.decrypt(blocks, DecryptionContext::Iv128(iv.into())))
        .map_err(|_| "decryptAES: decryption failed")?;
    let pad = blocks.last().map(|&b| usize::from(b));
    match pad {
        Some(pad) if pad <= blocks.len() => {
            let plain = &blocks[..blocks.len() - pad];
            build(cx, |b| Ok(b.push(plain)?))
        }
        _ => Err("runtime error: slice bounds out of range (bad padding)".to_owned()),
    }
}

/// Go's `base64.StdEncoding.DecodeString`: padding required, line breaks skipped, the unused
/// bits of the last character not checked.
pub(super) fn go_base64(s: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let mut compact = Zeroizing::new(Vec::with_capacity(s.len()));
    compact.extend(s.iter().filter(|b| !matches!(b, b'\r' | b'\n')));
    ENGINE
        .decode(&compact[..])
        .map(Zeroizing::new)
        .map_err(|_| "illegal base64 data".to_owned())
}
