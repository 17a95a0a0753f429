//! The access portal's pages under `/start`: a person of the identity store signs in, sees
//! the accounts and permission sets assigned to them, and takes short-term credentials.
//!
//! The pages call what the portal API (`crate::portal`) calls: `Directory::sso_access` and
//! `Directory::sso_role_credentials`, read from the current snapshot, so a person removed
//! from a group loses the account on the next page.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use latchkey_core::console::{PORTAL_SESSION_TTL, PortalSession};
use latchkey_core::identity_mfa::SignInStep;
use serde::Deserialize;

use super::{Console, ForgedForm, check_origin, date, render};
use crate::oidc::blocking;

/// The portal's session cookie, scoped to its path.
pub const PORTAL_COOKIE: &str = "latchkey-portal";

/// A signed-in person, from the portal cookie.
#[derive(Debug)]
pub struct Person {
    session: PortalSession,
}

impl axum::extract::FromRequestParts<Arc<Console>> for Person {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        super::cookie(&parts.headers, PORTAL_COOKIE)
            .and_then(|token| console.directory.portal_session(&token, Utc::now()))
            .map(|session| Person { session })
            .ok_or_else(|| Redirect::to("/start/signin").into_response())
    }
}

#[derive(Template)]
#[template(path = "console/portal_signin.html")]
struct SignInPage<'a> {
    user_name: &'a str,
    error: Option<&'a str>,
}

