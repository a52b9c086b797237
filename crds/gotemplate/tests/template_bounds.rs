//! Issue 13: a template from any SealedSecret author cannot stall unsealing. Every call is
//! charged for the bytes it reads and writes, `trimAll` is linear, a rendering has a wall-clock
//! limit, and a float verb with Go's largest precision renders instead of panicking.

use std::collections::BTreeMap;
use std::time::Duration;

use gotemplate::{Template, MAX_WORK_BYTES, TEMPLATE_NAME};
use zeroize::Zeroizing;

type Values = BTreeMap<String, Zeroizing<Vec<u8>>>;

fn values() -> Values {
    BTreeMap::from([
        ("big".to_owned(), Zeroizing::new(vec![b' '; 1 << 20])),
        ("x".to_owned(), Zeroizing::new(b"value".to_vec())),
    ])
}

fn render(template: &str) -> Result<Vec<u8>, String> {
    Template::parse(TEMPLATE_NAME, template)
        .and_then(|t| t.execute(&values()))
        .map(|out| out.to_vec())
        .map_err(|e| e.to_string())
}

fn work_limit() -> String {
    format!("rendering exceeds the work limit of {MAX_WORK_BYTES} bytes read and written")
}

#[test]
fn the_quadratic_trim_all_reproducer_is_cheap_now() {
    // 71 bytes of template; took 72 s in one call before the cutset became a set. sprig's
    // argument order: the cutset first, so every `a` of the input is trimmed.
    let out = render(r#"{{ trimAll (print (repeat 1000000 "b") "a") (repeat 1000000 "a") }}"#)
        .expect("renders");
    assert!(out.is_empty());
    let out = render(r#"{{ trimAll (repeat 1000000 "a") (print (repeat 1000000 "b") "a") }}"#)
        .expect("renders");
    assert_eq!(out.len(), 1_000_000, "the b's are kept, the a trimmed");
}

#[test]
fn calling_a_function_on_a_large_value_many_times_runs_out_of_work_budget() {
    let err = render(r#"{{ range 300000 }}{{ trim $.big }}{{ end }}"#).expect_err("bounded");
    assert!(err.ends_with(&work_limit()), "{err}");
    assert!(err.contains("error calling trim"), "{err}");
    let err = render(r#"{{ range 300000 }}{{ if eq $.big $.big }}{{ end }}{{ end }}"#)
        .expect_err("comparisons read too");
    assert!(err.ends_with(&work_limit()), "{err}");
}

#[test]
fn a_rendering_over_its_time_limit_stops_and_names_it() {
    let t = Template::parse(TEMPLATE_NAME, "{{ range 900000 }}{{ end }}").expect("parses");
    let err = t
        .execute_within(&values(), Duration::from_nanos(1))
        .expect_err("over time")
        .to_string();
    assert!(
        err.ends_with("rendering exceeds the time limit of 1ns"),
        "{err}"
    );
    assert!(
        t.execute(&values()).is_ok(),
        "fast enough with the default limit"
    );
}

#[test]
fn float_verbs_with_huge_precision_render_as_go() {
    let out = String::from_utf8(render(r#"{{ printf "%.70000e" 1.0 }}"#).expect("renders"))
        .expect("UTF-8");
    assert_eq!(out.len(), "1.".len() + 70_000 + "e+00".len());
    assert!(
        out.starts_with("1.000") && out.ends_with("0e+00"),
        "{}",
        &out[..10]
    );
}
