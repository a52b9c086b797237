//! Case and shape: goutils' abbreviations, wrapping, initials and case swaps, xstrings' camel,
//! snake and kebab cases, Go's `strings.SplitN` and `encoding/base32`.

use std::collections::BTreeMap;

use super::super::call::{bytes, Cx, FResult};
use super::super::json::ITEM_COST;
use super::super::value::{decode_rune, find_all, lossy_chars, runes, Buf, Str, Value};
use super::unicode::{
    is_letter, is_lower, is_number, is_punct, is_space, is_title, is_upper, to_lower, to_title,
    to_upper, RUNE_ERROR,
};

/// goutils' `AbbreviateFull`, on bytes, as sprig's `abbrev` and `abbrevboth` guard it: the
/// part of `s` kept, and whether an ellipsis comes before it and after it.
pub(super) fn abbreviate(s: &[u8], offset: i64, width: i64) -> Result<(bool, &[u8], bool), String> {
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    if s.is_empty() || len <= width {
        return Ok((false, s, false));
    }
    // Here 4 <= width < len; Go's int arithmetic wraps.
    let mut offset = offset.min(len);
    if len.wrapping_sub(offset) < width - 3 {
        offset = len - (width - 3);
    }
    let at = |i: i64| usize::try_from(i).unwrap_or(0);
    if offset <= 4 {
        return Ok((false, s.get(..at(width - 3)).unwrap_or(s), true));
    }
    if width < 7 {
        return Err("Minimum abbreviation width with offset is 7".to_owned());
    }
    if offset.wrapping_add(width - 3) < len {
        let (_, kept, after) = abbreviate(s.get(at(offset)..).unwrap_or_default(), 0, width - 3)?;
        return Ok((true, kept, after));
    }
    Ok((
        true,
        s.get(at(len - (width - 3))..).unwrap_or_default(),
        false,
    ))
}

/// goutils' `WrapCustom`, on bytes: lines of at most `width` bytes, broken at spaces (and
/// inside words too when `long_words`).
pub(super) fn wrap(
    s: &[u8],
    width: i64,
    newline: &[u8],
    long_words: bool,
    b: &mut Buf,
) -> Result<(), String> {
    let newline = if newline.is_empty() { b"\n" } else { newline };
    let width = usize::try_from(width.max(1)).unwrap_or(usize::MAX);
    let mut offset = 0;
    while s.len() - offset > width {
        let Some(rest) = s.get(offset..) else { break };
        if rest.first() == Some(&b' ') {
            offset += 1;
            continue;
        }
        let window = rest.get(..=width).unwrap_or(rest);
        if let Some(space) = window.iter().rposition(|&c| c == b' ') {
            b.push(&rest[..space])?;
            b.push(newline)?;
            offset += space + 1;
        } else if long_words {
            b.push(&rest[..width])?;
            b.push(newline)?;
            offset += width;
        } else if let Some(space) = rest[width..].iter().position(|&c| c == b' ') {
            b.push(&rest[..width + space])?;
            b.push(newline)?;
            offset += width + space + 1;
        } else {
            offset = s.len();
            b.push(rest)?;
        }
    }
    b.push(s.get(offset..).unwrap_or_default())?;
    Ok(())
}

/// goutils' `Initials`: the first byte of each word, a byte read as a Latin-1 character.
pub(super) fn initials(s: &[u8], b: &mut Buf) -> Result<(), String> {
    let mut gap = true;
    for &byte in s {
        let c = char::from(byte);
        if is_space(c) {
            gap = true;
        } else if gap {
            b.push_char(c)?;
            gap = false;
        }
    }
    Ok(())
}

/// goutils' `Uncapitalize`: the first letter of each word in lower case.
pub(super) fn untitle(s: &[u8], b: &mut Buf) -> Result<(), String> {
    let mut next = true;
    let chars = lossy_chars(s).map(|c| {
        if is_space(c) {
            next = true;
            c
        } else if next {
            next = false;
            to_lower(c)
        } else {
            c
        }
    });
    Ok(b.push_chars(chars)?)
}

/// goutils' `SwapCase`: upper to lower, lower to upper (title case after a space).
pub(super) fn swapcase(s: &[u8], b: &mut Buf) -> Result<(), String> {
    let mut space = true;
    let chars = lossy_chars(s).map(|c| {
        if is_upper(c) || is_title(c) {
            space = false;
            to_lower(c)
        } else if is_lower(c) {
            let title = space;
            space = false;
            if title {
                to_title(c)
            } else {
                to_upper(c)
            }
        } else {
            space = is_space(c);
            c
        }
    });
    Ok(b.push_chars(chars)?)
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' `isAlphabet`: a letter, not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    is_letter(c)
        && !matches!(c, '\u{4e00}'..='\u{9fcc}' | '\u{3400}'..='\u{4d85}' | '\u{20000}'..='\u{2b81d}')
}

