//! Read-ahead for a long initial list: the whole SealedSecrets, read a LIST response at a time, so
//! that their reconciles need no GET each.
//!
//! The watch caches metadata only, so every reconcile reads its object first (`fetch`): on a
//! cold start that is one request in four of the controller's, each with the API server's whole
//! per-request cost. When a watch's initial list leaves at least [`MIN_QUEUE`] objects queued,
//! [`run`] lists the same scope one namespace after another, in the order the initial list
//! queued them (etcd's key order). A namespace of up to [`CACHE_LIST_MAX`] objects (counted
//! first with a one-item page) comes in one response from the API server's watch cache; a
//! larger one in pages of [`PAGE`] from etcd. Each response is kept here until the reconciles
//! take their copies, and the next is read once fewer than [`PAGE`] are left. A copy is used
//! only at the exact resourceVersion the cache holds; a change since, an object that was not
//! listed, a copy left for [`STALE`] all fall back to the GET. Nothing depends on it: if a LIST
//! fails the read-ahead ends there and the reconciles read their objects one by one, as
//! without it.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crds::SealedSecret;
use kube::api::ListParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::echo::{id, key, Id};

/// Objects per LIST request.
pub(super) const PAGE: u32 = 100;

/// The shortest queue worth reading ahead for: below it the GETs cost little.
pub(super) const MIN_QUEUE: usize = 2 * PAGE as usize;

/// How long a copy nobody takes is kept.
pub(super) const STALE: Duration = Duration::from_secs(10);

/// The copies read ahead, by object.
#[derive(Default)]
pub(super) struct ReadAhead {
    copies: Mutex<HashMap<Id, Held>>,
    taken: Notify,
    /// The scopes whose read-ahead runs.
    running: Mutex<HashSet<String>>,
}

/// A scope's read-ahead runs until this is dropped (a panic included).
pub(super) struct Running<'a> {
    ahead: &'a ReadAhead,
    scope: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self.ahead.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&self.scope);
    }
}

struct Held {
    sealed: SealedSecret,
    since: Instant,
}

