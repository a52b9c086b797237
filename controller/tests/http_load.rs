//! The HTTP API under load (issue 18): 1,000 concurrent clients on `/v1/verify` and
//! `/v1/cert.pem` for a minute, over loopback, each loop bounded by the run's deadline.
//!
//! What a user would notice: the per-client limit of `/v1/verify` holds for every client
//! (`--rate-limit 2 --rate-limit-burst 2`: at most 3 at once and 2 per second after), a client
//! churning through more client names than the limiter's table holds never resets the limit of
//! a client that is being limited, `/healthz` keeps answering throughout, and the controller's
//! memory stays bounded. `SEALED_SECRETS_HTTP_LOAD_SECONDS` sets the duration (default 60).
//!
//! Each of the 1,000 clients opens with a burst of 6 verifies (3 pass) and then asks once a
//! second, verify and certificate in turn; 20 of them hammer at 10 verifies a second throughout
//! (always limited). The table is set to 4,096 clients (`--rate-limit-clients`) and 6,000 more
//! names go through it meanwhile.

pub mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::Env;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CLIENTS: usize = 1_000;
/// Clients asking 5 times their quota all along.
const HAMMERS: usize = 20;
/// The limiter's table in this test (`--rate-limit-clients`).
const TABLE: usize = 4_096;
/// The controller's defaults, as upstream's.
const RATE: f64 = 2.0;
const BURST: f64 = 2.0;
/// More distinct client names than the limiter's table holds.
const CHURN_NAMES: u64 = 6_000;

