//! The HTTP front: one port, one handler for the query protocol, and the request path.
//!
//! Request path: read the body → SigV4 against the snapshot → decode the form → find the
//! operation → authorize → execute in the directory (writes off the async workers) → XML.
//!
//! Connections are served by hyper directly, not `axum::serve`, for the limits that one has
//! no knobs for: a header-read timeout and a cap on connections (docs/design/input-limits.md),
//! and for TLS on the same listener (docs/design/tls.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioIo, TokioTimer};
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_query::{ErrorType, QueryRequest, error_document};
use latchkey_sigv4::HttpRequest;
use tower_service::Service as _;

use crate::api;
use crate::audit::{self, Attempt};
use crate::auth::{self, Caller, Origin};
use crate::config::{Limits, Throttle};
use crate::datadir::{self, StoreLocation};
use crate::metrics::metrics;
use crate::observe::{AnsweredError, Health, RequestFacts};
use crate::operation::{Operation, Service};
use crate::throttle::{self, AuthFailures};
use crate::tls::SecureTransport;
use crate::{console, invitation, mail, observe, oidc, portal, second_factor, tls};
use latchkey_core::identity_mfa::IdentityMfaPolicy;
use latchkey_core::oidc::PollTimes;

/// How often key use recorded in memory is written to the store.
const KEY_USAGE_SAVE_INTERVAL: Duration = Duration::from_secs(5);
/// The request line and headers together. A presigned URL with a session token is a few KiB;
/// hyper answers a larger head with a bare 431 and closes the connection.
const MAX_HEADER_BYTES: usize = 64 * 1024;

struct App {
    directory: Arc<Directory>,
    limits: Limits,
    auth_failures: Arc<AuthFailures>,
}

/// `latchkey serve`.
/// How `latchkey serve` behaves beyond where it listens and stores.
#[derive(Debug)]
pub struct Options {
    pub encoded_denials: bool,
    /// Where people reach this server, for links in e-mail.
    pub public_url: String,
    pub mail_relay: Option<String>,
    pub mail_from: Option<String>,
    pub invitation_ttl: chrono::Duration,
    /// Whether identity-store users need an authenticator app to sign in.
    pub identity_mfa: IdentityMfaPolicy,
    pub limits: Limits,
    pub throttle: Throttle,
    /// The PEM certificate chain and key to serve HTTPS with; plain HTTP without.
    pub tls: Option<TlsFiles>,
    pub audit: audit::AuditOptions,
}

#[derive(Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn serve(
    data: &Path,
    listen: SocketAddr,
    store: &StoreLocation,
    options: Options,
) -> anyhow::Result<()> {
    // A bad certificate is found before anything else starts.
    let tls = options
        .tls
        .as_ref()
        .map(|files| tls::acceptor(&files.cert, &files.key))
        .transpose()?;
    let mailer = Arc::new(mail::Mailer::new(
        options.mail_relay.as_deref(),
        options.mail_from.as_deref(),
        data,
        &options.public_url,
    )?);
    let mut directory = datadir::open(data, store)?
        .with_encoded_denials(options.encoded_denials)
        .with_invitation_ttl(options.invitation_ttl)
        .with_identity_mfa_policy(options.identity_mfa)
        .with_audit(options.audit.on);
    if let Some(path) = &options.audit.log {
        directory = directory.with_audit_stream(audit::json_lines(path)?);
    }
    let directory = Arc::new(directory);
    // Events past their retention go before the first request.
    audit::purge(&directory, options.audit.retention);
    let following = crate::follow::start(&directory, store);
    crate::rotation::watch_key_file(&directory, data);
    if !directory.is_initialized() {
        let init = directory
            .initialize(None)
            .map_err(|e| anyhow::anyhow!("initialization failed: {}", e.message))?;
        datadir::print_credentials(&init, false);
    }
    // Data initialized before Identity Center instances existed gets its instance now.
    directory
        .ensure_identity_center()
        .map_err(|e| anyhow::anyhow!("cannot make the Identity Center instance: {}", e.message))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let health = Arc::new(Health {
        directory: directory.clone(),
        following,
    });
    runtime.block_on(run(directory, health, listen, mailer, tls, options))
}

