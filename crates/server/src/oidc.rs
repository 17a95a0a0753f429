//! SSO OIDC over HTTP (rest-json, unsigned): `POST /client/register`,
//! `POST /device_authorization`, `POST /token`; and the verification page at `/device` where a
//! person signs in and allows or denies a device.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use latchkey_core::identity_mfa::SignInPurpose;
use latchkey_core::oidc::{
    AuthorizationRequest, PollTimes, TokenRequest, check_redirect_uri, normalize_user_code,
};
use latchkey_core::{Directory, ErrorCode, IamError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit;
use crate::html::{escape, page};
use crate::rest::{self, ok};
use crate::throttle::{FailureThrottle, Limit};

pub struct Oidc {
    pub directory: Arc<Directory>,
    pub polls: PollTimes,
    /// Where people reach this server: the verification URI is built from it.
    pub public_url: String,
    /// Failed sign-ins per source address and per user name.
    pub sign_in_failures: SignInThrottle,
}

/// Password guessing on the sign-in pages is slowed per source address (20 failures, then one
/// every 5 s) and per user name (10, then one every 10 s), whichever is hit first.
#[derive(Debug)]
pub struct SignInThrottle {
    by_address: FailureThrottle,
    by_user: FailureThrottle,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle {
            by_address: FailureThrottle::new(Limit {
                burst: 20.0,
                per_second: 0.2,
            }),
            by_user: FailureThrottle::new(Limit {
                burst: 10.0,
                per_second: 0.1,
            }),
        }
    }
}

impl SignInThrottle {
    /// Seconds to wait before `user` may try from `address`, if any.
    pub(crate) fn wait(&self, address: IpAddr, user: &str) -> Option<u64> {
        let by_address = self.by_address.wait(&address.to_string());
        let by_user = self.by_user.wait(&user.to_lowercase());
        by_address
            .max(by_user)
            .map(|wait| wait.as_secs_f64().ceil() as u64)
    }

    pub(crate) fn fail(&self, address: IpAddr, user: &str) {
        self.by_address.fail(&address.to_string());
        self.by_user.fail(&user.to_lowercase());
    }
}

pub(crate) fn too_many_attempts(seconds: u64) -> Response {
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        &format!("<p role=\"alert\">Too many failed sign-ins. Try again in {seconds} seconds.</p>"),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl Oidc {
    /// Whether people reach this server over HTTPS, so session cookies are marked Secure.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// The error SSO OIDC sends: the OAuth body and the code in `x-amzn-ErrorType`.
fn error_response(error: &IamError) -> Response {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "error": error.code.oauth_error().unwrap_or("server_error"),
        "error_description": error.message,
    });
    rest::response(status, &body, Some(error.code.as_str()))
}

fn invalid_request(message: &str) -> IamError {
    IamError::new(ErrorCode::InvalidRequest, message)
}

fn parse(body: &Bytes) -> Result<Value, IamError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| invalid_request("The request body is not valid JSON."))?;
    if !value.is_object() {
        return Err(invalid_request("The request body is not a JSON object."));
    }
    Ok(value)
}

fn text<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, IamError> {
    text(input, name).ok_or_else(|| invalid_request(&format!("{name} is required.")))
}

fn strings(input: &Value, name: &str) -> Vec<String> {
    input
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a blocking domain call (writes wait for the disk) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IamError> + Send + 'static,
) -> Result<T, IamError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(IamError::service_failure()))
}

/// The `eventSource` of SSO OIDC's calls, as AWS records them.
const EVENT_SOURCE: &str = "sso-oauth.amazonaws.com";

