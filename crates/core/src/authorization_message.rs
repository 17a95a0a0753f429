//! Encoded authorization failure messages and STS DecodeAuthorizationMessage.
//!
//! A denial can name more than its caller should learn: which policy matched, which condition
//! keys the request carried. With encoded denials on, an AccessDenied says only that the call
//! was refused and carries the details sealed under the master key; a principal of the same
//! account with `sts:DecodeAuthorizationMessage` turns them back into AWS's decoded JSON.

use base64::Engine;
use chrono::{DateTime, Utc};
use latchkey_policy::{Context, ContextValue, Effect, Evaluation, PolicyType};
use serde_json::{Value, json};

use crate::Directory;
use crate::authz;
use crate::error::{ErrorCode, IamError};
use crate::model::Principal;
use crate::state::State;

/// STS accepts encoded messages of at most this many characters.
const MAX_MESSAGE_CHARS: usize = 10_240;

fn aad(account_id: &str) -> Vec<u8> {
    format!("latchkey/authorization-message/v1/{account_id}").into_bytes()
}

fn invalid_message() -> IamError {
    IamError::new(
        ErrorCode::InvalidAuthorizationMessage,
        "The encoded message is not a valid authorization message for this account.",
    )
}

fn items(values: impl IntoIterator<Item = Value>) -> Value {
    json!({ "items": values.into_iter().collect::<Vec<_>>() })
}

fn policy_type(kind: PolicyType) -> &'static str {
    match kind {
        PolicyType::Identity => "IDENTITY",
        PolicyType::Resource => "RESOURCE",
        PolicyType::Boundary => "PERMISSIONS_BOUNDARY",
        PolicyType::Session => "SESSION",
        PolicyType::ServiceControl => "SERVICE_CONTROL",
    }
}

fn context_items(context: &Context) -> Value {
    let mut entries: Vec<(&str, &ContextValue)> = context.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    items(entries.into_iter().map(|(key, value)| {
        json!({
            "key": key,
            "values": items(value.values().iter().map(|v| json!({ "value": v }))),
        })
    }))
}

/// The decoded form, in the shape AWS documents for DecodeAuthorizationMessage.
fn decoded(
    evaluation: &Evaluation,
    principal: &Principal,
    action: &str,
    resource: &str,
    context: Value,
    at: DateTime<Utc>,
) -> Value {
    let explicit_deny = evaluation.matched.iter().any(|m| m.effect == Effect::Deny);
    json!({
        "allowed": evaluation.is_allowed(),
        "explicitDeny": explicit_deny,
        "matchedStatements": items(evaluation.matched.iter().map(|m| json!({
            "statementId": m.sid.clone().unwrap_or_default(),
            "effect": if m.effect == Effect::Deny { "DENY" } else { "ALLOW" },
            "policyId": m.policy_id,
            "policyType": policy_type(m.policy_type),
        }))),
        "failures": items([]),
        "context": {
            "principal": { "id": principal.user_id(), "arn": principal.arn() },
            "action": action,
            "resource": resource,
            "conditions": context,
            "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    })
}

impl Directory {
    /// Allows or denies `action` on `resource` for `principal` from its identity-based
    /// policies ([`authz::authorize`]); a denial is encoded when the directory is set to.
    pub fn authorize(
        &self,
        state: &State,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &Context,
        at: DateTime<Utc>,
    ) -> Result<(), IamError> {
        match authz::authorize(state, principal, action, resource, context) {
            Err(error) if error.code == ErrorCode::AccessDenied && self.encoded_denials => {
                Err(self.encoded_denial(state, principal, action, resource, context, at))
            }
            other => other,
        }
    }

    /// An AccessDenied that carries the decision sealed, for a denied request.
    fn encoded_denial(
        &self,
        state: &State,
        principal: &Principal,
        action: &str,
        resource: &str,
        context: &Context,
        at: DateTime<Utc>,
    ) -> IamError {
        let evaluation = authz::evaluate(state, principal, action, resource, None, context, true);
        let seal = |body: &Value| {
            let sealed = self
                .master()
                .seal(body.to_string().as_bytes(), &aad(principal.account_id()));
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
        };
        let mut message = seal(&decoded(
            &evaluation,
            principal,
            action,
            resource,
            context_items(context),
            at,
        ));
        if message.len() > MAX_MESSAGE_CHARS {
            // A very large request context would make a message STS cannot take back.
            message = seal(&decoded(
                &evaluation,
                principal,
                action,
                resource,
                items([]),
                at,
            ));
        }
        IamError::new(
            ErrorCode::AccessDenied,
            format!(
                "You are not authorized to perform this operation. Encoded authorization failure message: {message}"
            ),
        )
    }

    /// STS DecodeAuthorizationMessage for a caller of `account_id` (authorized by the caller).
    pub fn decode_authorization_message(
        &self,
        account_id: &str,
        message: &str,
    ) -> Result<String, IamError> {
        if message.is_empty() || message.len() > MAX_MESSAGE_CHARS {
            return Err(invalid_message());
        }
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(message.trim())
            .map_err(|_| invalid_message())?;
        let plain = self
            .master()
            .open(&sealed, &aad(account_id))
            .map_err(|_| invalid_message())?;
        String::from_utf8(plain.to_vec()).map_err(|_| invalid_message())
    }
}
