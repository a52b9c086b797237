//! sprig's strings: case and shape (`abbrev`, `camelcase`, `wrap`, … in `words`, on Go's
//! `unicode` tables in `unicode`), regular expressions (`regex`: Go's RE2 syntax on the
//! `regex` crate), paths (`paths`), URLs (`url`) and semantic versions (`semver`).
//!
//! Go strings are bytes here as everywhere in this crate; where Go reads them as characters,
//! an invalid byte is `utf8.RuneError`, as Go's decoder reads it. Go's result types: the
//! `[]string` of `regexFindAll` and `regexSplit` is a list of strings, the `map[string]string`
//! of `splitn` and the `map[string]interface {}` of `urlParse` maps of strings. `semver`'s
//! `*semver.Version` is a map of what a template reads of it: `.Major`, `.Minor`, `.Patch`
//! (ints) and `.Prerelease`, `.Metadata`, `.Original`, `.String` (strings); so printing one
//! prints the map where Go prints `1.2.3`, and its other methods (`.LessThan`, `.IncMajor`, …)
//! are not there.

mod paths;
mod regex;
mod semver;
mod unicode;
mod url;
mod words;

use super::call::{arg, build, bytes, int, text, Cx, FResult};
use super::json::ITEM_COST;
use super::table::{sig, Sig, Ty};
use super::value::{Str, Value};
use regex::GoRegex;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A function of this group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Abbrev,
    Abbrevboth,
    B32dec,
    /// `base` and `osBase` (`path/filepath` is `path` on Linux), and so on.
    Base,
    B32enc,
    Camelcase,
    Clean,
    Dir,
    Ext,
    Hello,
    Initials,
    IsAbs,
    Kebabcase,
    Plural,
    RegexFind,
    RegexFindAll,
    RegexMatch,
    /// `regexMatch`: sprig swallows the error of a bad pattern (and returns false).
    RegexMatchLax,
    RegexQuoteMeta,
    RegexReplaceAll,
    RegexReplaceAllLiteral,
    RegexSplit,
    Semver,
    SemverCompare,
    Snakecase,
    Splitn,
    Swapcase,
    Untitle,
    UrlJoin,
    UrlParse,
    Wrap,
    WrapWith,
}

/// The names of this group's functions.
pub(super) const TABLE: &[(&str, F)] = &[
    ("abbrev", F::Abbrev),
    ("abbrevboth", F::Abbrevboth),
    ("b32dec", F::B32dec),
    ("b32enc", F::B32enc),
    ("base", F::Base),
    ("camelcase", F::Camelcase),
    ("clean", F::Clean),
    ("dir", F::Dir),
    ("ext", F::Ext),
    ("hello", F::Hello),
    ("initials", F::Initials),
    ("isAbs", F::IsAbs),
    ("kebabcase", F::Kebabcase),
    ("mustRegexFind", F::RegexFind),
    ("mustRegexFindAll", F::RegexFindAll),
    ("mustRegexMatch", F::RegexMatch),
    ("mustRegexReplaceAll", F::RegexReplaceAll),
    ("mustRegexReplaceAllLiteral", F::RegexReplaceAllLiteral),
    ("mustRegexSplit", F::RegexSplit),
    ("osBase", F::Base),
    ("osClean", F::Clean),
    ("osDir", F::Dir),
    ("osExt", F::Ext),
    ("osIsAbs", F::IsAbs),
    ("plural", F::Plural),
    ("regexFind", F::RegexFind),
    ("regexFindAll", F::RegexFindAll),
    ("regexMatch", F::RegexMatchLax),
    ("regexQuoteMeta", F::RegexQuoteMeta),
    ("regexReplaceAll", F::RegexReplaceAll),
    ("regexReplaceAllLiteral", F::RegexReplaceAllLiteral),
    ("regexSplit", F::RegexSplit),
    ("semver", F::Semver),
    ("semverCompare", F::SemverCompare),
    ("snakecase", F::Snakecase),
    ("splitn", F::Splitn),
    ("swapcase", F::Swapcase),
    ("untitle", F::Untitle),
    ("urlJoin", F::UrlJoin),
    ("urlParse", F::UrlParse),
    ("wrap", F::Wrap),
    ("wrapWith", F::WrapWith),
];

