//! The part of Go's `fmt` and `strconv` templates reach: `%v` printing, `print`, `println`,
//! `printf` with the common verbs and flags, Go string quoting and Go float formatting. Every
//! writer goes through a bounded [`Buf`].

use super::float::format_float;
use super::value::{runes, Buf, Limit, Overflow, Str, Value};

type R = Result<(), Overflow>;

/// Whether Go's `unicode.IsPrint` holds, approximately: every character but controls, spaces
/// other than U+0020, and the invisible formatting characters.
pub(super) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e000}'..='\u{f8ff}'
                | '\u{f0000}'..
        ))
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Go's `strconv.Quote` (or `QuoteToASCII`) of `s` into `buf`.
pub(super) fn write_quoted(buf: &mut Buf, s: &[u8], quote: char, ascii_only: bool) -> R {
    buf.push_char(quote)?;
    for (start, _, c) in runes(s) {
        let Some(c) = c else {
            let byte = s.get(start).copied().unwrap_or_default();
            buf.push(&[
                b'\\',
                b'x',
                LOWER_HEX[usize::from(byte >> 4)],
                LOWER_HEX[usize::from(byte & 15)],
            ])?;
            continue;
        };
        write_escaped_rune(buf, c, quote, ascii_only)?;
    }
    buf.push_char(quote)
}

fn write_escaped_rune(buf: &mut Buf, c: char, quote: char, ascii_only: bool) -> R {
    if c == quote || c == '\\' {
        buf.push_char('\\')?;
        return buf.push_char(c);
    }
    if is_print(c) && (!ascii_only || c.is_ascii()) {
        return buf.push_char(c);
    }
    let escape = match c {
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\u{c}' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{b}' => "\\v",
        c if u32::from(c) < 0x20 || c == '\u{7f}' => {
            return buf.push_str(&format!("\\x{:02x}", u32::from(c)))
        }
        c if u32::from(c) < 0x10000 => return buf.push_str(&format!("\\u{:04x}", u32::from(c))),
        c => return buf.push_str(&format!("\\U{:08x}", u32::from(c))),
    };
    buf.push_str(escape)
}

/// Go's `strconv.Quote`, for messages (template text, never values).
pub(super) fn go_quote(s: &str) -> String {
    let mut buf = Buf::new(usize::MAX, Limit::Value);
    // An unlimited buffer cannot overflow.
    let _ = write_quoted(&mut buf, s.as_bytes(), '"', false);
    String::from_utf8_lossy(buf.as_bytes()).into_owned()
}

/// `fmt.Sprint(v)`: the value as a template prints it (`<nil>` for nil).
pub(super) fn write_value(buf: &mut Buf, v: &Value) -> R {
    print_arg(buf, v, 'v', &Spec::default(), false)
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
pub(super) fn sprint(buf: &mut Buf, args: &[Value]) -> R {
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            buf.push(b" ")?;
        }
        write_value(buf, arg)?;
        prev_string = is_string;
    }
    Ok(())
}

/// `fmt.Sprintln`: spaces between all operands, and a newline.
pub(super) fn sprintln(buf: &mut Buf, args: &[Value]) -> R {
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            buf.push(b" ")?;
        }
        write_value(buf, arg)?;
    }
    buf.push(b"\n")
}

/// The flags, width and precision of one verb.
#[derive(Debug, Default, Clone, Copy)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's limit on widths and precisions.
const MAX_NUM: usize = 1_000_000;

