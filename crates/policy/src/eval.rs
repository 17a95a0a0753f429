//! The decision ("Policy evaluation logic", single-account and cross-account).

use crate::context::Context;
use crate::policy::{Effect, KeyUse, Policy, PrincipalEntry, Principals, Statement};

/// Who makes the request.
#[derive(Clone, Copy, Debug)]
pub struct Principal<'a> {
    /// `arn:aws:iam::123456789012:user/alice`, `arn:aws:sts::123456789012:assumed-role/R/s`,
    /// `arn:aws:iam::123456789012:root`, ...
    pub arn: &'a str,
    pub account: &'a str,
    /// For role sessions, the role (`arn:aws:iam::123456789012:role/path/R`): policies name the
    /// role, requests come from its sessions.
    pub role_arn: Option<&'a str>,
    pub kind: PrincipalKind<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind<'a> {
    /// The account's root user, which needs no identity-based policy.
    Root,
    User,
    AssumedRole,
    /// A GetFederationToken session.
    FederatedUser,
    /// A caller vouched for by an identity provider (AssumeRoleWithSAML/WithWebIdentity), named
    /// as trust policies name it: the provider ARN or a well-known host such as
    /// `accounts.google.com`. Only resource policies can grant it anything.
    Federated(&'a str),
    /// A service principal such as `ec2.amazonaws.com`. Only resource policies can grant it
    /// anything.
    Service(&'a str),
    /// An unauthenticated caller; only `"Principal": "*"` matches it.
    Anonymous,
}

impl PrincipalKind<'_> {
    /// Principals that have identity-based policies and belong to an account.
    fn is_aws(self) -> bool {
        matches!(
            self,
            PrincipalKind::Root
                | PrincipalKind::User
                | PrincipalKind::AssumedRole
                | PrincipalKind::FederatedUser
        )
    }
}

/// One authorization question.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub principal: &'a Principal<'a>,
    /// `service:Action`, e.g. `iam:CreateUser`; matched case-insensitively.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without resource-level permissions.
    pub resource: &'a str,
    /// The account owning the resource; `None` means the principal's own account.
    pub resource_account: Option<&'a str>,
    pub context: &'a Context,
}

/// A policy plus the name reported back in [`MatchedStatement::policy_id`].
#[derive(Clone, Copy, Debug)]
pub struct PolicyRef<'a> {
    /// A policy ARN, `user/alice/inline/name`, ...: whatever the caller wants reported.
    pub id: &'a str,
    pub policy: &'a Policy,
}

/// Everything that applies to one request, borrowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicySet<'a> {
    /// Managed and inline policies of the user and its groups, or of the role.
    pub identity: &'a [PolicyRef<'a>],
    /// The resource's policy; for `sts:AssumeRole*` the role's trust policy.
    pub resource: Option<PolicyRef<'a>>,
    pub boundary: Option<PolicyRef<'a>>,
    /// Session policies; empty when the session was created without any, and then they do not
    /// restrict.
    pub session: &'a [PolicyRef<'a>],
    /// SCPs from the root through OUs to the account; each level must allow. Empty when no
    /// SCPs apply (no organization, or the management account).
    pub scp_levels: &'a [&'a [PolicyRef<'a>]],
}

/// A policy with the name reported for it, owned; see [`CompiledSet`].
#[derive(Clone, Debug)]
pub struct NamedPolicy {
    pub id: String,
    pub policy: Policy,
}

impl NamedPolicy {
    pub fn new(id: impl Into<String>, policy: Policy) -> NamedPolicy {
        NamedPolicy {
            id: id.into(),
            policy,
        }
    }

    pub fn as_ref(&self) -> PolicyRef<'_> {
        PolicyRef {
            id: &self.id,
            policy: &self.policy,
        }
    }
}

