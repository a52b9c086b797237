//! sprig's numbers and types: arithmetic, conversions, sequences, kinds and types, random
//! values, `fail`.
//!
//! Go's types on the engine's values: `int` and `int64` are both [`Value::Int`], `float64` is
//! [`Value::Float`], `[]int` (what `until` and `untilStep` return) is a list of ints. Numbers
//! are converted as spf13/cast does ([`cast`]: strings parsed as Go literals, anything else and
//! garbage 0), integer arithmetic wraps as Go's does, and `addf`, `subf`, `mulf` and `divf`
//! compute in decimal as shopspring/decimal does ([`decimal`]). Random values come from the
//! system's CSPRNG ([`random`]), not from `math/rand`.
//!
//! Where this differs from sprig, deliberately:
//!
//! * sprig's arithmetic returns `int64`, which this engine does not tell from `int`:
//!   `typeOf (add 1 2)` is `int` (Go: `int64`), `deepEqual (add 1 1) 2` is true, and an
//!   `int64` passed to an `int` parameter (`repeat (add 1 2) "x"`) is accepted where Go
//!   refuses it. Likewise `until` returns `[]interface {}` (Go: `[]int`).
//! * `until`, `untilStep` and `seq` stop at [`MAX_SEQUENCE`] items, the random strings at the
//!   value limit, and the decimal functions at [`decimal::MAX_DIGITS`] digits (Go would go on
//!   until memory runs out); they are charged for what they build and compare.
//! * The random strings with a negative length fail (sprig returns ""); `fail`'s message has
//!   its line breaks escaped, to stay on one line.

pub(super) mod cast;
mod decimal;
mod random;

use super::call::{arg, build, int, text, Cx, FResult};
use super::format::write_value;
use super::json::ITEM_COST;
use super::table::{sig, Sig, Ty};
use super::value::{Buf, Limit, Value};
use super::MAX_VALUE_BYTES;
use cast::{to_float64, to_int64};
use decimal::{Decimal, Tens};
use random::Alphabet;

/// A function of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Add,
    Add1,
    Add1f,
    Addf,
    Sub,
    Subf,
    Mul,
    Mulf,
    Div,
    Divf,
    Mod,
    Max,
    Maxf,
    Min,
    Minf,
    Ceil,
    Floor,
    Round,
    Int,
    Float64,
    ToDecimal,
    Seq,
    Until,
    UntilStep,
    KindIs,
    KindOf,
    TypeIs,
    TypeIsLike,
    TypeOf,
    DeepEqual,
    Fail,
    Rand(Alphabet),
    RandInt,
    RandBytes,
    Shuffle,
    Uuidv4,
}

/// The names of this group's functions.
pub(super) const TABLE: &[(&str, F)] = &[
    ("add", F::Add),
    ("add1", F::Add1),
    ("add1f", F::Add1f),
    ("addf", F::Addf),
    ("biggest", F::Max),
    ("ceil", F::Ceil),
    ("deepEqual", F::DeepEqual),
    ("div", F::Div),
    ("divf", F::Divf),
    ("fail", F::Fail),
    ("float64", F::Float64),
    ("floor", F::Floor),
    ("int", F::Int),
    ("int64", F::Int),
    ("kindIs", F::KindIs),
    ("kindOf", F::KindOf),
    ("max", F::Max),
    ("maxf", F::Maxf),
    ("min", F::Min),
    ("minf", F::Minf),
    ("mod", F::Mod),
    ("mul", F::Mul),
    ("mulf", F::Mulf),
    ("randAlpha", F::Rand(Alphabet::Alpha)),
    ("randAlphaNum", F::Rand(Alphabet::AlphaNum)),
    ("randAscii", F::Rand(Alphabet::Ascii)),
    ("randBytes", F::RandBytes),
    ("randInt", F::RandInt),
    ("randNumeric", F::Rand(Alphabet::Numeric)),
    ("round", F::Round),
    ("seq", F::Seq),
    ("shuffle", F::Shuffle),
    ("sub", F::Sub),
    ("subf", F::Subf),
    ("toDecimal", F::ToDecimal),
    ("typeIs", F::TypeIs),
    ("typeIsLike", F::TypeIsLike),
    ("typeOf", F::TypeOf),
    ("until", F::Until),
    ("untilStep", F::UntilStep),
    ("uuidv4", F::Uuidv4),
];