/// xstrings' `ToCamelCase`: words joined, each capitalised, the rest in lower case; leading
/// and doubled connectors stay.
pub(super) fn camelcase(s: &[u8], b: &mut Buf) -> Result<(), String> {
    let mut chars = lossy_chars(s).peekable();
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            r0 = Some(to_upper(c));
            break;
        }
        b.push_char(c)?;
        r0 = Some(c);
    }
    let Some(mut r0) = r0 else { return Ok(()) };
    if chars.peek().is_none() {
        return Ok(b.push_char(r0)?);
    }
    for c in chars {
        let r1 = r0;
        if is_connector(c) && is_connector(r1) {
            b.push_char(r1)?;
            r0 = c;
        } else if is_connector(r1) {
            r0 = to_upper(c);
        } else {
            r0 = to_lower(c);
            b.push_char(r1)?;
        }
    }
    Ok(b.push_char(r0)?)
}

/// The kinds of words xstrings splits a string into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextValidRune`: the first valid character (with the invalid bytes before it),
/// or `prev` and the whole of `s`.
fn next_valid(s: &[u8], prev: char) -> (char, usize) {
    let mut size = 0;
    while let Some(rest) = s.get(size..).filter(|r| !r.is_empty()) {
        let (c, n) = decode_rune(rest);
        size += n;
        match c {
            Some(c) if c != RUNE_ERROR => return (c, size),
            _ => {}
        }
    }
    (prev, size)
}

/// Extends a word over the characters `keep` accepts; `r` ends as the first one it refused.
/// Returns the size of the last character taken (0 if none).
fn extend(s: &[u8], offset: &mut usize, r: &mut char, keep: impl Fn(char) -> bool) -> usize {
    let mut last = 0;
    while *offset < s.len() {
        let (c, size) = next_valid(s.get(*offset..).unwrap_or_default(), *r);
        *r = c;
        if !keep(c) {
            break;
        }
        last = size;
        *offset += size;
    }
    last
}

/// xstrings' `nextWord`: the kind of the first word, the word, and what follows it.
fn next_word(s: &[u8]) -> (Word, &[u8], &[u8]) {
    if s.is_empty() {
        return (Word::Invalid, s, s);
    }
    let (mut r, mut offset) = next_valid(s, RUNE_ERROR);
    let kind = if r == RUNE_ERROR {
        Word::Invalid
    } else if is_connector(r) {
        extend(s, &mut offset, &mut r, is_connector);
        Word::Connector
    } else if is_punct(r) {
        extend(s, &mut offset, &mut r, is_punct);
        Word::Punct
    } else if is_upper(r) {
        upper_word(s, &mut offset, r);
        Word::Upper
    } else if is_alphabet(r) {
        extend(s, &mut offset, &mut r, |c| is_alphabet(c) && !is_upper(c));
        Word::Alphabet
    } else if is_number(r) {
        extend(s, &mut offset, &mut r, is_number);
        Word::Number
    } else {
        extend(s, &mut offset, &mut r, |c| {
            !(is_connector(c) || is_alphabet(c) || is_number(c) || is_punct(c))
        });
        Word::Other
    };
    let (word, rest) = s.split_at(offset.min(s.len()));
    (kind, word, rest)
}

/// The rest of a word that starts with an upper-case letter: "HTTPStatus" is "HTTP", "Status".
fn upper_word(s: &[u8], offset: &mut usize, r: char) {
    if *offset >= s.len() {
        return;
    }
    let (mut r, size) = next_valid(s.get(*offset..).unwrap_or_default(), r);
    if is_upper(r) {
        *offset += size;
        let last = extend(s, offset, &mut r, is_upper);
        let prev_size = if last == 0 { size } else { last };
        if *offset < s.len() && is_alphabet(r) {
            *offset -= prev_size;
        }
    } else if is_alphabet(r) {
        *offset += size;
        extend(s, offset, &mut r, |c| is_alphabet(c) && !is_upper(c));
    }
}

/// xstrings' `toLower`: upper-case words and connectors rewritten, the others as they are.
fn lower_word(b: &mut Buf, kind: Word, word: &[u8], connector: u8) -> Result<(), String> {
    if kind != Word::Upper && kind != Word::Connector {
        return Ok(b.push(word)?);
    }
    let chars = lossy_chars(word).map(|c| {
        if is_connector(c) {
            char::from(connector)
        } else if is_upper(c) {
            to_lower(c)
        } else {
            c
        }
    });
    Ok(b.push_chars(chars)?)
}

