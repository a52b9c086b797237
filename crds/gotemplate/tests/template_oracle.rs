//! The sprig functions against the real thing: every template in `tests/sprig/*.txt` is
//! rendered by Go's `text/template` with sprig (the oracle in `tests/oracles/sprig/`, built from
//! Debian's packages) and by `gotemplate`, with the same values, and the outputs must be equal
//! byte for byte; where Go fails, `gotemplate` must fail too.
//!
//! Case files: one template per line; `#` starts a comment line; `\n` in a line is a newline.
//! A line starting with `!` is a deliberate difference: Go (sprig) swallows an error there
//! and renders something, `gotemplate` must fail instead.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gotemplate::Template;
use serde::Deserialize;
use zeroize::Zeroizing;

/// The values every case is rendered with (strings, as the controller hands them over).
const VALUES: &[(&str, &str)] = &[
    ("user", "admin"),
    ("pass", "s3cr3t p@ss/&"),
    ("empty", ""),
    ("port", "5432"),
    ("num", "-12.5"),
    ("lines", "line1\nline2\n"),
    ("json", r#"{"a":[1,2],"b":"x<y","c":{"d":null,"e":true}}"#),
    ("list", r#"["b","a","c","a"]"#),
    ("b64", "aGVsbG8="),
    ("unicode", "héllo wörld ☃ 日本"),
    ("spaces", "  padded\t "),
    ("url", "https://user:pw@example.com:8443/a/b?x=1&y=2#frag"),
    ("path", "/etc/ssl/certs/ca.pem"),
    ("version", "1.2.3-beta.1+build.5"),
    ("epoch", "1700000000"),
    ("csv", "a,b,,c"),
];

#[derive(Deserialize)]
struct Rendered {
    out: Option<String>,
    err: Option<String>,
}

struct Case {
    file: String,
    line: usize,
    template: String,
    go_swallows: bool,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sprig");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/sprig")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("case file");
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (go_swallows, template) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            cases.push(Case {
                file: file.clone(),
                line: i + 1,
                template: template.replace("\\n", "\n"),
                go_swallows,
            });
        }
    }
    cases
}

fn oracle() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/oracles/sprig/install.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("running tests/oracles/sprig/install.sh");
    assert!(
        out.status.success(),
        "tests/oracles/sprig/install.sh failed"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
    PathBuf::from(stdout.lines().last().expect("the oracle's path").trim())
}

fn go_render(cases: &[Case]) -> Vec<Rendered> {
    let values: BTreeMap<_, _> = VALUES.iter().copied().collect();
    let input: Vec<_> = cases
        .iter()
        .map(|c| serde_json::json!({"t": c.template, "v": values}))
        .collect();
    let mut child = Command::new(oracle())
        .env("TZ", "UTC")
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

fn ours(template: &str) -> Result<String, String> {
    let values: BTreeMap<String, Zeroizing<Vec<u8>>> = VALUES
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    let t = Template::parse("data", template).map_err(|e| e.to_string())?;
    let out = t.execute(&values).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// What is wrong with one case, if anything.
fn mismatch(case: &Case, go: &Rendered) -> Option<String> {
    let mine = ours(&case.template);
    let wrong = match (&go.out, &go.err, &mine) {
        (Some(_), _, Err(_)) if case.go_swallows => return None,
        (_, _, Ok(m)) if case.go_swallows => format!("Go swallows an error here, we render {m:?}"),
        (Some(g), _, Ok(m)) if g == m => return None,
        (Some(g), _, Ok(m)) => format!("Go renders {g:?}, we render {m:?}"),
        (Some(g), _, Err(e)) => format!("Go renders {g:?}, we fail: {e}"),
        (None, Some(_), Err(_)) => return None,
        (None, Some(e), Ok(m)) => format!("Go fails ({e}), we render {m:?}"),
        (None, None, _) => "the oracle answered neither out nor err".to_owned(),
    };
    Some(format!(
        "{}:{}: {:?}: {wrong}",
        case.file, case.line, case.template
    ))
}

#[test]
fn sprig_functions_render_as_go_renders_them() {
    // Our local zone is the oracle's: Go's `time.Local`, as gotemplate reads it, is `$TZ`.
    std::env::set_var("TZ", "UTC");
    let cases = cases();
    assert!(cases.len() > 10, "no cases found");
    let go = go_render(&cases);
    assert_eq!(
        go.len(),
        cases.len(),
        "the oracle answered a different number of cases"
    );
    let wrong: Vec<String> = cases
        .iter()
        .zip(&go)
        .filter_map(|(c, g)| mismatch(c, g))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from Go's sprig:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

/// Functions the controller offers beyond the oracle's sprig 3.2.3: `sha512sum` came with
/// sprig 3.3.0, the version upstream's current release is built with.
const NEWER_THAN_THE_ORACLE: &[&str] = &["sha512sum"];

#[test]
fn every_function_go_offers_is_offered_and_no_other() {
    let out = Command::new(oracle())
        .arg("names")
        .output()
        .expect("running the sprig oracle");
    assert!(out.status.success(), "sprig-oracle names failed");
    let mut go: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8 names")
        .lines()
        .map(str::to_owned)
        .chain(NEWER_THAN_THE_ORACLE.iter().map(|n| (*n).to_owned()))
        .collect();
    // Go's builtins are not in sprig's map but every template has them.
    go.extend(
        [
            "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print",
            "printf", "println", "urlquery", "html", "js",
        ]
        .map(str::to_owned),
    );
    go.sort();
    go.dedup();
    let ours: Vec<String> = gotemplate::functions()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = go.iter().filter(|n| !ours.contains(n)).collect();
    let extra: Vec<_> = ours.iter().filter(|n| !go.contains(n)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:?}; not in Go: {extra:?}"
    );
}
