//! sprig's numbers, types and random values where the oracle cannot judge: the random
//! functions (alphabets, lengths, ranges, formats) and the bounds Go does not have.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use gotemplate::{Template, TEMPLATE_NAME};
use zeroize::Zeroizing;

fn render(template: &str) -> Result<String, String> {
    let values = BTreeMap::from([(
        "unicode".to_owned(),
        Zeroizing::new("héllo wörld ☃ 日本".as_bytes().to_vec()),
    )]);
    Template::parse(TEMPLATE_NAME, template)
        .and_then(|t| t.execute(&values))
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .map_err(|e| e.to_string())
}

fn ok(template: &str) -> String {
    render(template).unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn err(template: &str) -> String {
    match render(template) {
        Ok(out) => panic!("{template} rendered {} bytes", out.len()),
        Err(e) => e,
    }
}

#[test]
fn random_strings_use_goutils_alphabets() {
    type Allowed = fn(char) -> bool;
    let cases: [(&str, Allowed); 4] = [
        ("randAlpha", |c| c.is_ascii_alphabetic()),
        ("randAlphaNum", |c| c.is_ascii_alphanumeric()),
        ("randNumeric", |c| c.is_ascii_digit()),
        ("randAscii", |c| (' '..='~').contains(&c)),
    ];
    for (name, allowed) in cases {
        let out = ok(&format!("{{{{ {name} 5000 }}}}"));
        assert_eq!(out.len(), 5000, "{name}");
        assert!(out.chars().all(allowed), "{name}: {out}");
        let seen: BTreeSet<char> = out.chars().collect();
        let alphabet = (' '..='~').filter(|&c| allowed(c)).count();
        assert_eq!(seen.len(), alphabet, "{name} draws from its whole alphabet");
        assert_ne!(out, ok(&format!("{{{{ {name} 5000 }}}}")), "{name} repeats");
    }
    assert_eq!(ok("{{ randAlpha 0 }}"), "");
}

#[test]
fn rand_int_stays_in_its_half_open_range() {
    let out = ok("{{ range until 2000 }}{{ randInt -3 4 }} {{ end }}");
    let drawn: BTreeSet<i64> = out
        .split_whitespace()
        .map(|n| n.parse().expect("an int"))
        .collect();
    assert_eq!(drawn, (-3..4).collect::<BTreeSet<_>>());
    assert_eq!(ok("{{ randInt 5 6 }}"), "5");
    let wide = ok("{{ randInt -4611686018427387904 4611686018427387903 }}");
    assert!(wide.parse::<i64>().is_ok_and(|n| n < 1 << 62), "{wide}");
    assert!(err("{{ randInt 1 1 }}").contains("invalid argument to Intn"));
    // max - min wraps around in Go's int, and then Intn panics.
    assert!(err("{{ randInt -9223372036854775807 9223372036854775807 }}").contains("Intn"));
}

#[test]
fn rand_bytes_are_base64_of_the_count() {
    for count in [0usize, 1, 2, 3, 100, 1000] {
        let out = ok(&format!("{{{{ randBytes {count} }}}}"));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&out)
            .expect("base64");
        assert_eq!(raw.len(), count);
    }
    assert_ne!(ok("{{ randBytes 32 }}"), ok("{{ randBytes 32 }}"));
}

