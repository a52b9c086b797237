//! The reconciler: SealedSecret → Secret, with status, events and metrics.
//!
//! Secrets are written with server-side apply under a stable field manager, so only the fields
//! the controller owns are written, and nothing is written when the live Secret already matches.
//! Labels and annotations other managers added are kept; data keys the SealedSecret does not
//! hold are removed unless the Secret carries `sealedsecrets.bitnami.com/patch: "true"`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crds::convert::ZeroizingSecret;
use crds::types::{MANAGED_ANNOTATION, PATCH_ANNOTATION};
use crds::{SealedSecret, UnsealError, UnsealOptions};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::known_secrets::KnownSecrets;
use crate::metrics::Metrics;
use crate::registry::KeyRegistry;
use crate::requests;

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "sealed-secrets-controller";

/// Why a SealedSecret could not be turned into its Secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The values cannot be decrypted or the template cannot be rendered.
    #[error("{0}")]
    Unseal(#[from] UnsealError),
    /// A Secret of that name exists and belongs to someone else.
    #[error("Resource \"{0}\" already exists and is not managed by SealedSecret")]
    Unmanaged(String),
    /// The Secret is immutable and its data differs.
    #[error("Error updating {0}: the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret.")]
    Immutable(String),
    /// Reading or writing the Secret failed.
    #[error("cannot write Secret {0}: {1}")]
    Update(String, #[source] kube::Error),
    /// Writing the status failed.
    #[error("cannot update status: {0}")]
    Status(#[source] kube::Error),
    /// The decrypting task died.
    #[error("unsealing task failed")]
    Task,
}

impl Error {
    /// The `reason` label of `unseal_errors_total` (the original's values).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Unseal(_) | Error::Task => "unseal",
            Error::Unmanaged(_) => "unmanaged",
            Error::Immutable(_) | Error::Update(..) => "update",
            Error::Status(_) => "status",
        }
    }

    /// The Event reason (the original's values).
    fn event_reason(&self) -> &'static str {
        match self {
            Error::Unseal(_) | Error::Task => "ErrUnsealFailed",
            _ => "ErrUpdateFailed",
        }
    }

    fn event_note(&self) -> String {
        match self {
            Error::Unseal(e) => format!("Failed to unseal: {e}"),
            other => other.to_string(),
        }
    }

    /// Whether retrying without a change can help (API errors), as opposed to waiting for a
    /// change of the SealedSecret or of the keys.
    fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Update(..) | Error::Status(_) | Error::Unmanaged(_) | Error::Task
        )
    }
}

/// Behaviour switches from the flags.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--update-status`.
    pub update_status: bool,
    /// `--skip-recreate`.
    pub skip_recreate: bool,
    /// `--accept-deprecated-v1-data`.
    pub unseal: UnsealOptions,
    /// `--max-unseal-retries`.
    pub max_retries: u32,
}

/// Everything the reconciler needs.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Loaded keys.
    pub registry: Arc<KeyRegistry>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Behaviour switches.
    pub settings: Settings,
    retries: Mutex<HashMap<ObjectRef<SealedSecret>, u32>>,
    on_old_keys: Mutex<HashSet<ObjectRef<SealedSecret>>>,
    /// Per SealedSecret: what its last reconcile was triggered by, and what its last sync
    /// depended on. One map for both keeps one key per object (kube's `predicate_filter` would
    /// keep a second cache with its own copies of name, namespace and uid).
    objects: Mutex<HashMap<ObjectRef<SealedSecret>, ObjectState>>,
    /// One permit per CPU: more decrypting threads than cores would only preempt each other.
    unseal_slots: tokio::sync::Semaphore,
    /// SealedSecrets whose Secret write is in flight: a watch event for their Secret may be
    /// the echo of that write, arriving before the write's own response.
    writing: Mutex<HashSet<ObjectRef<SealedSecret>>>,
    /// Wakes echo checks waiting for an in-flight write to finish.
    written: tokio::sync::Notify,
    /// Which Secrets the Secret watch has seen.
    known_secrets: KnownSecrets,
}

/// What is remembered about one SealedSecret.
#[derive(Debug, Default)]
struct ObjectState {
    /// Hash of what decides the Secret besides its values' keys (uid, generation, labels,
    /// annotations) when it was last let through to a reconcile.
    trigger: Option<u64>,
    /// The last successful sync.
    sync: Option<SyncState>,
}

