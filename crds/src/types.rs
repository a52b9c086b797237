//! The `SealedSecret` resource (`bitnami.com/v1alpha1`), field for field as the original defines it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::ByteString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the resource.
pub const GROUP: &str = "bitnami.com";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the resource.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Kind of the resource.
pub const KIND: &str = "SealedSecret";

/// On an existing Secret's SealedSecret: the controller may take the Secret over.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// Merge into an existing Secret instead of replacing it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// Do not set an ownerReference on the Secret (it survives deletion of the SealedSecret).
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";
/// The annotation `kubectl apply` writes; holds the whole object, so plaintext for a Secret.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// SealedSecretSpec is the specification of a SealedSecret.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "bitnami.com",
    version = "v1alpha1",
    kind = "SealedSecret",
    plural = "sealedsecrets",
    singular = "sealedsecret",
    namespaced,
    status = "SealedSecretStatus",
    doc = "SealedSecret is the K8s representation of a \"sealed Secret\" - a\nregular k8s Secret that has been sealed (encrypted) using the\ncontroller's key.",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[0].message"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[0].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Template defines the structure of the Secret that will be
    /// created from this sealed secret.
    #[serde(default)]
    pub template: SecretTemplateSpec,
    /// Data is deprecated and will be removed eventually. Use per-value EncryptedData instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::byte_string")]
    pub data: Option<ByteString>,
    #[schemars(schema_with = "crate::schema::encrypted_data")]
    pub encrypted_data: BTreeMap<String, String>,
}

/// SecretTemplateSpec describes the structure a Secret should have when created from a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplateSpec {
    /// Standard object's metadata.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::template_metadata")]
    pub metadata: ObjectMeta,
    /// Used to facilitate programmatic handling of secret data.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Immutable, if set to true, ensures that data stored in the Secret cannot
    /// be updated (only object metadata can be modified).
    /// If not set to true, the field can be modified at any time.
    /// Defaulted to nil.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Keys that should be templated using decrypted data. Set a key with the same name as in
    /// `encryptedData` to `null` to omit the unsealed data from the final secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::template_data")]
    pub data: Option<BTreeMap<String, Option<String>>>,
}

/// SealedSecretStatus is the most recently observed status of the SealedSecret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// ObservedGeneration reflects the generation most recently observed by the sealed-secrets controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Represents the latest available observations of a sealed secret's current state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<SealedSecretCondition>,
}

/// SealedSecretCondition describes the state of a sealed secret at a certain point.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretCondition {
    /// Type of condition for a sealed secret.
    /// Valid value: "Synced"
    #[serde(rename = "type")]
    pub type_: String,
    /// Status of the condition for a sealed secret.
    /// Valid values for "Synced": "True", "False", or "Unknown".
    pub status: String,
    /// The last time this condition was updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Last time the condition transitioned from one status to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// The reason for the condition's last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
