//! A small YAML emitter for JSON values that makes the same choices as Go's `sigs.k8s.io/yaml`
//! (go-yaml v2), which writes every manifest `kubeseal` and `kubectl` print:
//! keys sorted by the caller, sequences not indented under their key, and any string that YAML 1.1
//! would read as something else (`"true"`, `"yes"`, `"on"`, `"123"`, `"1e3"`, `"2024-01-01"`,
//! `""`, `"~"`) double-quoted. The last point is a correctness matter, not style: kubectl reads
//! YAML 1.1, so an unquoted `yes` would become a boolean.
//!
//! Keys longer than 128 bytes or spanning lines are written as explicit `? key` / `: value`
//! pairs (as go-yaml does; YAML allows implicit keys of at most 1024 characters on one line). A
//! value made only of line breaks, or holding a break other than `\n`, is double-quoted (a block
//! of nothing but breaks would read back as `""`).
//!
//! Not reproduced: go-yaml folds plain strings with spaces longer than 80 columns; we keep them
//! on one line (same value when read back).

use serde_json::Value;

/// Emits a value as a YAML document (no `---` marker), ending in a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_mapping(&mut out, value, 0),
        Value::Array(items) if !items.is_empty() => emit_sequence(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn emit_mapping(out: &mut String, value: &Value, indent: usize) {
    let Value::Object(map) = value else { return };
    for (i, (key, v)) in map.iter().enumerate() {
        if i > 0 {
            push_indent(out, indent);
        }
        if simple_key_allowed(key) {
            out.push_str(&string_text(key, indent));
            out.push(':');
            emit_value_after_key(out, v, indent);
        } else {
            out.push_str("? ");
            out.push_str(&string_text(key, indent));
            out.push('\n');
            push_indent(out, indent);
            out.push(':');
            emit_value_after_complex_key(out, v, indent);
        }
    }
}

/// Whether libyaml (and so go-yaml) writes `key` as an implicit `key: value` key: at most 128
/// bytes and on one line. YAML limits implicit keys to 1024 characters on one line; longer or
/// multi-line keys get the explicit `? key` / `: value` form, as go-yaml writes them.
fn simple_key_allowed(key: &str) -> bool {
    key.len() <= 128 && !key.chars().any(is_break)
}

/// Writes what follows the `:` of an explicit `? key`, in go-yaml's compact shape.
fn emit_value_after_complex_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push(' ');
            emit_mapping(out, v, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push(' ');
            emit_sequence(out, items, indent + 2);
        }
        scalar => emit_value_after_key(out, scalar, indent),
    }
}

/// Writes what follows `key:` (or `- `), including the final newline.
fn emit_value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            push_indent(out, indent + 2);
            emit_mapping(out, v, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            push_indent(out, indent);
            emit_sequence(out, items, indent);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent));
            out.push('\n');
        }
    }
}

fn emit_sequence(out: &mut String, items: &[Value], indent: usize) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => emit_mapping(out, item, indent + 2),
            Value::Array(inner) if !inner.is_empty() => emit_sequence(out, inner, indent + 2),
            scalar => {
                out.push_str(&scalar_text(scalar, indent));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn scalar_text(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_text(s, indent),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
    }
}

