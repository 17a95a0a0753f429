//! Parsing, validation and compilation of policy documents ("IAM JSON policy elements
//! reference"). Everything a request does not change is worked out here, once.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::PolicyError;
use crate::condition::Condition;
use crate::context::Context;
use crate::json::Json;
use crate::pattern::{Flavor, Glob, Pattern, action_glob};

/// What a document is used as, which decides the elements it must and must not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Managed or inline policy of a user, group or role.
    Identity,
    /// A resource's own policy (names a Principal).
    Resource,
    /// Permissions boundary of a user or role.
    Boundary,
    /// Session policy passed to AssumeRole*/GetFederationToken.
    Session,
    /// Organizations service control policy.
    ServiceControl,
    /// Role trust policy: a resource policy whose actions are all STS role-assumption actions
    /// and which has no Resource element.
    Trust,
}

impl PolicyKind {
    fn has_principal(self) -> bool {
        matches!(self, PolicyKind::Resource | PolicyKind::Trust)
    }
}

/// The policy language version. Only 2012-10-17 knows policy variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyVersion {
    V2012_10_17,
    /// Also what a document without `Version` gets.
    V2008_10_17,
}

impl PolicyVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVersion::V2012_10_17 => "2012-10-17",
            PolicyVersion::V2008_10_17 => "2008-10-17",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

/// A parsed, validated and compiled policy. Cloning shares the compiled form.
#[derive(Clone, Debug)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: PolicyKind,
    version: PolicyVersion,
    statements: Box<[Statement]>,
    index: ServiceIndex,
    context_keys: Box<[String]>,
}

/// One statement, compiled.
#[derive(Clone, Debug)]
pub struct Statement {
    sid: Option<String>,
    index: usize,
    effect: Effect,
    principal: Option<Principals>,
    actions: Actions,
    /// `None` in trust policies, which have no Resource element and apply to their role.
    resources: Option<Resources>,
    conditions: Box<[Condition]>,
}

#[derive(Clone, Debug)]
struct Actions {
    negated: bool,
    globs: Box<[Glob]>,
}

#[derive(Clone, Debug)]
struct Resources {
    negated: bool,
    patterns: Box<[Pattern]>,
}

#[derive(Clone, Debug)]
pub(crate) struct Principals {
    pub(crate) negated: bool,
    pub(crate) entries: Box<[PrincipalEntry]>,
}

/// One value of a Principal/NotPrincipal element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`.
    Everyone,
    /// A 12-digit account ID or `arn:aws:iam::<account>:root`: every principal of the account,
    /// by delegation ("AWS JSON policy elements: Principal").
    Account(Box<str>),
    /// A role ARN, which stands for the sessions of that role.
    Role(Box<str>),
    /// A user, assumed-role session or federated-user ARN.
    Arn(Box<str>),
    /// Lowercase, as service principal names are case-insensitive.
    Service(Box<str>),
    Federated(Box<str>),
    /// S3's canonical user IDs: accepted so such documents parse, never matched here.
    CanonicalUser,
}

/// A lowercase service prefix and the positions of the statements limited to it.
type ServiceEntry = (Box<str>, Box<[u32]>);

/// Statement positions by the service prefix of their actions, so a request skips statements
/// for other services.
#[derive(Debug, Default)]
struct ServiceIndex {
    /// Sorted by lowercase service prefix; positions ascend within each list.
    by_service: Box<[ServiceEntry]>,
    /// Statements that may apply to any service (`*`, `s*:Get*`, NotAction).
    always: Box<[u32]>,
}

impl ServiceIndex {
    fn build(services: &[Option<Vec<String>>]) -> ServiceIndex {
        let mut by_service: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        let mut always = Vec::new();
        for (position, services) in (0u32..).zip(services) {
            match services {
                None => always.push(position),
                Some(names) => {
                    for name in names {
                        let list = by_service.entry(name.as_str()).or_default();
                        if list.last() != Some(&position) {
                            list.push(position);
                        }
                    }
                }
            }
        }
        ServiceIndex {
            by_service: by_service
                .into_iter()
                .map(|(name, list)| (name.into(), list.into_boxed_slice()))
                .collect(),
            always: always.into_boxed_slice(),
        }
    }

