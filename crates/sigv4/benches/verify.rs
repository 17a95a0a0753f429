//! Cost of authenticating one botocore-shaped STS `GetCallerIdentity` request.
//!
//! `CARGO_TARGET_DIR=/tmp/target-sigv4 cargo bench -p latchkey-sigv4 --bench verify`

use divan::{Bencher, black_box};
use latchkey_sigv4::{
    CredentialScope, HttpRequest, SigV4Error, SigningKey, SigningKeyCache, canonical_request,
    check_time, parse, sign, string_to_sign, verify,
};

fn main() {
    divan::main();
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
/// 2024-01-01T12:00:00Z, the request's X-Amz-Date.
const NOW: i64 = 1_704_110_400;
const SCOPE: CredentialScope<'static> = CredentialScope {
    date: "20240101",
    region: "us-east-1",
    service: "sts",
};
const UNSIGNED_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sts/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

/// Headers in the order botocore and urllib3 put them on the wire; three are signed.
fn headers(authorization: &str) -> [(&str, &str); 10] {
    [
        ("host", "sts.us-east-1.amazonaws.com"),
        ("accept-encoding", "identity"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        (
            "user-agent",
            "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0 md/arch#x86_64 \
             lang/python#3.12.1 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0",
        ),
        ("x-amz-date", "20240101T120000Z"),
        ("authorization", authorization),
        (
            "amz-sdk-invocation-id",
            "0f6d6a55-6d2e-4a0e-9a63-1c9b8d1ad6a4",
        ),
        ("amz-sdk-request", "attempt=1; max=5"),
        ("content-length", "43"),
        ("accept", "*/*"),
    ]
}

fn request<'a>(headers: &'a [(&'a str, &'a str)]) -> HttpRequest<'a> {
    HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body: BODY,
    }
}

fn signed_authorization() -> String {
    let headers = headers(UNSIGNED_AUTHORIZATION);
    let req = request(&headers);
    let p = parse(&req).expect("fixture parses");
    let creq = canonical_request(&req, &p).expect("fixture canonicalizes");
    let signature = sign(
        &SigningKey::derive(SECRET, &p.scope),
        &string_to_sign(&creq, &p),
    );
    let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    UNSIGNED_AUTHORIZATION.replace(&"0".repeat(64), &hex)
}

fn authenticate(req: &HttpRequest<'_>, key: &SigningKey) -> Result<(), SigV4Error> {
    let p = parse(req)?;
    check_time(&p, NOW)?;
    verify(req, &p, key)
}

#[divan::bench]
fn verify_with_prederived_key(bencher: Bencher) {
    let authorization = signed_authorization();
    let headers = headers(&authorization);
    let req = request(&headers);
    let key = SigningKey::derive(SECRET, &SCOPE);
    assert_eq!(authenticate(&req, &key), Ok(()));
    bencher.bench_local(|| authenticate(black_box(&req), &key));
}

#[divan::bench]
fn verify_with_cache_hit(bencher: Bencher) {
    let authorization = signed_authorization();
    let headers = headers(&authorization);
    let req = request(&headers);
    let cache = SigningKeyCache::new();
    let run = || {
        let req = black_box(&req);
        let p = parse(req)?;
        check_time(&p, NOW)?;
        verify(req, &p, &cache.get_or_derive(SECRET, &p.scope))
    };
    assert_eq!(run(), Ok(()));
    bencher.bench_local(run);
}

#[divan::bench]
fn derive_signing_key(bencher: Bencher) {
    bencher.bench_local(|| SigningKey::derive(black_box(SECRET), black_box(&SCOPE)));
}
