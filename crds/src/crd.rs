//! The CustomResourceDefinition manifest, generated from [`crate::types`] and normalised to the
//! conventions of the original's (controller-gen) manifest, so that the two are structurally equal.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{json, Value};

use crate::types::SealedSecret;

/// Path of the checked-in manifest, relative to the `crds/` crate.
pub const CRD_FILE: &str = "sealedsecrets.bitnami.com.yaml";

/// The CRD object.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = SealedSecret::crd();
    crd.spec.names.list_kind = Some("SealedSecretList".to_owned());
    for version in &mut crd.spec.versions {
        let Some(schema) = version.schema.as_mut() else {
            continue;
        };
        let Some(root) = schema.open_api_v3_schema.take() else {
            continue;
        };
        let mut value = serde_json::to_value(root).unwrap_or(Value::Null);
        normalise(&mut value, false);
        add_type_meta(&mut value);
        schema.open_api_v3_schema = serde_json::from_value(value).ok();
    }
    crd
}

/// Applies controller-gen's conventions: no `title` or `default`, and `nullable` only where the
/// original declares it (the `data` and `metadata` objects of `spec.template`). Rust's `Option`
/// marks every optional field nullable, which Go's `omitempty` fields are not.
fn normalise(schema: &mut Value, may_be_nullable: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    obj.remove("title");
    obj.remove("default");
    let is_object = obj.get("type").and_then(Value::as_str) == Some("object");
    if !(may_be_nullable && is_object) {
        obj.remove("nullable");
    }
    let is_template = obj
        .get("properties")
        .is_some_and(|p| p.get("metadata").is_some() && p.get("immutable").is_some());
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        for prop in props.values_mut() {
            normalise(prop, is_template);
        }
    }
    if let Some(items) = obj.get_mut("items") {
        normalise(items, false);
    }
}

/// controller-gen documents `apiVersion`, `kind` and `metadata` at the root.
fn add_type_meta(root: &mut Value) {
    let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    props.insert(
        "apiVersion".into(),
        json!({
            "description": "APIVersion defines the versioned schema of this representation of an object.\nServers should convert recognized schemas to the latest internal value, and\nmay reject unrecognized values.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            "type": "string"
        }),
    );
    props.insert(
        "kind".into(),
        json!({
            "description": "Kind is a string value representing the REST resource this object represents.\nServers may infer this from the endpoint the client submits requests to.\nCannot be updated.\nIn CamelCase.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            "type": "string"
        }),
    );
    props.insert("metadata".into(), json!({ "type": "object" }));
}

/// The CRD as the YAML that is checked in (and installed by `deploy/`).
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(&crd())?;
    Ok(format!(
        "# Generated from crds/src/types.rs by `cargo run -p sealed-secrets-crds --example gen-crd`.\n# Do not edit by hand.\n{body}"
    ))
}
