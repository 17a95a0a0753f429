//! The server's side of the audit trail (docs/design/audit-trail.md): drafting each call's
//! event from the request, recording the outcome, the JSON-lines file, and the background
//! flush and retention.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use latchkey_core::audit::{EventDraft, Identity};
use latchkey_core::directory::AuditStream;
use latchkey_core::model::Principal;
use latchkey_core::state::State;
use latchkey_core::{Directory, IamError};
use latchkey_sigv4::HttpRequest;
use serde_json::Value;

use crate::auth::{Caller, Origin};
use crate::operation::Service;

/// How often buffered events are saved and streamed.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often events past the retention are deleted (also once at start-up).
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// `serve`'s audit settings.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Whether calls are recorded at all (on unless the configuration turns it off).
    pub on: bool,
    /// A file that gets every event as one JSON line.
    pub log: Option<std::path::PathBuf>,
    pub retention: chrono::Duration,
}

/// Appends each event's record to `path`, one line each, flushed per batch.
pub fn json_lines(path: &Path) -> anyhow::Result<AuditStream> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the audit log {}", path.display()))?;
    let file = Mutex::new(std::io::BufWriter::new(file));
    Ok(AuditStream(Box::new(move |records: &[&str]| {
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        let written = records
            .iter()
            .try_for_each(|record| writeln!(file, "{record}"))
            .and_then(|()| file.flush());
        if let Err(error) = written {
            tracing::error!(%error, "cannot write the audit log");
        }
    })))
}

/// The access key id a caller signed with: the long-term key's, or its session's.
fn access_key_id(caller: &Caller) -> &str {
    if let Some(key) = &caller.key {
        return &key.id;
    }
    match &caller.principal {
        Principal::UserSession { session, .. }
        | Principal::RoleSession { session, .. }
        | Principal::FederatedSession { session, .. } => &session.access_key_id,
        Principal::Root { .. } | Principal::User(_) => "",
    }
}

/// The event of an authenticated call, before its outcome.
pub fn draft(
    caller: &Caller,
    service: Service,
    event_name: &str,
    parameters: Value,
    request_id: &str,
    read_only: bool,
) -> EventDraft {
    draft_from(
        caller,
        service.event_source(),
        event_name,
        parameters,
        request_id,
        read_only,
    )
}

/// [`draft`] for an action of a service latchkey has no API for (the console's
/// `sso-directory` actions), named by its `eventSource`.
pub fn draft_from(
    caller: &Caller,
    event_source: &str,
    event_name: &str,
    parameters: Value,
    request_id: &str,
    read_only: bool,
) -> EventDraft {
    let identity = match &caller.key {
        // A long-term key's is kept with the key, for as long as its principal is unchanged.
        Some(key) => key.runtime.audit_identity(&caller.principal, || {
            Identity::of(&caller.principal, &key.id)
        }),
        None => Arc::new(Identity::of(&caller.principal, access_key_id(caller))),
    };
    EventDraft::new(
        event_source,
        event_name,
        &caller.region,
        identity,
        parameters,
        request_id,
        read_only,
    )
    .at(caller.at)
    .from_client(caller.source_ip, caller.user_agent.clone())
}

/// Records the event of a call that the scope gave back (it wrote nothing): a success for
/// a read, else its error.
pub fn conclude<T>(directory: &Directory, left: Option<EventDraft>, result: &Result<T, IamError>) {
    let Some(draft) = left else { return };
    match result {
        Ok(_) => directory.record_event(draft, None),
        Err(error) => directory.record_event(draft, Some((error.code.as_str(), &error.message))),
    }
}

/// What a request asked for, as far as it was read.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub service: Service,
    pub event_name: &'a str,
    pub parameters: Value,
    pub request_id: &'a str,
}

