//! `--rate-limit` / `--rate-limit-burst`: a quota per client and path for the HTTP API, as the
//! original's GCRA limiter (`rate` requests per second sustained, `burst + 1` in a row), by the
//! `governor` crate.
//!
//! Memory stays bounded without resetting anyone: a client whose quota has fully refilled is
//! indistinguishable from a new one, so only those entries are dropped when the table grows;
//! when even the clients still being limited fill it, new clients are refused (and told to
//! retry) rather than any limited client forgotten.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, StateStore};
use governor::Quota;

/// How many clients the table holds before refilled entries are dropped.
pub const MAX_CLIENTS: usize = 65_536;

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve it.
    Allow,
    /// Refuse it; the client may retry after this long (at least one second).
    RetryAfter(Duration),
}

/// A quota per key (the client and the path).
pub struct RateLimiter {
    limiter: governor::RateLimiter<String, Table, DefaultClock, NoOpMiddleware>,
    table: Table,
    clock: DefaultClock,
    max_clients: usize,
}

impl RateLimiter {
    /// Allows `rate` requests per second sustained, and `burst + 1` at once; a zero rate allows
    /// the first `burst + 1` requests and no more.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self::with_capacity(rate, burst, MAX_CLIENTS)
    }

    /// As [`RateLimiter::new`], with room for `max_clients` clients.
    pub fn with_capacity(rate: u32, burst: u32, max_clients: usize) -> Self {
        let table = Table::default();
        let clock = DefaultClock::default();
        Self {
            limiter: governor::RateLimiter::new(quota(rate, burst), table.clone(), clock.clone()),
            table,
            clock,
            max_clients,
        }
    }

    /// Takes one request of `key` from its quota.
    pub fn check(&self, key: &str) -> Decision {
        let key = key.to_owned();
        if self.table.0.len() >= self.max_clients && !self.table.0.contains_key(&key) {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            if self.table.0.len() >= self.max_clients {
                return Decision::RetryAfter(Duration::from_secs(1));
            }
        }
        match self.limiter.check_key(&key) {
            Ok(()) => Decision::Allow,
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Decision::RetryAfter(wait.max(Duration::from_secs(1)))
            }
        }
    }

    /// How many clients the table holds now.
    pub fn clients(&self) -> usize {
        self.table.0.len()
    }
}

/// governor's DashMap table, shared so that [`RateLimiter::check`] can ask whether a client is
/// known without inserting it.
#[derive(Clone, Default)]
struct Table(Arc<DashMap<String, InMemoryState>>);

impl StateStore for Table {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        StateStore::measure_and_replace(&*self.0, key, f)
    }
}

impl ShrinkableKeyedStateStore<String> for Table {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&*self.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The GCRA quota: `burst + 1` cells, one more every `1 / rate` seconds.
fn quota(rate: u32, burst: u32) -> Quota {
    let cells = NonZeroU32::new(burst.saturating_add(1)).unwrap_or(NonZeroU32::MIN);
    let quota = match NonZeroU32::new(rate) {
        Some(rate) => Quota::per_second(rate),
        // No refill within any lifetime of the process.
        None => Quota::with_period(Duration::from_secs(100 * 365 * 24 * 3600))
            .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN)),
    };
    quota.allow_burst(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_plus_one_in_a_row_then_refused_with_a_retry_after() {
        let limiter = RateLimiter::new(2, 2);
        for i in 0..3 {
            assert_eq!(limiter.check("a"), Decision::Allow, "request {i}");
        }
        assert!(
            matches!(limiter.check("a"), Decision::RetryAfter(d) if d >= Duration::from_secs(1))
        );
        // Another client has its own quota.
        assert_eq!(limiter.check("b"), Decision::Allow);
    }

    #[test]
    fn a_full_table_never_resets_a_limited_client() {
        let limiter = RateLimiter::with_capacity(1, 0, 4);
        assert_eq!(limiter.check("limited"), Decision::Allow);
        assert!(matches!(limiter.check("limited"), Decision::RetryAfter(_)));
        for i in 0..100 {
            let _ = limiter.check(&format!("newcomer-{i}"));
            assert!(limiter.clients() <= 4, "bounded: {}", limiter.clients());
        }
        assert!(
            matches!(limiter.check("limited"), Decision::RetryAfter(_)),
            "still limited after the table filled up"
        );
    }

    #[test]
    fn a_zero_rate_allows_the_burst_and_no_more() {
        let limiter = RateLimiter::new(0, 1);
        assert_eq!(limiter.check("a"), Decision::Allow);
        assert_eq!(limiter.check("a"), Decision::Allow);
        assert!(matches!(limiter.check("a"), Decision::RetryAfter(_)));
    }
}
