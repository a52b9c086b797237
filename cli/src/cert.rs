//! Getting the sealing certificate from `--cert`: a file path, a `file://` URL, or an http(s) URL.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use crds::{Certificate, PublicKey};

/// The PEM bytes behind a `--cert` value.
pub fn read_cert_source(source: &str) -> Result<Vec<u8>> {
    if let Some(path) = source.strip_prefix("file://") {
        return std::fs::read(path).with_context(|| format!("cannot read certificate {path}"));
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch_url(source);
    }
    std::fs::read(source).with_context(|| format!("cannot read certificate {source}"))
}

fn fetch_url(url: &str) -> Result<Vec<u8>> {
    // One process-wide provider; installing twice is harmless (the second call fails quietly).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
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
