//! Templates written to stall or crash the controller (issue 13): every one fails fast with a
//! message naming the bound, or renders as Go does, and none panics.

use std::collections::BTreeMap;

use crds::convert::TemplateRenderer;
use gotemplate::GoTemplates;
use zeroize::Zeroizing;

type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

fn values() -> Values {
    [("user", &b"admin"[..]), ("big", &[b'x'; 1 << 20][..])]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.to_vec())))
        .collect()
}

fn render(template: &str) -> Result<Vec<u8>, String> {
    GoTemplates
        .render(template, &values())
        .map(|out| out.to_vec())
}

fn ok(template: &str) -> String {
    match render(template) {
        Ok(out) => String::from_utf8(out).expect("UTF-8 output"),
        Err(e) => panic!("{template:?} failed: {e}"),
    }
}

fn err(template: &str) -> String {
    match render(template) {
        Ok(out) => panic!("{template:?} rendered {} bytes", out.len()),
        Err(e) => e,
    }
}

#[test]
fn float_precisions_up_to_go_limit_render_as_go() {
    let e = ok(r#"{{ printf "%.70000e" 1.0 }}"#);
    assert_eq!(e, format!("1.{}e+00", "0".repeat(70_000)));
    let f = ok(r#"{{ printf "%.1000000f" 0.5 }}"#);
    assert_eq!(f, format!("0.5{}", "0".repeat(999_999)));
    let g = ok(r#"{{ printf "%.70000g" 0.1 }}"#);
    assert!(g.starts_with("0.1000000000000000055511151231257827021181583404541015625"));
    assert!(!g.ends_with('0'), "%g drops trailing zeros");
    assert_eq!(ok(r#"{{ printf "%.*e" 65536 2.0 }}"#).len(), 65536 + 6);
}

#[test]
fn go_sharp_flag_on_floats() {
    assert_eq!(
        ok(r#"{{ printf "%#.0e|%#.0f|%#.1f" 1.0 2.0 3.0 }}"#),
        "1.e+00|2.|3.0"
    );
}

#[test]
fn float_verbs_not_implemented_are_errors() {
    for (verb, what) in [
        ("%x", "%x of a float"),
        ("%X", "%X of a float"),
        ("%b", "%b of a float"),
        ("%#g", "%#g of a float"),
        ("%#v", "%#v"),
    ] {
        let message = err(&format!("{{{{ printf {verb:?} 1.5 }}}}"));
        assert!(
            message.ends_with(&format!(
                "error calling printf: printf: {what} is not supported"
            )),
            "{message}"
        );
    }
}