/// What a successful sync depended on; when none of it changed, the Secret is still right.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SyncState {
    uid: Option<String>,
    generation: Option<i64>,
    keys_version: u64,
    secret_version: Option<String>,
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        registry: Arc<KeyRegistry>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            registry,
            recorder,
            metrics,
            settings,
            retries: Mutex::new(HashMap::new()),
            on_old_keys: Mutex::new(HashSet::new()),
            objects: Mutex::new(HashMap::new()),
            unseal_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            ),
            writing: Mutex::new(HashSet::new()),
            written: tokio::sync::Notify::new(),
            known_secrets: KnownSecrets::default(),
        })
    }

    fn last_sync(&self, obj: &ObjectRef<SealedSecret>) -> Option<SyncState> {
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(obj)
            .and_then(|o| o.sync.clone())
    }

    fn remember_sync(&self, obj: ObjectRef<SealedSecret>, state: SyncState) {
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(obj)
            .or_default()
            .sync = Some(state);
    }

    /// Whether a watch event of `sealed` can change its Secret: its uid, generation (spec),
    /// labels or annotations differ from the last event let through. Status-only updates,
    /// including the controller's own, are dropped here.
    fn wants_reconcile(&self, sealed: &SealedSecret) -> bool {
        let trigger = Some(trigger(sealed));
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let state = objects.entry(key(sealed)).or_default();
        let changed = state.trigger != trigger;
        state.trigger = trigger;
        changed
    }

    /// The owner, owner uid and resourceVersion of a Secret watch event, when it could be the
    /// echo of the controller's own write; None for deletions and Secrets it does not own.
    fn echo_probe(
        &self,
        event: &watcher::Event<PartialObjectMeta<Secret>>,
    ) -> Option<(ObjectRef<SealedSecret>, String, String)> {
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

    /// Whether the Secret is exactly as the controller last wrote (or checked) it for its
    /// owner, so that the owner needs no reconcile. While a write for that owner is in flight
    /// the answer waits for it (at most a second): the watch event often overtakes the write's
    /// response.
    async fn is_own_write(
        &self,
        (obj, uid, version): (ObjectRef<SealedSecret>, String, String),
    ) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let notified = self.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let matches = self
                .objects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&obj)
                .and_then(|o| o.sync.as_ref())
                .is_some_and(|state| {
                    state.uid.as_deref() == Some(uid.as_str())
                        && state.secret_version.as_deref() == Some(version.as_str())
                });
            if matches {
                return true;
            }
            let in_flight = self
                .writing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&obj);
            if !in_flight || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Drops what is kept about a deleted SealedSecret (retry count, metrics series).
    fn forget(&self, sealed: &SealedSecret) {
        let obj = key(sealed);
        self.objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&obj);
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&obj);
        self.note_key_use(obj, false);
        self.metrics
            .forget(&sealed.namespace().unwrap_or_default(), &sealed.name_any());
    }

    fn note_key_use(&self, obj: ObjectRef<SealedSecret>, on_old_key: bool) {
        let mut set = self.on_old_keys.lock().unwrap_or_else(|e| e.into_inner());
        if on_old_key {
            set.insert(obj);
        } else {
            set.remove(&obj);
        }
        self.metrics
            .sealed_to_old_keys
            .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    }
}

/// Hash of what a watch event must change to need a reconcile: uid (re-created), generation
/// (spec), labels and annotations. Status and resourceVersion do not count.
fn trigger(sealed: &SealedSecret) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    sealed.metadata.uid.hash(&mut hasher);
    sealed.metadata.generation.hash(&mut hasher);
    sealed.metadata.labels.hash(&mut hasher);
    sealed.metadata.annotations.hash(&mut hasher);
    hasher.finish()
}

/// The key of a SealedSecret in the per-object maps: name and namespace only (an
/// `ObjectRef::from_obj` would also carry copies of its uid and resourceVersion).
fn key(sealed: &SealedSecret) -> ObjectRef<SealedSecret> {
    let obj = ObjectRef::new(&sealed.name_any());
    match sealed.namespace() {
        Some(ns) => obj.within(&ns),
        None => obj,
    }
}

