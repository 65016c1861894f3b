//! Per-key rates: token buckets of requests and of logs per second.

use super::*;

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counted {
    Requests = 0,
    Logs = 1,
}

impl Counted {
    pub fn as_str(self) -> &'static str {
        match self {
            Counted::Requests => "requests",
            Counted::Logs => "logs",
        }
    }
}

/// A token bucket refilled at `rate` per second, holding at most a
/// second's worth. A request is let through while the bucket is not in
/// debt and takes what it needs, even past zero: a batch larger than a
/// second's worth passes, and the key then waits it off.
#[derive(Debug)]
pub(super) struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn take(&mut self, n: f64, rate: f64, now: std::time::Instant) -> Result<(), u64> {
        let burst = rate.max(1.0);
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens < 1.0_f64.min(n) {
            // Seconds until the bucket holds what one more request needs.
            let wait = (1.0_f64.min(n) - self.tokens) / rate;
            return Err(wait.ceil().max(1.0) as u64);
        }
        self.tokens -= n;
        Ok(())
    }
}

impl Auth {
    /// Takes `n` from the caller's bucket of `what`; `Err(seconds to
    /// wait)` when the key is over its rate. Keys without a rate always
    /// pass.
    fn take(&self, caller: &Caller, what: Counted, n: u64) -> Result<(), u64> {
        let Some(rate) = caller.rates.of(what).or(self.default_rates.of(what)) else {
            return Ok(());
        };
        let now = std::time::Instant::now();
        let mut buckets = self.buckets[what as usize].lock().expect("buckets lock");
        if !buckets.contains_key(&caller.key_id) {
            let full = Bucket {
                tokens: rate.max(1.0),
                at: now,
            };
            buckets.insert(caller.key_id.clone(), full);
        }
        let bucket = buckets.get_mut(&caller.key_id).expect("inserted above");
        bucket.take(n as f64, rate, now)
    }
}

/// Takes `n` from the caller's bucket of `what`: `Err(seconds to wait)`
/// when its key is over its rate, counted in `<service>_rate_limited_total`.
pub(super) fn take(
    req: &actix_web::HttpRequest,
    caller: &Caller,
    what: Counted,
    n: u64,
) -> Result<(), u64> {
    let Some(auth) = req.app_data::<web::Data<Arc<Auth>>>() else {
        return Ok(());
    };
    auth.take(caller, what, n).inspect_err(|_| {
        if let Some(metrics) = req.app_data::<web::Data<crate::HttpMetrics>>() {
            metrics
                .rate_limited
                .with_label_values(&[what.as_str()])
                .inc();
        }
    })
}

/// 429 for a key over its rate.
pub(super) fn rate_limited(what: Counted, secs: u64) -> ApiError {
    ApiError {
        retry_after_secs: Some(secs),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this key is over its rate of {}; retry after {secs} s",
                what.as_str()
            ),
        )
    }
}

/// Takes `n` logs from the calling key's logs-per-second bucket:
/// `Err(seconds to wait)` when it is over its rate (counted). Requests
/// without keys always pass.
pub fn take_logs(req: &actix_web::HttpRequest, n: u64) -> Result<(), u64> {
    match req.extensions().get::<Caller>() {
        Some(caller) => take(req, caller, Counted::Logs, n),
        None => Ok(()),
    }
}
