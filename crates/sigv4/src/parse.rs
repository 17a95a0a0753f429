use std::borrow::Cow;
use std::fmt;

use crate::encoding::{
    SplitSep, decode_hex32, decode_str, hex_lower, same_header_name, split_once_byte,
};
use crate::error::{echo, incomplete};
use crate::time::{MAX_PRESIGNED_EXPIRES, format_amz_date, parse_amz_date, parse_http_date};
use crate::{ALGORITHM, AuthLocation, CredentialScope, HttpRequest, SigV4Error};

const TERMINATOR: &str = "aws4_request";

/// The signature a request presents, as parsed by [`parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct Presented<'a> {
    pub location: AuthLocation,
    /// Borrowed unless the presigned credential had to be percent-decoded.
    pub access_key_id: Cow<'a, str>,
    pub scope: CredentialScope<'a>,
    pub signed_headers: SignedHeaders<'a>,
    pub signature: [u8; 32],
    /// Unix seconds from `X-Amz-Date` (header or query) or, failing that, the `Date` header.
    pub request_time: i64,
    /// The `YYYYMMDDTHHMMSSZ` timestamp that goes into the string to sign; owned only
    /// when it was rebuilt from a `Date` header.
    pub amz_date: Cow<'a, str>,
    /// Presigned `X-Amz-Expires`, within `1..=604800`.
    pub expires_in: Option<u32>,
    /// `X-Amz-Security-Token` from the header (header auth) or the query (presigned).
    pub security_token: Option<Cow<'a, str>>,
}

// The session token is a credential, so Debug output never carries it.
impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signature = hex_lower(&self.signature);
        f.debug_struct("Presented")
            .field("location", &self.location)
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &String::from_utf8_lossy(&signature))
            .field("request_time", &self.request_time)
            .field("amz_date", &self.amz_date)
            .field("expires_in", &self.expires_in)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The `SignedHeaders` list, borrowed as it appeared in the request; iteration keeps the given order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedHeaders<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> SignedHeaders<'a> {
    /// A `;`-separated list as in the `Authorization` header, e.g. `host;x-amz-date`.
    pub fn new(raw: &'a str) -> Self {
        Self {
            raw,
            escaped: false,
        }
    }

    /// `X-Amz-SignedHeaders` as it sits in the raw query, where `;` is usually `%3B`.
    fn from_query(raw: &'a str) -> Self {
        Self { raw, escaped: true }
    }

    pub fn iter(&self) -> SignedHeaderNames<'a> {
        SignedHeaderNames(SplitSep::new(self.raw, b';', self.escaped))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| same_header_name(n, name))
    }

    /// The list as the canonical request's signed-headers line, when it is already that.
    pub(crate) fn plain(&self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }
}

impl fmt::Debug for SignedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &SignedHeaders<'a> {
    type Item = &'a str;
    type IntoIter = SignedHeaderNames<'a>;

    fn into_iter(self) -> SignedHeaderNames<'a> {
        self.iter()
    }
}

/// Iterator over the names in [`SignedHeaders`].
pub struct SignedHeaderNames<'a>(SplitSep<'a>);

impl<'a> Iterator for SignedHeaderNames<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl fmt::Debug for SignedHeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedHeaderNames")
    }
}

/// Extracts the presented signature from the `Authorization` header or the presigned
/// query. Checks syntax, that the scope date matches `X-Amz-Date`, and that every
/// signed header is present (with `host` among them); not the clock ([`check_time`](crate::check_time))
/// nor the signature ([`verify`](crate::verify)).
pub fn parse<'a>(req: &HttpRequest<'a>) -> Result<Presented<'a>, SigV4Error> {
    let headers = AuthHeaders::scan(req.headers)?;
    let presigned = query_pairs(req.query).any(|(k, _)| {
        matches!(
            k,
            "X-Amz-Algorithm" | "X-Amz-Credential" | "X-Amz-Signature"
        )
    });
    match (headers.authorization, presigned) {
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
             Authorization header should be specified",
        )),
        (Some(value), false) => parse_header_auth(req, value, &headers),
        (None, true) => parse_query_auth(req),
        (None, false) => Err(SigV4Error::MissingAuthenticationToken),
    }
}

