//! What templates compute with: Go's dynamic values reduced to the kinds the functions need,
//! and a bounded buffer that wipes what it held.

use std::borrow::Borrow;
use std::cell::{Cell, Ref, RefCell};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::{Rc, Weak};

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

/// A list (Go's `[]interface {}`, or `[]string`), with its nesting depth. Its items never
/// change; the maps among them may (see [`Map`]).
pub(super) struct List {
    pub(super) items: Vec<Value>,
    depth: Cell<usize>,
    of_strings: bool,
    /// Go's nil slice (`[]interface {}(nil)`): empty, but JSON's `null`.
    nil: bool,
    parents: Parents,
}

impl List {
    /// Whether this is Go's `[]string` rather than `[]interface {}`.
    pub(super) fn is_of_strings(&self) -> bool {
        self.of_strings
    }

    /// Whether this is Go's nil slice.
    pub(super) fn is_nil(&self) -> bool {
        self.nil
    }
}

/// A map with string keys (Go's `map[string]interface {}`, or `map[string]string` like the
/// values), in key order.
///
/// Go's maps are references: sprig's `set`, `unset` and `merge` change a map for every holder
/// of it. Here the entries are behind a `RefCell`, borrowed mutably only inside
/// [`Map::insert`] and [`Map::remove`], which call nothing that reads maps. So that a change
/// can neither nest values deeper than [`MAX_NESTING`] nor make a map contain itself, every
/// list and map knows the containers holding it (weakly): an insertion raises the depths of
/// all of them, and is refused when one would exceed the limit (a cycle would raise them
/// without end).
pub(super) struct Map {
    entries: RefCell<BTreeMap<Str, Value>>,
    depth: Cell<usize>,
    of_strings: bool,
    /// Go's nil map: empty, JSON's `null`, and nothing can be set in it.
    nil: bool,
    parents: Parents,
}

impl Map {
    /// The entries, in key order.
    pub(super) fn entries(&self) -> Ref<'_, BTreeMap<Str, Value>> {
        self.entries.borrow()
    }

    /// Whether this is Go's `map[string]string` rather than `map[string]interface {}`.
    pub(super) fn is_of_strings(&self) -> bool {
        self.of_strings
    }

    /// Whether this is Go's nil map.
    pub(super) fn is_nil(&self) -> bool {
        self.nil
    }

    /// Sets `key` to `value` in place, seen by every holder of the map; returns the number of
    /// containers whose depth was looked at (work to charge). A map of strings takes strings
    /// only.
    pub(super) fn insert(self: &Rc<Self>, key: Str, value: Value) -> Result<usize, String> {
        if self.nil {
            return Err("assignment to entry in nil map".to_owned());
        }
        if self.of_strings && !matches!(value, Value::Str(_)) {
            return Err("internal error: a map of strings holds strings only".to_owned());
        }
        let child = value.node();
        let work = raise(
            Node::Map(Rc::clone(self)),
            1 + value.depth(),
            child.as_ref(),
        )?;
        let old = self
            .entries
            .try_borrow_mut()
            .map_err(|_| IN_USE.to_owned())?
            .insert(key, value);
        if let Some(child) = child {
            child.parents().add(Parent::Map(Rc::downgrade(self)));
        }
        if let Some(old) = old.as_ref().and_then(Value::node) {
            old.parents().remove(addr(self));
        }
        Ok(work)
    }

    /// Deletes `key` in place, seen by every holder of the map.
    pub(super) fn remove(self: &Rc<Self>, key: &[u8]) -> Result<(), String> {
        let old = self
            .entries
            .try_borrow_mut()
            .map_err(|_| IN_USE.to_owned())?
            .remove(key);
        if let Some(old) = old.as_ref().and_then(Value::node) {
            old.parents().remove(addr(self));
        }
        Ok(())
    }
}

const IN_USE: &str = "internal error: map in use";

/// A container holding a list or map, weakly (it may be gone).
enum Parent {
    List(Weak<List>),
    Map(Weak<Map>),
}

/// A list or map, as a node of the graph of containers.
#[derive(Clone)]
enum Node {
    List(Rc<List>),
    Map(Rc<Map>),
}

impl Parent {
    fn upgrade(&self) -> Option<Node> {
        match self {
            Self::List(l) => l.upgrade().map(Node::List),
            Self::Map(m) => m.upgrade().map(Node::Map),
        }
    }

    fn addr(&self) -> usize {
        match self {
            Self::List(l) => l.as_ptr().cast::<()>() as usize,
            Self::Map(m) => m.as_ptr().cast::<()>() as usize,
        }
    }

    fn is_alive(&self) -> bool {
        match self {
            Self::List(l) => l.strong_count() > 0,
            Self::Map(m) => m.strong_count() > 0,
        }
    }
}

/// The containers holding a list or map, once per entry that holds it.
#[derive(Default)]
struct Parents(RefCell<Vec<Parent>>);

impl Parents {
    fn add(&self, parent: Parent) {
        let mut parents = self.0.borrow_mut();
        if parents.len() == parents.capacity() {
            // Dropped containers go before the list grows: amortised constant time.
            parents.retain(Parent::is_alive);
        }
        parents.push(parent);
    }

