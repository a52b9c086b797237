//! Password hashes: `bcrypt` and `htpasswd` (Go's `x/crypto/bcrypt`), `derivePassword`
//! (Master Password's algorithm, as sprig has it).

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::super::call::{build, int, text, Cx, FResult};
use super::super::value::Value;
use super::Heavy;

/// Go's `bcrypt.GenerateFromPassword` at the default cost (10), `$2a$`; with a user name,
/// `htpasswd`'s `user:hash` (sprig returns an error text for a name with a `:`).
pub(super) fn bcrypt(password: &[u8], user: Option<&[u8]>, cx: &mut Cx) -> FResult {
    if user.is_some_and(|u| u.contains(&b':')) {
        return Err("invalid username: it contains ':'".to_owned());
    }
    Heavy::Bcrypt.start(cx)?;
    let hash = bcrypt::hash_with_result(password, 10)
        .map_err(|e| format!("failed to encrypt string with bcrypt: {e}"))?
        .format_for_version(bcrypt::Version::TwoA);
    let hash = Zeroizing::new(hash);
    build(cx, |b| {
        if let Some(user) = user {
            b.push(user)?;
            b.push(b":")?;
        }
        Ok(b.push_str(&hash)?)
    })
}

/// Master Password's templates for each password type, as sprig has them.
const PASSWORD_TEMPLATES: &[(&str, &[&str])] = &[
    ("maximum", &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"]),
    (
        "long",
        &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
    ),
    ("medium", &["CvcnoCvc", "CvcCvcno"]),
    ("short", &["Cvcn"]),
    ("basic", &["aaanaaan", "aannaaan", "aaannaaa"]),
    ("pin", &["nnnn"]),
];

/// The characters a template letter stands for.
fn template_characters(letter: u8) -> &'static [u8] {
    match letter {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// `derivePassword counter type password user site`: Master Password's site password (scrypt
/// of the password salted with the user, then HMAC-SHA256 of the site and counter).
pub(super) fn derive(args: &[Value], cx: &mut Cx) -> FResult {
    let counter = u32::try_from(int(args, 0)?).map_err(|_| "internal error: counter")?;
    let kind = text(args, 1)?;
    let (password, user, site) = (text(args, 2)?, text(args, 3)?, text(args, 4)?);
    let templates = PASSWORD_TEMPLATES
        .iter()
        .find(|(name, _)| name.as_bytes() == kind)
        .map(|(_, templates)| *templates)
        .ok_or("cannot find the password template (maximum, long, medium, short, basic, pin)")?;
    Heavy::Scrypt.start(cx)?;
    let mut salt = Zeroizing::new(MASTER_PASSWORD_SEED.to_vec());
    salt.extend_from_slice(&go_len(user).to_be_bytes());
    salt.extend_from_slice(user);
    let mut key = Zeroizing::new([0u8; 64]);
    let params = scrypt::Params::new(15, 8, 2).map_err(|e| format!("derivePassword: {e}"))?;
    scrypt::scrypt(password, &salt, &params, &mut key[..])
        .map_err(|e| format!("failed to derive password: {e}"))?;
    let mut mac = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &key[..]));
    mac.update(MASTER_PASSWORD_SEED);
    mac.update(&go_len(site).to_be_bytes());
    mac.update(site);
    mac.update(&counter.to_be_bytes());
    let tag = mac.sign();
    let seed = tag.as_ref();
    let pick = |i: usize, n: usize| usize::from(seed.get(i).copied().unwrap_or(0)) % n;
    let template = templates
        .get(pick(0, templates.len()))
        .ok_or("internal error: password template")?;
    build(cx, |b| {
        for (i, &letter) in template.as_bytes().iter().enumerate() {
            let chars = template_characters(letter);
            let c = chars.get(pick(i + 1, chars.len())).copied().unwrap_or(b'?');
            b.push(&[c])?;
        }
        Ok(())
    })
}

/// Go's `uint32(len(s))`.
fn go_len(s: &[u8]) -> u32 {
    (s.len() & 0xffff_ffff) as u32
}