/// The longest list `until`, `untilStep` and `seq` build.
pub(super) const MAX_SEQUENCE: usize = 1_000_000;

impl F {
    pub(super) fn sig(self) -> Sig {
        use Ty::{Any, Float, Int, Str};
        match self {
            Self::Add | Self::Addf => sig(&[], Some(Any)),
            Self::Add1
            | Self::Add1f
            | Self::Ceil
            | Self::Floor
            | Self::Int
            | Self::Float64
            | Self::ToDecimal
            | Self::KindOf
            | Self::TypeOf => sig(&[Any], None),
            Self::Sub | Self::Div | Self::Mod | Self::DeepEqual => sig(&[Any, Any], None),
            Self::Subf | Self::Mul | Self::Mulf | Self::Divf => sig(&[Any], Some(Any)),
            Self::Max | Self::Maxf | Self::Min | Self::Minf => sig(&[Any], Some(Any)),
            Self::Round => sig(&[Any, Int], Some(Float)),
            Self::Seq => sig(&[], Some(Int)),
            Self::Until | Self::Rand(_) | Self::RandBytes => sig(&[Int], None),
            Self::UntilStep => sig(&[Int, Int, Int], None),
            Self::RandInt => sig(&[Int, Int], None),
            Self::KindIs | Self::TypeIs | Self::TypeIsLike => sig(&[Str, Any], None),
            Self::Fail | Self::Shuffle => sig(&[Str], None),
            Self::Uuidv4 => sig(&[], None),
        }
    }
}

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    match f {
        F::Add | F::Add1 | F::Sub | F::Mul | F::Div | F::Mod | F::Max | F::Min => {
            integer(f, args).map(Value::Int)
        }
        F::Addf | F::Add1f | F::Subf | F::Mulf | F::Divf => {
            decimal_op(f, args, cx).map(Value::Float)
        }
        F::Maxf => Ok(Value::Float(fold_floats(args, go_max))),
        F::Minf => Ok(Value::Float(fold_floats(args, go_min))),
        F::Ceil => Ok(Value::Float(to_float64(arg(args, 0)).ceil())),
        F::Floor => Ok(Value::Float(to_float64(arg(args, 0)).floor())),
        F::Round => round(args).map(Value::Float),
        F::Int => Ok(Value::Int(to_int64(arg(args, 0)))),
        F::Float64 => Ok(Value::Float(to_float64(arg(args, 0)))),
        F::ToDecimal => to_decimal(arg(args, 0)).map(Value::Int),
        F::Seq => seq(args, cx),
        F::Until => {
            let count = int(args, 0)?;
            int_list(until_step(0, count, if count < 0 { -1 } else { 1 })?, cx)
        }
        F::UntilStep => {
            let items = until_step(int(args, 0)?, int(args, 1)?, int(args, 2)?)?;
            int_list(items, cx)
        }
        F::KindIs => Ok(Value::Bool(
            text(args, 0)? == kind_of(arg(args, 1)).as_bytes(),
        )),
        F::KindOf => Ok(Value::text(kind_of(arg(args, 0)))),
        F::TypeIs | F::TypeIsLike => {
            // `typeIsLike` also accepts a pointer to the type; no value here is a pointer.
            Ok(Value::Bool(
                text(args, 0)? == arg(args, 1).type_name().as_bytes(),
            ))
        }
        F::TypeOf => Ok(Value::text(arg(args, 0).type_name())),
        F::DeepEqual => {
            super::sprig_lists::deep_equal(arg(args, 0), arg(args, 1), cx).map(Value::Bool)
        }
        F::Fail => Err(fail_message(text(args, 0)?)),
        F::Rand(alphabet) => random::string(alphabet, int(args, 0)?, cx),
        F::RandInt => random::int(int(args, 0)?, int(args, 1)?),
        F::RandBytes => random::bytes(int(args, 0)?, cx),
        F::Shuffle => random::shuffle(text(args, 0)?, cx),
        F::Uuidv4 => random::uuid(cx),
    }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

