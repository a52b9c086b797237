//! How the controller's watches retry after losing the API server: from 500 ms, doubling, at
//! most 4 s plus up to as much again in jitter, reset after two quiet minutes. kube-runtime's
//! default (client-go's reflector values) waits up to 30 s plus as much jitter, which left the
//! controller deaf for up to a minute after an outage had ended; a few watches per replica
//! retrying every few seconds are no load for an API server.

use std::time::Duration;

use kube::runtime::utils::{Backoff, ResetTimerBackoff};
use kube::runtime::watcher::ExponentialBackoff;

/// The first retry's delay.
const MIN_DELAY: Duration = Duration::from_millis(500);
/// The longest delay before jitter.
const MAX_DELAY: Duration = Duration::from_secs(4);
/// Quiet time after which the delay starts from [`MIN_DELAY`] again.
const RESET_AFTER: Duration = Duration::from_secs(120);

/// A fresh backoff for one watch stream (`.backoff(watch_backoff())`).
pub fn watch_backoff() -> impl Backoff {
    let exponential = backon::ExponentialBuilder::default()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    ResetTimerBackoff::new(ExponentialBackoff::from(exponential), RESET_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_forever_and_never_waits_more_than_eight_seconds() {
        let delays: Vec<Duration> = watch_backoff().take(50).collect();
        assert_eq!(delays.len(), 50, "the watch is retried for ever");
        assert!(delays.iter().all(|d| *d <= MAX_DELAY * 2), "{delays:?}");
        assert!(delays[0] >= MIN_DELAY, "{delays:?}");
    }
}
