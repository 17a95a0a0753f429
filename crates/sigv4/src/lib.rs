//! Sans-IO verifier for AWS Signature Version 4 (`AWS4-HMAC-SHA256`), server side.
//!
//! The caller hands over a borrowed view of an HTTP request; this crate parses the
//! signature it presents (`Authorization` header or presigned query), checks the
//! clock, re-derives the canonical request and compares signatures in constant time.
//! Looking up the secret for an access key id is the caller's business.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use latchkey_sigv4::{HttpRequest, SigV4Error, SigningKeyCache, check_scope, check_time, parse, verify};
//!
//! /// What a server keeps per access key id.
//! struct Credential {
//!     secret: String,
//!     signing_keys: SigningKeyCache,
//! }
//!
//! fn authenticate(
//!     req: &HttpRequest<'_>,
//!     credentials: &HashMap<String, Credential>,
//!     now_unix: i64,
//! ) -> Result<(), SigV4Error> {
//!     let presented = parse(req)?;
//!     check_time(&presented, now_unix)?;
//!     check_scope(&presented, "sts", &[])?;
//!     let credential = credentials
//!         .get(&*presented.access_key_id)
//!         .ok_or(SigV4Error::InvalidClientTokenId)?;
//!     let key = credential.signing_keys.get_or_derive(&credential.secret, &presented.scope);
//!     verify(req, &presented, &key)
//! }
//! ```

mod canonical;
mod encoding;
mod error;
mod key;
mod parse;
mod sha256;
mod time;
mod verify;

use std::fmt;

pub use canonical::{canonical_request, canonical_request_with, string_to_sign};
pub use encoding::{uri_decode, uri_encode};
pub use error::SigV4Error;
pub use key::{SigningKey, SigningKeyCache, sign};
pub use parse::{Presented, SignedHeaderNames, SignedHeaders, parse};
pub use time::{MAX_PRESIGNED_EXPIRES, MAX_SKEW_SECONDS, check_time};
pub use verify::{check_scope, verify, verify_with};

/// The only algorithm this crate verifies; SigV4a (`AWS4-ECDSA-P256-SHA256`) is rejected.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What the verifier needs to know about an HTTP request. Borrowed, zero-copy.
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as on the wire, still percent-encoded, e.g. `/` or `/a%20b`.
    pub path: &'a str,
    /// The raw query string without `?`; empty if there is none.
    pub query: &'a str,
    /// Header names lowercase (as hyper gives them), values as received; a name may repeat.
    /// HTTP/2 callers must pass the `:authority` as a `host` entry, since `host` is always signed.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

// Headers and query can carry X-Amz-Security-Token, so only their shape is shown.
impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field(
                "header_names",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Where the request carried its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthLocation {
    /// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
    Header,
    /// Presigned URL: `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Signature`, ... in the query.
    Query,
}

/// The `<date>/<region>/<service>` part of the credential; the terminator is always `aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialScope<'a> {
    /// `YYYYMMDD`
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// Canonicalization knobs. The default is what IAM, STS and every AWS service but S3 expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Remove `.`/`..` segments and collapse repeated slashes before encoding the path.
    /// Everything but S3 normalizes. The path is URI-encoded either way, as aws-c-auth
    /// does (its `normalize: false` vectors are the ones this knob exists for).
    pub normalize_path: bool,
    /// Leave `X-Amz-Security-Token` out of a presigned request's canonical query, for
    /// clients that append the token after signing (aws-c-auth's `omit_session_token`).
    /// [`verify_with`] already retries this way when the signed form does not match.
    pub omit_query_security_token: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            normalize_path: true,
            omit_query_security_token: false,
        }
    }
}
