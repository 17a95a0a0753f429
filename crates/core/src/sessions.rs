//! Temporary credentials: AssumeRole and GetSessionToken.
//!
//! A session is not stored. Its token is the session itself (principal, expiry, policies,
//! tags and secret) sealed under the master key, so any instance can verify it without a
//! lookup and a client cannot forge or alter one. A session ends at its expiry, or as soon as
//! its role or user is deleted, because the principal is resolved from the current snapshot
//! on every request.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use latchkey_policy::{Context, Policy, PolicyKind, quota};
use zeroize::Zeroizing;

use crate::authz::{self, ResourcePolicy};
use crate::error::{ErrorCode, IamError};
use crate::ids::{self, IdKind};
use crate::model::{Principal, Role, Session, Tag};
use crate::state::State;
use crate::{Directory, validate};

const SESSION_TOKEN_AAD: &[u8] = b"latchkey/session-token/v1";
/// Role chaining limits a session to one hour, as on AWS.
const CHAINED_SESSION_MAX_SECONDS: u32 = 3600;

/// Temporary credentials as they are handed out, the only time the secret is shown.
#[derive(Debug)]
pub struct IssuedSession {
    pub session: Arc<Session>,
    pub session_token: String,
    /// The principal the session acts as.
    pub principal: Principal,
    pub packed_policy_size: Option<usize>,
}

/// What AssumeRole takes besides the caller.
#[derive(Debug, Default)]
pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration_seconds: Option<u32>,
    pub policy: Option<&'a str>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<Tag>,
    pub transitive_tag_keys: Vec<String>,
    pub external_id: Option<&'a str>,
    pub source_identity: Option<&'a str>,
    pub mfa: Option<MfaCode<'a>>,
}

/// The SerialNumber and TokenCode a caller presents to prove MFA to STS.
#[derive(Debug, Clone, Copy)]
pub struct MfaCode<'a> {
    pub serial: &'a str,
    pub code: &'a str,
}

fn validation(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::ValidationError, message)
}

fn expired() -> IamError {
    IamError::new(
        ErrorCode::ExpiredToken,
        "The security token included in the request is expired",
    )
}

fn invalid_token() -> IamError {
    IamError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

/// `arn:aws:iam::<account>:role/<path><name>` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then_some((account, name))
}

fn check_session_name(name: &str) -> Result<(), IamError> {
    let length = name.chars().count();
    if length < 2 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
        )));
    }
    if length > 64 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(())
}

impl Directory {
    fn seal_session(&self, session: &Session) -> String {
        let claims = Zeroizing::new(serde_json::to_vec(session).expect("a session serializes"));
        let sealed = self.master().seal(&claims, SESSION_TOKEN_AAD);
        base64::engine::general_purpose::STANDARD.encode(sealed)
    }

