//! Go's reference-time layouts (`"2006-01-02T15:04:05Z07:00"`): `Time.Format` and
//! `time.ParseInLocation`, element for element as `time/format.go` reads a layout.

use super::gotime::{abs_clock, abs_date, abs_weekday, days_in, is_leap, Time, Zone};
use super::value::{Buf, Overflow};

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// How a numeric zone offset is written: `-07`, `-0700`, `-07:00`, `-070000`, `-07:00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    Hours,
    HoursMinutes,
    ColonMinutes,
    Seconds,
    ColonSeconds,
}

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    LowerPm,
    Tz,
    /// `Z07:00` and friends (`Z` for UTC) when `iso`, else `-07:00` and friends.
    Num {
        style: Offset,
        iso: bool,
    },
    /// `.000` (`trim`: `.999`) or with a comma; `digits` as Go keeps it (modulo 4096).
    Frac {
        digits: usize,
        trim: bool,
        sep: u8,
    },
}

/// A chunk of a layout: the literal text before an element, the element, and the bytes it
/// takes.
struct Chunk {
    prefix: usize,
    std: Option<Std>,
    len: usize,
}

fn lower_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_lowercase)
}

fn digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Go's `nextStdChunk`.
fn next_chunk(layout: &[u8]) -> Chunk {
    for i in 0..layout.len() {
        if let Some((std, len, skip)) = std_at(&layout[i..]) {
            return Chunk {
                prefix: i + skip,
                std: Some(std),
                len,
            };
        }
    }
    Chunk {
        prefix: layout.len(),
        std: None,
        len: 0,
    }
}

/// The element starting `s`, its length, and how many leading bytes are literal (the `_` of
/// `_2006`).
fn std_at(s: &[u8]) -> Option<(Std, usize, usize)> {
    let at = |prefix: &[u8]| s.starts_with(prefix);
    let std = |std, len| Some((std, len, 0));
    match s.first()? {
        b'J' if at(b"January") => std(Std::LongMonth, 7),
        b'J' if at(b"Jan") && !lower_at(s, 3) => std(Std::Month, 3),
        b'M' if at(b"Monday") => std(Std::LongWeekDay, 6),
        b'M' if at(b"Mon") && !lower_at(s, 3) => std(Std::WeekDay, 3),
        b'M' if at(b"MST") => std(Std::Tz, 3),
        b'0' => match s.get(1) {
            Some(b'1') => std(Std::ZeroMonth, 2),
            Some(b'2') => std(Std::ZeroDay, 2),
            Some(b'3') => std(Std::ZeroHour12, 2),
            Some(b'4') => std(Std::ZeroMinute, 2),
            Some(b'5') => std(Std::ZeroSecond, 2),
            Some(b'6') => std(Std::Year, 2),
            _ if at(b"002") => std(Std::ZeroYearDay, 3),
            _ => None,
        },
        b'1' if at(b"15") => std(Std::Hour, 2),
        b'1' => std(Std::NumMonth, 1),
        b'2' if at(b"2006") => std(Std::LongYear, 4),
        b'2' => std(Std::Day, 1),
        b'_' if at(b"_2006") => Some((Std::LongYear, 4, 1)),
        b'_' if at(b"_2") => std(Std::UnderDay, 2),
        b'_' if at(b"__2") => std(Std::UnderYearDay, 3),
        b'3' => std(Std::Hour12, 1),
        b'4' => std(Std::Minute, 1),
        b'5' => std(Std::Second, 1),
        b'P' if at(b"PM") => std(Std::Pm, 2),
        b'p' if at(b"pm") => std(Std::LowerPm, 2),
        b'-' => offset_at(&s[1..], false).map(|(std, len)| (std, len + 1, 0)),
        b'Z' => offset_at(&s[1..], true).map(|(std, len)| (std, len + 1, 0)),
        &sep @ (b'.' | b',') => frac_at(s, sep),
        _ => None,
    }
}

/// The offset element after its `-` or `Z`.
fn offset_at(s: &[u8], iso: bool) -> Option<(Std, usize)> {
    let forms: [(&[u8], Offset); 5] = [
        (b"070000", Offset::Seconds),
        (b"07:00:00", Offset::ColonSeconds),
        (b"0700", Offset::HoursMinutes),
        (b"07:00", Offset::ColonMinutes),
        (b"07", Offset::Hours),
    ];
    let (text, style) = forms.into_iter().find(|(text, _)| s.starts_with(text))?;
    Some((Std::Num { style, iso }, text.len()))
}

