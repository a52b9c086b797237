//! Go's `time.Time` and `time.Duration`, as far as sprig's date functions use them.
//!
//! A [`Time`] holds what Go's does: seconds since January 1 of year 1 (wrapping like Go's
//! `int64`), nanoseconds, the location ([`Zone`], in `gozone.rs`) and, for `now`, a monotonic
//! clock reading. Calendar arithmetic runs on Go's unsigned "absolute" seconds, so even dates
//! hundreds of billions of years away come out as Go prints them. A duration is an `i64` of
//! nanoseconds.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub(super) use super::gozone::Zone;

pub(super) const SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: u64 = 86_400;
/// Seconds from January 1 of year 1 to the Unix epoch.
const UNIX_TO_INTERNAL: i64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86_400;
/// Go's absolute zero year: calendar arithmetic counts from it, unsigned.
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
/// Seconds from the absolute zero to January 1 of year 1 (365.2425 days a year).
const INTERNAL_TO_ABSOLUTE: i64 = -((ABSOLUTE_ZERO_YEAR - 1) * 31_556_952);
const UNIX_TO_ABSOLUTE: i64 = UNIX_TO_INTERNAL + INTERNAL_TO_ABSOLUTE;
/// Seconds from January 1 of year 1 to 1885, where the 33 bits of seconds that Go keeps
/// beside a monotonic reading start.
const WALL_TO_INTERNAL: i64 = (1884 * 365 + 1884 / 4 - 1884 / 100 + 1884 / 400) * 86_400;

/// A `time.Time`.
#[derive(Clone, PartialEq)]
pub(super) struct Time {
    /// Seconds since January 1 of year 1, UTC.
    sec: i64,
    nsec: u32,
    /// Nanoseconds on the monotonic clock, for times from `now`.
    mono: Option<i64>,
    zone: Zone,
}

/// The parts of a date, as Go's `absDate` computes them.
pub(super) struct Date {
    pub(super) year: i64,
    /// 1 to 12.
    pub(super) month: usize,
    pub(super) day: u64,
    /// Day of the year, from 1.
    pub(super) yday: u64,
}

/// Days before each month of a common year, and the year's length last.
const DAYS_BEFORE: [u64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

pub(super) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

impl Time {
    /// `time.Now()`, in `Local`, with a monotonic reading counted from the first call.
    pub(super) fn now() -> Self {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        let mono = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let (unix, nsec) = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => (-secs, 0),
                    n => (-secs - 1, 1_000_000_000 - n),
                }
            }
        };
        let mut t = Self::unix(unix, nsec, Zone::Local);
        t.mono = Some(mono.saturating_add(1));
        t
    }

    /// `time.Unix(unix, nsec).In(zone)`; `nsec` below a second.
    pub(super) fn unix(unix: i64, nsec: u32, zone: Zone) -> Self {
        Self {
            sec: unix.wrapping_add(UNIX_TO_INTERNAL),
            nsec,
            mono: None,
            zone,
        }
    }

    /// `time.Date` for fields already in range (what a successful parse yields), in `zone`.
    pub(super) fn from_civil(
        date: (i64, usize, u64),
        clock: (i64, i64, i64),
        nsec: u32,
        zone: Zone,
    ) -> Self {
        let (year, month, day) = date;
        let mut days = days_from_civil(year, month) + i64::try_from(day).unwrap_or(0) - 1;
        if month > 2 && is_leap(year) {
            days += 1;
        }
        let mut unix = days * 86_400 + clock.0 * 3600 + clock.1 * 60 + clock.2;
        // Go's `Date`: the offset in effect at the local time, corrected across a transition.
        let (_, offset) = zone.lookup(unix);
        if offset != 0 {
            unix -= i64::from(zone.lookup(unix - i64::from(offset)).1);
        }
        Self::unix(unix, nsec, zone)
    }

    pub(super) fn unix_seconds(&self) -> i64 {
        self.sec.wrapping_sub(UNIX_TO_INTERNAL)
    }

    /// The year in the time's zone.
    pub(super) fn year(&self) -> i64 {
        abs_date(self.locabs().2).year
    }

    pub(super) fn nanosecond(&self) -> u32 {
        self.nsec
    }

    pub(super) fn monotonic(&self) -> Option<i64> {
        self.mono
    }

    /// `t.In(zone)`: the same instant elsewhere, without the monotonic reading.
    pub(super) fn in_zone(&self, zone: Zone) -> Self {
        Self {
            mono: None,
            zone,
            ..self.clone()
        }
    }

    /// The abbreviation and offset of the zone, and Go's absolute seconds of the local time.
    pub(super) fn locabs(&self) -> (String, i32, u64) {
        let unix = self.unix_seconds();
        let (name, offset) = self.zone.lookup(unix);
        let abs = unix
            .wrapping_add(i64::from(offset))
            .wrapping_add(UNIX_TO_ABSOLUTE);
        (name, offset, abs as u64)
    }

    /// `t.Add(d)`.
    pub(super) fn add(&self, d: i64) -> Self {
        let mut dsec = d / SECOND;
        let mut nsec = i64::from(self.nsec) + d % SECOND;
        if nsec >= SECOND {
            dsec += 1;
            nsec -= SECOND;
        } else if nsec < 0 {
            dsec -= 1;
            nsec += SECOND;
        }
        let sum = self.sec.wrapping_add(dsec);
        let sec = if (sum > self.sec) == (dsec > 0) {
            sum
        } else if dsec > 0 {
            i64::MAX
        } else {
            -i64::MAX
        };
        // Go drops the monotonic reading when it overflows or the wall clock leaves its range.
        let wall_fits = (0..1 << 33).contains(&sec.wrapping_sub(WALL_TO_INTERNAL));
        Self {
            sec,
            nsec: u32::try_from(nsec).unwrap_or(0),
            mono: self
                .mono
                .and_then(|m| m.checked_add(d))
                .filter(|_| wall_fits),
            zone: self.zone.clone(),
        }
    }

    /// `time.Since(t)`: by the monotonic clocks when both have one, saturating.
    pub(super) fn since(&self) -> i64 {
        let now = Self::now();
        if let (Some(a), Some(b)) = (now.mono, self.mono) {
            return a.saturating_sub(b);
        }
        let d = (i128::from(now.sec) - i128::from(self.sec)) * i128::from(SECOND)
            + (i128::from(now.nsec) - i128::from(self.nsec));
        i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
    }
}

