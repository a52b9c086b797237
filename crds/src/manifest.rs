//! Reading Kubernetes manifests (multi-document YAML, or a stream of JSON objects) and writing
//! SealedSecrets in exactly the shape the Go `kubeseal` prints, so diffs in Git stay small.

use crate::types::SealedSecret;
use serde::Deserialize;

/// Why an input could not be read as manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Neither YAML nor JSON.
    #[error("input is not valid {format}: {reason}")]
    Syntax {
        /// "YAML" or "JSON".
        format: &'static str,
        /// The parser's message (positions only, never content).
        reason: String,
    },
    /// A document is YAML/JSON but not an object.
    #[error(
        "document {index} is not a Kubernetes object (expected a mapping with kind and apiVersion)"
    )]
    NotAnObject {
        /// 1-based position in the input.
        index: usize,
    },
}

/// One document of the input, with its 1-based position for messages.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based position in the input stream.
    pub index: usize,
    /// The document.
    pub value: serde_json::Value,
}

impl Document {
    /// `kind` of the document, if any.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(|k| k.as_str())
    }
}

/// Output format of sealed manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Indented JSON in Go struct field order (the original's default).
    #[default]
    Json,
    /// YAML with keys sorted, as Go's `sigs.k8s.io/yaml` writes.
    Yaml,
}

/// Whether the input looks like JSON (first non-blank byte `{` or `[`).
pub fn is_json(input: &[u8]) -> bool {
    input
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

/// Splits input into documents: a stream of JSON values, or multi-document YAML. Empty YAML
/// documents (e.g. a trailing `---`) are skipped; a JSON array is taken as a list of documents.
pub fn parse_documents(input: &[u8]) -> Result<Vec<Document>, ManifestError> {
    let values = if is_json(input) {
        let mut values = Vec::new();
        for value in serde_json::Deserializer::from_slice(input).into_iter::<serde_json::Value>() {
            let value = value.map_err(|e| ManifestError::Syntax {
                format: "JSON",
                reason: e.to_string(),
            })?;
            match value {
                serde_json::Value::Array(items) => values.extend(items),
                other => values.push(other),
            }
        }
        values
    } else {
        let mut values = Vec::new();
        for doc in serde_norway::Deserializer::from_slice(input) {
            let value = serde_json::Value::deserialize(doc).map_err(|e| ManifestError::Syntax {
                format: "YAML",
                reason: yaml_reason(&e),
            })?;
            if !value.is_null() {
                values.push(value);
            }
        }
        values
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            if value.is_object() {
                Ok(Document {
                    index: i + 1,
                    value,
                })
            } else {
                Err(ManifestError::NotAnObject { index: i + 1 })
            }
        })
        .collect()
}

/// The YAML reader's messages can quote the offending scalar; keep only the position.
fn yaml_reason(e: &serde_norway::Error) -> String {
    match e.location() {
        Some(loc) => format!(
            "syntax error at line {} column {}",
            loc.line(),
            loc.column()
        ),
        None => "syntax error".to_owned(),
    }
}

/// Writes SealedSecrets the way the Go `kubeseal` (v0.24.1+) does: JSON objects one after
/// another, or YAML documents each preceded by `---`.
pub fn write_sealed_secrets(
    items: &[SealedSecret],
    format: Format,
) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for item in items {
        match format {
            Format::Json => out.push_str(&to_go_json(item)?),
            Format::Yaml => {
                out.push_str("---\n");
                out.push_str(&to_go_yaml(item)?);
            }
        }
    }
    Ok(out)
}

/// Writes Secrets (e.g. from `--recovery-unseal`) in the same shapes as SealedSecrets.
pub fn write_secrets<'a>(
    items: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Secret>,
    format: Format,
) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for item in items {
        let shaped = go_shape::Secret::from(item);
        match format {
            Format::Json => {
                out.push_str(&go_escape(&serde_json::to_string_pretty(&shaped)?));
                out.push('\n');
            }
            Format::Yaml => {
                out.push_str("---\n");
                out.push_str(&crate::yaml::to_string(&sort_keys(serde_json::to_value(
                    shaped,
                )?)));
            }
        }
    }
    Ok(out)
}

/// One SealedSecret as indented JSON in Go field order with Go's HTML-safe escaping, ending in a
/// newline.
pub fn to_go_json(item: &SealedSecret) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(&go_shape::SealedSecret::from(item))?;
    text.push('\n');
    Ok(go_escape(&text))
}

/// One SealedSecret as YAML with sorted keys (Go converts JSON to YAML through a sorted map).
pub fn to_go_yaml(item: &SealedSecret) -> Result<String, serde_json::Error> {
    // serde_json's Map is a BTreeMap (no preserve_order): converting sorts every level.
    let value = serde_json::to_value(go_shape::SealedSecret::from(item))?;
    Ok(crate::yaml::to_string(&sort_keys(value)))
}

/// Sorts object keys at every level (independent of serde_json's map feature flags).
fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings. Outside strings
/// none of them can occur in JSON, so a plain replacement is exact.
fn go_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Mirrors of the Go structs, so that serialisation follows Go's field order and omitempty rules.
mod go_shape {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    use serde::Serialize;

