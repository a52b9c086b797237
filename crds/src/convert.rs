//! Secret ⇄ SealedSecret: sealing a Secret the way `kubeseal` does, unsealing a SealedSecret the
//! way the controller does, and merging new values into an existing SealedSecret.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{
    hybrid_decrypt, hybrid_decrypt_indexed, hybrid_encrypt, DecryptError, EncryptError,
};
use crate::keys::{PrivateKey, PublicKey};
use crate::manifest::Document;
use crate::scope::Scope;
use crate::types::{
    SealedSecret, SealedSecretSpec, SecretTemplateSpec, API_VERSION, KIND, LAST_APPLIED_ANNOTATION,
    SKIP_SET_OWNER_REFERENCES_ANNOTATION,
};

/// The annotation the ksonnet/kubecfg tool writes; like kubectl's, it holds the whole object.
const KUBECFG_LAST_APPLIED_ANNOTATION: &str = "kubecfg.ksonnet.io/last-applied-configuration";

/// Why a Secret could not be sealed. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The document's `kind` is not `Secret`.
    #[error("document {index} is not a Secret (kind {kind:?})")]
    NotASecret {
        /// 1-based position in the input.
        index: usize,
        /// The kind found, or "" when absent.
        kind: String,
    },
    /// The document says Secret but its fields do not decode as one.
    #[error("document {index} is not a valid Secret: {reason}")]
    InvalidSecret {
        /// 1-based position in the input.
        index: usize,
        /// What was wrong (field names and types only).
        reason: String,
    },
    /// No `metadata.name` and no `--name`.
    #[error("missing metadata.name in input Secret")]
    MissingName,
    /// No namespace in the Secret, on the command line or in the kubeconfig.
    #[error("input secret has no namespace and cannot infer the namespace automatically when no kube config is available (use -n/--namespace)")]
    MissingNamespace,
    /// Neither `data` nor `stringData`.
    #[error("secret.data is empty in input Secret \"{name}\", assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used")]
    EmptyData {
        /// The Secret's name.
        name: String,
    },
    /// The primitive failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

/// Why a SealedSecret could not be unsealed. Names data keys, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Some values did not decrypt; identical reasons are grouped with their keys.
    #[error("{}", format_failures(.0))]
    Values(BTreeMap<String, Vec<String>>),
    /// Both `encryptedData` and the deprecated `data` are set.
    #[error(
        "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    BothDataFields,
    /// The deprecated `data` field without `--accept-deprecated-v1-data`.
    #[error("using deprecated 'data' field, use 'encryptedData' or flip the feature flag")]
    DeprecatedDataRefused,
    /// The deprecated `data` blob decrypted but is not a Secret.
    #[error("deprecated 'data' field does not hold a Secret")]
    DeprecatedDataInvalid,
    /// The SealedSecret has no name or namespace (needed for the label).
    #[error("SealedSecret has no {0}")]
    MissingMetadata(&'static str),
    /// A template in `spec.template.data` failed.
    #[error("template for key \"{key}\": {reason}")]
    Template {
        /// The data key being rendered.
        key: String,
        /// What went wrong.
        reason: String,
    },
}

