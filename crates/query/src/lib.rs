//! The awsQuery protocol, as IAM and STS speak it: form-encoded requests in, XML documents out;
//! and the awsJson request body (Organizations).
//!
//! Sans-IO: this crate turns bytes into a [`QueryRequest`] or a JSON input and builds response
//! and error bodies as strings. It knows nothing of HTTP servers, accounts or users.

mod form;
mod json;
mod xml;

pub use form::{Member, QueryError, QueryRequest};
pub use json::json_input;
pub use xml::{ErrorType, XmlResponse, error_document, escape_into};

/// XML namespace of IAM responses (API version 2010-05-08).
pub const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// XML namespace of STS responses (API version 2011-06-15).
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Percent-encodes a policy document the way IAM returns documents in XML responses (RFC 3986
/// unreserved characters stay; everything else is `%XX`). botocore decodes it with `unquote`.
pub fn encode_policy_document(document: &str) -> String {
    percent_encoding::utf8_percent_encode(document, form::UNRESERVED).to_string()
}