/// Runs the reconciler over `namespaces` (`None`: all) until the process ends.
pub async fn run(
    ctx: Arc<Context>,
    namespaces: Option<Vec<String>>,
    label_selector: String,
    concurrency: u16,
) {
    type Apis = (
        Option<String>,
        Api<SealedSecret>,
        Api<PartialObjectMeta<Secret>>,
    );
    let apis: Vec<Apis> = match namespaces {
        None => vec![(
            None,
            Api::all(ctx.client.clone()),
            Api::all(ctx.client.clone()),
        )],
        Some(list) => list
            .iter()
            .map(|ns| {
                (
                    Some(ns.clone()),
                    Api::namespaced(ctx.client.clone(), ns),
                    Api::namespaced(ctx.client.clone(), ns),
                )
            })
            .collect(),
    };
    let controllers = apis.into_iter().map(|(scope, sealed_api, secret_api)| {
        let mut wc = watcher::Config::default();
        if !label_selector.is_empty() {
            wc = wc.labels(&label_selector);
        }
        // Our own reflector, so that deletions can clean up per-object state and metrics.
        let (reader, writer) = reflector::store();
        let on_delete = ctx.clone();
        let sealed_stream = watcher::watcher(sealed_api, wc)
            .default_backoff()
            .inspect_ok(move |event| {
                if let watcher::Event::Delete(gone) = event {
                    on_delete.forget(gone);
                }
            })
            // The cache needs neither managedFields nor kubectl's copy of the whole object:
            // dropping them keeps memory low with many SealedSecrets.
            .modify(|sealed| {
                sealed.metadata.managed_fields = None;
                sealed
                    .annotations_mut()
                    .remove(crds::types::LAST_APPLIED_ANNOTATION);
            })
            .reflect(writer)
            .applied_objects()
            // Status-only updates (including the controller's own) need no reconcile: only
            // spec (generation), labels or annotations change what the Secret should be.
            .try_filter({
                let ctx = ctx.clone();
                move |sealed| futures::future::ready(ctx.wants_reconcile(sealed))
            });
        let mut controller = Controller::for_stream(sealed_stream, reader)
            .with_config(ControllerConfig::default().concurrency(concurrency));
        if !ctx.settings.skip_recreate {
            // Metadata only: a deleted or edited Secret wakes its owner without caching Secrets.
            // The echo of the controller's own write is dropped here: it would only cost a
            // reconcile and a GET of the Secret.
            let echo = ctx.clone();
            let known = ctx.clone();
            let secrets = watcher::watcher(secret_api, watcher::Config::default())
                .default_backoff()
                .inspect_ok(move |event| known.known_secrets.observe(scope.as_deref(), event))
                .try_filter(move |event| {
                    let probe = echo.echo_probe(event);
                    let echo = echo.clone();
                    async move {
                        match probe {
                            Some(probe) => !echo.is_own_write(probe).await,
                            None => true,
                        }
                    }
                })
                .touched_objects();
            controller = controller.owns_stream(secrets);
        }
        let key_changes = tokio_stream_of(ctx.registry.subscribe());
        controller
            .reconcile_all_on(key_changes)
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "reconcile loop");
                }
            })
    });
    futures::future::join_all(controllers).await;
}

/// A stream that yields whenever the watch value changes.
fn tokio_stream_of(
    rx: tokio::sync::watch::Receiver<u64>,
) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    })
}

async fn reconcile(sealed: Arc<SealedSecret>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.metrics.unseal_requests.inc();
    if sealed.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let obj = key(&sealed);
    match unseal_and_write(&sealed, &ctx).await {
        Ok(wrote) => {
            ctx.retries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&obj);
            if wrote {
                publish(
                    &ctx,
                    &sealed,
                    EventType::Normal,
                    "Unsealed",
                    "SealedSecret unsealed successfully".into(),
                )
                .await;
            }
            if let Err(e) = update_status(&ctx, &sealed, None).await {
                let err = Error::Status(e);
                count_error(&ctx, &sealed, &err);
                return Err(err);
            }
            Ok(Action::await_change())
        }
        Err(err) => {
            let namespace = sealed.namespace().unwrap_or_default();
            count_error(&ctx, &sealed, &err);
            tracing::warn!(namespace = %namespace, name = %sealed.name_any(), error = %err, "cannot unseal");
            publish(
                &ctx,
                &sealed,
                EventType::Warning,
                err.event_reason(),
                err.event_note(),
            )
            .await;
            if let Err(e) =
                update_status(&ctx, &sealed, Some((err.event_reason(), err.to_string()))).await
            {
                let e = Error::Status(e);
                count_error(&ctx, &sealed, &e);
                tracing::warn!(namespace = %namespace, name = %sealed.name_any(), error = %e, "cannot update status");
            }
            if err.is_transient() {
                Err(err)
            } else {
                // Nothing changes until the SealedSecret or the keys do (both trigger a run).
                Ok(Action::await_change())
            }
        }
    }
}

