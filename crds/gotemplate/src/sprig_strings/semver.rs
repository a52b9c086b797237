//! Masterminds/semver v3 as sprig uses it: `NewVersion` (`semver`) and `NewConstraint` with
//! `Check` (`semverCompare`). The library's own regular expressions run on [`GoRegex`], so
//! they match exactly as in Go.

use std::cmp::Ordering;
use std::sync::OnceLock;

use super::regex::GoRegex;

/// A version in a constraint, wildcards allowed.
const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
/// A version: no wildcards, as `NewVersion` reads it.
const SV: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

/// The library's expressions, compiled once.
#[derive(Clone, Copy)]
enum Pattern {
    Version,
    Constraint,
    Range,
    Find,
    Valid,
}

impl Pattern {
    fn source(self) -> String {
        match self {
            Self::Version => format!(r"^{SV}$"),
            Self::Constraint => format!(r"^\s*({OPS})\s*({CV})\s*$"),
            Self::Range => format!(r"\s*({CV})\s+-\s+({CV})\s*"),
            Self::Find => format!(r"({OPS})\s*({CV})"),
            Self::Valid => format!(r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"),
        }
    }

    fn regex(self) -> Result<&'static GoRegex, String> {
        static COMPILED: [OnceLock<Result<GoRegex, String>>; 5] = [const { OnceLock::new() }; 5];
        COMPILED[self as usize]
            .get_or_init(|| GoRegex::new(self.source().as_bytes()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A parsed version (`*semver.Version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Version {
    pub(super) major: u64,
    pub(super) minor: u64,
    pub(super) patch: u64,
    pub(super) pre: String,
    pub(super) metadata: String,
}

impl std::fmt::Display for Version {
    /// `Version.String`: the numbers, `-` the prerelease, `+` the metadata (no `v`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

const INVALID_VERSION: &str = "Invalid Semantic Version";

/// The text of group `i` of a match (empty when it did not take part).
fn group<'s>(s: &'s [u8], groups: &[Option<(usize, usize)>], i: usize) -> &'s str {
    groups
        .get(i)
        .copied()
        .flatten()
        .and_then(|(a, z)| s.get(a..z))
        .and_then(|g| std::str::from_utf8(g).ok())
        .unwrap_or("")
}

fn segment(digits: &str) -> Result<u64, String> {
    let digits = digits.strip_prefix('.').unwrap_or(digits);
    if digits.is_empty() {
        return Ok(0);
    }
    digits
        .parse()
        .map_err(|_| "Error parsing version segment: value out of range".to_owned())
}

impl Version {
    /// `semver.NewVersion`.
    pub(super) fn parse(v: &[u8]) -> Result<Self, String> {
        let groups = Pattern::Version
            .regex()?
            .captures(v)
            .ok_or_else(|| INVALID_VERSION.to_owned())?;
        let version = Self {
            major: segment(group(v, &groups, 1))?,
            minor: segment(group(v, &groups, 2))?,
            patch: segment(group(v, &groups, 3))?,
            pre: group(v, &groups, 5).to_owned(),
            metadata: group(v, &groups, 8).to_owned(),
        };
        // The expression already allows only [0-9A-Za-z-] in both.
        let leading_zero =
            |p: &str| p.len() > 1 && p.starts_with('0') && p.bytes().all(|c| c.is_ascii_digit());
        if !version.pre.is_empty() && version.pre.split('.').any(leading_zero) {
            return Err("Version segment starts with 0".to_owned());
        }
        Ok(version)
    }

    /// `Version.Compare`: by numbers, then a release above its prereleases.
    fn compare(&self, o: &Self) -> Ordering {
        let numbers = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        match (numbers, self.pre.is_empty(), o.pre.is_empty()) {
            (Ordering::Equal, true, true) => Ordering::Equal,
            (Ordering::Equal, true, false) => Ordering::Greater,
            (Ordering::Equal, false, true) => Ordering::Less,
            (Ordering::Equal, false, false) => compare_prerelease(&self.pre, &o.pre),
            (other, _, _) => other,
        }
    }
}

/// `comparePrerelease`: part by part, a missing part below any other.
fn compare_prerelease(v: &str, o: &str) -> Ordering {
    let (vs, os): (Vec<&str>, Vec<&str>) = (v.split('.').collect(), o.split('.').collect());
    for i in 0..vs.len().max(os.len()) {
        let (s, o) = (
            vs.get(i).copied().unwrap_or(""),
            os.get(i).copied().unwrap_or(""),
        );
        let d = compare_pre_part(s, o);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

/// `comparePrePart`: numbers below names, numbers by value, names by bytes; never equal
/// unless the same text ("1" and "01" are not).
fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    let order = match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => s.cmp(o),
        (_, Err(_)) => Ordering::Less,
        (Err(_), _) => Ordering::Greater,
        (Ok(si), Ok(oi)) => si.cmp(&oi),
    };
    if order == Ordering::Greater {
        Ordering::Greater
    } else {
        Ordering::Less
    }
}

/// One constraint: the operator, the version, and which parts were left out or wildcards.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

const IMPROPER: &str = "improper constraint";

impl Constraint {
    /// `parseConstraint`.
    fn parse(c: &[u8]) -> Result<Self, String> {
        let g = Pattern::Constraint
            .regex()?
            .captures(c)
            .ok_or_else(|| IMPROPER.to_owned())?;
        let part = |i| group(c, &g, i);
        let (major, minor, patch, pre) = (part(3), part(4), part(5), part(6));
        let wild = |p: &str| p.is_empty() || is_x(p.strip_prefix('.').unwrap_or(p));
        let (version, minor_dirty, patch_dirty) = if wild(major) {
            (format!("0.0.0{pre}"), false, false)
        } else if wild(minor) {
            (format!("{major}.0.0{pre}"), true, false)
        } else if wild(patch) {
            (format!("{major}{minor}.0{pre}"), false, true)
        } else {
            (part(2).to_owned(), false, false)
        };
        let con =
            Version::parse(version.as_bytes()).map_err(|_| "constraint Parser Error".to_owned())?;
        Ok(Self {
            op: part(1).to_owned(),
            con,
            dirty: wild(major) || minor_dirty || patch_dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    /// The constraint's `cfunc`, without its error.
    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.con.pre.is_empty() {
            // Only a constraint with a prerelease admits prereleases (even for `!=`, when
            // the constraint has a wildcard).
            if self.op != "!=" || self.dirty {
                return false;
            }
        }
        match self.op.as_str() {
            "" | "=" if self.dirty => self.tilde(v),
            "" | "=" => v.compare(&self.con) == Ordering::Equal,
            "!=" => self.not_equal(v),
            ">" => self.greater(v),
            "<" => v.compare(&self.con) == Ordering::Less,
            ">=" | "=>" => v.compare(&self.con) != Ordering::Less,
            "<=" | "=<" => self.less_equal(v),
            "~" | "~>" => self.tilde(v),
            "^" => self.caret(v),
            _ => false,
        }
    }

    fn not_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if self.dirty {
            if c.major != v.major {
                return true;
            }
            if c.minor != v.minor && !self.minor_dirty {
                return true;
            }
            if self.minor_dirty {
                return false;
            }
            if c.patch != v.patch && !self.patch_dirty {
                return true;
            }
            if self.patch_dirty {
                return (!v.pre.is_empty() || !c.pre.is_empty())
                    && compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
            }
        }
        v.compare(c) != Ordering::Equal
    }

    fn greater(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) == Ordering::Greater;
        }
        if v.major != c.major || self.minor_dirty {
            return v.major > c.major;
        }
        if self.patch_dirty {
            return v.minor > c.minor;
        }
        v.compare(c) == Ordering::Greater
    }

    fn less_equal(&self, v: &Version) -> bool {
        let c = &self.con;
        if !self.dirty {
            return v.compare(c) != Ordering::Greater;
        }
        !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (v.minor == c.minor || self.minor_dirty)
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        v.minor == 0 && c.patch == v.patch
    }
}

/// `semver.NewConstraint`: `||`-separated groups of constraints, all of one group to hold.
pub(super) struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    pub(super) fn parse(c: &[u8]) -> Result<Self, String> {
        let c = rewrite_ranges(c)?;
        let mut groups = Vec::new();
        for alternative in split_or(&c) {
            if !Pattern::Valid.regex()?.is_match(alternative) {
                return Err(IMPROPER.to_owned());
            }
            let found = Pattern::Find.regex()?.find_all(alternative, -1);
            let parts: Vec<&[u8]> = if found.is_empty() {
                vec![alternative]
            } else {
                found
                    .iter()
                    .map(|&(a, z)| alternative.get(a..z).unwrap_or_default())
                    .collect()
            };
            groups.push(
                parts
                    .into_iter()
                    .map(Constraint::parse)
                    .collect::<Result<_, _>>()?,
            );
        }
        Ok(Self(groups))
    }

    /// `Constraints.Check`.
    pub(super) fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|all| all.iter().all(|c| c.check(v)))
    }
}

/// `strings.Split(c, "||")`.
fn split_or(c: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = c;
    while let Some(at) = find(rest, b"||") {
        parts.push(&rest[..at]);
        rest = &rest[at + 2..];
    }
    parts.push(rest);
    parts
}

/// `rewriteRange`: each `a - b` becomes `>= a, <= b` (replacing the first occurrence of its
/// text, as the library does).
fn rewrite_ranges(c: &[u8]) -> Result<Vec<u8>, String> {
    let range = Pattern::Range.regex()?;
    let mut out = c.to_vec();
    for (start, end) in range.find_all(c, -1) {
        let whole = c.get(start..end).unwrap_or_default();
        // The groups of this match, as FindAllStringSubmatch gives them.
        let Some(g) = range.captures(whole) else {
            continue;
        };
        let text = |i: usize| group(whole, &g, i).as_bytes();
        let replacement = [b">= ", text(1), b", <= ", text(11)].concat();
        if let Some(at) = find(&out, whole) {
            out.splice(at..at + whole.len(), replacement);
        }
    }
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
