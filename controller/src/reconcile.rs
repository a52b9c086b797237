//! The reconciler: SealedSecret → Secret, with status, events and metrics.
//!
//! Every write uses the rights upstream's Helm chart grants: a Secret is created (`create`,
//! create-only) or replaced (`update`, conditional on the resourceVersion that was judged), the
//! status subresource is replaced (`update`), Events are core `v1` (`create`, `patch`). What to
//! write is decided by [`crate::reconcile::write::decide`] without I/O; nothing is written when the live Secret
//! already matches.

mod echo;
mod events;
mod readahead;
mod sweep;
pub mod write;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crds::convert::ZeroizingSecret;
use crds::types::SealedSecretCondition;
use crds::{SealedSecret, SealedSecretStatus, UnsealError, UnsealOptions};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{GetParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};

use echo::{key, Echoes, SyncState};
pub use events::{EventType, Recorder};
use readahead::ReadAhead;
use sweep::Sweep;
use write::{Refusal, SecretAction};

use crate::known_secrets::KnownSecrets;
use crate::metrics::Metrics;
use crate::registry::KeyRegistry;
use crate::requests;

/// Field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "sealed-secrets-controller";

/// How many times a Secret that changed between read and write (409) is read and judged again
/// within one reconcile.
const WRITE_ATTEMPTS: usize = 4;