/// The call's audit draft: SSO OIDC's callers are clients, not signed principals; its
/// parameters are the JSON body (secrets, codes and tokens redacted).
fn draft(
    oidc: &Oidc,
    event_name: &str,
    body: &[u8],
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Option<latchkey_core::audit::EventDraft> {
    audit::unsigned_draft(
        &oidc.directory,
        None,
        EVENT_SOURCE,
        event_name,
        serde_json::from_slice(body).unwrap_or(Value::Null),
        &audit::Client::of(peer, headers),
        false,
    )
}

/// `POST /client/register`
pub async fn register_client(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let draft = draft(&oidc, "RegisterClient", &body, peer, &headers);
    let result = audit::run(&oidc.directory, draft, || {
        parse(&body).and_then(|input| {
            oidc.directory.register_oidc_client(
                required(&input, "clientName")?,
                required(&input, "clientType")?,
                strings(&input, "scopes"),
                strings(&input, "grantTypes"),
                strings(&input, "redirectUris"),
                Utc::now(),
            )
        })
    });
    match result {
        Ok(client) => ok(json!({
            "clientId": client.claims.client_id,
            "clientSecret": client.client_secret.as_str(),
            "clientIdIssuedAt": client.claims.issued.timestamp(),
            "clientSecretExpiresAt": client.claims.expires.timestamp(),
        })),
        Err(error) => error_response(&error),
    }
}

/// `POST /device_authorization`
pub async fn start_device_authorization(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let draft = draft(&oidc, "StartDeviceAuthorization", &body, peer, &headers);
    let input = match parse(&body) {
        Ok(input) => input,
        Err(error) => {
            audit::conclude(&oidc.directory, draft, &Err::<(), _>(error.clone()));
            return error_response(&error);
        }
    };
    let directory = oidc.directory.clone();
    let result = blocking(move || {
        audit::run(&directory, draft, || {
            directory.start_device_authorization(
                required(&input, "clientId")?,
                required(&input, "clientSecret")?,
                required(&input, "startUrl")?,
                Utc::now(),
            )
        })
    })
    .await;
    match result {
        Ok(started) => {
            let verification = format!("{}/device", oidc.public_url);
            ok(json!({
                "deviceCode": started.device_code.as_str(),
                "userCode": started.user_code,
                "verificationUri": verification,
                "verificationUriComplete": format!("{verification}?user_code={}", started.user_code),
                "expiresIn": started.expires_in,
                "interval": started.interval,
            }))
        }
        Err(error) => error_response(&error),
    }
}

/// `POST /token`
pub async fn create_token(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let draft = draft(&oidc, "CreateToken", &body, peer, &headers);
    let input = match parse(&body) {
        Ok(input) => input,
        Err(error) => {
            audit::conclude(&oidc.directory, draft, &Err::<(), _>(error.clone()));
            return error_response(&error);
        }
    };
    let state = oidc.clone();
    let result = blocking(move || {
        let directory = state.directory.clone();
        audit::run(&directory, draft, || {
            let request = TokenRequest {
                client_id: required(&input, "clientId")?,
                client_secret: required(&input, "clientSecret")?,
                grant_type: required(&input, "grantType")?,
                device_code: text(&input, "deviceCode"),
                refresh_token: text(&input, "refreshToken"),
                code: text(&input, "code"),
                redirect_uri: text(&input, "redirectUri"),
                code_verifier: text(&input, "codeVerifier"),
            };
            state
                .directory
                .create_oidc_token(&request, &state.polls, Utc::now())
        })
    })
    .await;
    match result {
        Ok(tokens) => {
            let mut body = json!({
                "accessToken": tokens.access_token.as_str(),
                "tokenType": "Bearer",
                "expiresIn": tokens.expires_in,
            });
            if let Some(refresh) = &tokens.refresh_token {
                body["refreshToken"] = Value::from(refresh.as_str());
            }
            ok(body)
        }
        Err(error) => error_response(&error),
    }
}

// --- the verification page ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct Code {
    user_code: Option<String>,
}

