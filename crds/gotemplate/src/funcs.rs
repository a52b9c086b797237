//! Calling a template function: Go's builtins here and in `builtins.rs`, the sprig functions in
//! `sprig.rs`. The names and signatures are in `table.rs`, the call context in `call.rs`.

use super::call::{arg, build, text, Cx, FResult};
use super::format::{sprint, sprintf, sprintln};
use super::table::Func;
use super::value::Value;
use super::{
    builtins, sprig, sprig_crypto, sprig_dates, sprig_lists, sprig_numbers, sprig_strings,
};

impl Func {
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
            Strings(f) => sprig_strings::call(f, args, cx),
            Numbers(f) => sprig_numbers::call(f, args, cx),
            Lists(f) => sprig_lists::call(f, args, cx),
            Dates(f) => sprig_dates::call(f, args, cx),
            Crypto(f) => sprig_crypto::call(f, args, cx),
            _ => sprig::call(self, args, cx),
        }
    }
}