/// Counts a failure in `unseal_errors_total` under its reason.
fn count_error(ctx: &Context, sealed: &SealedSecret, err: &Error) {
    let namespace = sealed.namespace().unwrap_or_default();
    ctx.metrics
        .unseal_errors
        .with_label_values(&[err.metric_label(), namespace.as_str()])
        .inc();
}

fn error_policy(sealed: Arc<SealedSecret>, err: &Error, ctx: Arc<Context>) -> Action {
    let obj = key(&sealed);
    let mut retries = ctx.retries.lock().unwrap_or_else(|e| e.into_inner());
    let n = retries.entry(obj.clone()).or_insert(0);
    *n += 1;
    if *n > ctx.settings.max_retries {
        let tries = *n - 1;
        // The next change of the SealedSecret starts with a full retry budget again.
        retries.remove(&obj);
        tracing::error!(name = %sealed.name_any(), error = %err, retries = tries, "giving up until the SealedSecret changes");
        return Action::await_change();
    }
    Action::requeue(Duration::from_millis(500 * 2u64.pow((*n).min(9))))
}

/// Unseals and writes the Secret; true when something was written.
async fn unseal_and_write(sealed: &Arc<SealedSecret>, ctx: &Context) -> Result<bool, Error> {
    let name = sealed.name_any();
    let namespace = sealed.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    // A Secret the watch has never seen is not read first: it is created below, create-only.
    let existing = if ctx.known_secrets.surely_absent(&namespace, &name) {
        None
    } else {
        api.get_opt(&name)
            .await
            .map_err(|e| Error::Update(name.clone(), e))?
            .map(ZeroizingSecret)
    };
    let obj = key(sealed);
    let mut state = SyncState {
        uid: sealed.metadata.uid.clone(),
        generation: sealed.metadata.generation,
        keys_version: ctx.registry.version(),
        secret_version: existing
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone()),
    };
    // The echo of our own Secret write or status update: nothing to decrypt again.
    if existing.is_some() && ctx.last_sync(&obj).as_ref() == Some(&state) {
        return Ok(false);
    }

    let keys = ctx.registry.private_keys();
    let opts = ctx.settings.unseal;
    let input = sealed.clone();
    // The semaphore is never closed; if it were, unsealing would simply go ahead.
    let slot = ctx.unseal_slots.acquire().await.ok();
    let unsealed = tokio::task::spawn_blocking(move || {
        let start = thread_cpu();
        let unsealed = crds::convert::unseal_sealed_secret_detailed(
            &input,
            &keys,
            &crds::template::GoTemplates,
            opts,
        );
        (unsealed, thread_cpu().saturating_sub(start))
    })
    .await;
    drop(slot);
    let (unsealed, cpu) = unsealed.map_err(|_| Error::Task)?;
    ctx.metrics.unseal_cpu.inc_by(cpu.as_secs_f64());
    let (desired, key_index) = unsealed?;
    let mut desired = ZeroizingSecret(desired);
    ctx.note_key_use(obj.clone(), key_index > 0);
    desired.metadata.namespace = Some(namespace.clone());

    // A Secret believed missing (never seen by the watch, or not found just now) is created
    // with a create-only apply. If someone made it meanwhile, the apply is refused (409) and
    // the Secret is read and judged below like any existing one.
    let existing = match existing {
        Some(existing) => existing,
        None => {
            let _writing = InFlight::start(ctx, &obj);
            match apply_secret(ctx, &api, &name, &mut desired, Some(NO_SUCH_VERSION)).await {
                Ok(written_version) => {
                    ctx.remember_sync(
                        obj,
                        SyncState {
                            secret_version: written_version,
                            ..state
                        },
                    );
                    return Ok(true);
                }
                Err(kube::Error::Api(conflict)) if conflict.code == 409 => {
                    tracing::debug!(namespace = %namespace, name = %name, "the Secret exists after all; reading it");
                    match api.get_opt(&name).await {
                        Ok(Some(existing)) => ZeroizingSecret(existing),
                        // Deleted again since: the retry starts over.
                        Ok(None) => return Err(Error::Update(name, kube::Error::Api(conflict))),
                        Err(e) => return Err(Error::Update(name, e)),
                    }
                }
                Err(e) => return Err(Error::Update(name, e)),
            }
        }
    };
    state.secret_version = existing.metadata.resource_version.clone();

    let uid = sealed.metadata.uid.as_deref();
    let owned = existing
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid);
    let annotated = |key: &str| existing.annotations().get(key).is_some_and(|v| v == "true");
    let managed = annotated(MANAGED_ANNOTATION);
    let patch = annotated(PATCH_ANNOTATION);
    if !owned && !managed && !patch {
        return Err(Error::Unmanaged(name));
    }
    if patch && !managed && !owned {
        // Merge our values into someone else's Secret without taking it over.
        desired.metadata.owner_references = None;
    }
    // Without the patch annotation the Secret holds exactly our data keys, as in the
    // original (labels and annotations others added are kept).
    let stale_keys = if patch {
        Vec::new()
    } else {
        existing
            .data
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .filter(|k| !desired.data.as_ref().is_some_and(|d| d.contains_key(*k)))
            .cloned()
            .collect()
    };
    if stale_keys.is_empty() && matches(&existing, &desired) {
        ctx.remember_sync(obj, state);
        return Ok(false);
    }
    if existing.immutable == Some(true) && existing.data != desired.data {
        return Err(Error::Immutable(format!("{namespace}/{name}")));
    }
    // Conditional on the version just judged: if the Secret changed since, the apply is refused
    // (409) and the retry judges it afresh.
    let _writing = InFlight::start(ctx, &obj);
    let result = apply_secret(
        ctx,
        &api,
        &name,
        &mut desired,
        existing.metadata.resource_version.as_deref(),
    )
    .await;
    let mut written_version = result.map_err(|e| Error::Update(name.clone(), e))?;
    if !stale_keys.is_empty() {
        let removal: serde_json::Map<String, serde_json::Value> = stale_keys
            .into_iter()
            .map(|k| (k, serde_json::Value::Null))
            .collect();
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        written_version = requests::patch(
            &ctx.client,
            api.resource_url(),
            &name,
            &params,
            &Patch::Merge(json!({ "data": removal })),
        )
        .await
        .map_err(|e| Error::Update(name, e))?;
    }
    ctx.remember_sync(
        obj,
        SyncState {
            secret_version: written_version,
            ..state
        },
    );
    Ok(true)
}

