//! Reaching the controller through the API server's Service proxy, as the Go `kubeseal` does:
//! `/api/v1/namespaces/<ns>/services/http:<name>:<port-name>/proxy/v1/...`, with the client set up
//! like kubectl (`--kubeconfig`, `$KUBECONFIG`, `--context`, `--server`, `--token`, ...).

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use http::{Method, Request, StatusCode};
use k8s_openapi::api::core::v1::Service;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::connection::ClusterFlags;

/// How long a call waits out the controller's rate limit (429) before giving up.
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(600);

/// How often a call is repeated when the API server's proxy lost an idle connection to the
/// controller (verify, rotate and cert are free of side effects, so repeating is safe).
const TRANSIENT_RETRIES: u32 = 2;

/// One HTTP answer as it came back through the proxy.
struct Reply {
    status: StatusCode,
    retry_after: Duration,
    body: Vec<u8>,
    stale: Option<bool>,
}

/// One try of a call.
enum Attempt {
    /// The controller answered (any status): status, Retry-After, body, `sealed-secrets-stale`.
    Answer(StatusCode, Duration, Vec<u8>, Option<bool>),
    /// The proxy's connection to the controller broke mid-way; worth another try.
    Transient(anyhow::Error),
}

/// Proxy errors that say a reused connection broke, not that the controller is down.
fn is_transient(message: &str) -> bool {
    [
        "server closed idle connection",
        "EOF",
        "connection reset by peer",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Short growing pause before repeating a call that hit a broken connection.
async fn pause_before_retry(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
}

/// The controller could not be reached at all (as opposed to an answer about one object): a
/// bulk run stops starting new files when it sees this.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// Whether `err` says the controller could not be reached.
pub fn is_unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<Unreachable>())
}

/// What `/v1/rotate?onlyStale=true` answered for one SealedSecret.
#[derive(Debug)]
pub enum StaleRotation {
    /// Already on the newest key (204).
    Current,
    /// Re-encrypted to the newest key.
    Rotated(Box<crds::SealedSecret>),
    /// The controller cannot decrypt it (409).
    Undecryptable,
}

/// Header of our controller's `/v1/rotate?onlyStale=true` answers.
const STALE_HEADER: &str = "sealed-secrets-stale";

/// Default bound on every request when `--request-timeout` is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The controller behind its Service.
pub struct ControllerApi {
    client: Client,
    namespace: String,
    name: String,
    port: String,
    timeout: Duration,
}

/// The kubectl-style client configuration from the flags.
pub async fn client_config(flags: &ClusterFlags) -> Result<Config> {
    let mut config = base_config(flags).await?;
    override_server(&mut config, flags)?;
    override_credentials(&mut config, flags)?;
    if let Some(ns) = &flags.namespace {
        config.default_namespace = ns.clone();
    }
    Ok(config)
}

