//! The policy simulator (SimulatePrincipalPolicy, SimulateCustomPolicy) and the context-key
//! listings, answered by the same engine and the same policy sets that enforcement uses.

use std::sync::Arc;

use latchkey_policy::{
    Context, Decision, DenyReason, Policy, PolicyKind, PolicyRef, PolicySet, PolicyType,
    PrincipalKind, Request,
};

use crate::authz::EffectivePolicies;
use crate::error::{ErrorCode, IamError};
use crate::model::Principal;
use crate::state::State;

/// The policies a simulation evaluates.
#[derive(Debug, Default)]
pub struct Simulation {
    /// (source id, source type as IAM reports it, policy)
    pub identity: Vec<(String, &'static str, Arc<Policy>)>,
    pub boundary: Option<(String, Arc<Policy>)>,
    /// Service control policies by level of the organization, root first.
    pub scp_levels: Vec<Vec<(String, Arc<Policy>)>>,
    pub resource_policy: Option<Arc<Policy>>,
    /// The principal the simulated requests come from.
    pub caller_arn: String,
    pub caller_account: String,
    pub resource_owner: Option<String>,
}

/// One action on one resource, as EvaluationResults reports it.
#[derive(Debug)]
pub struct SimulationResult {
    pub action: String,
    pub resource: String,
    /// `allowed`, `explicitDeny` or `implicitDeny`.
    pub decision: &'static str,
    /// (source id, source type) of each statement that matched.
    pub matched: Vec<(String, &'static str)>,
    pub missing_context_values: Vec<String>,
    /// Set when a boundary was part of the simulation.
    pub allowed_by_boundary: Option<bool>,
    /// Set when service control policies were part of the simulation.
    pub allowed_by_organizations: Option<bool>,
}

/// Parses a policy given to a simulation, as IAM does, with its position in the list.
pub fn input_policy(
    document: &str,
    kind: PolicyKind,
    list: &str,
    index: usize,
) -> Result<Arc<Policy>, IamError> {
    Policy::parse(document, kind).map(Arc::new).map_err(|e| {
        IamError::new(
            ErrorCode::MalformedPolicyDocument,
            format!("{} (in {list}.{})", e.message, index + 1),
        )
    })
}

impl Simulation {
    /// The policies of a user, group or role named by its ARN (SimulatePrincipalPolicy's
    /// PolicySourceArn), exactly as enforcement gathers them.
    pub fn for_source(state: &State, account_id: &str, source_arn: &str) -> Result<Self, IamError> {
        let not_found = || {
            IamError::new(
                ErrorCode::NoSuchEntity,
                format!("The entity {source_arn} cannot be found."),
            )
        };
        let (kind, name) = source_arn
            .strip_prefix(&format!("arn:aws:iam::{account_id}:"))
            .and_then(|rest| rest.split_once('/'))
            .map(|(kind, path_and_name)| {
                (kind, path_and_name.rsplit('/').next().unwrap_or_default())
            })
            .ok_or_else(not_found)?;
        let mut simulation = Simulation {
            caller_arn: source_arn.to_owned(),
            caller_account: account_id.to_owned(),
            ..Simulation::default()
        };
        let effective = match kind {
            "user" => {
                let user = state.user_by_name(account_id, name).ok_or_else(not_found)?;
                state.effective_policies(&Principal::User(user.clone()))
            }
            "group" => {
                let group = state
                    .group_by_name(account_id, name)
                    .ok_or_else(not_found)?;
                Arc::new(EffectivePolicies::of_group(state, group))
            }
            "role" => {
                let role = state.role_by_name(account_id, name).ok_or_else(not_found)?;
                Arc::new(EffectivePolicies::of_role(state, role))
            }
            _ => return Err(not_found()),
        };
        for (id, policy) in effective.identity() {
            simulation
                .identity
                .push((id.clone(), source_type(id), policy.clone()));
        }
        simulation.boundary = effective.boundary().cloned();
        Ok(simulation)
    }