/// The event of a request refused before its caller was known: a bad or missing signature,
/// an unknown or inactive key, an expired token. The account and user are those of the key
/// presented, when it exists.
pub fn failed_authentication(
    directory: &Directory,
    state: &State,
    request: &HttpRequest<'_>,
    origin: &Origin,
    attempt: Attempt<'_>,
    error: &IamError,
) {
    let presented = latchkey_sigv4::parse(request).ok();
    let key_id = presented.as_ref().map(|p| p.access_key_id.as_ref());
    let key = key_id.and_then(|id| state.access_keys.get(id));
    let principal = key.and_then(|key| state.principal_for_key(key));
    let identity = Identity::unverified(
        key_id,
        key.map(|key| key.account_id.as_str()),
        principal
            .as_ref()
            .and_then(|p| p.user())
            .map(|u| u.name.as_str()),
    );
    let region = presented
        .as_ref()
        .map_or("us-east-1", |p| p.scope.region)
        .to_owned();
    let draft = EventDraft::new(
        attempt.service.event_source(),
        attempt.event_name,
        &region,
        identity,
        attempt.parameters,
        attempt.request_id,
        true,
    )
    .at(origin.at)
    .from_client(origin.source_ip, origin.user_agent.clone());
    directory.record_event(draft, Some((error.code.as_str(), &error.message)));
}

/// Saves buffered events every second, off the async workers.
pub async fn flush_periodically(directory: Arc<Directory>) {
    let mut interval = tokio::time::interval(FLUSH_INTERVAL);
    loop {
        interval.tick().await;
        let directory = directory.clone();
        let _ = tokio::task::spawn_blocking(move || flush(&directory)).await;
    }
}

pub fn flush(directory: &Directory) {
    if let Err(error) = directory.flush_audit() {
        tracing::warn!(error = %error.message, "could not save audit events; will retry");
    }
}

/// Deletes events past the retention now and then every hour.
pub async fn purge_periodically(directory: Arc<Directory>, retention: chrono::Duration) {
    let mut interval = tokio::time::interval(PURGE_INTERVAL);
    loop {
        interval.tick().await;
        let directory = directory.clone();
        let _ = tokio::task::spawn_blocking(move || purge(&directory, retention)).await;
    }
}

pub fn purge(directory: &Directory, retention: chrono::Duration) {
    match directory.purge_events(retention) {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, "deleted audit events past their retention"),
        Err(error) => tracing::warn!(error = %error.message, "could not delete old audit events"),
    }
}

/// Runs a call in the audit scope of its event (when the trail is on) and records the event
/// unless a write committed it.
pub fn run<T>(
    directory: &Directory,
    draft: Option<EventDraft>,
    call: impl FnOnce() -> Result<T, IamError>,
) -> Result<T, IamError> {
    match draft {
        None => call(),
        Some(draft) => {
            let (result, left) = latchkey_core::audit::scoped(draft, call);
            conclude(directory, left, &result);
            result
        }
    }
}

/// Where an unsigned request (the access portal, SSO OIDC) came from.
#[derive(Debug)]
pub struct Client {
    pub ip: std::net::IpAddr,
    pub user_agent: Option<String>,
}

impl Client {
    pub fn of(peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> Self {
        Client {
            ip: peer.ip(),
            user_agent: headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The event of an access portal or SSO OIDC call, made by the identity-store person the
/// bearer token names (`None` when there is none, or it is not valid). The event belongs to
/// the organization's management account, which holds the Identity Center instance. `None`
/// when the audit trail is off.
pub fn unsigned_draft(
    directory: &Directory,
    person: Option<&str>,
    event_source: &str,
    event_name: &str,
    parameters: Value,
    client: &Client,
    read_only: bool,
) -> Option<EventDraft> {
    if !directory.audit_enabled() {
        return None;
    }
    let state = directory.snapshot();
    let management = state.management_account().map(|a| a.id.clone());
    let identity = match (person, &management) {
        (Some(user_id), Some(account_id)) => {
            let name = state
                .identity_store
                .users
                .get(user_id)
                .map_or("", |user| user.attributes.user_name.as_str());
            Identity::identity_center_user(account_id, user_id, name)
        }
        // A client, or a token that names no one: the instance's account has the event.
        _ => Identity::unverified(None, management.as_deref(), None),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    Some(
        EventDraft::new(
            event_source,
            event_name,
            "us-east-1",
            identity,
            parameters,
            &request_id,
            read_only,
        )
        .from_client(Some(client.ip), client.user_agent.clone()),
    )
}
