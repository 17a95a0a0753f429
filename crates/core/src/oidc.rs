//! IAM Identity Center's OIDC service (`sso-oidc`): client registration, the device
//! authorization grant (what `aws sso login --use-device-code` runs), refresh tokens, and the
//! bearer tokens the access portal takes.
//!
//! Client credentials and tokens are sealed under the master key rather than stored, so every
//! instance verifies them without a lookup (as sessions are, `docs/design/sessions.md`). A
//! device authorization is stored: the CLI polls one instance while the person approves on
//! another, and a device code must yield tokens once.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Directory;
use crate::error::{ErrorCode, IamError};
use crate::identity_mfa::{SignInPurpose, SignInStep};
use crate::ids::os_rng;
use crate::store::Change;

/// How long a user code and its device code can be approved and redeemed.
pub const DEVICE_CODE_TTL: Duration = Duration::minutes(10);
/// Seconds the client is told to wait between polls; faster polls get `slow_down`.
pub const POLL_INTERVAL_SECONDS: i64 = 1;
/// How long an access token works.
pub const ACCESS_TOKEN_TTL: Duration = Duration::hours(8);
/// How long a refresh token works.
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(7);
/// How long a registered client's credentials work (AWS: 90 days).
pub const CLIENT_TTL: Duration = Duration::days(90);
/// How long the proof of a sign-in on the verification page lets the person decide.
pub const APPROVAL_TTL: Duration = Duration::minutes(5);

pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// How long an authorization code can be exchanged.
pub const AUTHORIZATION_CODE_TTL: Duration = Duration::minutes(5);

/// User codes use letters that cannot be mistaken for one another or for digits, and no
/// vowels, so no word is spelled by accident.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

const CLIENT_AAD: &[u8] = b"latchkey/oidc-client/v1";
const TOKEN_AAD: &[u8] = b"latchkey/oidc-token/v1";
const APPROVAL_AAD: &[u8] = b"latchkey/oidc-approval/v1";
const CODE_AAD: &[u8] = b"latchkey/oidc-authorization-code/v1";
const ACCESS_TOKEN_PREFIX: &str = "aoa";
const REFRESH_TOKEN_PREFIX: &str = "aor";

/// What a registered client's secret carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientClaims {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// A registered client, as RegisterClient returns it.
#[derive(Debug)]
pub struct RegisteredClient {
    pub claims: ClientClaims,
    pub client_secret: Zeroizing<String>,
}

/// A stored device authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationRow {
    /// Lowercase hex SHA-256 of the device code.
    pub device_code_hash: String,
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub start_url: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub decision: Option<DeviceDecision>,
    /// When the device code was exchanged for tokens; it works once.
    pub redeemed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceDecision {
    Approved { user_id: String, at: DateTime<Utc> },
    Denied { at: DateTime<Utc> },
}

impl DeviceDecision {
    /// As the stores keep it: (`approved` | `denied`, the approving user, when).
    pub fn to_columns(
        decision: Option<&Self>,
    ) -> (Option<&'static str>, Option<String>, Option<DateTime<Utc>>) {
        match decision {
            None => (None, None, None),
            Some(DeviceDecision::Approved { user_id, at }) => {
                (Some("approved"), Some(user_id.clone()), Some(*at))
            }
            Some(DeviceDecision::Denied { at }) => (Some("denied"), None, Some(*at)),
        }
    }

    pub fn from_columns(
        decision: Option<String>,
        user_id: Option<String>,
        at: Option<DateTime<Utc>>,
    ) -> Option<Self> {
        match (decision.as_deref(), user_id, at) {
            (Some("approved"), Some(user_id), Some(at)) => {
                Some(DeviceDecision::Approved { user_id, at })
            }
            (Some("denied"), _, Some(at)) => Some(DeviceDecision::Denied { at }),
            _ => None,
        }
    }
}

/// StartDeviceAuthorization's answer.
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: Zeroizing<String>,
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What the verification page shows about a pending user code.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    pub user_code: String,
    pub client_name: String,
    pub scopes: Vec<String>,
}

/// What an access or refresh token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenClaims {
    pub refresh: bool,
    /// The identity-store user.
    pub user_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// CreateToken's input: the client's credentials, the grant, and each grant's own fields.
