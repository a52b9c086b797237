//! Go's `time.Location`: `UTC`, `Local`, a zone of the system's IANA database, or a fixed
//! offset made by parsing.
//!
//! Zone files are read where Go reads them (`$ZONEINFO`, `/usr/share/zoneinfo/` and the other
//! Unix directories; `Local` from `$TZ` or `/etc/localtime`, once). `jiff` answers which zone is in
//! effect at an instant; the file's own list of zones (Go's `Location.zone`, which parsing a
//! zone abbreviation searches) is read here.

use std::io::Read;
use std::rc::Rc;
use std::sync::OnceLock;

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The largest zone file read, as Go's `readFile`.
const MAX_ZONE_FILE: u64 = 10 << 20;
/// Where Go looks for zone files on Unix.
const ZONE_SOURCES: [&str; 3] = [
    "/usr/share/zoneinfo/",
    "/usr/share/lib/zoneinfo/",
    "/usr/lib/locale/TZ/",
];

/// A `time.Location`. Loaded and fixed zones are compared by identity, as Go compares the
/// pointers.
#[derive(Clone)]
pub(super) enum Zone {
    Utc,
    Local,
    Loaded(Rc<Location>),
    /// A zone made by parsing: its abbreviation (maybe empty) and offset east of UTC.
    Fixed(Rc<(String, i32)>),
}

/// A zone file: its rules, and its zones (abbreviation, offset) in the file's order.
pub(super) struct Location {
    tz: TimeZone,
    zones: Vec<(String, i32)>,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Utc, Self::Utc) | (Self::Local, Self::Local) => true,
            (Self::Loaded(a), Self::Loaded(b)) => Rc::ptr_eq(a, b),
            (Self::Fixed(a), Self::Fixed(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Zone {
    /// `time.LoadLocation`, and the bytes of zone data it read. `None` for a name Go refuses or
    /// cannot find.
    pub(super) fn load(name: &[u8]) -> Option<(Self, usize)> {
        match name {
            b"" | b"UTC" => return Some((Self::Utc, 0)),
            b"Local" => return Some((Self::Local, 0)),
            _ => {}
        }
        let name = std::str::from_utf8(name).ok()?;
        if name.contains("..") || name.starts_with(['/', '\\']) {
            return None;
        }
        // Go looks in `$ZONEINFO` first (a directory; zip files are not read here).
        let from_env = std::env::var("ZONEINFO")
            .ok()
            .filter(|dir| !dir.is_empty())
            .and_then(|dir| read_zone(name, &format!("{dir}/{name}")));
        let (location, read) = from_env.or_else(|| from_sources(name))?;
        Some((Self::Loaded(Rc::new(location)), read))
    }

    fn location(&self) -> Option<&Location> {
        match self {
            Self::Local => local(),
            Self::Loaded(location) => Some(location),
            Self::Utc | Self::Fixed(_) => None,
        }
    }

    /// The abbreviation and offset (seconds east of UTC) in effect at `unix` seconds.
    pub(super) fn lookup(&self, unix: i64) -> (String, i32) {
        match (self, self.location()) {
            (Self::Fixed(fixed), _) => (fixed.0.clone(), fixed.1),
            (_, Some(location)) => location.lookup(unix),
            // UTC, and Go's fallback for a local zone it cannot load.
            (_, None) => ("UTC".to_owned(), 0),
        }
    }

    /// Go's `Location.lookupName`: the offset of the zone called `name` for the local time
    /// `unix` (read as UTC): a zone by that name in effect then, else the first by that name.
    pub(super) fn offset_named(&self, name: &str, unix: i64) -> Option<i64> {
        let location = self.location()?;
        let named = || location.zones.iter().filter(|(n, _)| n == name);
        let in_effect = named().find_map(|(_, offset)| {
            let (n, offset) = location.lookup(unix - i64::from(*offset));
            (n == name).then_some(offset)
        });
        in_effect
            .or_else(|| named().next().map(|(_, offset)| *offset))
            .map(i64::from)
    }
}

impl Location {
    /// The zone in effect at `unix`. Past the database's range (year 9999), the zone's rule
    /// for the far future repeats every 400 years, as the calendar does; before it, the
    /// earliest zone holds.
    fn lookup(&self, unix: i64) -> (String, i32) {
        const CYCLE: i64 = 146_097 * 86_400;
        let max = Timestamp::MAX.as_second();
        let unix = if unix > max {
            unix - ((unix - max) / CYCLE + 1) * CYCLE
        } else {
            unix
        };
        let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::MIN);
        let info = self.tz.to_offset_info(ts);
        (info.abbreviation().to_owned(), info.offset().seconds())
    }
}

fn from_sources(name: &str) -> Option<(Location, usize)> {
    ZONE_SOURCES
        .iter()
        .find_map(|dir| read_zone(name, &format!("{dir}{name}")))
}

/// A zone file, parsed; `None` when it is missing, too large or not TZif.
fn read_zone(name: &str, path: &str) -> Option<(Location, usize)> {
    let file = std::fs::File::open(path).ok()?;
    let mut data = Vec::new();
    file.take(MAX_ZONE_FILE + 1).read_to_end(&mut data).ok()?;
    if data.len() as u64 > MAX_ZONE_FILE {
        return None;
    }
    let tz = TimeZone::tzif(name, &data).ok()?;
    let zones = tzif_zones(&data)?;
    Some((Location { tz, zones }, data.len()))
}

/// The local time types of TZif data (of its 64-bit part, when there is one, as Go reads it).
fn tzif_zones(data: &[u8]) -> Option<Vec<(String, i32)>> {
    let counts = |d: &[u8]| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, n) in c.iter_mut().enumerate() {
            let b = d.get(20 + 4 * i..24 + 4 * i)?;
            *n = u32::from_be_bytes(b.try_into().ok()?) as usize;
        }
        Some(c)
    };
    if !data.starts_with(b"TZif") {
        return None;
    }
    let v1 = counts(data)?;
    let body = data.get(44..)?;
    if data.get(4).is_some_and(|&v| v >= b'2') {
        let [isut, isstd, leap, time, types, chars] = v1;
        let skip = time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
        let header = body.get(skip..)?;
        return tzif_types(header.get(44..)?, counts(header)?, 8);
    }
    tzif_types(body, v1, 4)
}

