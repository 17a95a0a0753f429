//! Slowing down guessing: a token bucket of failures per key (a source address, a user name,
//! an access key id). Each failure takes a token; tokens come back at a steady rate; with none
//! left, the key is refused until one comes back. Successes take nothing, so valid traffic is
//! never slowed by its own volume.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use crate::metrics::metrics;
use crate::rest;

/// Past this many tracked keys, full buckets are forgotten (a full bucket is the default);
/// if none is full, new keys go untracked until some refill, so made-up keys cannot grow the
/// map without bound.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Failures allowed in a burst.
    pub burst: f64,
    /// Failures allowed per second, sustained.
    pub per_second: f64,
}

#[derive(Debug)]
pub struct FailureThrottle {
    limit: Limit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl FailureThrottle {
    pub fn new(limit: Limit) -> Self {
        FailureThrottle {
            limit,
            buckets: Mutex::default(),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.limit.per_second).min(self.limit.burst)
    }

    /// How long `key` must wait before its next attempt; `None` when it may try now.
    pub fn wait(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.get(key)?;
        let tokens = self.refilled(*bucket, now);
        (tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - tokens) / self.limit.per_second))
    }

    /// Records a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED {
            let limit = self.limit;
            buckets.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + elapsed * limit.per_second < limit.burst
            });
            if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
                return;
            }
        }
        let tokens = buckets
            .get(key)
            .map_or(self.limit.burst, |b| self.refilled(*b, now));
        buckets.insert(
            key.to_owned(),
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }
}

/// Which bucket of failed authentications was empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    SourceAddress,
    AccessKeyId,
}

impl Exhausted {
    pub fn as_str(self) -> &'static str {
        match self {
            Exhausted::SourceAddress => "source_address",
            Exhausted::AccessKeyId => "access_key_id",
        }
    }
}

/// The bucket of a source address: an IPv4 address, or an IPv6 address's /64, the block one
/// host or network is normally given (so a client cannot take a fresh bucket per address).
fn address_bucket(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// Failed authentications, counted per source address and per access key id presented
/// (docs/design/throttling.md).
#[derive(Debug)]
pub struct AuthFailures {
    by_address: FailureThrottle,
    by_key: FailureThrottle,
}

impl AuthFailures {
    pub fn new(per_address: Limit, per_key: Limit) -> Self {
        AuthFailures {
            by_address: FailureThrottle::new(per_address),
            by_key: FailureThrottle::new(per_key),
        }
    }

    /// Records a failed authentication and says which of its buckets was already empty:
    /// then the request is answered Throttling instead of its own error. Failures while
    /// throttled count too, so a client that keeps failing stays throttled.
    pub fn fail(&self, address: IpAddr, access_key_id: Option<&str>) -> Option<Exhausted> {
        let address = address_bucket(address);
        let mut exhausted = self
            .by_address
            .wait(&address)
            .map(|_| Exhausted::SourceAddress);
        self.by_address.fail(&address);
        if let Some(key) = access_key_id {
            if exhausted.is_none() && self.by_key.wait(key).is_some() {
                exhausted = Some(Exhausted::AccessKeyId);
            }
            self.by_key.fail(key);
        }
        exhausted
    }
}

/// Failed bearer-token and grant checks of the access portal API and SSO OIDC: a response
/// saying the token, code or client presented is not valid is a failed authentication of
/// its source address, in the same buckets as failed signatures. Once the address's bucket
/// is empty, the answer is the service's own throttling error instead (the portal's
/// TooManyRequestsException, SSO OIDC's SlowDownException), whatever was presented, so a
/// guesser learns nothing more. A valid token is never slowed.
pub async fn bearer_failures(
    State(failures): State<Arc<AuthFailures>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok());
    let throttled = match error_type {
        Some("UnauthorizedException") => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "message": "Rate exceeded" }),
            "TooManyRequestsException",
        ),
        Some("InvalidGrantException" | "InvalidClientException") => (
            StatusCode::BAD_REQUEST,
            json!({ "error": "slow_down", "error_description": "Rate exceeded" }),
            "SlowDownException",
        ),
        _ => return response,
    };
    match failures.fail(peer.ip(), None) {
        Some(exhausted) => {
            metrics().throttled(exhausted.as_str());
            let (status, body, code) = throttled;
            rest::response(status, &body, Some(code))
        }
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_failures_then_a_wait_then_one_more_try() {
        let throttle = FailureThrottle::new(Limit {
            burst: 3.0,
            per_second: 10.0,
        });
        for _ in 0..3 {
            assert_eq!(throttle.wait("ip"), None);
            throttle.fail("ip");
        }
        let wait = throttle.wait("ip").expect("throttled after the burst");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Other keys are not affected.
        assert_eq!(throttle.wait("other"), None);
        std::thread::sleep(wait + Duration::from_millis(5));
        assert_eq!(throttle.wait("ip"), None);
    }

    #[test]
    fn authentication_failures_exhaust_the_key_or_the_address() {
        let failures = AuthFailures::new(
            Limit {
                burst: 4.0,
                per_second: 0.001,
            },
            Limit {
                burst: 2.0,
                per_second: 0.001,
            },
        );
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(failures.fail(here, Some("AKIAONE")), None);
        assert_eq!(failures.fail(here, Some("AKIAONE")), None);
        // The key's bucket is empty, from any address.
        assert_eq!(
            failures.fail(there, Some("AKIAONE")),
            Some(Exhausted::AccessKeyId)
        );
        // Another key from the first address: two failures left there.
        assert_eq!(failures.fail(here, Some("AKIATWO")), None);
        assert_eq!(failures.fail(here, None), None);
        assert_eq!(
            failures.fail(here, Some("AKIATHREE")),
            Some(Exhausted::SourceAddress)
        );
    }

    #[test]
    fn an_ipv6_network_shares_one_bucket_and_mapped_ipv4_is_ipv4() {
        let bucket = |a: &str| address_bucket(a.parse().unwrap());
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1"), bucket("2001:db8:1:2::1"));
        assert_eq!(bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(bucket("192.0.2.7"), "192.0.2.7");
    }
}
