//! Failed authentication throttled per client address: each address has a
//! bucket of failures (a burst, refilled at a steady rate); a failure with
//! the bucket empty is answered 429 with `Retry-After` instead of 401. A
//! request with a valid key never reaches it, so a client behind the same
//! address as a guesser is never locked out.
//!
//! The address is the peer's, or the first `X-Forwarded-For` hop when the
//! peer is one of the configured trusted proxies (the gateway in front of
//! the replicas).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::http::header::HeaderMap;

/// Addresses kept at most; past it, addresses whose bucket has refilled
/// are forgotten (they would start full anyway).
const MAX_ADDRESSES: usize = 100_000;

/// The failure buckets of one process.
#[derive(Debug)]
pub struct FailureThrottle {
    burst: f64,
    per_sec: f64,
    trusted: Vec<IpAddr>,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl FailureThrottle {
    /// `burst` failures at once, then `per_sec`; `trusted`: the proxies
    /// whose `X-Forwarded-For` names the client.
    pub fn new(burst: u32, per_sec: f64, trusted: Vec<IpAddr>) -> FailureThrottle {
        FailureThrottle {
            burst: f64::from(burst.max(1)),
            per_sec: per_sec.max(0.001),
            trusted,
            buckets: Mutex::default(),
        }
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let first = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|hop| hop.trim().parse().ok());
        Some(first.unwrap_or(peer))
    }

    /// A failure from `client`: `Ok` while within its burst, else
    /// `Err(seconds until the next failure is let through)`.
    pub fn fail(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&client) {
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_sec < burst
            });
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t = FailureThrottle::new(3, 0.5, vec![]);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.fail(ip("10.0.0.1"), now), Ok(()));
        }
        assert_eq!(t.fail(ip("10.0.0.1"), now), Err(2));
        // Another address has its own bucket.
        assert_eq!(t.fail(ip("10.0.0.2"), now), Ok(()));
        // Two seconds refill one failure.
        assert_eq!(t.fail(ip("10.0.0.1"), now + Duration::from_secs(2)), Ok(()));
        assert!(t
            .fail(ip("10.0.0.1"), now + Duration::from_secs(2))
            .is_err());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let t = FailureThrottle::new(3, 1.0, vec![ip("10.9.9.9")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("x-forwarded-for"),
            "203.0.113.7, 10.1.1.1".parse().unwrap(),
        );
        assert_eq!(
            t.client(Some(ip("10.9.9.9")), &headers),
            Some(ip("203.0.113.7"))
        );
        // From anyone else, the header is the client's own word: ignored.
        assert_eq!(
            t.client(Some(ip("192.0.2.1")), &headers),
            Some(ip("192.0.2.1"))
        );
        // A trusted proxy without the header (or with garbage) is the client.
        assert_eq!(
            t.client(Some(ip("10.9.9.9")), &HeaderMap::new()),
            Some(ip("10.9.9.9"))
        );
    }
}
