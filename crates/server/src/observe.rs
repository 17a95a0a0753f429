//! Watching the server run (docs/design/observability.md): one log line and one count per
//! request, `/metrics` and `/readyz`.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_core::{Directory, ErrorCode};

use crate::follow::Following;
use crate::metrics::{RequestLabels, metrics};

/// How long `/readyz` waits for the store to answer.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A follower that has not caught up for this long (five reconciliation periods) is not
/// ready: it may be serving keys that were deactivated elsewhere.
const FOLLOWER_STALE_AFTER: Duration = Duration::from_secs(10);
/// The response header that carries the request id, as AWS names it.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// What the API handler learned about a request, left in the response's extensions for its
/// log line and metrics.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub service: Option<&'static str>,
    pub operation: Option<&'static str>,
    /// As presented; never the secret, which is not in a request.
    pub access_key_id: Option<String>,
}

/// The AWS error a response answered with, left in its extensions by the error renderer.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredError(pub ErrorCode);

/// Logs one line and counts one request for every request, whatever route served it.
///
/// Only the path is logged, never the query string: a presigned URL carries its signature
/// and session token there.
pub async fn log_and_count(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|route| route.as_str().to_owned());
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let mut response = next.run(request).await;
    let latency = started.elapsed();
    let facts = response.extensions().get::<RequestFacts>().cloned();
    let error = response
        .extensions()
        .get::<AnsweredError>()
        .map(|AnsweredError(code)| code.as_str());
    let status = response.status();
    let outcome = error.unwrap_or(if status.is_server_error() {
        "server_error"
    } else if status.is_client_error() {
        "client_error"
    } else {
        "ok"
    });
    let request_id = match response.headers().get(REQUEST_ID_HEADER) {
        Some(id) => id.to_str().unwrap_or_default().to_owned(),
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            id
        }
    };
    // The signed API is the fallback route and says what it found; the pages are named
    // by their route.
    let (service, operation, access_key_id) = match facts {
        Some(facts) => (
            facts.service.unwrap_or("unknown"),
            Cow::Borrowed(facts.operation.unwrap_or("unknown")),
            facts.access_key_id,
        ),
        None => (
            "http",
            route.map_or(Cow::Borrowed("unknown"), Cow::Owned),
            None,
        ),
    };
    tracing::info!(
        target: "latchkey::request",
        method = %method,
        path = %path,
        service,
        operation = %operation,
        status = status.as_u16(),
        outcome,
        latency_ms = latency.as_micros() as f64 / 1000.0,
        request_id = %request_id,
        access_key_id = access_key_id.as_deref(),
        source_ip = source.map(tracing::field::display),
        "request"
    );
    metrics().request(RequestLabels {
        service,
        operation,
        outcome,
    });
    response
}

/// What `/readyz` and `/metrics` look at.
#[derive(Debug)]
pub struct Health {
    pub directory: Arc<Directory>,
    /// Present when following other instances on a shared store.
    pub following: Option<Arc<Following>>,
}

impl Health {
    /// Since the snapshot was last known to match the store: for a follower, its last
    /// catch-up; alone on a store, every write goes through this instance, so always.
    fn snapshot_age(&self) -> Duration {
        self.following
            .as_ref()
            .map_or(Duration::ZERO, |following| following.behind_for())
    }

    /// Why the server should not be sent traffic, if it should not.
    async fn not_ready(&self) -> Option<String> {
        if !self.directory.is_initialized() {
            return Some("the snapshot is not loaded".into());
        }
        let directory = self.directory.clone();
        let answer = tokio::time::timeout(
            STORE_CHECK_TIMEOUT,
            tokio::task::spawn_blocking(move || directory.store_answers()),
        )
        .await;
        match answer {
            Ok(Ok(Ok(()))) => {}
            Ok(_) => return Some("the store does not answer".into()),
            Err(_) => {
                return Some(format!(
                    "the store did not answer within {} s",
                    STORE_CHECK_TIMEOUT.as_secs()
                ));
            }
        }
        let behind = self.snapshot_age();
        (behind > FOLLOWER_STALE_AFTER).then(|| {
            format!(
                "not caught up with the other instances for {} s",
                behind.as_secs()
            )
        })
    }
}

/// `GET /readyz`: 200 when this instance can serve, 503 with the reason when not.
pub async fn readyz(State(health): State<Arc<Health>>) -> Response {
    match health.not_ready().await {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(reason) => {
            tracing::warn!(%reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics_page(State(health): State<Arc<Health>>) -> Response {
    let sequence = health.directory.snapshot().seq;
    let text = metrics().render(sequence, health.snapshot_age());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