    /// Positions of the statements that can apply to actions of `service`, in document order.
    fn candidates<'a>(&'a self, service: &str) -> impl Iterator<Item = usize> + 'a {
        let specific: &[u32] = self
            .by_service
            .binary_search_by(|(name, _)| {
                name.bytes()
                    .cmp(service.bytes().map(|b| b.to_ascii_lowercase()))
            })
            .map_or(&[], |i| &self.by_service[i].1);
        merge(specific, &self.always)
    }
}

/// Merges two ascending lists.
fn merge<'a>(mut a: &'a [u32], mut b: &'a [u32]) -> impl Iterator<Item = usize> + 'a {
    std::iter::from_fn(move || {
        let next = match (a.first(), b.first()) {
            (Some(&x), Some(&y)) if x <= y => {
                a = &a[1..];
                x
            }
            (_, Some(&y)) => {
                b = &b[1..];
                y
            }
            (Some(&x), None) => {
                a = &a[1..];
                x
            }
            (None, None) => return None,
        };
        usize::try_from(next).ok()
    })
}

impl PolicyError {
    pub(crate) fn new(message: impl Into<String>) -> PolicyError {
        PolicyError {
            message: message.into(),
        }
    }

    pub(crate) fn syntax() -> PolicyError {
        PolicyError::new("Syntax errors in policy.")
    }

    pub(crate) fn vendor() -> PolicyError {
        PolicyError::new(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        )
    }

    fn missing(field: &str) -> PolicyError {
        PolicyError::new(format!("Missing required field {field}"))
    }

    fn principal(key: &str, value: &str) -> PolicyError {
        PolicyError::new(format!(
            "Invalid principal in policy: \"{key}\":\"{value}\""
        ))
    }
}

/// The actions a trust policy may name ("Policy document for a role trust policy").
const TRUST_ACTIONS: &[&str] = &[
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "sts:tagsession",
    "sts:setsourceidentity",
    "sts:setcontext",
];

const STATEMENT_FIELDS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Parses and validates `document` as a policy of `kind`, with IAM's
    /// `MalformedPolicyDocument` message on failure.
    pub fn parse(document: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let Some(Json::Object(top)) = Json::parse(document) else {
            return Err(PolicyError::syntax());
        };
        let mut version = PolicyVersion::V2008_10_17;
        let mut statement = None;
        for (key, value) in &top {
            match key.as_str() {
                "Version" => {
                    version = match value {
                        Json::String(v) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
                        Json::String(v) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
                        Json::String(v) => {
                            return Err(PolicyError::new(format!("Invalid Version {v}")));
                        }
                        _ => return Err(PolicyError::syntax()),
                    }
                }
                "Id" => {
                    if !matches!(value, Json::String(_)) {
                        return Err(PolicyError::syntax());
                    }
                }
                "Statement" => statement = Some(value),
                other => return Err(PolicyError::new(format!("Unknown field {other}"))),
            }
        }
        let statement = statement.ok_or_else(|| PolicyError::missing("Statement"))?;
        let raw: Vec<&Json> = match statement {
            Json::Array(items) => items.iter().collect(),
            single @ Json::Object(_) => vec![single],
            _ => return Err(PolicyError::syntax()),
        };
        if raw.is_empty() {
            return Err(PolicyError::syntax());
        }
        let mut statements = Vec::with_capacity(raw.len());
        let mut services = Vec::with_capacity(raw.len());
        for (index, json) in raw.into_iter().enumerate() {
            let (statement, service) = compile_statement(json, index, kind, version)?;
            if let Some(sid) = &statement.sid
                && statements
                    .iter()
                    .any(|s: &Statement| s.sid.as_ref() == Some(sid))
            {
                return Err(PolicyError::new(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
            statements.push(statement);
            services.push(service);
        }
        let context_keys = collect_context_keys(&statements);
        Ok(Policy {
            inner: Arc::new(Inner {
                kind,
                version,
                index: ServiceIndex::build(&services),
                statements: statements.into_boxed_slice(),
                context_keys,
            }),
        })
    }

    pub fn kind(&self) -> PolicyKind {
        self.inner.kind
    }

    pub fn version(&self) -> PolicyVersion {
        self.inner.version
    }

    pub fn statements(&self) -> &[Statement] {
        &self.inner.statements
    }

    /// Every condition key and policy-variable key the policy uses, as first written,
    /// without case-insensitive duplicates (for `GetContextKeysFor*Policy`).
    pub fn context_keys(&self) -> Vec<String> {
        self.inner.context_keys.to_vec()
    }

    /// Statements that can apply to actions of `service` (the part of the action before the
    /// colon), in document order.
    pub(crate) fn candidates<'a>(
        &'a self,
        service: &str,
    ) -> impl Iterator<Item = &'a Statement> + 'a {
        self.inner
            .index
            .candidates(service)
            .filter_map(|i| self.inner.statements.get(i))
    }
}

fn collect_context_keys(statements: &[Statement]) -> Box<[String]> {
    let mut keys: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !keys.iter().any(|k| k.to_lowercase() == name.to_lowercase()) {
            keys.push(name.to_owned());
        }
    };
    for statement in statements {
        statement.referenced_keys(|name, _, _| add(name));
    }
    keys.into_boxed_slice()
}

