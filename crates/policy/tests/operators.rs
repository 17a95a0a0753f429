//! Every condition operator, positive and negative, with IfExists, set qualifiers and missing keys.

mod common;

use common::{ctx, holds};
use latchkey_policy::Context;

/// (condition block, context pairs, expected)
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);

fn run(cases: &[Case<'_>]) {
    for (condition, pairs, expected) in cases {
        assert_eq!(
            holds(condition, &ctx(pairs)),
            *expected,
            "{condition} with {pairs:?}"
        );
    }
}

#[test]
fn string_operators() {
    run(&[
        (
            r#"{"StringEquals":{"aws:username":"alice"}}"#,
            &[("aws:username", "alice")],
            true,
        ),
        (
            r#"{"StringEquals":{"aws:username":"alice"}}"#,
            &[("aws:username", "Alice")],
            false,
        ),
        (
            r#"{"StringEquals":{"aws:username":["bob","alice"]}}"#,
            &[("aws:username", "alice")],
            true,
        ),
        (
            r#"{"StringEquals":{"AWS:UserName":"alice"}}"#,
            &[("aws:username", "alice")],
            true,
        ),
        (
            r#"{"StringEquals":{"aws:username":"a*"}}"#,
            &[("aws:username", "alice")],
            false,
        ),
        (
            r#"{"StringEquals":{"aws:username":"a*"}}"#,
            &[("aws:username", "a*")],
            true,
        ),
        (
            r#"{"StringNotEquals":{"aws:username":"alice"}}"#,
            &[("aws:username", "bob")],
            true,
        ),
        (
            r#"{"StringNotEquals":{"aws:username":"alice"}}"#,
            &[("aws:username", "alice")],
            false,
        ),
        // Negated operators with several values are NOR.
        (
            r#"{"StringNotEquals":{"aws:username":["a","b"]}}"#,
            &[("aws:username", "b")],
            false,
        ),
        (
            r#"{"StringNotEquals":{"aws:username":["a","b"]}}"#,
            &[("aws:username", "c")],
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}"#,
            &[("aws:username", "alice")],
            true,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:username":"bob"}}"#,
            &[("aws:username", "alice")],
            false,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}"#,
            &[("aws:username", "alice")],
            false,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"aws:username":"bob"}}"#,
            &[("aws:username", "alice")],
            true,
        ),
        (
            r#"{"StringLike":{"s3:prefix":"home/*"}}"#,
            &[("s3:prefix", "home/alice/x")],
            true,
        ),
        (
            r#"{"StringLike":{"s3:prefix":"home/?"}}"#,
            &[("s3:prefix", "home/ab")],
            false,
        ),
        (
            r#"{"StringLike":{"s3:prefix":"Home/*"}}"#,
            &[("s3:prefix", "home/a")],
            false,
        ),
        (
            r#"{"StringNotLike":{"s3:prefix":"home/*"}}"#,
            &[("s3:prefix", "tmp/a")],
            true,
        ),
        (
            r#"{"StringNotLike":{"s3:prefix":["tmp/*","home/*"]}}"#,
            &[("s3:prefix", "tmp/a")],
            false,
        ),
        // Numbers and booleans in JSON are compared as their text.
        (
            r#"{"StringEquals":{"s3:max-keys":10}}"#,
            &[("s3:max-keys", "10")],
            true,
        ),
        (
            r#"{"StringEquals":{"aws:SecureTransport":true}}"#,
            &[("aws:securetransport", "true")],
            true,
        ),
    ]);
}

#[test]
fn numeric_operators() {
    let k = "s3:max-keys";
    run(&[
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            true,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "10.0")],
            true,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":10}}"#,
            &[(k, "11")],
            false,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "11")],
            true,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            false,
        ),
        (
            r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#,
            &[(k, "9")],
            true,
        ),
        (
            r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            false,
        ),
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            true,
        ),
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "11")],
            false,
        ),
        (
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            &[(k, "10.5")],
            true,
        ),
        (
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            false,
        ),
        (
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "10")],
            true,
        ),
        (
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "-3")],
            false,
        ),
        // Unreadable values never match, negated operators included.
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "abc")],
            false,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "abc")],
            false,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"abc"}}"#,
            &[(k, "1")],
            false,
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            &[(k, "NaN")],
            false,
        ),
    ]);
}

