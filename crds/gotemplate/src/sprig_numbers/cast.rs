//! spf13/cast's `ToInt64` and `ToFloat64` on template values, with the pieces of Go's
//! `strconv` they rely on: `ParseInt(s, base, 64)` and `ParseFloat(s, 64)`.

use num_bigint::BigUint;
use zeroize::Zeroizing;

use crate::value::Value;

/// `cast.ToInt64`: numbers converted as Go converts them, strings parsed as Go integer
/// literals (after dropping a `.0…` suffix), anything else (and garbage) 0.
pub(crate) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Bool(b) => i64::from(*b),
        Value::Int(i) => *i,
        Value::Float(f) => float_to_int(*f),
        Value::Str(s) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(|s| parse_int(trim_zero_decimal(s), 0))
            .unwrap_or(0),
        Value::Nil | Value::List(_) | Value::Map(_) | Value::Time(_) => 0,
    }
}

/// `cast.ToFloat64`: strings parsed by `strconv.ParseFloat`, anything else 0.
pub(super) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => std::str::from_utf8(s.as_bytes())
            .ok()
            .and_then(parse_float)
            .unwrap_or(0.0),
        Value::Nil | Value::List(_) | Value::Map(_) | Value::Time(_) => 0.0,
    }
}

/// Go's `int64(f)` on amd64: values it cannot represent (NaN included) give the smallest int.
pub(crate) fn float_to_int(f: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-LIMIT..LIMIT).contains(&f) {
        return i64::MIN;
    }
    f as i64
}

/// cast's `trimZeroDecimal`: `"12.00"` is read as `"12"`.
fn trim_zero_decimal(s: &str) -> &str {
    let Some((int, frac)) = s.rsplit_once('.') else {
        return s;
    };
    if !frac.is_empty() && frac.bytes().all(|b| b == b'0') {
        int
    } else {
        s
    }
}

