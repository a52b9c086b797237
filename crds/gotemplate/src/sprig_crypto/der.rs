//! The little DER and PEM the keys and certificates need: writing TLVs as Go's `encoding/asn1`
//! does, splitting them, and Go's `encoding/pem` (its `Decode` finds the first valid block
//! anywhere in the text).

use zeroize::Zeroizing;

use super::super::call::Cx;
use super::aes::go_base64;

pub(super) const INTEGER: u8 = 0x02;
pub(super) const BIT_STRING: u8 = 0x03;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const NULL: u8 = 0x05;
pub(super) const OID: u8 = 0x06;
pub(super) const SEQUENCE: u8 = 0x30;

/// Bytes that may hold a private key: wiped when dropped.
pub(super) type Bytes = Zeroizing<Vec<u8>>;

/// A TLV of the concatenated `parts`.
pub(super) fn tlv(tag: u8, parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(len + 6));
    out.push(tag);
    let be = len.to_be_bytes();
    let significant = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    match len {
        0..=0x7f => out.push(be[be.len() - 1]),
        _ => {
            out.push(0x80 | (be.len() - significant) as u8);
            out.extend_from_slice(&be[significant..]);
        }
    }
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

pub(super) fn seq(parts: &[&[u8]]) -> Bytes {
    tlv(SEQUENCE, parts)
}

/// An INTEGER of the non-negative number with these big-endian bytes, minimally encoded.
pub(super) fn uint(be: &[u8]) -> Bytes {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = &be[start..];
    match digits.first() {
        None => tlv(INTEGER, &[&[0]]),
        Some(&top) if top & 0x80 != 0 => tlv(INTEGER, &[&[0], digits]),
        Some(_) => tlv(INTEGER, &[digits]),
    }
}

/// A BIT STRING of whole bytes.
pub(super) fn bits(bytes: &[u8]) -> Bytes {
    tlv(BIT_STRING, &[&[0], bytes])
}

/// Splits the first TLV off `input`: its tag, contents and what follows. DER lengths only.
pub(super) fn split(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The contents of the TLV `input` starts with, if it has this tag.
pub(super) fn contents(input: &[u8], tag: u8) -> Option<&[u8]> {
    split(input).and_then(|(t, body, _)| (t == tag).then_some(body))
}

/// Go's `pem.EncodeToMemory` of a block without headers.
pub(super) fn pem_encode(kind: &str, der: &[u8]) -> Bytes {
    use base64::Engine as _;
    let mut b64 = Zeroizing::new(vec![0u8; der.len().div_ceil(3) * 4]);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(der, &mut b64[..])
        .unwrap_or(0);
    let mut out = Zeroizing::new(Vec::with_capacity(n + n / 64 + 2 * kind.len() + 40));
    out.extend_from_slice(format!("-----BEGIN {kind}-----\n").as_bytes());
    for line in b64[..n].chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {kind}-----\n").as_bytes());
    out
}

/// A PEM block: its type and its decoded bytes.
pub(super) struct Block<'a> {
    pub(super) kind: &'a [u8],
    pub(super) der: Bytes,
}

/// Go's `pem.Decode`: the first well-formed block, headers skipped. Each candidate block's
/// search for its END line and decoding is charged to the budget: the same bytes may be read
/// again for every BEGIN line before them.
pub(super) fn pem_decode<'a>(data: &'a [u8], cx: &mut Cx) -> Result<Option<Block<'a>>, String> {
    let mut rest = data;
    loop {
        rest = match rest.strip_prefix(b"-----BEGIN ") {
            Some(after) => after,
            None => match after(rest, b"\n-----BEGIN ") {
                Some(after) => after,
                None => return Ok(None),
            },
        };
        let (type_line, body) = line(rest);
        rest = body;
        let Some(kind) = type_line.strip_suffix(b"-----") else {
            continue;
        };
        match block_body(kind, body, cx)? {
            Body::Found(der) => return Ok(Some(Block { kind, der })),
            Body::Next(next) => rest = next,
        }
    }
}

/// What follows a BEGIN line: the block's bytes, or where to look for the next block.
enum Body<'a> {
    Found(Bytes),
    Next(&'a [u8]),
}

