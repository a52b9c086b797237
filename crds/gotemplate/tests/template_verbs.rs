//! `printf` over every verb, flag set, width, precision and kind of argument (issue 13, item 2):
//! each rendering either gives Go's output or a template error, never a panic, and stays within
//! the output bound. Spot checks compare with what Go's `fmt` prints for the same call.

use std::collections::BTreeMap;

use gotemplate::{Template, MAX_OUTPUT_BYTES, TEMPLATE_NAME};
use zeroize::Zeroizing;

type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// Go's verbs, and some letters that are not verbs (Go prints `%!z(int=1)` for those).
const VERBS: &[char] = &[
    'v', 'T', 't', 'b', 'c', 'd', 'o', 'O', 'q', 'x', 'X', 'U', 'e', 'E', 'f', 'F', 'g', 'G', 's',
    'p', 'z', 'w', '%',
];

/// Arguments of every kind a template can pass, as template expressions.
const ARGS: &[&str] = &[
    "0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "0x7f",
    "1.0",
    "-0.0",
    "1e308",
    "5e-324",
    "0.1",
    "-2.5e-10",
    r#"(div 0.0 0.0)"#,
    r#""""#,
    r#""s3""#,
    r#""héllo, 世界""#,
    r#""\xff\xfe""#,
    "true",
    "nil",
    r#"(list 1 "a" 2.5)"#,
    r#"(dict "k" "v")"#,
    ".v",
    "'x'",
];

/// Width or precision: none, small ones, around u16, Go's limit (10⁶) and past it.
const NUMS: &[&str] = &[
    "",
    "0",
    "1",
    "7",
    "65535",
    "65536",
    "1000000",
    "1000001",
    "99999999999999999999",
];

fn values() -> Values {
    BTreeMap::from([("v".to_owned(), Zeroizing::new(b"value".to_vec()))])
}

/// Renders `{{ printf FORMAT ARG }}`: the output, or the error's text.
fn printf(format: &str, arg: &str, values: &Values) -> Result<Vec<u8>, String> {
    let text = format!("{{{{ printf {format:?} {arg} }}}}");
    let template = Template::parse(TEMPLATE_NAME, &text).map_err(|e| e.to_string())?;
    template
        .execute(values)
        .map(|out| out.to_vec())
        .map_err(|e| e.to_string())
}

/// Every subset of Go's flags, each flag once, in a fixed order.
fn flag_sets() -> Vec<String> {
    let flags = ['+', '-', '#', '0', ' '];
    (0..1u32 << flags.len())
        .map(|mask| {
            flags
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, f)| *f)
                .collect()
        })
        .collect()
}

fn check(format: &str, arg: &str, values: &Values) {
    let rendered = std::panic::catch_unwind(|| printf(format, arg, values));
    match rendered {
        Ok(Ok(out)) => assert!(
            out.len() <= MAX_OUTPUT_BYTES,
            "printf {format:?} {arg}: {} bytes, over the output bound",
            out.len()
        ),
        Ok(Err(message)) => {
            assert!(
                message.starts_with("template: "),
                "printf {format:?} {arg}: {message}"
            );
            assert!(!message.contains('\n'), "one line: {message:?}");
        }
        Err(_) => panic!("printf {format:?} {arg} panicked"),
    }
}

#[test]
fn every_verb_with_every_flag_set_and_small_widths_renders_or_errs() {
    let values = values();
    for verb in VERBS {
        for flags in flag_sets() {
            for width in ["", "3"] {
                for precision in ["", ".0", ".2"] {
                    let format = format!("%{flags}{width}{precision}{verb}");
                    for arg in ARGS {
                        check(&format, arg, &values);
                    }
                }
            }
        }
    }
}

#[test]
fn every_verb_with_extreme_widths_and_precisions_renders_or_errs() {
    let values = values();
    // One argument of each kind: the large outputs make the full cross product slow.
    let args = [
        "-9223372036854775808",
        "5e-324",
        "1e308",
        r#""héllo""#,
        "true",
        "nil",
        r#"(list 1 "a")"#,
    ];
    for verb in VERBS {
        for flags in ["", "-", "0", "#", "+ "] {
            for width in NUMS {
                for precision in NUMS {
                    let precision = if precision.is_empty() {
                        String::new()
                    } else {
                        format!(".{precision}")
                    };
                    let format = format!("%{flags}{width}{precision}{verb}");
                    for arg in args {
                        check(&format, arg, &values);
                    }
                }
            }
        }
    }
}

#[test]
fn star_widths_and_precisions_take_any_int() {
    let values = values();
    for n in [
        "0",
        "-1",
        "7",
        "65536",
        "1000000",
        "1000001",
        "-1000001",
        "9223372036854775807",
        "-9223372036854775808",
        r#""x""#,
        "nil",
        "1.5",
    ] {
        for format in ["%*d", "%.*f", "%*.*s", "%-*v", "%*.*e"] {
            check(format, &format!("{n} {n} 42"), &values);
        }
    }
}

#[test]
fn the_outputs_are_gos() {
    let values = values();
    let go = |format: &str, arg: &str| {
        String::from_utf8(printf(format, arg, &values).expect(format)).expect("utf-8")
    };
    // What Go 1.22's fmt prints for the same calls.
    assert_eq!(go("%5.2f", "3.14159"), " 3.14");
    assert_eq!(go("%-6d|", "42"), "42    |");
    assert_eq!(go("%+d", "5"), "+5");
    assert_eq!(go("%#x", "255"), "0xff");
    assert_eq!(go("%08.3f", "-3.5"), "-003.500");
    assert_eq!(go("%x", r#""hi""#), "6869");
    assert_eq!(go("% x", r#""hi""#), "68 69");
    assert_eq!(go("%q", r#""a\"b""#), r#""a\"b""#);
    assert_eq!(go("%d", r#""s""#), "%!d(string=s)");
    assert_eq!(go("%z", "1"), "%!z(int=1)");
    // Go stops reading a width or precision once it is past 10⁶ and another digit follows: the
    // rest of the format is taken as a number, and the verb is missing.
    assert_eq!(go("%1000001d", "1").len(), 1_000_001);
    assert_eq!(
        go("%99999999999999999999d", "1"),
        "%!(NOVERB)%!(EXTRA int=1)"
    );
    assert_eq!(go("%*d", "1000001 1"), "%!(BADWIDTH)1");
    assert_eq!(go("%.*d", "1000001 1"), "%!(BADPREC)1");
    assert_eq!(go("%e", "1e308"), "1.000000e+308");
    assert_eq!(go("%g", "5e-324"), "5e-324");
    assert_eq!(go("%v", "nil"), "<nil>");
    assert_eq!(go("%t", "true"), "true");
    assert_eq!(go("%c", "0x4e16"), "世");
    assert_eq!(go("%U", "0x1F600"), "U+1F600");
    assert_eq!(go("%o", "8"), "10");
    assert_eq!(go("%O", "8"), "0o10");
    assert_eq!(go("%b", "5"), "101");
    assert_eq!(go("%6.2s|", r#""héllo""#), "    hé|");
    assert_eq!(go("%v", r#"(list 1 "a" 2.5)"#), "[1 a 2.5]");
    assert_eq!(go("%d", "nil"), "%!d(<nil>)");
    assert_eq!(go("%.3x", r#""abcdef""#), "616263");
    assert_eq!(go("%10.4v|", "3.14159"), "     3.142|");
    let wide = go("%1000000d", "1");
    assert_eq!(wide.len(), 1_000_000);
    assert!(wide.ends_with(" 1"));
}
