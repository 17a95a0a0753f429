use std::fmt;

use crate::time::format_amz_date;

/// Why a request failed authentication, with AWS's error codes, statuses and wording.
///
/// Messages may quote request data (the `Authorization` header, a date), never a
/// secret; callers rendering them into XML or JSON must still escape them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    MissingAuthenticationToken,
    /// The signature parameters are malformed or incomplete; the message says which.
    IncompleteSignature(String),
    /// The recomputed signature differs from the presented one.
    SignatureDoesNotMatch,
    /// The credential scope's date is not the date of `X-Amz-Date`; reported as
    /// `SignatureDoesNotMatch`, like AWS.
    ScopeDateMismatch {
        scope_date: String,
        amz_date: String,
    },
    /// Header auth more than [`MAX_SKEW_SECONDS`](crate::MAX_SKEW_SECONDS) away from
    /// the server clock, or a presigned request dated too far in the future.
    RequestTimeTooSkewed {
        amz_date: String,
        now_unix: i64,
        in_future: bool,
    },
    /// A presigned request past `X-Amz-Date + X-Amz-Expires`.
    RequestExpired,
    /// The access key id is unknown; raised by the caller after its key lookup.
    InvalidClientTokenId,
}

impl SigV4Error {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::SignatureDoesNotMatch | Self::ScopeDateMismatch { .. } => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::RequestExpired => "RequestExpired",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
        }
    }

    /// 403 for skew follows S3's documented status and what AWS's query APIs return for
    /// "Signature expired" (they report it as a 403 SignatureDoesNotMatch).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::IncompleteSignature(_) | Self::RequestExpired => 400,
            Self::MissingAuthenticationToken
            | Self::SignatureDoesNotMatch
            | Self::ScopeDateMismatch { .. }
            | Self::RequestTimeTooSkewed { .. }
            | Self::InvalidClientTokenId => 403,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Request is missing Authentication Token".into(),
            Self::IncompleteSignature(message) => message.clone(),
            Self::SignatureDoesNotMatch => "The request signature we calculated does not match \
                the signature you provided. Check your AWS Secret Access Key and signing method. \
                Consult the service documentation for details."
                .into(),
            Self::ScopeDateMismatch {
                scope_date,
                amz_date,
            } => {
                let http_date = amz_date.get(..8).unwrap_or(amz_date);
                format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                     date from HTTP: '{scope_date}' != '{http_date}', from '{amz_date}'."
                )
            }
            Self::RequestTimeTooSkewed {
                amz_date,
                now_unix,
                in_future,
            } => {
                let now = format_amz_date(*now_unix);
                if *in_future {
                    let limit = format_amz_date(now_unix.saturating_add(crate::MAX_SKEW_SECONDS));
                    format!(
                        "Signature not yet current: {amz_date} is still later than {limit} \
                         ({now} + 15 min.)"
                    )
                } else {
                    let limit = format_amz_date(now_unix.saturating_sub(crate::MAX_SKEW_SECONDS));
                    format!(
                        "Signature expired: {amz_date} is now earlier than {limit} \
                         ({now} - 15 min.)"
                    )
                }
            }
            Self::RequestExpired => "Request has expired".into(),
            Self::InvalidClientTokenId => {
                "The security token included in the request is invalid.".into()
            }
        }
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for SigV4Error {}

/// Caps how much attacker-supplied text an error message quotes.
pub(crate) fn echo(s: &str) -> &str {
    const MAX: usize = 512;
    if s.len() <= MAX {
        return s;
    }
    let end = (0..=MAX)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    s.get(..end).unwrap_or_default()
}

pub(crate) fn incomplete(message: impl Into<String>) -> SigV4Error {
    SigV4Error::IncompleteSignature(message.into())
}
