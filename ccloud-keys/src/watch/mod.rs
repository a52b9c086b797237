//! `ccloud-keys watch`: keeps a sealed copy of every Secret the ccloud-operator writes in the Git
//! working tree, so that keys minted in the cluster survive a rebuild.
//!
//! For each Secret event: clean the metadata (no `last-applied-configuration`, no server fields),
//! fingerprint the plaintext (`state.rs`); when that plaintext was sealed before, touch nothing.
//! Otherwise mark the live Secret `sealedsecrets.bitnami.com/managed: "true"` (so the controller
//! adopts it when Flux applies the file instead of refusing it), seal it with the controller's
//! current certificate, write the file atomically, optionally commit it, and remember the
//! fingerprint in the cluster. A replaced API key id is reported (log, Event, metric, commit
//! message) so it can be revoked.

mod origin;
mod server;
mod state;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use crds::PublicKey;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use kubeseal_client::connection::ClusterFlags;
use kubeseal_client::controller_api::ControllerApi;

use crate::flags::{OutputFlags, WatchArgs};
use crate::repo::Repo;
use crate::sealing::{self, Outcome};
use server::Metrics;
use state::Store;

/// The annotation that lets the sealed-secrets controller adopt an existing Secret.
const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";

/// Runs the watcher until it is stopped (or, with `--once`, after one pass).
pub fn run(out: &OutputFlags, args: &WatchArgs) -> Result<()> {
    init_logging(&args.log_format, &args.log_level);
    let Some(env) = out.env.as_deref() else {
        anyhow::bail!("--env is required (the environment the files are for, e.g. dev or prd)");
    };
    let repo = Repo::new(out.repo.clone(), env)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(async {
            let mut watcher = Watcher::new(out, args, repo).await?;
            watcher.run().await
        })
}

fn init_logging(format: &str, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},kube_runtime=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Where the certificate comes from, and the cached copy.
struct CertCache {
    flag: Option<String>,
    controller: Option<ControllerApi>,
    cluster: ClusterFlags,
    refresh: Duration,
    cached: Option<(PublicKey, Instant)>,
}

