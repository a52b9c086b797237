//! sprig's lists and dicts within the bounds: maps changed in place (`set`, `merge`) never nest
//! deeper than the limit nor contain themselves, and copies, comparisons and chunks of large
//! or widely shared values stop at the work limit instead of running on.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gotemplate::{Template, TEMPLATE_NAME};
use zeroize::Zeroizing;

fn render(template: &str) -> Result<String, String> {
    let values = BTreeMap::from([("x".to_owned(), Zeroizing::new(b"value".to_vec()))]);
    Template::parse(TEMPLATE_NAME, template)
        .and_then(|t| t.execute(&values))
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .map_err(|e| e.to_string())
}

/// `{{ range }}` over `n` items.
fn times(n: usize) -> String {
    format!(r#"splitList "," (repeat {} ",")"#, n - 1)
}

const TOO_DEEP: &str = "values nest deeper than 64 levels";

#[test]
fn set_deepens_every_holder_of_the_map() {
    // Top down: each new map goes into the innermost one, held by all the others.
    let chain = |n: usize| {
        format!(
            r#"{{{{ $top := dict }}}}{{{{ $cur := $top }}}}{{{{ range {} }}}}{{{{ $n := dict }}}}{{{{ $_ := set $cur "n" $n }}}}{{{{ $cur = $n }}}}{{{{ end }}}}{{{{ $top | toJson | len }}}}"#,
            times(n)
        )
    };
    assert_eq!(render(&chain(63)).as_deref(), Ok("380"));
    let e = render(&chain(64)).expect_err("65 levels");
    assert!(e.contains(TOO_DEEP), "{e}");
    // Two chains of 40, each fine, joined end to top.
    let joined = format!(
        r#"{{{{ $a := dict }}}}{{{{ $cur := $a }}}}{{{{ range {n} }}}}{{{{ $m := dict }}}}{{{{ $_ := set $cur "n" $m }}}}{{{{ $cur = $m }}}}{{{{ end }}}}{{{{ $b := dict }}}}{{{{ range {n} }}}}{{{{ $b = dict "n" $b }}}}{{{{ end }}}}{{{{ $l := list (list $a) }}}}{{{{ $_ := set $cur "b" $b }}}}"#,
        n = times(40)
    );
    let e = render(&joined).expect_err("81 levels");
    assert!(e.contains(TOO_DEEP), "{e}");
}

#[test]
fn merge_deepens_the_holders_too() {
    let t = format!(
        r#"{{{{ $deep := dict }}}}{{{{ range {} }}}}{{{{ $deep = dict "n" $deep }}}}{{{{ end }}}}{{{{ $d := dict "a" (dict) }}}}{{{{ $top := list (list $d) }}}}{{{{ $_ := merge $d.a (dict "x" $deep) }}}}"#,
        times(61)
    );
    let e = render(&t).expect_err("65 levels");
    assert!(e.contains(TOO_DEEP), "{e}");
}

#[test]
fn no_map_contains_itself() {
    for t in [
        r#"{{ $d := dict }}{{ $_ := set $d "a" $d }}"#,
        r#"{{ $a := dict }}{{ $b := list (dict "a" $a) }}{{ $_ := set $a "b" $b }}"#,
        r#"{{ $a := dict }}{{ $b := dict "a" $a }}{{ $_ := merge $a (dict "b" $b) }}"#,
        r#"{{ $a := dict "x" (dict) }}{{ $_ := mergeOverwrite $a.x (dict "y" $a) }}"#,
    ] {
        let e = render(t).expect_err(t);
        assert!(e.contains(TOO_DEEP), "{t}: {e}");
    }
    // Replacing an entry forgets its old holder: no false cycle afterwards.
    let t = r#"{{ $a := dict }}{{ $b := dict }}{{ $_ := set $a "x" $b }}{{ $_ := set $a "x" 1 }}{{ $_ := set $b "a" $a }}{{ $_ := unset $b "a" }}{{ $_ := set $a "b" $b }}{{ $a }}"#;
    assert_eq!(render(t).as_deref(), Ok("map[b:map[] x:1]"));
}

#[test]
fn widely_shared_values_cost_what_they_unfold_to() {
    // 2^40 items once unfolded: deepCopy and uniq stop at the work limit, quickly.
    let shared = format!(
        r#"{{{{ $x := list 1 }}}}{{{{ $y := list 1 }}}}{{{{ range {} }}}}{{{{ $x = list $x $x }}}}{{{{ $y = list $y $y }}}}{{{{ end }}}}"#,
        times(40)
    );
    for f in [
        "{{ $_ := deepCopy $x }}",
        "{{ $_ := uniq (list $x $y) }}",
        "{{ $_ := has $x (list 1 $y) }}",
        "{{ $_ := without (list $x) $y }}",
    ] {
        let started = Instant::now();
        let e = render(&format!("{shared}{f}")).expect_err(f);
        assert!(e.contains("work limit"), "{f}: {e}");
        assert!(started.elapsed() < Duration::from_secs(5), "{f}");
    }
}

#[test]
fn many_holders_of_one_map_stay_cheap() {
    let t = format!(
        r#"{{{{ $m := dict }}}}{{{{ $all := list }}}}{{{{ range {} }}}}{{{{ $all = append $all (list $m) }}}}{{{{ $_ := set $m "k" (list 1) }}}}{{{{ end }}}}{{{{ len $all }}}} {{{{ $m }}}}"#,
        times(1000)
    );
    let started = Instant::now();
    assert_eq!(render(&t).as_deref(), Ok("1000 map[k:[1]]"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn chunks_and_slices_are_bounded_by_the_list() {
    assert_eq!(
        render("{{ chunk 9223372036854775807 (list 1 2) }}").as_deref(),
        Ok("[[1 2]]")
    );
    assert!(render("{{ chunk -9223372036854775808 (list 1 2) }}").is_ok());
    assert!(render(r#"{{ slice (list 1 2) "9223372036854775808" }}"#).is_ok());
    assert!(render("{{ slice (list 1 2) 0 9223372036854775807 }}").is_err());
}

/// Where sprig 3.3 (upstream's, with mergo 1.0) and the oracle's sprig 3.2.3 (mergo 0.3) differ:
/// `mergeOverwrite` puts a map over a value that is not a map; 0.3 kept the value. Without
/// overwriting, or into a map, both versions agree (those cases are in `sprig/lists.txt`).
#[test]
fn merge_overwrite_puts_a_map_over_a_scalar_as_mergo_1_does() {
    let over = r#"{{ mergeOverwrite (dict "a" 1 "b" "x") (dict "a" (dict "c" 2) "b" (dict "d" 3)) | toJson }}"#;
    assert_eq!(render(over).as_deref(), Ok(r#"{"a":{"c":2},"b":{"d":3}}"#));
    let keep = r#"{{ merge (dict "a" 1) (dict "a" (dict "c" 2)) | toJson }}"#;
    assert_eq!(render(keep).as_deref(), Ok(r#"{"a":1}"#));
    let into = r#"{{ mergeOverwrite (dict "a" (dict "x" 1)) (dict "a" (dict "c" 2)) | toJson }}"#;
    assert_eq!(render(into).as_deref(), Ok(r#"{"a":{"c":2,"x":1}}"#));
}
