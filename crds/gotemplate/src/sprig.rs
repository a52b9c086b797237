//! The sprig functions, with sprig's argument order and semantics (on bytes, like Go strings),
//! except that errors sprig swallows are errors here.

use std::collections::BTreeMap;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::call::{arg, build, bytes, int, strval, text, Cx, FResult};
use super::format::{write_quoted, write_value};
use super::json::{self, Style, WriteError, ITEM_COST};
use super::table::Func;
use super::value::{find_all, lossy_chars, runes, Buf, Limit, Str, Value};
use super::MAX_VALUE_BYTES;

pub(super) fn call(func: Func, args: &[Value], cx: &mut Cx) -> FResult {
    use Func::*;
    match func {
        Atoi => Ok(Value::Int(atoi(text(args, 0)?))),
        B64enc => b64enc(text(args, 0)?, cx),
        B64dec => b64dec(text(args, 0)?, cx),
        Cat => build(cx, |b| {
            let present: Vec<Value> = args
                .iter()
                .filter(|v| !matches!(v, Value::Nil))
                .cloned()
                .collect();
            for (i, v) in present.iter().enumerate() {
                if i > 0 {
                    b.push(b" ")?;
                }
                write_value(b, v)?;
            }
            Ok(())
        }),
        Coalesce => Ok(args
            .iter()
            .find(|v| v.truth())
            .cloned()
            .unwrap_or(Value::Nil)),
        Default => Ok(match args.get(1) {
            Some(given) if given.truth() => given.clone(),
            _ => arg(args, 0).clone(),
        }),
        Empty => Ok(Value::Bool(!arg(args, 0).truth())),
        Contains => Ok(Value::Bool(contains(text(args, 1)?, text(args, 0)?))),
        HasPrefix => Ok(Value::Bool(text(args, 1)?.starts_with(text(args, 0)?))),
        HasSuffix => Ok(Value::Bool(text(args, 1)?.ends_with(text(args, 0)?))),
        Dict => dict(args, cx),
        List => {
            cx.charge(ITEM_COST.saturating_mul(args.len()))?;
            Value::list(args.to_vec())
        }
        FromJson => {
            let (value, cost) = json::from_json(text(args, 0)?)?;
            cx.charge(cost)?;
            Ok(value)
        }
        ToJson | ToPrettyJson | ToRawJson => to_json(func, arg(args, 0), cx),
        Get => Ok(map_entry(arg(args, 0), text(args, 1)?).unwrap_or_else(|| Value::text(""))),
        HasKey => Ok(Value::Bool(
            map_entry(arg(args, 0), text(args, 1)?).is_some(),
        )),
        Keys => keys(args, cx),
        Indent => indent(int(args, 0)?, text(args, 1)?, false, cx),
        Nindent => indent(int(args, 0)?, text(args, 1)?, true, cx),
        Join => join(text(args, 0)?, arg(args, 1), cx),
        Lower => map_chars(text(args, 0)?, cx, |c| c.to_lowercase().next().unwrap_or(c)),
        Upper => map_chars(text(args, 0)?, cx, simple_upper),
        Title => title(text(args, 0)?, cx),
        Nospace => {
            let s = text(args, 0)?;
            build(cx, |b| {
                Ok(b.push_chars(lossy_chars(s).filter(|c| !c.is_whitespace()))?)
            })
        }
        Quote => build(cx, |b| quote(b, args)),
        Squote => build(cx, |b| squote(b, args)),
        Repeat => repeat(int(args, 0)?, text(args, 1)?, cx),
        Replace => replace(text(args, 0)?, text(args, 1)?, text(args, 2)?, cx),
        Sha1sum => digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, args, cx),
        Sha256sum => digest(&aws_lc_rs::digest::SHA256, args, cx),
        Split => split(text(args, 0)?, text(args, 1)?, true, cx),
        SplitList => split(text(args, 0)?, text(args, 1)?, false, cx),
        Substr => substr(int(args, 0)?, int(args, 1)?, text(args, 2)?, cx),
        Ternary => Ok(if matches!(args.get(2), Some(Value::Bool(true))) {
            arg(args, 0).clone()
        } else {
            arg(args, 1).clone()
        }),
        ToString => strval(arg(args, 0), cx),
        Trim => {
            let s = text(args, 0)?;
            bytes(trim(s, |c| c.is_some_and(char::is_whitespace)), cx)
        }
        TrimAll => {
            // A set, not a list: each character of the input is looked up in O(log m), so a
            // 1 MiB input and a 1 MiB cutset take milliseconds, not minutes.
            let cutset: std::collections::BTreeSet<char> = lossy_chars(text(args, 0)?).collect();
            let s = text(args, 1)?;
            let member =
                |c: Option<char>| cutset.contains(&c.unwrap_or(char::REPLACEMENT_CHARACTER));
            bytes(trim(s, member), cx)
        }
        TrimPrefix => {
            let (prefix, s) = (text(args, 0)?, text(args, 1)?);
            bytes(s.strip_prefix(prefix).unwrap_or(s), cx)
        }
        TrimSuffix => {
            let (suffix, s) = (text(args, 0)?, text(args, 1)?);
            bytes(s.strip_suffix(suffix).unwrap_or(s), cx)
        }
        Trunc => trunc(int(args, 0)?, text(args, 1)?, cx),
        _ => Err("internal error: not a sprig function".to_owned()),
    }
}