/// `strconv.ParseInt(s, base, 64)` for base 0 (Go's literal syntax: prefixes, `_`) or 2..=36;
/// `None` on a syntax or range error.
pub(super) fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, unsigned) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(unsigned, base)?;
    if base == 0 && s.contains('_') && !underscore_ok(s) {
        return None;
    }
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `strconv.ParseUint` without its final check of where underscores stand.
fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let lower = |i: usize| s.as_bytes().get(i).map(u8::to_ascii_lowercase);
    let (radix, digits) = match (base, lower(0), lower(1)) {
        (0, Some(b'0'), Some(b'b')) if s.len() >= 3 => (2, &s[2..]),
        (0, Some(b'0'), Some(b'o')) if s.len() >= 3 => (8, &s[2..]),
        (0, Some(b'0'), Some(b'x')) if s.len() >= 3 => (16, &s[2..]),
        (0, Some(b'0'), _) => (8, &s[1..]),
        (0, _, _) => (10, s),
        _ => (base, s),
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        if c == '_' && base == 0 {
            continue;
        }
        let d = c.to_digit(36).filter(|&d| d < radix)?;
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go's `underscoreOK`: every `_` stands between digits (a base prefix counts as a digit).
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    let prefixed = b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x');
    let hex = prefixed && b[1] | 0x20 == b'x';
    // The last class seen: '^' start, '0' digit or prefix, '_' underscore, '!' other.
    let mut saw = if prefixed { b'0' } else { b'^' };
    for &c in &b[if prefixed { 2 } else { 0 }..] {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)`: decimal and hexadecimal literals (with `_` as Go allows it),
/// `inf`/`infinity` with a sign, `nan`; `None` on a syntax error or an overflow.
pub(super) fn parse_float(s: &str) -> Option<f64> {
    if let Some(special) = special(s) {
        return Some(special);
    }
    let f = scan_float(s)?.value()?;
    f.is_finite().then_some(f)
}

fn special(s: &str) -> Option<f64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ if s.eq_ignore_ascii_case("nan") => return Some(f64::NAN),
        _ => (1.0, s),
    };
    (rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity"))
        .then_some(sign * f64::INFINITY)
}

/// A float literal taken apart: its significant digits (underscores and the dot dropped),
/// where the dot was, and the exponent.
struct Scanned {
    neg: bool,
    hex: bool,
    digits: Zeroizing<String>,
    /// Digits after the dot.
    frac: i64,
    exp: i64,
}

/// Go's `readFloat`, requiring the whole string to be the literal.
fn scan_float(s: &str) -> Option<Scanned> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let hex = i + 2 < b.len() && b[i] == b'0' && b[i + 1] | 0x20 == b'x';
    if hex {
        i += 2;
    }
    let (mut digits, mut frac, mut dot) = (Zeroizing::new(String::new()), 0i64, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'_' => {}
            b'.' if !dot => dot = true,
            c if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() => {
                digits.push(char::from(c));
                frac += i64::from(dot);
            }
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    let exp_char = if hex { b'p' } else { b'e' };
    if b.get(i).map(|c| c | 0x20) == Some(exp_char) {
        i += 1;
        let sign = match b.get(i) {
            Some(b'-') => -1,
            Some(b'+') => 1,
            _ => 0,
        };
        i += usize::from(sign != 0);
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit() || **c == b'_') {
            if c != b'_' && exp < 100_000 {
                exp = exp * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        exp *= if sign < 0 { -1 } else { 1 };
    } else if hex {
        return None;
    }
    if i != b.len() || (s.contains('_') && !underscore_ok(s)) {
        return None;
    }
    Some(Scanned {
        neg,
        hex,
        digits,
        frac,
        exp,
    })
}

impl Scanned {
    /// The nearest float (infinite when out of range).
    fn value(&self) -> Option<f64> {
        let sign = if self.neg { "-" } else { "" };
        if !self.hex {
            let exp = self.exp - self.frac;
            return Zeroizing::new(format!("{sign}{}e{exp}", *self.digits))
                .parse()
                .ok();
        }
        // Exact: mantissa · 2^exp, written in decimal for Rust's correctly rounded parser.
        // 40 significant hex digits and a sticky one for the rest keep the rounding exact.
        let digits = self.digits.trim_start_matches('0');
        let (kept, rest) = digits.split_at(digits.len().min(40));
        let sticky = if rest.bytes().any(|c| c != b'0') {
            "1"
        } else {
            "0"
        };
        let dropped = i64::try_from(rest.len()).ok()? - 1;
        let mantissa = BigUint::parse_bytes(format!("{kept}{sticky}").as_bytes(), 16)?;
        let exp = self.exp - 4 * self.frac + 4 * dropped;
        let bits = i64::try_from(mantissa.bits()).ok()?;
        if mantissa.bits() == 0 || exp + bits < -1100 {
            return format!("{sign}0").parse().ok();
        }
        if exp + bits > 1100 {
            return Some(f64::INFINITY);
        }
        let text = if exp >= 0 {
            format!("{sign}{}", mantissa << u64::try_from(exp).ok()?)
        } else {
            let five = BigUint::from(5u8).pow(u32::try_from(-exp).ok()?);
            format!("{sign}{}e{exp}", mantissa * five)
        };
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_go_literal_syntax() {
        let cases = [
            ("0x1F", Some(31)),
            ("-0b101", Some(-5)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0", Some(0)),
            ("1_000", Some(1000)),
            ("0x_1", Some(1)),
            ("1__0", None),
            ("_1", None),
            ("0x", None),
            ("09", None),
            ("+-1", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_int(text, 0), want, "{text}");
        }
        assert_eq!(parse_int("777", 8), Some(511));
        assert_eq!(parse_int("1_7", 8), None);
        assert_eq!(parse_int("0o7", 8), None);
    }

    #[test]
    fn floats_follow_parse_float() {
        let cases = [
            ("1.5", Some(1.5)),
            (".5", Some(0.5)),
            ("1.", Some(1.0)),
            ("1_0.5", Some(10.5)),
            ("0x1.8p1", Some(3.0)),
            ("0x1p-1074", Some(f64::from_bits(1))),
            ("0x1p-1075", Some(0.0)),
            ("1e-400", Some(0.0)),
            ("1e400", None),
            ("0x10", None),
            ("+nan", None),
            ("infin", None),
            (" 1", None),
            ("1_", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_float(text), want, "{text}");
        }
        assert_eq!(parse_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert!(parse_float("-0").is_some_and(|f| f == 0.0 && f.is_sign_negative()));
    }

    #[test]
    fn out_of_range_floats_become_the_smallest_int() {
        assert_eq!(float_to_int(1e19), i64::MIN);
        assert_eq!(float_to_int(-1e19), i64::MIN);
        assert_eq!(float_to_int(f64::NAN), i64::MIN);
        assert_eq!(float_to_int(-2.9), -2);
        assert_eq!(trim_zero_decimal("12.00"), "12");
        assert_eq!(trim_zero_decimal("1.0.0"), "1.0");
        assert_eq!(trim_zero_decimal("10."), "10.");
    }
}
