//! The web console under `/console`: server-rendered pages (askama templates in
//! `templates/console/`) over the same domain calls and the same policy checks as the API.
//!
//! Every page that shows or changes something asks [`api::authorize`] first, with the
//! operation the API would run and the parameters it would carry, so a user sees and does
//! exactly what their policies allow (docs/design/console.md).
//!
//! Sessions are sealed tokens in an HttpOnly, SameSite=Strict cookie (Secure when the console
//! is reached over HTTPS). Every form carries the session's anti-forgery token and every POST
//! must come from this origin. Pages send a Content-Security-Policy that allows only this
//! server's own script and style, and no caching.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use latchkey_core::console::ConsoleSession;
use latchkey_core::model::Principal;
use latchkey_core::{Directory, IamError};
use latchkey_query::QueryRequest;
use subtle::ConstantTimeEq;

use crate::api;
use crate::auth::Caller;
use crate::oidc::SignInThrottle;
use crate::operation::{Operation, Service};

mod access_keys;
mod account;
mod dashboard;
mod groups;
mod identity_center;
mod login_profile;
mod mfa;
mod policies;
mod portal;
mod roles;
mod root_keys;
mod signin;
mod users;

pub use portal::portal_signed_in;

/// The session cookie. Scoped to the console's path.
const SESSION_COOKIE: &str = "latchkey-console";