/// Strings of an element that takes a string or a list of strings.
fn strings(value: &Json) -> Result<Vec<&str>, PolicyError> {
    match value {
        Json::String(s) => Ok(vec![s.as_str()]),
        Json::Array(items) => items
            .iter()
            .map(|item| match item {
                Json::String(s) => Ok(s.as_str()),
                _ => Err(PolicyError::syntax()),
            })
            .collect(),
        _ => Err(PolicyError::syntax()),
    }
}

/// Compiles one statement; also returns the lowercase service prefixes its actions are limited
/// to, or `None` when it may apply to any service.
fn compile_statement(
    json: &Json,
    index: usize,
    kind: PolicyKind,
    version: PolicyVersion,
) -> Result<(Statement, Option<Vec<String>>), PolicyError> {
    let Json::Object(fields) = json else {
        return Err(PolicyError::syntax());
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if let Some((unknown, _)) = fields
        .iter()
        .find(|(k, _)| !STATEMENT_FIELDS.contains(&k.as_str()))
    {
        return Err(PolicyError::new(format!("Unknown field {unknown}")));
    }
    let variables = version == PolicyVersion::V2012_10_17;

    let sid = match field("Sid") {
        None => None,
        Some(Json::String(s)) => {
            // IAM's own policy types restrict Sids; resource policies of other services and
            // SCPs accept more.
            let iam = matches!(
                kind,
                PolicyKind::Identity
                    | PolicyKind::Boundary
                    | PolicyKind::Session
                    | PolicyKind::Trust
            );
            if iam && !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(PolicyError::new(
                    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                ));
            }
            Some(s.clone())
        }
        Some(_) => return Err(PolicyError::syntax()),
    };

    let effect = match field("Effect") {
        None => return Err(PolicyError::missing("Effect")),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(Json::String(e)) => return Err(PolicyError::new(format!("Invalid effect: {e}"))),
        Some(_) => return Err(PolicyError::syntax()),
    };

    let principal = match (field("Principal"), field("NotPrincipal")) {
        (Some(_), Some(_)) => return Err(PolicyError::syntax()),
        (None, None) if kind.has_principal() => return Err(PolicyError::missing("Principal")),
        (None, None) => None,
        (Some(_), _) | (_, Some(_)) if !kind.has_principal() => {
            return Err(PolicyError::new(
                "Policy document should not specify a principal.",
            ));
        }
        (Some(p), None) => Some(compile_principal(p, false)?),
        (None, Some(p)) => Some(compile_principal(p, true)?),
    };

    let (action_values, negated) = match (field("Action"), field("NotAction")) {
        (Some(_), Some(_)) => return Err(PolicyError::syntax()),
        (Some(a), None) => (strings(a)?, false),
        (None, Some(a)) => (strings(a)?, true),
        (None, None) => (Vec::new(), false),
    };
    if action_values.is_empty() {
        return Err(PolicyError::new("Policy statement must contain actions."));
    }
    for action in &action_values {
        validate_action(action)?;
    }
    if kind == PolicyKind::Trust && (negated || !action_values.iter().all(|a| is_trust_action(a))) {
        return Err(PolicyError::new(
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ));
    }
    let services = if negated {
        None
    } else {
        action_values
            .iter()
            .map(|a| {
                let service = a.split_once(':').map_or(*a, |(s, _)| s);
                (!service.contains(['*', '?'])).then(|| service.to_ascii_lowercase())
            })
            .collect()
    };
    let actions = Actions {
        negated,
        globs: action_values.iter().map(|a| action_glob(a)).collect(),
    };

    let resources = match (field("Resource"), field("NotResource")) {
        (Some(_), _) | (_, Some(_)) if kind == PolicyKind::Trust => {
            return Err(PolicyError::new("Has prohibited field Resource"));
        }
        (None, None) if kind == PolicyKind::Trust => None,
        (Some(_), Some(_)) => return Err(PolicyError::syntax()),
        (Some(r), None) => Some(compile_resources(r, false, version)?),
        (None, Some(r)) => Some(compile_resources(r, true, version)?),
        (None, None) => return Err(PolicyError::new("Policy statement must contain resources.")),
    };

    let mut conditions = Vec::new();
    match field("Condition") {
        None => {}
        Some(Json::Object(operators)) => {
            for (operator, body) in operators {
                Condition::compile(operator, body, variables, &mut conditions)?;
            }
        }
        Some(_) => return Err(PolicyError::syntax()),
    }

    let statement = Statement {
        sid,
        index,
        effect,
        principal,
        actions,
        resources,
        conditions: conditions.into_boxed_slice(),
    };
    Ok((statement, services))
}

