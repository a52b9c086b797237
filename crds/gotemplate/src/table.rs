//! The functions templates may call, by name, with their Go signatures: data only (the
//! executor checks the signature before a call; `funcs.rs` dispatches it).

use super::value::Value;

/// A function, resolved by name when the template is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    And,
    Or,
    Not,
    Len,
    Index,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Print,
    Printf,
    Println,
    Urlquery,
    Html,
    Js,
    Atoi,
    B64dec,
    B64enc,
    Cat,
    Coalesce,
    Contains,
    Default,
    Dict,
    Empty,
    FromJson,
    Get,
    HasKey,
    HasPrefix,
    HasSuffix,
    Indent,
    Join,
    Keys,
    List,
    Lower,
    Nindent,
    Nospace,
    Quote,
    Repeat,
    Replace,
    Sha1sum,
    Sha256sum,
    Split,
    SplitList,
    Squote,
    Substr,
    Ternary,
    Title,
    ToJson,
    ToPrettyJson,
    ToRawJson,
    ToString,
    Trim,
    TrimAll,
    TrimPrefix,
    TrimSuffix,
    Trunc,
    Upper,
    /// The rest of sprig's generic map, one group per module.
    Strings(super::sprig_strings::F),
    Numbers(super::sprig_numbers::F),
    Lists(super::sprig_lists::F),
    Dates(super::sprig_dates::F),
    Crypto(super::sprig_crypto::F),
}

/// Every name a template may call. `env`, `expandenv` and `getHostByName` are deliberately
/// absent, as they are from the original.
const TABLE: &[(&str, Func)] = &[
    ("and", Func::And),
    ("atoi", Func::Atoi),
    ("b64dec", Func::B64dec),
    ("b64enc", Func::B64enc),
    ("cat", Func::Cat),
    ("coalesce", Func::Coalesce),
    ("contains", Func::Contains),
    ("default", Func::Default),
    ("dict", Func::Dict),
    ("empty", Func::Empty),
    ("eq", Func::Eq),
    ("fromJson", Func::FromJson),
    ("ge", Func::Ge),
    ("get", Func::Get),
    ("gt", Func::Gt),
    ("hasKey", Func::HasKey),
    ("hasPrefix", Func::HasPrefix),
    ("hasSuffix", Func::HasSuffix),
    ("html", Func::Html),
    ("indent", Func::Indent),
    ("index", Func::Index),
    ("join", Func::Join),
    ("js", Func::Js),
    ("keys", Func::Keys),
    ("le", Func::Le),
    ("len", Func::Len),
    ("list", Func::List),
    ("lower", Func::Lower),
    ("lt", Func::Lt),
    ("mustFromJson", Func::FromJson),
    ("mustToJson", Func::ToJson),
    ("mustToPrettyJson", Func::ToPrettyJson),
    ("mustToRawJson", Func::ToRawJson),
    ("ne", Func::Ne),
    ("nindent", Func::Nindent),
    ("nospace", Func::Nospace),
    ("not", Func::Not),
    ("or", Func::Or),
    ("print", Func::Print),
    ("printf", Func::Printf),
    ("println", Func::Println),
    ("quote", Func::Quote),
    ("repeat", Func::Repeat),
    ("replace", Func::Replace),
    ("sha1sum", Func::Sha1sum),
    ("sha256sum", Func::Sha256sum),
    ("split", Func::Split),
    ("splitList", Func::SplitList),
    ("squote", Func::Squote),
    ("substr", Func::Substr),
    ("ternary", Func::Ternary),
    ("title", Func::Title),
    ("toJson", Func::ToJson),
    ("toPrettyJson", Func::ToPrettyJson),
    ("toRawJson", Func::ToRawJson),
    ("toString", Func::ToString),
    ("trim", Func::Trim),
    ("trimAll", Func::TrimAll),
    ("trimPrefix", Func::TrimPrefix),
    ("trimSuffix", Func::TrimSuffix),
    ("trimall", Func::TrimAll),
    ("trunc", Func::Trunc),
    ("tuple", Func::List),
    ("upper", Func::Upper),
    ("urlquery", Func::Urlquery),
];

/// Every name of every group, with the function it calls.
fn all() -> impl Iterator<Item = (&'static str, Func)> {
    use super::{sprig_crypto, sprig_dates, sprig_lists, sprig_numbers, sprig_strings};
    let strings = sprig_strings::TABLE
        .iter()
        .map(|(n, f)| (*n, Func::Strings(*f)));
    let numbers = sprig_numbers::TABLE
        .iter()
        .map(|(n, f)| (*n, Func::Numbers(*f)));
    let lists = sprig_lists::TABLE
        .iter()
        .map(|(n, f)| (*n, Func::Lists(*f)));
    let dates = sprig_dates::TABLE
        .iter()
        .map(|(n, f)| (*n, Func::Dates(*f)));
    let crypto = sprig_crypto::TABLE
        .iter()
        .map(|(n, f)| (*n, Func::Crypto(*f)));
    TABLE
        .iter()
        .copied()
        .chain(strings)
        .chain(numbers)
        .chain(lists)
        .chain(dates)
        .chain(crypto)
}