/// The headers [`parse`] consults, found in one pass. Each may appear once: a repeat
/// would leave it ambiguous which one was signed.
#[derive(Default)]
struct AuthHeaders<'a> {
    authorization: Option<&'a str>,
    amz_date: Option<&'a str>,
    date: Option<&'a str>,
    security_token: Option<&'a str>,
}

impl<'a> AuthHeaders<'a> {
    fn scan(headers: &[(&'a str, &'a str)]) -> Result<Self, SigV4Error> {
        let mut found = Self::default();
        for &(name, value) in headers {
            let (canonical, slot) = match name.len() {
                13 if name.eq_ignore_ascii_case("authorization") => {
                    ("authorization", &mut found.authorization)
                }
                10 if name.eq_ignore_ascii_case("x-amz-date") => {
                    ("x-amz-date", &mut found.amz_date)
                }
                4 if name.eq_ignore_ascii_case("date") => ("date", &mut found.date),
                20 if name.eq_ignore_ascii_case("x-amz-security-token") => {
                    ("x-amz-security-token", &mut found.security_token)
                }
                _ => continue,
            };
            if slot.replace(value.trim_ascii()).is_some() {
                return Err(incomplete(format!(
                    "Request has more than one '{canonical}' header."
                )));
            }
        }
        Ok(found)
    }
}

#[derive(Clone, Copy)]
enum DateSource<'a> {
    Amz(&'a str),
    Http(&'a str),
}

pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    SplitSep::new(query, b'&', false)
        .filter(|pair| !pair.is_empty())
        .map(|pair| split_once_byte(pair, b'=').unwrap_or((pair, "")))
}

fn parse_header_auth<'a>(
    req: &HttpRequest<'a>,
    authorization: &'a str,
    headers: &AuthHeaders<'a>,
) -> Result<Presented<'a>, SigV4Error> {
    let params = authorization
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        .ok_or_else(|| {
            let algorithm = authorization.split([' ', '\t']).next().unwrap_or_default();
            incomplete(format!(
                "Unsupported AWS 'algorithm': '{}'. Only {ALGORITHM} is supported.",
                echo(algorithm)
            ))
        })?;

    let (credential, signed_headers, signature) = match split_usual_layout(params) {
        Some((credential, signed_headers, signature)) => {
            (Some(credential), Some(signed_headers), Some(signature))
        }
        None => split_parameters(params)?,
    };
    // X-Amz-Date wins over Date, as in AWS's signers.
    let date = match (headers.amz_date, headers.date) {
        (Some(amz), _) => Some(DateSource::Amz(amz)),
        (None, http) => http.map(DateSource::Http),
    };

    let (Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (credential, signature, signed_headers, date)
    else {
        let mut message = String::new();
        for (absent, what) in [
            (credential.is_none(), "requires 'Credential' parameter"),
            (signature.is_none(), "requires 'Signature' parameter"),
            (
                signed_headers.is_none(),
                "requires 'SignedHeaders' parameter",
            ),
            (
                date.is_none(),
                "requires existence of either a 'X-Amz-Date' or a 'Date' header",
            ),
        ] {
            if absent {
                message.push_str("Authorization header ");
                message.push_str(what);
                message.push_str(". ");
            }
        }
        return Err(incomplete(message + "Authorization=" + echo(authorization)));
    };

    let (access_key_id, scope) = parse_credential(credential, false)?;
    let signature = parse_signature(signature)?;
    let (request_time, amz_date) = match date {
        DateSource::Amz(amz) => (parse_iso_date(amz)?, Cow::Borrowed(amz)),
        DateSource::Http(http) => {
            let t = parse_http_date(http).ok_or_else(|| {
                incomplete(format!(
                    "Date header must be an RFC 7231 HTTP-date. Got '{}'.",
                    echo(http)
                ))
            })?;
            (t, Cow::Owned(format_amz_date(t)))
        }
    };
    check_scope_date(&scope, &amz_date)?;
    let signed_headers = SignedHeaders::new(signed_headers);
    check_signed_headers(req, &signed_headers)?;

    Ok(Presented {
        location: AuthLocation::Header,
        access_key_id,
        scope,
        signed_headers,
        signature,
        request_time,
        amz_date,
        expires_in: None,
        security_token: headers.security_token.map(Cow::Borrowed),
    })
}