async fn run(
    directory: Arc<Directory>,
    health: Arc<Health>,
    listen: SocketAddr,
    mailer: Arc<mail::Mailer>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    options: Options,
) -> anyhow::Result<()> {
    let limits = options.limits;
    let audit_options = &options.audit;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        tls = tls.is_some(),
        "latchkey is serving IAM, STS, Organizations, Identity Store and SSO Admin"
    );

    let saver = tokio::spawn(save_key_usage_periodically(directory.clone()));
    let auditor = tokio::spawn(audit::flush_periodically(directory.clone()));
    let purger = tokio::spawn(audit::purge_periodically(
        directory.clone(),
        audit_options.retention,
    ));
    let postman = tokio::spawn(mail::deliver_invitations(directory.clone(), mailer));
    let auth_failures = Arc::new(AuthFailures::new(
        options.throttle.source_address.limit(),
        options.throttle.access_key_id.limit(),
    ));
    let bearer_failures =
        middleware::from_fn_with_state(auth_failures.clone(), throttle::bearer_failures);
    let pages = Router::new()
        .route(
            "/invitation",
            get(invitation::show).post(invitation::accept),
        )
        .with_state(directory.clone());
    let portal_api = Router::new()
        .route("/assignment/accounts", get(portal::list_accounts))
        .route("/assignment/roles", get(portal::list_account_roles))
        .route("/federation/credentials", get(portal::get_role_credentials))
        .route("/logout", post(portal::logout))
        .layer(bearer_failures.clone())
        .with_state(directory.clone());
    // Console cookies are marked Secure when people reach the server over HTTPS (the public
    // URL is https by default with TLS on).
    let console = console::router(Arc::new(console::Console {
        directory: directory.clone(),
        sign_in_failures: oidc::SignInThrottle::default(),
        secure: options.public_url.starts_with("https://"),
        public_url: options.public_url.clone(),
    }));
    let sso_oidc = Router::new()
        .route("/client/register", post(oidc::register_client))
        .route(
            "/device_authorization",
            post(oidc::start_device_authorization).layer(bearer_failures.clone()),
        )
        .route("/token", post(oidc::create_token).layer(bearer_failures))
        .route("/device", get(oidc::device_page).post(oidc::device_sign_in))
        .route("/device/decision", post(oidc::device_decision))
        .route(
            "/authorize",
            get(oidc::authorize_page).post(oidc::authorize_sign_in),
        )
        .route("/authorize/decision", post(oidc::authorize_decision))
        .route("/mfa", post(second_factor::verify))
        .route("/mfa/enroll", post(second_factor::offer))
        .route("/mfa/enroll/confirm", post(second_factor::confirm))
        .with_state(Arc::new(oidc::Oidc {
            directory: directory.clone(),
            polls: PollTimes::default(),
            public_url: options.public_url,
            sign_in_failures: oidc::SignInThrottle::default(),
        }));
    let probes = Router::new()
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics_page))
        .with_state(health);
    let app = Router::new()
        .merge(pages)
        .merge(portal_api)
        .merge(console)
        .merge(sso_oidc)
        .merge(probes)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(handle)
        .with_state(Arc::new(App {
            directory: directory.clone(),
            limits,
            auth_failures,
        }))
        .layer(middleware::from_fn(tls::strict_transport_security))
        .layer(middleware::from_fn(observe::log_and_count));
    serve_connections(listener, tls, app, &limits, shutdown_signal()).await;
    saver.abort();
    postman.abort();
    auditor.abort();
    purger.abort();
    tokio::task::spawn_blocking(move || {
        save_key_usage(&directory);
        audit::flush(&directory);
    })
    .await
    .context("saving key usage and audit events at shutdown")?;
    tracing::info!("latchkey stopped");
    Ok(())
}