#[derive(Deserialize)]
pub struct SignIn {
    user_code: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("user_code", &self.user_code)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
pub struct Decision {
    ticket: String,
    decision: String,
}

fn sign_in_form(user_code: &str, alert: Option<&str>) -> String {
    let alert = alert
        .map(|a| format!("<p role=\"alert\">{}</p>\n", escape(a)))
        .unwrap_or_default();
    format!(
        "<p>Sign in to allow a device or application to use your access.</p>\n{alert}\
         <form method=\"post\" action=\"/device\">\n\
         <p><label for=\"user_code\">Code</label><br>\
         <input id=\"user_code\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" required></p>\n\
         <p><label for=\"username\">Username</label><br>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required></p>\n\
         <p><label for=\"password\">Password</label><br>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>",
        code = escape(user_code),
    )
}

/// `GET /device?user_code=...`
pub async fn device_page(Query(code): Query<Code>) -> Response {
    page(
        StatusCode::OK,
        "Authorize request",
        &sign_in_form(code.user_code.as_deref().unwrap_or(""), None),
    )
}

/// `POST /device`: sign in, then the approval form.
pub async fn device_sign_in(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(input): Form<SignIn>,
) -> Response {
    if let Some(seconds) = oidc.sign_in_failures.wait(peer.ip(), &input.username) {
        return too_many_attempts(seconds);
    }
    let directory = oidc.directory.clone();
    let code = input.user_code.clone();
    let user = input.username.clone();
    let result = blocking(move || {
        directory.device_sign_in(
            &input.user_code,
            &input.username,
            &input.password,
            Utc::now(),
        )
    })
    .await;
    match result {
        Ok(step) => {
            let purpose = SignInPurpose::Device {
                user_code: normalize_user_code(&code),
            };
            crate::second_factor::next_step(&oidc, step, &purpose).await
        }
        Err(error) => {
            if error.code == ErrorCode::OidcAccessDenied {
                oidc.sign_in_failures.fail(peer.ip(), &user);
            }
            page(
                if error.code == ErrorCode::OidcAccessDenied {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                },
                "Authorize request",
                &sign_in_form(&normalize_user_code(&code), Some(&error.message)),
            )
        }
    }
}

/// The Allow/Deny form for a device, once the person is signed in.
pub(crate) async fn device_approval(oidc: &Oidc, ticket: &str, user_code: &str) -> Response {
    let directory = oidc.directory.clone();
    let code = user_code.to_owned();
    let pending = blocking(move || {
        directory.pending_device(&code, Utc::now()).ok_or_else(|| {
            IamError::new(
                ErrorCode::InvalidGrant,
                "The code is not valid or has expired.",
            )
        })
    })
    .await;
    match pending {
        Ok(pending) => page(
            StatusCode::OK,
            "Allow access?",
            &format!(
                "<p><strong>{client}</strong> is asking to use your access{scopes}.</p>\n\
                 <p>Code: <strong id=\"user-code\">{code}</strong>. Allow only if this is the code \
                 your device or terminal shows.</p>\n\
                 <form method=\"post\" action=\"/device/decision\">\n\
                 <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n\
                 <p><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
                 <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p>\n</form>",
                client = escape(&pending.client_name),
                scopes = if pending.scopes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", escape(&pending.scopes.join(", ")))
                },
                code = escape(&pending.user_code),
                ticket = escape(ticket),
            ),
        ),
        Err(error) => page(
            StatusCode::BAD_REQUEST,
            "Authorize request",
            &sign_in_form(user_code, Some(&error.message)),
        ),
    }
}

/// `POST /device/decision`: Allow or Deny.
pub async fn device_decision(
    State(oidc): State<Arc<Oidc>>,
    Form(input): Form<Decision>,
) -> Response {
    let allow = match input.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Authorize request",
                "<p role=\"alert\">Choose Allow or Deny.</p>",
            );
        }
    };
    let directory = oidc.directory.clone();
    let result = blocking(move || directory.decide_device(&input.ticket, allow, Utc::now())).await;
    match result {
        Ok(pending) if allow => page(
            StatusCode::OK,
            "Request approved",
            &format!(
                "<p role=\"status\">{} now has your access. You can close this window.</p>",
                escape(&pending.client_name)
            ),
        ),
        Ok(_) => page(
            StatusCode::OK,
            "Request denied",
            "<p role=\"status\">The request was denied. You can close this window.</p>",
        ),
        Err(error) => page(
            StatusCode::BAD_REQUEST,
            "Authorize request",
            &format!("<p role=\"alert\">{}</p>", escape(&error.message)),
        ),
    }
}

// --- the browser flow: GET /authorize (authorization code with PKCE) ---------------------------

/// `GET /authorize` as the CLI opens it, and the sign-in form's hidden copy of it.
#[derive(Debug, Deserialize)]
pub struct Authorize {
    response_type: Option<String>,
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// The CLI sends `scopes` (comma or space separated); OAuth clients send `scope`.
    scopes: Option<String>,
    scope: Option<String>,
}

#[derive(Deserialize)]
pub struct AuthorizeSignIn {
    request: String,
    username: String,
    password: String,
}

