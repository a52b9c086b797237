//! sprig's lists and dicts: `append`, `first`, `uniq`, `slice`, `chunk`, `concat`, `sortAlpha`,
//! `set`, `dig`, `pick`, `merge`, `deepCopy`, … and their `must` forms.
//!
//! Go's types as modelled here: sprig's list functions take `interface {}` and accept any slice
//! ([`Value::List`], `[]interface {}` or `[]string`); what they build is `[]interface {}`, except
//! `slice` (the input's type) and `sortAlpha`/`toStrings` (`[]string`). The dict functions take
//! `map[string]interface {}` (a [`Value::Map`] that is not of strings; the executor checks).
//! `set`, `unset` and `merge` change the map they are given, as Go's maps are references: every
//! copy of the map (in variables, lists, other maps) sees the change. A `must` form behaves as
//! its plain form: where the plain one panics and the `must` one returns an error, both fail.
//! Values are compared with `reflect.DeepEqual`'s rules (`1` is not `1.0`, a `[]string` is not
//! a `[]interface {}`, a nil slice is not an empty one).
//!
//! Deliberate differences: a change that would make a map contain itself fails (Go's would
//! loop forever printing it); `values` lists in key order (Go's in random order); `sortAlpha`
//! leaves a `[]string` it is given as it was (Go's sorts it in place); `slice` stops at the
//! length of a list (Go's reaches into the spare capacity of an `append`ed one).

use std::collections::HashSet;
use std::rc::Rc;

use super::call::{arg, int, strval, Cx, FResult};
use super::json::ITEM_COST;
use super::table::{sig, Sig, Ty};
use super::value::{Str, Value};

mod dicts;

/// A function of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Push,
    Prepend,
    First,
    Last,
    Rest,
    Initial,
    Reverse,
    Uniq,
    Without,
    Has,
    Compact,
    Slice,
    Chunk,
    Concat,
    SortAlpha,
    ToStrings,
    All,
    Any,
    Set,
    Unset,
    Dig,
    Pick,
    Omit,
    Pluck,
    Merge,
    MergeOverwrite,
    Values,
    DeepCopy,
}

/// The names of this group's functions.
pub(super) const TABLE: &[(&str, F)] = &[
    ("all", F::All),
    ("any", F::Any),
    ("append", F::Push),
    ("chunk", F::Chunk),
    ("compact", F::Compact),
    ("concat", F::Concat),
    ("deepCopy", F::DeepCopy),
    ("dig", F::Dig),
    ("first", F::First),
    ("has", F::Has),
    ("initial", F::Initial),
    ("last", F::Last),
    ("merge", F::Merge),
    ("mergeOverwrite", F::MergeOverwrite),
    ("mustAppend", F::Push),
    ("mustChunk", F::Chunk),
    ("mustCompact", F::Compact),
    ("mustDeepCopy", F::DeepCopy),
    ("mustFirst", F::First),
    ("mustHas", F::Has),
    ("mustInitial", F::Initial),
    ("mustLast", F::Last),
    ("mustMerge", F::Merge),
    ("mustMergeOverwrite", F::MergeOverwrite),
    ("mustPrepend", F::Prepend),
    ("mustPush", F::Push),
    ("mustRest", F::Rest),
    ("mustReverse", F::Reverse),
    ("mustSlice", F::Slice),
    ("mustUniq", F::Uniq),
    ("mustWithout", F::Without),
    ("omit", F::Omit),
    ("pick", F::Pick),
    ("pluck", F::Pluck),
    ("prepend", F::Prepend),
    ("push", F::Push),
    ("rest", F::Rest),
    ("reverse", F::Reverse),
    ("set", F::Set),
    ("slice", F::Slice),
    ("sortAlpha", F::SortAlpha),
    ("toStrings", F::ToStrings),
    ("uniq", F::Uniq),
    ("unset", F::Unset),
    ("values", F::Values),
    ("without", F::Without),
];