/// `fmt.Sprintf`, with `%v %s %d %q %x %X %t %c %U %b %o %O %e %E %f %F %g %G %T %%`, the
/// flags `+ - # 0 space`, widths and precisions (also `*`). Argument indexes are not supported.
pub(super) fn sprintf(buf: &mut Buf, format: &[u8], args: &[Value]) -> R {
    let end = format.len();
    let mut i = 0;
    let mut arg_num = 0;
    while i < end {
        let literal_start = i;
        while i < end && format.get(i) != Some(&b'%') {
            i += 1;
        }
        buf.push(format.get(literal_start..i).unwrap_or_default())?;
        if i >= end {
            break;
        }
        i += 1;
        let mut sp = Spec::default();
        while let Some(&c) = format.get(i) {
            match c {
                b'#' => sp.sharp = true,
                b'0' => sp.zero = !sp.minus,
                b'+' => sp.plus = true,
                b'-' => {
                    sp.minus = true;
                    sp.zero = false;
                }
                b' ' => sp.space = true,
                _ => break,
            }
            i += 1;
        }
        if format.get(i) == Some(&b'*') {
            i += 1;
            match int_from_arg(args, &mut arg_num) {
                Some(w) => {
                    if w < 0 {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    sp.width = usize::try_from(w.unsigned_abs()).ok();
                }
                None => buf.push(b"%!(BADWIDTH)")?,
            }
        } else {
            let (n, present, next) = parse_num(format, i);
            i = next;
            sp.width = present.then_some(n);
        }
        if format.get(i) == Some(&b'.') {
            i += 1;
            if format.get(i) == Some(&b'*') {
                i += 1;
                match int_from_arg(args, &mut arg_num) {
                    Some(p) => sp.prec = usize::try_from(p).ok(),
                    None => buf.push(b"%!(BADPREC)")?,
                }
            } else {
                let (n, present, next) = parse_num(format, i);
                i = next;
                sp.prec = Some(if present { n } else { 0 });
            }
        }
        let Some(rest) = format.get(i..).filter(|r| !r.is_empty()) else {
            buf.push(b"%!(NOVERB)")?;
            break;
        };
        let (verb, width) = super::value::decode_rune(rest);
        let verb = verb.unwrap_or(char::REPLACEMENT_CHARACTER);
        i += width;
        if verb == '%' {
            buf.push(b"%")?;
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            buf.push(b"%!")?;
            buf.push_char(verb)?;
            buf.push(b"(MISSING)")?;
            continue;
        };
        arg_num += 1;
        print_arg(buf, arg, verb, &sp, false)?;
    }
    if arg_num < args.len() {
        buf.push(b"%!(EXTRA ")?;
        for (k, arg) in args.iter().skip(arg_num).enumerate() {
            if k > 0 {
                buf.push(b", ")?;
            }
            if let Value::Nil = arg {
                buf.push(b"<nil>")?;
            } else {
                buf.push_str(arg.type_name())?;
                buf.push(b"=")?;
                write_value(buf, arg)?;
            }
        }
        buf.push(b")")?;
    }
    Ok(())
}

/// Digits at `start`: the number, whether there was one, where it ends. Too large a number
/// consumes the rest of the format, as in Go.
fn parse_num(format: &[u8], start: usize) -> (usize, bool, usize) {
    let mut n = 0usize;
    let mut i = start;
    while let Some(d) = format.get(i).filter(|d| d.is_ascii_digit()) {
        if n > MAX_NUM {
            return (0, false, format.len());
        }
        n = n * 10 + usize::from(d - b'0');
        i += 1;
    }
    (n, i > start, i)
}

fn int_from_arg(args: &[Value], arg_num: &mut usize) -> Option<i64> {
    let arg = args.get(*arg_num)?;
    *arg_num += 1;
    match arg {
        Value::Int(n) if n.unsigned_abs() <= MAX_NUM as u64 => Some(*n),
        _ => None,
    }
}

fn write_padding(buf: &mut Buf, n: usize, zero: bool) -> R {
    buf.push_repeated(if zero { b'0' } else { b' ' }, n)
}

/// `s` padded to the width, counted in characters.
fn pad(buf: &mut Buf, sp: &Spec, s: &[u8]) -> R {
    let fill = sp.width.map_or(0, |w| w.saturating_sub(runes(s).count()));
    if fill == 0 {
        return buf.push(s);
    }
    if sp.minus {
        buf.push(s)?;
        write_padding(buf, fill, false)
    } else {
        write_padding(buf, fill, sp.zero)?;
        buf.push(s)
    }
}

fn print_arg(buf: &mut Buf, v: &Value, verb: char, sp: &Spec, nested: bool) -> R {
    if verb == 'v' && sp.sharp {
        return Err(Overflow(Limit::Unsupported("%#v")));
    }
    if verb == 'T' {
        return pad(buf, sp, v.type_name().as_bytes());
    }
    match v {
        Value::Nil if nested || verb == 'v' => pad(buf, sp, b"<nil>"),
        Value::Nil => bad_verb(buf, verb, v, sp),
        Value::Bool(b) => match verb {
            't' | 'v' => pad(buf, sp, if *b { b"true" } else { b"false" }),
            _ => bad_verb(buf, verb, v, sp),
        },
        Value::Int(i) => fmt_int(buf, *i, verb, sp),
        Value::Float(f) => fmt_float(buf, *f, verb, sp),
        Value::Str(s) => fmt_str(buf, s, verb, sp),
        Value::Time(t) => fmt_time(buf, t, verb, sp),
        Value::List(list) => {
            buf.push(b"[")?;
            for (i, item) in list.items.iter().enumerate() {
                if i > 0 {
                    buf.push(b" ")?;
                }
                print_arg(buf, item, verb, sp, true)?;
            }
            buf.push(b"]")
        }
        Value::Map(map) => {
            buf.push(b"map[")?;
            for (i, (key, item)) in map.entries().iter().enumerate() {
                if i > 0 {
                    buf.push(b" ")?;
                }
                fmt_str(buf, key, verb, sp)?;
                buf.push(b":")?;
                print_arg(buf, item, verb, sp, true)?;
            }
            buf.push(b"]")
        }
    }
}

/// A `time.Time` is a `fmt.Stringer`: the string verbs print `t.String()`.
fn fmt_time(buf: &mut Buf, t: &super::gotime::Time, verb: char, sp: &Spec) -> R {
    if !matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') {
        return Err(Overflow(Limit::Unsupported(
            "a verb other than %v %s %q %x of a time",
        )));
    }
    let mut text = Buf::new(usize::MAX, Limit::Value);
    super::golayout::write_time(&mut text, t)?;
    fmt_str(buf, &Str::new(text.into_bytes()), verb, sp)
}

