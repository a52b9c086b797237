//! The controller's HTTP API (same paths and status codes as the original) and the metrics
//! endpoint. Every replica serves these from the keys it has loaded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use crds::manifest;
use crds::rotate::Rotation;
use crds::{SealedSecret, UnsealOptions};

use crate::flags::Listen;
use crate::limiter::Decision;
pub use crate::limiter::RateLimiter;
use crate::metrics::Metrics;
use crate::registry::KeyRegistry;

/// Largest request body accepted by verify and rotate.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Loaded keys.
    pub registry: Arc<KeyRegistry>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Rate limiter of verify (`--rate-limit`, `--rate-limit-burst`).
    pub limiter: Arc<RateLimiter>,
    /// Rate limiter of rotate, only with `--rotate-rate-limit` (the original has none).
    pub rotate_limiter: Option<Arc<RateLimiter>>,
    /// `--accept-deprecated-v1-data`.
    pub unseal: UnsealOptions,
    /// `--read-timeout`, `--write-timeout`.
    pub timeouts: Timeouts,
    /// `--ui`: serve the sealing page at `/`.
    pub ui: bool,
}

/// `--read-timeout` and `--write-timeout`; zero means no limit, as in Go's `http.Server`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Reading the request body (408 Request Timeout when exceeded).
    pub read: Duration,
    /// Reading the body and producing the response (503 when exceeded).
    pub write: Duration,
}

impl Timeouts {
    fn limit(d: Duration) -> Option<Duration> {
        (!d.is_zero()).then_some(d)
    }
}

/// The API router (`--listen-addr`).
pub fn api_router(state: ApiState) -> Router {
    // The deadline (which reads the body) runs after the rate limit: a refused client's body is
    // never read.
    let limited = Router::new()
        .route("/v1/verify", post(verify))
        .layer(middleware::from_fn_with_state(state.timeouts, deadline))
        .layer(middleware::from_fn_with_state(
            state.limiter.clone(),
            rate_limit,
        ));
    let mut rotate_route = Router::new()
        .route("/v1/rotate", post(rotate))
        .layer(middleware::from_fn_with_state(state.timeouts, deadline));
    if let Some(limiter) = &state.rotate_limiter {
        rotate_route =
            rotate_route.layer(middleware::from_fn_with_state(limiter.clone(), rate_limit));
    }
    let limited = limited
        .merge(rotate_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/healthz", any(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/v1/cert.pem", get(cert))
        .merge(crate::ui::router(state.ui))
        .layer(middleware::from_fn_with_state(state.timeouts, deadline))
        .merge(limited)
        .layer(middleware::from_fn_with_state(state.clone(), instrument))
        .with_state(state)
}

/// The metrics router (`--listen-metrics-addr`).
pub fn metrics_router(metrics: Arc<Metrics>, timeouts: Timeouts) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        axum::body::Body::from_stream(futures::stream::iter(
                            metrics.render_chunks().map(|chunk| {
                                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk))
                            }),
                        )),
                    )
                }
            }),
        )
        .layer(middleware::from_fn_with_state(timeouts, deadline))
}

/// Serves `router` on `listener` (see [`bind`]) until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "HTTP server listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// A listener on `addr`. [`Listen::Any`] is one IPv6 socket that also takes IPv4 connections
/// (`IPV6_V6ONLY` off, whatever `net.ipv6.bindv6only` says), as Go listens on `:8080`; on a host
/// without IPv6 it falls back to every IPv4 address.
pub fn bind(addr: Listen) -> anyhow::Result<tokio::net::TcpListener> {
    let (listener, shown) = match addr {
        Listen::At(at) => (bind_at(at), at.to_string()),
        Listen::Any(port) => match dual_stack(port) {
            Ok(listener) => (Ok(listener), format!("[::]:{port}")),
            Err(e) if ipv6_unavailable(&e) => {
                let any = SocketAddr::from(([0, 0, 0, 0], port));
                (std::net::TcpListener::bind(any), any.to_string())
            }
            Err(e) => (Err(e), format!(":{port}")),
        },
    };
    let listener = listener.map_err(|e| anyhow::anyhow!("cannot listen on {shown}: {e}"))?;
    listener.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(listener)?)
}

fn dual_stack(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    // As std and Go do for listeners: a restart may bind while old connections linger.
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(backlog())?;
    Ok(socket.into())
}

fn bind_at(at: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(at), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&at.into())?;
    socket.listen(backlog())?;
    Ok(socket.into())
}

/// The accept queue's length: the kernel's `somaxconn`, as Go's listeners use (std's 128 drops
/// connections when a thousand clients connect at once).
fn backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|n| *n > 0)
        .map_or(4096, |n| n.min(65_535))
}

/// Whether `e` says the host has no IPv6 (kernel without it, or IPv6 disabled).
fn ipv6_unavailable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::AFNOSUPPORT.raw_os_error()
            || code == rustix::io::Errno::ADDRNOTAVAIL.raw_os_error()
    )
}

