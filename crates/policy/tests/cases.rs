//! Runs every `tests/cases/*.json`: policies from AWS documentation examples, requests, and the
//! decision AWS documents for each.

use std::path::Path;

use latchkey_policy::{
    Context, Decision, Policy, PolicyKind, PolicyRef, PolicySet, Principal, PrincipalKind, Request,
    evaluate, evaluate_detailed,
};
use serde_json::Value;

fn parse(kind: PolicyKind, document: &Value, file: &str) -> Policy {
    Policy::parse(&document.to_string(), kind).unwrap_or_else(|e| panic!("{file}: {}", e.message))
}

fn list(value: Option<&Value>) -> Vec<Value> {
    value.and_then(Value::as_array).cloned().unwrap_or_default()
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn context(value: Option<&Value>) -> Context {
    let mut context = Context::new();
    for (key, value) in value.and_then(Value::as_object).into_iter().flatten() {
        match value {
            Value::Array(items) => {
                context.insert_multi(key, items.iter().filter_map(Value::as_str))
            }
            Value::String(s) => context.insert(key, s.as_str()),
            other => context.insert(key, other.to_string()),
        }
    }
    context
}

fn refs(policies: &[Policy]) -> Vec<PolicyRef<'_>> {
    policies
        .iter()
        .map(|policy| PolicyRef { id: "case", policy })
        .collect()
}

fn run_file(path: &Path) -> usize {
    let file = path.display().to_string();
    let raw = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let case: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        text(&case, "source").is_some(),
        "{file}: every case names its source"
    );
    let policies = &case["policies"];
    let identity: Vec<Policy> = list(policies.get("identity"))
        .iter()
        .map(|d| parse(PolicyKind::Identity, d, &file))
        .collect();
    let resource_kind = match text(policies, "resource_kind") {
        Some("Trust") => PolicyKind::Trust,
        _ => PolicyKind::Resource,
    };
    let resource = policies
        .get("resource")
        .map(|d| parse(resource_kind, d, &file));
    let boundary = policies
        .get("boundary")
        .map(|d| parse(PolicyKind::Boundary, d, &file));
    let session: Vec<Policy> = list(policies.get("session"))
        .iter()
        .map(|d| parse(PolicyKind::Session, d, &file))
        .collect();
    let scps: Vec<Vec<Policy>> = list(policies.get("scp_levels"))
        .iter()
        .map(|level| {
            list(Some(level))
                .iter()
                .map(|d| parse(PolicyKind::ServiceControl, d, &file))
                .collect()
        })
        .collect();

    let identity_refs = refs(&identity);
    let session_refs = refs(&session);
    let scp_refs: Vec<Vec<PolicyRef<'_>>> = scps.iter().map(|l| refs(l)).collect();
    let scp_slices: Vec<&[PolicyRef<'_>]> = scp_refs.iter().map(Vec::as_slice).collect();
    let set = PolicySet {
        identity: &identity_refs,
        resource: resource.as_ref().map(|policy| PolicyRef {
            id: "resource",
            policy,
        }),
        boundary: boundary.as_ref().map(|policy| PolicyRef {
            id: "boundary",
            policy,
        }),
        session: &session_refs,
        scp_levels: &scp_slices,
    };

    let who = case.get("principal").cloned().unwrap_or_default();
    let principal = Principal {
        arn: text(&who, "arn").unwrap_or("arn:aws:iam::111122223333:user/alice"),
        account: text(&who, "account").unwrap_or("111122223333"),
        role_arn: text(&who, "role_arn"),
        kind: match text(&who, "kind") {
            Some("AssumedRole") => PrincipalKind::AssumedRole,
            Some("Root") => PrincipalKind::Root,
            _ => PrincipalKind::User,
        },
    };

    let requests = list(case.get("requests"));
    for (i, r) in requests.iter().enumerate() {
        let context = context(r.get("context"));
        let request = Request {
            principal: &principal,
            action: text(r, "action").unwrap_or_default(),
            resource: text(r, "resource").unwrap_or("*"),
            resource_account: text(r, "resource_account"),
            context: &context,
        };
        let expected = match text(r, "expect") {
            Some("Allow") => Decision::Allow,
            Some("ExplicitDeny") => Decision::ExplicitDeny,
            Some("ImplicitDeny") => Decision::ImplicitDeny,
            other => panic!("{file} request {i}: bad expect {other:?}"),
        };
        let got = evaluate(&request, &set);
        assert_eq!(got.decision, expected, "{file} request {i}: {r}");
        assert_eq!(
            evaluate_detailed(&request, &set).decision,
            expected,
            "{file} request {i}"
        );
    }
    requests.len()
}

#[test]
fn aws_documentation_examples() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "cases missing: {files:?}");
    let requests: usize = files.iter().map(|f| run_file(f)).sum();
    assert!(requests >= 40, "only {requests} requests");
}
