//! Go's builtin functions: `len`, `index`, the comparisons and the escapers (`and`, `or` and
//! `not` are evaluated by the executor and the dispatcher, the `print` family by `format`).

use super::call::{arg, build, Cx, FResult};
use super::format::{is_print, sprint};
use super::value::{runes, Buf, Value};

pub(super) fn len(v: &Value) -> FResult {
    let n = match v {
        Value::Str(s) => s.as_bytes().len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries().len(),
        Value::Nil => return Err("len of untyped nil".to_owned()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn index_arg(index: &Value, len: usize) -> Result<usize, String> {
    match index {
        Value::Int(i) => usize::try_from(*i)
            .ok()
            .filter(|i| *i < len)
            .ok_or_else(|| "index out of range".to_owned()),
        Value::Nil => Err("cannot index slice/array with nil".to_owned()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        )),
    }
}

pub(super) fn index(args: &[Value], cx: &Cx) -> FResult {
    let mut item = arg(args, 0).clone();
    if let Value::Nil = item {
        return Err("index of untyped nil".to_owned());
    }
    for (i, key) in args.iter().enumerate().skip(1) {
        item = match &item {
            Value::Str(s) => {
                let i = index_arg(key, s.as_bytes().len())?;
                Value::Int(i64::from(s.as_bytes().get(i).copied().unwrap_or_default()))
            }
            Value::List(l) => {
                let i = index_arg(key, l.items.len())?;
                l.items.get(i).cloned().unwrap_or(Value::Nil)
            }
            Value::Map(m) => {
                let name = match key {
                    Value::Str(name) => name,
                    Value::Nil => return Err("value is nil; should be of type string".to_owned()),
                    other => {
                        return Err(format!(
                            "value has type {}; should be string",
                            other.type_name()
                        ))
                    }
                };
                m.entries().get(name.as_bytes()).cloned().ok_or_else(|| {
                    format!(
                        "map has no entry for key {}",
                        cx.key_name(i, name.as_bytes())
                    )
                })?
            }
            Value::Nil => return Err("index of nil pointer".to_owned()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

#[derive(PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Invalid,
    }
}

/// Go's `eq`: `a` equals any of `others`.
pub(super) fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    let ka = basic_kind(a);
    for b in others {
        let kb = basic_kind(b);
        let truth = if ka != kb {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err("incompatible types for comparison".to_owned());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                // Go compares the structs: instant, monotonic reading and location.
                (Value::Time(x), Value::Time(y)) => x == y,
                (Value::Nil, _) | (_, Value::Nil) => {
                    matches!(a, Value::Nil) && matches!(b, Value::Nil)
                }
                (Value::List(_), Value::Map(_)) | (Value::Map(_), Value::List(_)) => {
                    return Err(format!(
                        "non-comparable types {} and {}",
                        a.type_name(),
                        b.type_name()
                    ))
                }
                _ => return Err(format!("non-comparable type {}", b.type_name())),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (basic_kind(a), basic_kind(b));
    if ka == Kind::Invalid || kb == Kind::Invalid {
        return Err("invalid type for comparison".to_owned());
    }
    if ka != kb {
        return Err("incompatible types for comparison".to_owned());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".to_owned()),
    }
}

pub(super) fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// The text `urlquery`, `html` and `js` escape: a lone string as is, else `fmt.Sprint` with
/// nil shown as `<no value>`.
pub(super) fn escaped(
    args: &[Value],
    cx: &mut Cx,
    escape: fn(&mut Buf, &[u8]) -> Result<(), String>,
) -> FResult {
    let mut source = cx.buf();
    match args {
        [Value::Str(s)] => source.push(s.as_bytes())?,
        _ => {
            let shown: Vec<Value> = args
                .iter()
                .map(|v| match v {
                    Value::Nil => Value::text("<no value>"),
                    v => v.clone(),
                })
                .collect();
            sprint(&mut source, &shown)?;
        }
    }
    build(cx, |b| escape(b, source.as_bytes()))
}

pub(super) fn urlquery(b: &mut Buf, s: &[u8]) -> Result<(), String> {
    for &c in s {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => b.push(&[c])?,
            b' ' => b.push(b"+")?,
            _ => b.push_str(&format!("%{c:02X}"))?,
        }
    }
    Ok(())
}

pub(super) fn html(b: &mut Buf, s: &[u8]) -> Result<(), String> {
    for &c in s {
        match c {
            0 => b.push_str("\u{fffd}")?,
            b'"' => b.push(b"&#34;")?,
            b'\'' => b.push(b"&#39;")?,
            b'&' => b.push(b"&amp;")?,
            b'<' => b.push(b"&lt;")?,
            b'>' => b.push(b"&gt;")?,
            c => b.push(&[c])?,
        }
    }
    Ok(())
}

pub(super) fn js(b: &mut Buf, s: &[u8]) -> Result<(), String> {
    for (start, end, c) in runes(s) {
        let raw = s.get(start..end).unwrap_or_default();
        match c {
            Some('\\') => b.push(b"\\\\")?,
            Some('\'') => b.push(b"\\'")?,
            Some('"') => b.push(b"\\\"")?,
            Some('<') => b.push(b"\\u003C")?,
            Some('>') => b.push(b"\\u003E")?,
            Some('&') => b.push(b"\\u0026")?,
            Some('=') => b.push(b"\\u003D")?,
            Some(c) if u32::from(c) < 0x20 => b.push_str(&format!("\\u{:04X}", u32::from(c)))?,
            Some(c) if !c.is_ascii() && !is_print(c) => {
                b.push_str(&format!("\\u{:04X}", u32::from(c)))?;
            }
            _ => b.push(raw)?,
        }
    }
    Ok(())
}
