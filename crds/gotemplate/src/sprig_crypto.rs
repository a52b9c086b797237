//! sprig's cryptography: digests (`adler32sum`, `sha512sum`), password hashes (`bcrypt`,
//! `htpasswd`, `derivePassword`), AES (`encryptAES`, `decryptAES`, in `aes.rs`), private keys
//! (`genPrivateKey`, in `keys.rs`) and certificates (`genCA`, `genSelfSignedCert`,
//! `genSignedCert`, their `…WithKey` forms and `buildCustomCert`, in `certs.rs`).
//!
//! sprig's `certificate` struct is a map here, with the string entries `Cert` and `Key` (so
//! `$ca.Cert` reads as in Go; `%v` prints it as a map). Where sprig returns an error text or an
//! empty string instead of failing (`derivePassword` with an unknown template, `htpasswd` with a
//! `:` in the user name, `genPrivateKey` with an unknown type), these functions fail.
//!
//! Hashing and key generation cost far more CPU than the bytes they read and write: each is
//! charged a share of the work budget ([`super::MAX_WORK_BYTES`]) and starts only if the
//! rendering has the time it may take left: see [`Heavy`].

mod aes;
mod certs;
mod der;
mod keys;

use std::time::Duration;

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::call::{build, int, text, Cx, FResult};
use super::sprig::digest;
use super::table::{sig, Sig, Ty};
use super::value::Value;
use super::MAX_WORK_BYTES;

/// A function of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Adler32sum,
    Sha512sum,
    Bcrypt,
    Htpasswd,
    DerivePassword,
    EncryptAes,
    DecryptAes,
    GenPrivateKey,
    BuildCustomCert,
    GenCa,
    GenCaWithKey,
    GenSelfSignedCert,
    GenSelfSignedCertWithKey,
    GenSignedCert,
    GenSignedCertWithKey,
}

/// The names of this group's functions.
pub(super) const TABLE: &[(&str, F)] = &[
    ("adler32sum", F::Adler32sum),
    ("sha512sum", F::Sha512sum),
    ("bcrypt", F::Bcrypt),
    ("htpasswd", F::Htpasswd),
    ("derivePassword", F::DerivePassword),
    ("encryptAES", F::EncryptAes),
    ("decryptAES", F::DecryptAes),
    ("genPrivateKey", F::GenPrivateKey),
    ("buildCustomCert", F::BuildCustomCert),
    ("genCA", F::GenCa),
    ("genCAWithKey", F::GenCaWithKey),
    ("genSelfSignedCert", F::GenSelfSignedCert),
    ("genSelfSignedCertWithKey", F::GenSelfSignedCertWithKey),
    ("genSignedCert", F::GenSignedCert),
    ("genSignedCertWithKey", F::GenSignedCertWithKey),
];

impl F {
    pub(super) fn sig(self) -> Sig {
        use Ty::{Int, List, Map, Str as S, Uint32};
        match self {
            Self::Adler32sum | Self::Sha512sum | Self::Bcrypt | Self::GenPrivateKey => {
                sig(&[S], None)
            }
            Self::Htpasswd | Self::EncryptAes | Self::DecryptAes | Self::BuildCustomCert => {
                sig(&[S, S], None)
            }
            Self::DerivePassword => sig(&[Uint32, S, S, S, S], None),
            Self::GenCa => sig(&[S, Int], None),
            Self::GenCaWithKey => sig(&[S, Int, S], None),
            Self::GenSelfSignedCert => sig(&[S, List, List, Int], None),
            Self::GenSelfSignedCertWithKey => sig(&[S, List, List, Int, S], None),
            // sprig's `certificate` struct is a map with `Cert` and `Key` here.
            Self::GenSignedCert => sig(&[S, List, List, Int, Map], None),
            Self::GenSignedCertWithKey => sig(&[S, List, List, Int, Map, S], None),
        }
    }
}

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    match f {
        F::Adler32sum => {
            let sum = adler32(text(args, 0)?);
            build(cx, |b| Ok(b.push_str(&sum.to_string())?))
        }
        F::Sha512sum => digest(&aws_lc_rs::digest::SHA512, args, cx),
        F::Bcrypt => bcrypt(text(args, 0)?, None, cx),
        F::Htpasswd => bcrypt(text(args, 1)?, Some(text(args, 0)?), cx),
        F::DerivePassword => derive_password(args, cx),
        F::EncryptAes => aes::encrypt(text(args, 0)?, text(args, 1)?, cx),
        F::DecryptAes => aes::decrypt(text(args, 0)?, text(args, 1)?, cx),
        F::GenPrivateKey => keys::generate_pem(text(args, 0)?, cx),
        F::BuildCustomCert => certs::build_custom(text(args, 0)?, text(args, 1)?, cx),
        F::GenCa
        | F::GenCaWithKey
        | F::GenSelfSignedCert
        | F::GenSelfSignedCertWithKey
        | F::GenSignedCert
        | F::GenSignedCertWithKey => certs::generate(f, args, cx),
    }
}

