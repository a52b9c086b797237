//! sprig's cryptography: digests (`adler32sum`, `sha512sum`), password hashes (`bcrypt`,
//! `htpasswd`, `derivePassword`), AES (`encryptAES`, `decryptAES`, in `aes.rs`), private keys
//! (`genPrivateKey`, in `keys.rs`) and certificates (`genCA`, `genSelfSignedCert`,
//! `genSignedCert`, their `…WithKey` forms and `buildCustomCert`, in `certs.rs`).
//!
//! Where this differs from sprig:
//!
//! * sprig's `certificate` struct is a map here, with the string entries `Cert` and `Key`:
//!   `$ca.Cert` and `toJson` read as in Go, `%v` prints a map, and a `dict` with those entries
//!   is taken as a CA where Go wants the struct.
//! * Where sprig returns an error text instead of failing (`derivePassword` with an unknown
//!   template, `htpasswd` with a `:` in the user name, `genPrivateKey` with an unknown type,
//!   `bcrypt` errors), these functions fail. Error messages never quote a value.
//! * No DSA: `genPrivateKey "dsa"` fails, and `buildCustomCert` checks a DSA key's shape only
//!   (Go cannot make certificates with one either). RSA keys are 2048 to 8192 bits, curves
//!   P-256, P-384 and P-521 (Go also reads smaller RSA keys and P-224), as aws-lc-rs has them.
//! * Certificates given to `buildCustomCert` and `genSignedCert` are parsed by `x509-cert`
//!   (the DER structure, and the signature algorithms must agree); Go's parser also checks the
//!   contents of the keys and extensions it knows.
//! * Hashing and key generation cost far more CPU than the bytes they read and write: each is
//!   charged a share of the work budget ([`super::MAX_WORK_BYTES`]) and starts only if the
//!   rendering has the time it may take left: see [`Heavy`].

mod aes;
mod certs;
mod der;
mod keys;
mod passwords;

use std::time::Duration;

use super::call::{build, text, Cx, FResult};
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
        F::Bcrypt => passwords::bcrypt(text(args, 0)?, None, cx),
        F::Htpasswd => passwords::bcrypt(text(args, 1)?, Some(text(args, 0)?), cx),
        F::DerivePassword => passwords::derive(args, cx),
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
/// certificates made or read (with the keys they are given); and each starts only while the
/// rendering has the time it may take left ([`Heavy::cost`], or the longest one of its kind took
/// in this rendering if that was longer: `call::SlowCalls`), so that it overruns the time limit
/// by one operation at most.
#[derive(Debug, Clone, Copy)]
enum Heavy {
    Rsa4096,
    Rsa2048,
    Scrypt,
    Bcrypt,
    Certificate,
}

impl Heavy {
    /// The share of the work budget the operation is charged, what it may take on a slow,
    /// shared core, and what it is. Measured on a release build: RSA-4096 generation takes 0.5
    /// to 4 s (the search for primes is random), RSA-2048 70 to 300 ms, scrypt 0.1 to 0.3 s,
    /// bcrypt about 0.1 s, reading an RSA-8192 key and signing with it 60 ms.
    fn cost(self) -> (usize, Duration, &'static str) {
        let (share, ms, what) = match self {
            Self::Rsa4096 => (2, 1000, "an RSA-4096 key"),
            Self::Rsa2048 => (8, 150, "an RSA-2048 key"),
            Self::Scrypt => (8, 200, "scrypt"),
            Self::Bcrypt => (16, 100, "bcrypt"),
            Self::Certificate => (64, 60, "a certificate"),
        };
        (share, Duration::from_millis(ms), what)
    }

    /// Charges the operation, before it starts.
    fn start(self, cx: &mut Cx) -> Result<(), String> {
        let (share, estimate, what) = self.cost();
        let time = estimate.max(cx.slow.start(self as usize));
        if !cx.has_time(time) {
            return Err(format!(
                "rendering would exceed its time limit: {what} takes up to {time:?}"
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
