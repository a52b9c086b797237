//! A network partition between one client and the API server, for fault tests: a TCP relay on
//! loopback that the client's kubeconfig points at, which can be cut (bytes stop moving both
//! ways, connections stay open, as when a network drops packets) and healed (what was held is
//! delivered late, as TCP retransmission would). Plain threads, so that it keeps relaying
//! while a test blocks its async runtime.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

/// Whether bytes may move, and the sockets to close when the relay is dropped.
#[derive(Default)]
struct Shared {
    open: Mutex<bool>,
    changed: Condvar,
    stop: AtomicBool,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Shared {
    /// Blocks while the link is cut; false once the relay is stopping.
    fn wait_open(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open && !self.stop.load(Ordering::SeqCst) {
            open = self
                .changed
                .wait_timeout(open, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        !self.stop.load(Ordering::SeqCst)
    }

    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = open;
        self.changed.notify_all();
    }

    fn keep(&self, socket: &TcpStream) {
        if let Ok(clone) = socket.try_clone() {
            self.sockets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(clone);
        }
    }
}

/// A relay from `127.0.0.1:port` to the API server; stopped (every connection closed) on drop.
pub struct Partition {
    /// The relay's port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Shared>,
}

impl Partition {
    /// Starts relaying to `upstream` (e.g. the API server's `127.0.0.1:PORT`), link up.
    pub fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the relay")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        shared.set_open(true);
        let accept = shared.clone();
        std::thread::spawn(move || accept_loop(&listener, upstream, &accept));
        Ok(Self { port, shared })
    }

    /// Stops moving bytes, both ways, on every connection (new ones are accepted and held).
    pub fn cut(&self) {
        self.shared.set_open(false);
    }

    /// Moves bytes again, delivering what was held.
    pub fn heal(&self) {
        self.shared.set_open(true);
    }

    /// Writes a copy of `kubeconfig` whose server is this relay to `path`.
    pub fn kubeconfig(&self, kubeconfig: &Path, server_url: &str, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(kubeconfig).context("reading the kubeconfig")?;
        let relayed = format!("https://127.0.0.1:{}", self.port);
        anyhow::ensure!(
            text.contains(server_url),
            "the kubeconfig does not name {server_url}"
        );
        std::fs::write(path, text.replace(server_url, &relayed)).context("writing the kubeconfig")
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for socket in self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                if let Ok(server) = TcpStream::connect(upstream) {
                    relay(client, server, shared);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn relay(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) {
    shared.keep(&client);
    shared.keep(&server);
    for (from, to) in [(&client, &server), (&server, &client)] {
        let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
            continue;
        };
        let shared = shared.clone();
        std::thread::spawn(move || pump(from, to, &shared));
    }
}

/// Copies `from` to `to`; a chunk read while the link is cut is held until it heals.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !shared.wait_open() || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    if shared.wait_open() {
        let _ = to.shutdown(Shutdown::Write);
    }
}
