//! sprig's dict functions: `set`, `unset`, `dig`, `pick`, `omit`, `pluck`, `values`,
//! `deepCopy`, and mergo's `merge` and `mergeOverwrite`, changing maps in place as Go does.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use super::{as_str, new_list, F};
use crate::call::{arg, text, Cx, FResult};
use crate::json::ITEM_COST;
use crate::value::{Map, Str, Value};

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    let dict = arg(args, 0);
    let rest_args = args.get(1..).unwrap_or_default();
    match f {
        F::Set => set(dict, arg(args, 1), arg(args, 2), cx),
        F::Unset => {
            let Value::Map(m) = dict else {
                return Ok(Value::nil_map());
            };
            m.remove(text(args, 1)?)?;
            Ok(dict.clone())
        }
        F::Dig => dig(args),
        F::Pick => pick_or_omit(dict, rest_args, true, cx),
        F::Omit => pick_or_omit(dict, rest_args, false, cx),
        F::Pluck => {
            let key = text(args, 0)?;
            let found = rest_args.iter().filter_map(|d| entry(d, key)).collect();
            new_list(found, cx)
        }
        F::Merge => merge(dict, rest_args, false, cx),
        F::MergeOverwrite => merge(dict, rest_args, true, cx),
        F::Values => {
            let values = match dict {
                Value::Map(m) => m.entries().values().cloned().collect(),
                _ => Vec::new(),
            };
            new_list(values, cx)
        }
        F::DeepCopy => match dict {
            Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".to_owned()),
            v => deep_copy(v, cx),
        },
        _ => Err("internal error: not a dict function".to_owned()),
    }
}

/// A new `map[string]interface {}`, charged per entry.
fn new_map(entries: BTreeMap<Str, Value>, cx: &mut Cx) -> FResult {
    cx.charge(ITEM_COST.saturating_mul(entries.len()))?;
    Value::map(entries)
}

fn entry(map: &Value, key: &[u8]) -> Option<Value> {
    match map {
        Value::Map(m) => m.entries().get(key).cloned(),
        _ => None,
    }
}

/// `set`: changes the map itself (every holder sees it), and returns it.
fn set(map: &Value, key: &Value, value: &Value, cx: &mut Cx) -> FResult {
    let Value::Map(m) = map else {
        return Err("assignment to entry in nil map".to_owned());
    };
    let key = as_str(key).ok_or_else(|| "internal error: expected a string".to_owned())?;
    insert(m, key, value.clone(), cx)?;
    Ok(map.clone())
}

/// Inserts into a map in place, charging the entry and the depth bookkeeping.
fn insert(map: &Rc<Map>, key: Str, value: Value, cx: &mut Cx) -> Result<(), String> {
    cx.charge(ITEM_COST.saturating_add(key.as_bytes().len()))?;
    let work = map.insert(key, value)?;
    cx.charge(work)
}

/// What a failed type assertion `x.(T)` panics with.
fn conversion(v: &Value, want: &str) -> String {
    let got = match v {
        Value::Nil => "nil",
        v => v.type_name(),
    };
    format!("interface conversion: interface {{}} is {got}, not {want}")
}

/// `dig "k1" "k2" … default dict`: the value at the path, or the default where a key is
/// missing; a value on the path that is not a `map[string]interface {}` fails, as in Go.
fn dig(args: &[Value]) -> FResult {
    const MAP: &str = "map[string]interface {}";
    let [keys @ .., default, dict] = args else {
        return Err("dig needs at least three arguments".to_owned());
    };
    if keys.is_empty() {
        return Err("dig needs at least three arguments".to_owned());
    }
    let mut map = match dict {
        Value::Map(m) if !m.is_of_strings() => Rc::clone(m),
        other => return Err(conversion(other, MAP)),
    };
    let mut path = Vec::with_capacity(keys.len());
    for key in keys {
        match key {
            Value::Str(s) => path.push(s),
            other => return Err(conversion(other, "string")),
        }
    }
    let last = path.len() - 1;
    for (i, key) in path.into_iter().enumerate() {
        let Some(step) = map.entries().get(key).cloned() else {
            return Ok(default.clone());
        };
        if i == last {
            return Ok(step);
        }
        map = match step {
            Value::Map(m) if !m.is_of_strings() => m,
            other => return Err(conversion(&other, MAP)),
        };
    }
    Ok(default.clone())
}

/// `pick` (the entries with the keys given) or `omit` (the others), as a new map.
fn pick_or_omit(map: &Value, keys: &[Value], pick: bool, cx: &mut Cx) -> FResult {
    let keys: HashSet<&[u8]> = keys
        .iter()
        .filter_map(|k| match k {
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        })
        .collect();
    let entries = match map {
        Value::Map(m) => m
            .entries()
            .iter()
            .filter(|(k, _)| keys.contains(k.as_bytes()) == pick)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => BTreeMap::new(),
    };
    new_map(entries, cx)
}

