//! Authentication: which principal signed this request, decided from the snapshot alone.

use std::sync::Arc;

use latchkey_core::model::{AccessKey, KeyStatus, Principal};
use latchkey_core::state::State;
use latchkey_core::{ErrorCode, IamError};
use latchkey_sigv4::{HttpRequest, SigV4Error};

use crate::operation::Service;

/// A verified caller.
#[derive(Debug)]
pub struct Caller {
    pub principal: Principal,
    pub key: Arc<AccessKey>,
    /// The region and service of the credential scope the request was signed for.
    pub region: String,
    pub service: Service,
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

fn invalid_token() -> IamError {
    IamError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

/// Verifies the request's SigV4 signature against the key in the snapshot.
///
/// The time window is checked before the key is looked up, so a replayed or forged old
/// request learns nothing about which keys exist.
pub fn authenticate(
    state: &State,
    request: &HttpRequest<'_>,
    now: i64,
) -> Result<Caller, IamError> {
    let presented = latchkey_sigv4::parse(request).map_err(sigv4_error)?;
    let service = Service::from_signing_name(presented.scope.service).ok_or_else(|| {
        IamError::new(
            ErrorCode::SignatureDoesNotMatch,
            format!(
                "Credential should be scoped to correct service: 'iam' or 'sts', not '{}'.",
                presented.scope.service
            ),
        )
    })?;
    latchkey_sigv4::check_time(&presented, now).map_err(sigv4_error)?;
    let key = state
        .access_keys
        .get(presented.access_key_id.as_ref() as &str)
        .filter(|key| key.status == KeyStatus::Active)
        .cloned()
        .ok_or_else(invalid_token)?;
    // Long-term keys carry no session token; one that arrives with a token is forged.
    if presented.security_token.is_some() {
        return Err(invalid_token());
    }
    let signing_key = key
        .runtime
        .signing_keys
        .get_or_derive(&key.secret, &presented.scope);
    latchkey_sigv4::verify(request, &presented, &signing_key).map_err(sigv4_error)?;
    let principal = state.principal_for_key(&key).ok_or_else(invalid_token)?;
    Ok(Caller {
        principal,
        region: presented.scope.region.to_owned(),
        service,
        key,
    })
}
