//! IAM and STS operations: decode the parameters, authorize, call the directory, encode the
//! response exactly as AWS shapes it.

use base64::Engine;
use chrono::{DateTime, Utc};
use latchkey_core::directory::{Page, ReportState, paginate_by_offset};
use latchkey_core::model::{AccessKey, KeyStatus, Tag, User, user_arn};
use latchkey_core::sessions::{AssumeRoleRequest, FederationRequest, IssuedSession, MfaCode};
use latchkey_core::state::State;
use latchkey_core::{Directory, ErrorCode, IamError, authz, ids};
use latchkey_policy::Context;
use latchkey_query::{QueryError, QueryRequest, XmlResponse};

use crate::auth::Caller;

mod account;
pub mod cloudtrail;
pub mod identitystore;
mod mfa;
pub mod organizations;
mod policies;
mod simulate;
pub mod ssoadmin;
use crate::operation::{Operation, ResourceKind};

/// Timestamps as IAM writes them.
fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn invalid(error: QueryError) -> IamError {
    let code = if error.code == "InvalidInput" {
        ErrorCode::InvalidInput
    } else {
        ErrorCode::ValidationError
    };
    IamError::new(code, error.message)
}

/// Reads `MaxItems` (1–1000) as every IAM listing does.
fn max_items(params: &QueryRequest) -> Result<Option<usize>, IamError> {
    Ok(params
        .int_in("MaxItems", 1, 1000)
        .map_err(invalid)?
        .map(|n| n as usize))
}

fn marker(params: &QueryRequest) -> Result<Option<&str>, IamError> {
    match params.get("Marker") {
        Some("") => Err(IamError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value '' at 'marker' failed to satisfy constraint: Member must have length greater than or equal to 1",
        )),
        other => Ok(other),
    }
}

/// `TagKeys.member.N`, for the Untag operations.
fn tag_keys(params: &QueryRequest) -> Result<Vec<String>, IamError> {
    Ok(params
        .string_list("TagKeys")
        .map_err(invalid)?
        .into_iter()
        .map(str::to_owned)
        .collect())
}

fn tags(params: &QueryRequest, name: &str) -> Result<Vec<Tag>, IamError> {
    params
        .struct_list(name, |member| {
            Ok(Tag {
                key: member.get("Key").unwrap_or_default().to_owned(),
                value: member.get("Value").unwrap_or_default().to_owned(),
            })
        })
        .map_err(invalid)
}

/// The user an operation acts on: `UserName`, or the calling user when it is omitted.
fn target_user_name<'a>(caller: &'a Caller, params: &'a QueryRequest) -> Result<&'a str, IamError> {
    if let Some(name) = params.get("UserName") {
        return Ok(name);
    }
    match caller.principal.user() {
        Some(user) => Ok(&user.name),
        None => Err(IamError::new(
            ErrorCode::ValidationError,
            "Must specify userName when calling with non-User credentials",
        )),
    }
}

/// Whether an access key operation is about the root user's own keys: the root user
/// calling it without `UserName`, as on AWS.
fn acts_for_root(caller: &Caller, params: &QueryRequest) -> bool {
    matches!(
        caller.principal,
        latchkey_core::model::Principal::Root { .. }
    ) && params.get("UserName").is_none()
}

