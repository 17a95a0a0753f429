//! Domain errors, named by the AWS error code a client will see.
//!
//! This is the one place that decides code, HTTP status and fault side; the transport renders
//! whatever it is given here in its protocol's format.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    AccountNotFound,
    CreateAccountStatusNotFound,
    DeleteConflict,
    DuplicateAccount,
    EntityAlreadyExists,
    ExpiredToken,
    IncompleteBody,
    IncompleteSignature,
    InvalidAction,
    InvalidClientTokenId,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    MalformedQueryString,
    MissingAction,
    MissingAuthenticationToken,
    NoSuchEntity,
    PackedPolicyTooLarge,
    PolicyNotAttachable,
    ReportExpired,
    ReportInProgress,
    ReportNotPresent,
    RequestEntityTooLarge,
    RequestExpired,
    RequestTimeTooSkewed,
    RequestTimeout,
    SerializationException,
    ServiceFailure,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    UnmodifiableEntity,
    ValidationError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::AccountNotFound => "AccountNotFoundException",
            ErrorCode::CreateAccountStatusNotFound => "CreateAccountStatusNotFoundException",
            ErrorCode::DuplicateAccount => "DuplicateAccountException",
            ErrorCode::DeleteConflict => "DeleteConflict",
            ErrorCode::EntityAlreadyExists => "EntityAlreadyExists",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            ErrorCode::IncompleteBody => "IncompleteBody",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::LimitExceeded => "LimitExceeded",
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            ErrorCode::MalformedQueryString => "MalformedQueryString",
            ErrorCode::PolicyNotAttachable => "PolicyNotAttachable",
            ErrorCode::UnmodifiableEntity => "UnmodifiableEntity",
            ErrorCode::MissingAction => "MissingAction",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::NoSuchEntity => "NoSuchEntity",
            ErrorCode::ReportExpired => "ReportExpired",
            ErrorCode::ReportInProgress => "ReportInProgress",
            ErrorCode::ReportNotPresent => "ReportNotPresent",
            ErrorCode::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorCode::RequestExpired => "RequestExpired",
            ErrorCode::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::ServiceFailure => "ServiceFailure",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::ValidationError => "ValidationError",
        }
    }

    /// The HTTP status AWS sends with this code (IAM model and the common query errors).
    ///
    /// The transport's own errors (docs/design/input-limits.md): MalformedQueryString is 404
    /// as in AWS's common errors; IncompleteBody and RequestTimeout are 400 as S3 sends them;
    /// RequestEntityTooLarge, which AWS documents for no query service, is HTTP's 413.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::AccessDenied
            | ErrorCode::ExpiredToken
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::MissingAuthenticationToken
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::RequestTimeTooSkewed => 403,
            ErrorCode::NoSuchEntity
            | ErrorCode::ReportInProgress
            | ErrorCode::MalformedQueryString => 404,
            ErrorCode::DeleteConflict
            | ErrorCode::EntityAlreadyExists
            | ErrorCode::LimitExceeded => 409,
            ErrorCode::ReportExpired | ErrorCode::ReportNotPresent => 410,
            ErrorCode::RequestEntityTooLarge => 413,
            ErrorCode::ServiceFailure => 500,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::AccountNotFound
            | ErrorCode::CreateAccountStatusNotFound
            | ErrorCode::DuplicateAccount
            | ErrorCode::IncompleteBody
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidInput
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::PolicyNotAttachable
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::MissingAction
            | ErrorCode::RequestExpired
            | ErrorCode::RequestTimeout
            | ErrorCode::SerializationException
            | ErrorCode::ValidationError => 400,
        }
    }

    /// The code as the awsJson services spell it (`AccessDeniedException`, ...).
    pub fn json_code(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::ValidationError | ErrorCode::InvalidInput => "InvalidInputException",
            ErrorCode::ServiceFailure => "ServiceException",
            ErrorCode::ServiceUnavailable => "ServiceException",
            other => other.as_str(),
        }
    }

    /// Whether the fault is the server's (`Receiver`) rather than the client's (`Sender`).
    pub fn is_server_fault(self) -> bool {
        self.http_status() >= 500
    }
}

/// An error with the message AWS would send for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamError {
    pub code: ErrorCode,
    pub message: String,
}

impl IamError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IamError {
            code,
            message: message.into(),
        }
    }

    pub fn no_such_user(name: &str) -> Self {
        IamError::new(
            ErrorCode::NoSuchEntity,
            format!("The user with name {name} cannot be found."),
        )
    }

    pub fn no_such_access_key(id: &str) -> Self {
        IamError::new(
            ErrorCode::NoSuchEntity,
            format!("The Access Key with id {id} cannot be found."),
        )
    }

    /// The generic failure for a store that failed; the detail goes to the log, not the client.
    pub fn service_failure() -> Self {
        IamError::new(
            ErrorCode::ServiceFailure,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl fmt::Display for IamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for IamError {}