    fn remove(&self, addr: usize) {
        let mut parents = self.0.borrow_mut();
        if let Some(i) = parents.iter().position(|p| p.addr() == addr) {
            parents.swap_remove(i);
        }
    }

    fn live(&self) -> Vec<Node> {
        self.0.borrow().iter().filter_map(Parent::upgrade).collect()
    }
}

fn addr<T>(rc: &Rc<T>) -> usize {
    Rc::as_ptr(rc).cast::<()>() as usize
}

impl Node {
    fn depth(&self) -> &Cell<usize> {
        match self {
            Self::List(l) => &l.depth,
            Self::Map(m) => &m.depth,
        }
    }

    fn parents(&self) -> &Parents {
        match self {
            Self::List(l) => &l.parents,
            Self::Map(m) => &m.parents,
        }
    }

    fn addr(&self) -> usize {
        match self {
            Self::List(l) => addr(l),
            Self::Map(m) => addr(m),
        }
    }
}

/// Raises `start`'s depth to `depth`, and its holders' above it, or fails (changing nothing)
/// when one would exceed [`MAX_NESTING`]. `child`, about to be put into `start`, counts as held
/// by it. Returns the number of steps taken: each container is raised at most
/// [`MAX_NESTING`] times.
fn raise(start: Node, depth: usize, child: Option<&Node>) -> Result<usize, String> {
    let mut raised: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut todo = vec![(start.clone(), depth)];
    let mut steps = 0usize;
    while let Some((node, depth)) = todo.pop() {
        steps += 1;
        check_depth(depth)?;
        let current = raised
            .get(&node.addr())
            .map_or_else(|| node.depth().get(), |(_, d)| *d);
        if depth <= current {
            continue;
        }
        todo.extend(node.parents().live().into_iter().map(|p| (p, depth + 1)));
        if child.is_some_and(|c| c.addr() == node.addr()) {
            todo.push((start.clone(), depth + 1));
        }
        raised.insert(node.addr(), (node, depth));
    }
    for (node, depth) in raised.into_values() {
        node.depth().set(depth);
    }
    Ok(steps)
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
        let list = Rc::new(List {
            items,
            depth: Cell::new(depth),
            of_strings: false,
            nil: false,
            parents: Parents::default(),
        });
        for child in list.items.iter().filter_map(Value::node) {
            child.parents().add(Parent::List(Rc::downgrade(&list)));
        }
        Ok(Self::List(list))
    }

    /// Go's nil slice, `[]interface {}(nil)`.
    pub(super) fn nil_list() -> Self {
        Self::List(Rc::new(List {
            items: Vec::new(),
            depth: Cell::new(1),
            of_strings: false,
            nil: true,
            parents: Parents::default(),
        }))
    }

    /// Go's nil map, `map[string]interface {}(nil)`.
    pub(super) fn nil_map() -> Self {
        Self::Map(Rc::new(Map {
            entries: RefCell::new(BTreeMap::new()),
            depth: Cell::new(1),
            of_strings: false,
            nil: true,
            parents: Parents::default(),
        }))
    }

    /// A list of strings (Go's `[]string`).
    pub(super) fn string_list(items: Vec<Str>) -> Self {
        let items = items.into_iter().map(Value::Str).collect();
        Self::List(Rc::new(List {
            items,
            depth: Cell::new(1),
            of_strings: true,
            nil: false,
            parents: Parents::default(),
        }))
    }

    /// A map, refused when it would nest deeper than [`MAX_NESTING`].
    pub(super) fn map(entries: BTreeMap<Str, Value>) -> Result<Self, String> {
        let depth = 1 + entries.values().map(Value::depth).max().unwrap_or(0);
        check_depth(depth)?;
        let map = Rc::new(Map {
            entries: RefCell::new(entries),
            depth: Cell::new(depth),
            of_strings: false,
            nil: false,
            parents: Parents::default(),
        });
        for child in map.entries().values().filter_map(Value::node) {
            child.parents().add(Parent::Map(Rc::downgrade(&map)));
        }
        Ok(Self::Map(map))
    }

    /// A map of strings (Go's `map[string]string`, the type of the values).
    pub(super) fn string_map(entries: BTreeMap<Str, Str>) -> Self {
        let entries = entries
            .into_iter()
            .map(|(k, v)| (k, Value::Str(v)))
            .collect();
        Self::Map(Rc::new(Map {
            entries: RefCell::new(entries),
            depth: Cell::new(1),
            of_strings: true,
            nil: false,
            parents: Parents::default(),
        }))
    }

    fn depth(&self) -> usize {
        self.node().map_or(0, |n| n.depth().get())
    }

    fn node(&self) -> Option<Node> {
        match self {
            Self::List(l) => Some(Node::List(Rc::clone(l))),
            Self::Map(m) => Some(Node::Map(Rc::clone(m))),
            _ => None,
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
            Self::Map(m) => !m.entries().is_empty(),
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