/// A resourceVersion no object has (etcd revisions are positive 64-bit integers, and this is
/// the largest): as a precondition of an apply it makes the apply create-only. The API server
/// creates a missing object whatever resourceVersion the applied one carries, and refuses (409
/// Conflict) to change an existing one whose version differs.
const NO_SUCH_VERSION: &str = "9223372036854775807";

/// Server-side applies `desired` (forcing ownership of its fields) if the Secret's
/// resourceVersion is still `precondition` ([`NO_SUCH_VERSION`]: if it does not exist), and
/// returns the written resourceVersion. A changed Secret gets 409 Conflict.
async fn apply_secret(
    ctx: &Context,
    api: &Api<Secret>,
    name: &str,
    desired: &mut Secret,
    precondition: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    desired.metadata.resource_version = precondition.map(str::to_owned);
    requests::patch(
        &ctx.client,
        api.resource_url(),
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&*desired),
    )
    .await
}

/// CPU time the calling thread has used so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Marks a Secret write in flight for `is_own_write`; dropped after the outcome is remembered.
struct InFlight<'a> {
    ctx: &'a Context,
    obj: ObjectRef<SealedSecret>,
}

impl<'a> InFlight<'a> {
    fn start(ctx: &'a Context, obj: &ObjectRef<SealedSecret>) -> Self {
        ctx.writing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(obj.clone());
        Self {
            ctx,
            obj: obj.clone(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.ctx
            .writing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.obj);
        self.ctx.written.notify_waiters();
    }
}

/// Whether the live Secret already holds everything the controller would apply.
fn matches(existing: &Secret, desired: &Secret) -> bool {
    let subset = |want: Option<&BTreeMap<String, String>>,
                  have: Option<&BTreeMap<String, String>>| {
        want.into_iter()
            .flatten()
            .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
    };
    let data_ok = desired
        .data
        .iter()
        .flatten()
        .all(|(k, v)| existing.data.as_ref().and_then(|d| d.get(k)) == Some(v));
    let owners_ok = desired
        .metadata
        .owner_references
        .iter()
        .flatten()
        .all(|want| {
            existing
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|have| have.uid == want.uid && have.controller == want.controller)
        });
    data_ok
        && owners_ok
        && subset(
            desired.metadata.labels.as_ref(),
            existing.metadata.labels.as_ref(),
        )
        && subset(
            desired.metadata.annotations.as_ref(),
            existing.metadata.annotations.as_ref(),
        )
        && desired.type_.as_deref().unwrap_or("Opaque")
            == existing.type_.as_deref().unwrap_or("Opaque")
        && desired
            .immutable
            .is_none_or(|i| existing.immutable == Some(i))
}

