//! Helpers shared by the fuzz targets.

use latchkey_sigv4::HttpRequest;

/// The secret of the AWS SigV4 test suites' `AKIDEXAMPLE`, so that seeds taken from the suites
/// carry valid signatures and mutations start from requests that verify.
pub const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// `20150830T123600Z`, the suites' signing time.
pub const SUITE_TIME: i64 = 1_440_938_160;

/// An HTTP/1.1 request written as text, the way the suites' `.req`/`.sreq` files are.
#[derive(Debug, Default)]
pub struct RawRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// Reads any bytes leniently: a request line, `name:value` header lines until an empty
    /// line, then the body. Non-UTF-8 in the head is replaced (hyper hands the server `&str`
    /// only for valid header values); header names are lowercased as hyper does.
    pub fn parse(data: &[u8]) -> RawRequest {
        let split = data
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or((data, &[][..]), |at| (&data[..at], &data[at + 2..]));
        let head = String::from_utf8_lossy(split.0);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let (method, rest) = request_line.split_once(' ').unwrap_or((request_line, ""));
        let target = rest.rsplit_once(' ').map_or(rest, |(target, _)| target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        RawRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: split.1.to_vec(),
        }
    }

    /// Lends the request as the verifier sees it.
    pub fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }
}

/// Everything the server does with a request's signature, in its order: parse, the scope
/// check, the clock, then the signature itself (with the suites' secret), plus the
/// canonical request that a `SignatureDoesNotMatch` would be debugged with.
pub fn check_signature(req: &HttpRequest<'_>, now: i64) {
    let Ok(presented) = latchkey_sigv4::parse(req) else {
        return;
    };
    // Debug must never panic, nor show the session token: its output may not depend on it.
    let mut other_token = presented.clone();
    other_token.security_token = presented.security_token.as_ref().map(|_| "other".into());
    assert_eq!(
        format!("{presented:?}"),
        format!("{other_token:?}"),
        "Debug shows the session token"
    );
    let _ = latchkey_sigv4::check_scope(&presented, "sts", &[]);
    let _ = latchkey_sigv4::check_time(&presented, now);
    let _ = latchkey_sigv4::check_time(&presented, SUITE_TIME);
    if let Ok(canonical) = latchkey_sigv4::canonical_request(req, &presented) {
        let _ = latchkey_sigv4::string_to_sign(&canonical, &presented);
    }
    let key = latchkey_sigv4::SigningKey::derive(SUITE_SECRET, &presented.scope);
    let verified = latchkey_sigv4::verify(req, &presented, &key);
    // Deterministic: a second verification of the same request agrees with the first.
    assert_eq!(verified, latchkey_sigv4::verify(req, &presented, &key));
    // The cached key (the second lookup hits the cache) is the derived one.
    let cache = latchkey_sigv4::SigningKeyCache::default();
    for _ in 0..2 {
        let cached = cache.get_or_derive(SUITE_SECRET, &presented.scope);
        assert_eq!(verified, latchkey_sigv4::verify(req, &presented, &cached));
    }
}
