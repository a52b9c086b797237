//! `kubeseal --recovery-unseal` on SealedSecrets with `spec.template.data`: a template that
//! renders gives the value; one that cannot be rendered (a template error, or a template the
//! engine once panicked on) is exit 1 with one `error:` line, never a panic trace (exit 101).

pub mod offline_support;

use offline_support::{assert_fails, assert_ok, keys, kubeseal, path_arg, seal, stdout};

const SECRET: &str =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {user: admin}\n";

/// The test SealedSecret with `template` as the template of data key `out`.
fn with_template(template: &str) -> Vec<u8> {
    let mut sealed = seal(SECRET);
    sealed["spec"]["template"]["data"] = serde_json::json!({ "out": template });
    serde_json::to_vec(&sealed).expect("JSON")
}

fn recovery_unseal(sealed: &[u8]) -> std::process::Output {
    kubeseal(
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            &path_arg(&keys().key()),
            "-o",
            "json",
        ],
        sealed,
    )
}

#[test]
fn a_template_that_renders_gives_its_value() {
    let out = recovery_unseal(&with_template("user={{ .user }}"));
    assert_ok(&out);
    let secret: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("Secret JSON");
    assert_eq!(secret["data"]["out"], "dXNlcj1hZG1pbg=="); // base64("user=admin")
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
}

#[test]
fn a_template_error_is_one_line_and_exit_1() {
    let out = recovery_unseal(&with_template("{{ .missing }}"));
    assert_fails(&out, "cannot unseal SealedSecret ns/s");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"map has no entry for key "missing""#),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_huge_float_precision_is_one_line_and_exit_1_never_a_panic() {
    let out = recovery_unseal(&with_template(r#"{{ printf "%.70000e" 1.0 }}"#));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
    // Go renders it (precision up to 10^6 is allowed); an engine that refuses it must say so
    // in one line.
    if out.status.success() {
        let secret: serde_json::Value = serde_json::from_slice(&out.stdout).expect("Secret JSON");
        assert!(secret["data"]["out"].is_string());
    } else {
        assert_fails(&out, "cannot unseal SealedSecret ns/s");
    }
}
