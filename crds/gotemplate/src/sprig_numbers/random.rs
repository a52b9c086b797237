//! sprig's random values, from the system's CSPRNG (aws-lc) rather than `math/rand`:
//! random strings over goutils' alphabets, `randInt`, `randBytes`, `shuffle`, `uuidv4`.

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::call::{build, Cx, FResult};
use crate::value::{lossy_chars, Limit, Str, Value};
use crate::MAX_VALUE_BYTES;

/// Random bytes drawn from the CSPRNG a block at a time.
struct Rng {
    block: Zeroizing<Vec<u8>>,
    used: usize,
}

impl Rng {
    /// A generator drawing `block` bytes at a time (as many as one value needs, or a buffer).
    fn new(block: usize) -> Self {
        Self {
            block: Zeroizing::new(vec![0; block]),
            used: block,
        }
    }

    fn buffered() -> Self {
        Self::new(512)
    }

    fn byte(&mut self) -> Result<u8, String> {
        if self.used == self.block.len() {
            aws_lc_rs::rand::fill(&mut self.block[..]).map_err(|_| rng_error())?;
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        Ok(b)
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut x = 0u64;
        for _ in 0..8 {
            x = x << 8 | u64::from(self.byte()?);
        }
        Ok(x)
    }

    /// A uniform integer in `0..n` (`n > 0`), by rejection.
    fn below(&mut self, n: u64) -> Result<u64, String> {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.u64()?;
            if x < zone {
                return Ok(x % n);
            }
        }
    }
}

fn rng_error() -> String {
    "the system's random generator failed".to_owned()
}

/// The alphabets of goutils' `CryptoRandom*` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alphabet {
    /// `A-Z a-z`.
    Alpha,
    /// `0-9 A-Z a-z`.
    AlphaNum,
    /// Printable ASCII, `' '` to `'~'`.
    Ascii,
    /// `0-9`.
    Numeric,
}

impl Alphabet {
    fn contains(self, c: u8) -> bool {
        match self {
            Self::Alpha => c.is_ascii_alphabetic(),
            Self::AlphaNum => c.is_ascii_alphanumeric(),
            Self::Ascii => (b' '..=b'~').contains(&c),
            Self::Numeric => c.is_ascii_digit(),
        }
    }

    fn chars(self) -> Vec<u8> {
        (b' '..=b'~').filter(|&c| self.contains(c)).collect()
    }
}

/// `count` characters of `alphabet`; goutils refuses a negative count (sprig then returns "").
pub(super) fn string(alphabet: Alphabet, count: i64, cx: &mut Cx) -> FResult {
    let count = usize::try_from(count).map_err(|_| "negative length".to_owned())?;
    check_size(count, cx)?;
    let chars = alphabet.chars();
    let n = u64::try_from(chars.len()).unwrap_or(1);
    let mut rng = Rng::buffered();
    build(cx, |b| {
        for _ in 0..count {
            let i = usize::try_from(rng.below(n)?).unwrap_or(0);
            b.push(chars.get(i..=i).unwrap_or_default())?;
        }
        Ok(())
    })
}

/// Refuses, before any work, a result larger than a value may be or the budget allows.
fn check_size(len: usize, cx: &Cx) -> Result<(), String> {
    if len <= cx.remaining.min(MAX_VALUE_BYTES) {
        return Ok(());
    }
    let limit = if cx.remaining < MAX_VALUE_BYTES {
        Limit::Work
    } else {
        Limit::Value
    };
    Err(limit.to_string())
}

/// `rand.Intn(max-min) + min`, which panics unless `max > min` (in wrapping arithmetic).
pub(super) fn int(min: i64, max: i64) -> FResult {
    let span = max.wrapping_sub(min);
    let n = u64::try_from(span)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| "invalid argument to Intn".to_owned())?;
    let offset = Rng::new(8).below(n)?;
    Ok(Value::Int(min.wrapping_add_unsigned(offset)))
}

/// `count` random bytes in standard base64.
pub(super) fn bytes(count: i64, cx: &mut Cx) -> FResult {
    let count = usize::try_from(count)
        .map_err(|_| "runtime error: makeslice: len out of range".to_owned())?;
    check_size(count.div_ceil(3).saturating_mul(4), cx)?;
    let mut raw = Zeroizing::new(vec![0u8; count]);
    aws_lc_rs::rand::fill(&mut raw[..]).map_err(|_| rng_error())?;
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&raw[..]));
    cx.charge(encoded.len())?;
    Ok(Value::Str(Str::from_text(&encoded)))
}

/// xstrings' `Shuffle`: the characters (invalid bytes read as U+FFFD) in a random order.
pub(super) fn shuffle(s: &[u8], cx: &mut Cx) -> FResult {
    let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(lossy_chars(s).collect());
    let mut rng = Rng::buffered();
    for i in (1..chars.len()).rev() {
        let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let j = usize::try_from(rng.below(bound)?).unwrap_or(i);
        chars.swap(i, j);
    }
    build(cx, |b| Ok(b.push_chars(chars.iter().copied())?))
}

/// A random (version 4) UUID, as google/uuid formats it.
pub(super) fn uuid(cx: &mut Cx) -> FResult {
    let mut raw = [0u8; 16];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| rng_error())?;
    raw[6] = raw[6] & 0x0f | 0x40;
    raw[8] = raw[8] & 0x3f | 0x80;
    build(cx, |b| {
        for (i, byte) in raw.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                b.push(b"-")?;
            }
            b.push_str(&format!("{byte:02x}"))?;
        }
        Ok(())
    })
}