/// A copy of lists and maps all the way down (copystructure's `Copy`), of the same types.
fn deep_copy(v: &Value, cx: &mut Cx) -> FResult {
    match v {
        Value::List(l) if l.is_nil() => Ok(Value::nil_list()),
        Value::Map(m) if m.is_nil() => Ok(Value::nil_map()),
        Value::List(l) => {
            let mut items = Vec::with_capacity(l.items.len());
            for item in &l.items {
                items.push(deep_copy(item, cx)?);
            }
            if l.is_of_strings() {
                cx.charge(ITEM_COST.saturating_mul(items.len()))?;
                return Ok(Value::string_list(
                    items.iter().filter_map(as_str).collect(),
                ));
            }
            new_list(items, cx)
        }
        Value::Map(m) => {
            let mut entries = BTreeMap::new();
            for (key, item) in m.entries().iter() {
                entries.insert(key.clone(), deep_copy(item, cx)?);
            }
            if m.is_of_strings() {
                cx.charge(ITEM_COST.saturating_mul(entries.len()))?;
                let strings = entries
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, as_str(&v)?)));
                return Ok(Value::string_map(strings.collect()));
            }
            new_map(entries, cx)
        }
        scalar => Ok(scalar.clone()),
    }
}

/// `merge dst src…` (mergo's `Merge`: `dst` keeps what it has unless it is empty) or
/// `mergeOverwrite` (`MergeWithOverwrite`: `src` wins). `dst` is changed in place and returned;
/// maps in both are merged recursively, into `dst`'s own nested maps.
fn merge(dst: &Value, srcs: &[Value], overwrite: bool, cx: &mut Cx) -> FResult {
    let mut dst = match dst {
        Value::Map(m) => Rc::clone(m),
        _ => as_map(Value::nil_map())?,
    };
    for src in srcs {
        // nil is a nil map: nothing to merge.
        let Value::Map(src) = src else { continue };
        if dst.is_nil() && !src.is_nil() {
            dst = as_map(new_map(BTreeMap::new(), cx)?)?;
        }
        merge_into(&dst, src, overwrite, cx)?;
    }
    Ok(Value::Map(dst))
}

fn as_map(v: Value) -> Result<Rc<Map>, String> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err("internal error: not a map".to_owned()),
    }
}

/// What setting an interface value into a `map[string]string` panics with.
const NOT_ASSIGNABLE: &str =
    "reflect.Value.SetMapIndex: value of type interface {} is not assignable to type string";

/// mergo's `deepMerge` of two maps, key by key (keys as they were, values as they are).
fn merge_into(dst: &Rc<Map>, src: &Rc<Map>, overwrite: bool, cx: &mut Cx) -> Result<(), String> {
    let keys: Vec<Str> = src.entries().keys().cloned().collect();
    // Values of a `map[string]string` are strings, assignable anywhere; those of a
    // `map[string]interface {}` are interfaces, assignable to no `map[string]string`.
    let assignable = src.is_of_strings() || !dst.is_of_strings();
    for key in keys {
        cx.charge(ITEM_COST)?;
        let Some(value) = src.entries().get(&key).cloned() else {
            continue;
        };
        let current = dst.entries().get(&key).cloned();
        match &value {
            Value::Nil => {
                if overwrite {
                    assign(dst, key, value, assignable, cx)?;
                }
                continue;
            }
            Value::Map(inner) => {
                // A nil map in `dst` is replaced, not merged into.
                match &current {
                    Some(Value::Map(into)) if !into.is_nil() => {
                        merge_into(into, inner, overwrite, cx)?;
                    }
                    _ => {}
                }
                // mergo 1.0 (sprig 3.3, upstream's): a map replaces a value that is no map
                // when overwriting (mergo 0.3, the oracle's, kept that value).
                let into_map = matches!(current, Some(Value::Map(_)));
                if current.as_ref().is_some_and(Value::truth) && (into_map || !overwrite) {
                    continue;
                }
            }
            // Go fails on a slice for a `map[string]string` even where it keeps the string.
            Value::List(_) if !assignable => return Err(NOT_ASSIGNABLE.to_owned()),
            _ => {}
        }
        if overwrite || !current.as_ref().is_some_and(Value::truth) {
            assign(dst, key, value, assignable, cx)?;
        }
    }
    Ok(())
}

fn assign(
    dst: &Rc<Map>,
    key: Str,
    value: Value,
    assignable: bool,
    cx: &mut Cx,
) -> Result<(), String> {
    if !assignable {
        return Err(NOT_ASSIGNABLE.to_owned());
    }
    insert(dst, key, value, cx)
}