/// xstrings' `camelCaseToLowerCase` (`snakecase`, `kebabcase`): words in lower case, joined by
/// `connector`, a number kept with the word before it unless letters follow it.
pub(super) fn connect_words(s: &[u8], connector: u8, b: &mut Buf) -> Result<(), String> {
    let sep = [connector];
    let (mut kind, mut word, mut rest) = next_word(s);
    let separates = |k: Word| !matches!(k, Word::Invalid | Word::Punct | Word::Connector);
    while !rest.is_empty() {
        if kind != Word::Connector {
            lower_word(b, kind, word, connector)?;
        }
        let (prev, last) = (kind, word);
        (kind, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while matches!(kind, Word::Alphabet | Word::Number) {
                    lower_word(b, kind, word, connector)?;
                    (kind, word, rest) = next_word(rest);
                }
                if separates(kind) {
                    b.push(&sep)?;
                }
            }
            Word::Connector => lower_word(b, prev, last, connector)?,
            Word::Punct => {}
            _ => {
                if kind != Word::Number {
                    if kind != Word::Connector && kind != Word::Punct {
                        b.push(&sep)?;
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let number = word;
                (kind, word, rest) = next_word(rest);
                if kind != Word::Alphabet {
                    // A number ends the word before it: "Bld4Floor" is "bld4_floor".
                    lower_word(b, Word::Number, number, connector)?;
                    if kind != Word::Connector && kind != Word::Punct {
                        b.push(&sep)?;
                    }
                    continue;
                }
                // Letters follow the number: "HTTP2xx" is "http_2xx".
                b.push(&sep)?;
                lower_word(b, Word::Number, number, connector)?;
                while matches!(kind, Word::Alphabet | Word::Number) {
                    lower_word(b, kind, word, connector)?;
                    (kind, word, rest) = next_word(rest);
                }
                if separates(kind) {
                    b.push(&sep)?;
                }
            }
        }
    }
    lower_word(b, kind, word, connector)
}

/// Go's `strings.SplitN` as sprig's `splitn` returns it: a map `_0`, `_1`, ….
pub(super) fn splitn(sep: &[u8], n: i64, s: &[u8], cx: &mut Cx) -> FResult {
    // At most `limit - 1` cuts (any number when n < 0), none when n == 0.
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    let mut parts: Vec<&[u8]> = Vec::new();
    if n != 0 && sep.is_empty() {
        // Go's explode: one part per character (an invalid byte as U+FFFD), the last part
        // whatever is left.
        let n = limit.min(runes(s).count());
        let mut chars = runes(s);
        for (start, end, c) in chars.by_ref().take(n.saturating_sub(1)) {
            parts.push(if c.is_some() {
                &s[start..end]
            } else {
                "\u{fffd}".as_bytes()
            });
        }
        if let Some((start, _, _)) = chars.next() {
            parts.push(&s[start..]);
        }
    } else if n != 0 {
        let mut at = 0;
        for found in find_all(s, sep).into_iter().take(limit - 1) {
            parts.push(&s[at..found]);
            at = found + sep.len();
        }
        parts.push(&s[at..]);
    }
    let mut entries = BTreeMap::new();
    for (i, part) in parts.into_iter().enumerate() {
        cx.charge(ITEM_COST)?;
        if let Value::Str(v) = bytes(part, cx)? {
            entries.insert(Str::from_text(&format!("_{i}")), v);
        }
    }
    Ok(Value::string_map(entries))
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding.EncodeToString`, padded.
pub(super) fn b32enc(s: &[u8], b: &mut Buf) -> Result<(), String> {
    for chunk in s.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = block.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        let used = (chunk.len() * 8).div_ceil(5);
        let mut out = [b'='; 8];
        for (i, o) in out.iter_mut().enumerate().take(used) {
            *o = BASE32[usize::try_from(bits >> (35 - 5 * i) & 31).unwrap_or(0)];
        }
        b.push(&out)?;
    }
    Ok(())
}

const B32_ERROR: &str = "illegal base32 data";

/// Go's `base32.StdEncoding.DecodeString` (line breaks skipped). sprig returns the error text
/// as the result; this fails instead, without the offset, which describes the value.
pub(super) fn b32dec(s: &[u8], b: &mut Buf) -> Result<(), String> {
    let src: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| !matches!(c, b'\r' | b'\n'))
        .collect();
    let src = zeroize::Zeroizing::new(src);
    let mut rest = &src[..];
    while !rest.is_empty() {
        let (digits, used, end) = b32_quantum(rest)?;
        rest = &rest[used..];
        let bits = digits.iter().fold(0u64, |acc, &d| acc << 5 | u64::from(d));
        let len = match end {
            Some(2) => 1,
            Some(4) => 2,
            Some(5) => 3,
            Some(7) => 4,
            Some(_) => return Err(B32_ERROR.to_owned()),
            None => 5,
        };
        let out = bits.to_be_bytes();
        b.push(&out[3..3 + len])?;
        if end.is_some() {
            break;
        }
    }
    Ok(())
}

/// One quantum of 8 digits: their values (padding as 0), the bytes read, and where padding
/// starts when it does (then the input ends there).
fn b32_quantum(src: &[u8]) -> Result<([u8; 8], usize, Option<usize>), String> {
    let mut digits = [0u8; 8];
    for j in 0..8 {
        let Some(&c) = src.get(j) else {
            return Err(B32_ERROR.to_owned());
        };
        let left = src.len() - j - 1;
        if c == b'=' && j >= 2 && left < 8 {
            if left + j < 7 || src[j + 1..].iter().take(7 - j).any(|&p| p != b'=') {
                return Err(B32_ERROR.to_owned());
            }
            return Ok((digits, src.len(), Some(j)));
        }
        digits[j] = BASE32
            .iter()
            .position(|&d| d == c)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or_else(|| B32_ERROR.to_owned())?;
    }
    Ok((digits, 8, None))
}