async fn publish(
    ctx: &Context,
    sealed: &SealedSecret,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let result = if type_ == EventType::Normal {
        // One-off success events skip the recorder, whose dedup cache would hold every one of
        // them for minutes (a few KiB per SealedSecret); failures keep its deduplication.
        create_event(ctx, sealed, reason, note).await
    } else {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Unseal".to_owned(),
            secondary: None,
        };
        ctx.recorder.publish(&event, &sealed.object_ref(&())).await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record event");
    }
}

async fn create_event(
    ctx: &Context,
    sealed: &SealedSecret,
    reason: &str,
    note: String,
) -> Result<(), kube::Error> {
    use k8s_openapi::api::events::v1::Event as ApiEvent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let namespace = sealed.namespace().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now();
    let event = ApiEvent {
        metadata: kube::api::ObjectMeta {
            // As client-go names events: <object>.<nanoseconds in hex>.
            name: Some(format!("{}.{:x}", sealed.name_any(), now.as_nanosecond())),
            namespace: Some(namespace.clone()),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Unseal".to_owned()),
        reason: Some(reason.to_owned()),
        note: Some(note),
        type_: Some("Normal".to_owned()),
        regarding: Some(sealed.object_ref(&())),
        reporting_controller: Some("sealed-secrets".to_owned()),
        reporting_instance: Some(crate::leader::identity()),
        ..Default::default()
    };
    let api: Api<ApiEvent> = Api::namespaced(ctx.client.clone(), &namespace);
    requests::create(&ctx.client, api.resource_url(), &event).await
}

/// Sets the `Synced` condition (True when `error` is None, else False with its reason and
/// message) and `observedGeneration`; writes only when something changed.
async fn update_status(
    ctx: &Context,
    sealed: &SealedSecret,
    error: Option<(&str, String)>,
) -> Result<(), kube::Error> {
    let (reason, error) = match error {
        Some((reason, message)) => (Some(reason), Some(message)),
        None => (None, None),
    };
    let namespace = sealed.namespace().unwrap_or_default();
    let name = sealed.name_any();
    ctx.metrics
        .set_condition(&namespace, &name, Some(error.is_none()));
    if !ctx.settings.update_status {
        return Ok(());
    }
    let status_value = if error.is_none() { "True" } else { "False" };
    let current = sealed.status.as_ref();
    let condition = current.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Synced"));
    let unchanged = condition.is_some_and(|c| c.status == status_value && c.message == error)
        && current.and_then(|s| s.observed_generation) == sealed.metadata.generation;
    if unchanged {
        return Ok(());
    }
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let transition = match condition {
        Some(c) if c.status == status_value => {
            c.last_transition_time.clone().unwrap_or(now.clone())
        }
        _ => now.clone(),
    };
    let patch = json!({
        "status": {
            "observedGeneration": sealed.metadata.generation,
            "conditions": [{
                "type": "Synced",
                "status": status_value,
                "lastUpdateTime": now,
                "lastTransitionTime": transition,
                "reason": reason,
                "message": error,
            }]
        }
    });
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    requests::patch_status(
        &ctx.client,
        api.resource_url(),
        &name,
        &params,
        &Patch::Merge(&patch),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> SealedSecret {
        serde_json::from_value(json!({
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "db", "namespace": "apps", "uid": "u1", "generation": 1,
                         "resourceVersion": "10", "labels": {"app": "db"}},
            "spec": {"encryptedData": {"password": "AgB="}},
        }))
        .expect("a SealedSecret")
    }

    #[test]
    fn only_spec_metadata_or_identity_changes_trigger_a_reconcile() {
        let base = sealed();
        let mut status_only = base.clone();
        status_only.metadata.resource_version = Some("11".to_owned());
        status_only.status = Some(Default::default());
        assert_eq!(trigger(&status_only), trigger(&base), "status update");

        let changes: [fn(&mut SealedSecret); 4] = [
            |s| s.metadata.generation = Some(2),
            |s| s.metadata.uid = Some("u2".to_owned()),
            |s| {
                s.labels_mut()
                    .insert("tier".to_owned(), "backend".to_owned());
            },
            |s| {
                s.annotations_mut()
                    .insert(PATCH_ANNOTATION.to_owned(), "true".to_owned());
            },
        ];
        for change in changes {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(trigger(&changed), trigger(&base), "{changed:?}");
        }
    }
}