/// A principal's policies, owned, for keeping per principal between requests; the resource
/// policy comes with each request. Cloning is cheap: policies share their compiled form.
#[derive(Clone, Debug, Default)]
pub struct CompiledSet {
    pub identity: Vec<NamedPolicy>,
    pub boundary: Option<NamedPolicy>,
    pub session: Vec<NamedPolicy>,
    pub scp_levels: Vec<Vec<NamedPolicy>>,
}

impl CompiledSet {
    /// The decision alone; allocates nothing unless a policy uses variables in patterns.
    pub fn evaluate(&self, request: &Request<'_>, resource: Option<PolicyRef<'_>>) -> Evaluation {
        self.run(request, resource, false)
    }

    /// The decision with matched statements and missing context keys.
    pub fn evaluate_detailed(
        &self,
        request: &Request<'_>,
        resource: Option<PolicyRef<'_>>,
    ) -> Evaluation {
        self.run(request, resource, true)
    }

    fn run(
        &self,
        request: &Request<'_>,
        resource: Option<PolicyRef<'_>>,
        detailed: bool,
    ) -> Evaluation {
        decide(
            request,
            Layers {
                identity: &self.identity,
                resource,
                boundary: self.boundary.as_ref(),
                session: &self.session,
                scp_levels: &self.scp_levels,
            },
            detailed,
        )
    }
}

/// The decision alone; see [`evaluate_detailed`] for matched statements and missing keys.
pub fn evaluate(request: &Request<'_>, set: &PolicySet<'_>) -> Evaluation {
    decide(request, Layers::borrowed(set), false)
}

/// The decision plus every statement that matched and the condition keys that statements
/// would have needed (for `SimulatePrincipalPolicy`/`SimulateCustomPolicy`).
pub fn evaluate_detailed(request: &Request<'_>, set: &PolicySet<'_>) -> Evaluation {
    decide(request, Layers::borrowed(set), true)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyType {
    Identity,
    Resource,
    Boundary,
    Session,
    ServiceControl,
}

impl PolicyType {
    /// How AWS names the type inside AccessDenied messages.
    fn phrase(self) -> &'static str {
        match self {
            PolicyType::Identity => "an identity-based policy",
            PolicyType::Resource => "a resource-based policy",
            PolicyType::Boundary => "a permissions boundary",
            PolicyType::Session => "a session policy",
            PolicyType::ServiceControl => "a service control policy",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    ExplicitDenyIn(PolicyType),
    NoIdentityPolicyAllows,
    NoBoundaryAllows,
    NoSessionPolicyAllows,
    NoScpAllows,
    /// Cross-account requests, and principals without identity policies (services,
    /// identity-provider callers, anonymous), need the resource policy to allow.
    NoResourcePolicyAllows,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedStatement {
    pub policy_id: String,
    pub policy_type: PolicyType,
    pub statement_index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// `None` when allowed.
    pub reason: Option<DenyReason>,
    /// Statements that matched the request, in evaluation order; filled by the detailed calls.
    pub matched: Vec<MatchedStatement>,
    /// Condition and variable keys, as written, that statements matching the request on
    /// Action, Principal and Resource referenced and the context lacked; filled by the
    /// detailed calls. A Resource that failed only for want of such a variable counts as
    /// matching.
    pub missing_context_keys: Vec<String>,
}

impl Evaluation {
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// AWS's AccessDenied wording for this decision.
    pub fn denial_message(&self, principal_arn: &str, action: &str, resource: &str) -> String {
        let head = format!(
            "User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
        );
        let no = |what: &str| format!("{head} because no {what} allows the {action} action");
        match self.reason {
            None => head,
            Some(DenyReason::ExplicitDenyIn(t)) => {
                format!("{head} with an explicit deny in {}", t.phrase())
            }
            Some(DenyReason::NoIdentityPolicyAllows) => no("identity-based policy"),
            Some(DenyReason::NoBoundaryAllows) => no("permissions boundary"),
            Some(DenyReason::NoSessionPolicyAllows) => no("session policy"),
            Some(DenyReason::NoScpAllows) => no("service control policy"),
            Some(DenyReason::NoResourcePolicyAllows) => no("resource-based policy"),
        }
    }
}

/// Lets the evaluator walk borrowed and owned sets alike.
trait Named {
    fn id(&self) -> &str;
    fn policy(&self) -> &Policy;
}

impl Named for PolicyRef<'_> {
    fn id(&self) -> &str {
        self.id
    }
    fn policy(&self) -> &Policy {
        self.policy
    }
}

impl Named for NamedPolicy {
    fn id(&self) -> &str {
        &self.id
    }
    fn policy(&self) -> &Policy {
        &self.policy
    }
}

struct Layers<'s, T, L> {
    identity: &'s [T],
    resource: Option<PolicyRef<'s>>,
    boundary: Option<&'s T>,
    session: &'s [T],
    scp_levels: &'s [L],
}

impl<'s> Layers<'s, PolicyRef<'s>, &'s [PolicyRef<'s>]> {
    fn borrowed(set: &'s PolicySet<'s>) -> Self {
        Layers {
            identity: set.identity,
            resource: set.resource,
            boundary: set.boundary.as_ref(),
            session: set.session,
            scp_levels: set.scp_levels,
        }
    }
}

/// How directly a resource policy's allowing statement named the principal, which decides
/// what else must allow in the same account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Grant {
    /// The account: a delegation, so an identity-based policy must allow too.
    Account,
    /// `*` or the role ARN: no identity-based allow needed, but boundaries and session
    /// policies still limit.
    Broad,
    /// The exact user or session ARN (or service, or provider): implicit denies in boundaries
    /// and session policies do not block it.
    Exact,
}

