//! Getting the sealing certificate from `--cert`: a file path, a `file://` URL, or an http(s) URL.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use crds::{Certificate, PublicKey};

/// The PEM bytes behind a `--cert` value.
pub fn read_cert_source(source: &str) -> Result<Vec<u8>> {
    if let Some(path) = source.strip_prefix("file://") {
        return read_file(path);
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch_url(source);
    }
    read_file(source)
}

fn read_file(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| crate::os_error("open", std::path::Path::new(path), &e))
        .context("cannot read certificate")
}

fn fetch_url(url: &str) -> Result<Vec<u8>> {
    // One process-wide provider; installing twice is harmless (the second call fails quietly).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let proxy = match proxy_for(url, |name| std::env::var(name).ok()) {
        Some(p) => {
            Some(ureq::Proxy::new(&p).map_err(|e| anyhow::anyhow!("invalid proxy {p:?}: {e}"))?)
        }
        None => None,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Accept", "application/x-pem-file, */*")
        .call()
        .with_context(|| format!("cannot fetch {url:?}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("cannot fetch {url:?}: {status}");
    }
    response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_vec()
        .with_context(|| format!("cannot fetch {url:?}"))
}

/// The proxy for `url` as Go's `http.ProxyFromEnvironment` chooses it: `HTTPS_PROXY` for https
/// URLs, `HTTP_PROXY` for http ones (upper case first, then lower), none for localhost, loopback
/// addresses, or a host `NO_PROXY` matches. A proxy given without a scheme is `http://`.
pub fn proxy_for(url: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let names = match scheme {
        "https" => ["HTTPS_PROXY", "https_proxy"],
        "http" => ["HTTP_PROXY", "http_proxy"],
        _ => return None,
    };
    let proxy = names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.is_empty()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
    .to_ascii_lowercase();
    let loopback = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    if host == "localhost" || loopback {
        return None;
    }
    let no_proxy = ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|n| env(n).filter(|v| !v.is_empty()))
        .unwrap_or_default();
    if no_proxy
        .split(',')
        .any(|entry| no_proxy_matches(entry.trim(), &host))
    {
        return None;
    }
    Some(if proxy.contains("://") {
        proxy
    } else {
        format!("http://{proxy}")
    })
}

/// One `NO_PROXY` entry: `*`, an exact host or address, or a domain (`foo.com` and `.foo.com`
/// both match its subdomains; `foo.com` also itself). A port in the entry is ignored.
fn no_proxy_matches(entry: &str, host: &str) -> bool {
    let entry = entry.to_ascii_lowercase();
    if entry == "*" {
        return true;
    }
    let entry = match entry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => entry.as_str(),
    };
    if entry.is_empty() {
        return false;
    }
    let domain = entry.strip_prefix('.').unwrap_or(entry);
    host == entry || host.ends_with(&format!(".{domain}"))
}

/// Parses the sealing key; warns on stderr when the certificate has expired (the controller still
/// decrypts as long as it holds the key, so this is not fatal).
pub fn sealing_key(source: &str, pem: &[u8]) -> Result<PublicKey> {
    let (key, cert) =
        crds::parse_sealing_key(pem).with_context(|| format!("cannot use certificate {source}"))?;
    if let Some(cert) = cert.as_ref().filter(|c| c.is_expired_at(SystemTime::now())) {
        warn_expired(source, cert);
    }
    Ok(key)
}

fn warn_expired(source: &str, cert: &Certificate) {
    eprintln!(
        "warning: certificate {source} expired on {}; sealing anyway (fetch a fresh one with --fetch-cert)",
        crds::keys::format_time(cert.not_after())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_proxy_follows_the_scheme() {
        let vars = [("HTTPS_PROXY", "s:1"), ("http_proxy", "http://h:2")];
        assert_eq!(
            proxy_for("https://c.example/x", env(&vars)).as_deref(),
            Some("http://s:1")
        );
        assert_eq!(
            proxy_for("http://c.example/x", env(&vars)).as_deref(),
            Some("http://h:2")
        );
        assert_eq!(proxy_for("http://c.example/x", env(&vars[..1])), None);
    }

    #[test]
    fn no_proxy_and_loopback_go_direct() {
        let with = |no: &'static str| [("HTTPS_PROXY", "p:1"), ("NO_PROXY", no)];
        for (no, host, direct) in [
            ("example.com", "example.com", true),
            ("example.com", "a.example.com", true),
            (".example.com", "a.example.com", true),
            ("example.com", "badexample.com", false),
            ("*", "x.org", true),
            ("x.org:443, other", "x.org", true),
            ("", "x.org", false),
        ] {
            let url = format!("https://{host}/cert.pem");
            assert_eq!(
                proxy_for(&url, env(&with(no))).is_none(),
                direct,
                "{no} {host}"
            );
        }
        let vars = [("HTTPS_PROXY", "p:1")];
        for host in ["localhost", "127.0.0.1:8080", "[::1]"] {
            assert_eq!(
                proxy_for(&format!("https://{host}/c"), env(&vars)),
                None,
                "{host}"
            );
        }
    }
}
