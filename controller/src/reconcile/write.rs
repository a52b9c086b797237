//! What to do with a SealedSecret's Secret, decided without I/O: create it, update it, leave it,
//! or refuse to touch it.
//!
//! The controller writes with `create` and `update` only (the rights upstream's Helm chart
//! grants), so what server-side apply did for it is spelt out here:
//!
//! - **Whose Secret**: one with a controller owner reference to the SealedSecret, or annotated
//!   `sealedsecrets.bitnami.com/managed: "true"`, is taken over; one annotated
//!   `sealedsecrets.bitnami.com/patch: "true"` alone gets the values merged in, without an owner
//!   reference; any other is refused.
//! - **What the controller owns** in a Secret it updates: the data keys (all of them, or with the
//!   patch annotation only those of the SealedSecret), the labels, annotations and finalizers of
//!   the SealedSecret's template, its owner reference to the SealedSecret, `type` and
//!   `immutable` when the template sets them. Everything else (other writers' labels,
//!   annotations, owner references, finalizers) is kept as read.
//! - **Stale fields**: a label, annotation or (with the patch annotation) data key the controller
//!   once wrote and the template no longer holds is dropped. "Once wrote" is read from the
//!   Secret's `managedFields` entries of the controller's field manager, which the API server
//!   keeps for its updates as for its former server-side applies; a field someone else changed
//!   since is theirs and stays.
//! - **No write** when the result equals the Secret as read; an immutable Secret whose data
//!   would change is refused.

use std::collections::{BTreeMap, BTreeSet};

use crds::convert::ZeroizingSecret;
use crds::types::{MANAGED_ANNOTATION, PATCH_ANNOTATION};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::FIELD_MANAGER;

/// What to do with the Secret.
#[derive(Debug)]
pub enum SecretAction {
    /// It already holds what the SealedSecret says.
    Nothing,
    /// It does not exist: create it (create-only: a Secret made meanwhile gets 409).
    Create(ZeroizingSecret),
    /// Replace it with `secret`, only if it is still at `resource_version` (else 409).
    Update {
        /// The whole Secret as it should be (carrying `resource_version`).
        secret: ZeroizingSecret,
        /// The version that was judged.
        resource_version: String,
    },
    /// Leave it alone and report why.
    Refuse(Refusal),
}

/// Why an existing Secret is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Someone else's Secret (no owner reference, no managed or patch annotation).
    Unmanaged,
    /// Immutable, and its data would change.
    Immutable,
}

/// How the controller may treat an existing Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ownership {
    /// Owned by the SealedSecret or annotated `managed`: the owner reference is set.
    take_over: bool,
    /// Annotated `patch`: data keys are merged, not replaced.
    merge_data: bool,
}

/// Decides what to do, given the SealedSecret's uid, the Secret as read (None: it does not
/// exist) and the Secret unsealed from the SealedSecret.
pub fn decide(
    sealed_uid: Option<&str>,
    existing: Option<&Secret>,
    desired: &Secret,
) -> SecretAction {
    let Some(existing) = existing else {
        let mut secret = ZeroizingSecret(desired.clone());
        secret.metadata.resource_version = None;
        secret.metadata.managed_fields = None;
        return SecretAction::Create(secret);
    };
    let Some(ownership) = ownership(sealed_uid, existing) else {
        return SecretAction::Refuse(Refusal::Unmanaged);
    };
    let merged = merge(sealed_uid, existing, desired, ownership);
    if *merged == *existing {
        return SecretAction::Nothing;
    }
    if existing.immutable == Some(true) && merged.data != existing.data {
        return SecretAction::Refuse(Refusal::Immutable);
    }
    SecretAction::Update {
        resource_version: existing
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default(),
        secret: merged,
    }
}

/// Whether the Secret may be written, and how; None: it is someone else's.
fn ownership(sealed_uid: Option<&str>, existing: &Secret) -> Option<Ownership> {
    let owned = sealed_uid.is_some_and(|uid| {
        existing
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == uid)
    });
    let annotated = |key: &str| {
        existing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .is_some_and(|v| v == "true")
    };
    let take_over = owned || annotated(MANAGED_ANNOTATION);
    let merge_data = annotated(PATCH_ANNOTATION);
    (take_over || merge_data).then_some(Ownership {
        take_over,
        merge_data,
    })
}

