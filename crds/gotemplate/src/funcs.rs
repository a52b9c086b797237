//! The functions templates may call: Go's builtins and the sprig functions templated Secrets
//! use, with sprig's argument order. Each has a Go signature, checked by the executor before the
//! call, so the implementations only see arguments of the declared types.

use super::format::{go_quote, sprint, sprintf, sprintln, write_value};
use super::value::{Buf, Limit, Str, Value};
use super::{builtins, sprig, MAX_VALUE_BYTES, MAX_WORK_BYTES};

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

pub(super) fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = TABLE.iter().map(|(name, _)| *name).collect();
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
}

impl Ty {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Any => "interface {}",
            Self::Str => "string",
            Self::Int => "int",
            Self::Bool => "bool",
            Self::Map => "map[string]interface {}",
        }
    }

    pub(super) fn accepts_nil(self) -> bool {
        matches!(self, Self::Any | Self::Map)
    }

    pub(super) fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Self::Any, _)
                | (Self::Str, Value::Str(_))
                | (Self::Int, Value::Int(_))
                | (Self::Bool, Value::Bool(_))
                | (Self::Map, Value::Map(_))
        )
    }
}

/// A Go signature: fixed parameters, then maybe a variadic one.
pub(super) struct Sig {
    pub(super) fixed: &'static [Ty],
    pub(super) variadic: Option<Ty>,
}

const fn sig(fixed: &'static [Ty], variadic: Option<Ty>) -> Sig {
    Sig { fixed, variadic }
}

use Ty::{Any, Bool, Int, Map};

/// What a call may use besides its arguments: the work budget, and which arguments are written
/// as string literals in the template (a missing key is named only then: a computed key could
/// be a value).
pub(super) struct Cx {
    /// Bytes the functions may still produce.
    pub(super) remaining: usize,
    /// For each argument of the current call, whether it is a string literal.
    pub(super) literal: Vec<bool>,
}

impl Cx {
    pub(super) fn new() -> Self {
        Self {
            remaining: MAX_WORK_BYTES,
            literal: Vec::new(),
        }
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

impl Func {
    /// The function a name calls, and the name with a static lifetime.
    pub(super) fn lookup(name: &str) -> Option<(&'static str, Func)> {
        TABLE.iter().find(|(n, _)| *n == name).copied()
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
            Get | HasKey => sig(&[Map, S], None),
            Indent | Nindent | Repeat | Trunc => sig(&[Int, S], None),
            Join => sig(&[S, Any], None),
            Keys => sig(&[], Some(Map)),
            Replace => sig(&[S, S, S], None),
            Substr => sig(&[Int, Int, S], None),
            Ternary => sig(&[Any, Any, Bool], None),
        }
    }

    /// Calls the function; `and` and `or` are evaluated by the executor (they short-circuit).
    pub(super) fn call(self, args: &[Value], cx: &mut Cx) -> FResult {
        use Func::*;
        match self {
            And | Or => Err("internal error: and/or are not called".to_owned()),
            Not => Ok(Value::Bool(!arg(args, 0).truth())),
            Len => builtins::len(arg(args, 0)),
            Index => builtins::index(args, cx),
            Eq => builtins::eq(arg(args, 0), args.get(1..).unwrap_or_default()).map(Value::Bool),
            Ne => builtins::eq(arg(args, 0), args.get(1..).unwrap_or_default())
                .map(|b| Value::Bool(!b)),
            Lt => builtins::lt(arg(args, 0), arg(args, 1)).map(Value::Bool),
            Le => builtins::le(arg(args, 0), arg(args, 1)).map(Value::Bool),
            Gt => builtins::le(arg(args, 0), arg(args, 1)).map(|b| Value::Bool(!b)),
            Ge => builtins::lt(arg(args, 0), arg(args, 1)).map(|b| Value::Bool(!b)),
            Print => build(cx, |b| sprint(b, args).map_err(String::from)),
            Println => build(cx, |b| sprintln(b, args).map_err(String::from)),
            Printf => build(cx, |b| {
                sprintf(b, text(args, 0)?, args.get(1..).unwrap_or_default()).map_err(String::from)
            }),
            Urlquery => builtins::escaped(args, cx, builtins::urlquery),
            Html => builtins::escaped(args, cx, builtins::html),
            Js => builtins::escaped(args, cx, builtins::js),
            _ => sprig::call(self, args, cx),
        }
    }
}

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
    fn every_name_resolves_and_env_does_not() {
        for name in names() {
            assert!(Func::lookup(name).is_some(), "{name}");
        }
        for name in ["env", "expandenv", "getHostByName", "call", "slice"] {
            assert!(Func::lookup(name).is_none(), "{name}");
        }
    }
}
