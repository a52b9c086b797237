//! sprig's dates and durations: `date`, `dateInZone`, `htmlDate`, `now`, `ago`, `toDate`,
//! `dateModify`, `duration`, `durationRound`, `unixEpoch`.
//!
//! Times are [`Value::Time`] (Go's `time.Time`, see `gotime.rs`; layouts in `golayout.rs`,
//! zones in `gozone.rs`); unix seconds are ints. [`method`] gives the zero-argument methods
//! templates call on a time (`{{ now.Year }}`). Where
//! sprig quietly falls back (an unknown zone to UTC, a bad duration to none, an unparsable
//! date to the zero time, an argument of another type to the current time or to zero), these
//! fail instead. sprig reads `duration`'s and `durationRound`'s numbers only as `int64`, not
//! as the `int` a literal is; as an int could be either here, they take strings and times only.

use std::rc::Rc;

use super::call::{arg, build, bytes, text, Cx, FResult};
use super::golayout;
use super::gotime::{
    abs_clock, abs_date, duration_round, duration_string, parse_duration, Time, Zone, SECOND,
};
use super::table::{sig, Sig, Ty};
use super::value::{Buf, Limit, Str, Value};

/// A function of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Date,
    DateInZone,
    HtmlDate,
    HtmlDateInZone,
    DateModify,
    MustDateModify,
    Now,
    Ago,
    Duration,
    DurationRound,
    ToDate,
    MustToDate,
    UnixEpoch,
}

/// The names of this group's functions.
pub(super) const TABLE: &[(&str, F)] = &[
    ("ago", F::Ago),
    ("date", F::Date),
    ("dateInZone", F::DateInZone),
    ("dateModify", F::DateModify),
    ("date_in_zone", F::DateInZone),
    ("date_modify", F::DateModify),
    ("duration", F::Duration),
    ("durationRound", F::DurationRound),
    ("htmlDate", F::HtmlDate),
    ("htmlDateInZone", F::HtmlDateInZone),
    ("mustDateModify", F::MustDateModify),
    ("mustToDate", F::MustToDate),
    ("must_date_modify", F::MustDateModify),
    ("now", F::Now),
    ("toDate", F::ToDate),
    ("unixEpoch", F::UnixEpoch),
];

const HTML_LAYOUT: &[u8] = b"2006-01-02";

impl F {
    pub(super) fn sig(self) -> Sig {
        use Ty::{Any, Str, Time};
        match self {
            Self::Date => sig(&[Str, Any], None),
            Self::DateInZone => sig(&[Str, Any, Str], None),
            Self::HtmlDate | Self::Ago | Self::Duration | Self::DurationRound => sig(&[Any], None),
            Self::HtmlDateInZone => sig(&[Any, Str], None),
            Self::DateModify | Self::MustDateModify => sig(&[Str, Time], None),
            Self::Now => sig(&[], None),
            Self::ToDate | Self::MustToDate => sig(&[Str, Str], None),
            Self::UnixEpoch => sig(&[Time], None),
        }
    }

    fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("date", |(name, _)| name)
    }
}

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    match f {
        F::Date => format_in(text(args, 0)?, moment(f, arg(args, 1))?, b"Local", cx),
        F::DateInZone => format_in(text(args, 0)?, moment(f, arg(args, 1))?, text(args, 2)?, cx),
        F::HtmlDate => format_in(HTML_LAYOUT, moment(f, arg(args, 0))?, b"Local", cx),
        F::HtmlDateInZone => format_in(HTML_LAYOUT, moment(f, arg(args, 0))?, text(args, 1)?, cx),
        F::DateModify | F::MustDateModify => {
            let d = parse_duration(text(args, 0)?)
                .ok_or_else(|| format!("{}: invalid duration", f.name()))?;
            Ok(time_value(time(args, 1)?.add(d)))
        }
        F::Now => Ok(time_value(Time::now())),
        F::Ago => {
            let since = moment(f, arg(args, 0))?.since();
            bytes(
                duration_string(duration_round(since, SECOND)).as_bytes(),
                cx,
            )
        }
        F::Duration => bytes(duration_string(seconds(arg(args, 0))?).as_bytes(), cx),
        F::DurationRound => bytes(round_coarsely(nanoseconds(arg(args, 0))?).as_bytes(), cx),
        F::ToDate | F::MustToDate => golayout::parse(text(args, 0)?, text(args, 1)?)
            .map(time_value)
            .ok_or_else(|| format!("{}: the value does not match the layout", f.name())),
        F::UnixEpoch => bytes(time(args, 0)?.unix_seconds().to_string().as_bytes(), cx),
    }
}