/// `.000`, `,999`: a run of one repeated digit, not followed by another digit.
fn frac_at(s: &[u8], sep: u8) -> Option<(Std, usize, usize)> {
    let ch = *s.get(1).filter(|c| matches!(c, b'0' | b'9'))?;
    let n = s[1..].iter().take_while(|&&c| c == ch).count();
    if digit_at(s, n + 1) {
        return None;
    }
    let std = Std::Frac {
        digits: n & 0xfff,
        trim: ch == b'9',
        sep,
    };
    Some((std, n + 1, 0))
}

// ---------------------------------------------------------------------------------------------
// Formatting.

/// Go's `appendInt`: `x` zero-padded to `width` digits after any sign.
fn push_int(buf: &mut Buf, x: i64, width: usize) -> Result<(), Overflow> {
    if x < 0 {
        buf.push(b"-")?;
    }
    let digits = x.unsigned_abs().to_string();
    buf.push_repeated(b'0', width.saturating_sub(digits.len()))?;
    buf.push_str(&digits)
}

fn push_uint(buf: &mut Buf, x: u64, width: usize) -> Result<(), Overflow> {
    push_int(buf, i64::try_from(x).unwrap_or(i64::MAX), width)
}

/// `t.Format(layout)`, appended to `buf`.
pub(super) fn format(buf: &mut Buf, t: &Time, mut layout: &[u8]) -> Result<(), Overflow> {
    let (name, offset, abs) = t.locabs();
    let date = abs_date(abs);
    let (hour, min, sec) = abs_clock(abs);
    loop {
        let chunk = next_chunk(layout);
        buf.push(&layout[..chunk.prefix])?;
        let Some(std) = chunk.std else {
            return Ok(());
        };
        layout = &layout[chunk.prefix + chunk.len..];
        let hour12 = match hour % 12 {
            0 => 12,
            h => h,
        };
        match std {
            Std::Year => push_int(buf, date.year.abs() % 100, 2)?,
            Std::LongYear => push_int(buf, date.year, 4)?,
            Std::Month => buf.push_str(SHORT_MONTHS[date.month - 1])?,
            Std::LongMonth => buf.push_str(LONG_MONTHS[date.month - 1])?,
            Std::NumMonth => push_uint(buf, date.month as u64, 0)?,
            Std::ZeroMonth => push_uint(buf, date.month as u64, 2)?,
            Std::WeekDay => buf.push_str(SHORT_DAYS[abs_weekday(abs)])?,
            Std::LongWeekDay => buf.push_str(LONG_DAYS[abs_weekday(abs)])?,
            Std::Day => push_uint(buf, date.day, 0)?,
            Std::UnderDay => {
                if date.day < 10 {
                    buf.push(b" ")?;
                }
                push_uint(buf, date.day, 0)?;
            }
            Std::ZeroDay => push_uint(buf, date.day, 2)?,
            Std::UnderYearDay => {
                buf.push_repeated(b' ', 3usize.saturating_sub(date.yday.to_string().len()))?;
                push_uint(buf, date.yday, 0)?;
            }
            Std::ZeroYearDay => push_uint(buf, date.yday, 3)?,
            Std::Hour => push_uint(buf, hour, 2)?,
            Std::Hour12 => push_uint(buf, hour12, 0)?,
            Std::ZeroHour12 => push_uint(buf, hour12, 2)?,
            Std::Minute => push_uint(buf, min, 0)?,
            Std::ZeroMinute => push_uint(buf, min, 2)?,
            Std::Second => push_uint(buf, sec, 0)?,
            Std::ZeroSecond => push_uint(buf, sec, 2)?,
            Std::Pm => buf.push(if hour >= 12 { b"PM" } else { b"AM" })?,
            Std::LowerPm => buf.push(if hour >= 12 { b"pm" } else { b"am" })?,
            Std::Num { style, iso } => push_offset(buf, offset, style, iso)?,
            Std::Tz if !name.is_empty() => buf.push_str(&name)?,
            Std::Tz => push_offset(buf, offset, Offset::HoursMinutes, false)?,
            Std::Frac { digits, trim, sep } => push_frac(buf, t.nanosecond(), digits, trim, sep)?,
        }
    }
}