/// `GET /start/signin`
pub async fn sign_in_page() -> Response {
    render(
        StatusCode::OK,
        &SignInPage {
            user_name: "",
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    user_name: String,
    password: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInForm")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// `POST /start/signin`, throttled like every sign-in form.
pub async fn sign_in(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(refused) = check_origin(&headers) {
        return refused.into_response();
    }
    let name = format!("portal/{}", form.user_name.trim().to_lowercase());
    if let Some(wait) = console.sign_in_failures.wait(peer.ip(), &name) {
        return super::signin::too_many_attempts(wait);
    }
    let directory = console.directory.clone();
    let user_name = form.user_name.clone();
    let result =
        blocking(move || directory.portal_sign_in(&form.user_name, &form.password, Utc::now()))
            .await;
    match result {
        Ok(SignInStep::Done(token)) => portal_signed_in(console.secure, &token),
        Ok(SignInStep::MfaCode(ticket)) => crate::second_factor::mfa_code_page(&ticket),
        Ok(SignInStep::Enroll(ticket)) => {
            crate::second_factor::required_enrollment(&console.directory, &ticket).await
        }
        Err(error) => {
            console.sign_in_failures.fail(peer.ip(), &name);
            render(
                StatusCode::UNAUTHORIZED,
                &SignInPage {
                    user_name: &user_name,
                    error: Some(&error.message),
                },
            )
        }
    }
}

/// Signed in to the portal (after the password, or the MFA code on `/mfa`): the session
/// cookie, and the accounts page.
pub fn portal_signed_in(secure: bool, token: &str) -> Response {
    let mut response = Redirect::to("/start").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        super::cookie_header(
            secure,
            PORTAL_COOKIE,
            "/start",
            token,
            PORTAL_SESSION_TTL.num_seconds(),
        ),
    );
    response
}

/// One account on the portal's home page, with the permission sets the person may use.
#[derive(Debug)]
pub struct AccountEntry {
    id: String,
    name: String,
    roles: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/portal_home.html")]
struct HomePage<'a> {
    person: &'a PortalSession,
    accounts: Vec<AccountEntry>,
    start_url: String,
    region: &'static str,
    endpoint: &'a str,
}

/// `GET /start`
pub async fn home(State(console): State<Arc<Console>>, person: Person) -> Response {
    let access = match console.directory.sso_access(&person.session.user_id) {
        Ok(access) => access,
        Err(error) => {
            return super::message_page(StatusCode::NOT_FOUND, "Not found", &error.message, None);
        }
    };
    let state = console.directory.snapshot();
    let mut accounts: Vec<AccountEntry> = Vec::new();
    for entry in access {
        let role = entry.permission_set.row.name.clone();
        match accounts.iter_mut().find(|a| a.id == entry.account_id) {
            Some(account) => account.roles.push(role),
            None => accounts.push(AccountEntry {
                name: state
                    .accounts
                    .get(&entry.account_id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                id: entry.account_id.clone(),
                roles: vec![role],
            }),
        }
    }
    for account in &mut accounts {
        account.roles.sort();
    }
    accounts.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let start_url = console
        .directory
        .identity_center()
        .map(|center| format!("https://{}.awsapps.com/start", center.identity_store_id))
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &HomePage {
            person: &person.session,
            accounts,
            start_url,
            region: "us-east-1",
            endpoint: &console.public_url,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct CredentialsQuery {
    account_id: String,
    role_name: String,
}

#[derive(Template)]
#[template(path = "console/portal_credentials.html")]
struct CredentialsPage<'a> {
    person: &'a PortalSession,
    account_id: &'a str,
    role_name: &'a str,
    expires: String,
    bash: String,
    powershell: String,
    profile: String,
}

/// `GET /start/credentials?account_id=..&role_name=..`: short-term credentials of the
/// permission set's role in the account, in the three forms people paste.
pub async fn credentials(
    State(console): State<Arc<Console>>,
    person: Person,
    Query(query): Query<CredentialsQuery>,
) -> Response {
    let directory = console.directory.clone();
    let user_id = person.session.user_id.clone();
    let (account_id, role_name) = (query.account_id.clone(), query.role_name.clone());
    let issued = blocking(move || {
        directory.sso_role_credentials(&user_id, &account_id, &role_name, Utc::now())
    })
    .await;
    let issued = match issued {
        Ok(issued) => issued,
        Err(error) => {
            return super::message_page(StatusCode::FORBIDDEN, "No access", &error.message, None);
        }
    };
    let session = &issued.session;
    let (id, secret, token) = (
        session.access_key_id.as_str(),
        session.secret_access_key.as_str(),
        issued.session_token.as_str(),
    );
    let endpoint = &console.public_url;
    render(
        StatusCode::OK,
        &CredentialsPage {
            person: &person.session,
            account_id: &query.account_id,
            role_name: &query.role_name,
            expires: date(session.expires),
            bash: format!(
                "export AWS_ACCESS_KEY_ID=\"{id}\"\nexport AWS_SECRET_ACCESS_KEY=\"{secret}\"\nexport AWS_SESSION_TOKEN=\"{token}\"\nexport AWS_ENDPOINT_URL=\"{endpoint}\"\n"
            ),
            powershell: format!(
                "$Env:AWS_ACCESS_KEY_ID=\"{id}\"\n$Env:AWS_SECRET_ACCESS_KEY=\"{secret}\"\n$Env:AWS_SESSION_TOKEN=\"{token}\"\n$Env:AWS_ENDPOINT_URL=\"{endpoint}\"\n"
            ),
            profile: format!(
                "[{}_{}]\naws_access_key_id={id}\naws_secret_access_key={secret}\naws_session_token={token}\nendpoint_url={endpoint}\n",
                query.account_id, query.role_name
            ),
        },
    )
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

impl std::fmt::Debug for SignOutForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOutForm").finish_non_exhaustive()
    }
}

/// `POST /start/signout`
pub async fn sign_out(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    person: Person,
    Form(form): Form<SignOutForm>,
) -> Response {
    if check_origin(&headers).is_err() || !super::same_token(&person.session.csrf_token, &form.csrf)
    {
        return ForgedForm.into_response();
    }
    if let Some(token) = super::cookie(&headers, PORTAL_COOKIE) {
        let directory = console.directory.clone();
        if let Err(error) = blocking(move || directory.end_session(&token, Utc::now())).await {
            return super::message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-out failed",
                &error.message,
                None,
            );
        }
    }
    let mut response = Redirect::to("/start/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        super::cookie_header(console.secure, PORTAL_COOKIE, "/start", "", 0),
    );
    response
}