/// A method of `time.Time` without arguments, as `{{ now.Year }}` calls it; `None` for one
/// not modelled (`Month` and `Weekday` return Go types of their own).
pub(super) fn method(t: &Time, name: &str) -> Option<Value> {
    let (_, _, abs) = t.locabs();
    let date = || abs_date(abs);
    let (hour, min, sec) = abs_clock(abs);
    let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Some(match name {
        "Unix" => Value::Int(t.unix_seconds()),
        "Year" => Value::Int(date().year),
        "YearDay" => int(date().yday),
        "Day" => int(date().day),
        "Hour" => int(hour),
        "Minute" => int(min),
        "Second" => int(sec),
        "Nanosecond" => int(u64::from(t.nanosecond())),
        "UTC" => time_value(t.in_zone(Zone::Utc)),
        "Local" => time_value(t.in_zone(Zone::Local)),
        "String" => {
            let mut buf = Buf::new(usize::MAX, Limit::Value);
            golayout::write_time(&mut buf, t).ok()?;
            Value::Str(Str::new(buf.into_bytes()))
        }
        _ => return None,
    })
}

fn time_value(t: Time) -> Value {
    Value::Time(Rc::new(t))
}

fn time(args: &[Value], i: usize) -> Result<&Time, String> {
    match args.get(i) {
        Some(Value::Time(t)) => Ok(t),
        _ => Err("internal error: expected a time.Time".to_owned()),
    }
}

/// The time `date` and friends are given: a time, or unix seconds.
fn moment(f: F, v: &Value) -> Result<Time, String> {
    match v {
        Value::Time(t) => Ok((**t).clone()),
        Value::Int(unix) => Ok(Time::unix(*unix, 0, Zone::Local)),
        other => Err(format!(
            "{}: expected a time.Time or unix seconds as an int, not {}",
            f.name(),
            other.type_name()
        )),
    }
}

/// `t.In(zone).Format(layout)`, for a zone `time.LoadLocation` finds.
fn format_in(layout: &[u8], t: Time, zone: &[u8], cx: &mut Cx) -> FResult {
    let (zone, read) = Zone::load(zone).ok_or("unknown time zone")?;
    cx.charge(read)?;
    let t = t.in_zone(zone);
    build(cx, |buf| {
        golayout::format(buf, &t, layout).map_err(String::from)
    })
}

/// `duration`'s argument: seconds in a decimal string, as nanoseconds (wrapping like Go's).
fn seconds(v: &Value) -> Result<i64, String> {
    match v {
        Value::Str(s) => parse_int(s.as_bytes())
            .map(|n| n.wrapping_mul(SECOND))
            .ok_or_else(|| "duration: the value is not a decimal int64".to_owned()),
        other => Err(format!(
            "duration: expected seconds as a string, not {}",
            other.type_name()
        )),
    }
}

/// `strconv.ParseInt(s, 10, 64)`.
fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        let d = i64::from(c - b'0');
        n = n.checked_mul(10).and_then(|n| {
            if neg {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        })?;
    }
    Some(n)
}

/// `durationRound`'s argument as nanoseconds: a Go duration string, or the time since a time.
fn nanoseconds(v: &Value) -> Result<i64, String> {
    match v {
        Value::Str(s) => {
            parse_duration(s.as_bytes()).ok_or_else(|| "durationRound: invalid duration".to_owned())
        }
        Value::Time(t) => Ok(t.since()),
        other => Err(format!(
            "durationRound: expected a duration string or a time.Time, not {}",
            other.type_name()
        )),
    }
}

/// sprig's `durationRound`: the largest unit the duration exceeds, truncated ("2h", "3mo").
fn round_coarsely(d: i64) -> String {
    const HOUR: u64 = 3600 * SECOND as u64;
    const UNITS: [(u64, &str); 6] = [
        (HOUR * 24 * 365, "y"),
        (HOUR * 24 * 30, "mo"),
        (HOUR * 24, "d"),
        (HOUR, "h"),
        (60 * SECOND as u64, "m"),
        (SECOND as u64, "s"),
    ];
    let u = d.unsigned_abs();
    UNITS.iter().find(|(unit, _)| u > *unit).map_or_else(
        || "0s".to_owned(),
        |(unit, name)| format!("{}{name}", u / unit),
    )
}