/// A zone offset: `Z` for UTC in the ISO forms, else `±hh[[:]mm[[:]ss]]`.
fn push_offset(buf: &mut Buf, offset: i32, style: Offset, iso: bool) -> Result<(), Overflow> {
    if offset == 0 && iso {
        return buf.push(b"Z");
    }
    // As Go: the sign is that of the whole minutes, so less than a minute west is "+00:00:-30".
    let (mut zone, mut seconds) = (i64::from(offset) / 60, i64::from(offset));
    if zone < 0 {
        buf.push(b"-")?;
        zone = -zone;
        seconds = -seconds;
    } else {
        buf.push(b"+")?;
    }
    push_int(buf, zone / 60, 2)?;
    let colon = matches!(style, Offset::ColonMinutes | Offset::ColonSeconds);
    if colon {
        buf.push(b":")?;
    }
    if style != Offset::Hours {
        push_int(buf, zone % 60, 2)?;
    }
    if matches!(style, Offset::Seconds | Offset::ColonSeconds) {
        if colon {
            buf.push(b":")?;
        }
        push_int(buf, seconds % 60, 2)?;
    }
    Ok(())
}

/// Go's `formatNano`: at most nine digits; `trim` drops trailing zeros, and all of it if zero.
fn push_frac(buf: &mut Buf, nsec: u32, digits: usize, trim: bool, sep: u8) -> Result<(), Overflow> {
    let all = format!("{nsec:09}");
    let mut kept = &all.as_bytes()[..digits.min(9)];
    if trim {
        while let [rest @ .., b'0'] = kept {
            kept = rest;
        }
        if kept.is_empty() {
            return Ok(());
        }
    }
    buf.push(&[sep])?;
    buf.push(kept)
}

/// Go's `Time.String()`: `2006-01-02 15:04:05.999999999 -0700 MST`, then ` m=±s.nnnnnnnnn`
/// for a monotonic reading.
pub(super) fn write_time(buf: &mut Buf, t: &Time) -> Result<(), Overflow> {
    format(buf, t, b"2006-01-02 15:04:05.999999999 -0700 MST")?;
    if let Some(m) = t.monotonic() {
        let sign = if m < 0 { "-" } else { "+" };
        let u = m.unsigned_abs();
        buf.push_str(&format!(
            " m={sign}{}.{:09}",
            u / 1_000_000_000,
            u % 1_000_000_000
        ))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// What a parse has read so far.
#[derive(Default)]
struct Fields {
    year: i64,
    month: Option<i64>,
    day: Option<i64>,
    yday: Option<i64>,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    am: bool,
    pm: bool,
    utc: bool,
    offset: Option<i64>,
    zone_name: Vec<u8>,
}

/// Go's `atoi`: an optional sign, then digits only.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let (x, rest) = super::gotime::leading_int(digits)?;
    if !rest.is_empty() {
        return None;
    }
    let x = x as i64;
    Some(if neg { x.wrapping_neg() } else { x })
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    if !digit_at(s, 0) {
        return None;
    }
    if !digit_at(s, 1) {
        return (!fixed).then(|| (i64::from(s[0] - b'0'), &s[1..]));
    }
    Some((
        i64::from(s[0] - b'0') * 10 + i64::from(s[1] - b'0'),
        &s[2..],
    ))
}

/// Go's `getnum3`: one to three digits (exactly three when `fixed`).
fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let n = s.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    let v = s[..n].iter().fold(0, |v, c| v * 10 + i64::from(c - b'0'));
    Some((v, &s[n..]))
}

/// A name of `names` starting `s`, ASCII letters compared without case.
fn lookup<'a>(names: &[&str], s: &'a [u8]) -> Option<(usize, &'a [u8])> {
    names.iter().enumerate().find_map(|(i, name)| {
        let head = s.get(..name.len())?;
        head.eq_ignore_ascii_case(name.as_bytes())
            .then(|| (i, &s[name.len()..]))
    })
}

fn cut_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