fn format_failures(failures: &BTreeMap<String, Vec<String>>) -> String {
    failures
        .iter()
        .map(|(reason, keys)| format!("{reason} ({})", keys.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How to seal one Secret.
#[derive(Debug, Clone, Default)]
pub struct SealOptions {
    /// `--scope`: when set, replaces the scope annotations of the input; otherwise they decide.
    pub scope: Option<Scope>,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
    /// `--name` (or the name of the file merged into).
    pub name: Option<String>,
    /// Namespace that replaces the Secret's (the file merged into).
    pub namespace: Option<String>,
    /// Namespace used when the Secret has none (`-n`, or the kubeconfig context).
    pub fallback_namespace: Option<String>,
}

/// Decodes a manifest document into a Secret, checking that it is one.
pub fn secret_from_document(doc: &Document) -> Result<Secret, SealError> {
    match doc.kind() {
        Some("Secret") => {}
        other => {
            return Err(SealError::NotASecret {
                index: doc.index,
                kind: other.unwrap_or_default().to_owned(),
            })
        }
    }
    serde_json::from_value(doc.value.clone()).map_err(|e| SealError::InvalidSecret {
        index: doc.index,
        reason: serde_reason(&e),
    })
}

/// serde messages quote the offending value ("invalid type: integer `123`", "invalid value:
/// string \"...\""): drop every quoted part so no value can reach a message.
fn serde_reason(e: &serde_json::Error) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in e.to_string().chars() {
        match (quote, c) {
            (None, '`' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, c) => out.push(c),
            (Some(_), _) => {}
        }
    }
    out.replace("  ", " ").replace(" ,", ",")
}

/// Seals a Secret: the values are encrypted for `key` under the Secret's scope, the metadata is
/// cleaned of everything the API server sets and of `last-applied-configuration`.
pub fn seal_secret(
    mut secret: Secret,
    key: &PublicKey,
    opts: &SealOptions,
) -> Result<SealedSecret, SealError> {
    let result = seal_secret_inner(&mut secret, key, opts);
    zeroize_secret(&mut secret);
    result
}

fn seal_secret_inner(
    secret: &mut Secret,
    key: &PublicKey,
    opts: &SealOptions,
) -> Result<SealedSecret, SealError> {
    let meta = &mut secret.metadata;
    if let Some(name) = &opts.name {
        meta.name = Some(name.clone());
    }
    let name = meta.name.clone().filter(|n| !n.is_empty());
    let is_empty = secret.data.as_ref().is_none_or(BTreeMap::is_empty)
        && secret.string_data.as_ref().is_none_or(BTreeMap::is_empty);
    if is_empty && !opts.allow_empty_data {
        return Err(SealError::EmptyData {
            name: name.unwrap_or_default(),
        });
    }
    let name = name.ok_or(SealError::MissingName)?;
    let meta = &mut secret.metadata;
    if let Some(ns) = &opts.namespace {
        meta.namespace = Some(ns.clone());
    }
    if let Some(scope) = opts.scope {
        scope.apply_to_annotations(meta.annotations.get_or_insert_with(BTreeMap::new));
    }
    let scope = Scope::from_annotations(meta.annotations.as_ref());
    if meta.namespace.as_deref().is_none_or(str::is_empty) && scope != Scope::ClusterWide {
        meta.namespace = Some(
            opts.fallback_namespace
                .clone()
                .ok_or(SealError::MissingNamespace)?,
        );
    }
    let namespace = meta.namespace.clone().unwrap_or_default();

    let template_meta = template_metadata(meta);
    let label = scope.label(&namespace, &name);
    let mut encrypted_data = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        encrypted_data.insert(k.clone(), seal_bytes(key, &label, &v.0)?);
    }
    for (k, v) in secret.string_data.iter().flatten() {
        encrypted_data.insert(k.clone(), seal_bytes(key, &label, v.as_bytes())?);
    }

    let mut annotations = BTreeMap::new();
    scope.apply_to_annotations(&mut annotations);
    Ok(SealedSecret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace).filter(|n| !n.is_empty()),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            ..ObjectMeta::default()
        },
        spec: SealedSecretSpec {
            template: SecretTemplateSpec {
                metadata: template_meta,
                type_: secret.type_.clone(),
                immutable: secret.immutable,
                data: None,
            },
            data: None,
            encrypted_data,
        },
        status: None,
    })
}

/// The Secret's metadata as the template keeps it: without server-set fields, owner
/// references, managed fields and the last-applied annotations (which hold plaintext).
pub fn template_metadata(meta: &ObjectMeta) -> ObjectMeta {
    let mut annotations = meta.annotations.clone();
    if let Some(a) = annotations.as_mut() {
        a.remove(LAST_APPLIED_ANNOTATION);
        a.remove(KUBECFG_LAST_APPLIED_ANNOTATION);
    }
    ObjectMeta {
        name: meta.name.clone(),
        generate_name: meta.generate_name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone(),
        annotations: annotations.filter(|a| !a.is_empty()),
        finalizers: meta.finalizers.clone(),
        ..ObjectMeta::default()
    }
}

