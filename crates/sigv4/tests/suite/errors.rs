//! Every error code, its status and wording, and the clock boundaries.

use std::borrow::Cow;

use latchkey_sigv4::{
    AuthLocation, SigV4Error, SigningKey, SigningKeyCache, check_scope, check_time, parse, verify,
};

use crate::client::{AKID, AMZ_DATE, NOW, SCOPE, SECRET, sign_header, sts_request};
use crate::http_text::Req;

fn parse_err(req: &Req) -> SigV4Error {
    req.with(|http| parse(http).map(|_| ()))
        .expect_err("request should not parse")
}

fn verify_result(req: &Req, secret: &str) -> Result<(), SigV4Error> {
    req.with(|http| {
        let p = parse(http)?;
        verify(http, &p, &SigningKey::derive(secret, &p.scope))
    })
}

fn with_authorization(value: &str) -> Req {
    sts_request()
        .without_header("authorization")
        .header("authorization", value)
}

fn incomplete_message(req: &Req) -> String {
    match parse_err(req) {
        e @ SigV4Error::IncompleteSignature(_) => {
            assert_eq!((e.code(), e.http_status()), ("IncompleteSignature", 400));
            e.message()
        }
        other => panic!("expected IncompleteSignature, got {other:?}"),
    }
}

const CRED: &str = "Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request";
const SIG: &str = "Signature=0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn a_signed_request_verifies_and_a_wrong_secret_does_not() {
    assert_eq!(verify_result(&sts_request(), SECRET), Ok(()));
    let err = verify_result(&sts_request(), "not the secret").expect_err("wrong secret");
    assert_eq!(err, SigV4Error::SignatureDoesNotMatch);
    assert_eq!(
        (err.code(), err.http_status()),
        ("SignatureDoesNotMatch", 403)
    );
    assert_eq!(
        err.message(),
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details."
    );
}

#[test]
fn authorization_parameters_in_any_order_and_spacing() {
    let signed = sts_request();
    let authorization = signed
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let params: Vec<&str> = authorization
        .trim_start_matches("AWS4-HMAC-SHA256 ")
        .split(", ")
        .collect();
    let [credential, signed_headers, signature] = params[..] else {
        panic!("unexpected layout {authorization}");
    };
    for reordered in [
        format!("AWS4-HMAC-SHA256 {signature},{credential},{signed_headers}"),
        format!("AWS4-HMAC-SHA256   {credential} ,  {signed_headers},{signature}, Extra=1"),
    ] {
        let req = signed
            .clone()
            .without_header("authorization")
            .header("authorization", &reordered);
        assert_eq!(verify_result(&req, SECRET), Ok(()), "{reordered}");
    }
}

#[test]
fn missing_authentication_token() {
    let err = parse_err(&sts_request().without_header("authorization"));
    assert_eq!(err, SigV4Error::MissingAuthenticationToken);
    assert_eq!(
        (err.code(), err.http_status()),
        ("MissingAuthenticationToken", 403)
    );
    assert_eq!(err.message(), "Request is missing Authentication Token");
}