impl F {
    pub(super) fn sig(self) -> Sig {
        use Ty::Any as A;
        match self {
            Self::Push | Self::Prepend | Self::Has => sig(&[A, A], None),
            Self::First
            | Self::Last
            | Self::Rest
            | Self::Initial
            | Self::Reverse
            | Self::Uniq
            | Self::Compact
            | Self::SortAlpha
            | Self::ToStrings
            | Self::DeepCopy => sig(&[A], None),
            Self::Without | Self::Slice => sig(&[A], Some(A)),
            Self::Chunk => sig(&[Ty::Int, A], None),
            Self::Concat | Self::All | Self::Any | Self::Dig => sig(&[], Some(A)),
            Self::Set => sig(&[Ty::Map, Ty::Str, A], None),
            Self::Unset => sig(&[Ty::Map, Ty::Str], None),
            Self::Pick | Self::Omit => sig(&[Ty::Map], Some(Ty::Str)),
            Self::Pluck => sig(&[Ty::Str], Some(Ty::Map)),
            Self::Merge | Self::MergeOverwrite => sig(&[Ty::Map], Some(Ty::Map)),
            Self::Values => sig(&[Ty::Map], None),
        }
    }
}

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    use F::*;
    match f {
        Set | Unset | Dig | Pick | Omit | Pluck | Merge | MergeOverwrite | Values | DeepCopy => {
            dicts::call(f, args, cx)
        }
        _ => call_list(f, args, cx),
    }
}

fn call_list(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    let list = arg(args, 0);
    match f {
        F::Push => {
            let mut out = items(list, "Cannot push on type")?.to_vec();
            out.push(arg(args, 1).clone());
            new_list(out, cx)
        }
        F::Prepend => {
            let items = items(list, "Cannot prepend on type")?;
            let out = std::iter::once(arg(args, 1).clone()).chain(items.iter().cloned());
            new_list(out.collect(), cx)
        }
        F::First => Ok(items(list, "Cannot find first on type")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil)),
        F::Last => Ok(items(list, "Cannot find last on type")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil)),
        F::Rest => match items(list, "Cannot find rest on type")? {
            [] => Ok(Value::nil_list()),
            [_, rest @ ..] => new_list(rest.to_vec(), cx),
        },
        F::Initial => match items(list, "Cannot find initial on type")? {
            [] => Ok(Value::nil_list()),
            [initial @ .., _] => new_list(initial.to_vec(), cx),
        },
        F::Reverse => {
            let items = items(list, "Cannot find reverse on type")?;
            new_list(items.iter().rev().cloned().collect(), cx)
        }
        F::Compact => {
            let items = items(list, "Cannot compact on type")?;
            new_list(items.iter().filter(|v| v.truth()).cloned().collect(), cx)
        }
        F::Uniq => uniq(items(list, "Cannot find uniq on type")?, cx),
        F::Without => {
            let omit = args.get(1..).unwrap_or_default();
            without(items(list, "Cannot find without on type")?, omit, cx)
        }
        F::Has => has(list, arg(args, 1), cx),
        F::Slice => slice(list, args.get(1..).unwrap_or_default(), cx),
        F::Chunk => chunk(int(args, 0)?, arg(args, 1), cx),
        F::Concat => concat(args, cx),
        F::SortAlpha => sort_alpha(list, cx),
        F::ToStrings => to_strings(list, cx).map(Value::string_list),
        F::All => Ok(Value::Bool(args.iter().all(Value::truth))),
        F::Any => Ok(Value::Bool(args.iter().any(Value::truth))),
        _ => Err("internal error: not a list function".to_owned()),
    }
}

/// What Go's `reflect.TypeOf(nil).Kind()` panics with.
const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The items of a slice, or sprig's error (`{what} {kind}`) for anything else.
fn items<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
    match v {
        Value::List(l) => Ok(&l.items),
        Value::Nil => Err(NIL_DEREF.to_owned()),
        other => Err(format!("{what} {}", kind(other))),
    }
}

/// Go's `reflect.Kind` name of a value that is not nil.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        other => other.type_name(),
    }
}

/// A new `[]interface {}`, charged per item.
fn new_list(items: Vec<Value>, cx: &mut Cx) -> FResult {
    cx.charge(ITEM_COST.saturating_mul(items.len()))?;
    Value::list(items)
}

/// What comparing two values costs: two items read.
const COMPARE_COST: usize = ITEM_COST / 4;