/// Encrypts one value and encodes it as the original does (standard padded base64).
pub fn seal_bytes(key: &PublicKey, label: &[u8], value: &[u8]) -> Result<String, EncryptError> {
    Ok(base64::engine::general_purpose::STANDARD.encode(hybrid_encrypt(key, label, value)?))
}

/// Why one sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not standard base64.
    #[error("sealed value is not valid base64")]
    NotBase64,
    /// Decryption failed.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
}

/// Decodes and decrypts one sealed value with the first key that opens it.
pub fn unseal_bytes(
    keys: &[PrivateKey],
    label: &[u8],
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, ValueError> {
    unseal_bytes_indexed(keys, label, sealed).map(|(_, plain)| plain)
}

/// Like [`unseal_bytes`], also returning the position in `keys` of the key that opened it.
pub fn unseal_bytes_indexed(
    keys: &[PrivateKey],
    label: &[u8],
    sealed: &str,
) -> Result<(usize, Zeroizing<Vec<u8>>), ValueError> {
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(sealed.trim())
        .map_err(|_| ValueError::NotBase64)?;
    Ok(hybrid_decrypt_indexed(keys, label, &ciphertext)?)
}

/// The decrypted values of a SealedSecret (no templates rendered), and the highest position in
/// `keys` of a key that was needed: 0 means everything is sealed to the first (newest) key.
pub struct DecryptedValues {
    /// Plaintext by data key; zeroized on drop.
    pub values: BTreeMap<String, Zeroizing<Vec<u8>>>,
    /// Highest index in `keys` used to open a value.
    pub oldest_key_index: usize,
}

/// Decrypts every value of `spec.encryptedData` (or the deprecated `spec.data`), without
/// rendering templates: what `/v1/verify` and `/v1/rotate` need.
pub fn decrypt_values(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    opts: UnsealOptions,
) -> Result<DecryptedValues, UnsealError> {
    let name = sealed
        .metadata
        .name
        .as_deref()
        .ok_or(UnsealError::MissingMetadata("name"))?;
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or_default();
    let label =
        Scope::from_annotations(sealed.metadata.annotations.as_ref()).label(namespace, name);
    let legacy = sealed.spec.data.as_ref().filter(|d| !d.0.is_empty());
    match legacy {
        Some(_) if !sealed.spec.encrypted_data.is_empty() => Err(UnsealError::BothDataFields),
        Some(_) if !opts.accept_deprecated_v1_data => Err(UnsealError::DeprecatedDataRefused),
        Some(blob) => Ok(DecryptedValues {
            values: unseal_v1_blob(keys, &label, &blob.0)?,
            oldest_key_index: 0,
        }),
        None => {
            let mut values = BTreeMap::new();
            let mut oldest_key_index = 0;
            let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (key, sealed_value) in &sealed.spec.encrypted_data {
                match unseal_bytes_indexed(keys, &label, sealed_value) {
                    Ok((index, plain)) => {
                        oldest_key_index = oldest_key_index.max(index);
                        values.insert(key.clone(), plain);
                    }
                    Err(e) => failures.entry(e.to_string()).or_default().push(key.clone()),
                }
            }
            if failures.is_empty() {
                Ok(DecryptedValues {
                    values,
                    oldest_key_index,
                })
            } else {
                Err(UnsealError::Values(failures))
            }
        }
    }
}

/// Re-encrypts every value of a SealedSecret to `newest` (same scope and label), keeping
/// everything else: what `/v1/rotate` and `kubeseal --re-encrypt` do. Plaintext never leaves.
pub fn reencrypt(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    newest: &PublicKey,
    opts: UnsealOptions,
) -> Result<SealedSecret, UnsealError> {
    let decrypted = decrypt_values(sealed, keys, opts)?;
    reseal_values(sealed, &decrypted.values, newest)
}

/// `sealed` with `values` (its decrypted values) sealed again to `newest`: the second half of
/// [`reencrypt`], for callers that already decrypted.
pub fn reseal_values(
    sealed: &SealedSecret,
    values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    newest: &PublicKey,
) -> Result<SealedSecret, UnsealError> {
    let name = sealed.metadata.name.as_deref().unwrap_or_default();
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or_default();
    let label =
        Scope::from_annotations(sealed.metadata.annotations.as_ref()).label(namespace, name);
    let mut out = sealed.clone();
    out.spec.data = None;
    out.spec.encrypted_data = values
        .iter()
        .map(|(k, v)| {
            seal_bytes(newest, &label, v)
                .map(|ct| (k.clone(), ct))
                .map_err(|e| {
                    UnsealError::Values(BTreeMap::from([(e.to_string(), vec![k.clone()])]))
                })
        })
        .collect::<Result<_, _>>()?;
    out.status = None;
    Ok(out)
}

/// Options of the unsealing side.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsealOptions {
    /// Accept the deprecated v1 `spec.data` blob.
    pub accept_deprecated_v1_data: bool,
}