impl F {
    pub(super) fn sig(self) -> Sig {
        use Ty::{Int, Str as S};
        use F::*;
        match self {
            B32dec | B32enc | Camelcase | Initials | Kebabcase | Snakecase | Swapcase | Untitle
            | RegexQuoteMeta | Base | Clean | Dir | Ext | IsAbs | Semver | UrlParse => {
                sig(&[S], None)
            }
            UrlJoin => sig(&[Ty::Map], None),
            RegexFind | RegexMatch | RegexMatchLax | SemverCompare => sig(&[S, S], None),
            RegexFindAll | RegexSplit => sig(&[S, S, Int], None),
            RegexReplaceAll | RegexReplaceAllLiteral => sig(&[S, S, S], None),
            Abbrev | Wrap => sig(&[Int, S], None),
            Abbrevboth => sig(&[Int, Int, S], None),
            Hello => sig(&[], None),
            Plural => sig(&[S, S, Int], None),
            Splitn => sig(&[S, Int, S], None),
            WrapWith => sig(&[Int, S, S], None),
        }
    }
}

pub(super) fn call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    use F::*;
    let s = |i| text(args, i);
    match f {
        Abbrev => abbrev(0, int(args, 0)?, s(1)?, cx),
        Abbrevboth => abbrev(int(args, 0)?, int(args, 1)?, s(2)?, cx),
        B32dec => build(cx, |b| words::b32dec(s(0)?, b)),
        B32enc => build(cx, |b| words::b32enc(s(0)?, b)),
        Base => bytes(paths::base(s(0)?), cx),
        Clean => bytes(&Zeroizing::new(paths::clean(s(0)?)), cx),
        Dir => bytes(&Zeroizing::new(paths::dir(s(0)?)), cx),
        Ext => bytes(paths::ext(s(0)?), cx),
        IsAbs => Ok(Value::Bool(s(0)?.starts_with(b"/"))),
        Camelcase => build(cx, |b| words::camelcase(s(0)?, b)),
        Hello => Ok(Value::text("Hello!")),
        Initials => build(cx, |b| words::initials(s(0)?, b)),
        Kebabcase => build(cx, |b| words::connect_words(s(0)?, b'-', b)),
        Plural => Ok(arg(args, usize::from(int(args, 2)? != 1)).clone()),
        RegexFind
        | RegexFindAll
        | RegexMatch
        | RegexMatchLax
        | RegexReplaceAll
        | RegexReplaceAllLiteral
        | RegexSplit => regex_call(f, args, cx),
        RegexQuoteMeta => build(cx, |b| regex::quote_meta(s(0)?, b)),
        Semver => semver_value(s(0)?, cx),
        SemverCompare => {
            let constraints = semver::Constraints::parse(s(0)?)?;
            Ok(Value::Bool(
                constraints.check(&semver::Version::parse(s(1)?)?),
            ))
        }
        Snakecase => build(cx, |b| words::connect_words(s(0)?, b'_', b)),
        Splitn => words::splitn(s(0)?, int(args, 1)?, s(2)?, cx),
        Swapcase => build(cx, |b| words::swapcase(s(0)?, b)),
        Untitle => build(cx, |b| words::untitle(s(0)?, b)),
        UrlParse => url_parse(s(0)?, cx),
        UrlJoin => url_join(arg(args, 0), cx),
        Wrap => build(cx, |b| words::wrap(s(1)?, int(args, 0)?, b"", false, b)),
        WrapWith => build(cx, |b| words::wrap(s(2)?, int(args, 0)?, s(1)?, true, b)),
    }
}

/// The functions that compile their first argument as a Go regular expression.
fn regex_call(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    let (re, s) = (GoRegex::new(text(args, 0)?)?, text(args, 1)?);
    let slice = |(a, z): (usize, usize)| s.get(a..z).unwrap_or_default();
    match f {
        F::RegexFind => bytes(
            re.find_all(s, 1)
                .into_iter()
                .map(slice)
                .next()
                .unwrap_or_default(),
            cx,
        ),
        F::RegexFindAll => strings(re.find_all(s, int(args, 2)?).into_iter().map(slice), cx),
        F::RegexSplit => strings(re.split(s, int(args, 2)?).into_iter(), cx),
        F::RegexReplaceAll | F::RegexReplaceAllLiteral => {
            let expand = f == F::RegexReplaceAll;
            build(cx, |b| re.replace_all(s, text(args, 2)?, expand, b))
        }
        _ => Ok(Value::Bool(re.is_match(s))),
    }
}

