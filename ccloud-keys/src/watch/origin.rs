//! Where a live Secret's data came from: the sealed-secrets controller (unsealed from a
//! SealedSecret, so from Git) or somebody else (the operator minting a key).
//!
//! The answer is read from the Secret's `managedFields`: the data came from Git when every data
//! key is owned by a field manager that also owns the owner reference to the controlling
//! SealedSecret. That holds for our controller (server-side apply or update) and for the Go
//! controller (update), without knowing either's manager name. An operator re-mint after
//! adoption changes the values, which moves their ownership to the operator's manager.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

/// Whether the Secret's current data was written by the controller of its SealedSecret.
pub fn data_came_from_sealed_secret(secret: &Secret) -> bool {
    let Some(uid) = controlling_sealed_secret_uid(secret) else {
        return false;
    };
    let entries = secret
        .metadata
        .managed_fields
        .as_deref()
        .unwrap_or_default();
    let controllers: Vec<&ManagedFieldsEntry> = entries
        .iter()
        .filter(|e| owns_owner_reference(e, &uid))
        .collect();
    if controllers.is_empty() {
        return false;
    }
    let keys: BTreeSet<&str> = data_keys(secret).collect();
    if keys.is_empty() {
        return false;
    }
    keys.iter().all(|key| {
        let owners: Vec<&ManagedFieldsEntry> =
            entries.iter().filter(|e| owns_data_key(e, key)).collect();
        !owners.is_empty() && owners.iter().all(|e| controllers.contains(e))
    })
}

fn controlling_sealed_secret_uid(secret: &Secret) -> Option<String> {
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| {
            o.kind == "SealedSecret"
                && o.api_version.starts_with("bitnami.com/")
                && o.controller == Some(true)
        })
        .map(|o| o.uid.clone())
}

fn data_keys(secret: &Secret) -> impl Iterator<Item = &str> {
    let data = secret.data.iter().flat_map(|d| d.keys());
    let string_data = secret.string_data.iter().flat_map(|d| d.keys());
    data.chain(string_data).map(String::as_str)
}

fn fields(entry: &ManagedFieldsEntry) -> Option<&Value> {
    entry.fields_v1.as_ref().map(|f| &f.0)
}

fn owns_owner_reference(entry: &ManagedFieldsEntry, uid: &str) -> bool {
    let key = format!("k:{}", serde_json::json!({ "uid": uid }));
    fields(entry)
        .and_then(|f| f.get("f:metadata"))
        .and_then(|m| m.get("f:ownerReferences"))
        .and_then(|r| r.get(&key))
        .is_some()
}

fn owns_data_key(entry: &ManagedFieldsEntry, key: &str) -> bool {
    let field = format!("f:{key}");
    fields(entry)
        .and_then(|f| f.get("f:data"))
        .and_then(|d| d.get(&field))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, OwnerReference};
    use k8s_openapi::ByteString;
    use serde_json::json;

    const UID: &str = "6a0f1b2c-0000-4000-8000-000000000001";

    fn entry(manager: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.to_owned()),
            operation: Some("Update".to_owned()),
            fields_type: Some("FieldsV1".to_owned()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    fn controller_fields(keys: &[&str]) -> Value {
        let data: serde_json::Map<String, Value> =
            keys.iter().map(|k| (format!("f:{k}"), json!({}))).collect();
        json!({
            "f:data": data,
            "f:metadata": { "f:ownerReferences": { format!("k:{{\"uid\":\"{UID}\"}}"): {} } },
        })
    }

    fn secret(keys: &[&str], owned: bool, entries: Vec<ManagedFieldsEntry>) -> Secret {
        let mut s = Secret {
            data: Some(
                keys.iter()
                    .map(|k| ((*k).to_owned(), ByteString(b"v".to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        };
        if owned {
            s.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "bitnami.com/v1alpha1".to_owned(),
                kind: "SealedSecret".to_owned(),
                name: "x".to_owned(),
                uid: UID.to_owned(),
                controller: Some(true),
                ..OwnerReference::default()
            }]);
        }
        s.metadata.managed_fields = Some(entries);
        s
    }

    #[test]
    fn a_secret_the_controller_created_came_from_git() {
        let s = secret(
            &["a", "b"],
            true,
            vec![entry(
                "sealed-secrets-controller",
                controller_fields(&["a", "b"]),
            )],
        );
        assert!(data_came_from_sealed_secret(&s));
    }

    #[test]
    fn an_operator_secret_adopted_without_changes_did_not() {
        let operator = entry(
            "kubectl-client-side-apply",
            json!({ "f:data": { "f:a": {} } }),
        );
        let controller = entry(
            "controller",
            json!({ "f:metadata": { "f:ownerReferences": { format!("k:{{\"uid\":\"{UID}\"}}"): {} } } }),
        );
        assert!(!data_came_from_sealed_secret(&secret(
            &["a"],
            true,
            vec![operator, controller]
        )));
    }

    #[test]
    fn a_remint_after_adoption_moves_the_data_to_the_operator() {
        let controller = entry(
            "sealed-secrets-controller",
            json!({ "f:metadata": { "f:ownerReferences": { format!("k:{{\"uid\":\"{UID}\"}}"): {} } }, "f:data": { "f:b": {} } }),
        );
        let operator = entry(
            "kubectl-client-side-apply",
            json!({ "f:data": { "f:a": {} } }),
        );
        assert!(!data_came_from_sealed_secret(&secret(
            &["a", "b"],
            true,
            vec![controller, operator]
        )));
    }

    #[test]
    fn shared_ownership_with_another_manager_is_not_from_git() {
        let both = vec![
            entry("sealed-secrets-controller", controller_fields(&["a"])),
            entry(
                "kubectl-client-side-apply",
                json!({ "f:data": { "f:a": {} } }),
            ),
        ];
        assert!(!data_came_from_sealed_secret(&secret(&["a"], true, both)));
    }

    #[test]
    fn without_a_sealed_secret_owner_or_managed_fields_it_is_not_from_git() {
        let fields = vec![entry("x", controller_fields(&["a"]))];
        assert!(!data_came_from_sealed_secret(&secret(
            &["a"],
            false,
            fields
        )));
        assert!(!data_came_from_sealed_secret(&secret(&["a"], true, vec![])));
        assert!(!data_came_from_sealed_secret(&secret(
            &[],
            true,
            vec![entry("x", controller_fields(&[]))]
        )));
    }
}
