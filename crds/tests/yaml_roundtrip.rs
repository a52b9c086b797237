//! The Go-shaped YAML emitter behind `kubeseal -o yaml` and `--recovery-unseal -o yaml` must
//! round-trip: whatever string or key it is given, reading its output back with the reader the
//! project uses (serde_norway, via `crds::parse_documents`) gives the same value.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn read_back(yaml: &str) -> Value {
    let docs = crds::parse_documents(yaml.as_bytes())
        .unwrap_or_else(|e| panic!("emitted YAML does not parse ({e}):\n{yaml}"));
    assert_eq!(docs.len(), 1, "one document expected:\n{yaml}");
    docs.into_iter().next().map(|d| d.value).unwrap_or_default()
}

fn assert_round_trips(v: &Value) {
    let yaml = crds::yaml::to_string(v);
    assert_eq!(&read_back(&yaml), v, "emitted:\n{yaml}");
}

/// Strings built from the pieces that trip YAML emitters up, plus arbitrary unicode.
fn tricky_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\r".to_owned()),
        Just("\r\n".to_owned()),
        Just(": ".to_owned()),
        Just(":".to_owned()),
        Just("#".to_owned()),
        Just(" #".to_owned()),
        Just("- ".to_owned()),
        Just("? ".to_owned()),
        Just("---".to_owned()),
        Just("...".to_owned()),
        Just("'".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("|".to_owned()),
        Just(">".to_owned()),
        Just("\u{feff}".to_owned()),
        Just("\u{85}".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("\u{2029}".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\u{1b}".to_owned()),
        Just("\u{7f}".to_owned()),
        Just("é".to_owned()),
        Just("🔑".to_owned()),
        Just("true".to_owned()),
        Just("~".to_owned()),
        Just("0x1F".to_owned()),
        Just("1e3".to_owned()),
        Just("2024-01-02".to_owned()),
        "[a-z]{1,8}",
        any::<char>().prop_map(String::from),
        "\\PC{0,4}",
        "[\\x00-\\x20]{1,3}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|parts| parts.concat())
}

/// Keys: the tricky strings, and long ones on either side of the 128 and 1024 limits.
fn tricky_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => tricky_string(),
        1 => (100usize..1100, tricky_string()).prop_map(|(n, s)| "k".repeat(n) + &s),
        1 => (100usize..1100, tricky_string()).prop_map(|(n, s)| s + &"k".repeat(n)),
    ]
}

fn tricky_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        6 => tricky_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((tricky_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_value_round_trips(s in tricky_string()) {
        assert_round_trips(&json!({"metadata": {"annotations": {"a": s.clone()}}, "data": [s]}));
    }

    #[test]
    fn any_key_round_trips(k in tricky_key(), s in tricky_string()) {
        assert_round_trips(&json!({"stringData": {k.clone(): s.clone(), "z": {k: [s]}}}));
    }
}

proptest! {

    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn any_nesting_round_trips(v in prop::collection::vec((tricky_key(), tricky_value()), 1..4)) {
        assert_round_trips(&Value::Object(v.into_iter().collect()));
    }
}

#[test]
fn a_value_that_is_one_newline_reads_back() {
    for s in ["\n", "\n\n", "\n\n\n"] {
        assert_round_trips(&json!({"metadata": {"annotations": {"a": s}}}));
        assert_round_trips(&json!({"l": [s, "x"]}));
    }
}

#[test]
fn a_key_longer_than_1024_chars_reads_back() {
    let key = "k".repeat(1025);
    assert_round_trips(&json!({"data": {key.clone(): "v", "z": {key: {"a": "b"}}}}));
}

#[test]
fn a_key_with_a_newline_reads_back() {
    for key in ["a\nb", "a\n", "\n", "a\n\nb\n\n"] {
        assert_round_trips(&json!({"data": {key: "v", "zz": {key: "x\ny"}}}));
        assert_round_trips(&json!({"l": [{key: ["x", {key: "v"}]}]}));
    }
}

#[test]
fn ordinary_values_keep_go_shape() {
    let v = json!({"metadata": {"annotations": {"multi": "a\nb\n", "q": "yes", "p": "plain"}}});
    assert_eq!(
        crds::yaml::to_string(&v),
        "metadata:\n  annotations:\n    multi: |\n      a\n      b\n    p: plain\n    q: \"yes\"\n"
    );
}
