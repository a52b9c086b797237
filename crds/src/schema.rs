//! OpenAPI schema pieces where the original's CRD differs from what the field types would derive:
//! free-form maps that keep unknown fields, nullable template parts.

use schemars::{json_schema, Schema, SchemaGenerator};

/// `spec.encryptedData`: a string map that also preserves unknown fields.
pub(crate) fn encrypted_data(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": { "type": "string" },
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// `spec.data`: the deprecated v1 blob.
pub(crate) fn byte_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Data is deprecated and will be removed eventually. Use per-value EncryptedData instead.",
        "type": "string",
        "format": "byte"
    })
}

/// `spec.template.data`: templated values, may be null.
pub(crate) fn template_data(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Keys that should be templated using decrypted data.\nSet a key with the same name as in `encryptedData`\nto `null` to omit the unsealed data from the final secret.",
        "type": "object",
        "nullable": true,
        "additionalProperties": { "type": "string" }
    })
}

/// `spec.template.metadata`: the commonly used ObjectMeta fields, keeping any other.
pub(crate) fn template_metadata(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Standard object's metadata.\nMore info: https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata",
        "type": "object",
        "nullable": true,
        "properties": {
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } },
            "finalizers": { "type": "array", "items": { "type": "string" } },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "name": { "type": "string" },
            "namespace": { "type": "string" }
        },
        "x-kubernetes-preserve-unknown-fields": true
    })
}