/// What one policy said about the request.
#[derive(Clone, Copy, Debug, Default)]
struct Outcome {
    allow: bool,
    deny: bool,
    /// The strongest grant among allowing statements (resource policies only).
    grant: Option<Grant>,
}

struct Scan<'r, 'a> {
    request: &'r Request<'a>,
    /// The action's service prefix, found once for every policy's index.
    service: &'r str,
    detailed: bool,
    matched: Vec<MatchedStatement>,
    missing: Vec<String>,
    denied_by: Option<PolicyType>,
}

impl Scan<'_, '_> {
    fn policy(&mut self, named: &impl Named, policy_type: PolicyType) -> Outcome {
        let request = self.request;
        let context = request.context;
        let mut outcome = Outcome::default();
        for statement in named.policy().candidates(self.service) {
            if !statement.action_matches(request.action) {
                continue;
            }
            let grant = match statement.principals() {
                None => None,
                Some(principals) => match principal_grant(principals, request.principal) {
                    None => continue,
                    grant => grant,
                },
            };
            let resource_ok = statement.resource_matches(request.resource, context);
            if self.detailed {
                self.note_missing(statement, resource_ok);
            }
            if !resource_ok || !statement.conditions_match(context) {
                continue;
            }
            if self.detailed {
                self.matched.push(MatchedStatement {
                    policy_id: named.id().to_owned(),
                    policy_type,
                    statement_index: statement.index(),
                    sid: statement.sid().map(str::to_owned),
                    effect: statement.effect(),
                });
            }
            match statement.effect() {
                Effect::Allow => {
                    outcome.allow = true;
                    outcome.grant = outcome.grant.max(grant);
                }
                Effect::Deny => {
                    outcome.deny = true;
                    self.denied_by.get_or_insert(policy_type);
                    if !self.detailed {
                        // Nothing can overturn an explicit deny.
                        return outcome;
                    }
                }
            }
        }
        outcome
    }

