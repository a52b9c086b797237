//! The ownership rules of [`decide`], one fixture each.

use super::*;
use serde_json::json;

const UID: &str = "ss-uid";

fn secret(value: serde_json::Value) -> Secret {
    serde_json::from_value(value).expect("a Secret")
}

fn owner_ref(uid: &str) -> serde_json::Value {
    json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "db",
           "uid": uid, "controller": true})
}

/// What the unsealed SealedSecret says: one value, a template label and an owner reference.
fn desired() -> Secret {
    secret(json!({
        "metadata": {"name": "db", "namespace": "app", "labels": {"app": "db"},
                     "ownerReferences": [owner_ref(UID)]},
        "data": {"password": "bmV3"}, "type": "Opaque"
    }))
}

/// The Secret as the controller left it, at resourceVersion 7, with `extra` metadata.
fn ours(extra: serde_json::Value) -> Secret {
    let mut base = json!({
        "metadata": {"name": "db", "namespace": "app", "resourceVersion": "7",
                     "labels": {"app": "db"}, "ownerReferences": [owner_ref(UID)]},
        "data": {"password": "bmV3"}, "type": "Opaque"
    });
    merge_json(&mut base, extra);
    secret(base)
}

fn merge_json(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                merge_json(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

fn update(action: SecretAction) -> (ZeroizingSecret, String) {
    match action {
        SecretAction::Update {
            secret,
            resource_version,
        } => (secret, resource_version),
        other => panic!("expected an update, got {other:?}"),
    }
}

fn data_keys(s: &Secret) -> Vec<&str> {
    s.data.iter().flatten().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn a_missing_secret_is_created_as_unsealed() {
    match decide(Some(UID), None, &desired()) {
        SecretAction::Create(s) => {
            assert_eq!(*s, desired());
            assert_eq!(s.metadata.resource_version, None, "create-only");
        }
        other => panic!("expected a create, got {other:?}"),
    }
}

#[test]
fn an_owned_secret_that_matches_is_not_written() {
    let existing = ours(json!({"metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}}}));
    assert!(matches!(
        decide(Some(UID), Some(&existing), &desired()),
        SecretAction::Nothing
    ));
}

#[test]
fn an_owned_secret_with_a_changed_value_is_updated_at_the_version_read() {
    let existing = ours(json!({"data": {"password": "b2xk"},
        "metadata": {"labels": {"team": "a"}, "finalizers": ["example.com/keep"]}}));
    let (s, version) = update(decide(Some(UID), Some(&existing), &desired()));
    assert_eq!(version, "7");
    assert_eq!(s.metadata.resource_version.as_deref(), Some("7"));
    assert_eq!(s.data, desired().data);
    let labels = s.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("team").map(String::as_str),
        Some("a"),
        "others' label kept"
    );
    assert_eq!(
        s.metadata.finalizers,
        Some(vec!["example.com/keep".to_owned()])
    );
}

#[test]
fn someone_elses_secret_is_refused() {
    let theirs = secret(json!({"metadata": {"name": "db", "resourceVersion": "3"},
        "data": {"password": "dGhlaXJz"}}));
    assert!(matches!(
        decide(Some(UID), Some(&theirs), &desired()),
        SecretAction::Refuse(Refusal::Unmanaged)
    ));
    // An owner reference to another SealedSecret (or not as controller) is not ownership.
    let other = ours(json!({"metadata": {"ownerReferences": [owner_ref("other-uid")]}}));
    assert!(matches!(
        decide(Some(UID), Some(&other), &desired()),
        SecretAction::Refuse(Refusal::Unmanaged)
    ));
}

#[test]
fn a_managed_secret_is_taken_over_and_its_other_keys_dropped() {
    let managed = secret(json!({"metadata": {"name": "db", "resourceVersion": "3",
        "annotations": {MANAGED_ANNOTATION: "true"},
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "cm"}]},
        "data": {"password": "b2xk", "stale": "eA=="}}));
    let (s, _) = update(decide(Some(UID), Some(&managed), &desired()));
    assert_eq!(
        data_keys(&s),
        ["password"],
        "without patch the data is replaced"
    );
    let uids: Vec<&str> = s
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(|o| o.uid.as_str())
        .collect();
    assert_eq!(uids, ["cm", UID], "the other owner kept, ours added");
    assert_eq!(
        s.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANAGED_ANNOTATION))
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn a_patch_annotated_secret_gets_the_values_merged_without_an_owner_reference() {
    let patched = secret(json!({"metadata": {"name": "db", "resourceVersion": "3",
        "annotations": {PATCH_ANNOTATION: "true"}},
        "data": {"extra": "a2VlcA=="}}));
    let (s, _) = update(decide(Some(UID), Some(&patched), &desired()));
    assert_eq!(data_keys(&s), ["extra", "password"]);
    assert_eq!(s.metadata.owner_references, None);
}

#[test]
fn with_skip_set_owner_references_the_reference_to_the_sealed_secret_is_removed() {
    let mut want = desired();
    want.metadata.owner_references = None;
    let existing = ours(json!({"metadata": {"annotations": {MANAGED_ANNOTATION: "true"}}}));
    let (s, _) = update(decide(Some(UID), Some(&existing), &want));
    assert_eq!(s.metadata.owner_references, None);
    // Created without one, too.
    match decide(Some(UID), None, &want) {
        SecretAction::Create(s) => assert_eq!(s.metadata.owner_references, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_immutable_secret_whose_data_would_change_is_refused() {
    let frozen = ours(json!({"immutable": true, "data": {"password": "b2xk"}}));
    assert!(matches!(
        decide(Some(UID), Some(&frozen), &desired()),
        SecretAction::Refuse(Refusal::Immutable)
    ));
    // Metadata may still change on an immutable Secret.
    let relabelled = ours(json!({"immutable": true, "metadata": {"labels": {"app": "old"}}}));
    let (s, _) = update(decide(Some(UID), Some(&relabelled), &desired()));
    assert_eq!(
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str),
        Some("db")
    );
}

#[test]
fn stale_keys_are_dropped_from_an_owned_secret() {
    let existing = ours(json!({"data": {"password": "bmV3", "old-key": "eA=="}}));
    let (s, _) = update(decide(Some(UID), Some(&existing), &desired()));
    assert_eq!(data_keys(&s), ["password"]);
}

/// managedFields of the controller's field manager: what it once wrote.
fn written_by_us(fields: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"managedFields": [
        {"manager": FIELD_MANAGER, "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": fields},
        {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}}
    ]}})
}

#[test]
fn labels_annotations_and_patched_keys_the_controller_once_wrote_are_dropped() {
    let existing = ours(json!({"metadata": {
        "labels": {"team": "a", "old-label": "x"},
        "annotations": {PATCH_ANNOTATION: "true", "old-note": "x", "their-note": "y"}},
        "data": {"password": "bmV3", "old-key": "eA==", "their-key": "eQ=="}}));
    let fields = written_by_us(json!({
        "f:metadata": {"f:labels": {"f:old-label": {}, "f:app": {}},
                       "f:annotations": {"f:old-note": {}}},
        "f:data": {"f:old-key": {}, "f:password": {}}}));
    let mut value = serde_json::to_value(&existing).expect("json");
    merge_json(&mut value, fields);
    let existing = secret(value);
    let (s, _) = update(decide(Some(UID), Some(&existing), &desired()));
    let labels: Vec<&str> = s
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        labels,
        ["app", "team"],
        "a template label removed since is dropped"
    );
    let notes: Vec<&str> = s
        .metadata
        .annotations
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(notes, [PATCH_ANNOTATION, "their-note"]);
    assert_eq!(
        data_keys(&s),
        ["password", "their-key"],
        "patch: only our stale key dropped"
    );
    assert_eq!(
        s.metadata.managed_fields, None,
        "managedFields are left to the API server"
    );
}

#[test]
fn without_a_template_type_the_existing_type_is_kept() {
    let mut want = desired();
    want.type_ = None;
    let tls = ours(json!({"type": "kubernetes.io/tls"}));
    assert!(matches!(
        decide(Some(UID), Some(&tls), &want),
        SecretAction::Nothing
    ));
}