/// `strconv.Atoi`, 0 when the text is not a number (sprig ignores the error).
fn atoi(s: &[u8]) -> i64 {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
}

fn b64enc(s: &[u8], cx: &mut Cx) -> FResult {
    let engine = base64::engine::general_purpose::STANDARD;
    let size = s.len().div_ceil(3).saturating_mul(4);
    let mut buf = cx.buf();
    buf.push_repeated(0, size)?;
    let mut out = buf.into_bytes();
    let written = engine
        .encode_slice(s, &mut out[..])
        .map_err(|_| "internal error: base64 buffer".to_owned())?;
    out.truncate(written);
    cx.charge(out.len())?;
    Ok(Value::Str(Str::new(out)))
}

/// Go's `base64.StdEncoding.DecodeString`, which skips line breaks. sprig returns the error
/// text as the result; this fails instead (without the offset, which describes the value).
fn b64dec(s: &[u8], cx: &mut Cx) -> FResult {
    let mut compact = Zeroizing::new(Vec::with_capacity(s.len()));
    compact.extend(s.iter().filter(|b| !matches!(b, b'\r' | b'\n')));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact[..])
        .map(Zeroizing::new)
        .map_err(|_| "illegal base64 data".to_owned())?;
    bytes(&decoded, cx)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || !find_all(hay, needle).is_empty()
}

fn dict(args: &[Value], cx: &mut Cx) -> FResult {
    let mut entries = BTreeMap::new();
    for pair in args.chunks(2) {
        let key = match strval(arg(pair, 0), cx)? {
            Value::Str(s) => s,
            _ => return Err("internal error: dict key".to_owned()),
        };
        cx.charge(ITEM_COST)?;
        entries.insert(key, pair.get(1).cloned().unwrap_or_else(|| Value::text("")));
    }
    Value::map(entries)
}

fn map_entry(map: &Value, key: &[u8]) -> Option<Value> {
    match map {
        Value::Map(m) => m.entries().get(key).cloned(),
        _ => None,
    }
}

fn keys(args: &[Value], cx: &mut Cx) -> FResult {
    let mut keys: Vec<Str> = Vec::new();
    for map in args {
        if let Value::Map(m) = map {
            cx.charge(ITEM_COST.saturating_mul(m.entries().len()))?;
            keys.extend(m.entries().keys().cloned());
        }
    }
    keys.sort();
    Ok(Value::string_list(keys))
}

fn to_json(func: Func, v: &Value, cx: &mut Cx) -> FResult {
    let style = Style {
        pretty: func == Func::ToPrettyJson,
        escape_html: func != Func::ToRawJson,
    };
    let mut buf = cx.buf();
    match json::write_json(&mut buf, v, style) {
        Ok(()) => cx.finish(buf),
        Err(WriteError::Overflow(o)) => Err(o.into()),
        // encoding/json refuses NaN and infinities; sprig then returns "".
        Err(WriteError::Unsupported) => Ok(Value::text("")),
    }
}

fn indent(spaces: i64, s: &[u8], newline: bool, cx: &mut Cx) -> FResult {
    let spaces =
        usize::try_from(spaces).map_err(|_| "strings: negative Repeat count".to_owned())?;
    build(cx, |b| {
        if newline {
            b.push(b"\n")?;
        }
        for (i, line) in s.split(|&c| c == b'\n').enumerate() {
            if i > 0 {
                b.push(b"\n")?;
            }
            b.push_repeated(b' ', spaces)?;
            b.push(line)?;
        }
        Ok(())
    })
}