    fn note_missing(&mut self, statement: &Statement, resource_ok: bool) {
        let context = self.request.context;
        let mut missing = Vec::new();
        let mut resource_variable_missing = false;
        statement.referenced_keys(|name, key, usage| {
            let absent = match usage {
                KeyUse::Condition => context.lookup(key).is_none(),
                KeyUse::Variable { has_default, .. } => {
                    !has_default && context.variable(key).is_none()
                }
            };
            if absent {
                resource_variable_missing |= usage
                    == KeyUse::Variable {
                        in_resource: true,
                        has_default: false,
                    };
                missing.push(name.to_owned());
            }
        });
        if !resource_ok && !resource_variable_missing {
            return;
        }
        for name in missing {
            if !self
                .missing
                .iter()
                .any(|m| m.to_lowercase() == name.to_lowercase())
            {
                self.missing.push(name);
            }
        }
    }

    /// Allows of every policy in `list`, or `None` after an explicit deny in a quick scan.
    fn any_allows<T: Named>(&mut self, list: &[T], policy_type: PolicyType) -> Option<bool> {
        let mut allow = false;
        for named in list {
            let outcome = self.policy(named, policy_type);
            if outcome.deny && !self.detailed {
                return None;
            }
            allow |= outcome.allow;
        }
        Some(allow)
    }
}

fn decide<T: Named, L: AsRef<[T]>>(
    request: &Request<'_>,
    layers: Layers<'_, T, L>,
    detailed: bool,
) -> Evaluation {
    let mut scan = Scan {
        request,
        service: request.action.split_once(':').map_or("", |(s, _)| s),
        detailed,
        matched: Vec::new(),
        missing: Vec::new(),
        denied_by: None,
    };
    let verdict = scan_layers(&mut scan, &layers);
    let (decision, reason) = match (scan.denied_by, verdict) {
        (Some(policy_type), _) => (
            Decision::ExplicitDeny,
            Some(DenyReason::ExplicitDenyIn(policy_type)),
        ),
        (None, Some(reason)) => (Decision::ImplicitDeny, Some(reason)),
        (None, None) => (Decision::Allow, None),
    };
    Evaluation {
        decision,
        reason,
        matched: scan.matched,
        missing_context_keys: scan.missing,
    }
}

/// Scans every layer and returns the implicit-deny reason, if any; explicit denies are left in
/// `scan.denied_by` and win over whatever this returns.
fn scan_layers<T: Named, L: AsRef<[T]>>(
    scan: &mut Scan<'_, '_>,
    layers: &Layers<'_, T, L>,
) -> Option<DenyReason> {
    let mut scp_ok = true;
    for level in layers.scp_levels {
        match scan.any_allows(level.as_ref(), PolicyType::ServiceControl) {
            None => return None,
            Some(allow) => scp_ok &= allow,
        }
    }
    let resource = match &layers.resource {
        None => Outcome::default(),
        Some(r) => scan.policy(r, PolicyType::Resource),
    };
    if resource.deny && !scan.detailed {
        return None;
    }
    let identity = scan.any_allows(layers.identity, PolicyType::Identity)?;
    let boundary = match layers.boundary {
        None => true,
        Some(b) => scan.any_allows(std::slice::from_ref(b), PolicyType::Boundary)?,
    };
    let session =
        layers.session.is_empty() || scan.any_allows(layers.session, PolicyType::Session)?;

    if !scp_ok {
        return Some(DenyReason::NoScpAllows);
    }
    let principal = scan.request.principal;
    if !principal.kind.is_aws() {
        return (!resource.allow).then_some(DenyReason::NoResourcePolicyAllows);
    }
    let cross_account = scan
        .request
        .resource_account
        .is_some_and(|account| account != principal.account);
    // IAM policies cannot be attached to the root user, which holds every permission of its
    // account; other accounts' resources still need their resource policy to allow.
    let identity = identity || principal.kind == PrincipalKind::Root;
    if cross_account {
        if !identity {
            return Some(DenyReason::NoIdentityPolicyAllows);
        }
        if !resource.allow {
            return Some(DenyReason::NoResourcePolicyAllows);
        }
    } else {
        match resource.grant {
            Some(Grant::Exact) => return None,
            Some(Grant::Broad) => {}
            Some(Grant::Account) | None if !identity => {
                return Some(DenyReason::NoIdentityPolicyAllows);
            }
            Some(Grant::Account) | None => {}
        }
    }
    if !boundary {
        return Some(DenyReason::NoBoundaryAllows);
    }
    if !session {
        return Some(DenyReason::NoSessionPolicyAllows);
    }
    None
}

