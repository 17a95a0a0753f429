//! Helpers shared by the integration tests.
#![allow(dead_code)] // Each test crate uses a different subset.

use latchkey_policy::{
    Context, Evaluation, Policy, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind,
    Request, evaluate_detailed,
};

pub const ACCOUNT: &str = "111122223333";
pub const OTHER: &str = "444455556666";

pub fn parse(kind: PolicyKind, document: &str) -> Policy {
    Policy::parse(document, kind).unwrap_or_else(|e| panic!("{document}: {}", e.message))
}

pub fn identity(document: &str) -> Policy {
    parse(PolicyKind::Identity, document)
}

pub fn user(arn: &'static str) -> Principal<'static> {
    Principal {
        arn,
        account: ACCOUNT,
        role_arn: None,
        kind: PrincipalKind::User,
    }
}

pub fn alice() -> Principal<'static> {
    user("arn:aws:iam::111122223333:user/alice")
}

pub fn session() -> Principal<'static> {
    Principal {
        arn: "arn:aws:sts::111122223333:assumed-role/Dev/s1",
        account: ACCOUNT,
        role_arn: Some("arn:aws:iam::111122223333:role/team/Dev"),
        kind: PrincipalKind::AssumedRole,
    }
}

/// Evaluates one request against identity policies only.
pub fn check(
    policies: &[&Policy],
    principal: &Principal<'_>,
    action: &str,
    resource: &str,
    context: &Context,
) -> Evaluation {
    let refs: Vec<PolicyRef<'_>> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| PolicyRef {
            id: ["p0", "p1", "p2", "p3"].get(i).copied().unwrap_or("p"),
            policy: p,
        })
        .collect();
    let set = PolicySet {
        identity: &refs,
        ..PolicySet::default()
    };
    let request = Request {
        principal,
        action,
        resource,
        resource_account: None,
        context,
    };
    evaluate_detailed(&request, &set)
}

/// A statement allowing s3:GetObject on everything under `condition` (a JSON object).
pub fn with_condition(condition: &str) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{condition}}}}}"#
    ))
}

/// Whether the condition block allows the request in `context`.
pub fn holds(condition: &str, context: &Context) -> bool {
    let policy = with_condition(condition);
    check(
        &[&policy],
        &alice(),
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        context,
    )
    .is_allowed()
}

/// A context from (key, value) pairs; values with `|` become multivalued keys.
pub fn ctx(pairs: &[(&str, &str)]) -> Context {
    let mut c = Context::new();
    for (k, v) in pairs {
        if v.contains('|') {
            c.insert_multi(k, v.split('|').filter(|s| !s.is_empty()));
        } else {
            c.insert(k, *v);
        }
    }
    c
}
