//! What every template function is given besides its arguments (the work budget, [`Cx`]) and
//! the helpers that read arguments and build results within that budget: shared by Go's
//! builtins and the sprig functions.

use std::time::{Duration, Instant};

use super::format::{go_quote, write_value};
use super::value::{Buf, Limit, Str, Value};
use super::{MAX_VALUE_BYTES, MAX_WORK_BYTES};

/// What a call may use besides its arguments: the work budget, and which arguments are written
/// as string literals in the template (a missing key is named only then: a computed key could
/// be a value).
pub(super) struct Cx {
    /// Bytes the functions may still produce.
    pub(super) remaining: usize,
    /// For each argument of the current call, whether it is a string literal.
    pub(super) literal: Vec<bool>,
    /// When the rendering must end, if it must: the calls that take long check it first.
    pub(super) deadline: Option<Instant>,
    /// How long the costly calls of this rendering took.
    pub(super) slow: SlowCalls,
}

/// How long the costly calls (key generation, bcrypt, …) of a rendering took, by kind, so
/// that the next one starts only if the longest so far still fits before the deadline: their
/// estimates bound a fast machine, what they really took bounds a slow or instrumented one.
/// A call is timed from its start to the start of the next costly call (an overestimate, so
/// the bound errs on the safe side).
#[derive(Default)]
pub(super) struct SlowCalls {
    last: Option<(usize, Instant)>,
    longest: Vec<Duration>,
}

impl SlowCalls {
    /// Records that a call of `kind` starts now; returns the longest one of that kind took.
    pub(super) fn start(&mut self, kind: usize) -> Duration {
        let now = Instant::now();
        if let Some((previous, at)) = self.last.replace((kind, now)) {
            if self.longest.len() <= previous {
                self.longest.resize(previous + 1, Duration::ZERO);
            }
            if let Some(longest) = self.longest.get_mut(previous) {
                *longest = (*longest).max(now.saturating_duration_since(at));
            }
        }
        self.longest.get(kind).copied().unwrap_or_default()
    }
}

impl Cx {
    pub(super) fn new() -> Self {
        Self {
            remaining: MAX_WORK_BYTES,
            literal: Vec::new(),
            deadline: None,
            slow: SlowCalls::default(),
        }
    }

    /// Whether `needed` is left before the deadline.
    pub(super) fn has_time(&self, needed: Duration) -> bool {
        self.deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) >= needed)
    }

    pub(super) fn buf(&self) -> Buf {
        if self.remaining < MAX_VALUE_BYTES {
            Buf::new(self.remaining, Limit::Work)
        } else {
            Buf::new(MAX_VALUE_BYTES, Limit::Value)
        }
    }

    pub(super) fn charge(&mut self, n: usize) -> Result<(), String> {
        self.remaining = self
            .remaining
            .checked_sub(n)
            .ok_or_else(|| Limit::Work.to_string())?;
        Ok(())
    }

    pub(super) fn finish(&mut self, buf: Buf) -> Result<Value, String> {
        self.charge(buf.len())?;
        Ok(Value::Str(Str::new(buf.into_bytes())))
    }

    /// How a message names the missing key given as argument `i`.
    pub(super) fn key_name(&self, i: usize, key: &[u8]) -> String {
        match std::str::from_utf8(key) {
            Ok(name) if self.literal.get(i).copied().unwrap_or(false) => go_quote(name),
            _ => "(computed key withheld)".to_owned(),
        }
    }
}

pub(super) type FResult = Result<Value, String>;

// ---------------------------------------------------------------------------------------------
// Argument access. The executor checked the types; a mismatch here is an internal error.

pub(super) fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Nil)
}

pub(super) fn text(args: &[Value], i: usize) -> Result<&[u8], String> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s.as_bytes()),
        _ => Err("internal error: expected a string".to_owned()),
    }
}

pub(super) fn int(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err("internal error: expected an int".to_owned()),
    }
}

/// A string built in a bounded buffer and charged to the budget.
pub(super) fn build(cx: &mut Cx, body: impl FnOnce(&mut Buf) -> Result<(), String>) -> FResult {
    let mut buf = cx.buf();
    body(&mut buf)?;
    cx.finish(buf)
}

pub(super) fn bytes(b: &[u8], cx: &mut Cx) -> FResult {
    build(cx, |buf| buf.push(b).map_err(String::from))
}

/// sprig's `strval`: strings as they are, anything else as `%v` prints it.
pub(super) fn strval(v: &Value, cx: &mut Cx) -> FResult {
    match v {
        Value::Str(_) => Ok(v.clone()),
        _ => build(cx, |b| write_value(b, v).map_err(String::from)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_costly_call_is_timed_until_the_next_one() {
        let mut slow = SlowCalls::default();
        assert_eq!(slow.start(2), Duration::ZERO, "nothing measured yet");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(slow.start(0), Duration::ZERO, "another kind");
        assert!(
            slow.start(2) >= Duration::from_millis(30),
            "the first call of kind 2 took 30 ms"
        );
        assert!(
            slow.start(0) < Duration::from_millis(30),
            "kind 0 was quick"
        );
    }
}