/// Whether a statement's Principal/NotPrincipal covers the caller, and how directly.
fn principal_grant(principals: &Principals, principal: &Principal<'_>) -> Option<Grant> {
    if principals.negated {
        // NotPrincipal excludes a caller only when every identity the request carries is
        // listed: the session, its role and its account ("AWS JSON policy elements:
        // NotPrincipal"), so listing a user without its account excludes nobody.
        let covered =
            |identity: Identity<'_>| principals.entries.iter().any(|e| covers(e, identity));
        let excluded = identities(principal).all(covered);
        return (!excluded).then_some(Grant::Broad);
    }
    principals
        .entries
        .iter()
        .filter_map(|entry| entry_grant(entry, principal))
        .max()
}

fn entry_grant(entry: &PrincipalEntry, principal: &Principal<'_>) -> Option<Grant> {
    let aws = principal.kind.is_aws();
    match (entry, principal.kind) {
        (PrincipalEntry::Everyone, _) => Some(Grant::Broad),
        (PrincipalEntry::Account(a), _) if aws && **a == *principal.account => Some(Grant::Account),
        (PrincipalEntry::Role(r), _) if aws && principal.role_arn == Some(&**r) => {
            Some(Grant::Broad)
        }
        (PrincipalEntry::Arn(a), _) if aws && **a == *principal.arn => Some(Grant::Exact),
        (PrincipalEntry::Service(s), PrincipalKind::Service(name))
            if name.eq_ignore_ascii_case(s) =>
        {
            Some(Grant::Exact)
        }
        (PrincipalEntry::Federated(f), PrincipalKind::Federated(name)) if **f == *name => {
            Some(Grant::Exact)
        }
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
enum Identity<'a> {
    Arn(&'a str),
    Role(&'a str),
    Account(&'a str),
    Service(&'a str),
    Federated(&'a str),
    Anonymous,
}

fn identities<'a>(principal: &Principal<'a>) -> impl Iterator<Item = Identity<'a>> {
    let (first, second, third) = match principal.kind {
        // The root user's ARN is the account's.
        PrincipalKind::Root => (Some(Identity::Account(principal.account)), None, None),
        PrincipalKind::User | PrincipalKind::AssumedRole | PrincipalKind::FederatedUser => (
            Some(Identity::Arn(principal.arn)),
            principal.role_arn.map(Identity::Role),
            Some(Identity::Account(principal.account)),
        ),
        PrincipalKind::Service(s) => (Some(Identity::Service(s)), None, None),
        PrincipalKind::Federated(f) => (Some(Identity::Federated(f)), None, None),
        PrincipalKind::Anonymous => (Some(Identity::Anonymous), None, None),
    };
    first.into_iter().chain(second).chain(third)
}

fn covers(entry: &PrincipalEntry, identity: Identity<'_>) -> bool {
    match (entry, identity) {
        (PrincipalEntry::Everyone, _) => true,
        (PrincipalEntry::Arn(a), Identity::Arn(x)) => **a == *x,
        (PrincipalEntry::Role(r), Identity::Role(x) | Identity::Arn(x)) => **r == *x,
        (PrincipalEntry::Account(a), Identity::Account(x)) => **a == *x,
        (PrincipalEntry::Service(s), Identity::Service(x)) => x.eq_ignore_ascii_case(s),
        (PrincipalEntry::Federated(f), Identity::Federated(x)) => **f == *x,
        _ => false,
    }
}
