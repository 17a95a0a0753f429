//! Policy documents: the document (the input up to the first NUL byte) parsed and validated as
//! every `PolicyKind`; each kind that accepts it takes its place in a policy set, which is then
//! evaluated against a request built from the rest of the input. Seeds: the documents of the
//! policy engine's test cases and of the end-to-end tests.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use latchkey_policy::{
    CompiledSet, Context, NamedPolicy, Policy, PolicyKind, PolicyRef, PolicySet, Principal,
    PrincipalKind, Request, evaluate, evaluate_detailed,
};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 6] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Boundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::Trust,
];

// Values real requests carry, so that mutated documents and requests meet often enough for
// statements to match; `Pick::Raw` lets the fuzzer bring its own.
const ACTIONS: &[&str] = &[
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "sts:AssumeRole",
    "sts:TagSession",
    "s3:GetObject",
    "ec2:StartInstances",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:role/Engineer",
    "arn:aws:s3:::bucket/home/alice/file",
    "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
];
const ACCOUNTS: &[&str] = &["111122223333", "444455556666"];
const KEYS: &[&str] = &[
    "aws:username",
    "aws:userid",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:SecureTransport",
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:RequestedRegion",
    "aws:PrincipalTag/Project",
    "aws:ResourceTag/Project",
    "aws:RequestTag/Project",
    "aws:TagKeys",
    "aws:PrincipalArn",
    "sts:ExternalId",
];
const VALUES: &[&str] = &[
    "alice",
    "blue",
    "10.0.0.1",
    "203.0.113.7",
    "2001:db8::1",
    "2024-01-01T12:00:00Z",
    "1704110400",
    "true",
    "false",
    "us-east-1",
    "3600",
    "arn:aws:iam::111122223333:user/alice",
];

#[derive(Arbitrary, Debug)]
enum Pick<'a> {
    Known(u8),
    Raw(&'a str),
}

impl<'a> Pick<'a> {
    fn get(&self, known: &[&'a str]) -> &'a str {
        match *self {
            Pick::Known(i) => known[usize::from(i) % known.len()],
            Pick::Raw(s) => s,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Kind<'a> {
    Root,
    User,
    AssumedRole,
    FederatedUser,
    Federated(&'a str),
    Service(&'a str),
    Anonymous,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    kind: Kind<'a>,
    name: Pick<'a>,
    account: Pick<'a>,
    action: Pick<'a>,
    resource: Pick<'a>,
    resource_account: Option<Pick<'a>>,
    context: Vec<(Pick<'a>, Vec<Pick<'a>>)>,
    /// Which layers of the set the parsed document fills (one bit per kind).
    layers: u8,
}

fuzz_target!(|data: &[u8]| {
    let (document, rest) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(document) = std::str::from_utf8(document) else {
        return;
    };
    let parsed: Vec<Option<Policy>> = KINDS
        .iter()
        .map(|&kind| {
            let policy = Policy::parse(document, kind).ok()?;
            assert_eq!(policy.kind(), kind);
            let _ = (policy.version(), policy.context_keys());
            for statement in policy.statements() {
                let _ = (statement.sid(), statement.index(), statement.effect());
            }
            Some(policy)
        })
        .collect();
    if parsed.iter().all(Option::is_none) {
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    evaluate_all(&parsed, &input);
});

fn evaluate_all(parsed: &[Option<Policy>], input: &Input<'_>) {
    let account = input.account.get(ACCOUNTS);
    let name = input.name.get(VALUES);
    let (arn, role_arn, kind) = match input.kind {
        Kind::Root => (
            format!("arn:aws:iam::{account}:root"),
            None,
            PrincipalKind::Root,
        ),
        Kind::User => (
            format!("arn:aws:iam::{account}:user/{name}"),
            None,
            PrincipalKind::User,
        ),
        Kind::AssumedRole => (
            format!("arn:aws:sts::{account}:assumed-role/Engineer/{name}"),
            Some(format!("arn:aws:iam::{account}:role/Engineer")),
            PrincipalKind::AssumedRole,
        ),
        Kind::FederatedUser => (
            format!("arn:aws:sts::{account}:federated-user/{name}"),
            None,
            PrincipalKind::FederatedUser,
        ),
        Kind::Federated(provider) => (
            provider.to_owned(),
            None,
            PrincipalKind::Federated(provider),
        ),
        Kind::Service(service) => (service.to_owned(), None, PrincipalKind::Service(service)),
        Kind::Anonymous => ("*".to_owned(), None, PrincipalKind::Anonymous),
    };
    let principal = Principal {
        arn: &arn,
        account,
        role_arn: role_arn.as_deref(),
        kind,
    };
    let mut context = Context::new();
    for (key, values) in &input.context {
        let key = key.get(KEYS);
        match values.as_slice() {
            [single] => context.insert(key, single.get(VALUES)),
            many => context.insert_multi(key, many.iter().map(|v| v.get(VALUES))),
        }
    }
    let request = Request {
        principal: &principal,
        action: input.action.get(ACTIONS),
        resource: input.resource.get(RESOURCES),
        resource_account: input.resource_account.as_ref().map(|a| a.get(ACCOUNTS)),
        context: &context,
    };

    // Each kind that parsed, in its layer when its bit is set (Resource and Trust share one).
    let layer = |i: usize| {
        parsed[i]
            .as_ref()
            .filter(|_| input.layers & (1 << i) != 0)
            .map(|policy| NamedPolicy::new(format!("policy-{i}"), policy.clone()))
    };
    let compiled = CompiledSet {
        identity: layer(0).into_iter().collect(),
        boundary: layer(2),
        session: layer(3).into_iter().collect(),
        scp_levels: layer(4).map(|scp| vec![scp]).into_iter().collect(),
    };
    let resource = layer(1).or_else(|| layer(5));

    let identity: Vec<PolicyRef<'_>> = compiled.identity.iter().map(NamedPolicy::as_ref).collect();
    let session: Vec<PolicyRef<'_>> = compiled.session.iter().map(NamedPolicy::as_ref).collect();
    let scp: Vec<Vec<PolicyRef<'_>>> = compiled
        .scp_levels
        .iter()
        .map(|level| level.iter().map(NamedPolicy::as_ref).collect())
        .collect();
    let scp_levels: Vec<&[PolicyRef<'_>]> = scp.iter().map(Vec::as_slice).collect();
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref().map(NamedPolicy::as_ref),
        boundary: compiled.boundary.as_ref().map(NamedPolicy::as_ref),
        session: &session,
        scp_levels: &scp_levels,
    };

    let quick = evaluate(&request, &set);
    let detailed = evaluate_detailed(&request, &set);
    // The borrowed and the owned set, quick and detailed: four ways to one decision.
    assert_eq!(quick.decision, detailed.decision, "{request:?}");
    assert_eq!(quick.reason, detailed.reason, "{request:?}");
    let owned = compiled.evaluate(&request, set.resource);
    assert_eq!(owned.decision, quick.decision, "{request:?}");
    let owned_detailed = compiled.evaluate_detailed(&request, set.resource);
    assert_eq!(owned_detailed, detailed, "{request:?}");
    let _ = detailed.denial_message(&arn, request.action, request.resource);
}
