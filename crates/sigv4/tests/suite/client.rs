//! A minimal client-side signer built from the crate's public building blocks.

use std::borrow::Cow;

use latchkey_sigv4::{
    AuthLocation, CredentialScope, Presented, SignedHeaders, SigningKey, canonical_request, sign,
    string_to_sign,
};

use crate::http_text::Req;

pub const AKID: &str = "AKIDEXAMPLE";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const AMZ_DATE: &str = "20150830T123600Z";
/// 2015-08-30T12:36:00Z
pub const NOW: i64 = 1_440_938_160;
pub const SCOPE: CredentialScope<'static> = CredentialScope {
    date: "20150830",
    region: "us-east-1",
    service: "sts",
};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds an `Authorization` header signing `signed_headers` (sorted, `;`-joined).
pub fn sign_header(
    req: Req,
    secret: &str,
    scope: CredentialScope<'_>,
    signed_headers: &str,
) -> Req {
    let amz_date = req
        .headers
        .iter()
        .find(|(n, _)| n == "x-amz-date")
        .map_or(AMZ_DATE.to_owned(), |(_, v)| v.clone());
    let signature = req.with(|http| {
        let p = Presented {
            location: AuthLocation::Header,
            access_key_id: Cow::Borrowed(AKID),
            scope,
            signed_headers: SignedHeaders::new(signed_headers),
            signature: [0; 32],
            request_time: 0,
            amz_date: Cow::Borrowed(&amz_date),
            expires_in: None,
            security_token: None,
        };
        let creq = canonical_request(http, &p).expect("canonicalizable request");
        sign(
            &SigningKey::derive(secret, &scope),
            &string_to_sign(&creq, &p),
        )
    });
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{}/{}/{}/aws4_request, SignedHeaders={signed_headers}, Signature={}",
        scope.date,
        scope.region,
        scope.service,
        hex(&signature)
    );
    req.header("authorization", &authorization)
}

/// A botocore-shaped STS request signed at [`AMZ_DATE`].
pub fn sts_request() -> Req {
    let req = Req {
        method: "POST".into(),
        path: "/".into(),
        body: b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
        ..Req::default()
    }
    .header("host", "sts.amazonaws.com")
    .header(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )
    .header("x-amz-date", AMZ_DATE);
    sign_header(req, SECRET, SCOPE, "content-type;host;x-amz-date")
}