    pub fn run(
        &self,
        actions: &[&str],
        resources: &[&str],
        context: &Context,
    ) -> Vec<SimulationResult> {
        let role_arn = self
            .caller_arn
            .contains(":role/")
            .then_some(self.caller_arn.as_str());
        let principal = latchkey_policy::Principal {
            arn: &self.caller_arn,
            account: &self.caller_account,
            role_arn,
            kind: if role_arn.is_some() {
                PrincipalKind::AssumedRole
            } else {
                PrincipalKind::User
            },
        };
        let identity: Vec<PolicyRef<'_>> = self
            .identity
            .iter()
            .map(|(id, _, policy)| PolicyRef { id, policy })
            .collect();
        let scp_refs: Vec<Vec<PolicyRef<'_>>> = self
            .scp_levels
            .iter()
            .map(|level| {
                level
                    .iter()
                    .map(|(id, policy)| PolicyRef { id, policy })
                    .collect()
            })
            .collect();
        let scp_levels: Vec<&[PolicyRef<'_>]> = scp_refs.iter().map(Vec::as_slice).collect();
        let mut results = Vec::new();
        for action in actions {
            for resource in resources {
                let request = Request {
                    principal: &principal,
                    action,
                    resource,
                    resource_account: Some(
                        self.resource_owner_account()
                            .unwrap_or(&self.caller_account),
                    ),
                    context,
                };
                let set = PolicySet {
                    identity: &identity,
                    resource: self.resource_policy.as_deref().map(|policy| PolicyRef {
                        id: "ResourcePolicy",
                        policy,
                    }),
                    boundary: self
                        .boundary
                        .as_ref()
                        .map(|(id, policy)| PolicyRef { id, policy }),
                    session: &[],
                    scp_levels: &scp_levels,
                };
                let evaluation = latchkey_policy::evaluate_detailed(&request, &set);
                let decision = match evaluation.decision {
                    Decision::Allow => "allowed",
                    Decision::ExplicitDeny => "explicitDeny",
                    Decision::ImplicitDeny => "implicitDeny",
                };
                let matched = evaluation
                    .matched
                    .iter()
                    .map(|m| {
                        let kind = match m.policy_type {
                            PolicyType::Resource => "resource",
                            _ => self
                                .identity
                                .iter()
                                .find(|(id, _, _)| *id == m.policy_id)
                                .map_or("none", |(_, kind, _)| *kind),
                        };
                        (m.policy_id.clone(), kind)
                    })
                    .collect();
                let denied_by = |policy_type: PolicyType, reason: DenyReason| {
                    evaluation.reason == Some(reason)
                        || evaluation.reason == Some(DenyReason::ExplicitDenyIn(policy_type))
                };
                results.push(SimulationResult {
                    action: (*action).to_owned(),
                    resource: (*resource).to_owned(),
                    decision,
                    matched,
                    missing_context_values: evaluation.missing_context_keys.clone(),
                    allowed_by_boundary: self
                        .boundary
                        .as_ref()
                        .map(|_| !denied_by(PolicyType::Boundary, DenyReason::NoBoundaryAllows)),
                    allowed_by_organizations: (!self.scp_levels.is_empty())
                        .then(|| !denied_by(PolicyType::ServiceControl, DenyReason::NoScpAllows)),
                });
            }
        }
        results
    }

    /// ResourceOwner is an account ARN (`arn:aws:iam::123456789012:root`) or an account id.
    fn resource_owner_account(&self) -> Option<&str> {
        let owner = self.resource_owner.as_deref()?;
        Some(
            owner
                .strip_prefix("arn:aws:iam::")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or(owner),
        )
    }
}

/// How IAM labels a statement's source in MatchedStatements.
fn source_type(id: &str) -> &'static str {
    if id.starts_with("arn:aws:iam::aws:policy/") {
        "aws-managed"
    } else if id.starts_with("arn:") {
        "user-managed"
    } else if id.starts_with("user/") {
        "user"
    } else if id.starts_with("group/") {
        "group"
    } else if id.starts_with("role/") {
        "role"
    } else {
        "none"
    }
}

/// Context keys the policies use, deduplicated ignoring case, in first-seen order.
pub fn context_keys<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for policy in policies {
        for key in policy.context_keys() {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                keys.push(key);
            }
        }
    }
    keys
}