#[test]
fn shuffle_permutes_the_characters() {
    let original: Vec<char> = "héllo wörld ☃ 日本".chars().collect();
    let mut sorted = original.clone();
    sorted.sort_unstable();
    let mut orders = BTreeSet::new();
    for _ in 0..20 {
        let out = ok("{{ shuffle .unicode }}");
        let mut chars: Vec<char> = out.chars().collect();
        orders.insert(out);
        chars.sort_unstable();
        assert_eq!(chars, sorted);
    }
    assert!(orders.len() > 1, "the order changes");
    assert_eq!(ok(r#"{{ shuffle "\xff" }}"#), "\u{fffd}");
}

#[test]
fn uuidv4_has_the_version_4_format() {
    let mut seen = BTreeSet::new();
    for _ in 0..50 {
        let id = ok("{{ uuidv4 }}");
        let groups: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{id}");
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(groups[2].starts_with('4'), "{id}");
        assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "{id}");
        seen.insert(id);
    }
    assert_eq!(seen.len(), 50);
}

#[test]
fn sequences_are_capped() {
    let limit = "sequence exceeds the limit of 1000000 items";
    for template in [
        "{{ until 1000000000 }}",
        "{{ until -1000000000 }}",
        "{{ untilStep 0 1000000000 1 }}",
        "{{ untilStep 9223372036854775800 9223372036854775807 3 }}",
        "{{ seq 1 1000000000 }}",
        "{{ seq 1000000000 }}",
        "{{ seq 0 -1 -1000000000 }}",
    ] {
        let start = Instant::now();
        assert!(err(template).contains(limit), "{template}");
        assert!(start.elapsed() < Duration::from_secs(2), "{template}");
    }
    assert_eq!(ok("{{ len (until 1000000) }}"), "1000000");
    assert!(err("{{ seq 1000000 }}").contains("result exceeds the limit"));
    assert_eq!(ok("{{ seq 100000 | len }}"), "588894");
}

#[test]
fn random_sizes_are_capped() {
    for template in [
        "{{ randAlpha 1000000000 }}",
        "{{ randAscii 2000000 }}",
        "{{ randBytes 1000000000 }}",
        "{{ randBytes 800000 }}",
    ] {
        assert!(
            err(template).contains("result exceeds the limit"),
            "{template}"
        );
    }
    assert_eq!(ok("{{ randAlpha 1048576 | len }}"), "1048576");
    assert!(err("{{ randAlpha -1 }}").contains("negative length"));
}

#[test]
fn decimal_chains_are_bounded() {
    let product = format!("{{{{ mulf {} }}}}", ["1.2345678901234567"; 300].join(" "));
    assert!(err(&product).contains("decimal arithmetic exceeds 4096 digits"));
    let quotient = format!("{{{{ divf 1e300 {} }}}}", ["1e-300"; 20].join(" "));
    assert!(err(&quotient).contains("decimal arithmetic exceeds"));
    let start = Instant::now();
    let sum = format!("{{{{ addf {} }}}}", ["1e308 5e-324"; 5000].join(" "));
    assert_eq!(ok(&sum), "+Inf");
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn deep_equal_is_charged_for_what_it_compares() {
    // Building the two lists costs 6.4 MB of the 64 MB; comparing them 3.2 MB a time.
    let template = "{{ $l := until 100000 }}{{ $m := until 100000 }}{{ range until 1000 }}{{ deepEqual $l $m }}{{ end }}";
    assert!(err(template).contains("work limit"));
    let once = "{{ $l := until 100000 }}{{ $m := until 100000 }}{{ range until 10 }}{{ deepEqual $l $m }}{{ end }}";
    assert_eq!(ok(once), "true".repeat(10));
}

#[test]
fn fail_reports_the_message() {
    let e = err(r#"{{ fail "no password given" }}"#);
    assert!(e.ends_with("error calling fail: no password given"), "{e}");
    let e = err(r#"{{ fail "two\nlines\r" }}"#);
    assert!(e.ends_with(r"error calling fail: two\nlines\r"), "{e}");
}

/// The group's functions on arbitrary arguments: each renders or fails with a one-line error,
/// never panics (arithmetic overflow included), and stays fast.
mod arbitrary {
    use proptest::prelude::*;

    const NAMES: &[&str] = &[
        "add",
        "add1",
        "add1f",
        "addf",
        "sub",
        "subf",
        "mul",
        "mulf",
        "div",
        "divf",
        "mod",
        "max",
        "maxf",
        "min",
        "minf",
        "ceil",
        "floor",
        "round",
        "int",
        "int64",
        "float64",
        "toDecimal",
        "seq",
        "until",
        "untilStep",
        "biggest",
        "kindIs",
        "kindOf",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "deepEqual",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randNumeric",
        "randInt",
        "randBytes",
        "shuffle",
        "uuidv4",
    ];

    fn argument() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (-20i64..20).prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("a Go float literal", |f| f.is_finite())
                .prop_map(|f| format!("{f:?}")),
            "[-+0-9a-fA-FxXoObBpPeE._ ]{0,12}".prop_map(|s| format!("{s:?}")),
            prop::sample::select(vec![
                "nil",
                "true",
                ".",
                ".unicode",
                "(list 1 2.5 \"x\")",
                "(dict \"a\" 1)",
                "(float64 \"nan\")",
                "(float64 \"-inf\")",
                "1e308",
                "5e-324",
                "-0.0",
            ])
            .prop_map(str::to_owned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn calls_render_or_fail_on_one_line(
            name in prop::sample::select(NAMES),
            args in prop::collection::vec(argument(), 0..5),
        ) {
            let template = format!("{{{{ {name} {} }}}}", args.join(" "));
            let started = std::time::Instant::now();
            if let Err(e) = super::render(&template) {
                prop_assert!(e.starts_with("template: ") && !e.contains('\n'), "{e}");
            }
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(1), "{template}");
        }
    }
}
