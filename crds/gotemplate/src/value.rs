//! What templates compute with: Go's dynamic values reduced to the kinds the functions need,
//! and a bounded buffer that wipes what it held.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use zeroize::Zeroizing;

/// Deepest nesting of lists and maps a template may build.
pub(super) const MAX_NESTING: usize = 64;

/// A Go string: bytes, not necessarily UTF-8, wiped when the last copy is dropped.
#[derive(Clone)]
pub(super) struct Str(Rc<Zeroizing<Vec<u8>>>);

impl Str {
    pub(super) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(Rc::new(bytes))
    }

    pub(super) fn from_text(text: &str) -> Self {
        Self::new(Zeroizing::new(text.as_bytes().to_vec()))
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for Str {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// A list (Go's `[]interface {}`, or `[]string`), with its nesting depth.
pub(super) struct List {
    pub(super) items: Vec<Value>,
    depth: usize,
    of_strings: bool,
}

impl List {
    /// Whether this is Go's `[]string` rather than `[]interface {}`.
    pub(super) fn is_of_strings(&self) -> bool {
        self.of_strings
    }
}

/// A map with string keys (Go's `map[string]interface {}`, or `map[string]string` like the
/// values), in key order.
pub(super) struct Map {
    pub(super) entries: BTreeMap<Str, Value>,
    depth: usize,
    of_strings: bool,
}

/// A template value. `Nil` is both Go's `nil` and its "no value".
#[derive(Clone)]
pub(super) enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    List(Rc<List>),
    Map(Rc<Map>),
    /// Go's `time.Time`.
    Time(Rc<super::gotime::Time>),
}

impl Value {
    /// The bytes of a string value (0 for the others): what a call reading it is charged.
    pub(super) fn string_len(&self) -> usize {
        match self {
            Self::Str(s) => s.as_bytes().len(),
            _ => 0,
        }
    }

    pub(super) fn text(text: &str) -> Self {
        Self::Str(Str::from_text(text))
    }

    /// A list, refused when it would nest deeper than [`MAX_NESTING`].
    pub(super) fn list(items: Vec<Value>) -> Result<Self, String> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        check_depth(depth)?;
        Ok(Self::List(Rc::new(List {
            items,
            depth,
            of_strings: false,
        })))
    }

    /// A list of strings (Go's `[]string`).
    pub(super) fn string_list(items: Vec<Str>) -> Self {
        let items = items.into_iter().map(Value::Str).collect();
        Self::List(Rc::new(List {
            items,
            depth: 1,
            of_strings: true,
        }))
    }

    /// A map, refused when it would nest deeper than [`MAX_NESTING`].
    pub(super) fn map(entries: BTreeMap<Str, Value>) -> Result<Self, String> {
        let depth = 1 + entries.values().map(Value::depth).max().unwrap_or(0);
        check_depth(depth)?;
        Ok(Self::Map(Rc::new(Map {
            entries,
            depth,
            of_strings: false,
        })))
    }

    /// A map of strings (Go's `map[string]string`, the type of the values).
    pub(super) fn string_map(entries: BTreeMap<Str, Str>) -> Self {
        let entries = entries
            .into_iter()
            .map(|(k, v)| (k, Value::Str(v)))
            .collect();
        Self::Map(Rc::new(Map {
            entries,
            depth: 1,
            of_strings: true,
        }))
    }

    fn depth(&self) -> usize {
        match self {
            Self::List(l) => l.depth,
            Self::Map(m) => m.depth,
            _ => 0,
        }
    }

    /// The Go type name, for messages.
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Self::Nil => "<nil>",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float64",
            Self::Str(_) => "string",
            Self::List(l) if l.of_strings => "[]string",
            Self::List(_) => "[]interface {}",
            Self::Map(m) if m.of_strings => "map[string]string",
            Self::Map(_) => "map[string]interface {}",
            Self::Time(_) => "time.Time",
        }
    }

    /// Go's truth: not the zero value of its type (sprig's `empty` is the opposite).
    pub(super) fn truth(&self) -> bool {
        match self {
            Self::Nil => false,
            Self::Bool(b) => *b,
            Self::Int(i) => *i != 0,
            Self::Float(f) => *f != 0.0,
            Self::Str(s) => !s.as_bytes().is_empty(),
            Self::List(l) => !l.items.is_empty(),
            Self::Map(m) => !m.entries.is_empty(),
            // A struct is always true.
            Self::Time(_) => true,
        }
    }
}

fn check_depth(depth: usize) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!("values nest deeper than {MAX_NESTING} levels"));
    }
    Ok(())
}

/// The limit a buffer hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// [`super::MAX_OUTPUT_BYTES`].
    Output,
    /// [`super::MAX_VALUE_BYTES`].
    Value,
    /// [`super::MAX_WORK_BYTES`].
    Work,
    /// A `printf` verb this engine does not implement for the value (`%x of a float`).
    Unsupported(&'static str),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output => write!(
                f,
                "output exceeds the limit of {} bytes",
                super::MAX_OUTPUT_BYTES
            ),
            Self::Value => write!(
                f,
                "result exceeds the limit of {} bytes",
                super::MAX_VALUE_BYTES
            ),
            Self::Work => write!(
                f,
                "rendering exceeds the work limit of {} bytes read and written",
                super::MAX_WORK_BYTES
            ),
            Self::Unsupported(what) => write!(f, "printf: {what} is not supported"),
        }
    }
}

/// A buffer refused more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Overflow(pub(super) Limit);

impl From<Overflow> for String {
    fn from(o: Overflow) -> Self {
        o.0.to_string()
    }
}

