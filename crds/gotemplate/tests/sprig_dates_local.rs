//! sprig's dates in a local zone with daylight saving time: this process and the oracle (see
//! `template_oracle.rs`) both run with `TZ=Europe/Berlin`, and must render alike. A test
//! binary of its own, as the local zone is read once per process.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gotemplate::Template;
use zeroize::Zeroizing;

const ZONE: &str = "Europe/Berlin";

const CASES: &[&str] = &[
    r#"{{ date "2006-01-02 15:04:05 MST -07:00" 1700000000 }} {{ date "MST" 1690000000 }}"#,
    r#"{{ date "2006-01-02 15:04:05 MST -07:00:00" -5000000000 }} {{ htmlDate 1711846800 }}"#,
    r#"{{ date "15:04 MST" 1711846799 }} {{ date "15:04 MST" 1711846800 }}"#,
    r#"{{ date "Z07:00" 99999999999 }} {{ date "Z07:00" 999999999999 }}"#,
    r#"{{ toDate "2006-01-02 15:04" "2024-03-31 02:30" }}"#,
    r#"{{ toDate "2006-01-02 15:04" "2024-03-31 03:30" }}"#,
    r#"{{ toDate "2006-01-02 15:04" "2024-10-27 02:30" }}"#,
    r#"{{ toDate "2006-01-02 15:04" "2024-10-27 03:30" }}"#,
    r#"{{ toDate "2006-01-02 15:04" "1800-01-01 00:00" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 CEST" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-01-01 12:00 CET" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 CET" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-01-01 12:00 CEST" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 EST" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 LMT" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 CEMT" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "1945-06-01 12:00 CEMT" }}"#,
    r#"{{ toDate "2006-01-02 15:04 MST" "2024-07-01 12:00 UTC" }}"#,
    r#"{{ toDate "2006-01-02 15:04 -0700" "2024-07-01 12:00 +0200" }}"#,
    r#"{{ toDate "2006-01-02 15:04 -0700" "2024-07-01 12:00 +0100" }}"#,
    r#"{{ toDate "2006-01-02 15:04 -0700 MST" "2024-07-01 12:00 +0200 CEST" }}"#,
    r#"{{ toDate "2006-01-02 15:04 -0700 MST" "2024-07-01 12:00 +0200 XYZ" }}"#,
    r#"{{ toDate "2006-01-02 15:04 Z07:00" "2024-07-01 12:00 Z" }}"#,
    r#"{{ eq (toDate "2006 -0700" "2024 +0100") (toDate "2006" "2024") }}"#,
    r#"{{ (toDate "2006-01-02" "2024-07-01").UTC }} {{ (toDate "2006-01-02" "2024-07-01").Hour }}"#,
    r#"{{ toDate "2006-01-02" "2024-07-01" | unixEpoch }} {{ toDate "2006-01-02" "2024-07-01" | toJson }}"#,
    r#"{{ dateInZone "15:04 MST" 1700000000 "Local" }} {{ dateInZone "15:04 MST" 1700000000 "UTC" }}"#,
    r#"{{ toDate "2006-01-02 15:04" "2024-03-31 01:30" | dateModify "1h" }}"#,
];

fn oracle() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("tests/oracles/sprig/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/oracles/sprig/install.sh");
    assert!(out.status.success(), "install.sh failed");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
    PathBuf::from(stdout.lines().last().expect("the oracle's path").trim())
}

fn go_render() -> Vec<serde_json::Value> {
    let input: Vec<_> = CASES
        .iter()
        .map(|t| serde_json::json!({"t": t, "v": {}}))
        .collect();
    let mut child = Command::new(oracle())
        .env("TZ", ZONE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the sprig oracle");
    let body = serde_json::to_vec(&input).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&body)
        .expect("writing to the oracle");
    let out = child.wait_with_output().expect("the oracle's output");
    assert!(out.status.success(), "the sprig oracle failed");
    serde_json::from_slice(&out.stdout).expect("the oracle's JSON")
}

fn ours(template: &str) -> Option<String> {
    let values: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
    let out = Template::parse("data", template)
        .ok()?
        .execute(&values)
        .ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn dates_in_a_local_zone_with_dst_render_as_go_renders_them() {
    std::env::set_var("TZ", ZONE);
    let go = go_render();
    let wrong: Vec<String> = CASES
        .iter()
        .zip(&go)
        .filter_map(|(t, go)| {
            let go = go.get("out").and_then(|o| o.as_str()).map(str::to_owned);
            let mine = ours(t);
            (go != mine).then(|| format!("{t}: Go {go:?}, we {mine:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