/// Every AWS signer writes ` Credential=.., SignedHeaders=.., Signature=<64 hex>`;
/// matching that directly spares the general parameter loop, a visible share of a
/// verification. Anything else, including extra parameters, takes the general path.
fn split_usual_layout(params: &str) -> Option<(&str, &str, &str)> {
    let rest = params.strip_prefix(" Credential=")?;
    let (credential, rest) = split_once_byte(rest, b',')?;
    let rest = rest.strip_prefix(" SignedHeaders=")?;
    let (signed_headers, rest) = split_once_byte(rest, b',')?;
    let signature = rest.strip_prefix(" Signature=")?;
    (signature.len() == 64 && !signature.contains(',')).then(|| {
        (
            credential.trim_ascii(),
            signed_headers.trim_ascii(),
            signature,
        )
    })
}

type AuthParameters<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

/// `Credential`, `SignedHeaders` and `Signature` from comma-separated `key=value`
/// pairs in any order; unknown keys are ignored, repeated ones rejected.
fn split_parameters(params: &str) -> Result<AuthParameters<'_>, SigV4Error> {
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in SplitSep::new(params, b',', false) {
        let part = part.trim_ascii();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = split_once_byte(part, b'=') else {
            return Err(incomplete(
                "Invalid key=value pair (missing equal-sign) in Authorization header.",
            ));
        };
        let (name, slot) = match key.trim_ascii() {
            "Credential" => ("Credential", &mut credential),
            "SignedHeaders" => ("SignedHeaders", &mut signed_headers),
            "Signature" => ("Signature", &mut signature),
            _ => continue,
        };
        if slot.replace(value.trim_ascii()).is_some() {
            return Err(incomplete(format!(
                "Authorization header has more than one '{name}' parameter."
            )));
        }
    }
    Ok((credential, signed_headers, signature))
}