    /// Opens a session token presented with `access_key_id`, refusing a forged, altered,
    /// mismatched or expired one.
    pub fn open_session(
        &self,
        token: &str,
        access_key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<Session>, IamError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| invalid_token())?;
        let claims = self
            .master()
            .open(&sealed, SESSION_TOKEN_AAD)
            .map_err(|_| invalid_token())?;
        let session: Session = serde_json::from_slice(&claims).map_err(|_| invalid_token())?;
        if session.access_key_id != access_key_id {
            return Err(invalid_token());
        }
        if now >= session.expires {
            return Err(expired());
        }
        Ok(Arc::new(session))
    }

    fn issue(
        &self,
        session: Session,
        principal: impl FnOnce(Arc<Session>) -> Principal,
    ) -> IssuedSession {
        let packed_policy_size = session.policy.as_ref().map(|p| {
            // AWS reports the packed size as a percentage of the allowed size.
            (quota::non_whitespace_len(p) * 100).div_ceil(quota::TRUST_POLICY)
        });
        let session_token = self.seal_session(&session);
        let session = Arc::new(session);
        IssuedSession {
            principal: principal(session.clone()),
            session,
            session_token,
            packed_policy_size,
        }
    }

    /// STS AssumeRole: the caller's identity policies and the role's trust policy decide,
    /// as AWS evaluates a request against a resource-based policy.
    pub fn assume_role(
        &self,
        caller: &Principal,
        request: AssumeRoleRequest<'_>,
        context: &mut Context,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, IamError> {
        check_session_name(request.session_name)?;
        let denied = || {
            IamError::new(
                ErrorCode::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                    caller.arn(),
                    request.role_arn
                ),
            )
        };
        match caller {
            Principal::Root { .. } => {
                return Err(IamError::new(
                    ErrorCode::AccessDenied,
                    "Roles may not be assumed by root accounts.",
                ));
            }
            // Federated users may call no STS operation but GetCallerIdentity.
            Principal::FederatedSession { .. } => return Err(denied()),
            _ => {}
        }
        let (role_account, role_name) = parse_role_arn(request.role_arn)
            .ok_or_else(|| validation(format!("{} is invalid", request.role_arn)))?;
        let state: Arc<State> = self.snapshot();
        let role = state
            .role_by_name(role_account, role_name)
            .filter(|r| r.arn() == request.role_arn)
            .cloned()
            .ok_or_else(denied)?;
        let chained = matches!(caller, Principal::RoleSession { .. });
        let duration = request.duration_seconds.unwrap_or(3600);
        if duration < 900 {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
            )));
        }
        if chained && duration > CHAINED_SESSION_MAX_SECONDS {
            return Err(validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        if duration > role.max_session_duration {
            return Err(validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        check_session_policies(&state, request.policy, &request.policy_arns)?;
        validate::tags(&request.tags)?;
        if request.tags.len() > 50 {
            return Err(validation("The number of session tags must not exceed 50."));
        }
        for key in &request.transitive_tag_keys {
            if !request.tags.iter().any(|t| t.key.eq_ignore_ascii_case(key)) {
                return Err(validation(format!(
                    "The transitive tag key {key} is not a session tag."
                )));
            }
        }

        // A code presented now proves MFA; otherwise a calling session that was made with MFA
        // passes its proof on to the role session.
        let mfa_authenticated = match request.mfa {
            Some(mfa) => Some(self.verify_mfa_code(caller, mfa.serial, mfa.code, now)?),
            None => caller.session().and_then(|s| s.mfa_authenticated),
        };
        authz::add_mfa_keys(context, mfa_authenticated, now);
        context.insert("sts:RoleSessionName", request.session_name);
        if let Some(external_id) = request.external_id {
            context.insert("sts:ExternalId", external_id);
        }
        if let Some(source) = request.source_identity {
            context.insert("sts:SourceIdentity", source);
        }
        let trust = ResourcePolicy {
            id: "trust-policy",
            policy: &role.compiled_trust_policy,
            account_id: &role.account_id,
        };
        let role_arn = role.arn();
        let mut actions = vec!["sts:AssumeRole"];
        if !request.tags.is_empty() {
            actions.push("sts:TagSession");
        }
        if request.source_identity.is_some() {
            actions.push("sts:SetSourceIdentity");
        }
        // AWS words every AssumeRole denial the same way, without saying which side refused.
        for action in actions {
            let allowed =
                authz::authorize_with(&state, caller, action, &role_arn, Some(trust), context)
                    .is_ok()
                    && authz::resource_policy_allows(caller, action, &role_arn, trust, context);
            if !allowed {
                return Err(IamError::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "User: {} is not authorized to perform: {action} on resource: {role_arn}",
                        caller.arn()
                    ),
                ));
            }
        }

        // Transitive tags of the calling session carry over to the chained one.
        let mut tags = request.tags;
        let mut transitive = request.transitive_tag_keys;
        if let Some(parent) = caller.session() {
            for tag in parent
                .tags
                .iter()
                .filter(|t| parent.transitive_tag_keys.contains(&t.key))
            {
                if !tags.iter().any(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
                    tags.push(tag.clone());
                    transitive.push(tag.key.clone());
                }
            }
        }
        let session = Session {
            access_key_id: ids::new_access_key_id_of_kind(
                IdKind::TemporaryAccessKey,
                &role.account_id,
            ),
            secret_access_key: ids::new_secret_access_key().to_string(),
            account_id: role.account_id.clone(),
            subject_id: role.id.clone(),
            session_name: Some(request.session_name.to_owned()),
            federated_name: None,
            issued: now,
            expires: now + Duration::seconds(i64::from(duration)),
            policy: request.policy.map(str::to_owned),
            policy_arns: request.policy_arns,
            tags,
            transitive_tag_keys: transitive,
            source_identity: request
                .source_identity
                .map(str::to_owned)
                .or_else(|| caller.session().and_then(|s| s.source_identity.clone())),
            chained,
            mfa_authenticated,
        };
        Ok(self.issue(session, |session| Principal::RoleSession { role, session }))
    }

    /// STS GetSessionToken: temporary credentials with the calling user's own permissions.
    pub fn get_session_token(
        &self,
        caller: &Principal,
        duration_seconds: Option<u32>,
        mfa: Option<MfaCode<'_>>,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, IamError> {
        let (user, max, default) = match caller {
            Principal::User(user) => (user.clone(), 129_600, 43_200),
            Principal::Root { .. } => {
                return Err(IamError::new(
                    ErrorCode::AccessDenied,
                    "The root user's temporary credentials are not supported by this server.",
                ));
            }
            Principal::UserSession { .. }
            | Principal::RoleSession { .. }
            | Principal::FederatedSession { .. } => {
                return Err(IamError::new(
                    ErrorCode::AccessDenied,
                    "Cannot call GetSessionToken with session credentials",
                ));
            }
        };
        let duration = duration_seconds.unwrap_or(default);
        if !(900..=max).contains(&duration) {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and {max}"
            )));
        }
        let mfa_authenticated = mfa
            .map(|mfa| self.verify_mfa_code(caller, mfa.serial, mfa.code, now))
            .transpose()?;
        let session = Session {
            access_key_id: ids::new_access_key_id_of_kind(
                IdKind::TemporaryAccessKey,
                &user.account_id,
            ),
            secret_access_key: ids::new_secret_access_key().to_string(),
            account_id: user.account_id.clone(),
            subject_id: user.id.clone(),
            session_name: None,
            federated_name: None,
            issued: now,
            expires: now + Duration::seconds(i64::from(duration)),
            policy: None,
            policy_arns: Vec::new(),
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            chained: false,
            mfa_authenticated,
        };
        Ok(self.issue(session, |session| Principal::UserSession { user, session }))
    }
}