/// The ARN of the resource the operation's action applies to, as the Service Authorization
/// Reference defines it.
fn resource_arn(
    state: &State,
    caller: &Caller,
    op: Operation,
    params: &QueryRequest,
) -> Result<String, IamError> {
    let account = caller.principal.account_id();
    Ok(match op.resource_kind() {
        ResourceKind::Any => "*".to_owned(),
        // awsJson operations are authorized by their own module, never here.
        ResourceKind::IdentityStore | ResourceKind::SsoAdmin => {
            return Err(IamError::new(
                ErrorCode::InvalidAction,
                format!("Operation {} is not a query-protocol operation.", op.name()),
            ));
        }
        ResourceKind::UserPath => format!(
            "arn:aws:iam::{account}:user{}",
            params.get("PathPrefix").unwrap_or("/")
        ),
        ResourceKind::User if acts_for_root(caller, params) => {
            format!("arn:aws:iam::{account}:root")
        }
        ResourceKind::User => {
            let name = target_user_name(caller, params)?;
            match state.user_by_name(account, name) {
                Some(user) => user.arn(),
                None => user_arn(account, params.get("Path").unwrap_or("/"), name),
            }
        }
        ResourceKind::GroupPath => format!(
            "arn:aws:iam::{account}:group{}",
            params.get("PathPrefix").unwrap_or("/")
        ),
        ResourceKind::Group => {
            let name = params.required("GroupName").map_err(invalid)?;
            match state.group_by_name(account, name) {
                Some(group) => group.arn(),
                None => format!(
                    "arn:aws:iam::{account}:group{}{name}",
                    params.get("Path").unwrap_or("/")
                ),
            }
        }
        ResourceKind::RolePath => format!(
            "arn:aws:iam::{account}:role{}",
            params.get("PathPrefix").unwrap_or("/")
        ),
        ResourceKind::Role => {
            let name = params.required("RoleName").map_err(invalid)?;
            match state.role_by_name(account, name) {
                Some(role) => role.arn(),
                None => format!(
                    "arn:aws:iam::{account}:role{}{name}",
                    params.get("Path").unwrap_or("/")
                ),
            }
        }
        ResourceKind::MfaDevice => params.required("SerialNumber").map_err(invalid)?.to_owned(),
        ResourceKind::NewMfaDevice => latchkey_core::mfa::serial_number(
            account,
            params.get("Path").unwrap_or("/"),
            params.required("VirtualMFADeviceName").map_err(invalid)?,
        ),
        ResourceKind::PolicySource => params
            .required("PolicySourceArn")
            .map_err(invalid)?
            .to_owned(),
        ResourceKind::Policy => match params.get("PolicyArn") {
            Some(arn) => arn.to_owned(),
            None => format!(
                "arn:aws:iam::{account}:policy{}{}",
                params.get("Path").unwrap_or("/"),
                params.required("PolicyName").map_err(invalid)?
            ),
        },
        ResourceKind::AccessKeyOwner => {
            let key_id = params.required("AccessKeyId").map_err(invalid)?;
            state
                .access_keys
                .get(key_id)
                .filter(|k| k.account_id == account)
                .and_then(|k| state.principal_for_key(k))
                .map(|p| p.arn())
                .unwrap_or_else(|| "*".to_owned())
        }
    })
}

fn write_login_profile(
    out: &mut XmlResponse,
    user_name: &str,
    created: DateTime<Utc>,
    reset: bool,
) {
    out.open("LoginProfile")
        .element("UserName", user_name)
        .element("CreateDate", &timestamp(created))
        .element(
            "PasswordResetRequired",
            if reset { "true" } else { "false" },
        )
        .close("LoginProfile");
}

/// The global keys every request carries: the principal's, and where and when it came from.
pub(crate) fn base_context(caller: &Caller) -> Context {
    // The global keys plus a few of the operation's own.
    let mut context = Context::with_capacity(24);
    authz::add_principal_keys(&caller.principal, &mut context, caller.at);
    context.set_request_time(caller.at);
    context.insert_bool("aws:SecureTransport", caller.secure_transport);
    if let Some(ip) = caller.source_ip {
        context.insert_ip("aws:SourceIp", ip);
    }
    if let Some(agent) = &caller.user_agent {
        context.insert("aws:UserAgent", agent.as_str());
    }
    context.insert("aws:RequestedRegion", caller.region.as_str());
    context
}

/// The request context a policy's conditions see: the global keys of a real request and the
/// operation's own keys.
fn request_context(
    state: &State,
    caller: &Caller,
    op: Operation,
    params: &QueryRequest,
) -> Result<Context, IamError> {
    let mut context = base_context(caller);
    let mut tag_keys: Vec<String> = Vec::new();
    if params.get("Tags.member.1.Key").is_some() {
        for tag in tags(params, "Tags")? {
            context.insert(&format!("aws:RequestTag/{}", tag.key), tag.value);
            tag_keys.push(tag.key);
        }
    }
    if params.get("TagKeys.member.1").is_some() {
        tag_keys.extend(self::tag_keys(params)?);
    }
    if !tag_keys.is_empty() {
        context.insert_multi("aws:TagKeys", tag_keys);
    }
    if let Some(boundary) = params.get("PermissionsBoundary") {
        context.insert("iam:PermissionsBoundary", boundary);
    }
    if matches!(
        op,
        Operation::AttachUserPolicy
            | Operation::DetachUserPolicy
            | Operation::AttachGroupPolicy
            | Operation::DetachGroupPolicy
    ) && let Some(arn) = params.get("PolicyArn")
    {
        context.insert("iam:PolicyARN", arn);
    }
    if op.resource_kind() == ResourceKind::User
        && let Ok(name) = target_user_name(caller, params)
        && let Some(user) = state.user_by_name(caller.principal.account_id(), name)
    {
        for tag in &user.tags {
            context.insert(&format!("aws:ResourceTag/{}", tag.key), tag.value.as_str());
            context.insert(&format!("iam:ResourceTag/{}", tag.key), tag.value.as_str());
        }
    }
    Ok(context)
}

