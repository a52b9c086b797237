//! Which Secrets exist, as the controller's metadata-only Secret watch last saw them.
//!
//! It answers one question: "is this Secret surely not there?". When it is not, the reconciler
//! skips the GET and creates the Secret with a create-only apply (see `reconcile.rs`): one API
//! request instead of two for every new SealedSecret. The answer may be stale (a Secret created
//! a moment ago by someone else); the create-only apply then fails with a conflict and the
//! reconciler falls back to reading the Secret, so a stale answer costs a request, never an
//! unowned Secret.
//!
//! Only a 64-bit hash of namespace and name is kept per Secret (about 10 to 21 bytes each with
//! the hash table's spare room, twice that during a relist). A collision is harmless either way:
//! a missing Secret that looks present is read first, as without this index; a present one that
//! looks missing (its twin was deleted) gets the create-only write's conflict and is then read.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::Event;

/// The Secrets each Secret watch has seen, by the watch's scope: a namespace, or all of them
/// (the empty name).
#[derive(Debug, Default)]
pub struct KnownSecrets {
    scopes: Mutex<HashMap<String, Scope>>,
}

/// The scope key of a cluster-wide watch (no namespace has an empty name).
const ALL: &str = "";

/// What one watch has seen.
#[derive(Debug, Default)]
struct Scope {
    /// Whether a full list has completed: before that, absence proves nothing.
    listed: bool,
    /// Secrets seen, by [`id`].
    present: HashSet<u64>,
    /// The list in progress after a (re)start of the watch; replaces `present` when done.
    listing: Option<HashSet<u64>>,
}

impl KnownSecrets {
    /// Records one event of the Secret watch whose scope is `scope`.
    pub fn observe(&self, scope: Option<&str>, event: &Event<PartialObjectMeta<Secret>>) {
        let scope = scope.unwrap_or(ALL);
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        // Every watch starts with `Init`: that is where its scope is made.
        let known = if let Event::Init = event {
            scopes.entry(scope.to_owned()).or_default()
        } else {
            match scopes.get_mut(scope) {
                Some(known) => known,
                None => return,
            }
        };
        match event {
            Event::Init => known.listing = Some(HashSet::new()),
            Event::InitApply(secret) => {
                if let Some(listing) = known.listing.as_mut() {
                    listing.insert(id_of(secret));
                }
            }
            Event::InitDone => {
                if let Some(listing) = known.listing.take() {
                    known.present = listing;
                    known.listed = true;
                }
            }
            Event::Apply(secret) => {
                let id = id_of(secret);
                known.present.insert(id);
                if let Some(listing) = known.listing.as_mut() {
                    listing.insert(id);
                }
            }
            Event::Delete(secret) => {
                let id = id_of(secret);
                known.present.remove(&id);
                if let Some(listing) = known.listing.as_mut() {
                    listing.remove(&id);
                }
            }
        }
    }

    /// Whether the Secret `namespace/name` was not there when the watch last looked. False
    /// whenever the watch has not completed a list (or there is no watch, `--skip-recreate`).
    pub fn surely_absent(&self, namespace: &str, name: &str) -> bool {
        let scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        let scope = scopes.get(namespace).or_else(|| scopes.get(ALL));
        scope.is_some_and(|s| s.listed && !s.present.contains(&id(namespace, name)))
    }
}

fn id_of(secret: &PartialObjectMeta<Secret>) -> u64 {
    id(
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// A hash of namespace and name (`DefaultHasher::new` is the same hasher every time).
fn id(namespace: &str, name: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    namespace.hash(&mut hasher);
    name.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(namespace: &str, name: &str) -> PartialObjectMeta<Secret> {
        let mut meta = PartialObjectMeta::<Secret>::default();
        meta.metadata.namespace = Some(namespace.to_owned());
        meta.metadata.name = Some(name.to_owned());
        meta
    }

    #[test]
    fn absence_counts_only_after_a_complete_list() {
        let known = KnownSecrets::default();
        assert!(!known.surely_absent("app", "db"), "no watch yet");
        known.observe(Some("app"), &Event::Init);
        known.observe(Some("app"), &Event::InitApply(secret("app", "other")));
        assert!(!known.surely_absent("app", "db"), "list still running");
        known.observe(Some("app"), &Event::InitDone);
        assert!(known.surely_absent("app", "db"));
        assert!(!known.surely_absent("app", "other"));
        assert!(
            !known.surely_absent("elsewhere", "db"),
            "namespace not watched"
        );
    }

    #[test]
    fn applies_and_deletes_keep_it_current() {
        let known = KnownSecrets::default();
        known.observe(None, &Event::Init);
        known.observe(None, &Event::InitDone);
        known.observe(None, &Event::Apply(secret("app", "db")));
        assert!(!known.surely_absent("app", "db"));
        assert!(
            known.surely_absent("other", "db"),
            "namespace is part of the identity"
        );
        known.observe(None, &Event::Delete(secret("app", "db")));
        assert!(known.surely_absent("app", "db"));
    }

    #[test]
    fn a_relist_replaces_what_was_seen_once_it_completes() {
        let known = KnownSecrets::default();
        known.observe(Some("app"), &Event::Init);
        known.observe(Some("app"), &Event::InitApply(secret("app", "gone")));
        known.observe(Some("app"), &Event::InitDone);
        // The watch restarts: until its list completes, the old view still answers.
        known.observe(Some("app"), &Event::Init);
        known.observe(Some("app"), &Event::InitApply(secret("app", "new")));
        assert!(!known.surely_absent("app", "gone"));
        known.observe(Some("app"), &Event::InitDone);
        assert!(
            known.surely_absent("app", "gone"),
            "deleted while the watch was down"
        );
        assert!(
            !known.surely_absent("app", "new"),
            "created while the watch was down"
        );
    }
}
