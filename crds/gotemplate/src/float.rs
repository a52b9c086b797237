//! Go's float formatting (`strconv.FormatFloat` for the `e`, `f` and `g` formats, and
//! `encoding/json`'s choice between them), built on Rust's correctly rounded digits.

/// More significant digits than any f64 has (767).
const MAX_SIGNIFICANT: usize = 800;

/// More fractional digits than any f64 has (1074, for the smallest subnormal).
const MAX_FRACTIONAL: usize = 1100;

/// Decimal digits of a finite, non-negative `f` and the position of the decimal point
/// (`0.d1d2… × 10^dp`): shortest when `significant` is `None`, else rounded to that many.
fn decimal_digits(f: f64, significant: Option<usize>) -> (Vec<u8>, i32) {
    if f == 0.0 {
        return (Vec::new(), 0);
    }
    let text = match significant {
        None => shortest(f),
        // An f64 has at most 767 significant decimal digits: past them the digits are zeros,
        // which `fmt_e` and `fmt_f` supply (std's formatter panics past 65535).
        Some(n) => format!("{:.*e}", n.clamp(1, MAX_SIGNIFICANT) - 1, f),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp + 1)
}

/// `f` as `{:e}` writes it, the shortest digits that read back as `f`, except that a tie
/// between two such digit strings goes to the even one, as in Go's `strconv` (std rounds up:
/// 1000000000000001.25 is `1.0000000000000012e15` in Go, `…13e15` in std).
pub(super) fn shortest(f: f64) -> String {
    let text = format!("{f:e}");
    let mantissa = text.split('e').next().unwrap_or_default();
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let even = format!("{:.*e}", digits.saturating_sub(1), f);
    let exact = even.split('e').next().is_some_and(|m| !m.ends_with('0'));
    if exact && even.parse::<f64>().ok() == Some(f) {
        even
    } else {
        text
    }
}

fn fmt_e(digits: &[u8], dp: i32, prec: usize, e: u8) -> String {
    let mut out = String::new();
    out.push(char::from(digits.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digits.get(i).copied().unwrap_or(b'0')));
        }
    }
    out.push(char::from(e));
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

fn fmt_f(digits: &[u8], dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if dp > 0 {
        let dp = dp as usize;
        for i in 0..dp {
            out.push(char::from(digits.get(i).copied().unwrap_or(b'0')));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec {
            let j = i64::from(dp) + i as i64;
            let d = usize::try_from(j)
                .ok()
                .and_then(|j| digits.get(j).copied())
                .unwrap_or(b'0');
            out.push(char::from(d));
        }
    }
    out
}

/// `strconv.FormatFloat(f, verb, prec, 64)` for a finite, non-negative `f`; `None` is the
/// shortest representation.
pub(super) fn format_float(f: f64, verb: char, prec: Option<usize>) -> String {
    let e = if verb.is_ascii_uppercase() {
        b'E'
    } else {
        b'e'
    };
    match verb {
        'e' | 'E' => {
            let p = prec.unwrap_or(6);
            let (digits, dp) = decimal_digits(f, Some(p + 1));
            fmt_e(&digits, dp, p, e)
        }
        'f' | 'F' => {
            let p = prec.unwrap_or(6);
            let mut text = format!("{:.*}", p.min(MAX_FRACTIONAL), f);
            text.extend(std::iter::repeat_n('0', p.saturating_sub(MAX_FRACTIONAL)));
            text
        }
        _ => {
            let (mut digits, dp, eprec, p) = match prec {
                None => {
                    let (digits, dp) = decimal_digits(f, None);
                    let n = digits.len();
                    (digits, dp, 6, n)
                }
                Some(p) => {
                    let p = p.max(1);
                    let (mut digits, dp) = decimal_digits(f, Some(p));
                    while digits.last() == Some(&b'0') {
                        digits.pop();
                    }
                    let nd = digits.len();
                    let eprec = if p > nd && nd as i64 >= i64::from(dp) {
                        nd
                    } else {
                        p
                    };
                    (digits, dp, eprec, p)
                }
            };
            if digits.iter().all(|&d| d == b'0') {
                digits.clear();
            }
            let dp = if digits.is_empty() { 0 } else { dp };
            let nd = digits.len();
            let exp = i64::from(dp) - 1;
            if exp < -4 || exp >= eprec as i64 {
                let p = p.min(nd);
                return fmt_e(&digits, dp, p.saturating_sub(1), e);
            }
            let p = if p as i64 > i64::from(dp) { nd } else { p };
            let frac = (p as i64 - i64::from(dp)).max(0) as usize;
            fmt_f(&digits, dp, frac)
        }
    }
}

/// A float as Go's `encoding/json` writes it, or `None` for NaN and infinities.
pub(super) fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let abs = f.abs();
    let (digits, dp) = decimal_digits(abs, None);
    let body = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut text = fmt_e(&digits, dp, digits.len().saturating_sub(1), b'e');
        if let Some(at) = text.find("e-0") {
            text.remove(at + 2);
        }
        text
    } else {
        let frac = (digits.len() as i64 - i64::from(dp)).max(0) as usize;
        fmt_f(&digits, dp, frac)
    };
    Some(format!("{sign}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_floats_follow_encoding_json() {
        assert_eq!(json_float(1e6).as_deref(), Some("1000000"));
        assert_eq!(json_float(1e21).as_deref(), Some("1e+21"));
        assert_eq!(json_float(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(json_float(0.5).as_deref(), Some("0.5"));
        assert_eq!(json_float(-0.0).as_deref(), Some("-0"));
        assert_eq!(json_float(f64::NAN), None);
    }

    #[test]
    fn precisions_past_the_exact_digits_pad_with_zeros() {
        let e = format_float(1.0, 'e', Some(70_000));
        assert_eq!(e.len(), 70_000 + 6);
        assert!(
            e.starts_with("1.000") && e.ends_with("0e+00"),
            "{}",
            &e[..10]
        );
        let tiny = format_float(5e-324, 'e', Some(1_000_000));
        assert!(tiny.starts_with("4.94065645841246544176568792868221372365"));
        let mantissa = tiny.strip_suffix("e-324").unwrap_or_default();
        assert!(mantissa[800..].bytes().all(|b| b == b'0'));
        assert_eq!(tiny.len(), 1_000_000 + 7);
        let f = format_float(0.5, 'f', Some(1_000_000));
        assert_eq!(f.len(), 1_000_002);
        assert!(f.starts_with("0.5000"));
        let g = format_float(0.1, 'g', Some(1_000_000));
        assert!(g.starts_with("0.1000000000000000055511151231257827"), "{g}");
    }
}