/// The types of one TZif data block, `counts` from its header.
fn tzif_types(body: &[u8], counts: [usize; 6], time_size: usize) -> Option<Vec<(String, i32)>> {
    let [_, _, _, time, types, chars] = counts;
    let start = time * (time_size + 1);
    let records = body.get(start..start + types * 6)?;
    let abbrevs = body.get(start + types * 6..start + types * 6 + chars)?;
    let zones = records.chunks_exact(6).map(|r| {
        let offset = i32::from_be_bytes([r[0], r[1], r[2], r[3]]);
        let tail = abbrevs.get(usize::from(r[5])..).unwrap_or_default();
        let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        (String::from_utf8_lossy(&tail[..end]).into_owned(), offset)
    });
    Some(zones.collect())
}

/// Go's `time.Local`, loaded once: `$TZ` (empty: UTC; a name or an absolute path, maybe after
/// a `:`), else `/etc/localtime`; `None` stands for Go's fallback to UTC.
fn local() -> Option<&'static Location> {
    static LOCAL: OnceLock<Option<Location>> = OnceLock::new();
    LOCAL
        .get_or_init(|| match std::env::var_os("TZ") {
            None => read_zone("Local", "/etc/localtime").map(|(l, _)| l),
            Some(tz) => {
                let tz = tz.to_str()?;
                let tz = tz.strip_prefix(':').unwrap_or(tz);
                if tz.starts_with('/') {
                    read_zone(tz, tz).map(|(l, _)| l)
                } else if tz.is_empty() || tz == "UTC" {
                    None
                } else {
                    from_sources(tz).map(|(l, _)| l)
                }
            }
        })
        .as_ref()
}
