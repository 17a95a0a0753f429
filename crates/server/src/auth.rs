//! Authentication: which principal signed this request, decided from the snapshot alone.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use latchkey_core::model::{AccessKey, KeyStatus, Principal};
use latchkey_core::state::State;
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_sigv4::{HttpRequest, SigV4Error, SigningKey};

use crate::operation::Service;

/// A verified caller and what its request says about where it comes from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The access key id the request was signed with (long-term or temporary).
    pub access_key_id: String,
    /// The long-term key that signed the request; `None` for temporary credentials.
    pub key: Option<Arc<AccessKey>>,
    /// The region and service of the credential scope the request was signed for.
    pub region: String,
    pub service: Service,
    pub at: DateTime<Utc>,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub secure_transport: bool,
}

/// Where a request came from, as the transport saw it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub at: DateTime<Utc>,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub secure_transport: bool,
}

/// Maps the verifier's errors onto the domain's error codes, keeping its message.
pub fn sigv4_error(error: SigV4Error) -> IamError {
    let code = match error.code() {
        "MissingAuthenticationToken" => ErrorCode::MissingAuthenticationToken,
        "IncompleteSignature" => ErrorCode::IncompleteSignature,
        "InvalidClientTokenId" => ErrorCode::InvalidClientTokenId,
        "RequestExpired" => ErrorCode::RequestExpired,
        "RequestTimeTooSkewed" => ErrorCode::RequestTimeTooSkewed,
        _ => ErrorCode::SignatureDoesNotMatch,
    };
    IamError::new(code, error.message())
}

/// The longest access key id worth remembering a failure for; AWS's are 20 characters.
const MAX_KEY_ID_LEN: usize = 128;

/// The access key id a request names, whether or not it exists or the signature holds; for
/// counting failed authentications per key (docs/design/throttling.md).
pub fn presented_access_key_id(request: &HttpRequest<'_>) -> Option<String> {
    let presented = latchkey_sigv4::parse(request).ok()?;
    let id: &str = presented.access_key_id.as_ref();
    (id.len() <= MAX_KEY_ID_LEN).then(|| id.to_owned())
}

fn invalid_token() -> IamError {
    IamError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

/// Verifies the request's SigV4 signature against a long-term key in the snapshot or the
/// temporary credentials sealed in its session token.
///
/// The time window is checked before the key is looked up, so a replayed or forged old
/// request learns nothing about which keys exist.
pub fn authenticate(
    directory: &Directory,
    state: &State,
    request: &HttpRequest<'_>,
    origin: Origin,
) -> Result<Caller, IamError> {
    let now = origin.at.timestamp();
    let presented = latchkey_sigv4::parse(request).map_err(sigv4_error)?;
    let service = Service::from_signing_name(presented.scope.service).ok_or_else(|| {
        IamError::new(
            ErrorCode::SignatureDoesNotMatch,
            format!(
                "Credential should be scoped to correct service: 'iam', 'sts', 'organizations', 'identitystore' or 'sso', not '{}'.",
                presented.scope.service
            ),
        )
    })?;
    latchkey_sigv4::check_time(&presented, now).map_err(sigv4_error)?;
    let access_key_id: &str = presented.access_key_id.as_ref();
    let (principal, key) = if access_key_id.starts_with("ASIA") {
        let token = presented
            .security_token
            .as_deref()
            .ok_or_else(invalid_token)?;
        let session = directory.open_session(token, access_key_id, origin.at)?;
        let signing_key = SigningKey::derive(&session.secret_access_key, &presented.scope);
        latchkey_sigv4::verify(request, &presented, &signing_key).map_err(sigv4_error)?;
        // The session's role or user must still exist: deleting it revokes the session.
        (
            state
                .principal_for_session(session)
                .ok_or_else(invalid_token)?,
            None,
        )
    } else {
        let key = state
            .access_keys
            .get(access_key_id)
            .filter(|key| key.status == KeyStatus::Active)
            .cloned()
            .ok_or_else(invalid_token)?;
        // Long-term keys carry no session token; one that arrives with a token is forged.
        if presented.security_token.is_some() {
            return Err(invalid_token());
        }
        let signing_key = key
            .runtime
            .signing_keys()
            .get_or_derive(&key.secret, &presented.scope);
        latchkey_sigv4::verify(request, &presented, &signing_key).map_err(sigv4_error)?;
        (
            state.principal_for_key(&key).ok_or_else(invalid_token)?,
            Some(key),
        )
    };
    Ok(Caller {
        principal,
        access_key_id: access_key_id.to_owned(),
        region: presented.scope.region.to_owned(),
        service,
        key,
        at: origin.at,
        source_ip: origin.source_ip,
        user_agent: origin.user_agent,
        secure_transport: origin.secure_transport,
    })
}