/// Bulk reconciles let through at once (see [`Sweep`]): a few times the reconcile
/// concurrency, so that the workers never wait for the feed.
const SWEEP_BOUND: usize = 64;

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
    /// The API server refused a request on the Secret (403): the controller's RBAC lacks it.
    #[error("cannot {verb} secrets \"{name}\": forbidden (the controller's RBAC does not grant {verb} on secrets in this namespace)")]
    Forbidden {
        /// `get`, `create` or `update`.
        verb: &'static str,
        /// The Secret.
        name: String,
    },
    /// Reading or writing the Secret failed.
    #[error("cannot write Secret {0}: {1}")]
    Update(String, #[source] kube::Error),
    /// The Secret changed between every read and write of one reconcile.
    #[error("cannot write Secret {0}: it changed between read and write {WRITE_ATTEMPTS} times")]
    Contended(String),
    /// Writing the status failed.
    #[error("cannot update status: {0}")]
    Status(#[source] kube::Error),
    /// Decrypting or rendering panicked (a defect): the panic's message, never a value.
    #[error("unsealing failed unexpectedly: {0}")]
    Panic(String),
    /// The decrypting task was cancelled.
    #[error("unsealing task failed")]
    Task,
}

impl Error {
    /// The `reason` label of `unseal_errors_total` (the original's values, plus `forbidden`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Unseal(_) | Error::Task | Error::Panic(_) => "unseal",
            Error::Unmanaged(_) => "unmanaged",
            Error::Forbidden { .. } => "forbidden",
            Error::Immutable(_) | Error::Update(..) | Error::Contended(_) => "update",
            Error::Status(_) => "status",
        }
    }

    /// The Event reason (the original's values).
    fn event_reason(&self) -> &'static str {
        match self {
            Error::Unseal(_) | Error::Task | Error::Panic(_) => "ErrUnsealFailed",
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
            Error::Update(..)
                | Error::Contended(_)
                | Error::Status(_)
                | Error::Unmanaged(_)
                | Error::Forbidden { .. }
                | Error::Task
        )
    }

    /// An API error on the Secret `name` while trying `verb`.
    fn api(verb: &'static str, name: &str, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) if s.code == 403 => Error::Forbidden {
                verb,
                name: name.to_owned(),
            },
            e => Error::Update(name.to_owned(), e),
        }
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
    /// What tells the controller's own writes' echoes from real changes.
    echoes: Echoes,
    /// One permit per CPU: more decrypting threads than cores would only preempt each other.
    unseal_slots: tokio::sync::Semaphore,
    /// Which Secrets the Secret watch has seen.
    known_secrets: KnownSecrets,
    /// Bulk reconciles waiting for their turn.
    sweep: Sweep,
    /// Whole SealedSecrets of a long initial list, read a page at a time.
    read_ahead: ReadAhead,
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
            echoes: Echoes::default(),
            unseal_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            ),
            known_secrets: KnownSecrets::default(),
            sweep: Sweep::new(SWEEP_BOUND),
            read_ahead: ReadAhead::default(),
        })
    }

    /// What a watch event of `scope` asks of the controller: a reconcile soon (a change), a
    /// place in the bulk queue (an object of a (re)list whose trigger changed), or nothing
    /// (status only; deletions are forgotten here). See [`Sweep`]. True when an initial list
    /// is complete: the caller releases its queue (see [`start_read_ahead`]).
    fn observe(&self, scope: &str, event: &watcher::Event<Cached>) -> bool {
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                if self.echoes.wants_reconcile(&obj.metadata) {
                    let urgent = matches!(event, watcher::Event::Apply(_));
                    self.sweep.push(scope, &key(&obj.metadata), urgent);
                }
            }
            watcher::Event::Init => self.sweep.hold(scope),
            watcher::Event::InitDone => return true,
            watcher::Event::Delete(gone) => self.forget(&gone.metadata),
        }
        false
    }

    /// Drops what is kept about a deleted SealedSecret (retry count, metrics series).
    fn forget(&self, meta: &ObjectMeta) {
        let obj = key(meta);
        self.echoes.forget(&obj);
        self.retries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&obj);
        self.note_key_use(obj, false);
        self.metrics.forget(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
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

/// Runs the reconciler over `namespaces` (`None`: all) until the process ends.
pub async fn run(
    ctx: Arc<Context>,
    namespaces: Option<Vec<String>>,
    label_selector: String,
    concurrency: u16,
) {
    let scopes = scoped_apis(&ctx.client, namespaces);
    let controllers = scopes
        .into_iter()
        .map(|apis| run_scope(ctx.clone(), apis, &label_selector, concurrency));
    futures::future::join_all(controllers).await;
}

/// A watch scope (a namespace, or all) and its metadata-only APIs for SealedSecrets and Secrets.
type Apis = (
    Option<String>,
    Api<PartialObjectMeta<SealedSecret>>,
    Api<PartialObjectMeta<Secret>>,
);

fn scoped_apis(client: &Client, namespaces: Option<Vec<String>>) -> Vec<Apis> {
    match namespaces {
        None => vec![(None, Api::all(client.clone()), Api::all(client.clone()))],
        Some(list) => list
            .iter()
            .map(|ns| {
                (
                    Some(ns.clone()),
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                )
            })
            .collect(),
    }
}

/// The reconcile loop of one scope: SealedSecrets (and, unless `--skip-recreate`, the Secrets
/// they own, and key changes) trigger reconciles, until the process ends.
async fn run_scope(
    ctx: Arc<Context>,
    (scope, sealed_api, secret_api): Apis,
    label_selector: &str,
    concurrency: u16,
) {
    let mut wc = watcher::Config::default();
    if !label_selector.is_empty() {
        wc = wc.labels(label_selector);
    }
    // Our own reflector, so that deletions can clean up per-object state and metrics.
    let (reader, writer) = reflector::store();
    let scope_name = scope.clone().unwrap_or_default();
    let sweep_scope = scope_name.clone();
    let observe = ctx.clone();
    let labels = label_selector.to_owned();
    // Metadata only: the sealed values, most of an object's size, are read when it is
    // reconciled (see `fetch`).
    let sealed_stream = watcher::watcher(sealed_api, wc)
        .backoff(crate::watch_backoff::watch_backoff())
        // What an event asks for is decided before the cache drops what decides it.
        .map_ok(move |event| {
            if observe.observe(&scope_name, &event) {
                start_read_ahead(&observe, &scope_name, &labels);
            }
            event.modify(strip_for_cache)
        })
        .reflect(writer)
        // Every reconcile comes through the sweep (see `observe`).
        .try_filter_map(|_| futures::future::ready(Ok(None)));
    let mut controller = Controller::for_stream(sealed_stream, reader)
        .with_config(ControllerConfig::default().concurrency(concurrency));
    if !ctx.settings.skip_recreate {
        // Metadata only: a deleted or edited Secret wakes its owner without caching Secrets.
        // The echo of the controller's own write is dropped here: it would only cost a
        // reconcile and a GET of the Secret.
        let echo = ctx.clone();
        let known = ctx.clone();
        let secrets = watcher::watcher(secret_api, watcher::Config::default())
            .backoff(crate::watch_backoff::watch_backoff())
            .inspect_ok(move |event| known.known_secrets.observe(scope.as_deref(), event))
            .try_filter(move |event| {
                let probe = echo::echo_probe(event);
                let echo = echo.clone();
                async move {
                    match probe {
                        Some(probe) => !echo.echoes.is_own_write(probe).await,
                        None => true,
                    }
                }
            })
            .touched_objects();
        controller = controller.owns_stream(secrets);
    }
    let sweep = sweep_stream(ctx.clone(), sweep_scope, controller.store());
    controller
        .reconcile_on(sweep)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile loop");
            }
        })
        .await;
}

