//! Properties over generated policies and requests.

mod common;

use common::{alice, session};
use latchkey_policy::{
    Context, Decision, Policy, PolicyKind, PolicyRef, PolicySet, Request, evaluate,
    evaluate_detailed,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "iam:CreateUser",
    "iam:GetUser",
    "ec2:RunInstances",
    "sts:AssumeRole",
];
const ACTION_PATTERNS: &[&str] = &[
    "*",
    "s3:*",
    "s3:Get*",
    "iam:*User",
    "iam:?etUser",
    "ec2:RunInstances",
    "*:Get*",
    "sts:AssumeRole",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/other",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:user/bob",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:iam::*:user/${aws:username}",
    "arn:aws:iam::111122223333:user/?ob",
    "arn:aws:s3:::b/k",
];

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(
            json!({"StringEquals": {"aws:RequestedRegion": "us-east-1"}})
        )),
        Just(Some(
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})
        )),
        Just(Some(
            json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
        )),
        Just(Some(
            json!({"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}})
        )),
        Just(Some(json!({"Null": {"aws:TokenIssueTime": "false"}}))),
        Just(Some(
            json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})
        )),
    ]
}

fn statement() -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::subsequence(ACTION_PATTERNS, 1..3),
        prop::sample::subsequence(RESOURCE_PATTERNS, 1..3),
        condition(),
    )
        .prop_map(|(allow, not_action, actions, resources, condition)| {
            let mut s =
                json!({"Effect": if allow { "Allow" } else { "Deny" }, "Resource": resources});
            s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            if let Some(c) = condition {
                s["Condition"] = c;
            }
            s
        })
}

fn document() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(), 1..4)
}

fn compile(kind: PolicyKind, statements: &[Value]) -> Option<Policy> {
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse(&doc.to_string(), kind).ok()
}

fn request_context() -> impl Strategy<Value = Context> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(region, mfa, ip, tags)| {
            let mut c = Context::new();
            c.insert("aws:username", "alice");
            c.insert(
                "aws:RequestedRegion",
                if region { "us-east-1" } else { "eu-west-1" },
            );
            if mfa {
                c.insert_bool("aws:MultiFactorAuthPresent", true);
            }
            c.insert("aws:SourceIp", if ip { "10.1.2.3" } else { "203.0.113.9" });
            if tags {
                c.insert_multi("aws:TagKeys", ["team", "cost"]);
            }
            c.insert("aws:CurrentTime", "2024-01-01T00:00:00Z");
            c
        },
    )
}

#[derive(Debug)]
struct Layers {
    identity: Vec<Policy>,
    boundary: Option<Policy>,
    session: Vec<Policy>,
    scp: Vec<Policy>,
}

fn layers() -> impl Strategy<Value = Layers> {
    (
        prop::collection::vec(document(), 0..3),
        prop::option::of(document()),
        prop::collection::vec(document(), 0..2),
        prop::collection::vec(document(), 0..2),
    )
        .prop_map(|(identity, boundary, session, scp)| Layers {
            identity: identity
                .iter()
                .filter_map(|d| compile(PolicyKind::Identity, d))
                .collect(),
            boundary: boundary.and_then(|d| compile(PolicyKind::Boundary, &d)),
            session: session
                .iter()
                .filter_map(|d| compile(PolicyKind::Session, d))
                .collect(),
            scp: scp
                .iter()
                .filter_map(|d| compile(PolicyKind::ServiceControl, d))
                .collect(),
        })
}

fn refs(policies: &[Policy]) -> Vec<PolicyRef<'_>> {
    policies
        .iter()
        .map(|policy| PolicyRef { id: "p", policy })
        .collect()
}

fn decide(
    layers: &Layers,
    action: &str,
    resource: &str,
    context: &Context,
    as_session: bool,
) -> Decision {
    let identity = refs(&layers.identity);
    let session_refs = refs(&layers.session);
    let scp = refs(&layers.scp);
    let levels = [scp.as_slice()];
    let set = PolicySet {
        identity: &identity,
        resource: None,
        boundary: layers
            .boundary
            .as_ref()
            .map(|policy| PolicyRef { id: "b", policy }),
        session: &session_refs,
        scp_levels: if scp.is_empty() { &[] } else { &levels },
    };
    let principal = if as_session { session() } else { alice() };
    let request = Request {
        principal: &principal,
        action,
        resource,
        resource_account: None,
        context,
    };
    let quick = evaluate(&request, &set);
    assert_eq!(quick.decision, evaluate_detailed(&request, &set).decision);
    quick.decision
}

fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "Version",
            "Statement",
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Principal",
            "NotPrincipal",
            "Condition",
            "AWS",
            "Service",
            "StringLike",
            "ForAllValues:NumericLessThanIfExists",
            "Null",
            "IpAddress",
            "DateEquals",
            "ArnLike",
            "BinaryEquals",
            "aws:SourceIp",
            "Id",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "2012-10-17",
            "2008-10-17",
            "Allow",
            "Deny",
            "*",
            "s3:*",
            "arn:aws:s3:::b/${aws:username}",
            "${",
            "${*}",
            "${a, '}",
            "10.0.0.0/8",
            "::/200",
            "arn:aws:iam::111122223333:root",
            "111122223333",
            "sts:AssumeRole",
            "2024-01-01",
            "QQ==",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

const KINDS: [PolicyKind; 6] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Boundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::Trust,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn adding_a_deny_never_allows_more(
        layers in layers(),
        deny in statement(),
        action in prop::sample::select(ACTIONS),
        resource in prop::sample::select(RESOURCES),
        context in request_context(),
        as_session in any::<bool>(),
    ) {
        let before = decide(&layers, action, resource, &context, as_session);
        let mut deny = deny;
        deny["Effect"] = json!("Deny");
        let mut more = Layers { identity: layers.identity.clone(), ..layers };
        if let Some(p) = compile(PolicyKind::Identity, &[deny]) {
            more.identity.push(p);
        }
        let after = decide(&more, action, resource, &context, as_session);
        prop_assert!(before == Decision::Allow || after != Decision::Allow);

        // A deny that certainly matches wins over anything.
        let certain = json!({"Effect": "Deny", "Action": action, "Resource": "*"});
        if let Some(p) = compile(PolicyKind::Identity, &[certain]) {
            more.identity.push(p);
        }
        prop_assert_eq!(decide(&more, action, resource, &context, as_session), Decision::ExplicitDeny);
    }

    #[test]
    fn without_allow_statements_nothing_is_allowed(
        layers in layers(),
        action in prop::sample::select(ACTIONS),
        resource in prop::sample::select(RESOURCES),
        context in request_context(),
        as_session in any::<bool>(),
        documents in prop::collection::vec(document(), 1..4),
    ) {
        let denies_only: Vec<Policy> = documents
            .iter()
            .filter_map(|d| {
                let denies: Vec<Value> = d.iter().filter(|s| s["Effect"] == "Deny").cloned().collect();
                compile(PolicyKind::Identity, &denies)
            })
            .collect();
        let stripped = Layers { identity: denies_only, ..layers };
        prop_assert_ne!(decide(&stripped, action, resource, &context, as_session), Decision::Allow);
    }

    #[test]
    fn action_matching_ignores_case(
        layers in layers(),
        action in prop::sample::select(ACTIONS),
        flips in prop::collection::vec(any::<bool>(), 32),
        resource in prop::sample::select(RESOURCES),
        context in request_context(),
    ) {
        let mangled: String = action
            .chars()
            .zip(flips.iter().cycle())
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        prop_assert_eq!(
            decide(&layers, action, resource, &context, false),
            decide(&layers, &mangled, resource, &context, false)
        );
    }

    #[test]
    fn parse_never_panics_on_strings(text in ".{0,200}") {
        for kind in KINDS {
            let _ = Policy::parse(&text, kind);
        }
    }

    #[test]
    fn parse_and_evaluate_never_panic_on_json(value in json_value(), wrap in any::<bool>(), action in ".{0,10}", resource in ".{0,20}") {
        let doc = if wrap {
            json!({"Version": "2012-10-17", "Statement": value}).to_string()
        } else {
            value.to_string()
        };
        for kind in KINDS {
            if let Ok(policy) = Policy::parse(&doc, kind) {
                let _ = policy.context_keys();
                let refs = [PolicyRef { id: "p", policy: &policy }];
                let set = PolicySet { identity: &refs, resource: Some(refs[0]), ..PolicySet::default() };
                let context = Context::new();
                let principal = session();
                let request = Request { principal: &principal, action: &action, resource: &resource, resource_account: None, context: &context };
                let _ = evaluate_detailed(&request, &set);
            }
        }
    }
}