/// The bytes of a block whose type line is read: headers, base64, the END line.
fn block_body<'a>(kind: &[u8], mut rest: &'a [u8], cx: &mut Cx) -> Result<Body<'a>, String> {
    let mut headers = false;
    loop {
        if rest.is_empty() {
            return Ok(Body::Next(rest));
        }
        let (l, next) = line(rest);
        if !l.contains(&b':') {
            break;
        }
        headers = true;
        rest = next;
    }
    let (b64, trailer) = match rest.strip_prefix(b"-----END ") {
        Some(trailer) if !headers => (&rest[..0], trailer),
        _ => {
            let end = find(rest, b"\n-----END ");
            cx.charge(end.unwrap_or(rest.len()))?;
            match end {
                Some(at) => (&rest[..at], &rest[at + 10..]),
                None => return Ok(Body::Next(rest)),
            }
        }
    };
    let ends = trailer
        .strip_prefix(kind)
        .and_then(|t| t.strip_prefix(b"-----"))
        .is_some_and(|end| line(end).0.is_empty());
    if !ends {
        return Ok(Body::Next(rest));
    }
    cx.charge(b64.len())?;
    let compact: Bytes = Zeroizing::new(
        b64.iter()
            .copied()
            .filter(|b| !matches!(b, b' ' | b'\t'))
            .collect(),
    );
    Ok(go_base64(&compact).map_or(Body::Next(rest), Body::Found))
}

/// Go's `getLine`: the first line without its end and trailing blanks, and the rest.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    let (mut l, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    if let Some(stripped) = l.strip_suffix(b"\r") {
        if data.len() > l.len() {
            l = stripped;
        }
    }
    while let Some(stripped) = l.strip_suffix(b" ").or_else(|| l.strip_suffix(b"\t")) {
        l = stripped;
    }
    (l, rest)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn after<'a>(hay: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    find(hay, needle).map(|i| &hay[i + needle.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers_encode_as_go_does() {
        assert_eq!(&tlv(OCTET_STRING, &[b"ab"])[..], b"\x04\x02ab");
        assert_eq!(&tlv(OCTET_STRING, &[&[7; 200]])[..3], b"\x04\x81\xc8");
        assert_eq!(&tlv(OCTET_STRING, &[&[7; 300]])[..4], b"\x04\x82\x01\x2c");
        assert_eq!(&uint(&[0, 0, 0x80])[..], b"\x02\x02\x00\x80");
        assert_eq!(&uint(&[0, 0x7f])[..], b"\x02\x01\x7f");
        assert_eq!(&uint(&[0, 0])[..], b"\x02\x01\x00");
        let t = tlv(SEQUENCE, &[&[1; 300]]);
        assert_eq!(
            split(&t).map(|(tag, c, r)| (tag, c.len(), r.len())),
            Some((SEQUENCE, 300, 0))
        );
    }

    #[test]
    fn pem_round_trips_and_skips_what_go_skips() {
        let cx = &mut Cx::new();
        let decoded = |text: &[u8], cx: &mut Cx| {
            pem_decode(text, cx).map(|b| b.map(|b| (b.kind.to_vec(), b.der.to_vec())))
        };
        let mut text = b"junk\n-----BEGIN BAD\n".to_vec();
        text.extend_from_slice(&pem_encode("THING", &[1u8; 100]));
        let thing = Some((b"THING".to_vec(), vec![1u8; 100]));
        assert_eq!(decoded(&text, cx), Ok(thing));
        let wrong_end = b"-----BEGIN X-----\nAAAA\n-----END Y-----\n";
        assert_eq!(decoded(wrong_end, cx), Ok(None));
        let crlf = b"-----BEGIN X-----\r\nh: v\r\n\r\nAA AA\r\n-----END X-----  \r\n";
        assert_eq!(decoded(crlf, cx), Ok(Some((b"X".to_vec(), vec![0, 0, 0]))));
    }

    #[test]
    fn many_begin_lines_run_out_of_budget() {
        let mut text = b"-----BEGIN A-----\n".repeat(60_000);
        text.extend_from_slice(b"-----END B-----\n");
        assert!(pem_decode(&text, &mut Cx::new()).is_err());
    }
}