#[test]
fn invalid_client_token_id() {
    let err = SigV4Error::InvalidClientTokenId;
    assert_eq!(
        (err.code(), err.http_status()),
        ("InvalidClientTokenId", 403)
    );
    assert_eq!(
        err.message(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn missing_authorization_parameters_are_all_listed() {
    let message = incomplete_message(&with_authorization("AWS4-HMAC-SHA256 SignedHeaders=host"));
    assert_eq!(
        message,
        "Authorization header requires 'Credential' parameter. Authorization header requires \
         'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host"
    );
    let no_date = with_authorization(&format!(
        "AWS4-HMAC-SHA256 {CRED}, SignedHeaders=host, {SIG}"
    ))
    .without_header("x-amz-date");
    assert!(incomplete_message(&no_date).starts_with(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    ));
}

#[test]
fn malformed_authorization_headers() {
    let cases = [
        (
            "AWS4-ECDSA-P256-SHA256 Credential=x",
            "Unsupported AWS 'algorithm'",
        ),
        ("Bearer abc", "Unsupported AWS 'algorithm': 'Bearer'"),
        ("AWS4-HMAC-SHA256 Credential", "missing equal-sign"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts, SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request/x, SignedHeaders=host, Signature=00",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws5_request, SignedHeaders=host, Signature=00",
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/US East/sts/aws4_request, SignedHeaders=host, Signature=00",
            "Credential should be scoped to a valid region, not 'US East'.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1//aws4_request, SignedHeaders=host, Signature=00",
            "Credential should be scoped to a valid service, not ''.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=abc",
            "Signature must be 64 hexadecimal characters",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=zz00000000000000000000000000000000000000000000000000000000000000",
            "Signature must be 64 hexadecimal characters",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/20150830/us-east-1/sts/aws4_request, Credential=b/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            "more than one 'Credential' parameter",
        ),
    ];
    for (authorization, expected) in cases {
        let message = incomplete_message(&with_authorization(authorization));
        assert!(message.contains(expected), "{authorization}: {message}");
    }
}

#[test]
fn signed_headers_must_include_host_and_exist() {
    let auth = |signed: &str| format!("AWS4-HMAC-SHA256 {CRED}, SignedHeaders={signed}, {SIG}");
    assert_eq!(
        incomplete_message(&with_authorization(&auth("content-type;x-amz-date"))),
        "'Host' must be a 'SignedHeader' in the AWS Authorization."
    );
    assert_eq!(
        incomplete_message(&with_authorization(&auth("host;x-amz-meta;x-amz-date"))),
        "Header 'x-amz-meta' is listed in SignedHeaders but absent from the request."
    );
    assert!(incomplete_message(&with_authorization(&auth("host;;x-amz-date"))).contains("empty"));
}

#[test]
fn bad_dates() {
    let bad_date = sts_request()
        .without_header("x-amz-date")
        .header("x-amz-date", "2015-08-30T12:36:00Z");
    assert_eq!(
        incomplete_message(&bad_date),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See \
         http://en.wikipedia.org/wiki/ISO_8601"
    );
    let twice = sts_request().header("x-amz-date", AMZ_DATE);
    assert_eq!(
        incomplete_message(&twice),
        "Request has more than one 'x-amz-date' header."
    );
    let bad_http_date = sts_request()
        .without_header("x-amz-date")
        .header("date", "someday");
    assert!(incomplete_message(&bad_http_date).contains("RFC 7231"));
}

#[test]
fn scope_date_must_match_the_request_date() {
    let other_day = sts_request()
        .without_header("x-amz-date")
        .header("x-amz-date", "20150831T000000Z");
    let err = parse_err(&other_day);
    assert_eq!(
        (err.code(), err.http_status()),
        ("SignatureDoesNotMatch", 403)
    );
    assert_eq!(
        err.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150830' != '20150831', from '20150831T000000Z'."
    );
}

#[test]
fn date_header_stands_in_for_x_amz_date() {
    let req = Req {
        method: "GET".into(),
        path: "/".into(),
        query: "Action=GetCallerIdentity&Version=2011-06-15".into(),
        ..Req::default()
    }
    .header("host", "sts.amazonaws.com")
    .header("date", "Sun, 30 Aug 2015 12:36:00 GMT");
    let req = sign_header(req, SECRET, SCOPE, "date;host");
    req.with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(p.amz_date, AMZ_DATE);
        assert_eq!(p.request_time, NOW);
    });
    assert_eq!(verify_result(&req, SECRET), Ok(()));
}

#[test]
fn payload_hash_header() {
    let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
    let base = || {
        Req {
            method: "POST".into(),
            path: "/".into(),
            body: body.clone(),
            ..Req::default()
        }
        .header("host", "sts.amazonaws.com")
        .header("x-amz-date", AMZ_DATE)
    };
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let body_hash = crate::client::hex(&<sha2::Sha256 as sha2::Digest>::digest(&body));

    let declared = sign_header(
        base().header("x-amz-content-sha256", &body_hash),
        SECRET,
        SCOPE,
        signed_headers,
    );
    assert_eq!(verify_result(&declared, SECRET), Ok(()));
    let mut other_body = declared.clone();
    other_body.body.push(b'!');
    assert_eq!(
        verify_result(&other_body, SECRET),
        Err(SigV4Error::SignatureDoesNotMatch)
    );

    let unsigned = sign_header(
        base().header("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        SECRET,
        SCOPE,
        signed_headers,
    );
    assert_eq!(verify_result(&unsigned, SECRET), Ok(()));

    let streaming = base()
        .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        .header(
            "authorization",
            &format!("AWS4-HMAC-SHA256 {CRED}, SignedHeaders={signed_headers}, {SIG}"),
        );
    let err = verify_result(&streaming, SECRET).expect_err("streaming is unsupported");
    assert_eq!(err.code(), "IncompleteSignature");
    assert!(err.message().contains("aws-chunked"), "{}", err.message());
}

fn presigned(query: &str) -> Req {
    Req {
        method: "GET".into(),
        path: "/".into(),
        query: query.into(),
        ..Req::default()
    }
    .header("host", "sts.amazonaws.com")
}

const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsts%2Faws4_request\
    &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn presigned_query_parsing() {
    presigned(PRESIGNED).with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(p.location, AuthLocation::Query);
        assert_eq!(p.access_key_id, AKID);
        assert_eq!(p.scope, SCOPE);
        assert_eq!(p.expires_in, Some(60));
        assert_eq!(p.amz_date, AMZ_DATE);
    });

    let missing = incomplete_message(&presigned("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x"));
    assert_eq!(
        missing,
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string \
         parameters must include 'X-Amz-Signature'. AWS query-string parameters must include \
         'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
    );
    let cases = [
        (
            "AWS4-HMAC-SHA256",
            "AWS4-ECDSA-P256-SHA256",
            "X-Amz-Algorithm only supports",
        ),
        ("X-Amz-Expires=60", "X-Amz-Expires=0", "at least 1 second"),
        (
            "X-Amz-Expires=60",
            "X-Amz-Expires=604801",
            "less than a week",
        ),
        (
            "X-Amz-Expires=60",
            "X-Amz-Expires=99999999999999999999",
            "less than a week",
        ),
        ("X-Amz-Expires=60", "X-Amz-Expires=-1", "should be a number"),
        ("X-Amz-Expires=60", "X-Amz-Expires=", "should be a number"),
        (
            "X-Amz-SignedHeaders=host",
            "X-Amz-SignedHeaders=",
            "empty header name",
        ),
        (
            "X-Amz-SignedHeaders=host",
            "X-Amz-SignedHeaders=host%3Bx-amz-date",
            "'x-amz-date' is listed",
        ),
        (
            "X-Amz-Expires=60",
            "X-Amz-Expires=60&X-Amz-Expires=60",
            "must not repeat",
        ),
        ("%2Fsts%2F", "%2Fs%20s%2F", "valid service"),
    ];
    for (from, to, expected) in cases {
        let message = incomplete_message(&presigned(&PRESIGNED.replacen(from, to, 1)));
        assert!(message.contains(expected), "{to}: {message}");
    }
    let week = PRESIGNED.replace("X-Amz-Expires=60", "X-Amz-Expires=604800");
    presigned(&week).with(|http| assert_eq!(parse(http).map(|p| p.expires_in), Ok(Some(604_800))));

    let both = presigned(PRESIGNED).header("authorization", "AWS4-HMAC-SHA256 x=y");
    assert!(incomplete_message(&both).starts_with("Only one auth mechanism allowed"));
}