/// Days from the Unix epoch to the first of `month` in `year` (a common year's month lengths).
fn days_from_civil(year: i64, month: usize) -> i64 {
    // Days before January 1 of `year`, counted from year 0 in the proleptic calendar.
    let y = year - 1;
    let before = |y: i64| 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    let jan1 = before(y) + 366 - (before(1969) + 366);
    let month_days = DAYS_BEFORE
        .get(month.saturating_sub(1))
        .copied()
        .unwrap_or(0);
    jan1 + i64::try_from(month_days).unwrap_or(0)
}

/// Go's `absDate`: the calendar date of absolute seconds.
pub(super) fn abs_date(abs: u64) -> Date {
    const DAYS_400: u64 = 365 * 400 + 97;
    const DAYS_100: u64 = 365 * 100 + 24;
    const DAYS_4: u64 = 365 * 4 + 1;
    let mut d = abs / SECONDS_PER_DAY;
    let mut y = 400 * (d / DAYS_400);
    d %= DAYS_400;
    // The last year of each cycle is a leap year: its last day must not start a new cycle.
    let n = d / DAYS_100 - ((d / DAYS_100) >> 2);
    y += 100 * n;
    d -= DAYS_100 * n;
    y += 4 * (d / DAYS_4);
    d %= DAYS_4;
    let n = d / 365 - ((d / 365) >> 2);
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let yday = d + 1;
    let (month, day) = month_day(d, is_leap(year));
    Date {
        year,
        month,
        day,
        yday,
    }
}

/// The month (1 to 12) and day of a 0-based day of the year.
fn month_day(mut d: u64, leap: bool) -> (usize, u64) {
    if leap {
        match d {
            59 => return (2, 29),
            60.. => d -= 1,
            _ => {}
        }
    }
    let month = DAYS_BEFORE[1..]
        .iter()
        .position(|&end| d < end)
        .unwrap_or(11);
    (month + 1, d - DAYS_BEFORE[month] + 1)
}

/// Go's `absClock`: hour, minute and second.
pub(super) fn abs_clock(abs: u64) -> (u64, u64, u64) {
    let s = abs % SECONDS_PER_DAY;
    (s / 3600, s % 3600 / 60, s % 60)
}

/// Go's `absWeekday`: 0 is Sunday.
pub(super) fn abs_weekday(abs: u64) -> usize {
    // The absolute zero is a Monday.
    let sec = (abs.wrapping_add(SECONDS_PER_DAY)) % (7 * SECONDS_PER_DAY);
    (sec / SECONDS_PER_DAY) as usize
}