pub struct Console {
    pub directory: Arc<Directory>,
    pub sign_in_failures: SignInThrottle,
    /// Whether people reach the console over HTTPS: cookies are then marked Secure.
    pub secure: bool,
    /// Where people reach this server: the endpoint the portal's credentials point at.
    pub public_url: String,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(console: Arc<Console>) -> Router<S> {
    Router::new()
        .route("/console", get(dashboard::show))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .route("/console/signin", get(signin::show).post(signin::password))
        .route("/console/signin/mfa", post(signin::mfa))
        .route("/console/signin/new-password", post(signin::new_password))
        .route("/console/signout", post(signin::sign_out))
        .route("/console/account/alias", post(account::alias))
        .route(
            "/console/account/password-policy",
            post(account::password_policy),
        )
        .route(
            "/console/password",
            get(account::change_password_form).post(account::change_password),
        )
        .route("/console/users", get(users::list))
        .route(
            "/console/users/new",
            get(users::new_form).post(users::create),
        )
        .route("/console/users/{name}", get(users::detail))
        .route(
            "/console/users/{name}/console-access",
            post(users::enable_console_access),
        )
        .route(
            "/console/users/{name}/console-access/reset",
            post(login_profile::reset),
        )
        .route(
            "/console/users/{name}/console-access/delete",
            post(login_profile::delete),
        )
        .route(
            "/console/users/{name}/mfa/new",
            get(mfa::new_device).post(mfa::create_device),
        )
        .route("/console/users/{name}/mfa/enable", post(mfa::enable_device))
        .route(
            "/console/users/{name}/mfa/remove",
            get(mfa::confirm_remove).post(mfa::remove_device),
        )
        .route(
            "/console/users/{name}/access-keys/new",
            get(access_keys::use_case).post(access_keys::wizard),
        )
        .route(
            "/console/users/{name}/access-keys/{key}/status",
            post(access_keys::set_status),
        )
        .route(
            "/console/users/{name}/access-keys/{key}/delete",
            get(access_keys::confirm_delete).post(access_keys::delete),
        )
        .route("/console/identity-center", get(identity_center::users))
        .route(
            "/console/identity-center/users",
            get(identity_center::users).post(identity_center::create_person),
        )
        .route(
            "/console/identity-center/users/{id}/resend",
            post(identity_center::resend_invitation),
        )
        .route(
            "/console/identity-center/users/{id}/authenticator",
            get(identity_center::confirm_remove_authenticator)
                .post(identity_center::remove_authenticator),
        )
        .route(
            "/console/identity-center/groups",
            get(identity_center::groups).post(identity_center::create_group),
        )
        .route(
            "/console/identity-center/groups/{id}/members",
            post(identity_center::add_member),
        )
        .route(
            "/console/identity-center/groups/{id}/members/remove",
            post(identity_center::remove_member),
        )
        .route(
            "/console/identity-center/permission-sets",
            get(identity_center::permission_sets).post(identity_center::create_permission_set),
        )
        .route(
            "/console/identity-center/permission-sets/attach",
            post(identity_center::attach_policy),
        )
        .route(
            "/console/identity-center/permission-sets/detach",
            post(identity_center::detach_policy),
        )
        .route(
            "/console/identity-center/accounts",
            get(identity_center::accounts),
        )
        .route(
            "/console/identity-center/accounts/assign",
            post(identity_center::assign),
        )
        .route(
            "/console/identity-center/accounts/unassign",
            post(identity_center::unassign),
        )
        .route(
            "/console/identity-center/accounts/ou",
            post(identity_center::create_ou),
        )
        .route(
            "/console/identity-center/accounts/move",
            post(identity_center::move_account),
        )
        .route(
            "/console/users/{name}/policies",
            post(users::change_policies),
        )
        .route("/console/users/{name}/groups", post(users::change_groups))
        .route("/console/users/{name}/tags", post(users::change_tags))
        .route("/console/groups", get(groups::list))
        .route(
            "/console/groups/new",
            get(groups::new_form).post(groups::create),
        )
        .route("/console/groups/{name}", get(groups::detail))
        .route(
            "/console/groups/{name}/members",
            post(groups::change_members),
        )
        .route(
            "/console/groups/{name}/policies",
            post(groups::change_policies),
        )
        .route("/console/policies", get(policies::list))
        .route(
            "/console/policies/new",
            get(policies::new_form).post(policies::create),
        )
        .route("/console/policies/validate", post(policies::validate))
        .route("/console/policies/view", get(policies::detail))
        .route("/console/policies/versions", post(policies::change_version))
        .route("/console/roles", get(roles::list))
        .route("/console/roles/{name}", get(roles::detail))
        .route("/console/account", get(account::show))
        .route(
            "/console/root-keys",
            get(root_keys::show).post(root_keys::create),
        )
        .route(
            "/console/root-keys/{key}/status",
            post(root_keys::set_status),
        )
        .route("/console/root-keys/{key}/delete", post(root_keys::delete))
        .route("/start", get(portal::home))
        .route("/start/", get(|| async { Redirect::to("/start") }))
        .route(
            "/start/signin",
            get(portal::sign_in_page).post(portal::sign_in),
        )
        .route("/start/credentials", get(portal::credentials))
        .route("/start/signout", post(portal::sign_out))
        .with_state(console)
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What every page's frame shows: who is signed in, and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub account_id: String,
    /// "alice" or "root".
    pub who: String,
    pub is_root: bool,
    pub csrf: String,
}

/// A signed-in request: the session, where it came from, and the frame of its pages.
#[derive(Debug)]
pub struct SignedIn {
    pub session: ConsoleSession,
    pub chrome: Chrome,
    caller: Caller,
    /// The event of the write the request was allowed, until it runs.
    pending: std::sync::Mutex<Option<latchkey_core::audit::EventDraft>>,
}

impl SignedIn {
    pub fn account_id(&self) -> &str {
        self.session.principal.account_id()
    }

    /// Whether the signed-in principal may run `op` with these parameters: the API's check.
    /// A denial is an event in the audit trail, and so is a read the console makes. The
    /// first write allowed becomes the event of the next [`SignedIn::run`], which commits it
    /// in the write's own transaction.
    pub fn authorize(
        &self,
        directory: &Directory,
        op: Operation,
        params: &[(&str, &str)],
    ) -> Result<(), IamError> {
        let Allowed(draft) = self.allow(directory, op, params)?;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_none() {
            *pending = draft;
        }
        Ok(())
    }