/// One keep-alive HTTP/1.1 connection; `request` sends one request and reads the answer's status.
/// An answer with `Connection: close` makes the next request open a new connection, as any HTTP
/// client does.
struct Conn {
    addr: SocketAddr,
    stream: BufReader<TcpStream>,
    closed: bool,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            addr,
            stream: BufReader::new(TcpStream::connect(addr).await?),
            closed: false,
        })
    }

    async fn request(&mut self, method: &str, path: &str, client: &str) -> std::io::Result<u16> {
        if self.closed {
            *self = Self::open(self.addr).await?;
        }
        let body: &[u8] = if method == "POST" { b"{}" } else { b"" };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: controller\r\nX-Forwarded-For: {client}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.get_mut().write_all(head.as_bytes()).await?;
        self.stream.get_mut().write_all(body).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("connection") && value.trim() == "close" {
                    self.closed = true;
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

/// Requests that passed the limiter (anything but 429) and that were refused, per client name.
#[derive(Default)]
struct Tally {
    passed: u64,
    limited: u64,
}

/// A client: a burst of 6 verifies, then once a second verify and certificate in turn (or, a
/// hammer, 10 verifies a second), until the deadline.
async fn client(
    addr: SocketAddr,
    name: String,
    hammer: bool,
    deadline: Deadline,
) -> (String, Tally, u64) {
    let mut tally = Tally::default();
    let mut certs = 0;
    let mut conn = Conn::open(addr)
        .await
        .unwrap_or_else(|e| panic!("{name}: cannot connect: {e}"));
    let verify = async |conn: &mut Conn, tally: &mut Tally| match conn
        .request("POST", "/v1/verify", &name)
        .await
    {
        Ok(429) => tally.limited += 1,
        Ok(_) => tally.passed += 1,
        Err(e) => panic!("{name}: /v1/verify failed: {e}"),
    };
    for _ in 0..6 {
        verify(&mut conn, &mut tally).await;
    }
    let period = if hammer { 100 } else { 1_000 };
    let mut tick = tokio::time::interval(Duration::from_millis(period));
    let mut turn = 0u64;
    while !deadline.passed() {
        tick.tick().await;
        turn += 1;
        if hammer || turn.is_multiple_of(2) {
            verify(&mut conn, &mut tally).await;
        } else {
            match conn.request("GET", "/v1/cert.pem", &name).await {
                Ok(200) => certs += 1,
                Ok(other) => panic!("{name}: /v1/cert.pem answered {other}"),
                Err(e) => panic!("{name}: /v1/cert.pem failed: {e}"),
            }
        }
    }
    (name, tally, certs)
}

/// Requests `/v1/verify` under names `first`, `first + step`, ... below `CHURN_NAMES`, one
/// request each (a bounded loop: it ends when the names do).
async fn churn(addr: SocketAddr, first: u64, step: u64) -> u64 {
    let mut conn = Conn::open(addr).await.expect("connect the churning client");
    let mut sent = 0;
    for n in (first..CHURN_NAMES).step_by(step as usize) {
        conn.request("POST", "/v1/verify", &format!("churn-{n}"))
            .await
            .expect("churning request");
        sent += 1;
    }
    sent
}

/// `/healthz` every 250 ms until the deadline; counts the answers that were not 200 within 5 s.
async fn health(addr: SocketAddr, deadline: Deadline, failures: Arc<AtomicU64>) -> u64 {
    let mut asked = 0;
    while !deadline.passed() {
        asked += 1;
        let answer = tokio::time::timeout(Duration::from_secs(5), async {
            Conn::open(addr)
                .await?
                .request("GET", "/healthz", "health")
                .await
        })
        .await;
        if !matches!(answer, Ok(Ok(200))) {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    asked
}

/// The end of the run: the duration has passed and the churn is done (or 5 minutes, whatever
/// happens).
#[derive(Clone)]
struct Deadline {
    at: Instant,
    churn_done: Arc<std::sync::atomic::AtomicBool>,
    hard: Instant,
}

impl Deadline {
    fn passed(&self) -> bool {
        let now = Instant::now();
        now >= self.hard || (now >= self.at && self.churn_done.load(Ordering::Relaxed))
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_each_keep_their_own_limit_and_healthz_keeps_answering() {
    let seconds: u64 = std::env::var("SEALED_SECRETS_HTTP_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    sealed_secrets_controller::rlimit::raise_open_files();
    let env = Env::start("http-load", &[&format!("--rate-limit-clients={TABLE}")]).await;
    let addr: SocketAddr = env
        .controller
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the API address");
    let pid = env.controller.child.id();
    let rss_before = peak_rss_kib(pid);

    let started = Instant::now();
    let deadline = Deadline {
        at: started + Duration::from_secs(seconds),
        churn_done: Arc::default(),
        hard: started + Duration::from_secs(300),
    };
    let failures = Arc::new(AtomicU64::new(0));
    let health = tokio::spawn(health(addr, deadline.clone(), failures.clone()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let name = format!("client-{i}");
            tokio::spawn(client(addr, name, i < HAMMERS, deadline.clone()))
        })
        .collect();
    // Once every client is being limited, more names than the limiter's table holds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let churners: Vec<_> = (0..8).map(|i| tokio::spawn(churn(addr, i, 8))).collect();
    let mut churned = 0;
    for c in churners {
        churned += c.await.expect("churn task");
    }
    deadline.churn_done.store(true, Ordering::Relaxed);
    let churn_time = started.elapsed();
    let mut tallies = HashMap::new();
    let mut certs = 0;
    for c in clients {
        let (name, tally, n) = c.await.expect("client task");
        certs += n;
        tallies.insert(name, tally);
    }
    let asked = health.await.expect("health task");
    let elapsed = started.elapsed().as_secs_f64();

    // Every client: at most burst + 1 at once plus rate per second (one more for the edge).
    let bound = (BURST + 1.0 + RATE * elapsed + 1.0) as u64;
    let over: Vec<_> = tallies
        .iter()
        .filter(|(_, t)| t.passed > bound)
        .map(|(n, t)| format!("{n}: {} passed", t.passed))
        .collect();
    assert!(
        over.is_empty(),
        "over the limit of {bound} in {elapsed:.0} s: {over:?}"
    );
    let limited: u64 = tallies.values().map(|t| t.limited).sum();
    let passed: u64 = tallies.values().map(|t| t.passed).sum();
    let hammers_limited = (0..HAMMERS)
        .filter(|i| tallies[&format!("client-{i}")].limited > 0)
        .count();
    let burst_cut = tallies.values().filter(|t| t.limited >= 3).count();
    let connected = tallies
        .values()
        .filter(|t| t.passed + t.limited > 0)
        .count();
    let rss_after = peak_rss_kib(pid);
    eprintln!(
        "http load: {CLIENTS} clients for {elapsed:.1} s: {passed} verifies passed, {limited} limited ({burst_cut} opening bursts cut at 3, {hammers_limited} of {HAMMERS} hammers limited), {certs} certificates, {churned} churned names (done after {churn_time:?}), {asked} health probes; peak RSS {rss_before} KiB before, {rss_after} KiB after"
    );
    assert_eq!(
        hammers_limited, HAMMERS,
        "every client asking 5 times its quota was limited"
    );
    assert_eq!(connected, CLIENTS, "every client got answers");
    assert!(certs > 0, "/v1/cert.pem answered");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "/healthz answered 200 within 5 s to all {asked} probes"
    );
    assert_eq!(churned, CHURN_NAMES, "the churn went through every name");
    assert!(
        rss_after < 200 * 1024,
        "memory stays bounded: peak RSS {rss_after} KiB"
    );
}
