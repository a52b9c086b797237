//! Go's literal syntax: integers (`strconv.ParseInt(s, 0, 64)`), floats, and quoted strings
//! and characters (`strconv.Unquote`).

pub(super) fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Go's integer literal syntax (`strconv.ParseInt(s, 0, 64)`).
pub(super) fn parse_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, text.get(1..)?),
        b'+' => (false, text.get(1..)?),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if digits.is_empty() || !underscores_ok(digits, prefixed) {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars().filter(|&c| c != '_') {
        value = value
            .checked_mul(radix)?
            .checked_add(i128::from(c.to_digit(radix as u32)?))?;
        if value > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).ok()
}

/// Underscores only between digits, or right after a base prefix.
fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    let b = digits.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before_ok = if i == 0 { prefixed } else { b[i - 1] != b'_' };
            if !before_ok || i + 1 == b.len() || b[i + 1] == b'_' {
                return false;
            }
        }
    }
    true
}

/// Go's decimal float syntax; hex floats are not supported.
pub(super) fn parse_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    if lower.contains(['x', 'i', 'n']) || !underscores_ok(&lower, false) {
        return None;
    }
    let f: f64 = lower.replace('_', "").parse().ok()?;
    f.is_finite().then_some(f)
}

/// Go's `strconv.Unquote` for "…", `…` and '…'.
pub(super) fn unquote(quoted: &str) -> Option<Vec<u8>> {
    let quote = quoted.chars().next()?;
    if quoted.len() < 2 || !quoted.ends_with(quote) {
        return None;
    }
    let body = quoted.get(1..quoted.len() - 1)?;
    match quote {
        '`' => (!body.contains('`')).then(|| body.replace('\r', "").into_bytes()),
        '"' => unescape(body, quote),
        '\'' => {
            // A character constant holds exactly one character.
            let out = unescape(body, quote)?;
            single_char(std::str::from_utf8(&out).ok()?)?;
            Some(out)
        }
        _ => None,
    }
}

/// The bytes of the inside of a quoted string, escapes resolved.
pub(super) fn unescape(body: &str, quote: char) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body.chars();
    while let Some(c) = rest.next() {
        if c == quote || c == '\n' {
            return None;
        }
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        let escaped = rest.next()?;
        let simple = match escaped {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' | '"' if escaped == quote => Some(escaped as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (count, radix) = match escaped {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return None,
        };
        let mut value = if radix == 8 { escaped.to_digit(8)? } else { 0 };
        for _ in 0..count {
            value = value
                .checked_mul(radix)?
                .checked_add(rest.next()?.to_digit(radix)?)?;
        }
        match escaped {
            'x' | '0'..='7' => out.push(u8::try_from(value).ok()?),
            _ => out.extend_from_slice(char::from_u32(value)?.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_go() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-017"), Some(-15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("1_000"), Some(1000));
        assert_eq!(parse_int("1__0"), None);
        assert_eq!(parse_int("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808"), None);
        assert_eq!(parse_int("1.5"), None);
    }

    #[test]
    fn unquote_follows_go() {
        assert_eq!(
            unquote(r#""a\tb\x41\u00e9\101""#),
            Some(b"a\tbA\xc3\xa9A".to_vec())
        );
        assert_eq!(unquote("`a\\n\r`"), Some(b"a\\n".to_vec()));
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r"'\''"), Some(b"'".to_vec()));
        assert_eq!(unquote("'ab'"), None);
        assert_eq!(unquote(r#""\xff""#), Some(vec![0xff]));
        assert_eq!(unquote("\""), None);
    }
}