/// Accepts and serves HTTP/1.1 connections, over TLS when given an acceptor, until
/// `shutdown` completes, then lets the open ones finish the request in progress (idle ones
/// close at once).
async fn serve_connections(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        .max_header_size(MAX_HEADER_BYTES)
        // A client that shuts its sending side after the request (or in the middle of the
        // body) still gets its answer; without this hyper dropped the connection unanswered
        // when it saw the end of input before the response was ready.
        .half_close(true);
    let http = Arc::new(http);
    // The handshake is the TLS part of the request head: it gets the same time.
    let handshake_timeout = limits.header_read_timeout();
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the limit, stop accepting: further clients wait in the listen backlog until a
        // connection ends, which the timeouts guarantee.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed, so this always holds a permit.
        let Ok(permit) = permit else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others and try again shortly.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = app.clone();
        let http = http.clone();
        // Held by the task, so that shutdown waits for a handshake in progress too.
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(&http, stream, peer, false, router, watcher).await,
                Some(tls) => {
                    match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(&http, stream, peer, true, router, watcher).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves one connection's requests, each with where it came from and whether over TLS.
async fn serve_connection<Io>(
    http: &hyper::server::conn::http1::Builder,
    stream: Io,
    peer: SocketAddr,
    secure: bool,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(SecureTransport(secure));
        router.clone().call(request)
    });
    // A client that goes away or breaks HTTP ends only its own connection.
    if let Err(error) = watcher
        .watch(http.serve_connection(TokioIo::new(stream), service))
        .await
    {
        tracing::debug!(%error, %peer, "connection closed with an error");
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn save_key_usage(directory: &Directory) {
    if let Err(error) = directory.save_key_usage() {
        tracing::warn!(%error, "could not save access key usage; will retry");
    }
}

async fn save_key_usage_periodically(directory: Arc<Directory>) {
    let mut interval = tokio::time::interval(KEY_USAGE_SAVE_INTERVAL);
    loop {
        interval.tick().await;
        let directory = directory.clone();
        let _ = tokio::task::spawn_blocking(move || save_key_usage(&directory)).await;
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// How a request speaks: the query protocol (IAM, STS) or awsJson (`X-Amz-Target`).
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Query(Service),
    Json,
}

/// Renders an error in the request's protocol: the one place errors meet HTTP.
fn error_response(protocol: Protocol, error: &IamError, request_id: &str) -> Response {
    let mut response = match protocol {
        Protocol::Query(service) => query_error(service, error, request_id),
        Protocol::Json => json_error(error, request_id),
    };
    response.extensions_mut().insert(AnsweredError(error.code));
    response
}

/// The answer to a failing request while its address or key has failed too often: the same
/// whatever the failure was, so that it tells nothing about the key
/// (docs/design/throttling.md). Organizations names the error its own way.
fn throttled(json_target: Option<&str>) -> IamError {
    let code = match json_target {
        Some(target) if target.starts_with("AWSOrganizationsV20161128.") => {
            ErrorCode::TooManyRequests
        }
        _ => ErrorCode::Throttling,
    };
    IamError::new(code, "Rate exceeded")
}

fn json_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// awsJson errors: the type in `__type` and in `x-amzn-ErrorType`, which is where botocore
/// and the Rust SDK look for it.
fn json_error(error: &IamError, request_id: &str) -> Response {
    // The awsJson services answer a denial with 400, not the query protocol's 403.
    let status = match error.code {
        ErrorCode::AccessDenied => StatusCode::BAD_REQUEST,
        code => {
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    let code = error.code.json_code();
    let mut body = serde_json::json!({ "__type": code, "Message": error.message });
    for (name, value) in &error.fields {
        body[*name] = serde_json::Value::from(value.as_str());
    }
    let body = body.to_string();
    let mut response = json_response(status, body, request_id);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(code));
    response
}

fn query_error(service: Service, error: &IamError, request_id: &str) -> Response {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error_type = if error.code.is_server_fault() {
        ErrorType::Receiver
    } else {
        ErrorType::Sender
    };
    let body = error_document(
        service.xmlns(),
        error_type,
        error.code.as_str(),
        &error.message,
        request_id,
    );
    xml_response(status, body, request_id)
}

/// The signed API (IAM, STS and the awsJson services): everything the routes do not match.
async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let mut facts = RequestFacts::default();
    let mut response = answer(&app, peer, request, &mut facts).await;
    response.extensions_mut().insert(facts);
    response
}

async fn answer(
    app: &App,
    peer: SocketAddr,
    request: Request,
    facts: &mut RequestFacts,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let secure_transport = parts
        .extensions
        .get::<SecureTransport>()
        .is_some_and(|SecureTransport(secure)| *secure);
    let json_target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(&parts.headers, body, &app.limits).await {
        Ok(body) => body,
        Err(error) => {
            // The body is unread, so the Version that names the service is unknown.
            let protocol = match json_target {
                Some(_) => Protocol::Json,
                None => Protocol::Query(Service::Iam),
            };
            return error_response(protocol, &error, &request_id);
        }
    };
    let query = parts.uri.query().unwrap_or("");
    // The parameters are in the body for POST and in the query string for (presigned) GET.
    let form: &[u8] = if parts.method == Method::GET {
        query.as_bytes()
    } else {
        &body
    };
    let params = QueryRequest::parse(form);
    let service_hint = params
        .as_ref()
        .ok()
        .and_then(|p| p.version())
        .and_then(Service::from_version)
        .unwrap_or(Service::Iam);
    let protocol = match json_target {
        Some(_) => Protocol::Json,
        None => Protocol::Query(service_hint),
    };
    // Known before authentication, for the failures' log line and metrics; only a known
    // operation is named, so made-up ones cannot multiply the metrics' series.
    let named = match &json_target {
        Some(target) => Operation::from_target(target),
        None => params
            .as_ref()
            .ok()
            .and_then(|p| p.action())
            .and_then(|action| Operation::find(service_hint, action)),
    };
    facts.service = match (named, &json_target) {
        (Some(op), _) => Some(op.service().signing_name()),
        (None, Some(_)) => None,
        (None, None) => Some(service_hint.signing_name()),
    };
    facts.operation = named.map(|op| op.name());

    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|value| (name.as_str(), value)))
        .collect();
    let http = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        headers: &headers,
        body: &body,
    };
    let now = chrono::Utc::now();
    let origin = Origin {
        at: now,
        source_ip: Some(peer.ip()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        secure_transport,
    };
    let state = app.directory.snapshot();
    let caller = match auth::authenticate(&app.directory, &state, &http, origin.clone()) {
        Ok(caller) => caller,
        Err(error) => {
            let presented = auth::presented_access_key_id(&http);
            metrics().authentication_failed(error.code.as_str());
            tracing::debug!(code = error.code.as_str(), "authentication failed");
            if app.directory.audit_enabled() {
                let attempt = match &json_target {
                    Some(target) => json_attempt(target, &body, &request_id),
                    None => Attempt {
                        service: service_hint,
                        event_name: params.as_ref().ok().and_then(|p| p.action()).unwrap_or(""),
                        parameters: params.as_ref().map_or(serde_json::Value::Null, |p| {
                            latchkey_core::audit::query_parameters(p.pairs())
                        }),
                        request_id: &request_id,
                    },
                };
                audit::failed_authentication(
                    &app.directory,
                    &state,
                    &http,
                    &origin,
                    attempt,
                    &error,
                );
            }
            let error = match app.auth_failures.fail(peer.ip(), presented.as_deref()) {
                Some(exhausted) => {
                    metrics().throttled(exhausted.as_str());
                    throttled(json_target.as_deref())
                }
                None => error,
            };
            facts.access_key_id = presented;
            return error_response(protocol, &error, &request_id);
        }
    };
    drop(state);
    facts.service = Some(caller.service.signing_name());
    facts.access_key_id = Some(caller.access_key_id.clone());
    if let Some(target) = json_target {
        return handle_json(app, caller, &target, body, request_id).await;
    }
    // A request refused before its operation runs is recorded as the call it named.
    let refused = |error: IamError, caller: &Caller, params: Option<&QueryRequest>| {
        if app.directory.audit_enabled() {
            let name = params.and_then(|p| p.action()).unwrap_or("");
            let parameters = params.map_or(serde_json::Value::Null, |p| {
                latchkey_core::audit::query_parameters(p.pairs())
            });
            let draft = audit::draft(caller, caller.service, name, parameters, &request_id, true);
            audit::conclude(&app.directory, Some(draft), &Err::<(), _>(error.clone()));
        }
        error_response(protocol, &error, &request_id)
    };
    let params = match params {
        Ok(params) => params,
        Err(error) => {
            let code = match error.code {
                "MalformedQueryString" => ErrorCode::MalformedQueryString,
                _ => ErrorCode::ValidationError,
            };
            return refused(IamError::new(code, error.message), &caller, None);
        }
    };
    let op = match find_operation(&caller, &params) {
        Ok(op) => op,
        Err(error) => return refused(error, &caller, Some(&params)),
    };
    facts.operation = Some(op.name());
    if let Some(key) = &caller.key {
        app.directory
            .record_key_use(key, now, caller.service.signing_name(), &caller.region);
    }
    let draft = app.directory.audit_enabled().then(|| {
        audit::draft(
            &caller,
            op.service(),
            op.name(),
            latchkey_core::audit::query_parameters(params.pairs()),
            &request_id,
            !op.mutates(),
        )
    });
    let result = run_operation(
        app.directory.clone(),
        caller,
        op,
        params,
        request_id.clone(),
        draft,
    )
    .await;
    match result {
        Ok(body) => xml_response(StatusCode::OK, body, &request_id),
        Err(error) => {
            tracing::debug!(
                operation = op.name(),
                code = error.code.as_str(),
                "operation failed"
            );
            error_response(Protocol::Query(op.service()), &error, &request_id)
        }
    }
}

/// Reads the whole body within the size limit and the request timeout.
async fn read_body(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Bytes, IamError> {
    let too_large = || {
        IamError::new(
            ErrorCode::RequestEntityTooLarge,
            format!(
                "The request body exceeds the maximum of {} bytes.",
                limits.max_body_bytes
            ),
        )
    };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let read = Limited::new(body, limits.max_body_bytes).collect();
    match tokio::time::timeout(limits.request_timeout(), read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(IamError::new(
            ErrorCode::IncompleteBody,
            "The request body ended before the length its headers declared, or its chunked \
             encoding is invalid.",
        )),
        Err(_) => Err(IamError::new(
            ErrorCode::RequestTimeout,
            format!(
                "The request body was not received within {} seconds.",
                limits.request_timeout_secs
            ),
        )),
    }
}

/// An awsJson request (Organizations, Identity Store, SSO Admin): the operation from `X-Amz-Target`,
/// the input from the JSON body.
async fn handle_json(
    app: &App,
    caller: Caller,
    target: &str,
    body: Bytes,
    request_id: String,
) -> Response {
    let directory = app.directory.clone();
    // A request refused before its operation runs is recorded as the call it named.
    let refused = |error: IamError, caller: &Caller| {
        if app.directory.audit_enabled() {
            let attempt = json_attempt(target, &body, &request_id);
            let draft = audit::draft(
                caller,
                caller.service,
                attempt.event_name,
                attempt.parameters,
                &request_id,
                true,
            );
            audit::conclude(&directory, Some(draft), &Err::<(), _>(error.clone()));
        }
        error_response(Protocol::Json, &error, &request_id)
    };
    let Some(op) = Operation::from_target(target).filter(|op| op.service() == caller.service)
    else {
        let error = IamError::new(
            ErrorCode::InvalidAction,
            format!("Unknown operation {target} for the service the request was signed for."),
        );
        return refused(error, &caller);
    };
    let input = match latchkey_query::json_input(&body) {
        Ok(input) => input,
        Err(error) => {
            let error = IamError::new(ErrorCode::SerializationException, error.message);
            return refused(error, &caller);
        }
    };
    let draft = app.directory.audit_enabled().then(|| {
        audit::draft(
            &caller,
            op.service(),
            op.name(),
            input.clone(),
            &request_id,
            !op.mutates(),
        )
    });
    if let Some(key) = &caller.key {
        directory.record_key_use(
            key,
            caller.at,
            caller.service.signing_name(),
            &caller.region,
        );
    }
    let result = tokio::task::spawn_blocking(move || {
        audit::run(&directory, draft, || match op.service() {
            Service::IdentityStore => api::identitystore::execute(&directory, &caller, op, &input),
            Service::SsoAdmin => api::ssoadmin::execute(&directory, &caller, op, &input),
            Service::CloudTrail => api::cloudtrail::execute(&directory, &caller, op, &input),
            _ => api::organizations::execute(&directory, &caller, op, &input),
        })
    })
    .await
    .unwrap_or_else(|_| Err(IamError::service_failure()));
    match result {
        Ok(output) => json_response(StatusCode::OK, output.to_string(), &request_id),
        Err(error) => error_response(Protocol::Json, &error, &request_id),
    }
}

/// The operation named by `Action`, in the service named by `Version` (or, when the
/// request has no Version, the service it was signed for).
fn find_operation(caller: &Caller, params: &QueryRequest) -> Result<Operation, IamError> {
    let action = params
        .action()
        .ok_or_else(|| IamError::new(ErrorCode::MissingAction, "Missing Action"))?;
    let service = match params.version() {
        Some(version) => Service::from_version(version),
        None => Some(caller.service),
    };
    service
        .and_then(|service| Operation::find(service, action))
        .ok_or_else(|| {
            IamError::new(
                ErrorCode::InvalidAction,
                format!(
                    "Could not find operation {action} for version {}",
                    params.version().unwrap_or("NO_VERSION_SPECIFIED")
                ),
            )
        })
}

async fn run_operation(
    directory: Arc<Directory>,
    caller: Caller,
    op: Operation,
    params: QueryRequest,
    request_id: String,
    draft: Option<latchkey_core::audit::EventDraft>,
) -> Result<String, IamError> {
    let call = move || {
        audit::run(&directory, draft, || {
            api::execute(&directory, &caller, op, &params, &request_id)
        })
    };
    if op.mutates() {
        // A commit waits for the disk; keep it off the async workers.
        tokio::task::spawn_blocking(call)
            .await
            .unwrap_or_else(|_| Err(IamError::service_failure()))
    } else {
        call()
    }
}

/// The call an awsJson request names by its `X-Amz-Target`, as far as it can be read.
fn json_attempt<'a>(target: &'a str, body: &[u8], request_id: &'a str) -> Attempt<'a> {
    let (prefix, name) = target.rsplit_once('.').unwrap_or(("", target));
    let service = Operation::from_target(target)
        .map(Operation::service)
        .or_else(|| {
            [
                Service::Organizations,
                Service::IdentityStore,
                Service::SsoAdmin,
                Service::CloudTrail,
            ]
            .into_iter()
            .find(|s| s.target_prefix() == Some(prefix))
        })
        .unwrap_or(Service::Organizations);
    Attempt {
        service,
        event_name: name,
        parameters: latchkey_query::json_input(body).unwrap_or(serde_json::Value::Null),
        request_id,
    }
}