impl Directory {
    /// A session of a role Identity Center provisioned, for an identity store user signed in
    /// to the access portal: no caller and no trust policy to check (the instance is the
    /// role's one trusted principal), named after the user.
    pub(crate) fn issue_sso_role_session(
        &self,
        role: Arc<Role>,
        session_name: &str,
        duration_seconds: u32,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, IamError> {
        check_session_name(session_name)?;
        let session = Session {
            access_key_id: ids::new_access_key_id_of_kind(
                IdKind::TemporaryAccessKey,
                &role.account_id,
            ),
            secret_access_key: ids::new_secret_access_key().to_string(),
            account_id: role.account_id.clone(),
            subject_id: role.id.clone(),
            session_name: Some(session_name.to_owned()),
            federated_name: None,
            issued: now,
            expires: now + Duration::seconds(i64::from(duration_seconds)),
            policy: None,
            policy_arns: Vec::new(),
            tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            chained: false,
            mfa_authenticated: None,
        };
        Ok(self.issue(session, |session| Principal::RoleSession { role, session }))
    }
}

/// What GetFederationToken takes besides the caller.
#[derive(Debug, Default)]
pub struct FederationRequest<'a> {
    pub name: &'a str,
    pub duration_seconds: Option<u32>,
    pub policy: Option<&'a str>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<Tag>,
}