/// sprig's `strslice`: the strings of a list (nils dropped), or the value as one string.
fn join(sep: &[u8], v: &Value, cx: &mut Cx) -> FResult {
    build(cx, |b| {
        let items: &[Value] = match v {
            Value::List(l) => &l.items,
            Value::Nil => &[],
            v => std::slice::from_ref(v),
        };
        let mut first = true;
        for item in items.iter().filter(|v| !matches!(v, Value::Nil)) {
            if !first {
                b.push(sep)?;
            }
            first = false;
            write_value(b, item)?;
        }
        Ok(())
    })
}

fn map_chars(s: &[u8], cx: &mut Cx, f: impl Fn(char) -> char) -> FResult {
    build(cx, |b| {
        if s.is_ascii() {
            // Go's fast path keeps ASCII strings byte for byte.
            return Ok(b.push_chars(s.iter().map(|&c| f(char::from(c))))?);
        }
        Ok(b.push_chars(lossy_chars(s).map(f))?)
    })
}

/// Go's single-character upper case: characters whose upper case is several stay as they are.
fn simple_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &[u8], cx: &mut Cx) -> FResult {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphabetic() || c.is_numeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let titled = lossy_chars(s).map(|c| {
        let out = if is_separator(prev) {
            simple_upper(c)
        } else {
            c
        };
        prev = c;
        out
    });
    build(cx, |b| Ok(b.push_chars(titled)?))
}

/// sprig's `quote`: each non-nil argument as Go's `%q` of its string form, space-separated.
fn quote(b: &mut Buf, args: &[Value]) -> Result<(), String> {
    for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            b.push(b" ")?;
        }
        match v {
            Value::Str(s) => write_quoted(b, s.as_bytes(), '"', false)?,
            v => {
                let mut plain = Buf::new(MAX_VALUE_BYTES, Limit::Value);
                write_value(&mut plain, v)?;
                write_quoted(b, plain.as_bytes(), '"', false)?;
            }
        }
    }
    Ok(())
}

/// sprig's `squote`: each non-nil argument in single quotes, unescaped.
fn squote(b: &mut Buf, args: &[Value]) -> Result<(), String> {
    for (i, v) in args.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            b.push(b" ")?;
        }
        b.push(b"'")?;
        write_value(b, v)?;
        b.push(b"'")?;
    }
    Ok(())
}

fn repeat(count: i64, s: &[u8], cx: &mut Cx) -> FResult {
    let count = usize::try_from(count).map_err(|_| "strings: negative Repeat count".to_owned())?;
    if count.saturating_mul(s.len()) > cx.remaining.min(MAX_VALUE_BYTES) {
        return Err(if cx.remaining < MAX_VALUE_BYTES {
            Limit::Work
        } else {
            Limit::Value
        }
        .to_string());
    }
    build(cx, |b| {
        for _ in 0..count {
            b.push(s)?;
        }
        Ok(())
    })
}

/// Go's `strings.Replace(src, old, new, -1)`; an empty `old` matches around every character.
fn replace(old: &[u8], new: &[u8], src: &[u8], cx: &mut Cx) -> FResult {
    build(cx, |b| {
        if old.is_empty() {
            b.push(new)?;
            for (start, end, _) in runes(src) {
                b.push(src.get(start..end).unwrap_or_default())?;
                b.push(new)?;
            }
            return Ok(());
        }
        let mut at = 0;
        for found in find_all(src, old) {
            b.push(src.get(at..found).unwrap_or_default())?;
            b.push(new)?;
            at = found + old.len();
        }
        b.push(src.get(at..).unwrap_or_default())?;
        Ok(())
    })
}

pub(super) fn digest(
    algorithm: &'static aws_lc_rs::digest::Algorithm,
    args: &[Value],
    cx: &mut Cx,
) -> FResult {
    let sum = aws_lc_rs::digest::digest(algorithm, text(args, 0)?);
    build(cx, |b| {
        for byte in sum.as_ref() {
            b.push_str(&format!("{byte:02x}"))?;
        }
        Ok(())
    })
}