/// Bounds each request as the original's `ReadTimeout` and `WriteTimeout` do: the body must
/// arrive within the read timeout, and the whole request be answered within the write timeout.
/// The body is read here, at most [`MAX_BODY_BYTES`] of it (413 beyond).
async fn deadline(State(timeouts): State<Timeouts>, request: Request, next: Next) -> Response {
    let write_deadline =
        Timeouts::limit(timeouts.write).and_then(|d| tokio::time::Instant::now().checked_add(d));
    let read_limit = match (
        Timeouts::limit(timeouts.read),
        Timeouts::limit(timeouts.write),
    ) {
        (Some(r), Some(w)) => Some(r.min(w)),
        (r, w) => r.or(w),
    };
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
    let body = match read_limit {
        Some(limit) => match tokio::time::timeout(limit, read).await {
            Ok(read) => read,
            Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
        },
        None => read.await,
    };
    let body = match body {
        Ok(body) => body,
        Err(e) if is_length_limit(&e) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response()
        }
        Err(_) => {
            return (StatusCode::BAD_REQUEST, "cannot read the request body\n").into_response()
        }
    };
    let response = next.run(Request::from_parts(parts, axum::body::Body::from(body)));
    match write_deadline {
        Some(at) => tokio::time::timeout_at(at, response)
            .await
            .unwrap_or_else(|_| {
                (StatusCode::SERVICE_UNAVAILABLE, "response timed out\n").into_response()
            }),
        None => response.await,
    }
}

/// Whether reading a body failed because it is over the size limit (rather than, say, the
/// client hanging up or sending broken chunked encoding).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.registry.newest().is_some() {
        "ok\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn cert(State(state): State<ApiState>) -> Response {
    match state.registry.newest() {
        Some(key) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            key.key.certificate.to_pem(),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    }
}

/// Parses a request body holding exactly one SealedSecret (JSON or YAML).
fn parse_body(body: &[u8]) -> Result<SealedSecret, (StatusCode, String)> {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, format!("{msg}\n"));
    let mut docs = manifest::parse_documents(body).map_err(|e| bad(e.to_string()))?;
    if docs.len() != 1 {
        return Err(bad(format!(
            "expected one SealedSecret, got {} documents",
            docs.len()
        )));
    }
    let doc = docs.remove(0);
    if doc.kind().is_some_and(|k| k != crds::types::KIND) {
        return Err(bad(format!(
            "unexpected resource type: {}",
            doc.kind().unwrap_or_default()
        )));
    }
    serde_json::from_value(doc.value).map_err(|e| bad(format!("not a valid SealedSecret: {e}")))
}

async fn verify(State(state): State<ApiState>, body: Bytes) -> Response {
    let sealed = match parse_body(&body) {
        Ok(s) => s,
        Err(resp) => return resp.into_response(),
    };
    let keys = state.registry.private_keys();
    let opts = state.unseal;
    let result = tokio::task::spawn_blocking(move || {
        crds::convert::decrypt_values(&sealed, &keys, opts).map(|_| ())
    })
    .await;
    match result {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(_)) => StatusCode::CONFLICT.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Answers of `/v1/rotate?onlyStale=true` say whether the SealedSecret was stale (a value not
/// on the newest key): `true` (200, re-encrypted) or `false` (204). An addition of ours: a
/// client that gets a 200 without it talks to a controller that ignored `onlyStale`.
pub const STALE_HEADER: &str = "sealed-secrets-stale";

/// Re-encrypts a SealedSecret to the newest key. As in the original, any failure (not a
/// SealedSecret, a value no key opens, no key loaded) answers 500 with an empty body; the reason
/// is logged (it names keys and fields, never values). With `?onlyStale=true` (ours), a
/// SealedSecret already on the newest key gets 204 No Content: a key-rotation job rewrites only
/// what is stale.
async fn rotate(State(state): State<ApiState>, uri: axum::http::Uri, body: Bytes) -> Response {
    let only_stale = wants_only_stale(uri.query());
    match reencrypt(&state, &body, only_stale).await {
        Ok(None) => (StatusCode::NO_CONTENT, [(STALE_HEADER, "false")]).into_response(),
        Ok(Some(json)) => {
            let mut response = ([(header::CONTENT_TYPE, "application/json")], json).into_response();
            if only_stale {
                response
                    .headers_mut()
                    .insert(STALE_HEADER, header::HeaderValue::from_static("true"));
            }
            response
        }
        Err(reason) => {
            tracing::error!(error = %reason.trim_end(), "Error rotating secret");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The rotate body's SealedSecret re-encrypted to the newest key, as JSON (`None`: already
/// current, with `only_stale`); else why not.
async fn reencrypt(
    state: &ApiState,
    body: &[u8],
    only_stale: bool,
) -> Result<Option<String>, String> {
    let sealed = parse_body(body).map_err(|(_, message)| message)?;
    let newest = state.registry.newest().ok_or("no sealing key loaded")?;
    let keys = state.registry.private_keys();
    let opts = state.unseal;
    let rotation = tokio::task::spawn_blocking(move || {
        let target = newest.key.certificate.public_key();
        crds::rotate::rotate(&sealed, &keys, target, only_stale, opts)
    })
    .await
    .map_err(|e| format!("re-encryption stopped: {e}"))?
    .map_err(|e| format!("error decrypting secret: {e}"))?;
    match rotation {
        Rotation::Current => Ok(None),
        Rotation::Rotated(rotated) => manifest::to_go_json(&rotated)
            .map(Some)
            .map_err(|e| format!("cannot write the SealedSecret: {e}")),
    }
}

/// Whether the query asks for `onlyStale` (`onlyStale`, `onlyStale=true` or `=1`).
fn wants_only_stale(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, "true"));
            (name == "onlyStale").then_some(value)
        })
        .next_back()
        .is_some_and(|v| matches!(v, "true" | "1" | "True" | "TRUE" | "t" | "T"))
}

async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let client = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| peer.ip().to_string());
    let key = format!("{} {client}", request.uri().path());
    match limiter.check(&key) {
        Decision::Allow => next.run(request).await,
        Decision::RetryAfter(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            // The body is left unread, so the connection cannot carry another request: say so.
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, seconds.to_string()),
                    (header::CONNECTION, "close".to_owned()),
                ],
                "limit exceeded\n",
            )
                .into_response()
        }
    }
}

