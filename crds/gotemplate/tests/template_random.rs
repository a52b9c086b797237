//! Random templates (issue 13, item 2): templates generated from the grammar (actions,
//! pipelines, every function of the engine's table with random arguments, `if` / `range` /
//! `with` / `define` / `template` nesting, variables) and random bytes. Each one parses or is
//! refused with a one-line error; each parsed one renders or fails with a one-line error, never
//! panics, within the output bound and shortly after the deadline it was given.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gotemplate::{functions, Template, MAX_OUTPUT_BYTES, TEMPLATE_NAME};
use proptest::prelude::*;
use zeroize::Zeroizing;

type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// The deadline each random rendering gets, and how far past it a rendering may end.
const DEADLINE: Duration = Duration::from_millis(200);
const SLACK: Duration = Duration::from_millis(300);

fn values() -> Values {
    [
        ("user", &b"admin"[..]),
        ("pw", b"s3cr3t"),
        ("json", br#"{"a":[1,2]}"#),
        ("n", b"12"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.to_vec())))
    .collect()
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-3i64..70).prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_map(|f| format!("{f:?}"))
            .prop_filter("a Go float", |f| !f.contains("inf") && !f.contains("NaN")),
        "[a-z %:.,{}\\-]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("true".to_owned()),
        Just("nil".to_owned()),
        Just(".".to_owned()),
        Just("$".to_owned()),
        Just(".user".to_owned()),
        Just(".json".to_owned()),
        Just("$x".to_owned()),
        Just("\"%d %s %v %5.2f %x %q\"".to_owned()),
    ]
}

/// A pipeline: a function of the table applied to arguments, maybe piped into another.
fn pipeline() -> impl Strategy<Value = String> {
    let names = functions();
    let leaf = literal();
    leaf.prop_recursive(3, 24, 4, move |inner| {
        let names = names.clone();
        prop_oneof![
            (
                proptest::sample::select(names.clone()),
                proptest::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(f, args)| format!("({f} {})", args.join(" "))),
            (inner.clone(), proptest::sample::select(names))
                .prop_map(|(p, f)| format!("({p} | {f})")),
        ]
    })
}

/// A template: text and actions, nested.
fn template() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-z \n]{0,8}",
        pipeline().prop_map(|p| format!("{{{{ {p} }}}}")),
        pipeline().prop_map(|p| format!("{{{{ $x := {p} }}}}")),
        Just("{{ template \"t\" . }}".to_owned()),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|parts| parts.concat()),
            (pipeline(), inner.clone(), inner.clone())
                .prop_map(|(p, a, b)| format!("{{{{ if {p} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}")),
            (pipeline(), inner.clone())
                .prop_map(|(p, a)| format!("{{{{ range $i, $x := {p} }}}}{a}{{{{ end }}}}")),
            (pipeline(), inner.clone())
                .prop_map(|(p, a)| format!("{{{{ with {p} }}}}{a}{{{{ end }}}}")),
            inner
                .clone()
                .prop_map(|a| format!("{{{{ define \"t\" }}}}{a}{{{{ end }}}}{a}")),
        ]
    })
}

fn one_line(message: &str) {
    assert!(message.starts_with("template: "), "{message}");
    assert!(!message.contains('\n'), "one line: {message:?}");
}

fn render(text: &str) {
    match Template::parse(TEMPLATE_NAME, text) {
        Err(e) => one_line(&e.to_string()),
        Ok(template) => {
            let started = Instant::now();
            let outcome = template.execute_within(&values(), DEADLINE);
            let took = started.elapsed();
            assert!(took < DEADLINE + SLACK, "{text:?} rendered for {took:?}");
            match outcome {
                Ok(out) => assert!(out.len() <= MAX_OUTPUT_BYTES, "{text:?}"),
                Err(e) => one_line(&e.to_string()),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn generated_templates_render_or_fail_cleanly(text in template()) {
        render(&text);
    }

    #[test]
    fn random_text_with_braces_parses_or_fails_cleanly(text in "(\\{\\{|\\}\\}|[ -~]|\\n|é){0,80}") {
        render(&text);
    }
}

/// The generator is worth something only if many of its templates parse and render.
#[test]
fn most_generated_templates_parse_and_many_render() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = template();
    let (mut parsed, mut rendered) = (0, 0);
    for _ in 0..500 {
        let text = strategy
            .new_tree(&mut runner)
            .expect("a template")
            .current();
        if let Ok(t) = Template::parse(TEMPLATE_NAME, &text) {
            parsed += 1;
            if t.execute_within(&values(), DEADLINE).is_ok() {
                rendered += 1;
            }
        }
    }
    assert!(parsed > 400, "{parsed} of 500 parse");
    // Most functions of sprig's full set want lists, maps or numbers that random arguments
    // rarely are: the larger the table, the fewer random calls render.
    assert!(rendered > 30, "{rendered} of 500 render");
    eprintln!("random templates: {parsed} of 500 parse, {rendered} render");
}
