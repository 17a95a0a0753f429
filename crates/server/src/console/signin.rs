//! Signing in and out: IAM users (account, user name, password), the root user (e-mail,
//! password), and the MFA code of a user with a device.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use latchkey_core::ErrorCode;
use latchkey_core::console::SignIn;
use serde::Deserialize;

use crate::oidc::blocking;

use super::{Console, SESSION_COOKIE, SignedIn, check_form, check_origin, cookie_header, render};

#[derive(Debug, Deserialize)]
pub struct Which {
    #[serde(rename = "as")]
    sign_in_as: Option<String>,
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    root: bool,
    account: &'a str,
    user_name: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/signin_new_password.html")]
struct NewPasswordPage<'a> {
    ticket: &'a str,
    rules: Vec<String>,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/signin_mfa.html")]
struct MfaPage<'a> {
    ticket: &'a str,
    error: Option<&'a str>,
}

/// `GET /console/signin[?as=root]`
pub async fn show(Query(which): Query<Which>) -> Response {
    render(
        StatusCode::OK,
        &SignInPage {
            root: which.sign_in_as.as_deref() == Some("root"),
            account: "",
            user_name: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    account: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    email: String,
    password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm")
            .field("account", &self.account)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// `POST /console/signin`: the password step, slowed per address and per name after
/// repeated failures.
pub async fn password(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    let root = form.user_name.is_empty() && !form.email.is_empty();
    let name = if root {
        form.email.trim().to_lowercase()
    } else {
        format!(
            "{}/{}",
            form.account.trim(),
            form.user_name.trim().to_lowercase()
        )
    };
    if let Some(wait) = console.sign_in_failures.wait(peer.ip(), &name) {
        return too_many_attempts(wait);
    }
    let (account, user_name) = (form.account.clone(), form.user_name.clone());
    let directory = console.directory.clone();
    let result = blocking(move || {
        let at = Utc::now();
        if root {
            directory.console_sign_in_root(&form.email, &form.password, at)
        } else {
            directory.console_sign_in_user(&form.account, &form.user_name, &form.password, at)
        }
    })
    .await;
    let who = if root { "root" } else { user_name.trim() };
    // The trail names the account by its id, also when the person typed its alias.
    let account_id = console
        .directory
        .snapshot()
        .account_of_alias(&account.trim().to_ascii_lowercase())
        .cloned()
        .unwrap_or_else(|| account.clone());
    record_console_login(&console, &peer, &headers, &account_id, who, &result);
    match result {
        Ok(step) => signed_in(&console, step),
        Err(error) => {
            console.sign_in_failures.fail(peer.ip(), &name);
            render(
                StatusCode::UNAUTHORIZED,
                &SignInPage {
                    root,
                    account: &account,
                    user_name: &user_name,
                    error: Some(&error.message),
                },
            )
        }
    }
}

/// The password step as CloudTrail records it: a `ConsoleLogin` event of
/// `signin.amazonaws.com`, failed or not. Its identity is who the person claimed to be.
fn record_console_login<T>(
    console: &Console,
    peer: &SocketAddr,
    headers: &HeaderMap,
    account: &str,
    who: &str,
    result: &Result<T, latchkey_core::IamError>,
) {
    if !console.directory.audit_enabled() {
        return;
    }
    let account = (!account.trim().is_empty()).then_some(account.trim());
    let draft = latchkey_core::audit::EventDraft::new(
        "signin.amazonaws.com",
        "ConsoleLogin",
        "us-east-1",
        latchkey_core::audit::Identity::unverified(None, account, Some(who)),
        serde_json::Value::Null,
        &uuid::Uuid::new_v4().to_string(),
        false,
    )
    .from_client(
        Some(peer.ip()),
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    );
    let error = match result {
        Ok(_) => None,
        // CloudTrail's words for a failed console sign-in.
        Err(_) => Some(("FailedAuthentication", "Failed authentication")),
    };
    console.directory.record_event(draft, error);
}

#[derive(Deserialize)]
pub struct MfaForm {
    ticket: String,
    code: String,
}

impl std::fmt::Debug for MfaForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaForm").finish_non_exhaustive()
    }
}

/// `POST /console/signin/mfa`
pub async fn mfa(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<MfaForm>,
) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    // The ticket is the same for every attempt of one sign-in: throttle by it.
    let name = format!("mfa/{}", &form.ticket[..form.ticket.len().min(48)]);
    if let Some(wait) = console.sign_in_failures.wait(peer.ip(), &name) {
        return too_many_attempts(wait);
    }
    let directory = console.directory.clone();
    let ticket = form.ticket.clone();
    let result =
        blocking(move || directory.console_sign_in_mfa(&form.ticket, &form.code, Utc::now())).await;
    match result {
        Ok(step) => signed_in(&console, step),
        Err(error) if error.code == ErrorCode::InvalidAuthenticationCode => {
            console.sign_in_failures.fail(peer.ip(), &name);
            render(
                StatusCode::UNAUTHORIZED,
                &MfaPage {
                    ticket: &ticket,
                    error: Some(&error.message),
                },
            )
        }
        Err(error) => render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                root: false,
                account: "",
                user_name: "",
                error: Some(&error.message),
            },
        ),
    }
}