impl Directory {
    /// STS GetFederationToken: a federated user whose permissions are the calling IAM user's
    /// intersected with the session policies passed here (none passed: no permissions).
    pub fn get_federation_token(
        &self,
        caller: &Principal,
        request: FederationRequest<'_>,
        context: &Context,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, IamError> {
        let user = match caller {
            Principal::User(user) => user.clone(),
            _ => {
                return Err(IamError::new(
                    ErrorCode::AccessDenied,
                    "GetFederationToken can only be called with the long-term credentials of an IAM user.",
                ));
            }
        };
        let length = request.name.chars().count();
        if !(2..=32).contains(&length)
            || !request
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
        {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must have length between 2 and 32 and match [\\w+=,.@-]*",
                request.name
            )));
        }
        let duration = request.duration_seconds.unwrap_or(43_200);
        if !(900..=129_600).contains(&duration) {
            return Err(validation(format!(
                "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 129600"
            )));
        }
        let state = self.snapshot();
        check_session_policies(&state, request.policy, &request.policy_arns)?;
        validate::tags(&request.tags)?;
        let resource = format!(
            "arn:aws:sts::{}:federated-user/{}",
            user.account_id, request.name
        );
        self.authorize(
            &state,
            caller,
            "sts:GetFederationToken",
            &resource,
            context,
            now,
        )?;
        let session = Session {
            access_key_id: ids::new_access_key_id_of_kind(
                IdKind::TemporaryAccessKey,
                &user.account_id,
            ),
            secret_access_key: ids::new_secret_access_key().to_string(),
            account_id: user.account_id.clone(),
            subject_id: user.id.clone(),
            session_name: None,
            federated_name: Some(request.name.to_owned()),
            issued: now,
            expires: now + Duration::seconds(i64::from(duration)),
            policy: request.policy.map(str::to_owned),
            policy_arns: request.policy_arns,
            tags: request.tags,
            transitive_tag_keys: Vec::new(),
            source_identity: None,
            chained: false,
            mfa_authenticated: None,
        };
        Ok(self.issue(session, |session| Principal::FederatedSession {
            user,
            session,
        }))
    }
}

/// Session policies passed to AssumeRole or GetFederationToken: parseable, within the packed
/// size, and naming managed policies that exist.
fn check_session_policies(
    state: &State,
    policy: Option<&str>,
    policy_arns: &[String],
) -> Result<(), IamError> {
    if let Some(policy) = policy {
        if quota::non_whitespace_len(policy) > quota::TRUST_POLICY {
            return Err(IamError::new(
                ErrorCode::PackedPolicyTooLarge,
                "Packed size of consumed session policies exceeds the allowed limit.",
            ));
        }
        Policy::parse(policy, PolicyKind::Session)
            .map_err(|e| IamError::new(ErrorCode::MalformedPolicyDocument, e.message))?;
    }
    if policy_arns.len() > 10 {
        return Err(validation("The number of policy ARNs must not exceed 10."));
    }
    for arn in policy_arns {
        if !state.policies.contains_key(arn) {
            return Err(validation(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
    }
    Ok(())
}

impl State {
    /// The principal a session acts as, if its role or user still exists.
    pub fn principal_for_session(&self, session: Arc<Session>) -> Option<Principal> {
        if session.session_name.is_some() {
            let role = self.roles.get(&session.subject_id)?.clone();
            Some(Principal::RoleSession { role, session })
        } else {
            let user = self.users.get(&session.subject_id)?.clone();
            if session.federated_name.is_some() {
                Some(Principal::FederatedSession { user, session })
            } else {
                Some(Principal::UserSession { user, session })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_role_arn;

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/admin"),
            Some(("123456789012", "admin"))
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/a/b/R"),
            Some(("123456789012", "R"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/admin"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::12:role/x"), None);
        assert_eq!(parse_role_arn("nonsense"), None);
    }
}
