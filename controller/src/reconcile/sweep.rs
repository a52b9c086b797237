//! Every reconcile the SealedSecret watch or a key change asks for, fed to the controller a few
//! at a time: changes first, then bulk reconciles (the objects of a watch's initial list, every
//! object after a key change).
//!
//! kube's scheduler takes every trigger as soon as it is offered and keeps an entry per object
//! (an `ObjectRef`, a delay-queue slot, a hash-map bucket) until the object's reconcile starts;
//! the reconciles themselves start only once the initial list is complete. At 100,000
//! SealedSecrets that is some 40 MiB held through a cold start. Here the objects wait in a
//! compact queue (one `namespace/name` string each) and are let through while fewer than
//! `bound` of them wait for their reconcile to start. One that never starts (it was deleted
//! meanwhile) stops counting after [`STALE`], so a lost start can slow the feed, never stop it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::echo::{id, Id};
use crds::SealedSecret;

/// How long an object let through counts against the bound if its reconcile never starts.
pub(super) const STALE: Duration = Duration::from_secs(10);

/// The queues of every watch scope (a namespace, or the empty name for all of them).
pub(super) struct Sweep {
    state: Mutex<State>,
    changed: Notify,
    bound: usize,
}

#[derive(Default)]
struct State {
    scopes: HashMap<String, Queue>,
    /// Objects let through whose reconcile has not started, with when they were let through.
    waiting: HashMap<Id, Instant>,
}

#[derive(Default)]
struct Queue {
    /// During a (re)list nothing is let through: reconciles wait for the list anyway.
    held: bool,
    objects: VecDeque<Id>,
}

impl Sweep {
    /// A sweep that lets at most `bound` objects wait for their reconcile to start.
    pub(super) fn new(bound: usize) -> Self {
        Self {
            state: Mutex::default(),
            changed: Notify::new(),
            bound: bound.max(1),
        }
    }

    /// A list of `scope` began: hold its queue until [`Sweep::release`].
    pub(super) fn hold(&self, scope: &str) {
        self.lock().scopes.entry(scope.to_owned()).or_default().held = true;
    }

    /// The list of `scope` is complete: its queue flows.
    pub(super) fn release(&self, scope: &str) {
        self.lock().scopes.entry(scope.to_owned()).or_default().held = false;
        self.changed.notify_waiters();
    }

    /// How many objects `scope` has queued, and their namespaces in etcd's key order.
    pub(super) fn namespaces(&self, scope: &str) -> (usize, Vec<String>) {
        let state = self.lock();
        let Some(queue) = state.scopes.get(scope) else {
            return (0, Vec::new());
        };
        let ids = queue.objects.iter().map(|id| &**id);
        (
            queue.objects.len(),
            super::readahead::namespaces_in_key_order(ids),
        )
    }

    /// Queues `obj` for a reconcile in `scope`: last, or first when `urgent` (a change made
    /// while a bulk reconcile runs does not wait for it).
    pub(super) fn push(&self, scope: &str, obj: &ObjectRef<SealedSecret>, urgent: bool) {
        let mut state = self.lock();
        let queue = state.scopes.entry(scope.to_owned()).or_default();
        if urgent {
            queue.objects.push_front(id(obj));
        } else {
            queue.objects.push_back(id(obj));
        }
        if !queue.held {
            self.changed.notify_waiters();
        }
    }

    /// A reconcile of `obj` started: it no longer counts against the bound.
    pub(super) fn started(&self, obj: &ObjectRef<SealedSecret>) {
        let mut state = self.lock();
        if state.waiting.is_empty() {
            return;
        }
        if state.waiting.remove(&id(obj)).is_some() {
            self.changed.notify_waiters();
        }
    }

    /// The next object of `scope` to let through, once there is room.
    pub(super) async fn next(&self, scope: &str) -> ObjectRef<SealedSecret> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(obj) = self.take(scope, Instant::now()) {
                return obj;
            }
            // Woken by a start, a push or a release; or, at the latest, when a stale entry
            // would stop counting.
            let _ = tokio::time::timeout(STALE, notified).await;
        }
    }

    /// Lets the first queued object of `scope` through if fewer than `bound` wait to start
    /// (after dropping the stale ones).
    fn take(&self, scope: &str, now: Instant) -> Option<ObjectRef<SealedSecret>> {
        let mut state = self.lock();
        state
            .waiting
            .retain(|_, since| now.duration_since(*since) < STALE);
        if state.waiting.len() >= self.bound {
            return None;
        }
        let queue = state.scopes.get_mut(scope)?;
        if queue.held {
            return None;
        }
        let next = queue.objects.pop_front()?;
        if queue.objects.is_empty() {
            // A drained queue gives its memory back (a cold start may have queued 100,000).
            queue.objects = VecDeque::new();
        }
        let obj = object_ref(&next);
        state.waiting.insert(next, now);
        Some(obj)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The object an [`Id`] names.
fn object_ref(id: &str) -> ObjectRef<SealedSecret> {
    match id.split_once('/') {
        Some(("", name)) => ObjectRef::new(name),
        Some((namespace, name)) => ObjectRef::new(name).within(namespace),
        None => ObjectRef::new(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> ObjectRef<SealedSecret> {
        ObjectRef::new(name).within("apps")
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_queue_lets_nothing_through_until_released_then_all_in_order() {
        let sweep = Sweep::new(10);
        sweep.hold("");
        sweep.push("", &obj("a"), false);
        sweep.push("", &obj("b"), false);
        assert!(
            sweep.take("", Instant::now()).is_none(),
            "held during the list"
        );
        sweep.release("");
        assert_eq!(sweep.next("").await, obj("a"));
        assert_eq!(sweep.next("").await, obj("b"));
        assert!(sweep.take("", Instant::now()).is_none(), "drained");
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_bound_objects_wait_to_start_and_each_start_lets_one_more_through() {
        let sweep = Sweep::new(2);
        for name in ["a", "b", "c"] {
            sweep.push("", &obj(name), false);
        }
        assert_eq!(sweep.next("").await, obj("a"));
        assert_eq!(sweep.next("").await, obj("b"));
        assert!(
            sweep.take("", Instant::now()).is_none(),
            "two wait to start"
        );
        sweep.started(&obj("a"));
        assert_eq!(sweep.next("").await, obj("c"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_goes_before_the_bulk_queue() {
        let sweep = Sweep::new(10);
        sweep.push("", &obj("bulk-1"), false);
        sweep.push("", &obj("bulk-2"), false);
        sweep.push("", &obj("changed"), true);
        assert_eq!(sweep.next("").await, obj("changed"));
        assert_eq!(sweep.next("").await, obj("bulk-1"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_whose_reconcile_never_starts_stops_counting_after_a_while() {
        let sweep = Sweep::new(1);
        sweep.push("", &obj("gone"), false);
        sweep.push("", &obj("next"), false);
        assert_eq!(sweep.next("").await, obj("gone"));
        let since = Instant::now();
        assert_eq!(sweep.next("").await, obj("next"), "no deadlock");
        assert!(since.elapsed() >= STALE);
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_have_their_own_queues_and_a_cluster_wide_name_round_trips() {
        let sweep = Sweep::new(10);
        sweep.hold("team-a");
        sweep.push("team-a", &obj("a"), false);
        sweep.push("", &ObjectRef::new("x").within("team-b"), false);
        assert!(sweep.take("team-a", Instant::now()).is_none());
        assert_eq!(sweep.next("").await, ObjectRef::new("x").within("team-b"));
        assert_eq!(object_ref("/cluster-wide"), ObjectRef::new("cluster-wide"));
    }
}
