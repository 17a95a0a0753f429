//! Evaluation logic: actions, resources, principals, and how policy types combine.

mod common;

use common::{ACCOUNT, OTHER, alice, check, ctx, identity, parse, session};
use latchkey_policy::{
    CompiledSet, Context, Decision, DenyReason, Effect, NamedPolicy, Policy, PolicyKind, PolicyRef,
    PolicySet, PolicyType, Principal, PrincipalKind, Request, evaluate, evaluate_detailed,
};

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

fn allow(action: &str, resource: &str) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}}}"#
    ))
}

fn deny(action: &str, resource: &str) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"{action}","Resource":"{resource}"}}}}"#
    ))
}

fn allowed(policy: &Policy, action: &str, resource: &str) -> bool {
    check(&[policy], &alice(), action, resource, &Context::new()).is_allowed()
}

fn resource_policy(principal: &str, action: &str) -> Policy {
    parse(
        PolicyKind::Resource,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"{action}","Resource":"*"}}}}"#
        ),
    )
}

struct Setup<'a> {
    principal: Principal<'a>,
    identity: Vec<&'a Policy>,
    resource: Option<&'a Policy>,
    boundary: Option<&'a Policy>,
    session: Vec<&'a Policy>,
    scps: Vec<Vec<&'a Policy>>,
    resource_account: Option<&'a str>,
}

impl<'a> Setup<'a> {
    fn new(principal: Principal<'a>) -> Self {
        Setup {
            principal,
            identity: Vec::new(),
            resource: None,
            boundary: None,
            session: Vec::new(),
            scps: Vec::new(),
            resource_account: None,
        }
    }

    fn run(&self, action: &str, resource: &str) -> latchkey_policy::Evaluation {
        let refs = |list: &[&'a Policy]| -> Vec<PolicyRef<'a>> {
            list.iter()
                .map(|p| PolicyRef { id: "p", policy: p })
                .collect()
        };
        let identity = refs(&self.identity);
        let session = refs(&self.session);
        let levels: Vec<Vec<PolicyRef<'a>>> = self.scps.iter().map(|l| refs(l)).collect();
        let level_slices: Vec<&[PolicyRef<'a>]> = levels.iter().map(Vec::as_slice).collect();
        let set = PolicySet {
            identity: &identity,
            resource: self.resource.map(|p| PolicyRef {
                id: "resource",
                policy: p,
            }),
            boundary: self.boundary.map(|p| PolicyRef {
                id: "boundary",
                policy: p,
            }),
            session: &session,
            scp_levels: &level_slices,
        };
        let context = Context::new();
        let request = Request {
            principal: &self.principal,
            action,
            resource,
            resource_account: self.resource_account,
            context: &context,
        };
        let quick = evaluate(&request, &set);
        let detailed = evaluate_detailed(&request, &set);
        assert_eq!(
            (quick.decision, quick.reason),
            (detailed.decision, detailed.reason)
        );
        assert!(quick.matched.is_empty() && quick.missing_context_keys.is_empty());
        detailed
    }
}

#[test]
fn default_is_implicit_deny() {
    let e = Setup::new(alice()).run("iam:CreateUser", "*");
    assert_eq!(e.decision, Decision::ImplicitDeny);
    assert_eq!(e.reason, Some(DenyReason::NoIdentityPolicyAllows));
}

#[test]
fn action_matching() {
    let p = allow("iam:Get*", "*");
    assert!(allowed(&p, "iam:GetUser", "*"));
    assert!(allowed(&p, "IAM:getuser", "*"));
    assert!(!allowed(&p, "iam:ListUsers", "*"));
    assert!(!allowed(&p, "s3:GetObject", "*"));
    assert!(allowed(&allow("iam:?etUser", "*"), "iam:GetUser", "*"));
    assert!(allowed(&allow("*", "*"), "anything:Goes", "*"));
    assert!(allowed(&allow("s?:Get*", "*"), "s3:GetObject", "*"));
    assert!(!allowed(
        &allow("s?:Get*", "*"),
        "sts:GetCallerIdentity",
        "*"
    ));
    assert!(allowed(&allow("*:Get*", "*"), "sts:GetCallerIdentity", "*"));
}

#[test]
fn not_action_allows_everything_else() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}}"#,
    );
    assert!(allowed(&p, "s3:GetObject", "*"));
    assert!(!allowed(&p, "iam:CreateUser", "*"));
    assert!(!allowed(&p, "Organizations:ListAccounts", "*"));
}