/// The CPU-heavy operations. Each is charged a share of the work budget, so that a rendering
/// spent on them alone does at most one RSA-4096 generation, 7 RSA-2048 generations or
/// `derivePassword`s (scrypt with 32 MiB, N = 2¹⁵, r = 8, p = 2), 15 bcrypts (cost 10), or 63
/// certificates signed with a given key; and each starts only while the rendering has the time
/// it may take left ([`Heavy::time`]), so that it overruns the time limit by one operation at
/// most.
#[derive(Debug, Clone, Copy)]
enum Heavy {
    Rsa4096,
    Rsa2048,
    Scrypt,
    Bcrypt,
    Certificate,
}

impl Heavy {
    /// What the operation may take on a slow, shared core (measured on a release build: RSA-4096
    /// generation 0.5 to 4 s, as the search for primes is random; RSA-2048 70 to 300 ms; scrypt
    /// 0.1 to 0.3 s; bcrypt about 0.1 s; an RSA-8192 signature 50 ms).
    fn time(self) -> Duration {
        Duration::from_millis(match self {
            Self::Rsa4096 => 1000,
            Self::Scrypt => 200,
            Self::Rsa2048 => 150,
            Self::Bcrypt => 100,
            Self::Certificate => 50,
        })
    }

    /// Charges the operation, before it starts.
    fn start(self, cx: &mut Cx) -> Result<(), String> {
        let share = match self {
            Self::Rsa4096 => 2,
            Self::Rsa2048 | Self::Scrypt => 8,
            Self::Bcrypt => 16,
            Self::Certificate => 64,
        };
        if !cx.has_time(self.time()) {
            let what = match self {
                Self::Rsa4096 => "an RSA-4096 key",
                Self::Rsa2048 => "an RSA-2048 key",
                Self::Scrypt => "scrypt",
                Self::Bcrypt => "bcrypt",
                Self::Certificate => "a certificate",
            };
            return Err(format!(
                "rendering would exceed its time limit: {what} takes up to {:?}",
                self.time()
            ));
        }
        cx.charge(MAX_WORK_BYTES / share)
    }
}

/// Go's `hash/adler32`.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    // 5552 bytes is the most that can be summed before the sums must be reduced.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// Go's `bcrypt.GenerateFromPassword` at the default cost (10), `$2a$`; with a user name,
/// `htpasswd`'s `user:hash` (sprig returns an error text for a name with a `:`).
fn bcrypt(password: &[u8], user: Option<&[u8]>, cx: &mut Cx) -> FResult {
    if user.is_some_and(|u| u.contains(&b':')) {
        return Err("invalid username: it contains ':'".to_owned());
    }
    Heavy::Bcrypt.start(cx)?;
    let hash = bcrypt::hash_with_result(password, 10)
        .map_err(|e| format!("failed to encrypt string with bcrypt: {e}"))?
        .format_for_version(bcrypt::Version::TwoA);
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
fn derive_password(args: &[Value], cx: &mut Cx) -> FResult {
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