impl std::fmt::Debug for AuthorizeSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeSignIn")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn authorization_request(query: Authorize) -> Result<AuthorizationRequest, String> {
    if query.response_type.as_deref() != Some("code") {
        return Err("response_type must be code.".into());
    }
    if query.code_challenge_method.as_deref() != Some("S256") {
        return Err("code_challenge_method must be S256 (PKCE).".into());
    }
    let code_challenge = query
        .code_challenge
        .filter(|c| (43..=128).contains(&c.len()))
        .ok_or("code_challenge is required (43 to 128 characters).")?;
    check_redirect_uri(&query.redirect_uri).map_err(|e| e.message)?;
    let scopes = query
        .scopes
        .or(query.scope)
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(AuthorizationRequest {
        client_id: query.client_id,
        redirect_uri: query.redirect_uri,
        state: query.state.unwrap_or_default(),
        code_challenge,
        scopes,
    })
}

fn authorize_form(request_json: &str, alert: Option<&str>) -> String {
    let alert = alert
        .map(|a| format!("<p role=\"alert\">{}</p>\n", escape(a)))
        .unwrap_or_default();
    format!(
        "<p>Sign in to let the application on this computer use your access.</p>\n{alert}\
         <form method=\"post\" action=\"/authorize\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\n\
         <p><label for=\"username\">Username</label><br>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required></p>\n\
         <p><label for=\"password\">Password</label><br>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\n\
         <p><button type=\"submit\">Sign in</button></p>\n</form>",
        request = escape(request_json),
    )
}

/// Where the browser goes back to the application: the redirect URI with these parameters.
fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /authorize?response_type=code&client_id=..&redirect_uri=..&code_challenge=..`
pub async fn authorize_page(Query(query): Query<Authorize>) -> Response {
    match authorization_request(query) {
        Ok(request) => page(
            StatusCode::OK,
            "Sign in",
            &authorize_form(&serde_json::to_string(&request).unwrap_or_default(), None),
        ),
        Err(message) => page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            &format!("<p role=\"alert\">{}</p>", escape(&message)),
        ),
    }
}

/// `POST /authorize`: sign in, then Allow or Deny.
pub async fn authorize_sign_in(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(input): Form<AuthorizeSignIn>,
) -> Response {
    if let Some(seconds) = oidc.sign_in_failures.wait(peer.ip(), &input.username) {
        return too_many_attempts(seconds);
    }
    let Ok(request) = serde_json::from_str::<AuthorizationRequest>(&input.request) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<p role=\"alert\">The sign-in request is not valid; start again from the application.</p>",
        );
    };
    let directory = oidc.directory.clone();
    let attempt = request.clone();
    let user = input.username.clone();
    let password = input.password.clone();
    let result =
        blocking(move || directory.authorization_sign_in(attempt, &user, &password, Utc::now()))
            .await;
    match result {
        Ok(step) => {
            crate::second_factor::next_step(&oidc, step, &SignInPurpose::Authorize { request })
                .await
        }
        Err(error) => {
            oidc.sign_in_failures.fail(peer.ip(), &input.username);
            page(
                StatusCode::UNAUTHORIZED,
                "Sign in",
                &authorize_form(&input.request, Some(&error.message)),
            )
        }
    }
}

/// The Allow/Deny form for a browser's authorization request, once the person is signed in.
pub(crate) fn authorize_approval(ticket: &str, client_id: &str) -> Response {
    page(
        StatusCode::OK,
        "Allow access?",
        &format!(
            "<p>An application on this computer (client <code>{client}</code>) is asking to \
             use your access.</p>\n\
             <form method=\"post\" action=\"/authorize/decision\">\n\
             <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n\
             <p><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p>\n</form>",
            client = escape(client_id),
            ticket = escape(ticket),
        ),
    )
}

/// `POST /authorize/decision`: back to the application with a code, or with `access_denied`.
pub async fn authorize_decision(
    State(oidc): State<Arc<Oidc>>,
    Form(input): Form<Decision>,
) -> Response {
    let at = Utc::now();
    let Some(request) = oidc.directory.authorization_ticket(&input.ticket, at) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<p role=\"alert\">The sign-in has expired; start again from the application.</p>",
        );
    };
    if input.decision != "allow" {
        return redirect(
            &request.redirect_uri,
            &[("error", "access_denied"), ("state", &request.state)],
        );
    }
    match oidc.directory.authorization_code(&input.ticket, at) {
        Ok(code) => redirect(
            &request.redirect_uri,
            &[("code", &code), ("state", &request.state)],
        ),
        Err(error) => page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            &format!("<p role=\"alert\">{}</p>", escape(&error.message)),
        ),
    }
}
