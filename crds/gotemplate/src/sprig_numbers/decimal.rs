//! shopspring/decimal as sprig's `addf`, `subf`, `mulf` and `divf` use it: each float taken
//! as its shortest decimal, exact sums and products, quotients rounded half away from zero to
//! 16 decimal places, and the result read back as the nearest float.

use std::collections::BTreeMap;

use num_bigint::{BigInt, Sign};

/// The most decimal digits an intermediate value may have (floats need about 770 for a sum;
/// only long chains of products or quotients grow past this).
pub(super) const MAX_DIGITS: u32 = 4096;

/// `value · 10^exp`.
pub(super) struct Decimal {
    value: BigInt,
    exp: i64,
}

/// `decimal.DivisionPrecision`.
const DIVISION_PRECISION: i64 = 16;

fn too_large() -> String {
    format!("decimal arithmetic exceeds {MAX_DIGITS} digits")
}

/// Powers of ten, computed once per call: a long sum aligns to the same exponents again and
/// again.
#[derive(Default)]
pub(super) struct Tens(BTreeMap<u32, BigInt>);

impl Tens {
    /// `10^n`, refused past [`MAX_DIGITS`].
    fn pow(&mut self, n: i64) -> Result<&BigInt, String> {
        let n = u32::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_DIGITS)
            .ok_or_else(too_large)?;
        Ok(self.0.entry(n).or_insert_with(|| BigInt::from(10u8).pow(n)))
    }
}

impl Decimal {
    /// `decimal.NewFromFloat`, which panics on NaN and infinities (an error here).
    pub(super) fn from_float(f: f64) -> Result<Self, String> {
        if !f.is_finite() {
            let shown = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            return Err(format!("Cannot create a Decimal from {shown}"));
        }
        let text = crate::float::shortest(f);
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let value = format!("{int}{frac}")
            .parse::<BigInt>()
            .map_err(|_| "internal error: float digits".to_owned())?;
        let exp = exp.parse::<i64>().unwrap_or(0) - i64::try_from(frac.len()).unwrap_or(0);
        Ok(Self { value, exp })
    }

    /// The nearest float, infinite when out of range (as `big.Rat.Float64`).
    pub(super) fn to_float(&self) -> f64 {
        format!("{}e{}", self.value, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// About how many decimal digits the value has: what an operation is charged.
    pub(super) fn digits(&self) -> usize {
        usize::try_from(self.value.bits() * 3 / 10).unwrap_or(usize::MAX)
    }

    fn checked(self) -> Result<Self, String> {
        if self.value.bits() > u64::from(MAX_DIGITS) * 10 / 3 {
            return Err(too_large());
        }
        Ok(self)
    }

    /// Both values scaled to the smaller exponent.
    fn aligned(&self, other: &Self, tens: &mut Tens) -> Result<(BigInt, BigInt, i64), String> {
        let exp = self.exp.min(other.exp);
        let a = &self.value * tens.pow(self.exp - exp)?;
        let b = &other.value * tens.pow(other.exp - exp)?;
        Ok((a, b, exp))
    }

    pub(super) fn add(&self, other: &Self, tens: &mut Tens) -> Result<Self, String> {
        let (a, b, exp) = self.aligned(other, tens)?;
        Self { value: a + b, exp }.checked()
    }

    pub(super) fn sub(&self, other: &Self, tens: &mut Tens) -> Result<Self, String> {
        let (a, b, exp) = self.aligned(other, tens)?;
        Self { value: a - b, exp }.checked()
    }

    pub(super) fn mul(&self, other: &Self, _: &mut Tens) -> Result<Self, String> {
        Self {
            value: &self.value * &other.value,
            exp: self.exp + other.exp,
        }
        .checked()
    }

    /// `Decimal.Div`: the quotient to 16 places, half away from zero; by zero it panics.
    pub(super) fn div(&self, other: &Self, tens: &mut Tens) -> Result<Self, String> {
        if other.value.sign() == Sign::NoSign {
            return Err("decimal division by 0".to_owned());
        }
        // quotient · 10^16 = (a · 10^ea) / (b · 10^eb) · 10^16, as integers n / m.
        let shift = self.exp - other.exp + DIVISION_PRECISION;
        let (n, m) = if shift >= 0 {
            (&self.value * tens.pow(shift)?, other.value.clone())
        } else {
            (self.value.clone(), &other.value * tens.pow(-shift)?)
        };
        let (mut q, r) = (&n / &m, &n % &m);
        if r.magnitude() * 2u8 >= *m.magnitude() {
            let away = if self.value.sign() == other.value.sign() {
                1
            } else {
                -1
            };
            q += away;
        }
        Self {
            value: q,
            exp: -DIVISION_PRECISION,
        }
        .checked()
    }
}
