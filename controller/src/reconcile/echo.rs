//! What the reconciler remembers to tell its own writes' echoes from real changes.
//!
//! Invariants:
//! - An object's `trigger` is the hash of what decides its Secret besides the values (uid,
//!   generation, labels, annotations) as of the last SealedSecret event let through; an event
//!   with the same hash (a status update, the controller's own included) needs no reconcile.
//! - An object's `sync` is set only after a successful write or check of its Secret, and holds
//!   what that outcome depended on (the SealedSecret's uid and generation, the key registry's
//!   version, the Secret's resourceVersion after the write). When all of them are unchanged the
//!   Secret is still right, so a reconcile or a Secret event matching it is an echo.
//! - While a write of an object's Secret is in flight its name is in `writing`; the guard that
//!   removes it is dropped only after `sync` was updated (or the write failed), and every removal
//!   wakes the echo checks waiting on `written`. So a Secret event that overtakes the write's
//!   response waits (at most a second) and is then judged against the new `sync`.
//! - A deleted SealedSecret is forgotten entirely; nothing else ever removes an entry.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crds::SealedSecret;

/// What a successful sync depended on; when none of it changed, the Secret is still right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyncState {
    pub(super) uid: Option<Box<str>>,
    pub(super) generation: Option<i64>,
    pub(super) keys_version: u64,
    pub(super) secret_version: Option<Box<str>>,
}

/// What is remembered about one SealedSecret.
#[derive(Debug, Default)]
struct ObjectState {
    trigger: Option<u64>,
    sync: Option<SyncState>,
}

/// The echo-suppression bookkeeping (see the module doc for its invariants).
#[derive(Default)]
pub(super) struct Echoes {
    /// One map for both states keeps one key per object (kube's `predicate_filter` would keep a
    /// second cache with its own copies of name, namespace and uid). Keyed by [`Id`]: an
    /// `ObjectRef` would take 96 bytes and two allocations per SealedSecret.
    objects: Mutex<HashMap<Id, ObjectState>>,
    writing: Mutex<HashSet<Id>>,
    written: tokio::sync::Notify,
}

/// A Secret watch event that could be the echo of the controller's own write: the owner, its
/// uid and the Secret's resourceVersion.
pub(super) type Probe = (ObjectRef<SealedSecret>, String, String);

impl Echoes {
    pub(super) fn last_sync(&self, obj: &ObjectRef<SealedSecret>) -> Option<SyncState> {
        lock(&self.objects)
            .get(&id(obj))
            .and_then(|o| o.sync.clone())
    }

    pub(super) fn remember_sync(&self, obj: &ObjectRef<SealedSecret>, state: SyncState) {
        lock(&self.objects).entry(id(obj)).or_default().sync = Some(state);
    }

    /// Whether a watch event of a SealedSecret (its metadata `meta`) can change its Secret
    /// (its trigger hash changed).
    pub(super) fn wants_reconcile(&self, meta: &ObjectMeta) -> bool {
        let trigger = Some(trigger(meta));
        let mut objects = lock(&self.objects);
        let state = objects.entry(id(&key(meta))).or_default();
        let changed = state.trigger != trigger;
        state.trigger = trigger;
        changed
    }

    /// Marks a write of `obj`'s Secret in flight until the guard is dropped.
    pub(super) fn start_write(&self, obj: &ObjectRef<SealedSecret>) -> InFlight<'_> {
        lock(&self.writing).insert(id(obj));
        InFlight {
            echoes: self,
            obj: id(obj),
        }
    }

    /// Whether the Secret is exactly as the controller last wrote (or checked) it for its
    /// owner. While a write for that owner is in flight the answer waits for it (at most a
    /// second): the watch event often overtakes the write's response.
    pub(super) async fn is_own_write(&self, (obj, uid, version): Probe) -> bool {
        let obj = id(&obj);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let notified = self.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let matches = lock(&self.objects)
                .get(&obj)
                .and_then(|o| o.sync.as_ref())
                .is_some_and(|state| {
                    state.uid.as_deref() == Some(uid.as_str())
                        && state.secret_version.as_deref() == Some(version.as_str())
                });
            if matches {
                return true;
            }
            let in_flight = lock(&self.writing).contains(&obj);
            if !in_flight || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Drops what is kept about a deleted SealedSecret.
    pub(super) fn forget(&self, obj: &ObjectRef<SealedSecret>) {
        lock(&self.objects).remove(&id(obj));
    }
}