fn validate_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    match action.split_once(':') {
        Some((vendor, name)) if !vendor.is_empty() && !name.is_empty() => {
            if name.contains(':') {
                Err(PolicyError::new(
                    "Actions/Condition can contain only one colon.",
                ))
            } else {
                Ok(())
            }
        }
        _ => Err(PolicyError::vendor()),
    }
}

fn is_trust_action(action: &str) -> bool {
    let glob = action_glob(action);
    action
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("sts:"))
        && TRUST_ACTIONS
            .iter()
            .any(|a| glob.matches(a, Flavor::Action))
}

fn compile_resources(
    value: &Json,
    negated: bool,
    version: PolicyVersion,
) -> Result<Resources, PolicyError> {
    let values = strings(value)?;
    if values.is_empty() {
        return Err(PolicyError::new("Policy statement must contain resources."));
    }
    for resource in &values {
        let arn_like = resource.starts_with("arn:") && resource.matches(':').count() >= 5;
        if *resource != "*" && !arn_like {
            return Err(match version {
                PolicyVersion::V2012_10_17 => PolicyError::new(format!(
                    "Resource {resource} must be in ARN format or \"*\"."
                )),
                PolicyVersion::V2008_10_17 => PolicyError::new("The policy failed legacy parsing"),
            });
        }
    }
    let variables = version == PolicyVersion::V2012_10_17;
    Ok(Resources {
        negated,
        patterns: values
            .iter()
            .map(|r| Pattern::compile(r, Flavor::Resource, variables))
            .collect(),
    })
}