/// `%!d(string=abc)`: the verb does not fit the value. Goes to the output, never to a message.
fn bad_verb(buf: &mut Buf, verb: char, v: &Value, sp: &Spec) -> R {
    buf.push(b"%!")?;
    buf.push_char(verb)?;
    buf.push(b"(")?;
    if let Value::Nil = v {
        buf.push(b"<nil>")?;
    } else {
        buf.push_str(v.type_name())?;
        buf.push(b"=")?;
        print_arg(buf, v, 'v', sp, false)?;
    }
    buf.push(b")")
}

fn fmt_str(buf: &mut Buf, s: &Str, verb: char, sp: &Spec) -> R {
    let bytes = s.as_bytes();
    let truncated = match sp.prec {
        Some(p) => runes(bytes)
            .nth(p)
            .map_or(bytes, |(start, _, _)| bytes.get(..start).unwrap_or(bytes)),
        None => bytes,
    };
    match verb {
        'v' | 's' => pad(buf, sp, truncated),
        'x' => fmt_hex_bytes(buf, bytes, sp, LOWER_HEX),
        'X' => fmt_hex_bytes(buf, bytes, sp, UPPER_HEX),
        'q' => {
            let mut quoted = Buf::new(super::MAX_VALUE_BYTES, Limit::Value);
            if sp.sharp && can_backquote(truncated) {
                quoted.push(b"`")?;
                quoted.push(truncated)?;
                quoted.push(b"`")?;
            } else {
                write_quoted(&mut quoted, truncated, '"', sp.plus)?;
            }
            pad(buf, sp, quoted.as_bytes())
        }
        _ => bad_verb(buf, verb, &Value::Str(s.clone()), sp),
    }
}

fn can_backquote(s: &[u8]) -> bool {
    runes(s).all(|(_, _, c)| match c {
        None | Some('`' | '\u{feff}') => false,
        Some(c) => c == '\t' || !c.is_control(),
    })
}

/// `%x` of a string: two hex digits a byte; `#` adds 0x, space separates bytes.
fn fmt_hex_bytes(buf: &mut Buf, s: &[u8], sp: &Spec, digits: &[u8; 16]) -> R {
    let length = sp.prec.map_or(s.len(), |p| p.min(s.len()));
    let prefix: &[u8] = if digits == UPPER_HEX { b"0X" } else { b"0x" };
    let mut width = 2 * length;
    if width == 0 {
        return write_padding(buf, sp.width.unwrap_or(0), sp.zero);
    }
    if sp.space {
        if sp.sharp {
            width *= 2;
        }
        width += length - 1;
    } else if sp.sharp {
        width += 2;
    }
    let fill = sp.width.map_or(0, |w| w.saturating_sub(width));
    if !sp.minus {
        write_padding(buf, fill, sp.zero)?;
    }
    if sp.sharp {
        buf.push(prefix)?;
    }
    for (i, &byte) in s.iter().take(length).enumerate() {
        if sp.space && i > 0 {
            buf.push(b" ")?;
            if sp.sharp {
                buf.push(prefix)?;
            }
        }
        buf.push(&[
            digits[usize::from(byte >> 4)],
            digits[usize::from(byte & 15)],
        ])?;
    }
    if sp.minus {
        write_padding(buf, fill, false)?;
    }
    Ok(())
}