    /// [`SignedIn::authorize`] for a form that makes several writes, each its own call: the
    /// write allowed comes back with its event, for [`SignedIn::run_allowed`]. Dropping it
    /// runs nothing and records nothing (a dependent action, as `iam:TagUser` is for
    /// CreateUser with tags, or a step not taken after an earlier one failed).
    pub fn allow(
        &self,
        directory: &Directory,
        op: Operation,
        params: &[(&str, &str)],
    ) -> Result<Allowed, IamError> {
        let decided = QueryRequest::from_pairs(params.iter().copied())
            .map_err(|e| IamError::new(latchkey_core::ErrorCode::ValidationError, e.message))
            .and_then(|query| api::authorize(directory, &self.caller, op, &query));
        let draft = self.draft(
            directory,
            op,
            latchkey_core::audit::query_parameters(params.iter().copied()),
        );
        Self::decided(directory, draft, op.mutates(), decided)
    }

    /// A decision taken: a write allowed keeps its event for its run; any other outcome is
    /// recorded now.
    fn decided(
        directory: &Directory,
        draft: Option<latchkey_core::audit::EventDraft>,
        mutates: bool,
        decided: Result<(), IamError>,
    ) -> Result<Allowed, IamError> {
        if decided.is_ok() && mutates {
            return Ok(Allowed(draft));
        }
        crate::audit::conclude(directory, draft, &decided);
        decided.map(|()| Allowed(None))
    }

    /// [`SignedIn::allow`] for a console action that is no API operation of latchkey's (the
    /// Identity Center directory's `sso-directory:…`): `action` on `resource`, decided by
    /// the principal's policies with the request's global keys once `reachable` (the
    /// service's own condition, such as the account) holds, its event named by the service's
    /// `eventSource` and the action's name.
    fn allow_action(
        &self,
        directory: &Directory,
        what: ConsoleAction<'_>,
        parameters: serde_json::Value,
        reachable: Result<(), IamError>,
    ) -> Result<Allowed, IamError> {
        let ConsoleAction {
            event_source,
            action,
            resource,
            mutates,
        } = what;
        let state = directory.snapshot();
        let decided = reachable.and_then(|()| {
            crate::metrics::timed_authorization(|| {
                directory.authorize(
                    &state,
                    &self.caller.principal,
                    action,
                    resource,
                    &api::base_context(&self.caller),
                    self.caller.at,
                )
            })
        });
        let event_name = action.split_once(':').map_or(action, |(_, name)| name);
        let draft = directory.audit_enabled().then(|| {
            crate::audit::draft_from(
                &self.caller,
                event_source,
                event_name,
                parameters,
                &uuid::Uuid::new_v4().to_string(),
                !mutates,
            )
        });
        Self::decided(directory, draft, mutates, decided)
    }

    /// The audit event of a console action, as the API's call would have it; `None` when the
    /// audit trail is off.
    fn draft(
        &self,
        directory: &Directory,
        op: Operation,
        parameters: serde_json::Value,
    ) -> Option<latchkey_core::audit::EventDraft> {
        directory.audit_enabled().then(|| {
            crate::audit::draft(
                &self.caller,
                op.service(),
                op.name(),
                parameters,
                &uuid::Uuid::new_v4().to_string(),
                !op.mutates(),
            )
        })
    }

    /// Runs the console write that [`SignedIn::authorize`] allowed, off the async workers:
    /// its event commits in the write's transaction, or records the failure.
    pub async fn run<T: Send + 'static>(
        &self,
        directory: &Arc<Directory>,
        call: impl FnOnce(&Directory) -> Result<T, IamError> + Send + 'static,
    ) -> Result<T, IamError> {
        let draft = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.run_allowed(directory, Allowed(draft), call).await
    }

