//! The HTTP front: one port, one handler for the query protocol, and the request path.
//!
//! Request path: read the body → SigV4 against the snapshot → decode the form → find the
//! operation → authorize → execute in the directory (writes off the async workers) → XML.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_query::{ErrorType, QueryRequest, error_document};
use latchkey_sigv4::HttpRequest;

use crate::api;
use crate::auth::{self, Caller, Origin};
use crate::datadir::{self, StoreLocation};
use crate::operation::{Operation, Service};
use crate::{invitation, mail, oidc};
use latchkey_core::oidc::PollTimes;

/// The largest request body accepted; IAM's largest documents are far below it.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How often key use recorded in memory is written to the store.
const KEY_USAGE_SAVE_INTERVAL: Duration = Duration::from_secs(5);

struct App {
    directory: Arc<Directory>,
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
}

pub fn serve(
    data: &Path,
    listen: SocketAddr,
    store: &StoreLocation,
    options: Options,
) -> anyhow::Result<()> {
    let mailer = Arc::new(mail::Mailer::new(
        options.mail_relay.as_deref(),
        options.mail_from.as_deref(),
        data,
        &options.public_url,
    )?);
    let directory = Arc::new(
        datadir::open(data, store)?
            .with_encoded_denials(options.encoded_denials)
            .with_invitation_ttl(options.invitation_ttl),
    );
    crate::follow::start(&directory, store);
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
    runtime.block_on(run(directory, listen, mailer, options.public_url))
}

async fn run(
    directory: Arc<Directory>,
    listen: SocketAddr,
    mailer: Arc<mail::Mailer>,
    public_url: String,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "latchkey is serving IAM, STS, Organizations, Identity Store and SSO Admin");

    let saver = tokio::spawn(save_key_usage_periodically(directory.clone()));
    let postman = tokio::spawn(mail::deliver_invitations(directory.clone(), mailer));
    let pages = Router::new()
        .route(
            "/invitation",
            get(invitation::show).post(invitation::accept),
        )
        .with_state(directory.clone());
    let sso_oidc = Router::new()
        .route("/client/register", post(oidc::register_client))
        .route(
            "/device_authorization",
            post(oidc::start_device_authorization),
        )
        .route("/token", post(oidc::create_token))
        .route("/device", get(oidc::device_page).post(oidc::device_sign_in))
        .route("/device/decision", post(oidc::device_decision))
        .route(
            "/authorize",
            get(oidc::authorize_page).post(oidc::authorize_sign_in),
        )
        .route("/authorize/decision", post(oidc::authorize_decision))
        .with_state(Arc::new(oidc::Oidc {
            directory: directory.clone(),
            polls: PollTimes::default(),
            public_url,
            sign_in_failures: oidc::SignInThrottle::default(),
        }));
    let app = Router::new()
        .merge(pages)
        .merge(sso_oidc)
        .route("/healthz", get(|| async { "ok" }))
        .fallback(handle)
        .with_state(Arc::new(App {
            directory: directory.clone(),
        }));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("the server failed")?;
    saver.abort();
    postman.abort();
    tokio::task::spawn_blocking(move || save_key_usage(&directory))
        .await
        .context("saving key usage at shutdown")?;
    tracing::info!("latchkey stopped");
    Ok(())
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
    match protocol {
        Protocol::Query(service) => query_error(service, error, request_id),
        Protocol::Json => json_error(error, request_id),
    }
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

async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let error = IamError::new(
                ErrorCode::ValidationError,
                format!(
                    "The request body exceeds the maximum of {MAX_BODY_BYTES} bytes or could not be read."
                ),
            );
            return error_response(Protocol::Query(Service::Iam), &error, &request_id);
        }
    };
    let json_target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
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
        secure_transport: false,
    };
    let state = app.directory.snapshot();
    let caller = match auth::authenticate(&app.directory, &state, &http, origin) {
        Ok(caller) => caller,
        Err(error) => {
            tracing::debug!(code = error.code.as_str(), "authentication failed");
            return error_response(protocol, &error, &request_id);
        }
    };
    drop(state);
    if let Some(target) = json_target {
        return handle_json(app.directory.clone(), caller, &target, body, request_id).await;
    }
    let params = match params {
        Ok(params) => params,
        Err(error) => {
            let error = IamError::new(ErrorCode::ValidationError, error.message);
            return error_response(protocol, &error, &request_id);
        }
    };
    let op = match find_operation(&caller, &params) {
        Ok(op) => op,
        Err(error) => return error_response(protocol, &error, &request_id),
    };
    if let Some(key) = &caller.key {
        app.directory
            .record_key_use(key, now, caller.service.signing_name(), &caller.region);
    }
    let result = run_operation(
        app.directory.clone(),
        caller,
        op,
        params,
        request_id.clone(),
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

/// An awsJson request (Organizations, Identity Store, SSO Admin): the operation from `X-Amz-Target`,
/// the input from the JSON body.
async fn handle_json(
    directory: Arc<Directory>,
    caller: Caller,
    target: &str,
    body: axum::body::Bytes,
    request_id: String,
) -> Response {
    let Some(op) = Operation::from_target(target).filter(|op| op.service() == caller.service)
    else {
        let error = IamError::new(
            ErrorCode::InvalidAction,
            format!("Unknown operation {target} for the service the request was signed for."),
        );
        return error_response(Protocol::Json, &error, &request_id);
    };
    let input: serde_json::Value = if body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value @ serde_json::Value::Object(_)) => value,
            _ => {
                let error = IamError::new(
                    ErrorCode::ValidationError,
                    "The request body is not a JSON object.",
                );
                return error_response(Protocol::Json, &error, &request_id);
            }
        }
    };
    if let Some(key) = &caller.key {
        directory.record_key_use(
            key,
            caller.at,
            caller.service.signing_name(),
            &caller.region,
        );
    }
    let result = tokio::task::spawn_blocking(move || match op.service() {
        Service::IdentityStore => api::identitystore::execute(&directory, &caller, op, &input),
        Service::SsoAdmin => api::ssoadmin::execute(&directory, &caller, op, &input),
        _ => api::organizations::execute(&directory, &caller, op, &input),
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
) -> Result<String, IamError> {
    if op.mutates() {
        // A commit waits for the disk; keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            api::execute(&directory, &caller, op, &params, &request_id)
        })
        .await
        .unwrap_or_else(|_| Err(IamError::service_failure()))
    } else {
        api::execute(&directory, &caller, op, &params, &request_id)
    }
}
