//! The canonical request and string to sign, written into any [`Sink`] so the
//! verification path can hash them without building them.

use crate::encoding::{Sink, encode_into, find_below, hex_lower, reencode, same_header_name};
use crate::error::incomplete;
use crate::parse::query_pairs;
use crate::sha256::Sha256;
use crate::{ALGORITHM, AuthLocation, HttpRequest, Options, Presented, SigV4Error};

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// The canonical request with default [`Options`] (non-S3 path normalization).
pub fn canonical_request(req: &HttpRequest<'_>, p: &Presented<'_>) -> Result<String, SigV4Error> {
    canonical_request_with(req, p, &Options::default())
}

/// The canonical request under explicit [`Options`] (S3-style paths, or a presigned
/// URL whose session token was appended after signing).
pub fn canonical_request_with(
    req: &HttpRequest<'_>,
    p: &Presented<'_>,
    opts: &Options,
) -> Result<String, SigV4Error> {
    let mut buf = Vec::with_capacity(256);
    write_canonical_request(&mut buf, req, p, opts)?;
    Ok(into_string(buf))
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>`
pub fn string_to_sign(canonical_request: &str, p: &Presented<'_>) -> String {
    let mut buf = Vec::with_capacity(128);
    write_string_to_sign(&mut buf, &Sha256::digest(canonical_request.as_bytes()), p);
    into_string(buf)
}

// Every byte written comes from a &str or is ASCII, so the fallback never runs.
fn into_string(buf: Vec<u8>) -> String {
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(crate) fn write_string_to_sign(
    out: &mut impl Sink,
    canonical_hash: &[u8; 32],
    p: &Presented<'_>,
) {
    out.put(ALGORITHM.as_bytes());
    out.put_byte(b'\n');
    out.put(p.amz_date.as_bytes());
    out.put_byte(b'\n');
    out.put(p.scope.date.as_bytes());
    out.put_byte(b'/');
    out.put(p.scope.region.as_bytes());
    out.put_byte(b'/');
    out.put(p.scope.service.as_bytes());
    out.put(b"/aws4_request\n");
    out.put(&hex_lower(canonical_hash));
}

pub(crate) fn write_canonical_request(
    out: &mut impl Sink,
    req: &HttpRequest<'_>,
    p: &Presented<'_>,
    opts: &Options,
) -> Result<(), SigV4Error> {
    out.put(req.method.as_bytes());
    out.put_byte(b'\n');
    write_canonical_uri(out, req.path, opts.normalize_path);
    out.put_byte(b'\n');
    write_canonical_query(out, req.query, p, opts);
    out.put_byte(b'\n');
    let mut declared_payload = None;
    for name in &p.signed_headers {
        out.put(name.as_bytes());
        out.put_byte(b':');
        let is_payload_hash = same_header_name(name, CONTENT_SHA256);
        let values = req
            .headers
            .iter()
            .filter(|(n, _)| same_header_name(n, name));
        for (i, &(_, value)) in values.enumerate() {
            if i > 0 {
                out.put_byte(b',');
            }
            write_trimmed(out, value);
            if is_payload_hash && declared_payload.replace(value.trim_ascii()).is_some() {
                return Err(incomplete(format!(
                    "Request has more than one '{CONTENT_SHA256}' header."
                )));
            }
        }
        out.put_byte(b'\n');
    }
    out.put_byte(b'\n');
    match p.signed_headers.plain() {
        Some(line) => out.put(line.as_bytes()),
        None => {
            for (i, name) in p.signed_headers.iter().enumerate() {
                if i > 0 {
                    out.put_byte(b';');
                }
                out.put(name.as_bytes());
            }
        }
    }
    out.put_byte(b'\n');
    match payload_hash(req.body, declared_payload)? {
        Payload::Computed(hex) => out.put(&hex),
        Payload::Declared(value) => out.put(value.as_bytes()),
    }
    Ok(())
}

/// The path is encoded once more even though it arrives encoded (`%` becomes `%25`):
/// that is the "double encoding" every SigV4 signer applies to non-S3 paths.
fn write_canonical_uri(out: &mut impl Sink, path: &str, normalize: bool) {
    if path.is_empty() {
        out.put_byte(b'/');
    } else if !normalize || is_normalized(path) {
        encode_into(out, path.as_bytes(), true);
    } else {
        // RFC 3986 remove_dot_segments plus collapsing empty segments, as botocore does.
        let mut segments: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                _ => segments.push(seg),
            }
        }
        out.put_byte(b'/');
        for (i, seg) in segments.iter().enumerate() {
            if i > 0 {
                out.put_byte(b'/');
            }
            encode_into(out, seg.as_bytes(), false);
        }
        if path.ends_with('/') && !segments.is_empty() {
            out.put_byte(b'/');
        }
    }
}

/// Whether normalizing would leave `path` unchanged, which spares the segment list.
fn is_normalized(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, "." | "..") || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

fn write_canonical_query(out: &mut impl Sink, query: &str, p: &Presented<'_>, opts: &Options) {
    if query.is_empty() {
        return;
    }
    let presigned = p.location == AuthLocation::Query;
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .map(|(k, v)| (reencode(k), v))
        .filter(|(k, _)| {
            !(presigned
                && (k == "X-Amz-Signature"
                    || (opts.omit_query_security_token && k == "X-Amz-Security-Token")))
        })
        .map(|(k, v)| (k, reencode(v)))
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.put_byte(b'&');
        }
        out.put(k.as_bytes());
        out.put_byte(b'=');
        out.put(v.as_bytes());
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// AWS's Trimall: no leading/trailing whitespace, inner runs collapsed to one space.
fn write_trimmed(out: &mut impl Sink, value: &str) {
    let bytes = value.as_bytes();
    if is_trimmed(bytes) {
        out.put(bytes);
        return;
    }
    let words = bytes.split(|&b| is_space(b)).filter(|w| !w.is_empty());
    for (i, word) in words.enumerate() {
        if i > 0 {
            out.put_byte(b' ');
        }
        out.put(word);
    }
}

/// Whether Trimall would leave `bytes` as they are (the usual case, which then goes
/// out in one write): no whitespace at either end and none inside but lone spaces.
fn is_trimmed(bytes: &[u8]) -> bool {
    if bytes.first().is_some_and(|&b| is_space(b)) || bytes.last().is_some_and(|&b| is_space(b)) {
        return false;
    }
    let mut rest = bytes;
    while let Some(at) = find_below(rest, b' ' + 1) {
        let (byte, next) = (rest.get(at), rest.get(at + 1));
        if byte.is_some_and(|&b| is_space(b) && (b != b' ' || next.is_some_and(|&n| is_space(n)))) {
            return false;
        }
        rest = rest.get(at + 1..).unwrap_or_default();
    }
    true
}

enum Payload<'a> {
    Computed([u8; 64]),
    Declared(&'a str),
}

/// The body's SHA-256, unless a signed `x-amz-content-sha256` declares the payload
/// hash; a declared digest must match the body, since otherwise the body is unsigned.
fn payload_hash<'a>(body: &[u8], declared: Option<&'a str>) -> Result<Payload<'a>, SigV4Error> {
    let computed = || hex_lower(&Sha256::digest(body));
    match declared {
        None => Ok(Payload::Computed(computed())),
        Some(UNSIGNED_PAYLOAD) => Ok(Payload::Declared(UNSIGNED_PAYLOAD)),
        Some(digest) if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) => {
            if digest.as_bytes().eq_ignore_ascii_case(&computed()) {
                Ok(Payload::Declared(digest))
            } else {
                Err(SigV4Error::SignatureDoesNotMatch)
            }
        }
        Some(_) => Err(incomplete(
            "x-amz-content-sha256 must be a hex SHA-256 digest or UNSIGNED-PAYLOAD; \
             aws-chunked streaming payloads are not supported.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn trimmed(value: &str) -> String {
        let mut out = Vec::new();
        write_trimmed(&mut out, value);
        into_string(out)
    }

    #[test]
    fn trimall() {
        for (raw, want) in [
            ("", ""),
            ("a", "a"),
            ("  a b  ", "a b"),
            ("\"a   b   c\"", "\"a b c\""),
            ("a\tb", "a b"),
            ("a \t\r\n b", "a b"),
            ("a\u{1}b", "a\u{1}b"),
            ("x  ", "x"),
        ] {
            assert_eq!(trimmed(raw), want, "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn trimall_matches_split_and_join(value in "[ \\t\\n\\x0b\\x0c\\ra-c\\x01é]{0,24}") {
            let reference = value
                .split(|c: char| c.is_ascii() && is_space(c as u8))
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            prop_assert_eq!(trimmed(&value), reference);
        }
    }
}