/// Go's `skip`: the literal `prefix` from `value`, a run of spaces matching any run.
fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Option<&'a [u8]> {
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return None;
            }
            prefix = cut_space(prefix);
            value = cut_space(value);
            continue;
        }
        if value.first() != Some(&p) {
            return None;
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Some(value)
}

/// Go's `parseNanoseconds`: `.ddd` of `n` bytes (at most ten read), scaled to nanoseconds.
fn nanoseconds(value: &[u8], n: usize) -> Option<i64> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return None;
    }
    let n = n.min(10);
    let ns = atoi(value.get(1..n)?)?;
    if ns < 0 {
        return None;
    }
    Some(ns * 10i64.pow(u32::try_from(10 - n).unwrap_or(0)))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation starting `s`.
fn zone_name_len(s: &[u8]) -> Option<usize> {
    if s.len() < 3 {
        return None;
    }
    if s.starts_with(b"ChST") || s.starts_with(b"MeST") {
        return Some(4);
    }
    if s.starts_with(b"GMT") {
        return Some(3 + signed_offset_len(&s[3..]));
    }
    if matches!(s[0], b'+' | b'-') {
        return Some(signed_offset_len(s)).filter(|&n| n > 0);
    }
    let upper = s
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if s[3] == b'T' || s.starts_with(b"WITA") => Some(4),
        5 if s[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: `±h` up to 23; 0 when there is none.
fn signed_offset_len(s: &[u8]) -> usize {
    if !matches!(s.first(), Some(b'+' | b'-')) {
        return 0;
    }
    match super::gotime::leading_int(&s[1..]) {
        Some((x, rest)) if rest.len() != s.len() - 1 && x <= 23 => s.len() - rest.len(),
        _ => 0,
    }
}

/// `time.ParseInLocation(layout, value, time.Local)`; `None` where Go returns an error.
pub(super) fn parse(mut layout: &[u8], mut value: &[u8]) -> Option<Time> {
    let mut f = Fields::default();
    loop {
        let chunk = next_chunk(layout);
        value = skip(value, &layout[..chunk.prefix])?;
        let Some(std) = chunk.std else {
            if !value.is_empty() {
                return None;
            }
            break;
        };
        layout = &layout[chunk.prefix + chunk.len..];
        value = parse_std(&mut f, std, value, layout)?;
    }
    build(f)
}

/// Reads one element into `f`; the rest of `value`, `None` on an error.
fn parse_std<'a>(f: &mut Fields, std: Std, value: &'a [u8], layout: &[u8]) -> Option<&'a [u8]> {
    match std {
        Std::Num { style, iso } => parse_offset(f, style, iso, value),
        Std::Tz => parse_zone_name(f, value),
        Std::Frac { digits, trim, .. } => parse_frac(f, digits, trim, value),
        Std::Hour
        | Std::Hour12
        | Std::ZeroHour12
        | Std::Minute
        | Std::ZeroMinute
        | Std::Second
        | Std::ZeroSecond
        | Std::Pm
        | Std::LowerPm => parse_clock(f, std, value, layout),
        _ => parse_date(f, std, value),
    }
}

fn in_range(v: i64, lo: i64, hi: i64) -> Option<i64> {
    (lo..=hi).contains(&v).then_some(v)
}

/// A year, month, day, day of the year or weekday.
fn parse_date<'a>(f: &mut Fields, std: Std, value: &'a [u8]) -> Option<&'a [u8]> {
    let rest = match std {
        Std::Year => {
            let year = atoi(value.get(..2)?)?;
            f.year = year + if year >= 69 { 1900 } else { 2000 };
            &value[2..]
        }
        Std::LongYear => {
            if !digit_at(value, 0) {
                return None;
            }
            f.year = atoi(value.get(..4)?)?;
            &value[4..]
        }
        Std::Month | Std::LongMonth => {
            let names = if std == Std::Month {
                &SHORT_MONTHS
            } else {
                &LONG_MONTHS
            };
            let (i, rest) = lookup(names, value)?;
            f.month = Some(i as i64 + 1);
            rest
        }
        Std::NumMonth | Std::ZeroMonth => {
            let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
            f.month = Some(in_range(m, 1, 12)?);
            rest
        }
        Std::WeekDay => lookup(&SHORT_DAYS, value)?.1,
        Std::LongWeekDay => lookup(&LONG_DAYS, value)?.1,
        Std::UnderYearDay | Std::ZeroYearDay => {
            let mut value = value;
            for _ in 0..2 {
                if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                    value = &value[1..];
                }
            }
            let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
            f.yday = Some(d);
            rest
        }
        // Day, UnderDay, ZeroDay: any one or two digits, checked against the month at the end.
        _ => {
            let value = match value {
                [b' ', rest @ ..] if std == Std::UnderDay => rest,
                _ => value,
            };
            let (d, rest) = getnum(value, std == Std::ZeroDay)?;
            f.day = Some(d);
            rest
        }
    };
    Some(rest)
}