pub(super) fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = all().map(|(name, _)| name).collect();
    names.sort_unstable();
    names
}

/// A parameter type, as Go checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    /// `interface {}`: anything, nil included.
    Any,
    Str,
    Int,
    Bool,
    /// `map[string]interface {}`; nil is accepted as an empty map.
    Map,
    /// `float64`: a number literal, or a computed float.
    Float,
    /// `uint32`: a non-negative integer literal (no computed value has this type).
    Uint32,
    /// `[]interface {}` (not `[]string`); nil is accepted.
    List,
    /// `time.Time`.
    Time,
    /// `map[string]interface {}`, or (an addition, for `get` and `hasKey`) the values `.`, a
    /// `map[string]string`: a missing key is an error here, so a template needs a way to test
    /// for one.
    MapOrValues,
}

impl Ty {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Any => "interface {}",
            Self::Str => "string",
            Self::Int => "int",
            Self::Bool => "bool",
            Self::Map | Self::MapOrValues => "map[string]interface {}",
            Self::Float => "float64",
            Self::Uint32 => "uint32",
            Self::List => "[]interface {}",
            Self::Time => "time.Time",
        }
    }

    pub(super) fn accepts_nil(self) -> bool {
        matches!(self, Self::Any | Self::Map | Self::MapOrValues | Self::List)
    }

    pub(super) fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Self::Any, _)
                | (Self::Str, Value::Str(_))
                | (Self::Int, Value::Int(_))
                | (Self::Bool, Value::Bool(_))
                | (Self::Float, Value::Float(_))
                | (Self::Time, Value::Time(_))
                | (Self::MapOrValues, Value::Map(_))
        ) || matches!((self, v), (Self::List, Value::List(l)) if !l.is_of_strings())
            || matches!((self, v), (Self::Map, Value::Map(m)) if !m.is_of_strings())
    }
}

/// A Go signature: fixed parameters, then maybe a variadic one.
pub(super) struct Sig {
    pub(super) fixed: &'static [Ty],
    pub(super) variadic: Option<Ty>,
}

pub(super) const fn sig(fixed: &'static [Ty], variadic: Option<Ty>) -> Sig {
    Sig { fixed, variadic }
}

use Ty::{Any, Bool, Int, Map};

impl Func {
    /// The function a name calls, and the name with a static lifetime.
    pub(super) fn lookup(name: &str) -> Option<(&'static str, Func)> {
        all().find(|(n, _)| *n == name)
    }

    pub(super) fn sig(self) -> Sig {
        use Func::*;
        const S: Ty = Ty::Str;
        match self {
            And | Or | Eq | Index => sig(&[Any], Some(Any)),
            Not | Len | Empty | ToString | ToJson | ToPrettyJson | ToRawJson => sig(&[Any], None),
            Ne | Lt | Le | Gt | Ge => sig(&[Any, Any], None),
            Print | Println | Urlquery | Html | Js | Cat | Coalesce | Dict | List | Quote
            | Squote => sig(&[], Some(Any)),
            Printf => sig(&[S], Some(Any)),
            Atoi | B64dec | B64enc | FromJson | Lower | Nospace | Sha1sum | Sha256sum | Title
            | Trim | Upper => sig(&[S], None),
            Contains | HasPrefix | HasSuffix | Split | SplitList | TrimAll | TrimPrefix
            | TrimSuffix => sig(&[S, S], None),
            Default => sig(&[Any], Some(Any)),
            Get | HasKey => sig(&[Ty::MapOrValues, S], None),
            Indent | Nindent | Repeat | Trunc => sig(&[Int, S], None),
            Join => sig(&[S, Any], None),
            Keys => sig(&[], Some(Map)),
            Replace => sig(&[S, S, S], None),
            Substr => sig(&[Int, Int, S], None),
            Ternary => sig(&[Any, Any, Bool], None),
            Strings(f) => f.sig(),
            Numbers(f) => f.sig(),
            Lists(f) => f.sig(),
            Dates(f) => f.sig(),
            Crypto(f) => f.sig(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_env_does_not() {
        for name in names() {
            assert!(Func::lookup(name).is_some(), "{name}");
        }
        for name in ["env", "expandenv", "getHostByName", "call"] {
            assert!(Func::lookup(name).is_none(), "{name}");
        }
    }
}