/// A Secret write in flight; see [`Echoes::start_write`].
pub(super) struct InFlight<'a> {
    echoes: &'a Echoes,
    obj: Id,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.echoes.writing).remove(&self.obj);
        self.echoes.written.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The probe of a Secret watch event, when it could be the echo of the controller's own write;
/// None for deletions and Secrets it does not own.
pub(super) fn echo_probe(event: &watcher::Event<PartialObjectMeta<Secret>>) -> Option<Probe> {
    let secret = match event {
        watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s,
        _ => return None,
    };
    let version = secret.metadata.resource_version.clone()?;
    let namespace = secret.metadata.namespace.as_deref()?;
    let owner = secret.owner_references().iter().find(|o| {
        o.controller == Some(true)
            && o.kind == SealedSecret::kind(&())
            && o.api_version == SealedSecret::api_version(&())
    })?;
    let obj = ObjectRef::<SealedSecret>::new(&owner.name).within(namespace);
    Some((obj, owner.uid.clone(), version))
}

/// Hash of what a watch event must change to need a reconcile: uid (re-created), generation
/// (spec), labels and annotations. Status and resourceVersion do not count.
pub(super) fn trigger(meta: &ObjectMeta) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.uid.hash(&mut hasher);
    meta.generation.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    hasher.finish()
}

/// A SealedSecret in [`Echoes`]' maps: `namespace/name` (neither can contain a slash).
pub(super) type Id = Box<str>;

pub(super) fn id(obj: &ObjectRef<SealedSecret>) -> Id {
    let namespace = obj.namespace.as_deref().unwrap_or_default();
    format!("{namespace}/{}", obj.name).into_boxed_str()
}

/// The key of a SealedSecret in the per-object maps: name and namespace only (an
/// `ObjectRef::from_obj` would also carry copies of its uid and resourceVersion).
pub(super) fn key(meta: &ObjectMeta) -> ObjectRef<SealedSecret> {
    let obj = ObjectRef::new(meta.name.as_deref().unwrap_or_default());
    match meta.namespace.as_deref() {
        Some(ns) => obj.within(ns),
        None => obj,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn obj() -> ObjectRef<SealedSecret> {
        ObjectRef::new("db").within("apps")
    }

    fn state(version: &str) -> SyncState {
        SyncState {
            uid: Some("u1".into()),
            generation: Some(1),
            keys_version: 1,
            secret_version: Some(version.into()),
        }
    }

    fn probe(version: &str) -> Probe {
        (obj(), "u1".to_owned(), version.to_owned())
    }

    #[tokio::test]
    async fn the_secret_as_last_written_is_an_echo_and_any_other_version_is_not() {
        let echoes = Echoes::default();
        assert!(
            !echoes.is_own_write(probe("5")).await,
            "nothing written yet"
        );
        echoes.remember_sync(&obj(), state("5"));
        assert!(echoes.is_own_write(probe("5")).await);
        assert!(
            !echoes.is_own_write(probe("6")).await,
            "someone else's edit"
        );
        let other_uid = (obj(), "u2".to_owned(), "5".to_owned());
        assert!(!echoes.is_own_write(other_uid).await, "a re-created owner");
        echoes.forget(&obj());
        assert!(!echoes.is_own_write(probe("5")).await, "forgotten");
    }

    #[tokio::test]
    async fn an_echo_that_overtakes_its_write_waits_for_the_outcome() {
        let echoes = Arc::new(Echoes::default());
        let guard = echoes.start_write(&obj());
        let waiting = tokio::spawn({
            let echoes = echoes.clone();
            async move { echoes.is_own_write(probe("7")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        echoes.remember_sync(&obj(), state("7"));
        drop(guard);
        assert!(waiting.await.expect("the check"), "judged after the write");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_never_ends_stops_the_wait_after_a_second() {
        let echoes = Echoes::default();
        let _guard = echoes.start_write(&obj());
        let started = tokio::time::Instant::now();
        assert!(!echoes.is_own_write(probe("7")).await);
        assert!(started.elapsed() >= Duration::from_secs(1));
    }

    #[test]
    fn a_reconcile_is_wanted_only_when_the_trigger_changes() {
        let sealed: SealedSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "db", "namespace": "apps", "uid": "u1", "generation": 1},
            "spec": {"encryptedData": {}},
        }))
        .expect("a SealedSecret");
        let echoes = Echoes::default();
        assert!(echoes.wants_reconcile(&sealed.metadata), "first sight");
        assert!(!echoes.wants_reconcile(&sealed.metadata), "same again");
        let mut changed = sealed.metadata.clone();
        changed.generation = Some(2);
        assert!(echoes.wants_reconcile(&changed));
    }
}