/// An hour, minute, second or AM/PM.
fn parse_clock<'a>(f: &mut Fields, std: Std, value: &'a [u8], layout: &[u8]) -> Option<&'a [u8]> {
    let rest = match std {
        Std::Hour => {
            let (h, rest) = getnum(value, false)?;
            f.hour = in_range(h, 0, 23)?;
            rest
        }
        Std::Hour12 | Std::ZeroHour12 => {
            let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
            f.hour = in_range(h, 0, 12)?;
            rest
        }
        Std::Minute | Std::ZeroMinute => {
            let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
            f.min = in_range(m, 0, 59)?;
            rest
        }
        Std::Second | Std::ZeroSecond => {
            let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
            f.sec = in_range(s, 0, 59)?;
            extra_fraction(f, rest, layout)?
        }
        // Pm, LowerPm.
        _ => {
            let (am, pm): (&[u8], &[u8]) = if std == Std::Pm {
                (b"AM", b"PM")
            } else {
                (b"am", b"pm")
            };
            let p = value.get(..2)?;
            if p != am && p != pm {
                return None;
            }
            f.pm |= p == pm;
            f.am |= p == am;
            &value[2..]
        }
    };
    Some(rest)
}

/// `MST`: `UTC`, or what looks like a zone abbreviation.
fn parse_zone_name<'a>(f: &mut Fields, value: &'a [u8]) -> Option<&'a [u8]> {
    if let Some(rest) = value.strip_prefix(b"UTC") {
        f.utc = true;
        return Some(rest);
    }
    let n = zone_name_len(value)?;
    f.zone_name = value[..n].to_vec();
    Some(&value[n..])
}

/// `.000` takes exactly its digits; `.999` takes any number, or none.
fn parse_frac<'a>(f: &mut Fields, digits: usize, trim: bool, value: &'a [u8]) -> Option<&'a [u8]> {
    if !trim {
        let n = 1 + digits;
        if value.len() < n {
            return None;
        }
        f.nsec = nanoseconds(value, n)?;
        return Some(&value[n..]);
    }
    if value.len() < 2 || !matches!(value[0], b'.' | b',') || !digit_at(value, 1) {
        return Some(value);
    }
    let n = value[1..]
        .iter()
        .take(9)
        .take_while(|c| c.is_ascii_digit())
        .count();
    f.nsec = nanoseconds(value, 1 + n)?;
    Some(&value[1 + n..])
}

/// After seconds: a fraction the layout does not ask for is read anyway.
fn extra_fraction<'a>(f: &mut Fields, value: &'a [u8], layout: &[u8]) -> Option<&'a [u8]> {
    if value.len() < 2 || !matches!(value[0], b'.' | b',') || !digit_at(value, 1) {
        return Some(value);
    }
    if matches!(next_chunk(layout).std, Some(Std::Frac { .. })) {
        return Some(value);
    }
    let n = 1 + value[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    f.nsec = nanoseconds(value, n)?;
    Some(&value[n..])
}