/// Renders `spec.template.data` over the decrypted values (Go text/template syntax).
pub trait TemplateRenderer {
    /// Renders `template` with `values` available by key.
    fn render(
        &self,
        template: &str,
        values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, String>;
}

/// A renderer for callers without a template engine: any template is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTemplates;

impl TemplateRenderer for NoTemplates {
    fn render(
        &self,
        _template: &str,
        _values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        Err("templated data is not supported here".to_owned())
    }
}

/// Unseals a SealedSecret into the Secret the controller would write: template metadata, type,
/// immutability, decrypted values (or rendered templates), name and namespace of the
/// SealedSecret, and an owner reference to it unless `skip-set-owner-references` is set.
pub fn unseal_sealed_secret(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    renderer: &dyn TemplateRenderer,
    opts: UnsealOptions,
) -> Result<Secret, UnsealError> {
    unseal_sealed_secret_detailed(sealed, keys, renderer, opts).map(|(secret, _)| secret)
}

/// Like [`unseal_sealed_secret`], also returning the highest position in `keys` of a key that
/// was needed (0: all values are sealed to the first key).
pub fn unseal_sealed_secret_detailed(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    renderer: &dyn TemplateRenderer,
    opts: UnsealOptions,
) -> Result<(Secret, usize), UnsealError> {
    let DecryptedValues {
        values,
        oldest_key_index,
    } = decrypt_values(sealed, keys, opts)?;
    let name = sealed.metadata.name.as_deref().unwrap_or_default();
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or_default();
    let template = &sealed.spec.template;
    let mut data: BTreeMap<String, ByteString> = values
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.to_vec())))
        .collect();
    for (key, tmpl) in template.data.iter().flatten() {
        match tmpl {
            None => {
                data.remove(key);
            }
            Some(_) if values.contains_key(key) => {}
            Some(text) => {
                let rendered =
                    renderer
                        .render(text, &values)
                        .map_err(|reason| UnsealError::Template {
                            key: key.clone(),
                            reason,
                        })?;
                data.insert(key.clone(), ByteString(rendered.to_vec()));
            }
        }
    }

    let mut metadata = template.metadata.clone();
    metadata.name = Some(name.to_owned());
    metadata.namespace = Some(namespace.to_owned()).filter(|n| !n.is_empty());
    let skip_owner = template
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SKIP_SET_OWNER_REFERENCES_ANNOTATION))
        .is_some_and(|v| v == "true");
    metadata.owner_references = if skip_owner {
        None
    } else {
        Some(vec![owner_reference(sealed)])
    };
    let secret = Secret {
        metadata,
        data: Some(data),
        immutable: template.immutable,
        type_: template.type_.clone(),
        string_data: None,
    };
    Ok((secret, oldest_key_index))
}