#[test]
fn date_operators() {
    let k = "aws:CurrentTime";
    let now = "2024-06-15T12:00:00Z";
    run(&[
        (
            r#"{"DateEquals":{"aws:CurrentTime":"2024-06-15T12:00:00Z"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateEquals":{"aws:CurrentTime":"2024-06-15T14:00:00+02:00"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateEquals":{"aws:CurrentTime":"1718452800"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateNotEquals":{"aws:CurrentTime":"2024-06-15T12:00:00Z"}}"#,
            &[(k, now)],
            false,
        ),
        (
            r#"{"DateNotEquals":{"aws:CurrentTime":"2024-06-15"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-16"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-15T12:00:00Z"}}"#,
            &[(k, now)],
            false,
        ),
        (
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-15T12:00:00Z"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-14"}}"#,
            &[(k, now)],
            false,
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}"#,
            &[(k, now)],
            false,
        ),
        (
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-06-15T12:00:00Z"}}"#,
            &[(k, now)],
            true,
        ),
        (
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-06-15T12:00:01Z"}}"#,
            &[(k, now)],
            false,
        ),
        // Epoch seconds on the request side (aws:EpochTime).
        (
            r#"{"DateGreaterThan":{"aws:EpochTime":"2024-01-01T00:00:00Z"}}"#,
            &[("aws:EpochTime", "1718452800")],
            true,
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01"}}"#,
            &[(k, "not a date")],
            false,
        ),
    ]);
}

#[test]
fn bool_binary_and_ip_operators() {
    let mfa = "aws:MultiFactorAuthPresent";
    run(&[
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
            &[(mfa, "true")],
            true,
        ),
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":true}}"#,
            &[(mfa, "TRUE")],
            true,
        ),
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
            &[(mfa, "false")],
            false,
        ),
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":"false"}}"#,
            &[(mfa, "false")],
            true,
        ),
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
            &[(mfa, "yes")],
            false,
        ),
        (
            r#"{"BinaryEquals":{"x:blob":"QmluYXJ5VmFsdWU="}}"#,
            &[("x:blob", "QmluYXJ5VmFsdWU=")],
            true,
        ),
        (
            r#"{"BinaryEquals":{"x:blob":"QmluYXJ5VmFsdWU="}}"#,
            &[("x:blob", "QmluYXJ5VmFsdWF=")],
            false,
        ),
        (
            r#"{"BinaryEquals":{"x:blob":"QmluYXJ5VmFsdWU="}}"#,
            &[("x:blob", "!!")],
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", "203.0.113.9")],
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}"#,
            &[("aws:SourceIp", "10.9.9.9")],
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", "198.51.100.1")],
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}"#,
            &[("aws:SourceIp", "2001:db8:1234:5678::9")],
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"2001:DB8:1234:5678::/64"}}"#,
            &[("aws:SourceIp", "2001:db8:1234:5679::9")],
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#,
            &[("aws:SourceIp", "203.0.113.7")],
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", "198.51.100.1")],
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", "203.0.113.1")],
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            &[("aws:SourceIp", "bogus")],
            false,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"bogus"}}"#,
            &[("aws:SourceIp", "1.2.3.4")],
            false,
        ),
    ]);
}

#[test]
fn arn_operators() {
    let k = "aws:SourceArn";
    let arn = "arn:aws:sns:us-east-1:111122223333:topic:sub";
    run(&[
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic:sub"}}"#,
            &[(k, arn)],
            true,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#,
            &[(k, arn)],
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#,
            &[(k, arn)],
            true,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:444455556666:*"}}"#,
            &[(k, arn)],
            false,
        ),
        // Wildcards do not cross components before the resource part.
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:*:111122223333:*"}}"#,
            &[(k, arn)],
            false,
        ),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}"#,
            &[(k, "not-an-arn")],
            false,
        ),
        (
            r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:other"}}"#,
            &[(k, arn)],
            true,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}"#,
            &[(k, arn)],
            false,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:sqs:*:*:*"}}"#,
            &[(k, arn)],
            true,
        ),
    ]);
}