/// Go's `strings.Split`: `split` returns a map `_0`, `_1`, …, `splitList` a list.
fn split(sep: &[u8], s: &[u8], as_map: bool, cx: &mut Cx) -> FResult {
    let mut parts: Vec<&[u8]> = Vec::new();
    if sep.is_empty() {
        parts.extend(runes(s).map(|(start, end, _)| s.get(start..end).unwrap_or_default()));
    } else {
        let mut at = 0;
        for found in find_all(s, sep) {
            parts.push(s.get(at..found).unwrap_or_default());
            at = found + sep.len();
        }
        parts.push(s.get(at..).unwrap_or_default());
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in parts {
        cx.charge(ITEM_COST)?;
        match bytes(part, cx)? {
            Value::Str(s) => values.push(s),
            _ => return Err("internal error: split part".to_owned()),
        }
    }
    if !as_map {
        return Ok(Value::string_list(values));
    }
    let entries = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (Str::from_text(&format!("_{i}")), v))
        .collect();
    Ok(Value::string_map(entries))
}

const SLICE_ERROR: &str = "runtime error: slice bounds out of range";

/// sprig's `substr`, on bytes; Go panics (an error here) on bounds it cannot slice.
fn substr(start: i64, end: i64, s: &[u8], cx: &mut Cx) -> FResult {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let (from, to) = if start < 0 {
        (0, end)
    } else if end < 0 || end > len {
        (start, len)
    } else {
        (start, end)
    };
    let slice = usize::try_from(from)
        .ok()
        .zip(usize::try_from(to).ok())
        .and_then(|(from, to)| s.get(from..to))
        .ok_or_else(|| SLICE_ERROR.to_owned())?;
    bytes(slice, cx)
}

/// sprig's `trunc`, on bytes: the first `c` bytes, or the last `-c`.
fn trunc(c: i64, s: &[u8], cx: &mut Cx) -> FResult {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let slice = if c < 0 && len + c > 0 {
        s.get(usize::try_from(len + c).unwrap_or(0)..)
    } else if c >= 0 && len > c {
        s.get(..usize::try_from(c).unwrap_or(0))
    } else {
        Some(s)
    };
    bytes(slice.unwrap_or(s), cx)
}

/// Drops the leading and trailing characters `cut` accepts (`None` is an invalid byte).
fn trim(s: &[u8], cut: impl Fn(Option<char>) -> bool) -> &[u8] {
    // Only the ends are read: the runes from the front up to the first kept one, and from the
    // back (decoded backwards) down to the last kept one.
    let Some((start, _, _)) = runes(s).find(|(_, _, c)| !cut(*c)) else {
        return &[];
    };
    let mut end = s.len();
    while end > start {
        let (len, c) = last_rune(s.get(start..end).unwrap_or_default());
        if !cut(c) {
            break;
        }
        end -= len;
    }
    s.get(start..end).unwrap_or_default()
}

/// The last rune of `b` and its length in bytes, as a forward reading would cut it: the
/// shortest suffix that is one valid character, else one invalid byte (`None`).
fn last_rune(b: &[u8]) -> (usize, Option<char>) {
    for k in 1..=b.len().min(4) {
        let tail = b.get(b.len() - k..).unwrap_or_default();
        if let Ok(text) = std::str::from_utf8(tail) {
            let mut chars = text.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return (k, Some(c));
            }
        }
    }
    (1, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_reads_runes_from_both_ends_as_a_forward_reading_would() {
        let space = |c: Option<char>| c.is_some_and(char::is_whitespace);
        for (input, want) in [
            (&b"\xe2\x80\x83 x\xff \xe2\x80\x83"[..], &b"x\xff"[..]),
            (b" \xe2\x82 ", b"\xe2\x82"),
            (b"\xf0\xe2\x82\xac\t", b"\xf0\xe2\x82\xac"),
            (b"   ", b""),
            (b"", b""),
            ("é ".as_bytes(), "é".as_bytes()),
        ] {
            assert_eq!(trim(input, space), want, "{input:?}");
        }
    }

    #[test]
    fn trim_and_atoi() {
        assert_eq!(
            trim(b"  a b \n", |c| c.is_some_and(char::is_whitespace)),
            b"a b"
        );
        assert_eq!(trim(b"   ", |c| c.is_some_and(char::is_whitespace)), b"");
        assert_eq!(atoi(b"-42"), -42);
        assert_eq!(atoi(b"4x"), 0);
    }
}