/// Releases the queue of a complete initial list of `scope`: at once when it is short, else
/// once the read-ahead holds its first page (see [`readahead`]), so that the first reconciles
/// find their copies; [`FIRST_PAGE_WAIT`] at the latest, or when the read-ahead fails first.
fn start_read_ahead(ctx: &Arc<Context>, scope: &str, label_selector: &str) {
    let (queued, namespaces) = ctx.sweep.namespaces(scope);
    if queued < readahead::MIN_QUEUE {
        ctx.sweep.release(scope);
        return;
    }
    let release = Arc::new(ReleaseOnce {
        ctx: ctx.clone(),
        scope: scope.to_owned(),
        done: std::sync::atomic::AtomicBool::new(false),
    });
    let timer = release.clone();
    tokio::spawn(async move {
        tokio::time::sleep(FIRST_PAGE_WAIT).await;
        timer.now();
    });
    let labels = label_selector.to_owned();
    tokio::spawn(async move {
        let ctx = release.ctx.clone();
        let Some(_running) = ctx.read_ahead.start(&release.scope) else {
            release.now();
            return;
        };
        let first_page = || release.now();
        let result = readahead::run(
            &ctx.read_ahead,
            &ctx.client,
            &namespaces,
            &labels,
            first_page,
        );
        match result.await {
            Ok(read) => tracing::debug!(read, "read ahead"),
            Err(e) => {
                tracing::debug!(error = %e, "read-ahead stopped; reconciles read their objects one by one")
            }
        }
        release.now();
    });
}

/// How long a complete initial list waits for the read-ahead's first page at most.
const FIRST_PAGE_WAIT: Duration = Duration::from_secs(2);

/// Releases a scope's queue once, whichever comes first (see [`start_read_ahead`]): a later
/// release could let a new relist's queue through before that list is complete.
struct ReleaseOnce {
    ctx: Arc<Context>,
    scope: String,
    done: std::sync::atomic::AtomicBool,
}

impl ReleaseOnce {
    fn now(&self) {
        if !self.done.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.ctx.sweep.release(&self.scope);
        }
    }
}

impl Drop for ReleaseOnce {
    fn drop(&mut self) {
        self.now();
    }
}

