//! Validation: which documents IAM refuses, and with which MalformedPolicyDocument message.

use latchkey_policy::{Effect, Policy, PolicyKind, PolicyVersion};

fn error(kind: PolicyKind, document: &str) -> String {
    match Policy::parse(document, kind) {
        Ok(_) => panic!("accepted: {document}"),
        Err(e) => e.message,
    }
}

fn statement(body: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#)
}

const OK: &str = r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#;

#[test]
fn accepts_the_documented_shapes() {
    let p = Policy::parse(
        r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"One","Effect":"Deny","Action":["s3:Get*","iam:*"],"NotResource":"arn:aws:s3:::b"}}"#,
        PolicyKind::Identity,
    );
    let p = p.unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(p.version(), PolicyVersion::V2012_10_17);
    assert_eq!(p.kind(), PolicyKind::Identity);
    assert_eq!(p.statements().len(), 1);
    let s = &p.statements()[0];
    assert_eq!(
        (s.sid(), s.index(), s.effect()),
        (Some("One"), 0, Effect::Deny)
    );
    let legacy = Policy::parse(
        &format!(r#"{{"Statement":[{{{OK}}}]}}"#),
        PolicyKind::Identity,
    );
    assert_eq!(legacy.map(|p| p.version()), Ok(PolicyVersion::V2008_10_17));
    assert_eq!(PolicyVersion::V2008_10_17.as_str(), "2008-10-17");
}