/// A numeric zone offset (or `Z` for an ISO form that allows it).
fn parse_offset<'a>(f: &mut Fields, style: Offset, iso: bool, value: &'a [u8]) -> Option<&'a [u8]> {
    let z_allowed = iso
        && matches!(
            style,
            Offset::HoursMinutes | Offset::Hours | Offset::ColonMinutes
        );
    if z_allowed && value.first() == Some(&b'Z') {
        f.utc = true;
        return Some(&value[1..]);
    }
    let (len, colons, parts): (usize, &[usize], [(usize, usize); 3]) = match style {
        Offset::ColonMinutes => (6, &[3], [(1, 3), (4, 6), (0, 0)]),
        Offset::Hours => (3, &[], [(1, 3), (0, 0), (0, 0)]),
        Offset::ColonSeconds => (9, &[3, 6], [(1, 3), (4, 6), (7, 9)]),
        Offset::Seconds => (7, &[], [(1, 3), (3, 5), (5, 7)]),
        Offset::HoursMinutes => (5, &[], [(1, 3), (3, 5), (0, 0)]),
    };
    let text = value.get(..len)?;
    if colons.iter().any(|&i| text[i] != b':') {
        return None;
    }
    let num = |(a, b): (usize, usize)| if a == b { Some(0) } else { atoi(&text[a..b]) };
    let [h, m, s] = parts;
    let offset = (num(h)? * 60 + num(m)?) * 60 + num(s)?;
    f.offset = Some(match text[0] {
        b'+' => offset,
        b'-' => -offset,
        _ => return None,
    });
    Some(&value[len..])
}

/// The time the fields make, as the end of Go's `parse` does.
fn build(mut f: Fields) -> Option<Time> {
    if f.pm && f.hour < 12 {
        f.hour += 12;
    } else if f.am && f.hour == 12 {
        f.hour = 0;
    }
    let (month, day) = match f.yday {
        Some(yday) => from_year_day(f.year, yday, f.month, f.day)?,
        None => (f.month.unwrap_or(1), f.day.unwrap_or(1)),
    };
    let month = usize::try_from(month).ok()?;
    let day = u64::try_from(day)
        .ok()
        .filter(|&d| d >= 1 && d <= days_in(month, f.year))?;
    let nsec = u32::try_from(f.nsec).ok()?;
    let civil = |zone| Time::from_civil((f.year, month, day), (f.hour, f.min, f.sec), nsec, zone);
    if f.utc {
        return Some(civil(Zone::Utc));
    }
    let name = String::from_utf8_lossy(&f.zone_name).into_owned();
    // Go marks "no offset" with -1, so an offset of -1 s is none.
    if let Some(offset) = f.offset.filter(|&offset| offset != -1) {
        let t = civil(Zone::Utc).add(-offset * super::gotime::SECOND);
        let (local_name, local_offset) = Zone::Local.lookup(t.unix_seconds());
        if i64::from(local_offset) == offset && (name.is_empty() || name == local_name) {
            return Some(t.in_zone(Zone::Local));
        }
        return Some(t.in_zone(fixed(name, offset)));
    }
    if !name.is_empty() {
        let t = civil(Zone::Utc);
        if let Some(offset) = Zone::Local.offset_named(&name, t.unix_seconds()) {
            return Some(t.add(-offset * super::gotime::SECOND).in_zone(Zone::Local));
        }
        let offset = match name.strip_prefix("GMT") {
            Some(hours) if !hours.is_empty() => atoi(hours.as_bytes()).unwrap_or(0) * 3600,
            _ => 0,
        };
        return Some(t.in_zone(fixed(name, offset)));
    }
    Some(civil(Zone::Local))
}

fn fixed(name: String, offset: i64) -> Zone {
    Zone::Fixed(std::rc::Rc::new((name, i32::try_from(offset).unwrap_or(0))))
}

/// A day of the year as month and day, checked against a month and day also parsed.
fn from_year_day(
    year: i64,
    mut yday: i64,
    month: Option<i64>,
    day: Option<i64>,
) -> Option<(i64, i64)> {
    let mut feb29 = false;
    if is_leap(year) {
        if yday == 31 + 29 {
            feb29 = true;
        } else if yday > 31 + 29 {
            yday -= 1;
        }
    }
    if !(1..=365).contains(&yday) {
        return None;
    }
    let (m, d) = if feb29 {
        (2, 29)
    } else {
        let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
        let m = before[1..]
            .iter()
            .position(|&end| yday <= end)
            .unwrap_or(11);
        (m as i64 + 1, yday - before[m])
    };
    if month.is_some_and(|month| month != m) || day.is_some_and(|day| day != d) {
        return None;
    }
    Some((m, d))
}
