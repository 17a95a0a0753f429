//! Authorization: the policy engine's decision for a principal, an action and a resource.
//!
//! Every principal's effective policy set (its own managed and inline policies, those of its
//! groups or of its role, its permissions boundary, and a session's policies) is gathered once
//! per snapshot version and cached; a request then costs one evaluation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use latchkey_policy::{
    Context, Decision, Effect, Policy, PolicyKind, PolicyRef, PolicySet, PolicyType, PrincipalKind,
    Request,
};

use crate::error::{ErrorCode, IamError};
use crate::model::{InlinePolicy, Principal, Session};
use crate::state::State;

/// The policies that apply to one principal's requests.
#[derive(Debug, Default)]
pub struct EffectivePolicies {
    /// (source id, policy): managed policies by ARN, inline ones as `<kind>/<name>/<policy>`.
    identity: Vec<(String, Arc<Policy>)>,
    boundary: Option<(String, Arc<Policy>)>,
    /// Session policies; empty when the session was not given any.
    session: Vec<(String, Arc<Policy>)>,
}

impl EffectivePolicies {
    fn managed(state: &State, arn: &String) -> Option<(String, Arc<Policy>)> {
        state.policies.get(arn).and_then(|p| {
            p.default_version()
                .map(|v| (arn.clone(), v.compiled.clone()))
        })
    }

    fn inline(
        kind: &str,
        owner: &str,
        policies: &[InlinePolicy],
    ) -> impl Iterator<Item = (String, Arc<Policy>)> {
        policies
            .iter()
            .map(move |p| (format!("{kind}/{owner}/{}", p.name), p.compiled.clone()))
    }

    /// The identity-based policies, as (source id, policy).
    pub fn identity(&self) -> &[(String, Arc<Policy>)] {
        &self.identity
    }

    pub fn boundary(&self) -> Option<&(String, Arc<Policy>)> {
        self.boundary.as_ref()
    }

    /// A group's own policies (simulating a group as a policy source).
    pub fn of_group(state: &State, group: &crate::model::Group) -> Self {
        let mut set = EffectivePolicies::default();
        set.identity.extend(
            group
                .attached_policy_arns
                .iter()
                .filter_map(|a| Self::managed(state, a)),
        );
        set.identity
            .extend(Self::inline("group", &group.name, &group.inline_policies));
        set
    }

    /// A role's policies and boundary, without any session policy.
    pub fn of_role(state: &State, role: &crate::model::Role) -> Self {
        let mut set = EffectivePolicies::default();
        set.identity.extend(
            role.attached_policy_arns
                .iter()
                .filter_map(|a| Self::managed(state, a)),
        );
        set.identity
            .extend(Self::inline("role", &role.name, &role.inline_policies));
        set.boundary = role
            .permissions_boundary
            .as_ref()
            .and_then(|a| Self::managed(state, a));
        set
    }

    fn of(state: &State, principal: &Principal) -> Self {
        let mut set = EffectivePolicies::default();
        match principal {
            Principal::Root { .. } => {}
            Principal::User(user)
            | Principal::UserSession { user, .. }
            | Principal::FederatedSession { user, .. } => {
                set.identity.extend(
                    user.attached_policy_arns
                        .iter()
                        .filter_map(|a| Self::managed(state, a)),
                );
                set.identity
                    .extend(Self::inline("user", &user.name, &user.inline_policies));
                for group in user.group_ids.iter().filter_map(|id| state.groups.get(id)) {
                    set.identity.extend(Self::of_group(state, group).identity);
                }
                set.boundary = user
                    .permissions_boundary
                    .as_ref()
                    .and_then(|a| Self::managed(state, a));
                if let Principal::FederatedSession { session, .. } = principal {
                    // A federated user has only what its session policies also allow;
                    // without any it has no permissions at all.
                    set.session = session_policies(state, session);
                    if set.session.is_empty() {
                        set.session
                            .push(("no-session-policy".into(), Arc::new(allow_nothing())));
                    }
                }
            }
            Principal::RoleSession { role, session } => {
                set = Self::of_role(state, role);
                set.session = session_policies(state, session);
            }
        }
        set
    }
}

/// A session's policies, compiled; they were validated when the session was issued.
fn session_policies(state: &State, session: &Session) -> Vec<(String, Arc<Policy>)> {
    let mut policies: Vec<(String, Arc<Policy>)> = session
        .policy_arns
        .iter()
        .filter_map(|arn| EffectivePolicies::managed(state, arn))
        .collect();
    if let Some(document) = &session.policy {
        match Policy::parse(document, PolicyKind::Session) {
            Ok(policy) => policies.push(("session-policy".into(), Arc::new(policy))),
            // Fail closed: a session policy that no longer parses allows nothing.
            Err(_) => policies.push(("session-policy".into(), Arc::new(deny_all()))),
        }
    }
    policies
}

