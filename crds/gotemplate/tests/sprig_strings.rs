//! sprig's string functions at their bounds: huge patterns, inputs and widths fail with a
//! clear error or finish quickly, never hang, overflow the stack or allocate without bound
//! (their outputs are checked against Go in `template_oracle.rs`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gotemplate::{Template, MAX_VALUE_BYTES, TEMPLATE_NAME};
use zeroize::Zeroizing;

/// Far above what these take even unoptimised on a busy machine (a second at most); a hang or
/// a quadratic blow-up exceeds it.
const QUICK: Duration = Duration::from_secs(20);

fn values() -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    BTreeMap::from([("big".to_owned(), Zeroizing::new(b"ab ".repeat(300_000)))])
}

/// The rendering, checked to be quick.
fn render(template: &str) -> Result<String, String> {
    let start = Instant::now();
    let out = Template::parse(TEMPLATE_NAME, template)
        .and_then(|t| t.execute(&values()))
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .map_err(|e| e.to_string());
    assert!(
        start.elapsed() < QUICK,
        "{template} took {:?}",
        start.elapsed()
    );
    out
}

fn fails_with(template: &str, message: &str) {
    let err = render(template).expect_err(template);
    assert!(err.contains(message), "{template}: {err}");
}

#[test]
fn huge_patterns_are_refused_before_they_cost() {
    fails_with(
        r#"{{ regexMatch (repeat 70000 "a") "x" }}"#,
        "regular expression longer than 65536 bytes",
    );
    fails_with(
        r#"{{ regexMatch (repeat 51 "\\pL") "x" }}"#,
        "expression too large",
    );
    fails_with(
        r#"{{ regexMatch (repeat 20000 ".") "x" }}"#,
        "expression too large",
    );
    fails_with(
        r#"{{ regexMatch "((a{10}){10}){11}" "x" }}"#,
        "invalid repeat count",
    );
    fails_with(
        r#"{{ regexMatch (print (repeat 999 "(") (repeat 999 ")")) "x" }}"#,
        "expression nests too deeply",
    );
}

#[test]
fn patterns_within_the_bounds_compile() {
    for template in [
        r#"{{ regexMatch (print (repeat 240 "(") (repeat 240 ")")) "" }}"#,
        r#"{{ regexMatch (print (repeat 100 "(?:[\\D]?") (repeat 100 ")")) "" }}"#,
        r#"{{ regexMatch (repeat 50 "(?i)\\pL?") "" }}"#,
        r#"{{ regexMatch "((a{10}){10}){10}" (repeat 1000 "a") }}"#,
        r#"{{ regexMatch (repeat 30000 "a?") "" }}"#,
    ] {
        assert_eq!(render(template).as_deref(), Ok("true"), "{template}");
    }
}

#[test]
fn large_inputs_are_linear_and_results_bounded() {
    let too_big = format!("result exceeds the limit of {MAX_VALUE_BYTES} bytes");
    fails_with(r#"{{ regexReplaceAll "" .big "x" }}"#, &too_big);
    fails_with(r#"{{ wrapWith 1 "<br>" .big }}"#, &too_big);
    for (template, want) in [
        (r#"{{ regexMatch "(a*)*(b*)*$" .big }}"#, "true"),
        (r#"{{ regexFindAll "" .big -1 | len }}"#, "900001"),
        (r#"{{ regexSplit " " .big -1 | len }}"#, "300001"),
        (
            r#"{{ regexReplaceAll "(a)(b)" .big "$2$1" | len }}"#,
            "900000",
        ),
        (r#"{{ wrap 1 .big | len }}"#, "900000"),
        (r#"{{ wrap 9223372036854775807 .big | len }}"#, "900000"),
        (r#"{{ snakecase .big | len }}"#, "900000"),
        (r#"{{ camelcase .big | len }}"#, "600001"),
        (
            r#"{{ abbrevboth 400000 9223372036854775807 .big | len }}"#,
            "900000",
        ),
        (r#"{{ splitn "b" -1 .big | len }}"#, "300001"),
        (
            r#"{{ trunc 600000 .big | b32enc | b32dec | len }}"#,
            "600000",
        ),
        (
            r#"{{ (urlParse (print "http://h/" .big)).path | len }}"#,
            "900001",
        ),
        (r#"{{ clean (repeat 300000 "../") | len }}"#, "899999"),
        (
            r#"{{ semverCompare (repeat 10000 ">1 ") "1.0.0" }}"#,
            "false",
        ),
    ] {
        assert_eq!(render(template).as_deref(), Ok(want), "{template}");
    }
}