#[derive(Debug, Clone, Copy)]
pub struct TokenRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub grant_type: &'a str,
    pub device_code: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// CreateToken's answer.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: Zeroizing<String>,
    pub expires_in: i64,
    pub refresh_token: Option<Zeroizing<String>>,
}

/// Proof, carried by the verification page between sign-in and decision, that `user_id`
/// signed in to decide on `user_code`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApprovalTicket {
    user_id: String,
    user_code: String,
    expires: DateTime<Utc>,
}

/// A browser's authorization request (`GET /authorize`), as the page carries it from sign-in
/// to decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: String,
    pub scopes: Vec<String>,
}

/// What an authorization code carries; sealed, and spent once (the store records it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeClaims {
    request: AuthorizationRequest,
    user_id: String,
    expires: DateTime<Utc>,
    /// Makes every code distinct even for identical requests in one second.
    nonce: String,
}

/// The sign-in proof for an authorization request, between sign-in and decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthorizationTicket {
    request: AuthorizationRequest,
    user_id: String,
    expires: DateTime<Utc>,
}

/// A spent authorization code or a revoked access token: its hash, when it was spent, and
/// until when it would have worked (after which the record can go).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentTokenRow {
    pub token_hash: String,
    pub spent: DateTime<Utc>,
    pub expires: DateTime<Utc>,
}

/// Checks an authorization request's redirect URI: only loopback addresses, any port, as
/// for native apps (RFC 8252, section 7.3); nothing else could receive a code safely here.
pub fn check_redirect_uri(uri: &str) -> Result<(), IamError> {
    let rest = uri.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            ""
        }
    });
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(())
    } else {
        Err(oidc_error(
            ErrorCode::InvalidRequest,
            "The redirect URI must be a loopback address (http://127.0.0.1:<port>/...).",
        ))
    }
}

/// When each device code was last polled, per instance, for `slow_down`.
#[derive(Debug, Default)]
pub struct PollTimes(Mutex<HashMap<String, DateTime<Utc>>>);

fn oidc_error(code: ErrorCode, description: impl Into<String>) -> IamError {
    IamError::new(code, description)
}

fn invalid_client() -> IamError {
    oidc_error(ErrorCode::InvalidClient, "Invalid client credentials.")
}

fn hash(secret: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(secret.as_bytes()))
}

fn random_token(bytes: usize) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    os_rng().fill_bytes(&mut raw);
    Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_slice()))
}

/// `XXXX-XXXX` from [`USER_CODE_ALPHABET`]: about 35 bits, enough for a code that lives ten
/// minutes behind a sign-in.
fn new_user_code() -> String {
    let mut rng = os_rng();
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(char::from(
            USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())],
        ));
    }
    code
}

/// A user code as typed: case, spaces and the dash do not matter.
pub fn normalize_user_code(typed: &str) -> String {
    let letters: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() == 8 {
        format!("{}-{}", &letters[..4], &letters[4..])
    } else {
        letters
    }
}