#[test]
fn resource_matching() {
    let p = allow("s3:GetObject", "arn:aws:s3:::bucket/home/*");
    assert!(allowed(&p, "s3:GetObject", "arn:aws:s3:::bucket/home/a/b"));
    assert!(!allowed(&p, "s3:GetObject", "arn:aws:s3:::bucket/other"));
    assert!(!allowed(&p, "s3:GetObject", "arn:aws:s3:::BUCKET/home/a"));
    assert!(!allowed(&p, "s3:GetObject", "*"));
    let users = allow("iam:GetUser", "arn:aws:iam::*:user/?ob");
    assert!(allowed(
        &users,
        "iam:GetUser",
        "arn:aws:iam::111122223333:user/bob"
    ));
    assert!(!allowed(
        &users,
        "iam:GetUser",
        "arn:aws:iam::111122223333:user/boob"
    ));
}

#[test]
fn not_resource() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotResource":["arn:aws:s3:::secret","arn:aws:s3:::secret/*"]}}"#,
    );
    assert!(allowed(&p, "s3:GetObject", "arn:aws:s3:::public/x"));
    assert!(!allowed(&p, "s3:GetObject", "arn:aws:s3:::secret/x"));
    assert!(!allowed(&p, "s3:ListBucket", "arn:aws:s3:::secret"));
}

#[test]
fn resource_variables() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
    );
    let me = "arn:aws:iam::111122223333:user/alice";
    let c = ctx(&[("aws:username", "alice")]);
    assert!(check(&[&p], &alice(), "iam:CreateAccessKey", me, &c).is_allowed());
    assert!(
        !check(
            &[&p],
            &alice(),
            "iam:CreateAccessKey",
            "arn:aws:iam::111122223333:user/bob",
            &c
        )
        .is_allowed()
    );
    // No value: the resource matches nothing, and the key is reported missing.
    let e = check(&[&p], &alice(), "iam:CreateAccessKey", me, &Context::new());
    assert!(!e.is_allowed());
    assert_eq!(e.missing_context_keys, vec!["aws:username".to_owned()]);
    // Defaults and escapes.
    let d = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/${*}"}}"#,
    );
    assert!(
        check(
            &[&d],
            &alice(),
            "s3:GetObject",
            "arn:aws:s3:::b/shared/*",
            &c
        )
        .is_allowed()
    );
    assert!(
        !check(
            &[&d],
            &alice(),
            "s3:GetObject",
            "arn:aws:s3:::b/shared/x",
            &c
        )
        .is_allowed()
    );
    let team = ctx(&[("aws:PrincipalTag/team", "red")]);
    assert!(
        check(
            &[&d],
            &alice(),
            "s3:GetObject",
            "arn:aws:s3:::b/red/*",
            &team
        )
        .is_allowed()
    );
    // 2008-10-17: the text is literal.
    let legacy = identity(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}"}}"#,
    );
    assert!(
        !check(
            &[&legacy],
            &alice(),
            "s3:GetObject",
            "arn:aws:s3:::b/alice",
            &c
        )
        .is_allowed()
    );
    assert!(
        check(
            &[&legacy],
            &alice(),
            "s3:GetObject",
            "arn:aws:s3:::b/${aws:username}",
            &c
        )
        .is_allowed()
    );
}

#[test]
fn explicit_deny_wins_everywhere() {
    let admin = identity(ADMIN);
    let no_iam = deny("iam:*", "*");
    let admin_but_no_iam = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#,
    );
    let cases: [(&str, PolicyType); 5] = [
        ("identity", PolicyType::Identity),
        ("boundary", PolicyType::Boundary),
        ("session", PolicyType::Session),
        ("scp", PolicyType::ServiceControl),
        ("resource", PolicyType::Resource),
    ];
    let resource_deny = parse(
        PolicyKind::Resource,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"iam:*","Resource":"*"}]}"#,
    );
    for (place, policy_type) in cases {
        let mut s = Setup::new(session());
        s.identity = vec![&admin];
        s.boundary = Some(&admin);
        s.session = vec![&admin];
        s.scps = vec![vec![&admin]];
        match place {
            "identity" => s.identity.push(&no_iam),
            "boundary" => s.boundary = Some(&admin_but_no_iam),
            "session" => s.session.push(&no_iam),
            "scp" => s.scps.push(vec![&admin, &no_iam]),
            _ => s.resource = Some(&resource_deny),
        }
        let e = s.run("iam:CreateUser", "*");
        assert_eq!(e.decision, Decision::ExplicitDeny, "{place}");
        assert_eq!(
            e.reason,
            Some(DenyReason::ExplicitDenyIn(policy_type)),
            "{place}"
        );
        assert!(
            e.matched
                .iter()
                .any(|m| m.effect == Effect::Deny && m.policy_type == policy_type)
        );
        assert!(s.run("s3:GetObject", "*").is_allowed(), "{place}");
    }
}

#[test]
fn boundary_narrows_an_admin() {
    let admin = identity(ADMIN);
    let s3_only = allow("s3:*", "*");
    let mut s = Setup::new(alice());
    s.identity = vec![&admin];
    s.boundary = Some(&s3_only);
    assert!(s.run("s3:PutObject", "*").is_allowed());
    let e = s.run("iam:CreateUser", "*");
    assert_eq!(e.reason, Some(DenyReason::NoBoundaryAllows));
    // The boundary alone grants nothing.
    s.identity = vec![];
    assert_eq!(
        s.run("s3:PutObject", "*").reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
}

#[test]
fn session_policies_intersect() {
    let admin = identity(ADMIN);
    let read = parse(
        PolicyKind::Session,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:Get*","iam:Get*"],"Resource":"*"}}"#,
    );
    let iam_only = parse(
        PolicyKind::Session,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}"#,
    );
    let mut s = Setup::new(session());
    s.identity = vec![&admin];
    s.session = vec![&read];
    assert!(s.run("s3:GetObject", "*").is_allowed());
    assert_eq!(
        s.run("s3:PutObject", "*").reason,
        Some(DenyReason::NoSessionPolicyAllows)
    );
    // Several session policies (inline plus PolicyArns) allow their union.
    s.session = vec![&read, &iam_only];
    assert!(s.run("iam:CreateRole", "*").is_allowed());
    // A session policy grants nothing the identity policies do not.
    let nothing = allow("ec2:*", "*");
    s.identity = vec![&nothing];
    assert_eq!(
        s.run("s3:GetObject", "*").reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
}

#[test]
fn scp_levels_must_each_allow() {
    let admin = identity(ADMIN);
    let full = parse(PolicyKind::ServiceControl, ADMIN);
    let no_ec2 = parse(
        PolicyKind::ServiceControl,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"ec2:*","Resource":"*"}}"#,
    );
    let mut s = Setup::new(alice());
    s.identity = vec![&admin];
    s.scps = vec![vec![&full], vec![&no_ec2], vec![&full]];
    assert!(s.run("s3:GetObject", "*").is_allowed());
    let e = s.run("ec2:RunInstances", "*");
    assert_eq!(
        (e.decision, e.reason),
        (Decision::ImplicitDeny, Some(DenyReason::NoScpAllows))
    );
    // A level with no policy allowing it denies, even if others allow.
    let empty_level: Vec<&Policy> = vec![];
    s.scps = vec![vec![&full], empty_level];
    assert_eq!(
        s.run("s3:GetObject", "*").reason,
        Some(DenyReason::NoScpAllows)
    );
    // SCPs grant nothing on their own.
    s.identity = vec![];
    s.scps = vec![vec![&full]];
    assert_eq!(
        s.run("s3:GetObject", "*").reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
}

#[test]
fn same_account_resource_policy() {
    let s3_only = allow("s3:*", "*");
    let named_user = resource_policy(
        r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
        "sqs:SendMessage",
    );
    let named_session = resource_policy(
        r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Dev/s1"}"#,
        "sqs:SendMessage",
    );
    let named_role = resource_policy(
        r#"{"AWS":"arn:aws:iam::111122223333:role/team/Dev"}"#,
        "sqs:SendMessage",
    );
    let named_account = resource_policy(
        r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
        "sqs:SendMessage",
    );
    let everyone = resource_policy(r#""*""#, "sqs:SendMessage");

    // The exact user ARN: allowed without an identity allow, and a boundary does not block it.
    let mut s = Setup::new(alice());
    s.resource = Some(&named_user);
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
    s.boundary = Some(&s3_only);
    assert!(s.run("sqs:SendMessage", "*").is_allowed());

    // The exact session ARN: session policies and boundaries do not block it either.
    let mut s = Setup::new(session());
    s.resource = Some(&named_session);
    s.boundary = Some(&s3_only);
    s.session = vec![&s3_only];
    assert!(s.run("sqs:SendMessage", "*").is_allowed());

    // The role ARN: no identity allow needed, but boundary and session policies apply.
    s.resource = Some(&named_role);
    s.boundary = None;
    s.session = vec![];
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
    s.boundary = Some(&s3_only);
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoBoundaryAllows)
    );
    s.boundary = None;
    s.session = vec![&s3_only];
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoSessionPolicyAllows)
    );

    // "*" likewise grants without an identity allow.
    let mut s = Setup::new(alice());
    s.resource = Some(&everyone);
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
    assert!(!s.run("sqs:DeleteQueue", "*").is_allowed());

    // The account delegates: an identity-based allow is still needed.
    s.resource = Some(&named_account);
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
    let sqs = allow("sqs:*", "*");
    s.identity = vec![&sqs];
    assert!(s.run("sqs:SendMessage", "*").is_allowed());

    // A resource policy for someone else grants nothing.
    let bob = resource_policy(
        r#"{"AWS":"arn:aws:iam::111122223333:user/bob"}"#,
        "sqs:SendMessage",
    );
    let mut s = Setup::new(alice());
    s.resource = Some(&bob);
    assert!(!s.run("sqs:SendMessage", "*").is_allowed());
}

#[test]
fn cross_account_needs_both_sides() {
    let sqs = allow("sqs:*", "*");
    let named = resource_policy(
        r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
        "sqs:SendMessage",
    );
    let mut s = Setup::new(alice());
    s.resource_account = Some(OTHER);
    s.resource = Some(&named);
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
    s.identity = vec![&sqs];
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
    s.resource = None;
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoResourcePolicyAllows)
    );
    let other_account = resource_policy(r#"{"AWS":"444455556666"}"#, "sqs:SendMessage");
    s.resource = Some(&other_account);
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoResourcePolicyAllows)
    );
    let my_account = resource_policy(r#"{"AWS":"111122223333"}"#, "sqs:SendMessage");
    s.resource = Some(&my_account);
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
    // A boundary still applies across accounts.
    let s3_only = allow("s3:*", "*");
    s.boundary = Some(&s3_only);
    assert_eq!(
        s.run("sqs:SendMessage", "*").reason,
        Some(DenyReason::NoBoundaryAllows)
    );
    // Same account named explicitly counts as same account.
    let mut s = Setup::new(alice());
    s.resource_account = Some(ACCOUNT);
    s.resource = Some(&named);
    assert!(s.run("sqs:SendMessage", "*").is_allowed());
}

#[test]
fn trust_policies() {
    let trust = parse(
        PolicyKind::Trust,
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"xyz"}}},
            {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity",
             "Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:org/*"}}}
        ]}"#,
    );
    let role = "arn:aws:iam::111122223333:role/Target";
    let bob = Principal {
        arn: "arn:aws:iam::444455556666:user/bob",
        account: OTHER,
        role_arn: None,
        kind: PrincipalKind::User,
    };
    let assume = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/*"}}"#,
    );
    let run =
        |principal: &Principal<'_>, identity: &[PolicyRef<'_>], action: &str, context: &Context| {
            let set = PolicySet {
                identity,
                resource: Some(PolicyRef {
                    id: "trust",
                    policy: &trust,
                }),
                ..PolicySet::default()
            };
            let request = Request {
                principal,
                action,
                resource: role,
                resource_account: Some(ACCOUNT),
                context,
            };
            evaluate(&request, &set)
        };
    let with_id = ctx(&[("sts:ExternalId", "xyz")]);
    let ids = [PolicyRef {
        id: "assume",
        policy: &assume,
    }];
    assert!(run(&bob, &ids, "sts:AssumeRole", &with_id).is_allowed());
    assert_eq!(
        run(&bob, &ids, "sts:AssumeRole", &Context::new()).reason,
        Some(DenyReason::NoResourcePolicyAllows)
    );
    assert_eq!(
        run(&bob, &[], "sts:AssumeRole", &with_id).reason,
        Some(DenyReason::NoIdentityPolicyAllows)
    );
    let ec2 = Principal {
        arn: "ec2.amazonaws.com",
        account: "",
        role_arn: None,
        kind: PrincipalKind::Service("ec2.amazonaws.com"),
    };
    assert!(run(&ec2, &[], "sts:AssumeRole", &Context::new()).is_allowed());
    let lambda = Principal {
        kind: PrincipalKind::Service("lambda.amazonaws.com"),
        ..ec2
    };
    assert_eq!(
        run(&lambda, &[], "sts:AssumeRole", &Context::new()).reason,
        Some(DenyReason::NoResourcePolicyAllows)
    );
    let github = Principal {
        arn: "repo:org/app:ref:refs/heads/main",
        account: "",
        role_arn: None,
        kind: PrincipalKind::Federated(
            "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
        ),
    };
    let sub = ctx(&[(
        "token.actions.githubusercontent.com:sub",
        "repo:org/app:ref:refs/heads/main",
    )]);
    assert!(run(&github, &[], "sts:AssumeRoleWithWebIdentity", &sub).is_allowed());
    assert!(!run(&github, &[], "sts:AssumeRole", &sub).is_allowed());
    let anonymous = Principal {
        arn: "",
        account: "",
        role_arn: None,
        kind: PrincipalKind::Anonymous,
    };
    assert!(!run(&anonymous, &[], "sts:AssumeRoleWithWebIdentity", &sub).is_allowed());
}

#[test]
fn principal_forms() {
    let forms: [(&str, bool, bool); 9] = [
        // (Principal, matches alice, matches the Dev session)
        (r#""*""#, true, true),
        (r#"{"AWS":"*"}"#, true, true),
        (r#"{"AWS":"111122223333"}"#, true, true),
        (r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, true, true),
        (
            r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
            true,
            false,
        ),
        (
            r#"{"AWS":"arn:aws:iam::111122223333:role/team/Dev"}"#,
            false,
            true,
        ),
        (
            r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Dev/s1"}"#,
            false,
            true,
        ),
        (
            r#"{"AWS":["arn:aws:iam::444455556666:root","arn:aws:iam::111122223333:user/alice"]}"#,
            true,
            false,
        ),
        (
            r#"{"Service":"ec2.amazonaws.com","AWS":"444455556666"}"#,
            false,
            false,
        ),
    ];
    let sqs = allow("sqs:*", "*");
    for (principal, for_alice, for_session) in forms {
        let policy = resource_policy(principal, "sqs:SendMessage");
        for (who, expected) in [(alice(), for_alice), (session(), for_session)] {
            let mut s = Setup::new(who);
            s.identity = vec![&sqs];
            s.resource = Some(&policy);
            s.resource_account = Some(OTHER);
            assert_eq!(
                s.run("sqs:SendMessage", "*").is_allowed(),
                expected,
                "{principal} for {}",
                who.arn
            );
        }
    }
}

#[test]
fn not_principal() {
    let sqs = allow("sqs:*", "*");
    let policy = |listed: &str| {
        parse(
            PolicyKind::Resource,
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[
                    {{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*"}},
                    {{"Effect":"Deny","NotPrincipal":{{"AWS":{listed}}},"Action":"sqs:*","Resource":"*"}}]}}"#
            ),
        )
    };
    let check = |p: &Policy, who: Principal<'_>| {
        let mut s = Setup::new(who);
        s.identity = vec![&sqs];
        s.resource = Some(p);
        s.run("sqs:SendMessage", "*").decision
    };
    // Listing the user without its account excludes nobody.
    let user_only = policy(r#"["arn:aws:iam::111122223333:user/alice"]"#);
    assert_eq!(check(&user_only, alice()), Decision::ExplicitDeny);
    let user_and_account = policy(r#"["arn:aws:iam::111122223333:user/alice","111122223333"]"#);
    assert_eq!(check(&user_and_account, alice()), Decision::Allow);
    assert_eq!(
        check(
            &user_and_account,
            common::user("arn:aws:iam::111122223333:user/bob")
        ),
        Decision::ExplicitDeny
    );
    // A session is excluded when the session, its role and its account are listed.
    let session_listed = policy(
        r#"["arn:aws:sts::111122223333:assumed-role/Dev/s1","arn:aws:iam::111122223333:role/team/Dev","arn:aws:iam::111122223333:root"]"#,
    );
    assert_eq!(check(&session_listed, session()), Decision::Allow);
    let role_and_account =
        policy(r#"["arn:aws:iam::111122223333:role/team/Dev","arn:aws:iam::111122223333:root"]"#);
    assert_eq!(check(&role_and_account, session()), Decision::ExplicitDeny);
    let everyone = policy(r#""*""#);
    assert_eq!(check(&everyone, alice()), Decision::Allow);
}

#[test]
fn root_needs_no_identity_policy_at_home() {
    let root = Principal {
        arn: "arn:aws:iam::111122223333:root",
        account: ACCOUNT,
        role_arn: None,
        kind: PrincipalKind::Root,
    };
    let mut s = Setup::new(root);
    assert!(s.run("iam:CreateUser", "*").is_allowed());
    let no_iam = deny("iam:*", "*");
    s.scps = vec![vec![&no_iam]];
    assert_eq!(
        s.run("iam:CreateUser", "*").decision,
        Decision::ExplicitDeny
    );
    s.scps = vec![];
    s.resource_account = Some(OTHER);
    assert_eq!(
        s.run("iam:CreateUser", "*").reason,
        Some(DenyReason::NoResourcePolicyAllows)
    );
}

#[test]
fn detailed_reports_matches_and_missing_keys() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"*"},
            {"Sid":"Mfa","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}},
            {"Sid":"Ip","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
            {"Sid":"Other","Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"ec2:Region":"x"}}}
        ]}"#,
    );
    let e = check(
        &[&p],
        &alice(),
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        &Context::new(),
    );
    assert_eq!(e.decision, Decision::ExplicitDeny);
    let sids: Vec<_> = e.matched.iter().map(|m| m.sid.as_deref()).collect();
    assert_eq!(sids, [Some("Read"), Some("Mfa")]);
    assert_eq!(e.matched[1].statement_index, 1);
    assert_eq!(e.matched[0].policy_id, "p0");
    assert_eq!(
        e.missing_context_keys,
        ["aws:MultiFactorAuthPresent", "aws:SourceIp"]
    );
    let mfa = ctx(&[
        ("aws:MultiFactorAuthPresent", "true"),
        ("aws:sourceip", "10.1.2.3"),
    ]);
    let e = check(&[&p], &alice(), "s3:GetObject", "arn:aws:s3:::b/k", &mfa);
    assert!(e.is_allowed());
    assert!(e.missing_context_keys.is_empty());
    assert_eq!(e.matched.len(), 2);
}

#[test]
fn denial_messages() {
    let e = Setup::new(alice()).run("iam:CreateUser", "arn:aws:iam::111122223333:user/bob");
    assert_eq!(
        e.denial_message(
            "arn:aws:iam::111122223333:user/alice",
            "iam:CreateUser",
            "arn:aws:iam::111122223333:user/bob"
        ),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::111122223333:user/bob because no identity-based policy allows the iam:CreateUser action"
    );
    let tail = |reason| {
        let e = latchkey_policy::Evaluation {
            decision: Decision::ImplicitDeny,
            reason: Some(reason),
            matched: vec![],
            missing_context_keys: vec![],
        };
        let m = e.denial_message("A", "iam:X", "R");
        m.trim_start_matches("User: A is not authorized to perform: iam:X on resource: R ")
            .to_owned()
    };
    assert_eq!(
        tail(DenyReason::ExplicitDenyIn(PolicyType::Identity)),
        "with an explicit deny in an identity-based policy"
    );
    assert_eq!(
        tail(DenyReason::ExplicitDenyIn(PolicyType::Boundary)),
        "with an explicit deny in a permissions boundary"
    );
    assert_eq!(
        tail(DenyReason::ExplicitDenyIn(PolicyType::ServiceControl)),
        "with an explicit deny in a service control policy"
    );
    assert_eq!(
        tail(DenyReason::ExplicitDenyIn(PolicyType::Session)),
        "with an explicit deny in a session policy"
    );
    assert_eq!(
        tail(DenyReason::ExplicitDenyIn(PolicyType::Resource)),
        "with an explicit deny in a resource-based policy"
    );
    assert_eq!(
        tail(DenyReason::NoBoundaryAllows),
        "because no permissions boundary allows the iam:X action"
    );
    assert_eq!(
        tail(DenyReason::NoScpAllows),
        "because no service control policy allows the iam:X action"
    );
    assert_eq!(
        tail(DenyReason::NoSessionPolicyAllows),
        "because no session policy allows the iam:X action"
    );
    assert_eq!(
        tail(DenyReason::NoResourcePolicyAllows),
        "because no resource-based policy allows the iam:X action"
    );
}

#[test]
fn compiled_set_agrees_with_borrowed_set() {
    let admin = identity(ADMIN);
    let s3_only = allow("s3:*", "*");
    let no_delete = deny("s3:Delete*", "*");
    let set = CompiledSet {
        identity: vec![
            NamedPolicy::new("admin", admin.clone()),
            NamedPolicy::new("no-delete", no_delete),
        ],
        boundary: Some(NamedPolicy::new("boundary", s3_only)),
        session: vec![],
        scp_levels: vec![vec![NamedPolicy::new(
            "scp",
            parse(PolicyKind::ServiceControl, ADMIN),
        )]],
    };
    let context = Context::new();
    let principal = alice();
    for (action, expected) in [
        ("s3:GetObject", Decision::Allow),
        ("s3:DeleteObject", Decision::ExplicitDeny),
        ("iam:CreateUser", Decision::ImplicitDeny),
    ] {
        let request = Request {
            principal: &principal,
            action,
            resource: "*",
            resource_account: None,
            context: &context,
        };
        assert_eq!(set.evaluate(&request, None).decision, expected, "{action}");
        let detailed = set.evaluate_detailed(&request, None);
        assert_eq!(detailed.decision, expected);
        assert!(!detailed.matched.is_empty() || expected == Decision::ImplicitDeny);
        let identity: Vec<PolicyRef<'_>> = set.identity.iter().map(NamedPolicy::as_ref).collect();
        let level: Vec<PolicyRef<'_>> = set.scp_levels[0].iter().map(NamedPolicy::as_ref).collect();
        let levels = [level.as_slice()];
        let borrowed = PolicySet {
            identity: &identity,
            resource: None,
            boundary: set.boundary.as_ref().map(NamedPolicy::as_ref),
            session: &[],
            scp_levels: &levels,
        };
        assert_eq!(evaluate(&request, &borrowed), set.evaluate(&request, None));
    }
}