/// The `int64` functions: Go's wrapping arithmetic on `cast.ToInt64` of the arguments.
fn integer(f: F, args: &[Value]) -> Result<i64, String> {
    let mut ints = args.iter().map(to_int64);
    let first = ints.next().unwrap_or(0);
    let second = || to_int64(arg(args, 1));
    Ok(match f {
        F::Add => ints.fold(first, i64::wrapping_add),
        F::Add1 => first.wrapping_add(1),
        F::Sub => first.wrapping_sub(second()),
        F::Mul => ints.fold(first, i64::wrapping_mul),
        F::Div => first.checked_div(nonzero(second())?).unwrap_or(i64::MIN),
        F::Mod => first.checked_rem(nonzero(second())?).unwrap_or(0),
        F::Max => ints.fold(first, i64::max),
        F::Min => ints.fold(first, i64::min),
        _ => return Err("internal error: not an integer function".to_owned()),
    })
}

fn nonzero(divisor: i64) -> Result<i64, String> {
    if divisor == 0 {
        return Err("runtime error: integer divide by zero".to_owned());
    }
    Ok(divisor)
}

/// The `float64` functions that compute in decimal (sprig's `execDecimalOp`), charged for the
/// digits of every intermediate result.
fn decimal_op(f: F, args: &[Value], cx: &mut Cx) -> Result<f64, String> {
    let one = [Value::Int(1)];
    let (first, rest) = match f {
        F::Addf => (0.0, args),
        F::Add1f => (to_float64(arg(args, 0)), &one[..]),
        _ => (to_float64(arg(args, 0)), args.get(1..).unwrap_or_default()),
    };
    let op = match f {
        F::Addf | F::Add1f => Decimal::add,
        F::Subf => Decimal::sub,
        F::Mulf => Decimal::mul,
        _ => Decimal::div,
    };
    let mut tens = Tens::default();
    let mut acc = Decimal::from_float(first)?;
    for x in rest {
        acc = op(&acc, &Decimal::from_float(to_float64(x))?, &mut tens)?;
        cx.charge(acc.digits())?;
    }
    Ok(acc.to_float())
}

fn fold_floats(args: &[Value], f: fn(f64, f64) -> f64) -> f64 {
    let mut floats = args.iter().map(to_float64);
    let first = floats.next().unwrap_or(0.0);
    floats.fold(first, f)
}

