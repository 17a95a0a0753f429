//! What `/metrics` reports, in the Prometheus text format (docs/design/observability.md).
//!
//! One registry for the process, reached through [`metrics`]: counters are bumped where the
//! thing happens (the request middleware, authentication, authorization), and the gauges
//! of the snapshot are read when scraped.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub service: &'static str,
    /// The operation, or for the pages their route.
    pub operation: Cow<'static, str>,
    /// `ok`, or the AWS error code answered, or the HTTP status class for the pages.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    authentication_failures: Family<ReasonLabels, Counter>,
    throttled: Family<BucketLabels, Counter>,
    authorization_seconds: Histogram,
    snapshot_sequence: Gauge,
    snapshot_age_seconds: Gauge<f64, AtomicU64>,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by service, operation and outcome",
            requests.clone(),
        );
        let authentication_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "authentication_failures",
            "Requests whose signature or credentials were refused, by error code",
            authentication_failures.clone(),
        );
        let throttled = Family::<BucketLabels, Counter>::default();
        registry.register(
            "throttled_requests",
            "Failing requests answered Throttling, by the bucket of failures that was empty",
            throttled.clone(),
        );
        // From 1 µs to about 0.26 s, four times wider each.
        let authorization_seconds = Histogram::new(exponential_buckets(1e-6, 4.0, 10));
        registry.register(
            "authorization_seconds",
            "Time to decide one authorization (policy evaluation)",
            authorization_seconds.clone(),
        );
        let snapshot_sequence = Gauge::default();
        registry.register(
            "snapshot_sequence",
            "The change-log sequence number of the snapshot requests are served from",
            snapshot_sequence.clone(),
        );
        let snapshot_age_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "snapshot_age_seconds",
            "Seconds since the snapshot was last known to match the store",
            snapshot_age_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            authentication_failures,
            throttled,
            authorization_seconds,
            snapshot_sequence,
            snapshot_age_seconds,
        }
    }

    pub fn request(&self, labels: RequestLabels) {
        self.requests.get_or_create(&labels).inc();
    }

    pub fn authentication_failed(&self, reason: &'static str) {
        self.authentication_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn throttled(&self, bucket: &'static str) {
        self.throttled.get_or_create(&BucketLabels { bucket }).inc();
    }

    pub fn authorization_took(&self, elapsed: Duration) {
        self.authorization_seconds.observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the snapshot's gauges as of now.
    pub fn render(&self, snapshot_sequence: i64, snapshot_age: Duration) -> String {
        self.snapshot_sequence.set(snapshot_sequence);
        self.snapshot_age_seconds.set(snapshot_age.as_secs_f64());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Runs one authorization decision and records how long it took.
pub fn timed_authorization<T>(decide: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let decision = decide();
    metrics().authorization_took(started.elapsed());
    decision
}