    /// Runs one write that [`SignedIn::allow`] allowed, with its own event.
    pub async fn run_allowed<T: Send + 'static>(
        &self,
        directory: &Arc<Directory>,
        Allowed(draft): Allowed,
        call: impl FnOnce(&Directory) -> Result<T, IamError> + Send + 'static,
    ) -> Result<T, IamError> {
        let directory = directory.clone();
        crate::oidc::blocking(move || crate::audit::run(&directory, draft, || call(&directory)))
            .await
    }

    /// Runs an awsJson operation (Organizations, Identity Store, SSO Admin) through the
    /// API's own `execute`, recorded in the audit trail as the API records it.
    pub async fn run_json(
        &self,
        directory: &Arc<Directory>,
        op: Operation,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, IamError> {
        let draft = self.draft(directory, op, input.clone());
        let (directory, caller) = (directory.clone(), self.caller.clone());
        crate::oidc::blocking(move || {
            crate::audit::run(&directory, draft, || {
                execute_json(&directory, &caller, op, &input)
            })
        })
        .await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.caller.at
    }
}

/// A console action that is no API operation of latchkey's: the IAM action, the resource it
/// applies to, whether it writes, and its event's `eventSource`.
#[derive(Debug, Clone, Copy)]
struct ConsoleAction<'a> {
    event_source: &'a str,
    action: &'a str,
    resource: &'a str,
    mutates: bool,
}

/// A write the principal was allowed, with the event it commits when it runs (`None` when
/// the audit trail is off).
#[derive(Debug)]
pub struct Allowed(Option<latchkey_core::audit::EventDraft>);

/// Runs an awsJson operation (Organizations, Identity Store, SSO Admin) as `caller`,
/// through the API's own `execute`: its authorization, validation and errors.
fn execute_json(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &serde_json::Value,
) -> Result<serde_json::Value, IamError> {
    match op.service() {
        Service::Organizations => api::organizations::execute(directory, caller, op, input),
        Service::IdentityStore => api::identitystore::execute(directory, caller, op, input),
        Service::SsoAdmin => api::ssoadmin::execute(directory, caller, op, input),
        Service::Iam | Service::Sts | Service::CloudTrail => Err(IamError::new(
            latchkey_core::ErrorCode::InvalidAction,
            format!(
                "{} is not an operation the console runs as JSON.",
                op.name()
            ),
        )),
    }
}

/// Whether `caller` may run an Identity Store operation with this input, without running
/// it: for console actions the API has no operation of their own for.
fn authorize_identity_store(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &serde_json::Value,
) -> Result<(), IamError> {
    api::identitystore::authorize(directory, caller, op, input)
}

/// Reads the session cookie; a request without a live session is sent to sign in.
impl FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let at = Utc::now();
        let session = cookie(&parts.headers, SESSION_COOKIE)
            .and_then(|token| console.directory.console_session(&token, at))
            .ok_or_else(|| Redirect::to("/console/signin").into_response())?;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let caller = Caller {
            principal: session.principal.clone(),
            // A console request is signed by no key.
            access_key_id: String::new(),
            key: None,
            region: "us-east-1".to_owned(),
            service: Service::Iam,
            at,
            source_ip: peer,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            secure_transport: parts
                .extensions
                .get::<crate::tls::SecureTransport>()
                .is_some_and(|secure| secure.0),
        };
        let (who, is_root) = match &session.principal {
            Principal::Root { .. } => ("root".to_owned(), true),
            other => (
                session
                    .user
                    .as_ref()
                    .map_or_else(|| other.arn(), |u| u.name.clone()),
                false,
            ),
        };
        let chrome = Chrome {
            account_id: session.principal.account_id().to_owned(),
            who,
            is_root,
            csrf: session.csrf_token.clone(),
        };
        Ok(SignedIn {
            session,
            chrome,
            caller,
            pending: std::sync::Mutex::default(),
        })
    }
}

/// The value of the request's cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
}

