//! The canonical request and string to sign, written into any [`Sink`] so the
//! verification path can hash them without building them.

use sha2::{Digest, Sha256};

use crate::encoding::{Sink, encode_into, hex_lower, reencode};
use crate::error::incomplete;
use crate::parse::{query_pairs, single_header};
use crate::{ALGORITHM, AuthLocation, HttpRequest, Options, Presented, SigV4Error};

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The canonical request with default [`Options`] (non-S3 path normalization).
pub fn canonical_request(req: &HttpRequest<'_>, p: &Presented<'_>) -> Result<String, SigV4Error> {
    canonical_request_with(req, p, &Options::default())
}

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
    write_string_to_sign(
        &mut buf,
        &Sha256::digest(canonical_request.as_bytes()).into(),
        p,
    );
    into_string(buf)
}

// Every byte written comes from a &str or is ASCII, so the fallback never runs.
fn into_string(buf: Vec<u8>) -> String {
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub(crate) fn write_string_to_sign(out: &mut impl Sink, canonical_hash: &[u8; 32], p: &Presented<'_>) {
    out.put(ALGORITHM.as_bytes());
    out.put(b"\n");
    out.put(p.amz_date.as_bytes());
    out.put(b"\n");
    out.put(p.scope.date.as_bytes());
    out.put(b"/");
    out.put(p.scope.region.as_bytes());
    out.put(b"/");
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
    // First, so a bad payload declaration fails before anything is written.
    let payload = payload_hash(req, p)?;

    out.put(req.method.as_bytes());
    out.put(b"\n");
    write_canonical_uri(out, req.path, opts.normalize_path);
    out.put(b"\n");
    write_canonical_query(out, req.query, p, opts);
    out.put(b"\n");
    for name in &p.signed_headers {
        out.put(name.as_bytes());
        out.put(b":");
        let values = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        for (i, (_, value)) in values.enumerate() {
            if i > 0 {
                out.put(b",");
            }
            write_trimmed(out, value);
        }
        out.put(b"\n");
    }
    out.put(b"\n");
    for (i, name) in p.signed_headers.iter().enumerate() {
        if i > 0 {
            out.put(b";");
        }
        out.put(name.as_bytes());
    }
    out.put(b"\n");
    match &payload {
        Payload::Computed(hex) => out.put(hex),
        Payload::Declared(value) => out.put(value.as_bytes()),
    }
    Ok(())
}

/// The path is encoded once more even though it arrives encoded (`%` becomes `%25`):
/// that is the "double encoding" every SigV4 signer applies to non-S3 paths.
fn write_canonical_uri(out: &mut impl Sink, path: &str, normalize: bool) {
    if path.is_empty() {
        out.put(b"/");
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
        out.put(b"/");
        for (i, seg) in segments.iter().enumerate() {
            if i > 0 {
                out.put(b"/");
            }
            encode_into(out, seg.as_bytes(), false);
        }
        if path.ends_with('/') && !segments.is_empty() {
            out.put(b"/");
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
            out.put(b"&");
        }
        out.put(k.as_bytes());
        out.put(b"=");
        out.put(v.as_bytes());
    }
}

/// AWS's Trimall: no leading/trailing whitespace, inner runs collapsed to one space.
fn write_trimmed(out: &mut impl Sink, value: &str) {
    let words = value
        .split(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
        .filter(|w| !w.is_empty());
    for (i, word) in words.enumerate() {
        if i > 0 {
            out.put(b" ");
        }
        out.put(word.as_bytes());
    }
}

enum Payload<'a> {
    Computed([u8; 64]),
    Declared(&'a str),
}

/// The body's SHA-256, unless a signed `x-amz-content-sha256` declares the payload
/// hash; a declared digest must match the body, since otherwise the body is unsigned.
fn payload_hash<'a>(req: &HttpRequest<'a>, p: &Presented<'_>) -> Result<Payload<'a>, SigV4Error> {
    let computed = || hex_lower(&Sha256::digest(req.body).into());
    if !p.signed_headers.contains("x-amz-content-sha256") {
        return Ok(Payload::Computed(computed()));
    }
    match single_header(req.headers, "x-amz-content-sha256")? {
        None => Ok(Payload::Computed(computed())),
        Some(UNSIGNED_PAYLOAD) => Ok(Payload::Declared(UNSIGNED_PAYLOAD)),
        Some(declared)
            if declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            if declared.as_bytes().eq_ignore_ascii_case(&computed()) {
                Ok(Payload::Declared(declared))
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