fn signed_in(console: &Console, step: SignIn) -> Response {
    match step {
        SignIn::Session { token, expires } => {
            let max_age = (expires - Utc::now()).num_seconds().max(0);
            let mut response = Redirect::to("/console").into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                cookie_header(console.secure, SESSION_COOKIE, "/console", &token, max_age),
            );
            response
        }
        SignIn::MfaRequired { ticket } => render(
            StatusCode::OK,
            &MfaPage {
                ticket: &ticket,
                error: None,
            },
        ),
        SignIn::NewPasswordRequired { ticket } => render(
            StatusCode::OK,
            &NewPasswordPage {
                ticket: &ticket,
                rules: console.directory.password_rules_for_ticket(&ticket),
                error: None,
            },
        ),
    }
}

#[derive(Deserialize)]
pub struct NewPasswordForm {
    ticket: String,
    new_password: String,
    confirm_password: String,
}

impl std::fmt::Debug for NewPasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasswordForm").finish_non_exhaustive()
    }
}

/// `POST /console/signin/new-password`: the password the user must choose before signing
/// in (expired, or reset by an administrator), following the account's policy.
pub async fn new_password(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Form(form): Form<NewPasswordForm>,
) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    let again = |error: &str| {
        render(
            StatusCode::BAD_REQUEST,
            &NewPasswordPage {
                ticket: &form.ticket,
                rules: console.directory.password_rules_for_ticket(&form.ticket),
                error: Some(error),
            },
        )
    };
    if form.new_password != form.confirm_password {
        return again("The passwords do not match.");
    }
    let directory = console.directory.clone();
    let (ticket, password) = (form.ticket.clone(), form.new_password.clone());
    let result =
        blocking(move || directory.console_sign_in_new_password(&ticket, &password, Utc::now()))
            .await;
    match result {
        Ok(step) => signed_in(&console, step),
        Err(error) if error.code == ErrorCode::PasswordPolicyViolation => again(&error.message),
        Err(error) => render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                root: false,
                account: "",
                user_name: "",
                error: Some(&error.message),
            },
        ),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

impl std::fmt::Debug for CsrfForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfForm").finish_non_exhaustive()
    }
}

/// `POST /console/signout`: the session stops working everywhere, and the cookie is cleared.
pub async fn sign_out(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Some(token) = super::cookie(&headers, SESSION_COOKIE) {
        let directory = console.directory.clone();
        if let Err(error) = blocking(move || directory.end_session(&token, Utc::now())).await {
            return super::error_page(&error, &signed_in.chrome);
        }
    }
    let mut response = Redirect::to("/console/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(console.secure, SESSION_COOKIE, "/console", "", 0),
    );
    response
}

pub(super) fn too_many_attempts(seconds: u64) -> Response {
    let mut response = super::message_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("Too many failed sign-ins. Try again in {seconds} seconds."),
        None,
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}
