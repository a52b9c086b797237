//! The CRD manifest: checked in, generated from the types, structurally equal to the original's.

use serde_json::{json, Value};

fn checked_in() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(crds::crd::CRD_FILE);
    std::fs::read_to_string(&path).expect("checked-in CRD manifest is readable")
}

#[test]
fn checked_in_manifest_matches_the_types() {
    let generated = crds::crd::crd_yaml().expect("CRD serialises");
    assert!(
        checked_in() == generated,
        "crds/{} is stale: run `cargo run -p sealed-secrets-crds --example gen-crd` and commit it",
        crds::crd::CRD_FILE
    );
}

/// Keeps what makes the schema's structure: types, formats, required fields, nullability and
/// unknown-field preservation (descriptions are prose).
fn skeleton(schema: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "type",
        "format",
        "required",
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
    ] {
        if let Some(v) = schema.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.insert(
            "properties".into(),
            props
                .iter()
                .map(|(k, v)| (k.clone(), skeleton(v)))
                .collect(),
        );
    }
    for key in ["items", "additionalProperties"] {
        if let Some(v) = schema.get(key) {
            out.insert(key.into(), skeleton(v));
        }
    }
    Value::Object(out)
}

/// The structure of upstream's `sealedsecrets.bitnami.com` CRD (helm chart, controller-gen).
fn upstream_skeleton() -> Value {
    let string = json!({"type": "string"});
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": string,
            "kind": string,
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["encryptedData"],
                "properties": {
                    "data": {"type": "string", "format": "byte"},
                    "encryptedData": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "x-kubernetes-preserve-unknown-fields": true
                    },
                    "template": {
                        "type": "object",
                        "properties": {
                            "data": {"type": "object", "nullable": true, "additionalProperties": {"type": "string"}},
                            "immutable": {"type": "boolean"},
                            "metadata": {
                                "type": "object",
                                "nullable": true,
                                "x-kubernetes-preserve-unknown-fields": true,
                                "properties": {
                                    "annotations": string_map,
                                    "finalizers": {"type": "array", "items": string},
                                    "labels": string_map,
                                    "name": string,
                                    "namespace": string
                                }
                            },
                            "type": string
                        }
                    }
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "conditions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["status", "type"],
                            "properties": {
                                "lastTransitionTime": {"type": "string", "format": "date-time"},
                                "lastUpdateTime": {"type": "string", "format": "date-time"},
                                "message": string,
                                "reason": string,
                                "status": string,
                                "type": string
                            }
                        }
                    },
                    "observedGeneration": {"type": "integer", "format": "int64"}
                }
            }
        }
    })
}

#[test]
fn manifest_is_structurally_equal_to_upstream() {
    let crd: Value = serde_yaml::from_str(&checked_in()).expect("manifest is YAML");
    let spec = &crd["spec"];
    assert_eq!(crd["metadata"]["name"], "sealedsecrets.bitnami.com");
    assert_eq!(spec["group"], "bitnami.com");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(
        spec["names"],
        json!({"kind": "SealedSecret", "listKind": "SealedSecretList", "plural": "sealedsecrets", "singular": "sealedsecret"}),
        "names (upstream has no shortNames or categories)"
    );
    let versions = spec["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(v["subresources"], json!({"status": {}}));
    assert_eq!(
        v["additionalPrinterColumns"],
        json!([
            {"jsonPath": ".status.conditions[0].message", "name": "Status", "type": "string"},
            {"jsonPath": ".status.conditions[0].status", "name": "Synced", "type": "string"},
            {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
        ])
    );
    let ours = skeleton(&v["schema"]["openAPIV3Schema"]);
    assert_eq!(
        ours,
        upstream_skeleton(),
        "schema differs from upstream:\n{}",
        serde_json::to_string_pretty(&ours).unwrap_or_default()
    );
}