/// The bulk reconciles of `scope`: its initial list (queued by [`Context::trigger_of`]) and,
/// after every key change, all its objects, let through a few at a time (see [`Sweep`]).
fn sweep_stream(
    ctx: Arc<Context>,
    scope: String,
    store: reflector::Store<Cached>,
) -> impl futures::Stream<Item = ObjectRef<Cached>> + Send {
    let queue_all = {
        let (ctx, scope) = (ctx.clone(), scope.clone());
        tokio_stream_of(ctx.registry.subscribe()).filter_map(move |()| {
            for obj in store.state() {
                ctx.sweep.push(&scope, &key(&obj.metadata), false);
            }
            futures::future::ready(None)
        })
    };
    let let_through = futures::stream::unfold((ctx, scope), |(ctx, scope)| async move {
        let obj = ctx.sweep.next(&scope).await;
        let cached = ObjectRef::<Cached>::new(&obj.name);
        let cached = match obj.namespace.as_deref() {
            Some(namespace) => cached.within(namespace),
            None => cached,
        };
        Some((cached, (ctx, scope)))
    });
    futures::stream::select(queue_all, let_through)
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

/// What the controller caches of a SealedSecret: what names and versions it (see
/// [`strip_for_cache`]).
type Cached = PartialObjectMeta<SealedSecret>;

/// Keeps of a SealedSecret's metadata only its name, namespace and resourceVersion: the cache
/// needs no more to look it up and read it again (`fetch`), and what decides whether an event
/// needs a reconcile (uid, generation, labels, annotations) was judged before (`observe`).
/// Labels alone (two from Flux, say) would cost more than all the rest.
fn strip_for_cache(sealed: &mut Cached) {
    let meta = std::mem::take(&mut sealed.metadata);
    sealed.types = None;
    sealed.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        resource_version: meta.resource_version,
        ..ObjectMeta::default()
    };
}

async fn reconcile(cached: Arc<Cached>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.sweep.started(&key(&cached.metadata));
    ctx.metrics.unseal_requests.inc();
    match fetch(&ctx, &cached).await? {
        Some(sealed) if sealed.metadata.deletion_timestamp.is_none() => {
            reconcile_sealed(Arc::new(sealed), &ctx).await
        }
        _ => Ok(Action::await_change()),
    }
}