/// The existing Secret with the controller's fields set from `desired`.
fn merge(
    sealed_uid: Option<&str>,
    existing: &Secret,
    desired: &Secret,
    ownership: Ownership,
) -> ZeroizingSecret {
    let written = FieldsWritten::of(existing);
    let mut merged = ZeroizingSecret(existing.clone());
    // Sent without: the API server keeps the recorded ones and adds this update's.
    merged.metadata.managed_fields = None;
    let meta = &desired.metadata;
    merged.metadata.labels = merge_map(
        existing.metadata.labels.as_ref(),
        meta.labels.as_ref(),
        &written.labels,
    );
    merged.metadata.annotations = merge_map(
        existing.metadata.annotations.as_ref(),
        meta.annotations.as_ref(),
        &written.annotations,
    );
    merged.data = if ownership.merge_data {
        merge_map(existing.data.as_ref(), desired.data.as_ref(), &written.data)
    } else {
        same_shape(
            existing.data.as_ref(),
            desired.data.clone().unwrap_or_default(),
        )
    };
    merged.metadata.finalizers = merge_finalizers(
        existing.metadata.finalizers.as_ref(),
        meta.finalizers.as_ref(),
    );
    let wanted = if ownership.take_over {
        meta.owner_references.as_ref()
    } else {
        None
    };
    merged.metadata.owner_references = merge_owners(
        sealed_uid,
        existing.metadata.owner_references.as_ref(),
        wanted,
    );
    if desired.type_.is_some() {
        merged.type_ = desired.type_.clone();
    }
    if desired.immutable.is_some() {
        merged.immutable = desired.immutable;
    }
    merged
}

/// `existing` without the `stale` keys the controller once wrote, with `desired` set on top.
fn merge_map<V: Clone + PartialEq>(
    existing: Option<&BTreeMap<String, V>>,
    desired: Option<&BTreeMap<String, V>>,
    stale: &BTreeSet<String>,
) -> Option<BTreeMap<String, V>> {
    let mut out: BTreeMap<String, V> = existing
        .into_iter()
        .flatten()
        .filter(|(k, _)| !stale.contains(*k) || desired.is_some_and(|d| d.contains_key(*k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.extend(
        desired
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    same_shape(existing, out)
}

/// `map`, or `existing` itself when they hold the same entries (None and empty alike), so that
/// an unchanged field compares equal.
fn same_shape<V: Clone + PartialEq>(
    existing: Option<&BTreeMap<String, V>>,
    map: BTreeMap<String, V>,
) -> Option<BTreeMap<String, V>> {
    let unchanged = match existing {
        Some(e) => *e == map,
        None => map.is_empty(),
    };
    if unchanged {
        existing.cloned()
    } else {
        Some(map)
    }
}

fn merge_finalizers(
    existing: Option<&Vec<String>>,
    desired: Option<&Vec<String>>,
) -> Option<Vec<String>> {
    let mut out = existing.cloned().unwrap_or_default();
    for f in desired.into_iter().flatten() {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    if out.is_empty() {
        existing.cloned()
    } else {
        Some(out)
    }
}

/// Other owners' references as they are; the one to this SealedSecret as `desired` has it
/// (removed when `desired` has none).
fn merge_owners(
    sealed_uid: Option<&str>,
    existing: Option<&Vec<OwnerReference>>,
    desired: Option<&Vec<OwnerReference>>,
) -> Option<Vec<OwnerReference>> {
    let ours = |o: &OwnerReference| {
        Some(o.uid.as_str()) == sealed_uid || desired.into_iter().flatten().any(|d| d.uid == o.uid)
    };
    let mut out: Vec<OwnerReference> = existing
        .into_iter()
        .flatten()
        .filter(|o| !ours(o))
        .cloned()
        .collect();
    out.extend(desired.into_iter().flatten().cloned());
    // Unchanged references keep their order (and so compare equal).
    let unchanged = match existing {
        Some(e) => e.len() == out.len() && out.iter().all(|o| e.contains(o)),
        None => out.is_empty(),
    };
    if unchanged {
        existing.cloned()
    } else {
        Some(out).filter(|o| !o.is_empty())
    }
}

/// The labels, annotations and data keys the controller's field manager owns in a Secret, by
/// its `managedFields`.
#[derive(Debug, Default)]
struct FieldsWritten {
    labels: BTreeSet<String>,
    annotations: BTreeSet<String>,
    data: BTreeSet<String>,
}

impl FieldsWritten {
    fn of(secret: &Secret) -> Self {
        let mut written = Self::default();
        let entries = secret.metadata.managed_fields.iter().flatten();
        for entry in entries.filter(|e| e.manager.as_deref() == Some(FIELD_MANAGER)) {
            let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
                continue;
            };
            let meta = &fields["f:metadata"];
            written.labels.extend(field_names(&meta["f:labels"]));
            written
                .annotations
                .extend(field_names(&meta["f:annotations"]));
            written.data.extend(field_names(&fields["f:data"]));
        }
        written
    }
}

/// The member names (`f:<name>`) of a FieldsV1 map.
fn field_names(fields: &serde_json::Value) -> impl Iterator<Item = String> + '_ {
    fields
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("f:").map(str::to_owned))
}

#[cfg(test)]
mod tests;