/// Decides whether the caller may run a query-protocol operation with these parameters: the
/// one check behind both the API and the console.
pub fn authorize(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    params: &QueryRequest,
) -> Result<(), IamError> {
    if op.always_allowed() {
        return Ok(());
    }
    if op == Operation::ChangePassword && caller.principal.user().is_none() {
        return Err(IamError::new(
            ErrorCode::InvalidUserType,
            "Only IAM users can change their own password.",
        ));
    }
    // One snapshot for the whole decision: resource, context and policies agree.
    let state = directory.snapshot();
    let resource = resource_arn(&state, caller, op, params)?;
    let context = request_context(&state, caller, op, params)?;
    // A create that carries tags is also the tagging of what it creates.
    let tagging = op
        .tags_on_create()
        .filter(|_| params.get("Tags.member.1.Key").is_some());
    crate::metrics::timed_authorization(|| {
        [Some(op), tagging]
            .into_iter()
            .flatten()
            .try_for_each(|op| {
                directory.authorize(
                    &state,
                    &caller.principal,
                    op.action(),
                    &resource,
                    &context,
                    caller.at,
                )
            })
    })
    .or_else(|denied| {
        if allowed_by_password_policy(&state, caller, op) {
            Ok(())
        } else {
            Err(denied)
        }
    })
}

/// The password policy's `AllowUsersToChangePassword` lets every IAM user of the account
/// call ChangePassword for themselves and read the policy, without a policy that allows
/// it (as AWS grants it at the account level).
fn allowed_by_password_policy(state: &State, caller: &Caller, op: Operation) -> bool {
    matches!(
        op,
        Operation::ChangePassword | Operation::GetAccountPasswordPolicy
    ) && matches!(caller.principal, latchkey_core::model::Principal::User(_))
        && state
            .password_policies
            .get(caller.principal.account_id())
            .is_some_and(|p| p.allow_users_to_change_password)
}