/// `reflect.DeepEqual`, charged per pair of values compared (lists of lists compare in
/// quadratic time, as Go's do).
pub(super) fn deep_equal(a: &Value, b: &Value, cx: &mut Cx) -> Result<bool, String> {
    cx.charge(COMPARE_COST)?;
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            if x.is_of_strings() != y.is_of_strings()
                || x.is_nil() != y.is_nil()
                || x.items.len() != y.items.len()
            {
                return Ok(false);
            }
            if Rc::ptr_eq(x, y) {
                return Ok(true);
            }
            for (p, q) in x.items.iter().zip(&y.items) {
                if !deep_equal(p, q, cx)? {
                    return Ok(false);
                }
            }
            true
        }
        (x @ Value::Map(m), y @ Value::Map(n)) => {
            if x.type_name() != y.type_name() || m.is_nil() != n.is_nil() {
                return Ok(false);
            }
            if Rc::ptr_eq(m, n) {
                return Ok(true);
            }
            let (m, n) = (m.entries(), n.entries());
            if m.len() != n.len() {
                return Ok(false);
            }
            for (key, p) in m.iter() {
                match n.get(key) {
                    Some(q) if deep_equal(p, q, cx)? => {}
                    _ => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

/// A scalar as a hashable key with `DeepEqual`'s equality (`-0.0` is `0.0`); `None` for
/// lists, maps and NaN (which equals nothing).
#[derive(PartialEq, Eq, Hash)]
enum Key<'v> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(&'v [u8]),
}

fn key(v: &Value) -> Option<Key<'_>> {
    Some(match v {
        Value::Nil => Key::Nil,
        Value::Bool(b) => Key::Bool(*b),
        Value::Int(i) => Key::Int(*i),
        Value::Float(f) if f.is_nan() => return None,
        Value::Float(f) => Key::Float((f + 0.0).to_bits()),
        Value::Str(s) => Key::Str(s.as_bytes()),
        Value::List(_) | Value::Map(_) | Value::Time(_) => return None,
    })
}

/// Values to look up: scalars in a hash set, the others compared one by one.
#[derive(Default)]
struct Seen<'v> {
    scalars: HashSet<Key<'v>>,
    others: Vec<&'v Value>,
}