#[test]
fn header_auth_skew_boundaries() {
    sts_request().with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(check_time(&p, NOW), Ok(()));
        assert_eq!(check_time(&p, NOW + 900), Ok(()));
        assert_eq!(check_time(&p, NOW - 900), Ok(()));

        let late = check_time(&p, NOW + 901).expect_err("901 s late");
        assert_eq!(
            (late.code(), late.http_status()),
            ("RequestTimeTooSkewed", 403)
        );
        assert_eq!(
            late.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
             (20150830T125101Z - 15 min.)"
        );
        let early = check_time(&p, NOW - 901).expect_err("901 s early");
        assert_eq!(early.code(), "RequestTimeTooSkewed");
        assert_eq!(
            early.message(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
             (20150830T122059Z + 15 min.)"
        );
        assert!(check_time(&p, i64::MIN).is_err());
        assert!(check_time(&p, i64::MAX).is_err());
    });
}

#[test]
fn presigned_expiry_boundaries() {
    presigned(PRESIGNED).with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(check_time(&p, NOW + 60), Ok(()));
        assert_eq!(check_time(&p, NOW - 900), Ok(()));
        let expired = check_time(&p, NOW + 61).expect_err("expired");
        assert_eq!(expired, SigV4Error::RequestExpired);
        assert_eq!(
            (expired.code(), expired.http_status()),
            ("RequestExpired", 400)
        );
        assert_eq!(expired.message(), "Request has expired");
        let early = check_time(&p, NOW - 901).expect_err("not yet valid");
        assert_eq!(early.code(), "RequestTimeTooSkewed");

        let no_expiry = latchkey_sigv4::Presented {
            expires_in: None,
            ..p.clone()
        };
        assert_eq!(check_time(&no_expiry, NOW + 900), Ok(()));
        assert_eq!(
            check_time(&no_expiry, NOW + 901),
            Err(SigV4Error::RequestExpired)
        );
    });
}

#[test]
fn scope_policy() {
    sts_request().with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(check_scope(&p, "sts", &[]), Ok(()));
        assert_eq!(check_scope(&p, "sts", &["us-east-1", "eu-west-1"]), Ok(()));
        let service = check_scope(&p, "iam", &[]).expect_err("wrong service");
        assert_eq!(service.code(), "IncompleteSignature");
        assert_eq!(
            service.message(),
            "Credential should be scoped to correct service: 'iam'."
        );
        let region = check_scope(&p, "sts", &["eu-west-1"]).expect_err("wrong region");
        assert_eq!(
            region.message(),
            "Credential should be scoped to a valid region, not 'us-east-1'."
        );
    });
}

#[test]
fn cache_gives_the_derived_key() {
    let cache = SigningKeyCache::new();
    let req = sts_request();
    for _ in 0..3 {
        let result = req.with(|http| {
            let p = parse(http)?;
            verify(http, &p, &cache.get_or_derive(SECRET, &p.scope))
        });
        assert_eq!(result, Ok(()));
    }
}

#[test]
fn debug_output_hides_secrets() {
    let token = "SESSIONTOKENVALUE";
    let req = sts_request().header("x-amz-security-token", token);
    req.with(|http| {
        let p = parse(http).expect("parses");
        assert_eq!(p.security_token, Some(Cow::Borrowed(token)));
        assert!(!format!("{p:?}").contains(token));
        assert!(!format!("{http:?}").contains(token));
        let key = format!("{:?}", SigningKey::derive(SECRET, &p.scope));
        assert!(!key.contains(SECRET) && key.contains("redacted"));
    });
}
