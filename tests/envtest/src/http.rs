//! A minimal HTTP/1.1 client for loopback tests (one request per connection), with the status,
//! headers and body of the answer: enough to test a server's behaviour byte for byte, which a
//! full client library would hide (redirects, retries, pooling).

use std::time::Duration;

/// `method url` with `body`: (status, body).
pub fn request(method: &str, url: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    call(method, url, body).map(|r| (r.status, r.body))
}

/// GET `url`.
pub fn get(url: &str) -> std::io::Result<(u16, String)> {
    request("GET", url, b"")
}

/// An HTTP response with its headers (names lowercased).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Like [`request`], also returning the headers. The body is written from another thread,
/// so a server that answers before reading the whole body (e.g. 413) cannot block the client.
pub fn call(method: &str, url: &str, body: &[u8]) -> std::io::Result<Response> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let mut writer = stream.try_clone()?;
    // A write error (the server closed early) shows up as the response, or its absence.
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let _ = write.join();
    if raw.is_empty() {
        read?;
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}
