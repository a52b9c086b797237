//! `--kubeclient-qps` / `--kubeclient-burst`: a client-side token bucket in front of the API
//! client, as client-go's rate limiter (a bucket of `burst` tokens, refilled at `qps` per second,
//! full at start). Only installed when `--kubeclient-qps` is given: the API server protects itself
//! (priority and fairness, 429 with Retry-After), and the original's default of 5/s would stretch
//! a cold start of 1,000 SealedSecrets to minutes. The bucket is hand-written (the HTTP API's
//! limits use governor): it runs on tokio's clock, so the layer is tested with paused time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// client-go's default burst, used when only `--kubeclient-qps` is given.
pub const DEFAULT_BURST: u32 = 10;

/// Tokens for requests: `burst` at most, `qps` more each second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. `qps` must be positive; a zero burst counts as one.
    pub fn new(qps: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            // A qps so small that the wait overflows a Duration waits "forever".
            Err(Duration::try_from_secs_f64((1.0 - self.tokens) / self.qps)
                .unwrap_or(Duration::MAX))
        }
    }
}

/// Wraps a service so that each request first takes a token.
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    qps: f64,
    burst: u32,
}

impl ThrottleLayer {
    /// `qps` requests per second sustained, `burst` at once.
    pub fn new(qps: f32, burst: u32) -> Self {
        Self {
            qps: f64::from(qps),
            burst,
        }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            bucket: TokenBucket::new(self.qps, self.burst, Instant::now()),
            wait: None,
            has_token: false,
        }
    }
}

/// See [`ThrottleLayer`]. Not `Clone`: kube's client drives it from one buffer worker, so one
/// bucket sees every request.
pub struct Throttle<S> {
    inner: S,
    bucket: TokenBucket,
    wait: Option<Pin<Box<Sleep>>>,
    has_token: bool,
}

impl<S, R> Service<R> for Throttle<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        while !self.has_token {
            if let Some(wait) = self.wait.as_mut() {
                if wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.wait = None;
            }
            match self.bucket.take(Instant::now()) {
                Ok(()) => self.has_token = true,
                Err(delay) => self.wait = Some(Box::pin(tokio::time::sleep(delay))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.has_token = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_burst_requests_at_once_then_qps_per_second() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5.0, 10, start);
        for i in 0..10 {
            assert_eq!(bucket.take(start), Ok(()), "request {i} of the burst");
        }
        let wait = bucket.take(start).expect_err("the 11th waits");
        assert!(
            (wait.as_secs_f64() - 0.2).abs() < 1e-6,
            "one token takes 1/qps: {wait:?}"
        );
        assert_eq!(bucket.take(start + Duration::from_millis(200)), Ok(()));
        assert!(bucket.take(start + Duration::from_millis(200)).is_err());
        // Idle time refills up to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| bucket.take(later).is_ok()).count(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_throttled_service_spaces_requests_at_qps_after_the_burst() {
        let mut service = ThrottleLayer::new(2.0, 1).layer(tower_service_fn());
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .expect("ready");
            service.call(()).await.expect("called");
            at.push(start.elapsed().as_millis());
        }
        assert_eq!(at, [0, 500, 1000, 1500]);
    }

    /// A service that answers at once.
    fn tower_service_fn(
    ) -> impl Service<(), Response = (), Error = (), Future = std::future::Ready<Result<(), ()>>>
    {
        struct Echo;
        impl Service<()> for Echo {
            type Response = ();
            type Error = ();
            type Future = std::future::Ready<Result<(), ()>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, (): ()) -> Self::Future {
                std::future::ready(Ok(()))
            }
        }
        Echo
    }
}