impl Directory {
    pub(crate) fn seal_json<T: Serialize>(&self, value: &T, aad: &[u8]) -> String {
        let plain = Zeroizing::new(serde_json::to_vec(value).expect("claims serialize"));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.master().seal(&plain, aad))
    }

    pub(crate) fn open_json<T: for<'de> Deserialize<'de>>(
        &self,
        sealed: &str,
        aad: &[u8],
    ) -> Option<T> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .ok()?;
        let plain = self.master().open(&bytes, aad).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// RegisterClient.
    pub fn register_oidc_client(
        &self,
        name: &str,
        client_type: &str,
        scopes: Vec<String>,
        grant_types: Vec<String>,
        redirect_uris: Vec<String>,
        at: DateTime<Utc>,
    ) -> Result<RegisteredClient, IamError> {
        if client_type != "public" {
            return Err(oidc_error(
                ErrorCode::InvalidClientMetadata,
                "Only public clients are supported.",
            ));
        }
        if name.is_empty() || name.len() > 256 {
            return Err(oidc_error(
                ErrorCode::InvalidClientMetadata,
                "The client name must have 1 to 256 characters.",
            ));
        }
        for grant in &grant_types {
            if grant != GRANT_DEVICE_CODE
                && grant != GRANT_REFRESH_TOKEN
                && grant != GRANT_AUTHORIZATION_CODE
            {
                return Err(oidc_error(
                    ErrorCode::UnsupportedGrantType,
                    format!("Unsupported grant type: {grant}"),
                ));
            }
        }
        let claims = ClientClaims {
            client_id: random_token(16).to_string(),
            name: name.to_owned(),
            scopes,
            grant_types,
            redirect_uris,
            issued: at,
            expires: at + CLIENT_TTL,
        };
        let client_secret = Zeroizing::new(self.seal_json(&claims, CLIENT_AAD));
        Ok(RegisteredClient {
            claims,
            client_secret,
        })
    }

    fn client(
        &self,
        client_id: &str,
        client_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<ClientClaims, IamError> {
        self.open_json::<ClientClaims>(client_secret, CLIENT_AAD)
            .filter(|c| c.client_id == client_id && at < c.expires)
            .ok_or_else(invalid_client)
    }

    /// StartDeviceAuthorization: a device code for the client, a user code for the person.
    pub fn start_device_authorization(
        &self,
        client_id: &str,
        client_secret: &str,
        start_url: &str,
        at: DateTime<Utc>,
    ) -> Result<DeviceAuthorization, IamError> {
        let client = self.client(client_id, client_secret, at)?;
        if !client.grant_types.is_empty()
            && !client.grant_types.iter().any(|g| g == GRANT_DEVICE_CODE)
        {
            return Err(oidc_error(
                ErrorCode::UnauthorizedClient,
                "The client is not registered for the device code grant.",
            ));
        }
        let device_code = random_token(32);
        let ((), _) = self.write(|state| {
            // A fresh user code, unique among the codes still pending.
            let user_code = loop {
                let code = new_user_code();
                if !state
                    .device_authorizations
                    .values()
                    .any(|d| d.user_code == code && at < d.expires)
                {
                    break code;
                }
            };
            Ok((
                vec![Change::CreateDeviceAuthorization(DeviceAuthorizationRow {
                    device_code_hash: hash(&device_code),
                    user_code,
                    client_id: client.client_id.clone(),
                    client_name: client.name.clone(),
                    scopes: client.scopes.clone(),
                    start_url: start_url.to_owned(),
                    created: at,
                    expires: at + DEVICE_CODE_TTL,
                    decision: None,
                    redeemed: None,
                })],
                (),
            ))
        })?;
        let row = self
            .snapshot()
            .device_authorizations
            .get(&hash(&device_code))
            .cloned()
            .ok_or_else(IamError::service_failure)?;
        Ok(DeviceAuthorization {
            device_code,
            user_code: row.user_code.clone(),
            expires_in: DEVICE_CODE_TTL.num_seconds(),
            interval: POLL_INTERVAL_SECONDS,
        })
    }

    /// The pending authorization a person's typed user code names.
    pub fn pending_device(&self, user_code: &str, at: DateTime<Utc>) -> Option<PendingDevice> {
        let code = normalize_user_code(user_code);
        let state = self.snapshot();
        state
            .device_authorizations
            .values()
            .find(|d| d.user_code == code && d.decision.is_none() && at < d.expires)
            .map(|d| PendingDevice {
                user_code: d.user_code.clone(),
                client_name: d.client_name.clone(),
                scopes: d.scopes.clone(),
            })
    }

    /// Signs an identity-store user in on the verification page with their password: a
    /// ticket that lets them decide on `user_code` for a few minutes, or the second factor
    /// to ask for first ([`SignInStep`]).
    pub fn device_sign_in(
        &self,
        user_code: &str,
        user_name: &str,
        password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignInStep, IamError> {
        let pending = self.pending_device(user_code, at).ok_or_else(|| {
            oidc_error(
                ErrorCode::InvalidGrant,
                "The code is not valid or has expired.",
            )
        })?;
        if !self.verify_identity_password(user_name, password) {
            return Err(oidc_error(
                ErrorCode::OidcAccessDenied,
                "The user name or password is not correct.",
            ));
        }
        let state = self.snapshot();
        let user_id = state
            .identity_store
            .users_by_name
            .get(&user_name.to_lowercase())
            .cloned()
            .ok_or_else(|| {
                oidc_error(
                    ErrorCode::OidcAccessDenied,
                    "The user name or password is not correct.",
                )
            })?;
        Ok(self.after_password(
            &user_id,
            SignInPurpose::Device {
                user_code: pending.user_code,
            },
            at,
            |purpose| self.purpose_ticket(user_id.clone(), purpose, at),
        ))
    }

    /// The ticket that lets a signed-in person decide on what they signed in for.
    pub(crate) fn purpose_ticket(
        &self,
        user_id: String,
        purpose: SignInPurpose,
        at: DateTime<Utc>,
    ) -> String {
        let expires = at + APPROVAL_TTL;
        match purpose {
            SignInPurpose::Device { user_code } => self.seal_json(
                &ApprovalTicket {
                    user_id,
                    user_code,
                    expires,
                },
                APPROVAL_AAD,
            ),
            SignInPurpose::Authorize { request } => self.seal_json(
                &AuthorizationTicket {
                    request,
                    user_id,
                    expires,
                },
                APPROVAL_AAD,
            ),
            SignInPurpose::Invitation => String::new(),
            SignInPurpose::Portal => self.new_portal_session(user_id, at),
        }
    }

    /// The person's decision on the verification page, with the ticket of their sign-in.
    pub fn decide_device(
        &self,
        ticket: &str,
        allow: bool,
        at: DateTime<Utc>,
    ) -> Result<PendingDevice, IamError> {
        let ticket: ApprovalTicket = self
            .open_json(ticket, APPROVAL_AAD)
            .filter(|t: &ApprovalTicket| at < t.expires)
            .ok_or_else(|| {
                oidc_error(
                    ErrorCode::InvalidGrant,
                    "The sign-in has expired; sign in again.",
                )
            })?;
        let (pending, _) = self.write(|state| {
            let row = state
                .device_authorizations
                .values()
                .find(|d| d.user_code == ticket.user_code && d.decision.is_none() && at < d.expires)
                .ok_or_else(|| {
                    oidc_error(
                        ErrorCode::InvalidGrant,
                        "The code is not valid or has expired.",
                    )
                })?;
            let decision = if allow {
                DeviceDecision::Approved {
                    user_id: ticket.user_id.clone(),
                    at,
                }
            } else {
                DeviceDecision::Denied { at }
            };
            Ok((
                vec![Change::DecideDeviceAuthorization {
                    device_code_hash: row.device_code_hash.clone(),
                    decision,
                }],
                PendingDevice {
                    user_code: row.user_code.clone(),
                    client_name: row.client_name.clone(),
                    scopes: row.scopes.clone(),
                },
            ))
        })?;
        Ok(pending)
    }

    fn issue_tokens(
        &self,
        user_id: &str,
        client: &ClientClaims,
        at: DateTime<Utc>,
    ) -> IssuedTokens {
        let access = TokenClaims {
            refresh: false,
            user_id: user_id.to_owned(),
            client_id: client.client_id.clone(),
            scopes: client.scopes.clone(),
            issued: at,
            expires: at + ACCESS_TOKEN_TTL,
        };
        // Refresh tokens go to clients that registered the grant, and, as AWS does, to those
        // that registered scopes without naming grants (the CLI's `sso-session` device flow).
        let refreshable = client.grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN)
            || (client.grant_types.is_empty() && !client.scopes.is_empty());
        let refresh_token = refreshable.then(|| {
            let claims = TokenClaims {
                refresh: true,
                expires: at + REFRESH_TOKEN_TTL,
                ..access.clone()
            };
            Zeroizing::new(format!(
                "{REFRESH_TOKEN_PREFIX}{}",
                self.seal_json(&claims, TOKEN_AAD)
            ))
        });
        IssuedTokens {
            access_token: Zeroizing::new(format!(
                "{ACCESS_TOKEN_PREFIX}{}",
                self.seal_json(&access, TOKEN_AAD)
            )),
            expires_in: ACCESS_TOKEN_TTL.num_seconds(),
            refresh_token,
        }
    }

    /// CreateToken with the device code, authorization code or refresh token grant.
    pub fn create_oidc_token(
        &self,
        request: &TokenRequest<'_>,
        polls: &PollTimes,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, IamError> {
        let TokenRequest {
            client_id,
            client_secret,
            grant_type,
            device_code,
            refresh_token,
            code,
            redirect_uri,
            code_verifier,
        } = *request;
        let client = self.client(client_id, client_secret, at)?;
        match grant_type {
            GRANT_DEVICE_CODE => {
                let device_code = device_code.ok_or_else(|| {
                    oidc_error(ErrorCode::InvalidRequest, "deviceCode is required.")
                })?;
                self.redeem_device_code(&client, device_code, polls, at)
            }
            GRANT_REFRESH_TOKEN => {
                let claims = refresh_token
                    .and_then(|t| t.strip_prefix(REFRESH_TOKEN_PREFIX))
                    .and_then(|t| self.open_json::<TokenClaims>(t, TOKEN_AAD))
                    .filter(|c| c.refresh && c.client_id == client.client_id && at < c.expires)
                    .ok_or_else(|| {
                        oidc_error(ErrorCode::InvalidGrant, "Invalid refresh token provided")
                    })?;
                if !self
                    .snapshot()
                    .identity_store
                    .users
                    .contains_key(&claims.user_id)
                {
                    return Err(oidc_error(
                        ErrorCode::InvalidGrant,
                        "Invalid refresh token provided",
                    ));
                }
                Ok(self.issue_tokens(&claims.user_id, &client, at))
            }
            GRANT_AUTHORIZATION_CODE => {
                let code =
                    code.ok_or_else(|| oidc_error(ErrorCode::InvalidRequest, "code is required."))?;
                self.redeem_authorization_code(&client, code, redirect_uri, code_verifier, at)
            }
            other => Err(oidc_error(
                ErrorCode::UnsupportedGrantType,
                format!("Unsupported grant type: {other}"),
            )),
        }
    }

    fn redeem_device_code(
        &self,
        client: &ClientClaims,
        device_code: &str,
        polls: &PollTimes,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, IamError> {
        let device_hash = hash(device_code);
        let state = self.snapshot();
        let row = state
            .device_authorizations
            .get(&device_hash)
            .filter(|d| d.client_id == client.client_id)
            .ok_or_else(|| oidc_error(ErrorCode::InvalidGrant, "Invalid device code provided"))?;
        if row.redeemed.is_some() {
            return Err(oidc_error(
                ErrorCode::InvalidGrant,
                "Invalid device code provided",
            ));
        }
        if at >= row.expires {
            return Err(oidc_error(
                ErrorCode::OidcExpiredToken,
                "Device code has expired",
            ));
        }
        match &row.decision {
            None => {
                let mut polls = polls.0.lock().unwrap_or_else(|p| p.into_inner());
                polls.retain(|_, last| at - *last < DEVICE_CODE_TTL);
                let previous = polls.insert(device_hash, at);
                if previous.is_some_and(|last| at - last < Duration::seconds(POLL_INTERVAL_SECONDS))
                {
                    return Err(oidc_error(
                        ErrorCode::SlowDown,
                        "Client is polling too fast",
                    ));
                }
                Err(oidc_error(
                    ErrorCode::AuthorizationPending,
                    "Authorization is still pending",
                ))
            }
            Some(DeviceDecision::Denied { .. }) => Err(oidc_error(
                ErrorCode::OidcAccessDenied,
                "The user denied the authorization request.",
            )),
            Some(DeviceDecision::Approved { user_id, .. }) => {
                let user_id = user_id.clone();
                self.write(|state| {
                    // Another instance may have redeemed it since our snapshot.
                    if state
                        .device_authorizations
                        .get(&device_hash)
                        .is_none_or(|d| d.redeemed.is_some())
                    {
                        return Err(oidc_error(
                            ErrorCode::InvalidGrant,
                            "Invalid device code provided",
                        ));
                    }
                    Ok((
                        vec![Change::RedeemDeviceAuthorization {
                            device_code_hash: device_hash.clone(),
                            at,
                        }],
                        (),
                    ))
                })?;
                Ok(self.issue_tokens(&user_id, client, at))
            }
        }
    }

    /// Signs an identity-store user in for a browser's authorization request: a ticket that
    /// lets them decide on it for a few minutes, or the second factor to ask for first.
    pub fn authorization_sign_in(
        &self,
        request: AuthorizationRequest,
        user_name: &str,
        password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignInStep, IamError> {
        check_redirect_uri(&request.redirect_uri)?;
        let denied = || {
            oidc_error(
                ErrorCode::OidcAccessDenied,
                "The user name or password is not correct.",
            )
        };
        if !self.verify_identity_password(user_name, password) {
            return Err(denied());
        }
        let user_id = self
            .snapshot()
            .identity_store
            .users_by_name
            .get(&user_name.to_lowercase())
            .cloned()
            .ok_or_else(denied)?;
        Ok(self.after_password(
            &user_id,
            SignInPurpose::Authorize { request },
            at,
            |purpose| self.purpose_ticket(user_id.clone(), purpose, at),
        ))
    }

    /// The authorization request a sign-in ticket is for, if it is still valid.
    pub fn authorization_ticket(
        &self,
        ticket: &str,
        at: DateTime<Utc>,
    ) -> Option<AuthorizationRequest> {
        self.open_json::<AuthorizationTicket>(ticket, APPROVAL_AAD)
            .filter(|t| at < t.expires)
            .map(|t| t.request)
    }

    /// Allowing a signed-in authorization request: the code for the redirect.
    pub fn authorization_code(&self, ticket: &str, at: DateTime<Utc>) -> Result<String, IamError> {
        let ticket: AuthorizationTicket = self
            .open_json(ticket, APPROVAL_AAD)
            .filter(|t: &AuthorizationTicket| at < t.expires)
            .ok_or_else(|| {
                oidc_error(
                    ErrorCode::InvalidGrant,
                    "The sign-in has expired; sign in again.",
                )
            })?;
        Ok(self.seal_json(
            &CodeClaims {
                request: ticket.request,
                user_id: ticket.user_id,
                expires: at + AUTHORIZATION_CODE_TTL,
                nonce: random_token(12).to_string(),
            },
            CODE_AAD,
        ))
    }

    fn redeem_authorization_code(
        &self,
        client: &ClientClaims,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, IamError> {
        let invalid = || {
            oidc_error(
                ErrorCode::InvalidGrant,
                "Invalid authorization code provided",
            )
        };
        let claims: CodeClaims = self
            .open_json(code, CODE_AAD)
            .filter(|c: &CodeClaims| c.request.client_id == client.client_id && at < c.expires)
            .ok_or_else(invalid)?;
        if redirect_uri != Some(claims.request.redirect_uri.as_str()) {
            return Err(invalid());
        }
        // PKCE (RFC 7636, S256): the verifier must hash to the challenge the browser carried.
        let verifier = code_verifier.ok_or_else(invalid)?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            challenge.as_bytes(),
            claims.request.code_challenge.as_bytes(),
        )) {
            return Err(invalid());
        }
        let token_hash = hash(code);
        self.write(|state| {
            if state.spent_tokens.contains_key(&token_hash) {
                return Err(invalid());
            }
            Ok((
                vec![Change::SpendToken(SpentTokenRow {
                    token_hash: token_hash.clone(),
                    spent: at,
                    expires: claims.expires,
                })],
                (),
            ))
        })
        .map_err(|e| {
            if e.code == ErrorCode::ServiceFailure {
                e
            } else {
                invalid()
            }
        })?;
        Ok(self.issue_tokens(&claims.user_id, client, at))
    }

    /// The identity-store user an access token (the portal's bearer token) stands for, while
    /// the token is unexpired, not logged out, and the user exists.
    pub fn oidc_access_token_user(&self, token: &str, at: DateTime<Utc>) -> Option<TokenClaims> {
        let claims = token
            .strip_prefix(ACCESS_TOKEN_PREFIX)
            .and_then(|t| self.open_json::<TokenClaims>(t, TOKEN_AAD))
            .filter(|c| !c.refresh && at < c.expires)?;
        let state = self.snapshot();
        (state.identity_store.users.contains_key(&claims.user_id)
            && !state.spent_tokens.contains_key(&hash(token)))
        .then_some(claims)
    }

    /// The access portal's Logout: the access token stops working on every instance.
    pub fn revoke_access_token(&self, token: &str, at: DateTime<Utc>) -> Result<(), IamError> {
        let claims = self.oidc_access_token_user(token, at).ok_or_else(|| {
            IamError::new(
                ErrorCode::Unauthorized,
                "Session token not found or invalid",
            )
        })?;
        let token_hash = hash(token);
        self.write(|state| {
            if state.spent_tokens.contains_key(&token_hash) {
                return Ok((Vec::new(), ()));
            }
            Ok((
                vec![Change::SpendToken(SpentTokenRow {
                    token_hash: token_hash.clone(),
                    spent: at,
                    expires: claims.expires,
                })],
                (),
            ))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_two_groups_of_four_unambiguous_letters() {
        for _ in 0..100 {
            let code = new_user_code();
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert!(
                code.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| USER_CODE_ALPHABET.contains(&b))
            );
        }
        assert_eq!(normalize_user_code(" bcdf ghjk"), "BCDF-GHJK");
        assert_eq!(normalize_user_code("BCDF-GHJK"), "BCDF-GHJK");
    }
}