/// A string as go-yaml v2 writes it: literal block for multi-line text, double quotes when YAML
/// 1.1 would resolve it to a non-string, plain when the emitter allows it, else single quotes.
fn string_text(s: &str, indent: usize) -> String {
    let multi_line = s.chars().any(is_break);
    if multi_line && literal_allowed(s) {
        return literal(s, indent);
    }
    let printable = s.chars().all(|c| is_printable(c) && !is_break(c));
    if !printable || multi_line || resolves_to_non_string(s) {
        return double_quoted(s);
    }
    if plain_allowed(s) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn is_printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// YAML 1.1's line breaks (libyaml's `IS_BREAK`): each makes a scalar multi-line.
fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn literal_allowed(s: &str) -> bool {
    // Only `\n` breaks and printable text; a block of nothing but line breaks would read back
    // as "" (clip) or needs an indentation hint, so it is quoted instead. Trailing spaces on a
    // line and spaces around line breaks cannot round-trip in block style.
    s.chars()
        .all(|c| c == '\n' || (is_printable(c) && !is_break(c)))
        && s.chars().any(|c| c != '\n')
        && !s.starts_with(' ')
        && !s.contains(" \n")
        && !s.contains("\n ")
        && !s.ends_with(' ')
}

fn literal(s: &str, indent: usize) -> String {
    let chomp = if s.ends_with("\n\n") {
        "+"
    } else if s.ends_with('\n') {
        ""
    } else {
        "-"
    };
    let body = s.strip_suffix('\n').unwrap_or(s);
    let mut out = format!("|{chomp}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent + 2));
            out.push_str(line);
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether libyaml's emitter would write `s` as a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    let second = s.chars().nth(1);
    if matches!(first, '-' | '?' | ':') && second.is_none_or(|c| c == ' ') {
        return false;
    }
    !(s.contains(": ") || s.ends_with(':') || s.contains(" #"))
}

/// Whether YAML 1.1 (go-yaml v2's resolver) reads the plain scalar `s` as something other than a
/// string. Errs on the side of quoting: quoting a string never changes its value.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 34] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "<<", "",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let Some(first) = s.chars().next() else {
        return true;
    };
    if !("+-.".contains(first) || first.is_ascii_digit()) {
        return false;
    }
    let digits = unsigned.replace('_', "");
    let all = |s: &str, f: fn(char) -> bool| !s.is_empty() && s.chars().all(f);
    if let Some(hex) = digits.strip_prefix("0x") {
        return all(hex, |c| c.is_ascii_hexdigit());
    }
    if let Some(bin) = digits.strip_prefix("0b") {
        return all(bin, |c| c == '0' || c == '1');
    }
    // YAML 1.2's octal: go-yaml v2 reads `0o17` as a string, YAML 1.2 readers (this project's
    // own among them) as a number; quoted, every reader agrees (found by fuzzing).
    if let Some(octal) = digits.strip_prefix("0o") {
        return all(octal, |c| ('0'..='7').contains(&c));
    }
    let base60 = digits.contains(':')
        && digits
            .split(':')
            .all(|part| all(part, |c| c.is_ascii_digit() || c == '.'));
    let timestamp = unsigned.len() >= 8
        && unsigned.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && unsigned.as_bytes()[4] == b'-';
    digits.parse::<f64>().is_ok() || base60 || timestamp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_what_yaml_1_1_would_misread() {
        for s in [
            "true",
            "yes",
            "on",
            "N",
            "123",
            "1e3",
            "0x1F",
            "0o111",
            "-0o7",
            "1.5",
            "",
            "~",
            "null",
            "2024-01-02",
            "1:20",
            "-1",
            ".inf",
        ] {
            assert_eq!(string_text(s, 0), format!("\"{s}\""), "{s:?}");
        }
        for s in [
            "mysecret",
            "Opaque",
            "kube-system",
            "a<b&c",
            "it's",
            "AgB+/==",
        ] {
            assert_eq!(string_text(s, 0), s, "{s:?}");
        }
    }

    #[test]
    fn single_quotes_indicators() {
        assert_eq!(string_text("a: b", 0), "'a: b'");
        assert_eq!(string_text("{\"x\":1}", 0), "'{\"x\":1}'");
        assert_eq!(string_text("#x", 0), "'#x'");
        assert_eq!(string_text(" lead", 0), "' lead'");
        assert_eq!(string_text("-", 0), "'-'");
    }

    #[test]
    fn multi_line_is_literal_and_tabs_are_escaped() {
        assert_eq!(string_text("a\nb", 2), "|-\n    a\n    b");
        assert_eq!(string_text("a\n", 0), "|\n  a");
        assert_eq!(string_text("a\tb", 0), "\"a\\tb\"");
    }

    #[test]
    fn long_and_multi_line_keys_are_explicit_as_in_go() {
        let long = "k".repeat(129);
        let v =
            json!({"a\nb": "v", long.clone(): {"x": "u", "z": "w"}, "l": [{"k\n": ["1", "2"]}]});
        assert_eq!(
            to_string(&v),
            format!(
                "? |-\n  a\n  b\n: v\n? {long}\n: x: u\n  z: w\nl:\n- ? |\n    k\n  : - \"1\"\n    - \"2\"\n"
            )
        );
        assert_eq!(
            to_string(&json!({"k".repeat(128): 1})),
            format!("{}: 1\n", "k".repeat(128))
        );
    }

    #[test]
    fn newline_only_and_other_breaks_are_double_quoted() {
        assert_eq!(string_text("\n", 0), "\"\\n\"");
        assert_eq!(string_text("\n\n", 0), "\"\\n\\n\"");
        assert_eq!(string_text("a\u{2028}b", 0), "\"a\\Lb\"");
        assert_eq!(string_text("a\u{85}", 0), "\"a\\N\"");
    }

    #[test]
    fn layout_matches_go() {
        let v = json!({"a": {"b": "c", "e": {}}, "l": [{"k": "v", "k2": "true"}, "x"], "nul": null, "z": []});
        assert_eq!(
            to_string(&v),
            "a:\n  b: c\n  e: {}\nl:\n- k: v\n  k2: \"true\"\n- x\nnul: null\nz: []\n"
        );
    }

    #[test]
    fn round_trips_through_a_yaml_parser() {
        let v = json!({"s": ["true", "a: b", "x\ny\n", "é\u{1}", "it's", "", " a", "2024-01-02T00:00:00Z"], "m": {"k": 1}});
        let back: Value = serde_yaml::from_str(&to_string(&v)).expect("valid YAML");
        assert_eq!(back, v);
    }
}