    #[derive(Serialize)]
    pub(super) struct SealedSecret<'a> {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        metadata: ObjectMeta<'a>,
        spec: Spec<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<&'a crate::types::SealedSecretStatus>,
    }

    #[derive(Serialize)]
    struct Spec<'a> {
        template: Template<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a k8s_openapi::ByteString>,
        #[serde(rename = "encryptedData")]
        encrypted_data: &'a BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    struct Template<'a> {
        metadata: ObjectMeta<'a>,
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        type_: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        immutable: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a BTreeMap<String, Option<String>>>,
    }

    /// Go's `metav1.ObjectMeta` order; `creationTimestamp` is always written (null when unset).
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ObjectMeta<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        generate_name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        uid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resource_version: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        generation: Option<i64>,
        creation_timestamp: Option<&'a meta::Time>,
        #[serde(skip_serializing_if = "Option::is_none")]
        labels: Option<&'a BTreeMap<String, String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        annotations: Option<&'a BTreeMap<String, String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        owner_references: Option<Vec<OwnerReference<'a>>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        finalizers: Option<&'a Vec<String>>,
    }

    /// Go's `metav1.OwnerReference` order.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct OwnerReference<'a> {
        api_version: &'a str,
        kind: &'a str,
        name: &'a str,
        uid: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        controller: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        block_owner_deletion: Option<bool>,
    }

    impl<'a> From<&'a meta::OwnerReference> for OwnerReference<'a> {
        fn from(o: &'a meta::OwnerReference) -> Self {
            Self {
                api_version: &o.api_version,
                kind: &o.kind,
                name: &o.name,
                uid: &o.uid,
                controller: o.controller,
                block_owner_deletion: o.block_owner_deletion,
            }
        }
    }

    /// Go's `v1.Secret` order: kind, apiVersion, metadata, immutable, data, stringData, type.
    #[derive(Serialize)]
    pub(super) struct Secret<'a> {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        metadata: ObjectMeta<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        immutable: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a BTreeMap<String, k8s_openapi::ByteString>>,
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        type_: Option<&'a str>,
    }

    impl<'a> From<&'a k8s_openapi::api::core::v1::Secret> for Secret<'a> {
        fn from(s: &'a k8s_openapi::api::core::v1::Secret) -> Self {
            Self {
                kind: "Secret",
                api_version: "v1",
                metadata: ObjectMeta::from(&s.metadata),
                immutable: s.immutable,
                data: non_empty(&s.data),
                type_: s.type_.as_deref().filter(|t| !t.is_empty()),
            }
        }
    }

    fn non_empty<T: IsEmpty>(v: &Option<T>) -> Option<&T> {
        v.as_ref().filter(|v| !v.is_empty())
    }

    trait IsEmpty {
        fn is_empty(&self) -> bool;
    }
    impl<K, V> IsEmpty for BTreeMap<K, V> {
        fn is_empty(&self) -> bool {
            BTreeMap::is_empty(self)
        }
    }
    impl<T> IsEmpty for Vec<T> {
        fn is_empty(&self) -> bool {
            Vec::is_empty(self)
        }
    }
    impl IsEmpty for String {
        fn is_empty(&self) -> bool {
            String::is_empty(self)
        }
    }

    impl<'a> From<&'a meta::ObjectMeta> for ObjectMeta<'a> {
        fn from(m: &'a meta::ObjectMeta) -> Self {
            Self {
                name: non_empty(&m.name).map(String::as_str),
                generate_name: non_empty(&m.generate_name).map(String::as_str),
                namespace: non_empty(&m.namespace).map(String::as_str),
                uid: non_empty(&m.uid).map(String::as_str),
                resource_version: non_empty(&m.resource_version).map(String::as_str),
                generation: m.generation.filter(|g| *g != 0),
                creation_timestamp: m.creation_timestamp.as_ref(),
                labels: non_empty(&m.labels),
                annotations: non_empty(&m.annotations),
                owner_references: non_empty(&m.owner_references)
                    .map(|refs| refs.iter().map(OwnerReference::from).collect()),
                finalizers: non_empty(&m.finalizers),
            }
        }
    }

    impl<'a> From<&'a crate::types::SealedSecret> for SealedSecret<'a> {
        fn from(s: &'a crate::types::SealedSecret) -> Self {
            let t = &s.spec.template;
            Self {
                kind: crate::types::KIND,
                api_version: crate::types::API_VERSION,
                metadata: ObjectMeta::from(&s.metadata),
                spec: Spec {
                    template: Template {
                        metadata: ObjectMeta::from(&t.metadata),
                        type_: t.type_.as_deref().filter(|t| !t.is_empty()),
                        immutable: t.immutable,
                        data: non_empty(&t.data),
                    },
                    data: s.spec.data.as_ref().filter(|d| !d.0.is_empty()),
                    encrypted_data: &s.spec.encrypted_data,
                },
                status: s.status.as_ref(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(yaml: &str) -> serde_json::Value {
        let docs = parse_documents(yaml.as_bytes()).expect("parses");
        assert_eq!(docs.len(), 1, "{yaml}");
        docs.into_iter().next().map(|d| d.value).unwrap_or_default()
    }

    #[test]
    fn scalars_are_typed_by_yaml_1_2s_core_schema() {
        let v = one("a: yes\nb: n\nc: 0777\nd: 1_000\ne: true\nf: 12\ng: ~\nh: .inf\n");
        assert_eq!(v["a"], "yes");
        assert_eq!(v["b"], "n");
        assert_eq!(v["c"], "0777");
        assert_eq!(v["d"], "1_000");
        assert_eq!(v["e"], true);
        assert_eq!(v["f"], 12);
        assert!(v["g"].is_null());
        assert!(v["h"].is_null());
    }

    #[test]
    fn syntax_errors_name_the_position_only() {
        let err = parse_documents(b"data:\n  x: \"s3cr3t\n").expect_err("unclosed quote");
        let text = err.to_string();
        assert!(text.contains("syntax error at line"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }

    #[test]
    fn empty_documents_are_skipped() {
        let docs = parse_documents(b"---\n---\nkind: Secret\n---\n").expect("parses");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].index, 1);
    }
}
