//! The time-dependent sprig functions (`now`, `ago`, `durationRound` of a time), which the
//! oracle's case files cannot pin down, and round trips through the layout formatter and
//! parser. Every test runs with `TZ=UTC`.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use gotemplate::Template;
use proptest::prelude::*;
use zeroize::Zeroizing;

fn render(template: &str) -> Result<String, String> {
    std::env::set_var("TZ", "UTC");
    let values: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
    let t = Template::parse("data", template).map_err(|e| e.to_string())?;
    let out = t.execute(&values).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn ok(template: &str) -> String {
    render(template).unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(d.as_secs()).expect("seconds")
}

#[test]
fn now_prints_as_go_with_a_monotonic_reading() {
    let out = ok("{{ now }}");
    let (wall, mono) = out.split_once(" m=+").expect("a monotonic reading");
    assert!(wall.ends_with(" +0000 UTC"), "{out}");
    let (secs, nanos) = mono.split_once('.').expect("m=+s.nnnnnnnnn");
    assert!(secs.parse::<u64>().is_ok() && nanos.len() == 9, "{out}");
    let later = ok("{{ now | dateModify \"1000000h\" }}");
    assert!(later.contains(" m=+3600000000."), "{later}");
    // Past 2157 (or before 1885) Go keeps no monotonic reading; nor after `UTC`.
    for t in [
        "{{ now | dateModify \"1500000h\" }}",
        "{{ now | dateModify \"-1500000h\" }}",
        "{{ now.UTC }}",
    ] {
        let out = ok(t);
        assert!(!out.contains(" m="), "{t}: {out}");
    }
    assert_eq!(ok("{{ now.Year }}"), ok("{{ now | date \"2006\" }}"));
    let year = ok("{{ now | date \"2006\" }}");
    let expected = ok(&format!("{{{{ date \"2006\" {} }}}}", unix_now()));
    assert_eq!(year, expected);
}

#[test]
fn now_is_the_current_time() {
    let epoch: i64 = ok("{{ now | unixEpoch }}").parse().expect("an integer");
    assert!((epoch - unix_now()).abs() <= 2, "{epoch}");
    let html = ok("{{ htmlDate now }}");
    assert_eq!(html, ok(&format!("{{{{ htmlDate {} }}}}", unix_now())));
}

#[test]
fn ago_and_duration_round_measure_from_now() {
    assert_eq!(ok("{{ now | dateModify \"-90s\" | ago }}"), "1m30s");
    assert_eq!(ok("{{ now | dateModify \"1h\" | ago }}"), "-1h0m0s");
    assert_eq!(ok("{{ $t := now }}{{ ago $t }}"), "0s");
    assert_eq!(ok("{{ now | dateModify \"-49h\" | durationRound }}"), "2d");
    assert_eq!(
        ok("{{ now | dateModify \"-800h\" | durationRound }}"),
        "1mo"
    );
    let ago = ok(&format!("{{{{ ago {} }}}}", unix_now() - 3725));
    assert!(ago == "1h2m5s" || ago == "1h2m6s", "{ago}");
    assert_eq!(
        ok("{{ ago (toDate \"2006\" \"2400\") }}"),
        "-2562047h47m16.854775808s"
    );
}

#[test]
fn dates_of_other_types_fail_instead_of_using_now() {
    for t in [
        "{{ date \"2006\" \"1700000000\" }}",
        "{{ ago nil }}",
        "{{ ago 1.5 }}",
        "{{ htmlDate (list) }}",
    ] {
        assert!(render(t).is_err(), "{t}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn formatting_then_parsing_returns_the_instant(
        unix in -62_135_596_800i64..253_402_300_799,
        nanos in 0u32..1_000_000_000,
    ) {
        let (plain, nano) = ("2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05.999999999Z07:00");
        let t = format!(
            "{{{{ $u := toDate \"{plain}\" (date \"{plain}\" {unix}) | dateModify \"{nanos}ns\" }}}}\
             {{{{ $u | unixEpoch }}}} {{{{ $u.Nanosecond }}}} \
             {{{{ $u | date \"{nano}\" | toDate \"{nano}\" | eq $u }}}}"
        );
        prop_assert_eq!(ok(&t), format!("{unix} {nanos} true"));
    }

    #[test]
    fn durations_print_what_date_modify_reads(secs in -9_223_372_036i64..9_223_372_036) {
        let t = format!(
            "{{{{ toDate \"2006\" \"2000\" | dateModify (duration \"{secs}\") | unixEpoch }}}}"
        );
        prop_assert_eq!(ok(&t), (946_684_800 + secs).to_string());
    }
}

#[test]
fn large_layouts_stay_within_the_bounds() {
    let start = std::time::Instant::now();
    let out = ok("{{ date (repeat 50000 \"Jan 2006 .000 \") 0 | len }}");
    assert_eq!(out, "700000");
    let too_long = render("{{ date (repeat 150000 \"Monday\") 0 }}");
    assert!(
        too_long.is_err_and(|e| e.contains("exceeds")),
        "Thursday is longer than Monday"
    );
    let parsed = ok(
        "{{ $l := repeat 20000 \"5 \" }}{{ $v := repeat 20000 \"1.5 \" }}{{ toDate $l $v | unixEpoch }}",
    );
    assert_eq!(parsed, "-62167219199");
    let one = ok("{{ range splitList \",\" (repeat 3 \"x,\") }}{{ htmlDateInZone 0 \"Asia/Tokyo\" }}{{ end }}");
    assert_eq!(one, "1970-01-01".repeat(4));
    let zones = render("{{ range splitList \",\" (repeat 100000 \"x,\") }}{{ htmlDateInZone 0 \"America/New_York\" }}{{ end }}");
    // Each call reads a zone file (charged to the work budget) until a limit stops it.
    assert!(zones.is_err(), "100000 zone loads");
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