/// The owner reference a Secret gets to its SealedSecret.
pub fn owner_reference(sealed: &SealedSecret) -> OwnerReference {
    OwnerReference {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        name: sealed.metadata.name.clone().unwrap_or_default(),
        uid: sealed.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

/// The deprecated v1 format: the whole Secret, JSON-encoded, sealed as one value.
fn unseal_v1_blob(
    keys: &[PrivateKey],
    label: &[u8],
    blob: &[u8],
) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, UnsealError> {
    let plain = hybrid_decrypt(keys, label, blob).map_err(|e| {
        UnsealError::Values(BTreeMap::from([(e.to_string(), vec!["data".to_owned()])]))
    })?;
    let mut secret: Secret =
        serde_json::from_slice(&plain).map_err(|_| UnsealError::DeprecatedDataInvalid)?;
    let values = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Zeroizing::new(v.0.clone())))
        .collect();
    zeroize_secret(&mut secret);
    Ok(values)
}

/// Adds or replaces the values, template labels, annotations and template data of `update` in
/// `orig` (what `kubeseal --merge-into` does). Nothing is removed; `orig`'s name, namespace, type
/// and other fields stay.
pub fn merge_into(orig: &mut SealedSecret, update: SealedSecret) {
    orig.spec.encrypted_data.extend(update.spec.encrypted_data);
    let from = update.spec.template;
    let into = &mut orig.spec.template;
    if let Some(a) = from.metadata.annotations.filter(|a| !a.is_empty()) {
        into.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .extend(a);
    }
    if let Some(l) = from.metadata.labels.filter(|l| !l.is_empty()) {
        into.metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .extend(l);
    }
    if let Some(d) = from.data.filter(|d| !d.is_empty()) {
        into.data.get_or_insert_with(BTreeMap::new).extend(d);
    }
}

/// A Secret whose values are overwritten when it is dropped, on every path out of the code
/// that holds it (early returns, errors, a cancelled future).
pub struct ZeroizingSecret(pub Secret);

impl std::fmt::Debug for ZeroizingSecret {
    /// Names the Secret, never its values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroizingSecret")
            .field("name", &self.0.metadata.name)
            .finish_non_exhaustive()
    }
}

impl ZeroizingSecret {
    /// The Secret, for a consumer that wipes it itself (such as [`seal_secret`]); what is left
    /// behind is empty.
    pub fn into_inner(mut self) -> Secret {
        std::mem::take(&mut self.0)
    }
}

impl Clone for ZeroizingSecret {
    /// A copy that is wiped on drop too.
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl std::ops::Deref for ZeroizingSecret {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl std::ops::DerefMut for ZeroizingSecret {
    fn deref_mut(&mut self) -> &mut Secret {
        &mut self.0
    }
}

impl Drop for ZeroizingSecret {
    fn drop(&mut self) {
        zeroize_secret(&mut self.0);
    }
}

/// Overwrites the plaintext values held in a Secret.
pub fn zeroize_secret(secret: &mut Secret) {
    for v in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        v.0.zeroize();
    }
    for v in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        v.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_with_values() -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("db".into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                "password".into(),
                ByteString(b"hunter2".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([("token".into(), "s3cr3t".into())])),
            ..Secret::default()
        }
    }

    #[test]
    fn zeroize_secret_clears_data_and_string_data_values_but_keeps_their_keys() {
        let mut secret = secret_with_values();
        zeroize_secret(&mut secret);
        let data = secret.data.expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
        assert!(data.values().all(|v| v.0.is_empty()));
        let string_data = secret.string_data.expect("stringData");
        assert!(string_data.values().all(String::is_empty));
    }

    #[test]
    fn zeroizing_secret_hands_its_values_over_intact_and_never_prints_them() {
        let wrapped = ZeroizingSecret(secret_with_values());
        let debug = format!("{:?}", wrapped.clone());
        assert!(debug.contains("db") && !debug.contains("hunter2") && !debug.contains("s3cr3t"));
        assert_eq!(wrapped.into_inner(), secret_with_values());
    }
}
