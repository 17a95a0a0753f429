//! Cost of one authorization decision for a principal with 10 policies of 5, 10 or 100
//! statements each (50, 100, 1,000 in total), most of them for other services, with conditions
//! on aws:RequestedRegion, aws:PrincipalTag, aws:SourceIp and aws:CurrentTime.
//!
//! `CARGO_TARGET_DIR=/tmp/target-policy cargo bench -p latchkey-policy --bench evaluate`

use divan::{Bencher, black_box};
use latchkey_policy::{
    CompiledSet, Context, NamedPolicy, Policy, PolicyKind, Principal, PrincipalKind, Request,
};
use serde_json::{Value, json};

fn main() {
    divan::main();
}

const SERVICES: &[&str] = &[
    "ec2",
    "iam",
    "dynamodb",
    "lambda",
    "sqs",
    "sns",
    "kms",
    "logs",
    "cloudwatch",
    "s3",
    "rds",
    "ecr",
    "ecs",
    "sts",
    "secretsmanager",
];

fn condition(i: usize) -> Value {
    match i % 4 {
        0 => json!({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}),
        1 => json!({"StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}}),
        2 => json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}),
        _ => json!({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}),
    }
}

fn statement(i: usize) -> Value {
    let service = SERVICES[i % SERVICES.len()];
    if i % 25 == 7 {
        // A region guardrail that applies to every service, as real accounts have.
        return json!({
            "Effect": "Deny",
            "NotAction": ["iam:*", "sts:*", "organizations:*"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1", "us-east-1"]}}
        });
    }
    let actions = if i % 10 == 3 {
        json!(format!("{service}:*"))
    } else {
        json!([
            format!("{service}:Get*"),
            format!("{service}:List*"),
            format!("{service}:Describe{i}")
        ])
    };
    let resource = if i.is_multiple_of(3) {
        json!("*")
    } else {
        json!(format!("arn:aws:{service}:*:111122223333:thing{i}/*"))
    };
    json!({"Sid": format!("S{i}"), "Effect": "Allow", "Action": actions, "Resource": resource, "Condition": condition(i)})
}

fn compiled_set(total: usize) -> CompiledSet {
    let per_policy = total / 10;
    let identity = (0..10)
        .map(|p| {
            let statements: Vec<Value> = (0..per_policy)
                .map(|s| statement(p * per_policy + s))
                .collect();
            let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
            let policy = Policy::parse(&doc, PolicyKind::Identity)
                .unwrap_or_else(|e| panic!("{}", e.message));
            NamedPolicy::new(format!("arn:aws:iam::111122223333:policy/p{p}"), policy)
        })
        .collect();
    CompiledSet {
        identity,
        ..CompiledSet::default()
    }
}

fn context() -> Context {
    let mut c = Context::new();
    c.insert("aws:username", "alice");
    c.insert("aws:RequestedRegion", "eu-west-1");
    c.insert("aws:PrincipalTag/team", "blue");
    c.insert("aws:ResourceTag/team", "blue");
    c.insert("aws:SourceIp", "10.1.2.3");
    c.insert("aws:CurrentTime", "2024-06-01T12:00:00Z");
    c
}

const PRINCIPAL: Principal<'static> = Principal {
    arn: "arn:aws:iam::111122223333:user/alice",
    account: "111122223333",
    role_arn: None,
    kind: PrincipalKind::User,
};

#[divan::bench(args = [50, 100, 1000])]
fn decision(bencher: Bencher, statements: usize) {
    let set = compiled_set(statements);
    let context = context();
    let request = Request {
        principal: &PRINCIPAL,
        action: "s3:GetObject",
        resource: "arn:aws:s3:*:111122223333:thing9/x",
        resource_account: None,
        context: &context,
    };
    assert!(set.evaluate(&request, None).is_allowed());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&request), None));
}

#[divan::bench(args = [50, 100, 1000])]
fn implicit_deny(bencher: Bencher, statements: usize) {
    let set = compiled_set(statements);
    let context = context();
    let request = Request {
        principal: &PRINCIPAL,
        action: "s3:PutObject",
        resource: "arn:aws:s3:::elsewhere/x",
        resource_account: None,
        context: &context,
    };
    assert!(!set.evaluate(&request, None).is_allowed());
    bencher.bench_local(|| black_box(&set).evaluate(black_box(&request), None));
}

#[divan::bench(args = [50])]
fn detailed(bencher: Bencher, statements: usize) {
    let set = compiled_set(statements);
    let context = context();
    let request = Request {
        principal: &PRINCIPAL,
        action: "s3:GetObject",
        resource: "arn:aws:s3:*:111122223333:thing9/x",
        resource_account: None,
        context: &context,
    };
    bencher.bench_local(|| black_box(&set).evaluate_detailed(black_box(&request), None));
}

#[divan::bench]
fn parse_policy(bencher: Bencher) {
    let statements: Vec<Value> = (0..5).map(statement).collect();
    let doc = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
    bencher.bench_local(|| Policy::parse(black_box(&doc), PolicyKind::Identity));
}