/// Refuses a form post that did not come from a page of this console: the anti-forgery
/// token must match the session's, and a browser's Origin header must name this host.
pub fn check_form(
    headers: &HeaderMap,
    signed_in: &SignedIn,
    token: &str,
) -> Result<(), ForgedForm> {
    check_origin(headers)?;
    if same_token(&signed_in.session.csrf_token, token) {
        Ok(())
    } else {
        Err(ForgedForm)
    }
}

/// Compares anti-forgery tokens in constant time.
fn same_token(expected: &str, given: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The sign-in forms have no session yet: they are held to the same-origin rule only.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ForgedForm> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers send Origin on every POST; its absence means a non-browser client,
        // which cannot ride on someone's cookie.
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    if host.is_some() && origin_host == host {
        Ok(())
    } else {
        Err(ForgedForm)
    }
}

/// A form post refused as cross-site or stale.
#[derive(Debug)]
pub struct ForgedForm;

impl IntoResponse for ForgedForm {
    fn into_response(self) -> Response {
        message_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this console, or your session changed. Go back, reload the page and try again.",
            None,
        )
    }
}

/// A session cookie: HttpOnly, SameSite=Strict, limited to `path`, and Secure over HTTPS.
fn cookie_header(
    secure: bool,
    name: &str,
    path: &str,
    token: &str,
    max_age_seconds: i64,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}"
    ))
    .expect("session tokens are base64url")
}

/// Renders a template as a console page, with the headers every page carries.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => with_page_headers((status, html).into_response()),
        Err(error) => {
            tracing::error!(%error, "a console template failed to render");
            with_page_headers(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The page could not be shown.",
                )
                    .into_response(),
            )
        }
    }
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        // Not no-referrer: with it, browsers send `Origin: null` on form posts, and the
        // same-origin check needs the real origin. Console URLs carry no secrets.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    chrome: &'a Chrome,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "console/message_plain.html")]
struct SignedOutMessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page that says one thing: a denial, a missing entity, an expired form. Without a
/// session's frame when `chrome` is `None`.
pub fn message_page(
    status: StatusCode,
    title: &str,
    message: &str,
    chrome: Option<&Chrome>,
) -> Response {
    match chrome {
        Some(chrome) => render(
            status,
            &MessagePage {
                chrome,
                title,
                message,
            },
        ),
        None => render(status, &SignedOutMessagePage { title, message }),
    }
}

/// The page for an error from the domain: AccessDenied says what the policy refused.
pub fn error_page(error: &IamError, chrome: &Chrome) -> Response {
    let status = status_of(error);
    let title = match error.code {
        latchkey_core::ErrorCode::AccessDenied => "Access denied",
        latchkey_core::ErrorCode::NoSuchEntity => "Not found",
        _ => "That did not work",
    };
    message_page(status, title, &error.message, Some(chrome))
}

/// The error of a form, shown next to the field it is about.
#[derive(Debug, Default)]
pub struct FieldErrors(Option<(&'static str, String)>);

impl FieldErrors {
    pub fn none() -> Self {
        Self(None)
    }

    /// `message` belongs next to the field with the id `field`.
    pub fn at(field: &'static str, message: impl Into<String>) -> Self {
        Self(Some((field, message.into())))
    }

    /// The message for the field with the id `field`, if the error is about it.
    pub fn on(&self, field: &str) -> Option<&str> {
        self.0
            .as_ref()
            .filter(|(at, _)| *at == field)
            .map(|(_, message)| message.as_str())
    }
}

/// The HTTP status of a page re-shown for a domain error.
pub fn status_of(error: &IamError) -> StatusCode {
    StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// A date as the console shows it.
pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How long ago, in whole days, as "today", "1 day", "12 days".
pub fn age(from: DateTime<Utc>, now: DateTime<Utc>) -> String {
    match (now - from).num_days() {
        0 => "today".to_owned(),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}