/// A byte buffer that refuses to grow past its limit and wipes every allocation it leaves.
pub(super) struct Buf {
    bytes: Zeroizing<Vec<u8>>,
    limit: usize,
    kind: Limit,
}

impl Buf {
    pub(super) fn new(limit: usize, kind: Limit) -> Self {
        Self {
            bytes: Zeroizing::new(Vec::new()),
            limit,
            kind,
        }
    }

    pub(super) fn push(&mut self, more: &[u8]) -> Result<(), Overflow> {
        let len = self.bytes.len();
        let needed = len.saturating_add(more.len());
        if needed > self.limit {
            return Err(Overflow(self.kind));
        }
        if needed > self.bytes.capacity() {
            let capacity = needed.max(len.saturating_mul(2)).max(64).min(self.limit);
            let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
            grown.extend_from_slice(&self.bytes);
            // The old allocation is wiped when it is dropped here.
            self.bytes = grown;
        }
        self.bytes.extend_from_slice(more);
        Ok(())
    }

    pub(super) fn push_str(&mut self, s: &str) -> Result<(), Overflow> {
        self.push(s.as_bytes())
    }

    pub(super) fn push_char(&mut self, c: char) -> Result<(), Overflow> {
        self.push(c.encode_utf8(&mut [0; 4]).as_bytes())
    }

    /// Characters, encoded in chunks rather than one by one.
    pub(super) fn push_chars(&mut self, chars: impl Iterator<Item = char>) -> Result<(), Overflow> {
        let mut chunk = Zeroizing::new([0u8; 1024]);
        let mut n = 0;
        let mut result = Ok(());
        for c in chars {
            if n + 4 > chunk.len() {
                result = self.push(&chunk[..n]);
                if result.is_err() {
                    break;
                }
                n = 0;
            }
            n += c.encode_utf8(&mut chunk[n..]).len();
        }
        result.and_then(|()| self.push(&chunk[..n]))
    }

    /// `n` copies of `byte`.
    pub(super) fn push_repeated(&mut self, byte: u8, n: usize) -> Result<(), Overflow> {
        if self.bytes.len().saturating_add(n) > self.limit {
            return Err(Overflow(self.kind));
        }
        let chunk = [byte; 64];
        let mut left = n;
        while left > 0 {
            let take = left.min(chunk.len());
            self.push(&chunk[..take])?;
            left -= take;
        }
        Ok(())
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(super) fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        self.bytes
    }
}

/// Decodes the first UTF-8 sequence of `b`: the character and its length, or `None` and 1 for
/// a byte that does not start a valid sequence. `b` must not be empty.
pub(super) fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let width = match b.first() {
        Some(0x00..=0x7f) => 1,
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return (None, 1),
    };
    match b.get(..width).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next(), width),
        _ => (None, 1),
    }
}

/// The characters of `b` with their byte ranges; invalid bytes come one by one as `None`, as
/// Go's `utf8.DecodeRune` reads them.
pub(super) fn runes(b: &[u8]) -> impl Iterator<Item = (usize, usize, Option<char>)> + '_ {
    let mut offset = 0;
    b.utf8_chunks().flat_map(move |chunk| {
        let start = offset;
        let valid = chunk.valid();
        let invalid_start = start + valid.len();
        offset = invalid_start + chunk.invalid().len();
        let chars = valid
            .char_indices()
            .map(move |(i, c)| (start + i, start + i + c.len_utf8(), Some(c)));
        let bytes = (invalid_start..offset).map(|i| (i, i + 1, None));
        chars.chain(bytes)
    })
}

/// `b` with invalid UTF-8 read as U+FFFD, as Go's rune loops do.
pub(super) fn lossy_chars(b: &[u8]) -> impl Iterator<Item = char> + '_ {
    runes(b).map(|(_, _, c)| c.unwrap_or(char::REPLACEMENT_CHARACTER))
}

/// Positions of the non-overlapping occurrences of `needle` in `hay`, left to right, in linear
/// time (Knuth–Morris–Pratt). `needle` must not be empty.
pub(super) fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    if needle.is_empty() || needle.len() > hay.len() {
        return found;
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for (i, &byte) in hay.iter().enumerate() {
        while k > 0 && byte != needle[k] {
            k = fail[k - 1];
        }
        if byte == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            found.push(i + 1 - k);
            k = 0;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_all_is_non_overlapping() {
        assert_eq!(find_all(b"aaaa", b"aa"), vec![0, 2]);
        assert_eq!(find_all(b"abcabc", b"bc"), vec![1, 4]);
        assert_eq!(find_all(b"ab", b"abc"), Vec::<usize>::new());
        assert_eq!(find_all(b"aabaabaab", b"aab"), vec![0, 3, 6]);
    }

    #[test]
    fn runes_split_invalid_bytes() {
        let r: Vec<_> = runes(b"a\xff\xc3\xa9\xe2\x82").collect();
        assert_eq!(
            r,
            vec![
                (0, 1, Some('a')),
                (1, 2, None),
                (2, 4, Some('é')),
                (4, 5, None),
                (5, 6, None)
            ]
        );
    }

    #[test]
    fn buf_stops_at_its_limit() {
        let mut b = Buf::new(4, Limit::Value);
        assert!(b.push(b"abc").is_ok());
        assert_eq!(b.push(b"de"), Err(Overflow(Limit::Value)));
        assert!(b.push_repeated(b'x', 2).is_err());
        assert_eq!(b.as_bytes(), b"abc");
    }
}