fn allow_nothing() -> Policy {
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"*","Resource":"*"}]}"#,
        PolicyKind::Session,
    )
    .expect("a constant policy parses")
}

fn deny_all() -> Policy {
    Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Session,
    )
    .expect("a constant policy parses")
}

/// Effective policy sets computed for one snapshot version. A new version starts with an
/// empty cache (`Clone` does not copy entries), so no set outlives the state it came from.
#[derive(Default)]
pub struct EffectiveCache(Mutex<HashMap<String, Arc<EffectivePolicies>>>);

impl Clone for EffectiveCache {
    fn clone(&self) -> Self {
        EffectiveCache::default()
    }
}

impl std::fmt::Debug for EffectiveCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EffectiveCache")
    }
}

/// The key a principal's effective set is cached under. Account ids (digits), user ids
/// (`AIDA…`) and temporary key ids (`ASIA…`) never collide, so the id alone will do.
fn cache_key(principal: &Principal) -> &str {
    match principal {
        Principal::Root { account_id } => account_id,
        Principal::User(user) | Principal::UserSession { user, .. } => &user.id,
        Principal::RoleSession { session, .. } | Principal::FederatedSession { session, .. } => {
            &session.access_key_id
        }
    }
}

impl State {
    /// The principal's effective policies, computed at most once per snapshot version.
    pub fn effective_policies(&self, principal: &Principal) -> Arc<EffectivePolicies> {
        let mut cache = self.effective.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = cache_key(principal);
        if let Some(found) = cache.get(key) {
            return found.clone();
        }
        let computed = Arc::new(EffectivePolicies::of(self, principal));
        cache.insert(key.to_owned(), computed.clone());
        computed
    }
}

/// Adds the keys that describe the principal to a request context at `now`.
pub fn add_principal_keys(principal: &Principal, context: &mut Context, now: DateTime<Utc>) {
    context.insert(
        "aws:PrincipalArn",
        match principal {
            // Policies name the role, not the session.
            Principal::RoleSession { role, .. } => role.arn(),
            other => other.arn(),
        },
    );
    context.insert("aws:PrincipalAccount", principal.account_id());
    context.insert("aws:userid", principal.user_id());
    match principal {
        Principal::Root { .. } => {
            context.insert("aws:PrincipalType", "Account");
        }
        Principal::User(user) | Principal::UserSession { user, .. } => {
            context.insert("aws:PrincipalType", "User");
            context.insert("aws:username", user.name.as_str());
            for tag in &user.tags {
                context.insert(&format!("aws:PrincipalTag/{}", tag.key), tag.value.as_str());
            }
        }
        Principal::RoleSession { role, .. } => {
            context.insert("aws:PrincipalType", "AssumedRole");
            for tag in &role.tags {
                context.insert(&format!("aws:PrincipalTag/{}", tag.key), tag.value.as_str());
            }
        }
        Principal::FederatedSession { .. } => {
            context.insert("aws:PrincipalType", "FederatedUser");
        }
    }
    if let Some(session) = principal.session() {
        context.insert_time("aws:TokenIssueTime", session.issued);
        // Session tags override the principal's own tags with the same key.
        for tag in &session.tags {
            context.insert(&format!("aws:PrincipalTag/{}", tag.key), tag.value.as_str());
        }
        if let Some(source) = &session.source_identity {
            context.insert("aws:SourceIdentity", source.as_str());
        }
        // Long-term credentials carry neither key; a session says whether MFA made it.
        add_mfa_keys(context, session.mfa_authenticated, now);
    }
}

/// `aws:MultiFactorAuthPresent`, and `aws:MultiFactorAuthAge` when MFA was proven at
/// `authenticated`.
pub fn add_mfa_keys(
    context: &mut Context,
    authenticated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    context.insert_bool("aws:MultiFactorAuthPresent", authenticated.is_some());
    if let Some(at) = authenticated {
        context.insert(
            "aws:MultiFactorAuthAge",
            (now - at).num_seconds().max(0).to_string(),
        );
    }
}

/// Whether an IAM ARN (or `*`) names something in `account_id`.
fn resource_in_account(resource: &str, account_id: &str) -> bool {
    resource == "*"
        || resource
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(account, _)| account == account_id)
}

fn policy_refs(policies: &[(String, Arc<Policy>)]) -> Vec<PolicyRef<'_>> {
    policies
        .iter()
        .map(|(id, policy)| PolicyRef { id, policy })
        .collect()
}

/// A resource's own policy, for requests that have one (a role's trust policy).
#[derive(Debug, Clone, Copy)]
pub struct ResourcePolicy<'a> {
    pub id: &'a str,
    pub policy: &'a Policy,
    pub account_id: &'a str,
}