impl ReadAhead {
    /// The turn to read `scope` ahead, unless a read-ahead of it runs.
    pub(super) fn start(&self, scope: &str) -> Option<Running<'_>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(scope.to_owned()).then(|| Running {
            ahead: self,
            scope: scope.to_owned(),
        })
    }

    /// Removes the copy of `obj`; returns it if it is at `resource_version`.
    pub(super) fn take(
        &self,
        obj: &ObjectRef<SealedSecret>,
        resource_version: Option<&str>,
    ) -> Option<SealedSecret> {
        let copy = {
            let mut copies = self.lock();
            if copies.is_empty() {
                return None;
            }
            copies.remove(&id(obj))?
        };
        self.taken.notify_waiters();
        let version = copy.sealed.metadata.resource_version.as_deref();
        (version.is_some() && version == resource_version).then_some(copy.sealed)
    }

    /// Keeps `items` until taken (or [`STALE`]).
    fn fill(&self, items: Vec<SealedSecret>, now: Instant) {
        let mut copies = self.lock();
        for sealed in items {
            copies.insert(id(&key(&sealed.metadata)), Held { sealed, since: now });
        }
    }

    /// How many copies are held after dropping those older than [`STALE`].
    fn held(&self, now: Instant) -> usize {
        let mut copies = self.lock();
        copies.retain(|_, c| now.duration_since(c.since) < STALE);
        copies.len()
    }

    /// Waits until fewer than `low` copies are held.
    async fn wait_below(&self, low: usize) {
        loop {
            let notified = self.taken.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.held(Instant::now()) < low {
                return;
            }
            // Woken by a take or, at the latest, when a copy may have gone stale.
            let _ = tokio::time::timeout(STALE / 4, notified).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Held>> {
        self.copies.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The namespaces of `ids` (`namespace/name`) in the order of their objects' etcd keys
/// (`…/namespace/name`, compared bytewise): `a-b/x` comes before `a/x`.
pub(super) fn namespaces_in_key_order<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let with_slash: BTreeSet<String> = ids
        .filter_map(|id| id.split_once('/'))
        .map(|(namespace, _)| format!("{namespace}/"))
        .collect();
    with_slash
        .into_iter()
        .map(|mut ns| {
            ns.pop();
            ns
        })
        .collect()
}

/// Reads `namespaces` ahead into `ahead` (see the module doc), calling `first_page` once the
/// first page is held; returns how many objects were read, or the first failed request.
pub(super) async fn run(
    ahead: &ReadAhead,
    client: &Client,
    namespaces: &[String],
    label_selector: &str,
    first_page: impl FnOnce(),
) -> Result<usize, kube::Error> {
    let mut first_page = Some(first_page);
    let mut read = 0;
    for namespace in namespaces {
        let mut pages = Pages::new(Api::namespaced(client.clone(), namespace), label_selector);
        if from_cache(pages.objects().await?) {
            pages = pages.in_one_response();
        }
        while let Some(items) = pages.next().await? {
            read += items.len();
            ahead.fill(items, Instant::now());
            if let Some(first_page) = first_page.take() {
                first_page();
            }
            ahead.wait_below(PAGE as usize).await;
        }
    }
    Ok(read)
}

/// Whether a namespace of `objects` SealedSecrets (None: unknown) is read in one response from
/// the API server's watch cache (decoded already: no etcd read, no decoding) rather than in
/// pages from etcd (the watch cache ignores a page size).
fn from_cache(objects: Option<usize>) -> bool {
    objects.is_some_and(|n| n <= CACHE_LIST_MAX)
}

/// The largest namespace read in one response (see [`from_cache`]).
const CACHE_LIST_MAX: usize = 500;

/// The pages of one namespace's LIST.
struct Pages {
    api: Api<SealedSecret>,
    params: ListParams,
    /// None once the last page was read.
    next: Option<Option<String>>,
}

impl Pages {
    fn new(api: Api<SealedSecret>, label_selector: &str) -> Self {
        let mut params = ListParams::default().limit(PAGE);
        if !label_selector.is_empty() {
            params = params.labels(label_selector);
        }
        Self {
            api,
            params,
            next: Some(None),
        }
    }

    /// How many objects the namespace holds, from a one-item metadata page (the API server
    /// counts the rest; not with a label selector).
    async fn objects(&self) -> Result<Option<usize>, kube::Error> {
        let probe = self
            .api
            .list_metadata(&self.params.clone().limit(1))
            .await?;
        let rest = probe.metadata.remaining_item_count;
        let rest = match probe.metadata.continue_.as_deref() {
            None | Some("") => Some(0),
            Some(_) => rest.and_then(|n| usize::try_from(n).ok()),
        };
        Ok(rest.map(|n| n + probe.items.len()))
    }

    /// The same list in one response from the watch cache.
    fn in_one_response(mut self) -> Self {
        self.params.limit = None;
        self.params = self.params.match_any();
        self
    }

    /// The next page, None after the last.
    async fn next(&mut self) -> Result<Option<Vec<SealedSecret>>, kube::Error> {
        let Some(token) = self.next.take() else {
            return Ok(None);
        };
        let mut params = self.params.clone();
        params.continue_token = token;
        let page = match self.api.list(&params).await {
            Err(kube::Error::Api(status)) if params.continue_token.is_some() => {
                // The list went on past its continue token's lifetime: once more with the
                // token the API server offers.
                let token = fresh_continue(&status).ok_or(kube::Error::Api(status))?;
                self.api.list(&params.continue_token(&token)).await?
            }
            page => page?,
        };
        self.next = page.metadata.continue_.filter(|t| !t.is_empty()).map(Some);
        Ok(Some(page.items))
    }
}

/// The token to go on with after a `410 Gone` for an expired continue token (etcd compacted
/// the list's revision, every 5 minutes by default): the API server offers one that continues
/// from the next object at the current revision.
fn fresh_continue(status: &kube::core::Status) -> Option<String> {
    if status.code != 410 {
        return None;
    }
    let token = status.metadata.as_ref()?.continue_.clone()?;
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn sealed(name: &str, version: &str) -> SealedSecret {
        let mut sealed = SealedSecret::new(name, Default::default());
        sealed.metadata = ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("apps".to_owned()),
            resource_version: Some(version.to_owned()),
            ..ObjectMeta::default()
        };
        sealed
    }

    fn obj(name: &str) -> ObjectRef<SealedSecret> {
        ObjectRef::new(name).within("apps")
    }

    #[test]
    fn a_copy_serves_once_and_only_at_the_cached_version() {
        let ahead = ReadAhead::default();
        ahead.fill(vec![sealed("a", "7"), sealed("b", "8")], Instant::now());
        let a = ahead.take(&obj("a"), Some("7")).expect("same version");
        assert_eq!(a.metadata.resource_version.as_deref(), Some("7"));
        assert!(ahead.take(&obj("a"), Some("7")).is_none(), "taken once");
        assert!(
            ahead.take(&obj("b"), Some("9")).is_none(),
            "changed since the list: read it again"
        );
        assert!(
            ahead.take(&obj("b"), Some("8")).is_none(),
            "dropped on the miss"
        );
        assert!(ahead.take(&obj("c"), None).is_none(), "never listed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_page_waits_for_takes_or_for_the_copies_to_go_stale() {
        let ahead = ReadAhead::default();
        ahead.fill(vec![sealed("a", "1"), sealed("b", "1")], Instant::now());
        let waited = tokio::time::timeout(Duration::from_secs(1), ahead.wait_below(2)).await;
        assert!(waited.is_err(), "two held: the reader waits");
        ahead.take(&obj("a"), Some("1"));
        tokio::time::timeout(Duration::from_secs(1), ahead.wait_below(2))
            .await
            .expect("one taken: the reader goes on");
        let start = Instant::now();
        ahead.wait_below(1).await;
        assert!(
            start.elapsed() >= STALE - Duration::from_secs(1) && start.elapsed() <= STALE * 2,
            "nobody takes b: it goes stale, {:?}",
            start.elapsed()
        );
        assert_eq!(ahead.held(Instant::now()), 0);
    }

    #[test]
    fn an_expired_list_goes_on_with_the_token_the_api_server_offers() {
        let status = |code: u16, token: Option<&str>| kube::core::Status {
            code,
            metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta {
                continue_: token.map(str::to_owned),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            fresh_continue(&status(410, Some("next"))).as_deref(),
            Some("next")
        );
        assert_eq!(
            fresh_continue(&status(410, Some(""))),
            None,
            "no token offered"
        );
        assert_eq!(fresh_continue(&status(410, None)), None);
        assert_eq!(
            fresh_continue(&status(500, Some("next"))),
            None,
            "not an expiry"
        );
    }

    #[test]
    fn one_read_ahead_per_scope_at_a_time() {
        let ahead = ReadAhead::default();
        let first = ahead.start("apps").expect("none runs");
        assert!(ahead.start("apps").is_none(), "apps is read ahead already");
        assert!(ahead.start("other").is_some(), "another scope has its own");
        drop(first);
        assert!(ahead.start("apps").is_some(), "ended: may run again");
    }

    #[test]
    fn namespaces_come_in_etcd_key_order() {
        let ids = ["a/x", "a-b/y", "b/z", "a/w", "a-b/v"];
        assert_eq!(
            namespaces_in_key_order(ids.into_iter()),
            vec!["a-b".to_owned(), "a".to_owned(), "b".to_owned()]
        );
    }
}