#[test]
fn missing_keys() {
    let none: &[(&str, &str)] = &[];
    run(&[
        (r#"{"StringEquals":{"aws:username":"a"}}"#, none, false),
        (r#"{"StringNotEquals":{"aws:username":"a"}}"#, none, true),
        (r#"{"StringNotLike":{"aws:username":"a"}}"#, none, true),
        (r#"{"NumericNotEquals":{"x:n":"1"}}"#, none, true),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            none,
            true,
        ),
        (
            r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}}"#,
            none,
            true,
        ),
        (r#"{"NumericLessThan":{"x:n":"1"}}"#, none, false),
        (
            r#"{"Bool":{"aws:MultiFactorAuthPresent":"false"}}"#,
            none,
            false,
        ),
        (
            r#"{"StringEqualsIfExists":{"aws:username":"a"}}"#,
            none,
            true,
        ),
        (
            r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
            none,
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"a"}}"#,
            none,
            true,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"a"}}"#,
            none,
            false,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}"#,
            none,
            false,
        ),
        (
            r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
            none,
            true,
        ),
    ]);
}

#[test]
fn if_exists_applies_the_operator_when_present() {
    run(&[
        (
            r#"{"StringEqualsIfExists":{"aws:username":"a"}}"#,
            &[("aws:username", "a")],
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"aws:username":"a"}}"#,
            &[("aws:username", "b")],
            false,
        ),
        (
            r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
            &[("aws:MultiFactorAuthPresent", "false")],
            false,
        ),
        (
            r#"{"NumericLessThanIfExists":{"x:n":"5"}}"#,
            &[("x:n", "4")],
            true,
        ),
        (
            r#"{"DateLessThanIfExists":{"x:d":"2020-01-01"}}"#,
            &[("x:d", "2021-01-01")],
            false,
        ),
        (
            r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            &[("aws:SourceIp", "10.1.1.1")],
            true,
        ),
        (
            r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:s3:::*"}}"#,
            &[("aws:SourceArn", "arn:aws:s3:::b")],
            true,
        ),
        (
            r#"{"StringNotLikeIfExists":{"x:s":"a*"}}"#,
            &[("x:s", "ab")],
            false,
        ),
        (
            r#"{"BinaryEqualsIfExists":{"x:b":"AA=="}}"#,
            &[("x:b", "AA==")],
            true,
        ),
    ]);
}

#[test]
fn set_qualifiers() {
    let tags = "aws:TagKeys";
    run(&[
        // ForAllValues: every request value is among the policy values.
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "a|b")],
            true,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "a|c")],
            false,
        ),
        (
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "|")],
            true,
        ),
        (
            r#"{"ForAllValues:StringLike":{"aws:TagKeys":"Created*"}}"#,
            &[(tags, "CreatedBy|CreatedAt")],
            true,
        ),
        // ForAnyValue: at least one request value is.
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "c|b")],
            true,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "c|d")],
            false,
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "|")],
            false,
        ),
        // Negated forms apply per request value.
        (
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "c|d")],
            true,
        ),
        (
            r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "c|a")],
            false,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "c|a")],
            true,
        ),
        (
            r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["a","b"]}}"#,
            &[(tags, "a|b")],
            false,
        ),
        (
            r#"{"ForAnyValue:NumericLessThan":{"x:n":"3"}}"#,
            &[("x:n", "5|2")],
            true,
        ),
        (
            r#"{"ForAllValues:NumericLessThan":{"x:n":"3"}}"#,
            &[("x:n", "5|2")],
            false,
        ),
        (
            r#"{"ForAllValues:NumericLessThan":{"x:n":"3"}}"#,
            &[("x:n", "1|x")],
            false,
        ),
        // Qualifier prefixes are case-insensitive, like operator names.
        (
            r#"{"forallvalues:stringequals":{"aws:TagKeys":"a"}}"#,
            &[(tags, "a")],
            true,
        ),
        // A multivalued key without a qualifier: positive needs one match, negated none.
        (
            r#"{"StringEquals":{"aws:TagKeys":"b"}}"#,
            &[(tags, "a|b")],
            true,
        ),
        (
            r#"{"StringNotEquals":{"aws:TagKeys":"b"}}"#,
            &[(tags, "a|b")],
            false,
        ),
    ]);
}