/// Runs one operation for an authenticated caller and returns the response document.
pub fn execute(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    params: &QueryRequest,
    request_id: &str,
) -> Result<String, IamError> {
    authorize(directory, caller, op, params)?;
    let account = caller.principal.account_id();
    let xmlns = op.service().xmlns();
    let name = op.name();
    let mut out = XmlResponse::new(name, xmlns);
    match op {
        Operation::CreateUser => {
            let user = directory.create_user(
                account,
                params.required("UserName").map_err(invalid)?,
                params.get("Path"),
                tags(params, "Tags")?,
                params.get("PermissionsBoundary"),
            )?;
            write_user(&mut out, "User", &user, true);
        }
        Operation::GetUser => {
            let user = directory.user(account, target_user_name(caller, params)?)?;
            write_user(&mut out, "User", &user, true);
        }
        Operation::ListUsers => {
            let page = directory.list_users(
                account,
                params.get("PathPrefix"),
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("Users", &page.items, |out, user| {
                write_user_fields(out, user, false)
            });
            write_page_end(&mut out, &page);
        }
        Operation::UpdateUser => {
            directory.update_user(
                account,
                params.required("UserName").map_err(invalid)?,
                params.get("NewUserName"),
                params.get("NewPath"),
            )?;
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::DeleteUser => {
            directory.delete_user(account, params.required("UserName").map_err(invalid)?)?;
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::TagUser => {
            params.required("Tags.member.1.Key").map_err(|_| {
                IamError::new(
                    ErrorCode::ValidationError,
                    "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
                )
            })?;
            directory.tag_user(
                account,
                params.required("UserName").map_err(invalid)?,
                tags(params, "Tags")?,
            )?;
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::UntagUser => {
            directory.untag_user(
                account,
                params.required("UserName").map_err(invalid)?,
                tag_keys(params)?,
            )?;
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::ListUserTags => {
            let user = directory.user(account, params.required("UserName").map_err(invalid)?)?;
            let page = paginate_by_offset(&user.tags, marker(params)?, max_items(params)?)?;
            write_tags(&mut out, &page.items);
            write_page_end(&mut out, &page);
        }
        Operation::CreateLoginProfile => {
            let user_name = target_user_name(caller, params)?;
            let password = params.required("Password").map_err(invalid)?;
            let reset = params
                .bool("PasswordResetRequired")
                .map_err(invalid)?
                .unwrap_or(false);
            directory.create_login_profile(account, user_name, password, reset, caller.at)?;
            write_login_profile(&mut out, user_name, caller.at, reset);
        }
        Operation::GetLoginProfile => {
            let user_name = target_user_name(caller, params)?;
            let profile = directory.login_profile(account, user_name)?;
            write_login_profile(
                &mut out,
                user_name,
                profile.created,
                profile.password_reset_required,
            );
        }
        Operation::CreateAccessKey => {
            let created = if acts_for_root(caller, params) {
                directory.create_root_access_key(account)?
            } else {
                directory.create_access_key(account, target_user_name(caller, params)?)?
            };
            let key = &created.key;
            out.open("AccessKey");
            // A root user's key has no user.
            if !created.user_name.is_empty() {
                out.element("UserName", &created.user_name);
            }
            out.element("AccessKeyId", &key.id)
                .element("Status", key.status.as_str())
                .element("SecretAccessKey", &key.secret)
                .element("CreateDate", &timestamp(key.created))
                .close("AccessKey");
        }
        Operation::ListAccessKeys => {
            let (owner, keys) = if acts_for_root(caller, params) {
                (None, directory.root_access_keys(account))
            } else {
                let (user, keys) =
                    directory.list_access_keys(account, target_user_name(caller, params)?)?;
                (Some(user.name.clone()), keys)
            };
            let page = paginate_by_offset(&keys, marker(params)?, max_items(params)?)?;
            out.list("AccessKeyMetadata", &page.items, |out, key| {
                if let Some(owner) = &owner {
                    out.element("UserName", owner);
                }
                out.element("AccessKeyId", &key.id)
                    .element("Status", key.status.as_str())
                    .element("CreateDate", &timestamp(key.created));
            });
            write_page_end(&mut out, &page);
        }
        Operation::UpdateAccessKey => {
            let status_text = params.required("Status").map_err(invalid)?;
            let status = KeyStatus::parse(status_text).ok_or_else(|| {
                IamError::new(
                    ErrorCode::ValidationError,
                    format!("1 validation error detected: Value '{status_text}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"),
                )
            })?;
            let key_id = params.required("AccessKeyId").map_err(invalid)?;
            if acts_for_root(caller, params) {
                directory.update_root_access_key(account, key_id, status)?;
            } else {
                directory.update_access_key(
                    account,
                    target_user_name(caller, params)?,
                    key_id,
                    status,
                )?;
            }
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::DeleteAccessKey => {
            let key_id = params.required("AccessKeyId").map_err(invalid)?;
            if acts_for_root(caller, params) {
                directory.delete_root_access_key(account, key_id)?;
            } else {
                directory.delete_access_key(account, target_user_name(caller, params)?, key_id)?;
            }
            return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
        }
        Operation::GetAccessKeyLastUsed => {
            let key =
                directory.access_key(account, params.required("AccessKeyId").map_err(invalid)?)?;
            write_last_used(&mut out, directory, &key);
        }
        Operation::GetAccountSummary => {
            out.map(
                "SummaryMap",
                directory
                    .account_summary(account)
                    .into_iter()
                    .map(|(key, value)| (key, value.to_string())),
            );
        }
        Operation::GenerateCredentialReport => {
            let (state, description) = match directory.generate_credential_report(account)? {
                ReportState::Started => (
                    "STARTED",
                    "No report exists. Starting a new report generation task",
                ),
                ReportState::Complete => ("COMPLETE", "Report is ready"),
            };
            out.element("State", state)
                .element("Description", description);
        }
        Operation::GetCredentialReport => {
            let report = directory.credential_report(account)?;
            out.element(
                "Content",
                &base64::engine::general_purpose::STANDARD.encode(&report.csv),
            )
            .element("ReportFormat", "text/csv")
            .element("GeneratedTime", &timestamp(report.generated));
        }
        Operation::GetCallerIdentity => {
            out.element("Arn", &caller.principal.arn())
                .element("UserId", &caller.principal.user_id())
                .element("Account", account);
        }
        Operation::AssumeRole => {
            let state = directory.snapshot();
            let mut context = request_context(&state, caller, op, params)?;
            let request = AssumeRoleRequest {
                role_arn: params.required("RoleArn").map_err(invalid)?,
                session_name: params.required("RoleSessionName").map_err(invalid)?,
                duration_seconds: params
                    .int_in("DurationSeconds", 900, 43200)
                    .map_err(invalid)?
                    .map(|d| d as u32),
                policy: params.get("Policy"),
                policy_arns: params
                    .struct_list("PolicyArns", |m| {
                        Ok(m.get("arn").unwrap_or_default().to_owned())
                    })
                    .map_err(invalid)?,
                tags: tags(params, "Tags")?,
                transitive_tag_keys: params
                    .string_list("TransitiveTagKeys")
                    .map_err(invalid)?
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                external_id: params.get("ExternalId"),
                source_identity: params.get("SourceIdentity"),
                mfa: mfa_code(params)?,
            };
            let issued =
                directory.assume_role(&caller.principal, request, &mut context, caller.at)?;
            write_credentials(&mut out, &issued);
            out.open("AssumedRoleUser")
                .element("AssumedRoleId", &issued.principal.user_id())
                .element("Arn", &issued.principal.arn())
                .close("AssumedRoleUser");
            if let Some(size) = issued.packed_policy_size {
                out.element("PackedPolicySize", &size.to_string());
            }
            out.optional("SourceIdentity", issued.session.source_identity.as_deref());
        }
        Operation::GetFederationToken => {
            let context = request_context(&directory.snapshot(), caller, op, params)?;
            let request = FederationRequest {
                name: params.required("Name").map_err(invalid)?,
                duration_seconds: params
                    .int_in("DurationSeconds", 900, 129_600)
                    .map_err(invalid)?
                    .map(|d| d as u32),
                policy: params.get("Policy"),
                policy_arns: params
                    .struct_list("PolicyArns", |m| {
                        Ok(m.get("arn").unwrap_or_default().to_owned())
                    })
                    .map_err(invalid)?,
                tags: tags(params, "Tags")?,
            };
            let issued =
                directory.get_federation_token(&caller.principal, request, &context, caller.at)?;
            write_credentials(&mut out, &issued);
            out.open("FederatedUser")
                .element("FederatedUserId", &issued.principal.user_id())
                .element("Arn", &issued.principal.arn())
                .close("FederatedUser");
            if let Some(size) = issued.packed_policy_size {
                out.element("PackedPolicySize", &size.to_string());
            }
        }
        Operation::GetSessionToken => {
            let duration = params
                .int_in("DurationSeconds", 900, 129_600)
                .map_err(invalid)?
                .map(|d| d as u32);
            let issued = directory.get_session_token(
                &caller.principal,
                duration,
                mfa_code(params)?,
                caller.at,
            )?;
            write_credentials(&mut out, &issued);
        }
        Operation::DecodeAuthorizationMessage => {
            let decoded = directory.decode_authorization_message(
                account,
                params.required("EncodedMessage").map_err(invalid)?,
            )?;
            out.element("DecodedMessage", &decoded);
        }
        Operation::GetAccessKeyInfo => {
            let key_id = params.required("AccessKeyId").map_err(invalid)?;
            // Like AWS, the account is decoded from the id itself; the key need not exist.
            let key_account = ids::account_of_access_key_id(key_id).ok_or_else(|| {
                IamError::new(
                    ErrorCode::ValidationError,
                    format!("1 validation error detected: Value '{key_id}' at 'accessKeyId' failed to satisfy constraint: Member must be a valid access key id"),
                )
            })?;
            out.element("Account", &key_account);
        }
        Operation::SimulatePrincipalPolicy
        | Operation::SimulateCustomPolicy
        | Operation::GetContextKeysForPrincipalPolicy
        | Operation::GetContextKeysForCustomPolicy => {
            simulate::run(op, directory, caller, params, &mut out)?;
        }
        Operation::CreateVirtualMFADevice
        | Operation::EnableMFADevice
        | Operation::ResyncMFADevice
        | Operation::DeactivateMFADevice
        | Operation::DeleteVirtualMFADevice
        | Operation::ListMFADevices
        | Operation::ListVirtualMFADevices
        | Operation::GetMFADevice => {
            if !mfa::run(op, directory, caller, params, &mut out)? {
                return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
            }
        }
        Operation::UpdateLoginProfile
        | Operation::DeleteLoginProfile
        | Operation::ChangePassword
        | Operation::CreateAccountAlias
        | Operation::DeleteAccountAlias
        | Operation::ListAccountAliases
        | Operation::GetAccountPasswordPolicy
        | Operation::UpdateAccountPasswordPolicy
        | Operation::DeleteAccountPasswordPolicy => {
            if !account::run(op, directory, caller, params, &mut out)? {
                return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
            }
        }
        // Groups, managed and inline policies, attachments and boundaries.
        op => {
            if !policies::run(op, directory, account, params, &mut out)? {
                return Ok(XmlResponse::without_result(name, xmlns).finish(request_id));
            }
        }
    }
    Ok(out.finish(request_id))
}

/// STS's SerialNumber and TokenCode, which come together or not at all.
fn mfa_code(params: &QueryRequest) -> Result<Option<MfaCode<'_>>, IamError> {
    match (params.get("SerialNumber"), params.get("TokenCode")) {
        (None, None) => Ok(None),
        (Some(serial), Some(code)) => Ok(Some(MfaCode { serial, code })),
        _ => Err(IamError::new(
            ErrorCode::ValidationError,
            "SerialNumber and TokenCode must be given together.",
        )),
    }
}

fn write_credentials(out: &mut XmlResponse, issued: &IssuedSession) {
    out.open("Credentials")
        .element("AccessKeyId", &issued.session.access_key_id)
        .element("SecretAccessKey", &issued.session.secret_access_key)
        .element("SessionToken", &issued.session_token)
        .element("Expiration", &timestamp(issued.session.expires))
        .close("Credentials");
}

fn write_user_fields(out: &mut XmlResponse, user: &User, with_tags: bool) {
    out.element("Path", &user.path)
        .element("UserName", &user.name)
        .element("UserId", &user.id)
        .element("Arn", &user.arn())
        .element("CreateDate", &timestamp(user.created));
    if let Some(boundary) = &user.permissions_boundary {
        out.open("PermissionsBoundary")
            .element("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .element("PermissionsBoundaryArn", boundary)
            .close("PermissionsBoundary");
    }
    if with_tags && !user.tags.is_empty() {
        write_tags(out, &user.tags);
    }
}

fn write_user(out: &mut XmlResponse, element: &str, user: &User, with_tags: bool) {
    out.open(element);
    write_user_fields(out, user, with_tags);
    out.close(element);
}

fn write_tags(out: &mut XmlResponse, tags: &[Tag]) {
    out.list("Tags", tags, |out, tag| {
        out.element("Key", &tag.key).element("Value", &tag.value);
    });
}

fn write_page_end<T>(out: &mut XmlResponse, page: &Page<T>) {
    out.element(
        "IsTruncated",
        if page.marker.is_some() {
            "true"
        } else {
            "false"
        },
    );
    out.optional("Marker", page.marker.as_deref());
}

fn write_last_used(out: &mut XmlResponse, directory: &Directory, key: &AccessKey) {
    let state = directory.snapshot();
    let user_name = state
        .principal_for_key(key)
        .and_then(|p| p.user().map(|user| user.name.clone()));
    out.optional("UserName", user_name.as_deref());
    out.open("AccessKeyLastUsed");
    match key.runtime.last_used() {
        Some(used) => {
            out.element("LastUsedDate", &timestamp(used.at))
                .element("ServiceName", &used.service)
                .element("Region", &used.region);
        }
        None => {
            // AWS's shape for a key never used.
            out.element("ServiceName", "N/A").element("Region", "N/A");
        }
    }
    out.close("AccessKeyLastUsed");
}