/// Allows or denies `action` on `resource` for `principal` from its identity-based
/// policies, with AWS's AccessDenied message.
pub fn authorize(
    state: &State,
    principal: &Principal,
    action: &str,
    resource: &str,
    context: &Context,
) -> Result<(), IamError> {
    if let Principal::Root { account_id } = principal
        && resource_in_account(resource, account_id)
    {
        return Ok(());
    }
    // IAM refuses GetSessionToken credentials obtained without MFA, and federated users,
    // outright, and says so the way it refuses an unknown token.
    let refused_by_iam = match principal {
        Principal::UserSession { session, .. } => session.mfa_authenticated.is_none(),
        Principal::FederatedSession { .. } => true,
        _ => false,
    };
    if refused_by_iam && action.len() > 4 && action[..4].eq_ignore_ascii_case("iam:") {
        return Err(IamError::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid",
        ));
    }
    authorize_with(state, principal, action, resource, None, context)
}

/// Whether a statement of the resource policy itself allows the request. A role's trust
/// policy must always allow AssumeRole, even in the role's own account, where the general
/// rule would let an identity-based allow suffice.
pub fn resource_policy_allows(
    principal: &Principal,
    action: &str,
    resource: &str,
    resource_policy: ResourcePolicy<'_>,
    context: &Context,
) -> bool {
    let principal_arn = principal.arn();
    let role_arn = match principal {
        Principal::RoleSession { role, .. } => Some(role.arn()),
        _ => None,
    };
    let request_principal = latchkey_policy::Principal {
        arn: &principal_arn,
        account: principal.account_id(),
        role_arn: role_arn.as_deref(),
        kind: principal_kind(principal),
    };
    let request = Request {
        principal: &request_principal,
        action,
        resource,
        resource_account: Some(resource_policy.account_id),
        context,
    };
    let set = PolicySet {
        identity: &[],
        resource: Some(PolicyRef {
            id: resource_policy.id,
            policy: resource_policy.policy,
        }),
        boundary: None,
        session: &[],
        scp_levels: &[],
    };
    latchkey_policy::evaluate_detailed(&request, &set)
        .matched
        .iter()
        .any(|m| m.policy_type == PolicyType::Resource && m.effect == Effect::Allow)
}

fn principal_kind(principal: &Principal) -> PrincipalKind<'static> {
    match principal {
        Principal::Root { .. } => PrincipalKind::Root,
        Principal::User(_) | Principal::UserSession { .. } => PrincipalKind::User,
        Principal::RoleSession { .. } => PrincipalKind::AssumedRole,
        Principal::FederatedSession { .. } => PrincipalKind::FederatedUser,
    }
}

/// The full decision, with a resource-based policy when the resource has one.
pub fn authorize_with(
    state: &State,
    principal: &Principal,
    action: &str,
    resource: &str,
    resource_policy: Option<ResourcePolicy<'_>>,
    context: &Context,
) -> Result<(), IamError> {
    let evaluation = evaluate(
        state,
        principal,
        action,
        resource,
        resource_policy,
        context,
        false,
    );
    if evaluation.decision == Decision::Allow {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::AccessDenied,
            evaluation.denial_message(&principal.arn(), action, resource),
        ))
    }
}

/// The decision on a request, with the matched statements when `detailed`.
pub fn evaluate(
    state: &State,
    principal: &Principal,
    action: &str,
    resource: &str,
    resource_policy: Option<ResourcePolicy<'_>>,
    context: &Context,
    detailed: bool,
) -> latchkey_policy::Evaluation {
    let principal_arn = principal.arn();
    let role_arn = match principal {
        Principal::RoleSession { role, .. } => Some(role.arn()),
        _ => None,
    };
    let kind = principal_kind(principal);
    let effective = state.effective_policies(principal);
    let identity = policy_refs(&effective.identity);
    let session = policy_refs(&effective.session);
    let request_principal = latchkey_policy::Principal {
        arn: &principal_arn,
        account: principal.account_id(),
        role_arn: role_arn.as_deref(),
        kind,
    };
    let request = Request {
        principal: &request_principal,
        action,
        resource,
        resource_account: Some(resource_policy.map_or(principal.account_id(), |p| p.account_id)),
        context,
    };
    let set = PolicySet {
        identity: &identity,
        resource: resource_policy.map(|p| PolicyRef {
            id: p.id,
            policy: p.policy,
        }),
        boundary: effective
            .boundary
            .as_ref()
            .map(|(id, policy)| PolicyRef { id, policy }),
        session: &session,
        scp_levels: &[],
    };
    if detailed {
        latchkey_policy::evaluate_detailed(&request, &set)
    } else {
        latchkey_policy::evaluate(&request, &set)
    }
}