/// Go's `[]string` of the parts, each charged.
fn strings<'a>(parts: impl Iterator<Item = &'a [u8]>, cx: &mut Cx) -> FResult {
    let mut items = Vec::new();
    for part in parts {
        cx.charge(ITEM_COST)?;
        if let Value::Str(s) = bytes(part, cx)? {
            items.push(s);
        }
    }
    Ok(Value::string_list(items))
}

/// `semver`'s `*Version`, as a map of what a template reads of it (`.Major`, `.Minor`,
/// `.Patch`, `.Prerelease`, `.Metadata`, `.Original`, and `.String`, the method).
fn semver_value(s: &[u8], cx: &mut Cx) -> FResult {
    let v = semver::Version::parse(s)?;
    let number = |n: u64| {
        i64::try_from(n)
            .map(Value::Int)
            .map_err(|_| "semver: version segment too large".to_owned())
    };
    cx.charge(ITEM_COST.saturating_mul(7))?;
    let entries = [
        ("String", Value::text(&v.to_string())),
        ("Major", number(v.major)?),
        ("Minor", number(v.minor)?),
        ("Patch", number(v.patch)?),
        ("Prerelease", Value::text(&v.pre)),
        ("Metadata", Value::text(&v.metadata)),
        ("Original", bytes(s, cx)?),
    ];
    Value::map(
        entries
            .into_iter()
            .map(|(k, v)| (Str::from_text(k), v))
            .collect(),
    )
}

/// sprig's `urlParse`: a map of the parts of the URL.
fn url_parse(s: &[u8], cx: &mut Cx) -> FResult {
    let u = url::Url::parse(s)?;
    let parts: [(&str, &[u8]); 8] = [
        ("scheme", &u.scheme),
        ("host", &u.host),
        ("hostname", u.hostname()),
        ("path", &u.path),
        ("query", &u.raw_query),
        ("opaque", &u.opaque),
        ("fragment", &u.fragment),
        ("userinfo", &u.userinfo()),
    ];
    let mut entries = BTreeMap::new();
    for (key, part) in parts {
        cx.charge(ITEM_COST)?;
        entries.insert(Str::from_text(key), bytes(part, cx)?);
    }
    Value::map(entries)
}

/// sprig's `urlJoin`: the URL of a map's parts (each a string, or missing).
fn url_join(dict: &Value, cx: &mut Cx) -> FResult {
    let part = |key: &str| -> Result<Str, String> {
        let found = match dict {
            Value::Map(m) => m.entries().get(key.as_bytes()).cloned(),
            _ => None,
        };
        match &found {
            None => Ok(Str::from_text("")),
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                other.type_name()
            )),
        }
    };
    let keys = [
        "scheme", "host", "path", "query", "opaque", "fragment", "userinfo",
    ];
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(part(key)?);
    }
    let [scheme, host, path, query, opaque, fragment, userinfo] =
        [0, 1, 2, 3, 4, 5, 6].map(|i| values.get(i).map_or(&b""[..], Str::as_bytes));
    let u = url::Url::from_parts([scheme, host, path, query, opaque, fragment, userinfo])?;
    bytes(&u.to_bytes(), cx)
}

/// sprig's `abbrev` and `abbrevboth`: too small a width leaves the string as it is.
fn abbrev(left: i64, right: i64, s: &[u8], cx: &mut Cx) -> FResult {
    if right < 4 || left > 0 && right < 7 {
        return bytes(s, cx);
    }
    let (before, kept, after) = words::abbreviate(s, left, right)?;
    build(cx, |b| {
        for (part, show) in [(&b"..."[..], before), (kept, true), (b"...", after)] {
            if show {
                b.push(part)?;
            }
        }
        Ok(())
    })
}
