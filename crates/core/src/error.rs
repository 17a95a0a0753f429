//! Domain errors, named by the AWS error code a client will see.
//!
//! This is the one place that decides code, HTTP status and fault side; the transport renders
//! whatever it is given here in its protocol's format.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    AccessDenied,
    AuthorizationPending,
    InvalidClient,
    InvalidClientMetadata,
    InvalidGrant,
    InvalidRequest,
    OidcAccessDenied,
    OidcExpiredToken,
    SlowDown,
    Unauthorized,
    UnauthorizedClient,
    UnsupportedGrantType,
    AccountNotFound,
    /// Organizations: the OU tree (ParentNotFoundException and its kin).
    ChildNotFound,
    ConcurrentModification,
    ConstraintViolation,
    DestinationParentNotFound,
    DuplicateOrganizationalUnit,
    OrganizationalUnitNotEmpty,
    OrganizationalUnitNotFound,
    ParentNotFound,
    SourceParentNotFound,
    /// awsJson (Identity Store, SSO Admin): a uniqueness claim, a concurrent change or a
    /// resource in use refused the write.
    Conflict,
    CreateAccountStatusNotFound,
    DeleteConflict,
    DuplicateAccount,
    EntityAlreadyExists,
    /// A concurrent change made the request's premise false (ChangePassword's old password).
    EntityTemporarilyUnmodifiable,
    ExpiredToken,
    IncompleteBody,
    IncompleteSignature,
    InvalidAction,
    InvalidAuthenticationCode,
    InvalidAuthorizationMessage,
    InvalidClientTokenId,
    InvalidInput,
    InvalidInvitation,
    /// ChangePassword called by anyone but an IAM user.
    InvalidUserType,
    /// awsJson (Identity Store): the server failed; the detail is in the log.
    InternalServer,
    LimitExceeded,
    MalformedPolicyDocument,
    MalformedQueryString,
    MissingAction,
    MissingAuthenticationToken,
    NoSuchEntity,
    PackedPolicyTooLarge,
    PasswordPolicyViolation,
    PolicyNotAttachable,
    ReportExpired,
    ReportInProgress,
    ReportNotPresent,
    RequestEntityTooLarge,
    RequestExpired,
    /// awsJson (Identity Store, SSO Admin): the resource named is not there.
    ResourceNotFound,
    RequestTimeTooSkewed,
    RequestTimeout,
    SerializationException,
    ServiceFailure,
    /// awsJson (SSO Admin): a quota of the instance or a permission set refused the change.
    ServiceQuotaExceeded,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    /// Too many failed authentications from one address or for one key
    /// (docs/design/throttling.md): `Throttling` in the query protocol,
    /// `ThrottlingException` in the Identity Store and SSO Admin.
    Throttling,
    /// Organizations' spelling of [`ErrorCode::Throttling`].
    TooManyRequests,
    UnmodifiableEntity,
    /// awsJson (Identity Store) spelling of a malformed request.
    Validation,
    /// CloudTrail LookupEvents: more than one lookup attribute, or an unknown one.
    InvalidLookupAttributes,
    /// CloudTrail LookupEvents: the start time is after the end time.
    InvalidTimeRange,
    /// CloudTrail LookupEvents: MaxResults outside 1–50.
    InvalidMaxResults,
    /// CloudTrail LookupEvents: a NextToken this server did not give.
    InvalidNextToken,
    ValidationError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::AuthorizationPending => "AuthorizationPendingException",
            ErrorCode::InvalidClient => "InvalidClientException",
            ErrorCode::InvalidClientMetadata => "InvalidClientMetadataException",
            ErrorCode::InvalidGrant => "InvalidGrantException",
            ErrorCode::InvalidRequest => "InvalidRequestException",
            ErrorCode::OidcAccessDenied => "AccessDeniedException",
            ErrorCode::OidcExpiredToken => "ExpiredTokenException",
            ErrorCode::SlowDown => "SlowDownException",
            ErrorCode::Unauthorized => "UnauthorizedException",
            ErrorCode::UnauthorizedClient => "UnauthorizedClientException",
            ErrorCode::UnsupportedGrantType => "UnsupportedGrantTypeException",
            ErrorCode::AccountNotFound => "AccountNotFoundException",
            ErrorCode::ChildNotFound => "ChildNotFoundException",
            ErrorCode::ConcurrentModification => "ConcurrentModificationException",
            ErrorCode::ConstraintViolation => "ConstraintViolationException",
            ErrorCode::DestinationParentNotFound => "DestinationParentNotFoundException",
            ErrorCode::DuplicateOrganizationalUnit => "DuplicateOrganizationalUnitException",
            ErrorCode::OrganizationalUnitNotEmpty => "OrganizationalUnitNotEmptyException",
            ErrorCode::OrganizationalUnitNotFound => "OrganizationalUnitNotFoundException",
            ErrorCode::ParentNotFound => "ParentNotFoundException",
            ErrorCode::SourceParentNotFound => "SourceParentNotFoundException",
            ErrorCode::Conflict => "ConflictException",
            ErrorCode::CreateAccountStatusNotFound => "CreateAccountStatusNotFoundException",
            ErrorCode::DuplicateAccount => "DuplicateAccountException",
            ErrorCode::DeleteConflict => "DeleteConflict",
            ErrorCode::EntityAlreadyExists => "EntityAlreadyExists",
            ErrorCode::EntityTemporarilyUnmodifiable => "EntityTemporarilyUnmodifiable",
            ErrorCode::InvalidUserType => "InvalidUserType",
            ErrorCode::ExpiredToken => "ExpiredToken",
            ErrorCode::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            ErrorCode::PasswordPolicyViolation => "PasswordPolicyViolation",
            ErrorCode::IncompleteBody => "IncompleteBody",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::InvalidAuthenticationCode => "InvalidAuthenticationCode",
            ErrorCode::InvalidAuthorizationMessage => "InvalidAuthorizationMessageException",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::InvalidInvitation => "InvalidInvitation",
            ErrorCode::InternalServer => "InternalServerException",
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
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ErrorCode::RequestTimeout => "RequestTimeout",
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::ServiceFailure => "ServiceFailure",
            ErrorCode::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::Throttling => "Throttling",
            ErrorCode::TooManyRequests => "TooManyRequestsException",
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ValidationError => "ValidationError",
            ErrorCode::InvalidLookupAttributes => "InvalidLookupAttributesException",
            ErrorCode::InvalidTimeRange => "InvalidTimeRangeException",
            ErrorCode::InvalidMaxResults => "InvalidMaxResultsException",
            ErrorCode::InvalidNextToken => "InvalidNextTokenException",
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
            | ErrorCode::InvalidAuthenticationCode
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
            | ErrorCode::EntityTemporarilyUnmodifiable
            | ErrorCode::LimitExceeded => 409,
            ErrorCode::ReportExpired | ErrorCode::ReportNotPresent => 410,
            ErrorCode::RequestEntityTooLarge => 413,
            ErrorCode::ServiceFailure | ErrorCode::InternalServer => 500,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::AccountNotFound
            | ErrorCode::ChildNotFound
            | ErrorCode::ConcurrentModification
            | ErrorCode::ConstraintViolation
            | ErrorCode::DestinationParentNotFound
            | ErrorCode::DuplicateOrganizationalUnit
            | ErrorCode::OrganizationalUnitNotEmpty
            | ErrorCode::OrganizationalUnitNotFound
            | ErrorCode::ParentNotFound
            | ErrorCode::SourceParentNotFound
            | ErrorCode::CreateAccountStatusNotFound
            | ErrorCode::DuplicateAccount
            | ErrorCode::IncompleteBody
            | ErrorCode::IncompleteSignature
            | ErrorCode::InvalidAction
            | ErrorCode::InvalidAuthorizationMessage
            | ErrorCode::InvalidInput
            | ErrorCode::InvalidInvitation
            | ErrorCode::InvalidUserType
            | ErrorCode::MalformedPolicyDocument
            | ErrorCode::PackedPolicyTooLarge
            | ErrorCode::PasswordPolicyViolation
            | ErrorCode::PolicyNotAttachable
            | ErrorCode::UnmodifiableEntity
            | ErrorCode::MissingAction
            | ErrorCode::RequestExpired
            | ErrorCode::RequestTimeout
            | ErrorCode::SerializationException
            | ErrorCode::ValidationError => 400,
            // AWS sends Throttling with 400, which botocore's retry rules expect.
            ErrorCode::Throttling | ErrorCode::TooManyRequests => 400,
            // awsJson services without an HTTP status in their model answer client errors
            // with 400.
            ErrorCode::Conflict
            | ErrorCode::ResourceNotFound
            | ErrorCode::ServiceQuotaExceeded
            | ErrorCode::Validation
            | ErrorCode::InvalidLookupAttributes
            | ErrorCode::InvalidTimeRange
            | ErrorCode::InvalidMaxResults
            | ErrorCode::InvalidNextToken => 400,
            // SSO OIDC: the OAuth errors, 400 but for a client that failed to authenticate.
            ErrorCode::InvalidClient | ErrorCode::Unauthorized => 401,
            ErrorCode::AuthorizationPending
            | ErrorCode::InvalidClientMetadata
            | ErrorCode::InvalidGrant
            | ErrorCode::InvalidRequest
            | ErrorCode::OidcAccessDenied
            | ErrorCode::OidcExpiredToken
            | ErrorCode::SlowDown
            | ErrorCode::UnauthorizedClient
            | ErrorCode::UnsupportedGrantType => 400,
        }
    }

    /// The code as the awsJson services spell it (`AccessDeniedException`, ...).
    pub fn json_code(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::ValidationError | ErrorCode::InvalidInput => "InvalidInputException",
            ErrorCode::ServiceFailure => "ServiceException",
            ErrorCode::ServiceUnavailable => "ServiceException",
            ErrorCode::Throttling => "ThrottlingException",
            other => other.as_str(),
        }
    }

    /// The OAuth 2.0 `error` SSO OIDC puts in its error bodies, for its own codes.
    pub fn oauth_error(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::OidcAccessDenied => "access_denied",
            ErrorCode::OidcExpiredToken => "expired_token",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            _ => return None,
        })
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
    /// Members the error's shape carries besides the message, in the awsJson body
    /// (Identity Store's `ResourceType`, `ResourceId`, `Reason`); the query protocol's error
    /// document has no place for them.
    pub fields: Vec<(&'static str, String)>,
}

impl IamError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        IamError {
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a member of the error's shape (see [`IamError::fields`]).
    pub fn with_field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((name, value.into()));
        self
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