/// The whole SealedSecret the cache knows by its metadata, no older than the cached version
/// (so the API server answers from its watch cache, not etcd); None when it is gone.
async fn fetch(ctx: &Context, cached: &Cached) -> Result<Option<SealedSecret>, Error> {
    let version = cached.metadata.resource_version.as_deref();
    if let Some(sealed) = ctx.read_ahead.take(&key(&cached.metadata), version) {
        return Ok(Some(sealed));
    }
    let name = cached.name_any();
    let namespace = cached.namespace().unwrap_or_default();
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = match version {
        Some(version) => GetParams::at(version),
        None => GetParams::default(),
    };
    match api.get_with(&name, &params).await {
        Ok(sealed) => Ok(Some(sealed)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
        Err(e) => Err(Error::api("get", &name, e)),
    }
}

async fn reconcile_sealed(sealed: Arc<SealedSecret>, ctx: &Context) -> Result<Action, Error> {
    let obj = key(&sealed.metadata);
    match unseal_and_write(&sealed, ctx).await {
        Ok(wrote) => {
            ctx.retries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&obj);
            if wrote {
                publish(
                    ctx,
                    &sealed,
                    EventType::Normal,
                    "Unsealed",
                    "SealedSecret unsealed successfully",
                )
                .await;
            }
            if let Err(e) = update_status(ctx, &sealed, None).await {
                let err = Error::Status(e);
                count_error(ctx, &sealed, &err);
                return Err(err);
            }
            Ok(Action::await_change())
        }
        Err(err) => {
            let namespace = sealed.namespace().unwrap_or_default();
            count_error(ctx, &sealed, &err);
            tracing::warn!(namespace = %namespace, name = %sealed.name_any(), error = %err, "cannot unseal");
            publish(
                ctx,
                &sealed,
                EventType::Warning,
                err.event_reason(),
                &err.event_note(),
            )
            .await;
            let message = err.to_string();
            if let Err(e) = update_status(ctx, &sealed, Some((err.event_reason(), &message))).await
            {
                let e = Error::Status(e);
                count_error(ctx, &sealed, &e);
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

fn error_policy(sealed: Arc<Cached>, err: &Error, ctx: Arc<Context>) -> Action {
    let obj = key(&sealed.metadata);
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
        read_secret(&api, &name).await?
    };
    let obj = key(&sealed.metadata);
    let state = SyncState {
        uid: sealed.metadata.uid.as_deref().map(Box::from),
        generation: sealed.metadata.generation,
        keys_version: ctx.registry.version(),
        secret_version: existing
            .as_ref()
            .and_then(|s| s.metadata.resource_version.as_deref().map(Box::from)),
    };
    // The echo of our own Secret write or status update: nothing to decrypt again.
    if existing.is_some() && ctx.echoes.last_sync(&obj).as_ref() == Some(&state) {
        return Ok(false);
    }
    let mut desired = unseal(ctx, sealed).await?;
    desired.metadata.namespace = Some(namespace);
    let _writing = ctx.echoes.start_write(&obj);
    let (wrote, secret_version) =
        write_secret(&ctx.client, sealed, &api, existing, &desired).await?;
    ctx.echoes.remember_sync(
        &obj,
        SyncState {
            secret_version: secret_version.map(String::into_boxed_str),
            ..state
        },
    );
    Ok(wrote)
}

/// The Secret `name`, if it exists (values wiped on drop).
async fn read_secret(api: &Api<Secret>, name: &str) -> Result<Option<ZeroizingSecret>, Error> {
    api.get_opt(name)
        .await
        .map(|s| s.map(ZeroizingSecret))
        .map_err(|e| Error::api("get", name, e))
}

/// Decrypts and renders the Secret on the blocking pool, one thread per CPU at most. A panic
/// there (a defect) becomes [`Error::Panic`] with its message, logged once as that error
/// instead of a trace.
async fn unseal(ctx: &Context, sealed: &SealedSecret) -> Result<ZeroizingSecret, Error> {
    let keys = ctx.registry.private_keys();
    let opts = ctx.settings.unseal;
    let input = sealed.clone();
    // The semaphore is never closed; if it were, unsealing would simply go ahead.
    let slot = ctx.unseal_slots.acquire().await.ok();
    let unsealed = tokio::task::spawn_blocking(move || {
        let start = thread_cpu();
        let unsealed = quiet_panics::catch(|| {
            crds::convert::unseal_sealed_secret_detailed(
                &input,
                &keys,
                &gotemplate::GoTemplates,
                opts,
            )
        });
        (unsealed, thread_cpu().saturating_sub(start))
    })
    .await;
    drop(slot);
    let (unsealed, cpu) = unsealed.map_err(|_| Error::Task)?;
    ctx.metrics.unseal_cpu.inc_by(cpu.as_secs_f64());
    let (desired, key_index) = unsealed.map_err(Error::Panic)??;
    ctx.note_key_use(key(&sealed.metadata), key_index > 0);
    Ok(ZeroizingSecret(desired))
}

/// Judges the Secret as read (`existing`) against `desired` and carries out the decision. A
/// Secret created or changed by someone else between read and write makes the write fail (409);
/// it is then read and judged again. Returns whether something was written, and the Secret's
/// resourceVersion as the controller left it.
async fn write_secret(
    client: &Client,
    sealed: &SealedSecret,
    api: &Api<Secret>,
    mut existing: Option<ZeroizingSecret>,
    desired: &Secret,
) -> Result<(bool, Option<String>), Error> {
    let name = sealed.name_any();
    let uid = sealed.metadata.uid.as_deref();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    for _ in 0..WRITE_ATTEMPTS {
        let (verb, result) = match write::decide(uid, existing.as_deref(), desired) {
            SecretAction::Nothing => {
                let version = existing.and_then(|s| s.metadata.resource_version.clone());
                return Ok((false, version));
            }
            SecretAction::Refuse(Refusal::Unmanaged) => return Err(Error::Unmanaged(name)),
            SecretAction::Refuse(Refusal::Immutable) => {
                let namespace = sealed.namespace().unwrap_or_default();
                return Err(Error::Immutable(format!("{namespace}/{name}")));
            }
            SecretAction::Create(secret) => (
                "create",
                requests::create(client, api.resource_url(), &params, &*secret).await,
            ),
            SecretAction::Update { secret, .. } => (
                "update",
                requests::replace(client, api.resource_url(), &name, &params, &*secret).await,
            ),
        };
        match result {
            Ok(version) => return Ok((true, version)),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                if verb == "create" {
                    tracing::debug!(namespace = ?sealed.namespace(), name = %name, "the Secret exists after all; reading it");
                } else {
                    tracing::debug!(namespace = ?sealed.namespace(), name = %name, "the Secret changed since it was read; reading it again");
                }
                existing = read_secret(api, &name).await?;
            }
            Err(e) => return Err(Error::api(verb, &name, e)),
        }
    }
    Err(Error::Contended(name))
}
/// CPU time the calling thread has used so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Catches panics of the unsealing task without the default hook's trace on stderr (a panicking
/// SealedSecret would print one on every attempt); other threads' panics are reported as before.
mod quiet_panics {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Once;

    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f`; a panic becomes `Err` with the first line of its message (at most 200 bytes).
    pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !QUIET.with(Cell::get) {
                    previous(info);
                }
            }));
        });
        QUIET.with(|q| q.set(true));
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        QUIET.with(|q| q.set(false));
        result.map_err(|payload| message(payload.as_ref()))
    }

    fn message(payload: &(dyn std::any::Any + Send)) -> String {
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic without a message");
        let line = text.lines().next().unwrap_or_default();
        let mut end = line.len().min(200);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line[..end].to_owned()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_panic_becomes_its_first_line() {
            let caught =
                super::catch(|| -> u8 { panic!("Formatting argument out of range\nmore") });
            assert_eq!(caught, Err("Formatting argument out of range".to_owned()));
            assert_eq!(super::catch(|| 7), Ok(7));
        }
    }
}

/// Records an Event; a failure to record is logged, not returned.
async fn publish(ctx: &Context, sealed: &SealedSecret, type_: EventType, reason: &str, note: &str) {
    if let Err(e) = ctx.recorder.publish(sealed, type_, reason, note).await {
        tracing::warn!(error = %e, "cannot record event");
    }
}

/// The status `sealed` should have: `Synced` True when `error` is None, else False with its
/// reason and message, and `observedGeneration`; None when it already has it.
fn desired_status(
    sealed: &SealedSecret,
    error: Option<(&str, &str)>,
) -> Option<SealedSecretStatus> {
    let status_value = if error.is_none() { "True" } else { "False" };
    let message = error.map(|(_, m)| m.to_owned());
    let current = sealed.status.clone().unwrap_or_default();
    let condition = current.conditions.iter().find(|c| c.type_ == "Synced");
    let unchanged = condition.is_some_and(|c| c.status == status_value && c.message == message)
        && current.observed_generation == sealed.metadata.generation;
    if unchanged {
        return None;
    }
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let transition = match condition {
        Some(c) if c.status == status_value => {
            c.last_transition_time.clone().unwrap_or(now.clone())
        }
        _ => now.clone(),
    };
    let synced = SealedSecretCondition {
        type_: "Synced".to_owned(),
        status: status_value.to_owned(),
        last_update_time: Some(now),
        last_transition_time: Some(transition),
        reason: error.map(|(r, _)| r.to_owned()),
        message,
    };
    let mut conditions: Vec<_> = current
        .conditions
        .into_iter()
        .filter(|c| c.type_ != "Synced")
        .collect();
    conditions.insert(0, synced);
    Some(SealedSecretStatus {
        observed_generation: sealed.metadata.generation,
        conditions,
    })
}

/// Sets the status (see [`desired_status`]) with an `update` of the status subresource,
/// conditional on the SealedSecret's resourceVersion; writes only when something changed. On a
/// conflict (the cached copy is older than the stored one) it is read once and tried again.
async fn update_status(
    ctx: &Context,
    sealed: &SealedSecret,
    error: Option<(&str, &str)>,
) -> Result<(), kube::Error> {
    let namespace = sealed.namespace().unwrap_or_default();
    let name = sealed.name_any();
    ctx.metrics
        .set_sealed_condition(sealed, Some(error.is_none()));
    if !ctx.settings.update_status {
        return Ok(());
    }
    let api: Api<SealedSecret> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let mut current = sealed.clone();
    for attempt in 0..2 {
        let Some(status) = desired_status(&current, error) else {
            return Ok(());
        };
        current.status = Some(status);
        let body = status_body(&current);
        match requests::replace_status(&ctx.client, api.resource_url(), &name, &params, &body).await
        {
            Err(kube::Error::Api(s)) if s.code == 409 && attempt == 0 => {
                current = api.get(&name).await?;
                // A newer generation gets its own reconcile, which writes its own status.
                if current.metadata.generation != sealed.metadata.generation {
                    return Ok(());
                }
            }
            other => return other,
        }
    }
    Ok(())
}

/// What a status update sends: the status, and the metadata that names the object and makes
/// the write conditional (uid, resourceVersion). The API server takes nothing else from it (the
/// rest of the object stays as stored), so the spec and managedFields would only be encoded and
/// decoded for nothing.
fn status_body(sealed: &SealedSecret) -> serde_json::Value {
    let meta = &sealed.metadata;
    serde_json::json!({
        "apiVersion": SealedSecret::api_version(&()),
        "kind": SealedSecret::kind(&()),
        "metadata": {
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        },
        "status": sealed.status,
    })
}

#[cfg(test)]
mod tests {
    use super::echo::trigger;
    use super::*;
    use crds::types::PATCH_ANNOTATION;
    use serde_json::json;

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
    fn a_status_update_sends_the_status_and_the_preconditions_only() {
        let mut current = sealed();
        current.status = desired_status(&current, None);
        let body = status_body(&current);
        assert_eq!(
            body["metadata"],
            json!({"name": "db", "namespace": "apps", "uid": "u1", "resourceVersion": "10"})
        );
        assert_eq!(body["kind"], "SealedSecret");
        assert_eq!(body["apiVersion"], "bitnami.com/v1alpha1");
        assert_eq!(body["status"]["conditions"][0]["type"], "Synced");
        assert!(body.get("spec").is_none(), "no sealed values sent back");
    }

    #[test]
    fn only_spec_metadata_or_identity_changes_trigger_a_reconcile() {
        let base = sealed();
        let mut status_only = base.clone();
        status_only.metadata.resource_version = Some("11".to_owned());
        status_only.status = Some(Default::default());
        assert_eq!(
            trigger(&status_only.metadata),
            trigger(&base.metadata),
            "status update"
        );

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
            assert_ne!(
                trigger(&changed.metadata),
                trigger(&base.metadata),
                "{changed:?}"
            );
        }
    }

    #[test]
    fn each_refusal_reads_as_upstreams_message_with_its_metric_label_and_event_reason() {
        let cases = [
            (
                Error::Unmanaged("db".to_owned()),
                "Resource \"db\" already exists and is not managed by SealedSecret",
                "unmanaged",
                "ErrUpdateFailed",
                true,
            ),
            (
                Error::Immutable("apps/db".to_owned()),
                "Error updating apps/db: the target Secret is immutable. Once a Secret is marked as immutable, it is not possible to revert this change nor to mutate the contents of the data field. You can only delete and recreate the Secret.",
                "update",
                "ErrUpdateFailed",
                false,
            ),
            (
                Error::Forbidden {
                    verb: "update",
                    name: "db".to_owned(),
                },
                "cannot update secrets \"db\": forbidden (the controller's RBAC does not grant update on secrets in this namespace)",
                "forbidden",
                "ErrUpdateFailed",
                true,
            ),
            (
                Error::Contended("apps/db".to_owned()),
                "cannot write Secret apps/db: it changed between read and write 4 times",
                "update",
                "ErrUpdateFailed",
                true,
            ),
            (
                Error::Panic("index out of bounds".to_owned()),
                "unsealing failed unexpectedly: index out of bounds",
                "unseal",
                "ErrUnsealFailed",
                false,
            ),
        ];
        for (error, message, label, reason, transient) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.event_note(), message);
            assert_eq!(error.metric_label(), label, "{message}");
            assert_eq!(error.event_reason(), reason, "{message}");
            assert_eq!(error.is_transient(), transient, "{message}");
        }
    }
}