impl<'v> Seen<'v> {
    fn contains(&self, v: &Value, cx: &mut Cx) -> Result<bool, String> {
        if let Some(k) = key(v) {
            return Ok(self.scalars.contains(&k));
        }
        for other in &self.others {
            if deep_equal(v, other, cx)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn insert(&mut self, v: &'v Value) {
        match key(v) {
            Some(k) => {
                self.scalars.insert(k);
            }
            // NaN is kept apart from everything, as it equals nothing.
            None if matches!(v, Value::Float(_)) => {}
            None => self.others.push(v),
        }
    }
}

fn uniq(items: &[Value], cx: &mut Cx) -> FResult {
    let mut seen = Seen::default();
    let mut out = Vec::new();
    for item in items {
        if !seen.contains(item, cx)? {
            seen.insert(item);
            out.push(item.clone());
        }
    }
    new_list(out, cx)
}

fn without(items: &[Value], omit: &[Value], cx: &mut Cx) -> FResult {
    let mut seen = Seen::default();
    omit.iter().for_each(|v| seen.insert(v));
    let mut out = Vec::new();
    for item in items {
        if !seen.contains(item, cx)? {
            out.push(item.clone());
        }
    }
    new_list(out, cx)
}

fn has(needle: &Value, haystack: &Value, cx: &mut Cx) -> FResult {
    if let Value::Nil = haystack {
        return Ok(Value::Bool(false));
    }
    for item in items(haystack, "Cannot find has on type")? {
        if deep_equal(needle, item, cx)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `slice list [start [end]]`: the list's own type (a `[]string` stays one), nil for an empty
/// list; indices are read as `cast.ToInt` reads them.
fn slice(list: &Value, indices: &[Value], cx: &mut Cx) -> FResult {
    let Value::List(l) = list else {
        return Err(match list {
            Value::Nil => NIL_DEREF.to_owned(),
            other => format!("list should be type of slice or array but {}", kind(other)),
        });
    };
    if l.items.is_empty() {
        return Ok(Value::Nil);
    }
    let start = indices.first().map_or(0, to_int);
    let end = indices
        .get(1)
        .map_or(i64::try_from(l.items.len()).unwrap_or(i64::MAX), to_int);
    let part = usize::try_from(start)
        .ok()
        .zip(usize::try_from(end).ok())
        .and_then(|(start, end)| l.items.get(start..end))
        .ok_or_else(|| "reflect.Value.Slice: slice index out of bounds".to_owned())?;
    if !l.is_of_strings() {
        return new_list(part.to_vec(), cx);
    }
    cx.charge(ITEM_COST.saturating_mul(part.len()))?;
    Ok(Value::string_list(part.iter().filter_map(as_str).collect()))
}

fn as_str(v: &Value) -> Option<Str> {
    match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// spf13/cast's `ToInt` (on 64-bit Go, `ToInt64`), 0 where it fails.
fn to_int(v: &Value) -> i64 {
    super::sprig_numbers::cast::to_int64(v)
}

/// Go's `int(f)` on amd64: truncation, and the minimum int where that does not fit.
fn go_f64_to_int(f: f64) -> i64 {
    super::sprig_numbers::cast::float_to_int(f)
}

const MAKESLICE: &str = "runtime error: makeslice: len out of range";

/// sprig's `chunk`, with its float arithmetic: a size below 1 gives what Go's gives (an empty
/// list, one chunk, or a failed `make`).
#[allow(clippy::cast_precision_loss)]
fn chunk(size: i64, list: &Value, cx: &mut Cx) -> FResult {
    let items = items(list, "Cannot chunk type")?;
    let len = items.len() as f64;
    let count = go_f64_to_int(((len - 1.0) / size as f64).floor() + 1.0);
    let count = usize::try_from(count).map_err(|_| MAKESLICE.to_owned())?;
    let size_len = usize::try_from(size);
    let mut chunks = Vec::new();
    for i in 0..count {
        let mut clen = size;
        if i + 1 == count {
            clen = go_f64_to_int((len % size as f64).floor());
            if clen == 0 {
                clen = size;
            }
        }
        let clen = usize::try_from(clen).map_err(|_| MAKESLICE.to_owned())?;
        // A negative size with a last chunk of length 1 reads index 0 (Go's `i*size + j`).
        let start = size_len.map_or(0, |s| s.saturating_mul(i));
        let part = items
            .get(start..start.saturating_add(clen))
            .ok_or_else(|| "runtime error: index out of range".to_owned())?;
        chunks.push(new_list(part.to_vec(), cx)?);
    }
    new_list(chunks, cx)
}

fn concat(lists: &[Value], cx: &mut Cx) -> FResult {
    let mut out = Vec::new();
    for list in lists {
        match list {
            Value::List(l) => out.extend(l.items.iter().cloned()),
            Value::Nil => return Err(NIL_DEREF.to_owned()),
            other => return Err(format!("Cannot concat type {} as list", kind(other))),
        }
    }
    if out.is_empty() {
        return Ok(Value::nil_list());
    }
    new_list(out, cx)
}

/// sprig's `strslice` (`toStrings`): the string forms of a list's non-nil items, or of the
/// value itself; nil gives an empty list.
fn to_strings(v: &Value, cx: &mut Cx) -> Result<Vec<Str>, String> {
    let items: &[Value] = match v {
        Value::List(l) => &l.items,
        Value::Nil => &[],
        v => std::slice::from_ref(v),
    };
    let mut out = Vec::new();
    for item in items.iter().filter(|v| !matches!(v, Value::Nil)) {
        cx.charge(ITEM_COST)?;
        out.extend(as_str(&strval(item, cx)?));
    }
    Ok(out)
}

/// `sortAlpha`: the sorted string forms of a list's items; anything else (nil too) as one
/// string.
fn sort_alpha(v: &Value, cx: &mut Cx) -> FResult {
    let mut strings = match v {
        Value::List(_) => to_strings(v, cx)?,
        other => {
            cx.charge(ITEM_COST)?;
            as_str(&strval(other, cx)?).into_iter().collect()
        }
    };
    strings.sort();
    Ok(Value::string_list(strings))
}