/// The configuration from `--kubeconfig`, else `--server` alone, else the default kubeconfig,
/// else in-cluster.
async fn base_config(flags: &ClusterFlags) -> Result<Config> {
    let options = KubeConfigOptions {
        // An empty --context means unset, as with kubectl.
        context: flags.context.clone().filter(|c| !c.is_empty()),
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
    };
    Ok(match &flags.kubeconfig {
        Some(path) => {
            crate::kubeconfig::check_encoding(path)?;
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if flags.server.is_some() => Config::new(
            flags
                .server
                .as_deref()
                .unwrap_or_default()
                .parse()
                .context("invalid --server")?,
        ),
        None => match crate::kubeconfig::check_candidates(None)
            .map(|()| Config::from_kubeconfig(&options))?
            .await
        {
            Ok(c) => c,
            // In-cluster only when there is no kubeconfig at all: a kubeconfig that does not work
            // (an unknown --context, say) is reported as such.
            // (An empty or context-less kubeconfig counts as none, as with client-go.)
            Err(e)
                if options.context.is_some()
                    || Kubeconfig::read()
                        .is_ok_and(|k| k.current_context.is_some_and(|c| !c.is_empty())) =>
            {
                return Err(anyhow!(e).context("cannot use the kubeconfig"))
            }
            Err(_) => Config::incluster().map_err(|_| {
                anyhow!("no kubeconfig found (set --kubeconfig or $KUBECONFIG, or pass --cert)")
            })?,
        },
    })
}

/// `--server`, the TLS flags and `--proxy-url`.
fn override_server(config: &mut Config, flags: &ClusterFlags) -> Result<()> {
    if let Some(server) = &flags.server {
        config.cluster_url = server.parse().context("invalid --server")?;
    }
    if flags.insecure_skip_tls_verify {
        config.accept_invalid_certs = true;
    }
    if let Some(ca) = &flags.certificate_authority {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        config.root_cert = Some(
            pem::parse_many(&pem)
                .map_err(|_| anyhow!("{} is not a PEM certificate", ca.display()))?
                .into_iter()
                .map(|p| p.into_contents())
                .collect(),
        );
    }
    if let Some(name) = &flags.tls_server_name {
        config.tls_server_name = Some(name.clone());
    }
    if let Some(url) = flags.proxy_url.as_deref().filter(|u| !u.is_empty()) {
        config.proxy_url = Some(
            url.parse()
                .map_err(|_| anyhow!("--proxy-url {url:?} is not a valid URL"))?,
        );
    }
    Ok(())
}

/// Who the requests are made as: token, client certificate, basic auth, impersonation.
fn override_credentials(config: &mut Config, flags: &ClusterFlags) -> Result<()> {
    let auth = &mut config.auth_info;
    if let Some(token) = &flags.token {
        auth.token = Some(token.clone().into());
    }
    if let Some(cert) = &flags.client_certificate {
        auth.client_certificate = Some(cert.display().to_string());
        auth.client_certificate_data = None;
    }
    if let Some(key) = &flags.client_key {
        auth.client_key = Some(key.display().to_string());
        auth.client_key_data = None;
    }
    if let Some(username) = &flags.username {
        auth.username = Some(username.clone());
    }
    if let Some(password) = &flags.password {
        auth.password = Some(password.clone().into());
    }
    if flags.as_user.is_none() && (!flags.as_group.is_empty() || flags.as_uid.is_some()) {
        bail!("--as-group and --as-uid require --as (as kubectl)");
    }
    if let Some(user) = &flags.as_user {
        auth.impersonate = Some(user.clone());
        if !flags.as_group.is_empty() {
            auth.impersonate_groups = Some(flags.as_group.clone());
        }
        auth.impersonate_uid = flags.as_uid.clone();
    }
    Ok(())
}

/// `--request-timeout` (`0`, `30s`, `1m`, plain seconds); 0 means the default bound.
fn request_timeout(text: &str) -> Result<Duration> {
    let timeout = crate::connection::parse_duration(text)
        .map_err(|_| anyhow!("invalid --request-timeout {text:?}"))?;
    Ok(if timeout.is_zero() {
        DEFAULT_TIMEOUT
    } else {
        timeout
    })
}

impl ControllerApi {
    /// Finds the controller's Service (its first port's name is used, as upstream does).
    pub async fn connect(flags: &ClusterFlags, namespace: &str, name: &str) -> Result<Self> {
        let timeout = request_timeout(&flags.request_timeout)?;
        let mut config = client_config(flags).await?;
        // `call` handles 429 itself (bounded by --request-timeout per attempt); kube's own retry
        // layer would retry inside that bound and turn a rate limit into a timeout.
        config.default_retry = false;
        let client = Client::try_from(config).context("cannot set up the Kubernetes client")?;
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let lookup = tokio::time::timeout(timeout, services.get(name))
            .await
            .map_err(|_| {
                anyhow!("timed out after {timeout:?} reaching the Kubernetes API server")
            })?;
        let service = lookup.map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => anyhow!(
                "cannot get sealed secret service: service \"{name}\" not found in namespace \"{namespace}\". Please, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller"
            ),
            kube::Error::Api(s) if s.code == 403 => anyhow!(
                "cannot get sealed secret service {namespace}/{name}: forbidden: {}", s.message
            ),
            kube::Error::Api(s) if s.code == 401 => anyhow!("cannot get sealed secret service: unauthorized (check your credentials)"),
            other => anyhow!("cannot get sealed secret service {namespace}/{name}: {other}"),
        })?;
        let port = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p.first())
            .map(|p| p.name.clone().unwrap_or_default())
            .unwrap_or_default();
        Ok(Self {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            port,
            timeout,
        })
    }

    /// One call; answers `429 Too Many Requests` (the controller rate-limits verify and rotate
    /// per client, 2/s by default, as upstream) are waited out as the answer's `Retry-After`
    /// says, for at most [`RATE_LIMIT_PATIENCE`] in all, so that bulk work slows down instead of
    /// failing.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        self.call_answer(method, path, body)
            .await
            .map(|(status, body, _)| (status, body))
    }

    /// Like [`Self::call`], also returning the `sealed-secrets-stale` header.
    async fn call_answer(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Vec<u8>, Option<bool>)> {
        let started = std::time::Instant::now();
        let mut attempt: u32 = 0;
        let mut transient: u32 = 0;
        loop {
            let (status, retry_after, answer, stale) =
                match self.call_once(method.clone(), path, body.clone()).await? {
                    Attempt::Answer(status, retry_after, answer, stale) => {
                        (status, retry_after, answer, stale)
                    }
                    Attempt::Transient(_) if transient < TRANSIENT_RETRIES => {
                        transient += 1;
                        pause_before_retry(transient).await;
                        continue;
                    }
                    Attempt::Transient(e) => return Err(e),
                };
            if status != StatusCode::TOO_MANY_REQUESTS {
                return Ok((status, answer, stale));
            }
            // Spread the retries of parallel callers a little (no RNG needed for that).
            attempt += 1;
            let jitter = Duration::from_millis(u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_millis() % 250)
                    .unwrap_or_default(),
            ));
            let wait = retry_after.min(Duration::from_secs(30)) + jitter;
            if started.elapsed() + wait > RATE_LIMIT_PATIENCE {
                bail!(
                    "the controller {}/{} kept answering 429 Too Many Requests for {:?} ({attempt} attempts); raise its --rate-limit or retry later",
                    self.namespace, self.name, started.elapsed()
                );
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn call_once(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Attempt> {
        let reply = self.send(method, path, body).await?;
        self.judge(reply)
    }

    /// Sends one request through the API server's Service proxy, within the timeout.
    async fn send(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Reply> {
        let uri = format!(
            "/api/v1/namespaces/{}/services/http:{}:{}/proxy{path}",
            self.namespace, self.name, self.port
        );
        let request = Request::builder()
            .method(method)
            .uri(&uri)
            .header(
                http::header::ACCEPT,
                "application/x-pem-file, application/json, */*",
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| anyhow!("cannot build request: {e}"))?;
        let call = async {
            let response = self.client.send(request.map(Into::into)).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            let stale = response
                .headers()
                .get(STALE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| v == "true");
            let body = http_body_util_collect(response.into_body()).await?;
            Ok::<_, anyhow::Error>((status, retry_after, body, stale))
        };
        let (status, retry_after, body, stale) = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                Unreachable(format!(
                    "timed out after {:?} waiting for the controller",
                    self.timeout
                ))
            })?
            .map_err(|e| {
                Unreachable(format!(
                    "cannot reach the controller {}/{}: {e}",
                    self.namespace, self.name
                ))
            })?;
        Ok(Reply {
            status,
            retry_after,
            body,
            stale,
        })
    }

    /// Tells the controller's answers from the API server's errors about reaching it.
    fn judge(&self, reply: Reply) -> Result<Attempt> {
        let Reply {
            status,
            retry_after,
            body,
            stale,
        } = reply;
        // The API server's own errors (no endpoints, connection refused, ...) come as a
        // `metav1.Status` body; the controller never answers with one.
        if !status.is_success() {
            if let Some(message) = api_server_error(&body) {
                if is_transient(&message) {
                    return Ok(Attempt::Transient(anyhow!(
                        "the connection to the controller {}/{} broke: {message} (HTTP {status})",
                        self.namespace,
                        self.name
                    )));
                }
                if status == StatusCode::FORBIDDEN {
                    bail!(
                        "forbidden to reach the controller through the API server (needs get on services/proxy \"{}\" in namespace \"{}\"): {message}",
                        self.name, self.namespace
                    );
                }
                return Err(Unreachable(format!(
                    "the controller {}/{} is not reachable through the API server (is it running, with a ready endpoint?): {message} (HTTP {status})",
                    self.namespace, self.name
                ))
                .into());
            }
        }
        match status.as_u16() {
            403 => bail!(
                "forbidden to reach the controller through the API server (needs get on services/proxy \"{}\" in namespace \"{}\")",
                self.name, self.namespace
            ),
            502..=504 => Err(Unreachable(format!(
                "the controller {}/{} is not reachable (no ready endpoint; is it running?): HTTP {status}",
                self.namespace, self.name
            ))
            .into()),
            _ => Ok(Attempt::Answer(status, retry_after, body, stale)),
        }
    }

    /// `GET /v1/cert.pem`: the PEM the controller seals with.
    pub async fn cert(&self) -> Result<Vec<u8>> {
        let (status, body) = self.call(Method::GET, "/v1/cert.pem", Vec::new()).await?;
        if status != StatusCode::OK {
            bail!("cannot fetch certificate: the controller answered HTTP {status}");
        }
        if crds::parse_sealing_key(&body).is_err() {
            bail!("cannot fetch certificate: the controller's answer is not a PEM certificate");
        }
        Ok(body)
    }

    /// `POST /v1/verify`: true when the controller can decrypt it.
    pub async fn verify(&self, sealed_json: Vec<u8>) -> Result<bool> {
        let (status, _) = self.call(Method::POST, "/v1/verify", sealed_json).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            other => bail!("cannot validate sealed secret: the controller answered HTTP {other}"),
        }
    }

    /// `POST /v1/rotate`: the SealedSecret re-encrypted to the newest key; None when the
    /// controller cannot (it opens with none of its keys, or is not a valid SealedSecret).
    pub async fn rotate(&self, sealed_json: Vec<u8>) -> Result<Option<crds::SealedSecret>> {
        let (status, body) = self.call(Method::POST, "/v1/rotate", sealed_json).await?;
        match status {
            StatusCode::OK => serde_json::from_slice(&body).map(Some).map_err(|_| {
                anyhow!("cannot re-encrypt secret: the controller's answer is not a SealedSecret")
            }),
            // 500 since v0.36 (and from this controller), 409 from older ones.
            StatusCode::CONFLICT | StatusCode::INTERNAL_SERVER_ERROR => Ok(None),
            other => bail!("cannot re-encrypt secret: the controller answered HTTP {other}"),
        }
    }

    /// `POST /v1/rotate?onlyStale=true` (an addition of this project's controller): nothing
    /// comes back for a SealedSecret already on the newest key. A controller that ignores the
    /// question (the Go one) is an error, so that a job never rewrites a whole tree unasked.
    pub async fn rotate_if_stale(&self, sealed_json: Vec<u8>) -> Result<StaleRotation> {
        let (status, body, stale) = self
            .call_answer(Method::POST, "/v1/rotate?onlyStale=true", sealed_json)
            .await?;
        match (status, stale) {
            (StatusCode::NO_CONTENT, _) => Ok(StaleRotation::Current),
            (StatusCode::OK, Some(_)) => serde_json::from_slice(&body)
                .map(|s| StaleRotation::Rotated(Box::new(s)))
                .map_err(|_| {
                    anyhow!("cannot re-encrypt secret: the controller's answer is not a SealedSecret")
                }),
            (StatusCode::OK, None) => Err(Unreachable(format!(
                "the controller {}/{} does not tell current SealedSecrets apart (it ignored /v1/rotate?onlyStale=true: an upstream controller?); run without --only-stale",
                self.namespace, self.name
            ))
            .into()),
            (StatusCode::CONFLICT | StatusCode::INTERNAL_SERVER_ERROR, _) => {
                Ok(StaleRotation::Undecryptable)
            }
            (other, _) => bail!("cannot re-encrypt secret: the controller answered HTTP {other}"),
        }
    }
}

async fn http_body_util_collect(body: kube::client::Body) -> Result<Vec<u8>> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, 4 * 1024 * 1024);
    Ok(limited
        .collect()
        .await
        .map_err(|e| anyhow!("cannot read the controller's answer: {e}"))?
        .to_bytes()
        .to_vec())
}

/// The message of a `metav1.Status` body: an error of the API server (or its proxy), not an
/// answer of the controller.
fn api_server_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let is_status =
        value.get("kind")?.as_str()? == "Status" && value.get("apiVersion")?.as_str()? == "v1";
    is_status.then(|| {
        value
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown error")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}