fn fmt_int(buf: &mut Buf, i: i64, verb: char, sp: &Spec) -> R {
    let (radix, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            return pad(buf, sp, c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        'q' => {
            let c = u32::try_from(i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut quoted = Buf::new(64, Limit::Value);
            write_quoted(
                &mut quoted,
                c.encode_utf8(&mut [0; 4]).as_bytes(),
                '\'',
                sp.plus,
            )?;
            return pad(buf, sp, quoted.as_bytes());
        }
        'U' => {
            let mut text = format!("U+{:04X}", i);
            if let Some(c) = u32::try_from(i).ok().and_then(char::from_u32) {
                if sp.sharp && is_print(c) {
                    text.push_str(&format!(" '{c}'"));
                }
            }
            return pad(buf, sp, text.as_bytes());
        }
        _ => return bad_verb(buf, verb, &Value::Int(i), sp),
    };
    let negative = i < 0;
    let mut magnitude = i.unsigned_abs();
    let mut digits = Vec::new();
    loop {
        let d = (magnitude % radix) as usize;
        digits.push(if upper { UPPER_HEX[d] } else { LOWER_HEX[d] });
        magnitude /= radix;
        if magnitude == 0 {
            break;
        }
    }
    digits.reverse();
    let mut prec = 0;
    if let Some(p) = sp.prec {
        if p == 0 && i == 0 {
            return write_padding(buf, sp.width.unwrap_or(0), false);
        }
        prec = p;
    } else if let (true, Some(w)) = (sp.zero, sp.width) {
        prec = w;
        if negative || sp.plus || sp.space {
            prec = prec.saturating_sub(1);
        }
    }
    let zeros = prec.saturating_sub(digits.len());
    let mut prefix: Vec<u8> = Vec::new();
    if negative {
        prefix.push(b'-');
    } else if sp.plus {
        prefix.push(b'+');
    } else if sp.space {
        prefix.push(b' ');
    }
    if verb == 'O' {
        prefix.extend_from_slice(b"0o");
    }
    if sp.sharp {
        match radix {
            2 => prefix.extend_from_slice(b"0b"),
            8 if zeros == 0 && digits.first() != Some(&b'0') => prefix.push(b'0'),
            16 => prefix.extend_from_slice(if upper { b"0X" } else { b"0x" }),
            _ => {}
        }
    }
    let total = prefix.len() + zeros + digits.len();
    let fill = sp.width.map_or(0, |w| w.saturating_sub(total));
    if !sp.minus {
        write_padding(buf, fill, false)?;
    }
    buf.push(&prefix)?;
    buf.push_repeated(b'0', zeros)?;
    buf.push(&digits)?;
    if sp.minus {
        write_padding(buf, fill, false)?;
    }
    Ok(())
}

fn fmt_float(buf: &mut Buf, f: f64, verb: char, sp: &Spec) -> R {
    let (verb, prec) = match verb {
        'v' => ('g', sp.prec),
        'g' | 'G' if sp.sharp => return Err(Overflow(Limit::Unsupported("%#g of a float"))),
        'g' | 'G' => (verb, sp.prec),
        'e' | 'E' | 'f' | 'F' => (verb, Some(sp.prec.unwrap_or(6))),
        'x' => return Err(Overflow(Limit::Unsupported("%x of a float"))),
        'X' => return Err(Overflow(Limit::Unsupported("%X of a float"))),
        'b' => return Err(Overflow(Limit::Unsupported("%b of a float"))),
        _ => return bad_verb(buf, verb, &Value::Float(f), sp),
    };
    let mut sign = if f.is_sign_negative() && !f.is_nan() {
        b'-'
    } else {
        b'+'
    };
    if sp.space && sign == b'+' && !sp.plus {
        sign = b' ';
    }
    if !f.is_finite() {
        let text: &[u8] = if f.is_nan() { b"NaN" } else { b"Inf" };
        let mut num = vec![sign];
        num.extend_from_slice(text);
        let shown = if f.is_nan() && !sp.space && !sp.plus {
            &num[1..]
        } else {
            &num[..]
        };
        let mut no_zero = *sp;
        no_zero.zero = false;
        return pad(buf, &no_zero, shown);
    }
    let mut digits = format_float(f.abs(), verb, prec);
    if sp.sharp && prec == Some(0) {
        // Go's `#`: a decimal point even without decimals (`1.e+00`, `1.`).
        let at = digits.find(['e', 'E']).unwrap_or(digits.len());
        digits.insert(at, '.');
    }
    if sp.plus || sign != b'+' {
        let total = digits.len() + 1;
        if let (true, Some(w)) = (sp.zero, sp.width) {
            if w > total {
                buf.push(&[sign])?;
                write_padding(buf, w - total, true)?;
                return buf.push_str(&digits);
            }
        }
        let mut num = vec![sign];
        num.extend_from_slice(digits.as_bytes());
        return pad(buf, sp, &num);
    }
    pad(buf, sp, digits.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printf(format: &str, args: &[Value]) -> String {
        let mut buf = Buf::new(1 << 20, Limit::Value);
        assert!(sprintf(&mut buf, format.as_bytes(), args).is_ok());
        String::from_utf8_lossy(buf.as_bytes()).into_owned()
    }

    fn float(f: f64) -> String {
        printf("%v", &[Value::Float(f)])
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(float(1e6), "1e+06");
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(1.5), "1.5");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(-2.0), "-2");
        assert_eq!(float(0.0), "0");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(1.234567e100), "1.234567e+100");
        assert_eq!(
            printf(
                "%.2f|%e|%.3g|%g",
                &[
                    Value::Float(1.23456),
                    Value::Float(1234.5),
                    Value::Float(1.0),
                    Value::Float(100000.0)
                ]
            ),
            "1.23|1.234500e+03|1|100000"
        );
        assert_eq!(
            printf(
                "%08.3f|%+.1f|%-6.1f|",
                &[Value::Float(-1.23456), Value::Float(2.0), Value::Float(2.0)]
            ),
            "-001.235|+2.0|2.0   |"
        );
    }

    #[test]
    fn printf_verbs_and_flags() {
        let s = |t: &str| Value::text(t);
        assert_eq!(
            printf(
                "%5d|%-5d|%05d|%x|%X|%#x|%o|%b|%c|%q|%U",
                &[
                    Value::Int(42),
                    Value::Int(42),
                    Value::Int(-42),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(65),
                    Value::Int(65),
                    Value::Int(0x1F600)
                ]
            ),
            "   42|42   |-0042|ff|FF|0xff|10|101|A|'A'|U+1F600"
        );
        assert_eq!(
            printf(
                "%s|%10s|%-4s|%.2s|%q|%x|% x|%v",
                &[
                    s("hi"),
                    s("hi"),
                    s("hi"),
                    s("hello"),
                    s("a\"b\n"),
                    s("hi"),
                    s("hi"),
                    s("v")
                ]
            ),
            "hi|        hi|hi  |he|\"a\\\"b\\n\"|6869|68 69|v"
        );
        assert_eq!(
            printf("%d|%s|%t", &[s("x"), Value::Int(1), Value::Nil]),
            "%!d(string=x)|%!s(int=1)|%!t(<nil>)"
        );
        assert_eq!(printf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            printf("%d", &[Value::Int(1), s("x"), Value::Nil]),
            "1%!(EXTRA string=x, <nil>)"
        );
        assert_eq!(printf("%!|%", &[]), "%!!(MISSING)|%!(NOVERB)");
        assert_eq!(
            printf(
                "%*d|%.*f|%%",
                &[
                    Value::Int(4),
                    Value::Int(7),
                    Value::Int(1),
                    Value::Float(2.25)
                ]
            ),
            "   7|2.2|%"
        );
        assert_eq!(printf("%T %T", &[s("x"), Value::Nil]), "string <nil>");
    }

    #[test]
    fn quoting_follows_strconv() {
        assert_eq!(
            go_quote("a\"\\\u{7}\u{1}é\u{a0}"),
            "\"a\\\"\\\\\\a\\x01é\\u00a0\""
        );
        let mut buf = Buf::new(100, Limit::Value);
        assert!(write_quoted(&mut buf, b"\xffa", '"', false).is_ok());
        assert_eq!(buf.as_bytes(), b"\"\\xffa\"");
    }
}