/// Go's `math.Max`: +Inf wins, then NaN; +0 is larger than -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            y
        } else {
            x
        }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`: -Inf wins, then NaN; -0 is smaller than +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && y == 0.0 {
        if x.is_sign_negative() {
            x
        } else {
            y
        }
    } else if x < y {
        x
    } else {
        y
    }
}

/// sprig's `round a places [roundOn]`: up when the fraction of `a · 10^places` is at least
/// `roundOn` (0.5 by default), else down.
fn round(args: &[Value]) -> Result<f64, String> {
    let value = to_float64(arg(args, 0));
    let places = int(args, 1)?;
    let round_on = match args.get(2) {
        Some(Value::Float(f)) => *f,
        _ => 0.5,
    };
    let pow = pow10(places);
    let digit = pow * value;
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(rounded / pow)
}

/// Go's `math.Pow(10, n)` for an integer `n`: successive squarings of 10's mantissa, with the
/// powers of two kept apart (the last bit can differ from a correctly rounded power).
fn pow10(n: i64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let (mut x1, mut xe) = (0.625f64, 4i64); // 10 = 0.625 · 2^4
    let (mut a1, mut ae) = (1.0f64, 0i64);
    let mut i = n.unsigned_abs();
    while i != 0 {
        if !(-(1 << 12)..=1 << 12).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if n < 0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// `x · 2^exp`, rounded once (Go's `math.Ldexp`).
fn ldexp(x: f64, exp: i64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let power = |e: i64| f64::from_bits(u64::try_from(e + 1023).unwrap_or(0) << 52);
    let (x, exp) = if x.is_normal() {
        (x, exp)
    } else {
        (x * power(54), exp - 54)
    };
    // x = m · 2^k with 1 <= |m| < 2.
    let bits = x.to_bits();
    let k = i64::try_from(bits >> 52 & 0x7ff).unwrap_or(0) - 1023;
    let m = f64::from_bits(bits & !(0x7ff << 52) | 1023 << 52);
    let e = k.saturating_add(exp);
    if e > 1023 {
        m * f64::INFINITY
    } else if e >= -1022 {
        m * power(e)
    } else if e < -1100 {
        m * 0.0
    } else {
        // Subnormal: a whole number of the smallest subnormal, rounded half to even.
        (m * power(e + 1074)).round_ties_even() * f64::from_bits(1)
    }
}

/// sprig's `toDecimal`: `fmt.Sprint(v)` read as an octal integer, 0 when it is not one.
fn to_decimal(v: &Value) -> Result<i64, String> {
    let mut buf = Buf::new(MAX_VALUE_BYTES, Limit::Value);
    match v {
        Value::Str(s) => buf.push(s.as_bytes())?,
        Value::Int(_) | Value::Float(_) => write_value(&mut buf, v)?,
        // `<nil>`, `true`, `[…]`, `map[…]` are never octal numbers.
        _ => return Ok(0),
    }
    Ok(std::str::from_utf8(buf.as_bytes())
        .ok()
        .and_then(|s| cast::parse_int(s, 8))
        .unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Sequences.

/// sprig's `untilStep`: from `start` towards `stop` (excluded) by `step`, with Go's wrapping
/// `int` arithmetic; empty when `step` goes the other way.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut items = Vec::new();
    let ascending = stop >= start;
    if (ascending && step <= 0) || (!ascending && step >= 0) {
        return Ok(items);
    }
    let mut i = start;
    while (ascending && i < stop) || (!ascending && i > stop) {
        if items.len() == MAX_SEQUENCE {
            return Err(format!(
                "sequence exceeds the limit of {MAX_SEQUENCE} items"
            ));
        }
        items.push(i);
        i = i.wrapping_add(step);
    }
    Ok(items)
}

fn int_list(items: Vec<i64>, cx: &mut Cx) -> FResult {
    cx.charge(ITEM_COST.saturating_mul(items.len()))?;
    Value::list(items.into_iter().map(Value::Int).collect())
}

/// sprig's `seq`, GNU seq's arguments: `seq last`, `seq first last`, `seq first step last`
/// (the last included), the numbers separated by spaces; other counts give "".
fn seq(args: &[Value], cx: &mut Cx) -> FResult {
    let ints: Vec<i64> = (0..args.len())
        .map(|i| int(args, i))
        .collect::<Result<_, _>>()?;
    let towards = |start: i64, end: i64| if end < start { -1 } else { 1 };
    let items = match ints[..] {
        [end] => {
            let step = towards(1, end);
            until_step(1, end.wrapping_add(step), step)?
        }
        [start, end] => {
            let step = towards(start, end);
            until_step(start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let increment = towards(start, end);
            if increment < 0 && step > 0 {
                Vec::new()
            } else {
                until_step(start, end.wrapping_add(increment), step)?
            }
        }
        _ => Vec::new(),
    };
    build(cx, |b| {
        for (i, n) in items.iter().enumerate() {
            if i > 0 {
                b.push(b" ")?;
            }
            b.push_str(&n.to_string())?;
        }
        Ok(())
    })
}

/// `fail`'s message, the template author's text, kept on one line (line breaks escaped).
fn fail_message(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

// ---------------------------------------------------------------------------------------------
// Kinds and types.

/// `reflect.Value.Kind().String()`.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Time(_) => "struct",
    }
}