#[test]
fn null_operator() {
    let none: &[(&str, &str)] = &[];
    run(&[
        (r#"{"Null":{"aws:TokenIssueTime":"true"}}"#, none, true),
        (
            r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            &[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")],
            false,
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":"false"}}"#,
            &[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")],
            true,
        ),
        (r#"{"Null":{"aws:TokenIssueTime":false}}"#, none, false),
        (
            r#"{"Null":{"aws:TagKeys":"true"}}"#,
            &[("aws:TagKeys", "|")],
            true,
        ),
        (r#"{"Null":{"aws:TokenIssueTime":"maybe"}}"#, none, false),
    ]);
}

#[test]
fn keys_and_operators_are_anded_values_ored() {
    let both = r#"{"StringEquals":{"aws:username":"alice","aws:RequestedRegion":["us-east-1","eu-west-1"]},"Bool":{"aws:SecureTransport":"true"}}"#;
    let good = [
        ("aws:username", "alice"),
        ("aws:RequestedRegion", "eu-west-1"),
        ("aws:SecureTransport", "true"),
    ];
    assert!(holds(both, &ctx(&good)));
    let mut bad = good;
    bad[1].1 = "ap-south-1";
    assert!(!holds(both, &ctx(&bad)));
    let mut insecure = good;
    insecure[2].1 = "false";
    assert!(!holds(both, &ctx(&insecure)));
}

#[test]
fn condition_values_take_variables_only_in_2012() {
    let c = ctx(&[("aws:username", "alice"), ("s3:prefix", "home/alice/docs")]);
    assert!(holds(
        r#"{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringEquals":{"aws:username":"${aws:username}"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"StringNotEquals":{"aws:username":"${aws:PrincipalTag/x, 'alice2'}"}}"#,
        &c
    ));
    // Unresolvable without default: that value does not match.
    assert!(!holds(
        r#"{"StringLike":{"s3:prefix":"home/${aws:PrincipalTag/x}/*"}}"#,
        &c
    ));
    assert!(holds(
        r#"{"ArnLike":{"x:arn":"arn:aws:iam::*:user/${aws:username}"}}"#,
        &{
            let mut c2 = c.clone();
            c2.insert("x:arn", "arn:aws:iam::111122223333:user/alice");
            c2
        }
    ));
    let legacy = common::identity(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"x:v":"${aws:username}"}}}}"#,
    );
    let literal = ctx(&[("x:v", "${aws:username}"), ("aws:username", "alice")]);
    assert!(
        common::check(&[&legacy], &common::alice(), "s3:GetObject", "*", &literal).is_allowed()
    );
    let substituted = ctx(&[("x:v", "alice"), ("aws:username", "alice")]);
    assert!(
        !common::check(
            &[&legacy],
            &common::alice(),
            "s3:GetObject",
            "*",
            &substituted
        )
        .is_allowed()
    );
}

#[test]
fn multivalued_keys_are_not_variables() {
    let mut c = Context::new();
    c.insert_multi("x:list", ["alice"]);
    c.insert("x:v", "alice");
    assert!(!holds(r#"{"StringEquals":{"x:v":"${x:list}"}}"#, &c));
    assert!(holds(
        r#"{"StringEquals":{"x:v":"${x:list, 'alice'}"}}"#,
        &c
    ));
}