fn parse_query_auth<'a>(req: &HttpRequest<'a>) -> Result<Presented<'a>, SigV4Error> {
    let (mut algorithm, mut credential, mut date, mut signed_headers, mut signature) =
        (None, None, None, None, None);
    let (mut expires, mut token) = (None, None);
    for (key, value) in query_pairs(req.query) {
        let (name, slot) = match key {
            "X-Amz-Algorithm" => ("X-Amz-Algorithm", &mut algorithm),
            "X-Amz-Credential" => ("X-Amz-Credential", &mut credential),
            "X-Amz-Date" => ("X-Amz-Date", &mut date),
            "X-Amz-SignedHeaders" => ("X-Amz-SignedHeaders", &mut signed_headers),
            "X-Amz-Signature" => ("X-Amz-Signature", &mut signature),
            "X-Amz-Expires" => ("X-Amz-Expires", &mut expires),
            "X-Amz-Security-Token" => ("X-Amz-Security-Token", &mut token),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(incomplete(format!(
                "AWS query-string parameters must not repeat '{name}'."
            )));
        }
    }

    let (Some(algorithm), Some(credential), Some(signature), Some(signed_headers), Some(date)) =
        (algorithm, credential, signature, signed_headers, date)
    else {
        let mut message = String::new();
        for (absent, name) in [
            (algorithm.is_none(), "X-Amz-Algorithm"),
            (credential.is_none(), "X-Amz-Credential"),
            (signature.is_none(), "X-Amz-Signature"),
            (signed_headers.is_none(), "X-Amz-SignedHeaders"),
            (date.is_none(), "X-Amz-Date"),
        ] {
            if absent {
                message.push_str("AWS query-string parameters must include '");
                message.push_str(name);
                message.push_str("'. ");
            }
        }
        return Err(incomplete(
            message + "Re-examine the query-string parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }

    let (access_key_id, scope) = parse_credential(credential, true)?;
    let signature = parse_signature(signature)?;
    let request_time = parse_iso_date(date)?;
    check_scope_date(&scope, date)?;
    let expires_in = expires.map(parse_expires).transpose()?;
    let signed_headers = SignedHeaders::from_query(signed_headers);
    check_signed_headers(req, &signed_headers)?;

    Ok(Presented {
        location: AuthLocation::Query,
        access_key_id,
        scope,
        signed_headers,
        signature,
        request_time,
        amz_date: Cow::Borrowed(date),
        expires_in,
        security_token: token.map(decode_str),
    })
}

/// `AKID/YYYYMMDD/region/service/aws4_request`; in a query the slashes may be `%2F`.
fn parse_credential(
    raw: &str,
    escaped: bool,
) -> Result<(Cow<'_, str>, CredentialScope<'_>), SigV4Error> {
    let mut parts = [""; 5];
    let mut count = 0usize;
    for part in SplitSep::new(raw, b'/', escaped) {
        if let Some(slot) = parts.get_mut(count) {
            *slot = part;
        }
        count += 1;
    }
    let [access_key_id, date, region, service, terminator] = parts;
    if count != parts.len() {
        return Err(incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            echo(raw)
        )));
    }
    if terminator != TERMINATOR {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'.",
            echo(terminator)
        )));
    }
    if !is_scope_name(region) {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            echo(region)
        )));
    }
    if !is_scope_name(service) {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid service, not '{}'.",
            echo(service)
        )));
    }
    let access_key_id = if escaped {
        decode_str(access_key_id)
    } else {
        Cow::Borrowed(access_key_id)
    };
    Ok((
        access_key_id,
        CredentialScope {
            date,
            region,
            service,
        },
    ))
}

/// Region and service names are lowercase tokens; anything else (including a
/// percent-escape) cannot be a scope the server knows.
fn is_scope_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

fn parse_signature(hex: &str) -> Result<[u8; 32], SigV4Error> {
    decode_hex32(hex).ok_or_else(|| {
        incomplete("Signature must be 64 hexadecimal characters (a hex-encoded HMAC-SHA256).")
    })
}

fn parse_iso_date(s: &str) -> Result<i64, SigV4Error> {
    parse_amz_date(s).ok_or_else(|| {
        incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See \
             http://en.wikipedia.org/wiki/ISO_8601",
            echo(s)
        ))
    })
}

fn check_scope_date(scope: &CredentialScope<'_>, amz_date: &str) -> Result<(), SigV4Error> {
    if amz_date.get(..8) == Some(scope.date) {
        Ok(())
    } else {
        Err(SigV4Error::ScopeDateMismatch {
            scope_date: echo(scope.date).to_owned(),
            amz_date: amz_date.to_owned(),
        })
    }
}

fn parse_expires(raw: &str) -> Result<u32, SigV4Error> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete("X-Amz-Expires should be a number"));
    }
    // Only digits remain, so parsing fails on overflow alone, which is out of range anyway.
    match raw.parse::<u32>().unwrap_or(u32::MAX) {
        0 => Err(incomplete("X-Amz-Expires must be at least 1 second")),
        seconds @ 1..=MAX_PRESIGNED_EXPIRES => Ok(seconds),
        _ => Err(incomplete(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}"
        ))),
    }
}

fn check_signed_headers(
    req: &HttpRequest<'_>,
    signed: &SignedHeaders<'_>,
) -> Result<(), SigV4Error> {
    let mut has_host = false;
    for name in signed {
        if name.is_empty() {
            return Err(incomplete("SignedHeaders contains an empty header name."));
        }
        if !req.headers.iter().any(|(n, _)| same_header_name(n, name)) {
            return Err(incomplete(format!(
                "Header '{}' is listed in SignedHeaders but absent from the request.",
                echo(name)
            )));
        }
        has_host |= same_header_name(name, "host");
    }
    if has_host {
        Ok(())
    } else {
        Err(incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ))
    }
}