async fn instrument(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    // Known routes only, so random paths cannot grow the label set.
    let path = match request.uri().path() {
        p @ ("/healthz" | "/readyz" | "/v1/cert.pem" | "/v1/verify" | "/v1/rotate") => p.to_owned(),
        _ => "other".to_owned(),
    };
    let method = request.method().as_str().to_ascii_lowercase();
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.status().as_u16().to_string();
    state
        .metrics
        .http_requests
        .with_label_values(&[path.as_str(), code.as_str(), method.as_str()])
        .inc();
    state
        .metrics
        .http_duration
        .with_label_values(&[path.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_stale_is_asked_for_with_a_go_boolean() {
        for yes in [
            "onlyStale=true",
            "onlyStale",
            "a=b&onlyStale=1",
            "onlyStale=false&onlyStale=t",
        ] {
            assert!(wants_only_stale(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "onlyStale=false",
            "onlystale=true",
            "onlyStale=0",
            "x=onlyStale",
        ] {
            assert!(!wants_only_stale(Some(no)), "{no}");
        }
        assert!(!wants_only_stale(None));
    }
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// How a test client sends its request.
    enum Send {
        /// `{`, a pause of 300 ms, then `}` (Content-Length: 2).
        Slowly,
        /// One byte of a declared 10, then it closes its side.
        HalfAndHangUp,
        /// A body one byte over [`MAX_BODY_BYTES`].
        TooLarge,
    }

    /// Status line of the answer to a POST sent as `how`, behind the deadline middleware.
    async fn answer(timeouts: Timeouts, how: Send) -> String {
        let router = Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(middleware::from_fn_with_state(timeouts, deadline));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = |len: usize| {
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
            )
        };
        // Writes may fail once the server has answered and closed: the answer is what counts.
        match how {
            Send::Slowly => {
                let _ = stream.write_all(format!("{}{{", head(2)).as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = stream.write_all(b"}").await;
            }
            Send::HalfAndHangUp => {
                let _ = stream.write_all(format!("{}{{", head(10)).as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            Send::TooLarge => {
                let len = MAX_BODY_BYTES + 1;
                let _ = stream.write_all(head(len).as_bytes()).await;
                let _ = stream.write_all(&vec![b'x'; len]).await;
            }
        }
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text).await;
        text.lines().next().unwrap_or_default().to_owned()
    }

    const SHORT: Duration = Duration::from_millis(100);
    const LONG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_body_slower_than_the_read_timeout_gets_408_and_zero_means_no_limit() {
        let t = |read, write| Timeouts { read, write };
        assert_eq!(
            answer(t(SHORT, LONG), Send::Slowly).await,
            "HTTP/1.1 408 Request Timeout"
        );
        assert_eq!(
            answer(t(LONG, SHORT), Send::Slowly).await,
            "HTTP/1.1 408 Request Timeout",
            "the body also counts against the write timeout"
        );
        assert_eq!(
            answer(t(Duration::ZERO, Duration::ZERO), Send::Slowly).await,
            "HTTP/1.1 200 OK"
        );
    }

    #[tokio::test]
    async fn an_oversize_body_gets_413_and_a_broken_one_400() {
        let timeouts = Timeouts {
            read: LONG,
            write: LONG,
        };
        assert_eq!(
            answer(timeouts, Send::TooLarge).await,
            "HTTP/1.1 413 Payload Too Large"
        );
        assert_eq!(
            answer(timeouts, Send::HalfAndHangUp).await,
            "HTTP/1.1 400 Bad Request"
        );
    }
}