impl CertCache {
    /// The sealing key: cached while fresh; a failed refresh keeps using the cached key (the
    /// controller still decrypts with it) and is logged.
    async fn get(&mut self) -> Result<PublicKey> {
        if let Some((key, at)) = &self.cached {
            if at.elapsed() < self.refresh {
                return Ok(key.clone());
            }
        }
        match self.fetch().await {
            Ok(key) => {
                self.cached = Some((key.clone(), Instant::now()));
                Ok(key)
            }
            Err(e) => match &self.cached {
                Some((key, _)) => {
                    tracing::warn!(error = %format!("{e:#}"), "cannot refresh the sealing certificate; using the cached one");
                    Ok(key.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&mut self) -> Result<PublicKey> {
        if let Some(source) = self.flag.clone() {
            return tokio::task::spawn_blocking(move || sealing::load_cert(&source))
                .await
                .map_err(|_| anyhow!("certificate fetch task failed"))?;
        }
        let api = match self.controller.take() {
            Some(api) => api,
            None => {
                ControllerApi::connect(
                    &self.cluster,
                    &self.cluster.controller.controller_namespace,
                    &self.cluster.controller.controller_name,
                )
                .await?
            }
        };
        let pem = api.cert().await;
        self.controller = Some(api);
        let (key, _) = crds::parse_sealing_key(&pem?).context("cannot use the certificate")?;
        Ok(key)
    }
}

/// What became of one Secret event.
#[derive(Debug, PartialEq, Eq)]
enum Handled {
    NotSelected,
    Unchanged,
    /// The data was unsealed from a SealedSecret by the controller: it came from Git.
    FromGit,
    Written,
    DryRun,
}

struct Watcher<'a> {
    args: &'a WatchArgs,
    dry_run: bool,
    namespace: String,
    repo: Repo,
    secrets: Api<Secret>,
    store: Store,
    certs: CertCache,
    metrics: Arc<Metrics>,
    recorder: Recorder,
    failed: BTreeSet<String>,
    push_pending: bool,
}

impl<'a> Watcher<'a> {
    async fn new(out: &OutputFlags, args: &'a WatchArgs, repo: Repo) -> Result<Self> {
        let cluster = ClusterFlags::from_kubeconfig(
            args.kubeconfig.clone(),
            args.context.clone(),
            args.controller.clone(),
        );
        let config = kubeseal_client::controller_api::client_config(&cluster).await?;
        let client = Client::try_from(config).context("cannot set up the Kubernetes client")?;
        let namespace = out.namespace.clone();
        let state_ns = args
            .state_namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| namespace.clone());
        let mut certs = CertCache {
            flag: out.cert.clone(),
            controller: None,
            cluster,
            refresh: args.cert_refresh,
            cached: None,
        };
        // Fail fast: without a certificate nothing can be sealed.
        certs
            .get()
            .await
            .context("cannot fetch the sealing certificate")?;
        let store = Store::load(
            Api::namespaced(client.clone(), &state_ns),
            &args.state_secret,
        )
        .await?;
        let metrics = Arc::new(Metrics::new()?);
        let reporter = Reporter {
            controller: "ccloud-keys".to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Ok(Self {
            args,
            dry_run: out.dry_run,
            secrets: Api::namespaced(client.clone(), &namespace),
            namespace,
            repo,
            store,
            certs,
            metrics,
            recorder: Recorder::new(client, reporter),
            failed: BTreeSet::new(),
            push_pending: false,
        })
    }

    async fn run(&mut self) -> Result<()> {
        if self.args.once {
            return self.run_once().await;
        }
        let mut server = tokio::spawn(server::serve(self.args.listen_addr, self.metrics.clone()));
        let mut config = watcher::Config::default();
        if let Some(sel) = &self.args.selector {
            config = config.labels(sel);
        }
        let mut stream = watcher(self.secrets.clone(), config)
            .default_backoff()
            .boxed();
        let mut retry = tokio::time::interval(self.args.retry_interval);
        tracing::info!(namespace = %self.namespace, repo = %self.repo.root().display(), "watching Secrets");
        loop {
            tokio::select! {
                event = stream.try_next() => match event {
                    Ok(Some(watcher::Event::Apply(s) | watcher::Event::InitApply(s))) => {
                        self.process(s).await;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => tracing::warn!(error = %e, "watch interrupted; resuming"),
                },
                _ = retry.tick() => self.retry_failed().await,
                _ = tokio::signal::ctrl_c() => break,
                res = &mut server => {
                    return match res {
                        Ok(Ok(())) => Err(anyhow!("the /healthz and /metrics server stopped")),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(anyhow!("the /healthz and /metrics server failed")),
                    };
                }
            }
        }
        Ok(())
    }

    async fn run_once(&mut self) -> Result<()> {
        let mut params = ListParams::default();
        if let Some(sel) = &self.args.selector {
            params = params.labels(sel);
        }
        let list = self
            .secrets
            .list(&params)
            .await
            .with_context(|| format!("cannot list Secrets in namespace {}", self.namespace))?;
        for secret in list.items {
            self.process(secret).await;
        }
        if self.push_pending {
            anyhow::bail!("the commits could not be pushed to {}", self.args.remote);
        }
        if self.failed.is_empty() {
            Ok(())
        } else {
            let names: Vec<&str> = self.failed.iter().map(String::as_str).collect();
            anyhow::bail!("{} Secret(s) failed: {}", names.len(), names.join(", "))
        }
    }

    /// Pushes when a commit has not reached the remote yet.
    fn push(&mut self) {
        if !self.push_pending {
            return;
        }
        match self.repo.push(&self.args.remote) {
            Ok(()) => self.push_pending = false,
            Err(e) => {
                self.metrics.errors.with_label_values(&["push"]).inc();
                tracing::error!(error = %format!("{e:#}"), "cannot push; will retry");
            }
        }
    }

    async fn retry_failed(&mut self) {
        self.push();
        if self.store.has_pending() {
            match self.store.flush().await {
                Ok(()) => tracing::info!("state saved"),
                Err(e) => {
                    self.metrics.errors.with_label_values(&["state"]).inc();
                    tracing::error!(error = %format!("{e:#}"), "cannot save the state; will retry");
                }
            }
        }
        let names: Vec<String> = std::mem::take(&mut self.failed).into_iter().collect();
        for name in names {
            match self.secrets.get_opt(&name).await {
                Ok(Some(secret)) => self.process(secret).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(secret = %name, error = %e, "cannot read Secret; will retry");
                    self.failed.insert(name);
                }
            }
        }
    }

    /// Handles one Secret; its values are wiped from memory however this ends.
    async fn process(&mut self, live: Secret) {
        let live = crds::convert::ZeroizingSecret(live);
        self.process_one(&live).await;
    }

    /// Handles one Secret, logging and counting the outcome; failures are retried later.
    async fn process_one(&mut self, live: &Secret) {
        let name = live.metadata.name.clone().unwrap_or_default();
        match self.handle(live).await {
            Ok(Handled::Written) => {
                self.failed.remove(&name);
                self.metrics.sealed.inc();
                self.metrics
                    .last_write
                    .set(i64::try_from(crate::unix_now()).unwrap_or(i64::MAX));
            }
            Ok(Handled::Unchanged) => {
                self.failed.remove(&name);
                self.metrics.unchanged.inc();
                tracing::debug!(secret = %name, "plaintext already sealed; nothing to do");
            }
            Ok(Handled::FromGit) => {
                self.failed.remove(&name);
                self.metrics.unchanged.inc();
                tracing::debug!(secret = %name, "data unsealed from a SealedSecret (from Git); not fed back");
            }
            Ok(Handled::NotSelected | Handled::DryRun) => {}
            Err((reason, e)) => {
                let message = format!("{e:#}");
                self.metrics.errors.with_label_values(&[reason]).inc();
                tracing::error!(secret = %name, reason, error = %message, "cannot feed the Secret back to Git");
                self.event(live, EventType::Warning, "FeedBackFailed", message)
                    .await;
                self.failed.insert(name);
            }
        }
    }

    fn selected(&self, name: &str) -> bool {
        name.starts_with(&self.args.name_prefix) && !self.args.exclude.iter().any(|e| e == name)
    }

    async fn handle(&mut self, live: &Secret) -> Result<Handled, (&'static str, anyhow::Error)> {
        let name = live.metadata.name.clone().unwrap_or_default();
        if !self.selected(&name) {
            return Ok(Handled::NotSelected);
        }
        if origin::data_came_from_sealed_secret(live) {
            return Ok(Handled::FromGit);
        }
        let ns = self.namespace.clone();
        if !self.args.no_adopt && !self.dry_run {
            self.adopt(live).await.map_err(|e| ("adopt", e))?;
        }
        // Wiped by `seal_to_yaml` (which seals it), or on drop on the other ways out.
        let clean = crds::convert::ZeroizingSecret(sealing::clean(live));
        let fingerprint = self.store.fingerprint(&clean);
        let mut entry = self.store.entry(&ns, &name);
        if entry.knows(&fingerprint) {
            return Ok(Handled::Unchanged);
        }
        let key = self.certs.get().await.map_err(|e| ("certificate", e))?;
        let rel = self.repo.sealed_file(&ns, &name);
        let yaml = sealing::seal_to_yaml(clean.into_inner(), &key).map_err(|e| ("seal", e))?;
        let ours = entry.written_sha256.clone();
        let path = self.repo.root().join(&rel);
        let outcome = sealing::emit(&self.repo, &rel, &yaml, self.dry_run, || {
            std::fs::read(&path).is_ok_and(|b| Some(state::sha256_hex(&b)) == ours)
        })
        .map_err(|e| {
            let reason = if e.to_string().starts_with("refusing") {
                "refused"
            } else {
                "write"
            };
            (reason, e)
        })?;
        if outcome == Outcome::DryRun {
            return Ok(Handled::DryRun);
        }
        let new_key = live
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::kinds::LABEL_KEY))
            .cloned();
        let replaced = entry
            .key_id
            .clone()
            .filter(|old| new_key.as_ref().is_some_and(|new| new != old));
        entry.record(fingerprint, new_key.clone(), yaml.as_bytes());
        if self.args.commit {
            let message = commit_message(&self.args.message, &ns, &name, &rel, replaced.as_deref());
            self.repo
                .commit(&rel, &message, &self.args.author)
                .map_err(|e| ("git", e))?;
            self.push_pending = self.args.push;
        }
        self.store
            .save(&ns, &name, entry)
            .await
            .map_err(|e| ("state", e))?;
        tracing::info!(secret = %name, file = %rel.display(), committed = self.args.commit, "sealed into the repository");
        self.push();
        self.event(
            live,
            EventType::Normal,
            "Sealed",
            format!("sealed into {}", rel.display()),
        )
        .await;
        if let Some(old) = replaced {
            self.key_replaced(live, &old, &new_key.unwrap_or_default())
                .await;
        }
        Ok(Handled::Written)
    }

    /// Says that the Secret's API key changed, so that the old one gets revoked.
    async fn key_replaced(&self, live: &Secret, old: &str, new: &str) {
        self.metrics.replaced_keys.inc();
        let name = live.metadata.name.as_deref().unwrap_or_default();
        tracing::warn!(secret = %name, old_key = %old, new_key = %new, "API key replaced: revoke the old one with `confluent api-key delete {old}`");
        self.event(
            live,
            EventType::Warning,
            "ApiKeyReplaced",
            format!("API key {old} was replaced by {new}; revoke it with: confluent api-key delete {old}"),
        )
        .await;
    }

    /// Marks the live Secret managed, so the controller adopts it when the SealedSecret arrives.
    async fn adopt(&self, live: &Secret) -> Result<()> {
        let managed = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(MANAGED_ANNOTATION))
            .is_some_and(|v| v == "true");
        if managed {
            return Ok(());
        }
        let name = live.metadata.name.clone().unwrap_or_default();
        let patch = serde_json::json!({
            "metadata": { "annotations": { MANAGED_ANNOTATION: "true" } }
        });
        self.secrets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| {
                format!("cannot mark Secret {name} as managed (needs patch on secrets)")
            })?;
        Ok(())
    }

    async fn event(&self, live: &Secret, type_: EventType, reason: &str, note: String) {
        let event = KubeEvent {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "FeedBack".to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &live.object_ref(&())).await {
            tracing::warn!(error = %e, "cannot publish an Event");
        }
    }
}

/// The commit message for a sealed Secret: `--message` with its placeholders filled in, and the
/// revocation hint when the Secret's API key replaced another.
fn commit_message(
    template: &str,
    namespace: &str,
    name: &str,
    file: &std::path::Path,
    replaced: Option<&str>,
) -> String {
    let mut message = template
        .replace("{namespace}", namespace)
        .replace("{name}", name)
        .replace("{file}", &file.display().to_string());
    if let Some(old) = replaced {
        message.push_str(&format!(
            "\n\nReplaces API key {old}; revoke it with: confluent api-key delete {old}"
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::commit_message;
    use std::path::Path;

    #[test]
    fn the_commit_message_fills_its_placeholders_and_names_the_key_to_revoke() {
        let file = Path::new("secrets/prod/kafka.yaml");
        assert_eq!(
            commit_message(
                "seal {namespace}/{name} into {file}",
                "prod",
                "kafka",
                file,
                None
            ),
            "seal prod/kafka into secrets/prod/kafka.yaml"
        );
        let message = commit_message("seal {name}", "prod", "kafka", file, Some("OLDKEY"));
        assert_eq!(
            message,
            "seal kafka\n\nReplaces API key OLDKEY; revoke it with: confluent api-key delete OLDKEY"
        );
    }
}
