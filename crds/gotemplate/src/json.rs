//! JSON as sprig's `toJson`, `toPrettyJson`, `toRawJson` and `fromJson` see it, through Go's
//! `encoding/json`: map keys sorted, `<`, `>` and `&` escaped (but in `toRawJson`), numbers
//! decoded as floats.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use zeroize::{Zeroize, Zeroizing};

use super::float::json_float;
use super::value::{runes, Buf, Overflow, Str, Value};

/// How to write JSON.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// Two-space indentation (`toPrettyJson`).
    pub(super) pretty: bool,
    /// Escape `<`, `>` and `&` (all but `toRawJson`).
    pub(super) escape_html: bool,
}

/// Why a value could not be written.
pub(super) enum WriteError {
    Overflow(Overflow),
    /// NaN or an infinity, which JSON cannot hold.
    Unsupported,
}

impl From<Overflow> for WriteError {
    fn from(o: Overflow) -> Self {
        Self::Overflow(o)
    }
}

/// Writes `v` as JSON.
pub(super) fn write_json(buf: &mut Buf, v: &Value, style: Style) -> Result<(), WriteError> {
    write_value(buf, v, style, 0)
}

fn newline(buf: &mut Buf, style: Style, level: usize) -> Result<(), Overflow> {
    if style.pretty {
        buf.push(b"\n")?;
        buf.push_repeated(b' ', 2 * level)?;
    }
    Ok(())
}

fn write_value(buf: &mut Buf, v: &Value, style: Style, level: usize) -> Result<(), WriteError> {
    match v {
        Value::Nil => buf.push(b"null")?,
        Value::Bool(b) => buf.push_str(if *b { "true" } else { "false" })?,
        Value::Int(i) => buf.push_str(&i.to_string())?,
        Value::Float(f) => buf.push_str(&json_float(*f).ok_or(WriteError::Unsupported)?)?,
        Value::Str(s) => write_string(buf, s.as_bytes(), style.escape_html)?,
        Value::Time(t) => {
            // `Time.MarshalJSON`: RFC 3339 with nanoseconds, for years 0 to 9999 only.
            if !(0..=9999).contains(&t.year()) {
                return Err(WriteError::Unsupported);
            }
            buf.push(b"\"")?;
            super::golayout::format(buf, t, b"2006-01-02T15:04:05.999999999Z07:00")?;
            buf.push(b"\"")?;
        }
        Value::List(list) if list.is_nil() => buf.push(b"null")?,
        Value::Map(map) if map.is_nil() => buf.push(b"null")?,
        Value::List(list) => {
            buf.push(b"[")?;
            for (i, item) in list.items.iter().enumerate() {
                if i > 0 {
                    buf.push(b",")?;
                }
                newline(buf, style, level + 1)?;
                write_value(buf, item, style, level + 1)?;
            }
            if !list.items.is_empty() {
                newline(buf, style, level)?;
            }
            buf.push(b"]")?;
        }
        Value::Map(map) => {
            buf.push(b"{")?;
            for (i, (key, item)) in map.entries().iter().enumerate() {
                if i > 0 {
                    buf.push(b",")?;
                }
                newline(buf, style, level + 1)?;
                write_string(buf, key.as_bytes(), style.escape_html)?;
                buf.push(if style.pretty { b": " } else { b":" })?;
                write_value(buf, item, style, level + 1)?;
            }
            if !map.entries().is_empty() {
                newline(buf, style, level)?;
            }
            buf.push(b"}")?;
        }
    }
    Ok(())
}

/// A JSON string; invalid UTF-8 becomes U+FFFD, as Go writes it.
fn write_string(buf: &mut Buf, s: &[u8], escape_html: bool) -> Result<(), Overflow> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b"\"")?;
    for (start, end, c) in runes(s) {
        match c {
            None => buf.push(b"\\ufffd")?,
            Some('"') => buf.push(b"\\\"")?,
            Some('\\') => buf.push(b"\\\\")?,
            Some('\n') => buf.push(b"\\n")?,
            Some('\r') => buf.push(b"\\r")?,
            Some('\t') => buf.push(b"\\t")?,
            Some('\u{8}') => buf.push(b"\\b")?,
            Some('\u{c}') => buf.push(b"\\f")?,
            Some('<' | '>' | '&') if escape_html => {
                let b = s.get(start).copied().unwrap_or_default();
                buf.push(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ])?;
            }
            Some(c) if u32::from(c) < 0x20 => {
                let b = c as u8;
                buf.push(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ])?;
            }
            Some('\u{2028}') => buf.push(b"\\u2028")?,
            Some('\u{2029}') => buf.push(b"\\u2029")?,
            Some(_) => buf.push(s.get(start..end).unwrap_or_default())?,
        }
    }
    buf.push(b"\"")
}

/// Size charged for each value `fromJson` builds, on top of its strings.
pub(super) const ITEM_COST: usize = 32;

/// Reads JSON into values (numbers as floats, like Go); returns the value and its cost.
pub(super) fn from_json(text: &[u8]) -> Result<(Value, usize), String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = Json::deserialize(&mut de).and_then(|json| de.end().map(|()| json));
    match parsed {
        Ok(Json(value, cost)) => Ok((value, cost)),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            // Our own refusal (too deep); its message holds no value.
            let message = e.to_string();
            Err(message
                .split(" at line")
                .next()
                .unwrap_or("invalid JSON")
                .to_owned())
        }
        Err(_) => Err("invalid JSON".to_owned()),
    }
}

struct Json(Value, usize);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

fn text(bytes: &[u8]) -> Json {
    Json(
        Value::Str(Str::new(Zeroizing::new(bytes.to_vec()))),
        ITEM_COST + bytes.len(),
    )
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json(Value::Bool(b), ITEM_COST))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Json, E> {
        Ok(Json(Value::Float(i as f64), ITEM_COST))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Json, E> {
        Ok(Json(Value::Float(u as f64), ITEM_COST))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Json, E> {
        Ok(Json(Value::Float(f), ITEM_COST))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(text(s.as_bytes()))
    }

    fn visit_string<E>(self, mut s: String) -> Result<Json, E> {
        let json = text(s.as_bytes());
        s.zeroize();
        Ok(json)
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json(Value::Nil, ITEM_COST))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        let mut cost = ITEM_COST;
        while let Some(Json(item, c)) = seq.next_element()? {
            items.push(item);
            cost = cost.saturating_add(c);
        }
        Ok(Json(Value::list(items).map_err(de::Error::custom)?, cost))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = BTreeMap::new();
        let mut cost = ITEM_COST;
        while let Some((Key(key), Json(item, c))) = map.next_entry()? {
            cost = cost.saturating_add(c).saturating_add(key.as_bytes().len());
            entries.insert(key, item);
        }
        Ok(Json(Value::map(entries).map_err(de::Error::custom)?, cost))
    }
}

struct Key(Str);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E>(self, s: &str) -> Result<Key, E> {
        Ok(Key(Str::new(Zeroizing::new(s.as_bytes().to_vec()))))
    }

    fn visit_string<E>(self, mut s: String) -> Result<Key, E> {
        let key = Key(Str::new(Zeroizing::new(s.as_bytes().to_vec())));
        s.zeroize();
        Ok(key)
    }
}