fn compile_principal(value: &Json, negated: bool) -> Result<Principals, PolicyError> {
    let mut entries = Vec::new();
    match value {
        Json::String(s) if s == "*" => entries.push(PrincipalEntry::Everyone),
        Json::String(s) => {
            return Err(PolicyError::new(format!(
                "Invalid principal in policy: {s}"
            )));
        }
        Json::Object(members) if !members.is_empty() => {
            for (key, value) in members {
                let values = strings(value)?;
                if values.is_empty() {
                    return Err(PolicyError::principal(key, ""));
                }
                for v in values {
                    entries.push(principal_entry(key, v)?);
                }
            }
        }
        _ => return Err(PolicyError::syntax()),
    }
    Ok(Principals {
        negated,
        entries: entries.into_boxed_slice(),
    })
}

fn principal_entry(key: &str, value: &str) -> Result<PrincipalEntry, PolicyError> {
    let invalid = || PolicyError::principal(key, value);
    // Only a lone `*` is a wildcard in Principal; `arn:aws:iam::1:user/*` is not.
    if value == "*" && matches!(key, "AWS" | "Service" | "Federated") {
        return Ok(PrincipalEntry::Everyone);
    }
    if value.is_empty() || value.contains(['*', '?']) {
        return Err(invalid());
    }
    match key {
        "AWS" => aws_principal(value).ok_or_else(invalid),
        "Service" => Ok(PrincipalEntry::Service(value.to_ascii_lowercase().into())),
        "Federated" => Ok(PrincipalEntry::Federated(value.into())),
        "CanonicalUser" => Ok(PrincipalEntry::CanonicalUser),
        _ => Err(invalid()),
    }
}

fn aws_principal(value: &str) -> Option<PrincipalEntry> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(PrincipalEntry::Account(value.into()));
    }
    let mut parts = value.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    if !account_ok {
        return None;
    }
    match (
        service,
        resource.split_once('/').map_or(resource, |(t, _)| t),
    ) {
        ("iam", "root") if resource == "root" => Some(PrincipalEntry::Account(account.into())),
        ("iam", "role") => Some(PrincipalEntry::Role(value.into())),
        ("iam", "user") | ("sts", "assumed-role") | ("sts", "federated-user") => {
            Some(PrincipalEntry::Arn(value.into()))
        }
        _ => None,
    }
}

impl Statement {
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// Position in the document, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    pub(crate) fn principals(&self) -> Option<&Principals> {
        self.principal.as_ref()
    }

    pub(crate) fn action_matches(&self, action: &str) -> bool {
        let any = self
            .actions
            .globs
            .iter()
            .any(|g| g.matches(action, Flavor::Action));
        any != self.actions.negated
    }

    pub(crate) fn resource_matches(&self, resource: &str, context: &Context) -> bool {
        self.resources.as_ref().is_none_or(|r| {
            let any = r
                .patterns
                .iter()
                .any(|p| p.matches(resource, Flavor::Resource, context));
            any != r.negated
        })
    }

    pub(crate) fn conditions_match(&self, context: &Context) -> bool {
        self.conditions.iter().all(|c| c.evaluate(context))
    }

    /// Calls `f(name as written, lowercase key, use)` for each condition key and each variable
    /// the statement uses.
    pub(crate) fn referenced_keys(&self, mut f: impl FnMut(&str, &str, KeyUse)) {
        let resource_vars = self
            .resources
            .iter()
            .flat_map(|r| r.patterns.iter().flat_map(Pattern::vars));
        for var in resource_vars {
            let usage = KeyUse::Variable {
                in_resource: true,
                has_default: var.default.is_some(),
            };
            f(&var.name, &var.key, usage);
        }
        for condition in &self.conditions {
            f(condition.name(), condition.key(), KeyUse::Condition);
            for var in condition.vars() {
                let usage = KeyUse::Variable {
                    in_resource: false,
                    has_default: var.default.is_some(),
                };
                f(&var.name, &var.key, usage);
            }
        }
    }
}

/// How a statement uses a key, for missing-key reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyUse {
    Condition,
    /// A variable with a default never needs its key.
    Variable {
        in_resource: bool,
        has_default: bool,
    },
}
