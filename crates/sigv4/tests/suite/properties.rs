//! Property tests: canonicalization invariants, encoding round trips, sign/verify
//! round trips, and that nothing from the network can make the parser panic.

use std::borrow::Cow;

use latchkey_sigv4::{
    AuthLocation, Presented, SigV4Error, SignedHeaders, SigningKey, canonical_request, check_time,
    parse, uri_decode, uri_encode, verify,
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::client::{AKID, AMZ_DATE, NOW, SCOPE, SECRET, sign_header};
use crate::http_text::Req;

fn header_presented(signed_headers: &str) -> Presented<'_> {
    Presented {
        location: AuthLocation::Header,
        access_key_id: Cow::Borrowed(AKID),
        scope: SCOPE,
        signed_headers: SignedHeaders::new(signed_headers),
        signature: [0; 32],
        request_time: NOW,
        amz_date: Cow::Borrowed(AMZ_DATE),
        expires_in: None,
        security_token: None,
    }
}

fn canonical_for_query(query: &str) -> Result<String, SigV4Error> {
    let req = Req {
        method: "GET".into(),
        path: "/".into(),
        query: query.into(),
        ..Req::default()
    }
    .header("host", "example.com");
    req.with(|http| canonical_request(http, &header_presented("host")))
}

/// Percent-encodes every byte (lowercase hex): different bytes on the wire, same meaning.
fn encode_everything(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02x}")).collect()
}

fn is_canonical_encoding(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex_ok = b.get(i + 1..i + 3).is_some_and(|h| {
                h.iter()
                    .all(|d| d.is_ascii_digit() || (b'A'..=b'F').contains(d))
            });
            if !hex_ok {
                return false;
            }
            i += 3;
        } else if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn query_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("\\PC{0,6}", "\\PC{0,6}"), 0..8)
}

proptest! {
    #[test]
    fn query_canonicalization_ignores_order_and_escaping_style(
        params in query_params().prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let (original, shuffled) = params;
        let plain = original
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k.as_bytes()), uri_encode(v.as_bytes())))
            .collect::<Vec<_>>()
            .join("&");
        let reordered = shuffled
            .iter()
            .map(|(k, v)| format!("{}={}", encode_everything(k), encode_everything(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(canonical_for_query(&plain), canonical_for_query(&reordered));
    }

    #[test]
    fn uri_encoding_round_trips(input in prop::collection::vec(any::<u8>(), 0..64), text in "\\PC{0,16}") {
        for bytes in [input.as_slice(), text.as_bytes()] {
            let encoded = uri_encode(bytes);
            prop_assert!(is_canonical_encoding(&encoded), "{}", encoded);
            prop_assert_eq!(&*uri_decode(&encoded), bytes);
        }
    }

    #[test]
    fn signed_requests_verify_and_body_flips_do_not(
        body in prop::collection::vec(any::<u8>(), 1..256),
        flip in any::<Index>(),
        segments in prop::collection::vec("\\PC{0,6}", 0..4),
        params in query_params(),
        extra in prop::collection::vec(("[a-z][a-z0-9-]{0,8}", "[ -~]{0,16}"), 0..6),
        sign_extra in any::<bool>(),
    ) {
        let path = format!(
            "/{}",
            segments.iter().map(|s| uri_encode(s.as_bytes())).collect::<Vec<_>>().join("/")
        );
        let query = params
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k.as_bytes()), uri_encode(v.as_bytes())))
            .collect::<Vec<_>>()
            .join("&");
        let reserved = ["host", "x-amz-date", "date", "authorization", "x-amz-content-sha256", "x-amz-security-token"];
        let extra: Vec<_> = extra.into_iter().filter(|(n, _)| !reserved.contains(&n.as_str())).collect();
        let mut req = Req { method: "POST".into(), path, query, body, ..Req::default() }
            .header("host", "iam.amazonaws.com")
            .header("x-amz-date", AMZ_DATE);
        for (name, value) in &extra {
            req = req.header(name, value);
        }
        let mut names = vec!["host".to_owned(), "x-amz-date".to_owned()];
        if sign_extra {
            names.extend(extra.iter().map(|(n, _)| n.clone()));
        }
        names.sort();
        names.dedup();
        let req = sign_header(req, SECRET, SCOPE, &names.join(";"));

        let check = |req: &Req| req.with(|http| {
            let p = parse(http)?;
            check_time(&p, NOW)?;
            verify(http, &p, &SigningKey::derive(SECRET, &p.scope))
        });
        prop_assert_eq!(check(&req), Ok(()));
        let mut tampered = req.clone();
        if let Some(b) = tampered.body.get_mut(flip.index(req.body.len())) {
            *b ^= 0x01;
        }
        prop_assert_eq!(check(&tampered), Err(SigV4Error::SignatureDoesNotMatch));
    }

    #[test]
    fn parse_never_panics(
        authorization in prop_oneof![
            any::<String>(),
            "AWS4-HMAC-SHA256 [ -~]{0,120}",
            prop::collection::vec(
                prop_oneof![
                    Just("AWS4-HMAC-SHA256 ".to_owned()),
                    Just("Credential=AKID/20150830/us-east-1/sts/aws4_request".to_owned()),
                    Just("SignedHeaders=host;x-amz-date".to_owned()),
                    Just(format!("Signature={}", "ab".repeat(32))),
                    "[,;=/ %]{1,3}",
                    "\\PC{0,8}",
                ],
                0..8,
            ).prop_map(|parts| parts.concat()),
        ],
        query in prop_oneof![
            any::<String>(),
            prop::collection::vec(
                prop_oneof![
                    Just("X-Amz-Algorithm=AWS4-HMAC-SHA256".to_owned()),
                    Just("X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fsts%2Faws4_request".to_owned()),
                    Just("X-Amz-Date=20150830T123600Z".to_owned()),
                    Just("X-Amz-SignedHeaders=host".to_owned()),
                    Just(format!("X-Amz-Signature={}", "cd".repeat(32))),
                    "X-Amz-Expires=[0-9-]{0,12}",
                    "X-Amz-Security-Token=[%0-9A-Za-z+/=]{0,12}",
                    "[&=%]{1,3}",
                    "\\PC{0,8}",
                ],
                0..8,
            ).prop_map(|parts| parts.join("&")),
        ],
        path in "\\PC{0,24}",
        use_header in any::<bool>(),
        now in any::<i64>(),
    ) {
        let mut req = Req { method: "GET".into(), path, query, ..Req::default() }
            .header("host", "sts.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z");
        if use_header {
            req = req.header("authorization", &authorization);
        }
        req.with(|http| {
            if let Ok(p) = parse(http) {
                let _ = check_time(&p, now);
                let _ = canonical_request(http, &p);
                let _ = verify(http, &p, &SigningKey::derive(SECRET, &p.scope));
            }
        });
    }
}
