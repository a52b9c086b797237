//! Reading a Prometheus text exposition (`/metrics`) in tests.

use std::collections::BTreeMap;

use anyhow::Context as _;

/// The API server's own `/metrics` text, read with `client` (an admin client).
pub async fn api_server_text(client: &kube::Client) -> anyhow::Result<String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .context("building the /metrics request")?;
    client
        .request_text(request)
        .await
        .context("reading kube-apiserver /metrics")
}

/// Every sample of metric `name` in Prometheus text format: (labels, value).
pub fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample of `name` whose labels are exactly `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples(text, name)
        .into_iter()
        .find(|(l, _)| *l == want)
        .map(|(_, v)| v)
}

/// The value of the first sample of `name` whose labels include `labels` (others may be there).
pub fn value_where(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|(l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
}
