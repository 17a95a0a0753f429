//! Slowing down guessing: a token bucket of failures per key (a source address, a user name,
//! an access key id). Each failure takes a token; tokens come back at a steady rate; with none
//! left, the key is refused until one comes back. Successes take nothing, so valid traffic is
//! never slowed by its own volume.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many tracked keys, full buckets are forgotten (a full bucket is the default).
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
}