/// Days in `month` (1 to 12) of `year`.
pub(super) fn days_in(month: usize, year: i64) -> u64 {
    if month == 2 && is_leap(year) {
        return 29;
    }
    match (
        DAYS_BEFORE.get(month),
        DAYS_BEFORE.get(month.wrapping_sub(1)),
    ) {
        (Some(end), Some(start)) => end - start,
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Durations.

/// `Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub(super) fn duration_string(d: i64) -> String {
    let u = d.unsigned_abs();
    let sign = if d < 0 { "-" } else { "" };
    if u == 0 {
        return "0s".to_owned();
    }
    if u < SECOND as u64 {
        let (prec, unit) = match u {
            0..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        return format!("{sign}{}{unit}", with_fraction(u, prec));
    }
    let secs = with_fraction(u % (60 * SECOND as u64), 9);
    let minutes = u / (60 * SECOND as u64);
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// `u` divided by 10^`prec`, with the fraction's trailing zeros (and a bare point) dropped.
fn with_fraction(u: u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let (int, frac) = (u / scale, u % scale);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// `Duration.Round(m)` for a positive `m`.
pub(super) fn duration_round(d: i64, m: i64) -> i64 {
    let r = (d % m).abs();
    let half = r.saturating_add(r) < m;
    if d < 0 {
        if half {
            return d + r;
        }
        d.checked_sub(m - r).unwrap_or(i64::MIN)
    } else {
        if half {
            return d - r;
        }
        d.checked_add(m - r).unwrap_or(i64::MAX)
    }
}

/// `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`; `None` where Go fails.
pub(super) fn parse_duration(s: &[u8]) -> Option<i64> {
    let (neg, mut s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let (v, rest) = duration_element(s)?;
        s = rest;
        total = total.checked_add(v).filter(|&t| t <= 1 << 63)?;
    }
    if neg {
        return Some(0i64.wrapping_sub(total as i64));
    }
    i64::try_from(total).ok()
}

/// One `12.5h` of a duration: its nanoseconds and the rest.
fn duration_element(s: &[u8]) -> Option<(u64, &[u8])> {
    if !matches!(s.first(), Some(b'.' | b'0'..=b'9')) {
        return None;
    }
    let (int, rest) = leading_int(s)?;
    let pre = rest.len() != s.len();
    let (frac, scale, post, rest) = match rest.split_first() {
        Some((b'.', after)) => {
            let (frac, scale, rest) = leading_fraction(after);
            (frac, scale, rest.len() != after.len(), rest)
        }
        _ => (0, 1.0, false, rest),
    };
    if !pre && !post {
        return None;
    }
    let unit_len = rest
        .iter()
        .position(|&c| c == b'.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    let unit: u64 = match unit {
        b"ns" => 1,
        // "µs" (the micro sign) and "μs" (the Greek mu), in UTF-8.
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
        b"ms" => 1_000_000,
        b"s" => 1_000_000_000,
        b"m" => 60_000_000_000,
        b"h" => 3_600_000_000_000,
        _ => return None,
    };
    if int > (1 << 63) / unit {
        return None;
    }
    let mut v = int * unit;
    if frac > 0 {
        v += (frac as f64 * (unit as f64 / scale)) as u64;
        if v > 1 << 63 {
            return None;
        }
    }
    Some((v, rest))
}

/// Go's `leadingInt`: the leading decimal digits; `None` past 2^63.
pub(super) fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut x: u64 = 0;
    for &c in &s[..n] {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[n..]))
}

/// Go's `leadingFraction`: the digits after a point, as a value and its scale (digits past
/// what 63 bits hold are skipped).
fn leading_fraction(s: &[u8]) -> (u64, f64, &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (mut x, mut scale, mut overflow) = (0u64, 1.0f64, false);
    for &c in &s[..n] {
        if overflow {
            continue;
        }
        if x > (i64::MAX as u64) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[n..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(1), "1ns");
        assert_eq!(duration_string(1_500), "1.5µs");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-60 * SECOND), "-1m0s");
        assert_eq!(duration_string(3723 * SECOND + 500_000_000), "1h2m3.5s");
        assert_eq!(duration_string(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration(b"1.5h"), Some(5400 * SECOND));
        assert_eq!(parse_duration(b"-0"), Some(0));
        assert_eq!(parse_duration(b".5s"), Some(SECOND / 2));
        assert_eq!(parse_duration(b"1.s"), Some(SECOND));
        assert_eq!(parse_duration(b"."), None);
        assert_eq!(parse_duration(b".s"), None);
        assert_eq!(parse_duration(b"1"), None);
        assert_eq!(parse_duration(b"-9223372036854775808ns"), Some(i64::MIN));
        assert_eq!(parse_duration(b"9223372036854775808ns"), None);
    }
}