#[test]
fn syntax_errors() {
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
        r#"{"Version":"2012-10-17","Statement":"x"}"#,
        r#"{"Version":"2012-10-17","Statement":[1]}"#,
        r#"{"Version":2012,"Statement":[]}"#,
        r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{}}"#,
        &statement(r#""Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"*""#),
        &statement(r#""Effect":"Allow","Action":"s3:*","NotAction":"s3:*","Resource":"*""#),
        &statement(r#""Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*""#),
        &statement(r#""Effect":"Allow","Action":[1],"Resource":"*""#),
        &statement(r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":"x""#),
        &statement(
            r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"x"}}"#,
        ),
        &statement(
            r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a:b":null}}"#,
        ),
        &statement(
            r#""Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"a:b":[{}]}}"#,
        ),
        &statement(r#""Sid":1,"Effect":"Allow","Action":"s3:*","Resource":"*""#),
        &statement(r#""Effect":true,"Action":"s3:*","Resource":"*""#),
    ] {
        assert_eq!(
            error(PolicyKind::Identity, bad),
            "Syntax errors in policy.",
            "{bad}"
        );
    }
}

#[test]
fn element_messages() {
    let cases: &[(PolicyKind, String, &str)] = &[
        (
            PolicyKind::Identity,
            statement(r#""Action":"s3:*","Resource":"*""#),
            "Missing required field Effect",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"allow","Action":"s3:*","Resource":"*""#),
            "Invalid effect: allow",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Resource":"*""#),
            "Policy statement must contain actions.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":[],"Resource":"*""#),
            "Policy statement must contain actions.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":"s3:*""#),
            "Policy statement must contain resources.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":"s3:*","Resource":[]"#),
            "Policy statement must contain resources.",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(r#"{OK},"Principal":"*""#)),
            "Policy document should not specify a principal.",
        ),
        (
            PolicyKind::Boundary,
            statement(&format!(r#"{OK},"NotPrincipal":{{"AWS":"*"}}"#)),
            "Policy document should not specify a principal.",
        ),
        (
            PolicyKind::Session,
            statement(&format!(r#"{OK},"Principal":"*""#)),
            "Policy document should not specify a principal.",
        ),
        (
            PolicyKind::ServiceControl,
            statement(&format!(r#"{OK},"Principal":"*""#)),
            "Policy document should not specify a principal.",
        ),
        (
            PolicyKind::Resource,
            statement(OK),
            "Missing required field Principal",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(r#"{OK},"Foo":1"#)),
            "Unknown field Foo",
        ),
        (
            PolicyKind::Identity,
            r#"{"Version":"2012-10-17","Statment":[]}"#.to_owned(),
            "Unknown field Statment",
        ),
        (
            PolicyKind::Identity,
            r#"{"Version":"2012-10-17"}"#.to_owned(),
            "Missing required field Statement",
        ),
        (
            PolicyKind::Identity,
            r#"{"Version":"2012-10-18","Statement":[]}"#.to_owned(),
            "Invalid Version 2012-10-18",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":"GetObject","Resource":"*""#),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":":GetObject","Resource":"*""#),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":"s3:a:b","Resource":"*""#),
            "Actions/Condition can contain only one colon.",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(
                r#"{OK},"Condition":{{"StringEquals":{{"username":"a"}}}}"#
            )),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ),
        (
            PolicyKind::Identity,
            statement(r#""Effect":"Allow","Action":"s3:*","Resource":"bucket""#),
            "Resource bucket must be in ARN format or \"*\".",
        ),
        (
            PolicyKind::Identity,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#.to_owned(),
            "The policy failed legacy parsing",
        ),
        (
            PolicyKind::Identity,
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"A",{OK}}},{{"Sid":"A",{OK}}}]}}"#
            ),
            "Statement IDs (SID) in a single policy must be unique.",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(r#""Sid":"has space",{OK}"#)),
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(
                r#"{OK},"Condition":{{"StringEqualz":{{"a:b":"c"}}}}"#
            )),
            "Invalid Condition type : StringEqualz",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(
                r#"{OK},"Condition":{{"NullIfExists":{{"a:b":"true"}}}}"#
            )),
            "Invalid Condition type : NullIfExists",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(
                r#"{OK},"Condition":{{"ForAllValues:Null":{{"a:b":"true"}}}}"#
            )),
            "Invalid Condition type : ForAllValues:Null",
        ),
        (
            PolicyKind::Identity,
            statement(&format!(
                r#"{OK},"Condition":{{"ForSomeValues:StringEquals":{{"a:b":"c"}}}}"#
            )),
            "Invalid Condition type : ForSomeValues:StringEquals",
        ),
        (
            PolicyKind::Trust,
            statement(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject""#),
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            PolicyKind::Trust,
            statement(r#""Effect":"Allow","Principal":"*","NotAction":"s3:GetObject""#),
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            PolicyKind::Trust,
            statement(r#""Effect":"Allow","Principal":"*","Action":"sts:GetCallerIdentity""#),
            "AssumeRole policy may only specify STS AssumeRole actions.",
        ),
        (
            PolicyKind::Trust,
            statement(
                r#""Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*""#,
            ),
            "Has prohibited field Resource",
        ),
        (
            PolicyKind::Trust,
            statement(r#""Effect":"Allow","Action":"sts:AssumeRole""#),
            "Missing required field Principal",
        ),
        (
            PolicyKind::Resource,
            statement(&format!(
                r#"{OK},"Principal":{{"AWS":"arn:aws:iam::111122223333:user/*"}}"#
            )),
            r#"Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*""#,
        ),
        (
            PolicyKind::Resource,
            statement(&format!(r#"{OK},"Principal":{{"AWS":"bob"}}"#)),
            r#"Invalid principal in policy: "AWS":"bob""#,
        ),
        (
            PolicyKind::Resource,
            statement(&format!(
                r#"{OK},"Principal":{{"AWS":"arn:aws:iam::111122223333:group/g"}}"#
            )),
            r#"Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:group/g""#,
        ),
        (
            PolicyKind::Resource,
            statement(&format!(r#"{OK},"Principal":{{"Bogus":"x"}}"#)),
            r#"Invalid principal in policy: "Bogus":"x""#,
        ),
        (
            PolicyKind::Resource,
            statement(&format!(
                r#"{OK},"Principal":"arn:aws:iam::111122223333:root""#
            )),
            "Invalid principal in policy: arn:aws:iam::111122223333:root",
        ),
    ];
    for (kind, document, message) in cases {
        assert_eq!(error(*kind, document), *message, "{document}");
    }
}

#[test]
fn trust_policies_take_the_sts_family() {
    for action in [
        r#""sts:AssumeRole""#,
        r#"["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]"#,
        r#""sts:AssumeRoleWithSAML""#,
        r#""STS:assumerolewithwebidentity""#,
        r#""sts:AssumeRole*""#,
    ] {
        let doc = statement(&format!(
            r#""Effect":"Allow","Principal":{{"AWS":"111122223333"}},"Action":{action}"#
        ));
        assert!(Policy::parse(&doc, PolicyKind::Trust).is_ok(), "{doc}");
    }
    // Resource policies of other services allow any Sid, identity policies only alphanumerics.
    let sid = statement(&format!(r#""Sid":"Allow reads",{OK},"Principal":"*""#));
    assert!(Policy::parse(&sid, PolicyKind::Resource).is_ok());
}

#[test]
fn principal_values() {
    let doc = |p: &str| statement(&format!(r#"{OK},"Principal":{p}"#));
    for ok in [
        r#""*""#,
        r#"{"AWS":"*"}"#,
        r#"{"AWS":["111122223333","arn:aws:iam::111122223333:root"]}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:role/path/R"}"#,
        r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/R/s"}"#,
        r#"{"AWS":"arn:aws:sts::111122223333:federated-user/f"}"#,
        r#"{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]}"#,
        r#"{"Federated":"cognito-identity.amazonaws.com"}"#,
        r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#,
    ] {
        assert!(
            Policy::parse(&doc(ok), PolicyKind::Resource).is_ok(),
            "{ok}"
        );
    }
}

#[test]
fn context_keys_are_listed_once_as_written() {
    let p = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*",
             "Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:PrincipalTag/team}","s3:prefix":"x"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
            {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"BoolIfExists":{"AWS:MultiFactorAuthPresent":"false"},"Bool":{"aws:multifactorauthpresent":"false"},
             "StringLike":{"s3:prefix":"${aws:userid, 'x'}"}}}
        ]}"#,
        PolicyKind::Identity,
    );
    let keys = p.map(|p| p.context_keys()).unwrap_or_default();
    assert_eq!(
        keys,
        [
            "aws:username",
            "aws:PrincipalTag/team",
            "s3:prefix",
            "aws:SourceIp",
            "AWS:MultiFactorAuthPresent",
            "aws:userid"
        ]
    );
    // Under 2008-10-17 `${...}` is literal text, so only condition keys count.
    let legacy = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}","Condition":{"StringEquals":{"s3:prefix":"${aws:userid}"}}}}"#,
        PolicyKind::Identity,
    );
    assert_eq!(
        legacy.map(|p| p.context_keys()).unwrap_or_default(),
        ["s3:prefix"]
    );
}

#[test]
fn error_displays_its_message() {
    let e = Policy::parse("{", PolicyKind::Identity).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("Syntax errors in policy.".to_owned())
    );
}

#[test]
fn hostile_documents_are_refused_without_harm() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        error(PolicyKind::Identity, &deep),
        "Syntax errors in policy."
    );
    let nested = format!(
        r#"{{"Version":"2012-10-17","Statement":{}{}}}"#,
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    assert_eq!(
        error(PolicyKind::Identity, &nested),
        "Syntax errors in policy."
    );
    // A pattern that would make a backtracking matcher explode.
    let many = format!("arn:aws:s3:::{}b", "a*".repeat(200));
    let doc = statement(&format!(
        r#""Effect":"Allow","Action":"s3:*","Resource":"{many}""#
    ));
    assert!(Policy::parse(&doc, PolicyKind::Identity).is_ok());
}

#[test]
fn policies_are_shareable_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Policy>();
    shareable::<latchkey_policy::CompiledSet>();
}
