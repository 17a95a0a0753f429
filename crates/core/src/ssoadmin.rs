//! IAM Identity Center administration (the AWS SSO Admin API): the organization's instance,
//! its permission sets, the account assignments that give them to identity store users and
//! groups, and the roles that provisioning makes in the assigned accounts.
//!
//! Provisioning does what AWS does: the first assignment of a permission set in an account
//! makes a role there (`/aws-reserved/sso.amazonaws.com/AWSReservedSSO_<name>_<hex>`)
//! holding the permission set's policies and trusting only the instance's SAML provider;
//! ProvisionPermissionSet brings it up to date after the permission set changed; removing
//! the last assignment removes it. Each of these is one batch of changes, so the assignment
//! and its role are committed together or not at all. The work completes before the call
//! returns; its status is kept for the Describe...Status and List...Status calls.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use imbl::{HashMap, OrdMap, OrdSet};
use latchkey_policy::{Policy, PolicyKind};
use serde::{Deserialize, Serialize};

use crate::directory::{
    Directory, Page, check_tag_quota, decode_marker, now, paginate, store_failure,
};
use crate::error::{ErrorCode, IamError};
use crate::identitystore::{parse_resource_id, validation};
use crate::ids;
use crate::model::{IdentityCenter, Role, Tag};
use crate::sessions::IssuedSession;
use crate::state::{ApplyError, State};
use crate::store::{
    ATTACHED_POLICIES_PER_ENTITY, AccountAssignmentRow, Change, Entity, InlinePolicyRow,
    PermissionSetRow, ProvisioningRow, RoleRow, SsoRequestRow, StoreError,
};
use crate::validate;

/// The path of every role Identity Center provisions. IAM refuses changes to these roles
/// from anyone but Identity Center ([`check_role_modifiable`]).
pub const RESERVED_ROLE_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
/// The name of the role inline policy that carries a permission set's inline policy.
pub const INLINE_POLICY_NAME: &str = "AwsSSOInlinePolicy";
/// A permission set's session duration when none is given: one hour, as on AWS.
pub const DEFAULT_SESSION_DURATION: u32 = 3600;
/// AWS managed and customer managed policies of one permission set together: the role it
/// provisions holds them all, within IAM's quota of policies per role.
pub const MANAGED_POLICIES_PER_PERMISSION_SET: usize = ATTACHED_POLICIES_PER_ENTITY;

/// Who an account assignment gives a permission set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PrincipalType {
    User,
    Group,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "USER",
            PrincipalType::Group => "GROUP",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "USER" => Some(PrincipalType::User),
            "GROUP" => Some(PrincipalType::Group),
            _ => None,
        }
    }
}

/// Which asynchronous operation a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RequestKind {
    AssignmentCreation,
    AssignmentDeletion,
    Provisioning,
}

impl RequestKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::AssignmentCreation => "assignment-creation",
            RequestKind::AssignmentDeletion => "assignment-deletion",
            RequestKind::Provisioning => "provisioning",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "assignment-creation" => Some(RequestKind::AssignmentCreation),
            "assignment-deletion" => Some(RequestKind::AssignmentDeletion),
            "provisioning" => Some(RequestKind::Provisioning),
            _ => None,
        }
    }
}

/// How a request ended. Requests complete before their call returns, so none is reported
/// `IN_PROGRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestStatus {
    Succeeded,
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Succeeded => "SUCCEEDED",
            RequestStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "SUCCEEDED" => Some(RequestStatus::Succeeded),
            "FAILED" => Some(RequestStatus::Failed),
            _ => None,
        }
    }
}

/// A customer managed policy named by its name and path, resolved in each account the
/// permission set is provisioned in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CustomerManagedPolicyReference {
    pub name: String,
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".to_owned()
}

impl CustomerManagedPolicyReference {
    /// The policy's ARN in `account_id`.
    pub fn arn_in(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:policy{}{}", self.path, self.name)
    }

    /// The model's `ManagedPolicyName` and `ManagedPolicyPath`.
    pub fn validate(&self, member: &str) -> Result<(), IamError> {
        let name_ok = (1..=128).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if !name_ok {
            return Err(pattern_error(
                &format!("{member}.name"),
                &self.name,
                "[\\w+=,.@-]+",
            ));
        }
        let segments_ok = self.path.starts_with('/')
            && self.path.ends_with('/')
            && self.path[1..].split_terminator('/').all(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
            });
        if !(1..=512).contains(&self.path.len()) || !segments_ok {
            return Err(pattern_error(
                &format!("{member}.path"),
                &self.path,
                "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/",
            ));
        }
        Ok(())
    }
}

/// A permission set's permissions boundary: an AWS managed policy, or a customer managed
/// policy by name and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionsBoundary {
    ManagedPolicyArn(String),
    CustomerManagedPolicyReference(CustomerManagedPolicyReference),
}

/// What a permission set grants, kept as one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PermissionSetPolicies {
    /// AWS managed policies, in attachment order.
    pub managed_policy_arns: Vec<String>,
    /// In attachment order.
    pub customer_managed: Vec<CustomerManagedPolicyReference>,
    pub inline_policy: Option<String>,
    pub boundary: Option<PermissionsBoundary>,
}

/// A permission set as the snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSet {
    pub row: PermissionSetRow,
    /// Sorted by key.
    pub tags: Vec<Tag>,
}

impl PermissionSet {
    pub fn arn(&self) -> String {
        permission_set_arn(&self.row.instance_id, &self.row.id)
    }
}

/// `arn:aws:sso:::instance/ssoins-...`
pub fn instance_arn(instance_id: &str) -> String {
    format!("arn:aws:sso:::instance/{instance_id}")
}

/// `arn:aws:sso:::permissionSet/ssoins-.../ps-...`
pub fn permission_set_arn(instance_id: &str, permission_set_id: &str) -> String {
    format!("arn:aws:sso:::permissionSet/{instance_id}/{permission_set_id}")
}

/// `arn:aws:sso:::account/<id>`, the resource of the actions that name an account.
pub fn account_arn(account_id: &str) -> String {
    format!("arn:aws:sso:::account/{account_id}")
}

/// The ValidationException AWS sends for a value that does not match the model's pattern.
pub fn pattern_error(member: &str, value: &str, pattern: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    ))
}

fn not_found(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::ResourceNotFound, message)
}

fn conflict(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::Conflict, message)
}

fn quota_exceeded(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::ServiceQuotaExceeded, message)
}

/// The store refused a write the snapshot allowed: another writer got there first.
fn refused(error: StoreError) -> IamError {
    match error {
        StoreError::AlreadyExists => conflict(
            "The request conflicts with a change another request made at the same time; retry it.",
        ),
        StoreError::NotFound => conflict(
            "The permission set was changed by another request at the same time; retry with its current state.",
        ),
        StoreError::DeleteConflict => conflict(
            "The permission set is assigned or provisioned; delete its account assignments first.",
        ),
        StoreError::LimitExceeded { quota, limit } => {
            quota_exceeded(format!("Cannot exceed quota for {quota}: {limit}"))
        }
        other => store_failure(other),
    }
}

/// The `(sso)?ins-` id of a name ending the model's instance pattern, checking its 16
/// characters `[a-zA-Z0-9-.]`.
fn instance_id_of(text: &str) -> Option<&str> {
    let digits = text
        .strip_prefix("ssoins-")
        .or_else(|| text.strip_prefix("ins-"))?;
    (digits.len() == 16
        && digits
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    .then_some(text)
}

/// `arn:aws(-[a-z]{1,5}){0,3}:sso:::` and the rest.
fn sso_arn_rest(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws")?;
    let (partition, rest) = rest.split_once(":sso:::")?;
    let partition_ok = partition.is_empty()
        || partition.strip_prefix('-').is_some_and(|p| {
            p.split('-').count() <= 3
                && p.split('-').all(|s| {
                    (1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
                })
        });
    partition_ok.then_some(rest)
}

const INSTANCE_ARN_PATTERN: &str =
    "arn:aws(-[a-z]{1,5}){0,3}:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}";
const PERMISSION_SET_ARN_PATTERN: &str = "arn:aws(-[a-z]{1,5}){0,3}:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9-.]{16}/ps-[a-zA-Z0-9-./]{16}";

/// The model's `InstanceArn`: the instance id it names.
pub fn parse_instance_arn<'a>(member: &str, arn: &'a str) -> Result<&'a str, IamError> {
    sso_arn_rest(arn)
        .and_then(|rest| rest.strip_prefix("instance/"))
        .and_then(instance_id_of)
        .filter(|_| (10..=1224).contains(&arn.len()))
        .ok_or_else(|| pattern_error(member, arn, INSTANCE_ARN_PATTERN))
}

/// The model's `PermissionSetArn`: the instance id and permission set id it names.
pub fn parse_permission_set_arn<'a>(
    member: &str,
    arn: &'a str,
) -> Result<(&'a str, &'a str), IamError> {
    let invalid = || pattern_error(member, arn, PERMISSION_SET_ARN_PATTERN);
    if !(10..=1224).contains(&arn.len()) {
        return Err(invalid());
    }
    let rest = sso_arn_rest(arn)
        .and_then(|rest| rest.strip_prefix("permissionSet/"))
        .ok_or_else(invalid)?;
    let (instance, permission_set) = rest.split_once('/').ok_or_else(invalid)?;
    let instance = instance_id_of(instance).ok_or_else(invalid)?;
    let valid_id = permission_set.strip_prefix("ps-").is_some_and(|id| {
        id.len() == 16
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-./".contains(&b))
    });
    if !valid_id {
        return Err(invalid());
    }
    Ok((instance, permission_set))
}

/// The model's `TargetId` and `AccountId`: 12 digits.
pub fn check_account_id(member: &str, id: &str) -> Result<(), IamError> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(pattern_error(member, id, "\\d{12}"))
    }
}

/// The model's `PrincipalId`: `([0-9a-f]{10}-|)` and a UUID (not an ARN).
pub fn check_principal_id(id: &str) -> Result<(), IamError> {
    let pattern = "([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}";
    if id.starts_with("arn:") || id.len() > 47 || parse_resource_id("principalId", id).is_err() {
        return Err(pattern_error("principalId", id, pattern));
    }
    Ok(())
}

/// An ISO-8601 duration as the model's `Duration` pattern writes it
/// (`P[nY][nM][nD|nW][T[nH][nM][n[.n]S]]`), in seconds; a year or month counts as the
/// days it has at least, which is far above any session anyway.
pub fn parse_duration(text: &str) -> Option<u64> {
    let body = text.strip_prefix('P')?;
    let (date, time) = match body.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (body, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    // Designators in the order the pattern allows them, with their lengths in seconds.
    let mut total: u64 = 0;
    let mut take = |mut part: &str, units: &[(char, u64)], fraction: Option<char>| -> Option<()> {
        let mut allowed = units.iter();
        while !part.is_empty() {
            let end = part.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let (number, rest) = part.split_at(end);
            let unit = rest.chars().next()?;
            let (_, seconds) = allowed.find(|(u, _)| *u == unit)?;
            let value: f64 = if number.contains('.') {
                if Some(unit) != fraction || number.starts_with('.') || number.ends_with('.') {
                    return None;
                }
                number.parse().ok()?
            } else {
                if number.is_empty() {
                    return None;
                }
                number.parse::<u64>().ok()? as f64
            };
            total = total.checked_add((value * *seconds as f64).ceil() as u64)?;
            part = &rest[unit.len_utf8()..];
        }
        Some(())
    };
    take(
        date,
        &[
            ('Y', 365 * 86400),
            ('M', 28 * 86400),
            ('D', 86400),
            ('W', 7 * 86400),
        ],
        None,
    )?;
    if let Some(time) = time {
        take(time, &[('H', 3600), ('M', 60), ('S', 1)], Some('S'))?;
    }
    Some(total)
}

/// Seconds as the shortest ISO-8601 duration (`PT1H`, `PT1H30M`).
pub fn format_duration(seconds: u32) -> String {
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut text = "PT".to_owned();
    if hours > 0 {
        text.push_str(&format!("{hours}H"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}M"));
    }
    if rest > 0 || seconds == 0 {
        text.push_str(&format!("{rest}S"));
    }
    text
}

/// A permission set's `SessionDuration`: one to twelve hours.
fn session_duration(text: &str) -> Result<u32, IamError> {
    let seconds = if (1..=100).contains(&text.len()) {
        parse_duration(text)
    } else {
        None
    }
    .ok_or_else(|| {
        pattern_error(
            "sessionDuration",
            text,
            "(-?)P(?=\\d|T\\d)(?:(\\d+)Y)?(?:(\\d+)M)?(?:(\\d+)([DW]))?(?:T(?:(\\d+)H)?(?:(\\d+)M)?(?:(\\d+(?:\\.\\d+)?)S)?)?",
        )
    })?;
    u32::try_from(seconds)
        .ok()
        .filter(|s| crate::roles::MAX_SESSION_DURATION.contains(s))
        .ok_or_else(|| {
            validation(format!(
                "The session duration {text} is not valid: it must be between 1 hour (PT1H) and 12 hours (PT12H)."
            ))
        })
}

/// The model's `PermissionSetName`: 1 to 32 of `[\w+=,.@-]`.
fn check_name(name: &str) -> Result<(), IamError> {
    if (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        Ok(())
    } else {
        Err(pattern_error(
            "name",
            name,
            "[\\w+=,.@-]+ of 1 to 32 characters",
        ))
    }
}

/// The model's `PermissionSetDescription`: 1 to 700 of tab, newlines and Latin-1 printables.
fn check_description(description: &str) -> Result<(), IamError> {
    let ok = (1..=700).contains(&description.chars().count())
        && description
            .chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a1}'..='\u{ff}'));
    if ok {
        Ok(())
    } else {
        Err(pattern_error(
            "description",
            description,
            "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*",
        ))
    }
}

/// The model's `RelayState`: 1 to 240 characters of a URL.
fn check_relay_state(relay_state: &str) -> Result<(), IamError> {
    let ok = (1..=240).contains(&relay_state.len())
        && relay_state
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "&$@#\\/%?=~-_'\"|!:,.;*+[] (){}".contains(c));
    if ok {
        Ok(())
    } else {
        Err(pattern_error(
            "relayState",
            relay_state,
            "[a-zA-Z0-9&$@#\\\\\\/%?=~\\-_'\"|!:,.;*+\\[\\]\\ \\(\\)\\{\\}]+",
        ))
    }
}

/// The model's `ManagedPolicyArn`: an AWS managed policy.
fn check_managed_policy_arn(arn: &str) -> Result<(), IamError> {
    let ok = (20..=2048).contains(&arn.len())
        && arn
            .strip_prefix("arn:aws:iam::aws:policy/")
            .is_some_and(|rest| {
                !rest.is_empty()
                    && !rest.ends_with('/')
                    && rest.split('/').all(|s| {
                        !s.is_empty()
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
                    })
            });
    if ok {
        Ok(())
    } else {
        Err(pattern_error(
            "managedPolicyArn",
            arn,
            "arn:aws(-[a-z]{1,5}){0,3}:iam::aws:policy((/[A-Za-z0-9\\.,\\+@=_-]+)*)/([A-Za-z0-9\\.,\\+=@_-]+)",
        ))
    }
}

/// An inline policy of a permission set: within the model's length, and an identity
/// policy IAM accepts.
fn check_inline_policy(document: &str) -> Result<(), IamError> {
    if document.is_empty() || document.len() > 32768 {
        return Err(validation(
            "1 validation error detected: Value at 'inlinePolicy' failed to satisfy constraint: Member must have length between 1 and 32768",
        ));
    }
    Policy::parse(document, PolicyKind::Identity)
        .map(|_| ())
        .map_err(|e| validation(format!("The inline policy is not valid: {}", e.message)))
}

/// The name of the role a permission set provisions: `AWSReservedSSO_<name>_<16 hex>`.
fn reserved_role_name(permission_set_name: &str) -> String {
    format!(
        "AWSReservedSSO_{permission_set_name}_{}",
        ids::new_reserved_role_suffix()
    )
}

/// The SAML provider Identity Center keeps in every account it provisions, named after the
/// instance (`AWSSSO_<16 hex>_DO_NOT_DELETE`).
pub fn saml_provider_arn(center: &IdentityCenter, account_id: &str) -> String {
    let suffix = center
        .instance_id
        .rsplit('-')
        .next()
        .unwrap_or(&center.instance_id);
    format!("arn:aws:iam::{account_id}:saml-provider/AWSSSO_{suffix}_DO_NOT_DELETE")
}

/// The trust policy of a provisioned role, as AWS writes it: only the instance's SAML
/// provider may assume it (the access portal), never an IAM principal.
fn reserved_trust_policy(center: &IdentityCenter, account_id: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": saml_provider_arn(center, account_id) },
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": { "StringEquals": { "SAML:aud": "https://signin.aws.amazon.com/saml" } },
        }],
    })
    .to_string()
}

/// IAM refuses to change a role Identity Center provisioned, as AWS does, whoever asks:
/// only provisioning changes it.
pub fn check_role_modifiable(role: &Role) -> Result<(), IamError> {
    if role.path == RESERVED_ROLE_PATH {
        return Err(IamError::new(
            ErrorCode::UnmodifiableEntity,
            format!(
                "Cannot perform the operation on the protected role '{}' - this role is only modifiable by AWS",
                role.name
            ),
        ));
    }
    Ok(())
}

/// (permission set id, account id, principal type, principal id)
pub type AssignmentKey = (String, String, PrincipalType, String);

/// The permission sets, assignments, provisionings and requests in the snapshot.
#[derive(Debug, Clone, Default)]
pub struct SsoAdminState {
    pub permission_sets: HashMap<String, Arc<PermissionSet>>,
    /// Lowercased name → permission set id, in name order. There is one instance.
    pub permission_sets_by_name: OrdMap<String, String>,
    pub assignments: OrdMap<AssignmentKey, Arc<AccountAssignmentRow>>,
    /// (principal type, principal id, account id, permission set id), for a principal's
    /// assignments.
    pub assignments_by_principal: OrdSet<(PrincipalType, String, String, String)>,
    /// (permission set id, account id) → where it is provisioned.
    pub provisionings: OrdMap<(String, String), Arc<ProvisioningRow>>,
    pub requests: HashMap<String, Arc<SsoRequestRow>>,
}

impl SsoAdminState {
    pub(crate) fn put_permission_set(
        &mut self,
        row: &PermissionSetRow,
        update: bool,
    ) -> Result<(), ApplyError> {
        let tags = match self.permission_sets.get(&row.id) {
            Some(old) => {
                self.permission_sets_by_name
                    .remove(&old.row.name.to_lowercase());
                old.tags.clone()
            }
            None if update => return Err(ApplyError::Missing("permission set")),
            None => Vec::new(),
        };
        self.permission_sets_by_name
            .insert(row.name.to_lowercase(), row.id.clone());
        self.permission_sets.insert(
            row.id.clone(),
            Arc::new(PermissionSet {
                row: row.clone(),
                tags,
            }),
        );
        Ok(())
    }

    pub(crate) fn delete_permission_set(&mut self, id: &str) -> Result<(), ApplyError> {
        let old = self
            .permission_sets
            .remove(id)
            .ok_or(ApplyError::Missing("permission set"))?;
        self.permission_sets_by_name
            .remove(&old.row.name.to_lowercase());
        Ok(())
    }

    pub(crate) fn edit_tags(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut Vec<Tag>),
    ) -> Result<(), ApplyError> {
        let current = self
            .permission_sets
            .get(id)
            .ok_or(ApplyError::Missing("permission set"))?;
        let mut next = PermissionSet::clone(current);
        edit(&mut next.tags);
        self.permission_sets.insert(id.to_owned(), Arc::new(next));
        Ok(())
    }

    pub(crate) fn create_assignment(&mut self, row: &AccountAssignmentRow) {
        self.assignments_by_principal.insert((
            row.principal_type,
            row.principal_id.clone(),
            row.account_id.clone(),
            row.permission_set_id.clone(),
        ));
        self.assignments.insert(
            (
                row.permission_set_id.clone(),
                row.account_id.clone(),
                row.principal_type,
                row.principal_id.clone(),
            ),
            Arc::new(row.clone()),
        );
    }

    pub(crate) fn delete_assignment(&mut self, key: AssignmentKey) -> Result<(), ApplyError> {
        let (permission_set_id, account_id, principal_type, principal_id) = &key;
        self.assignments_by_principal.remove(&(
            *principal_type,
            principal_id.clone(),
            account_id.clone(),
            permission_set_id.clone(),
        ));
        self.assignments
            .remove(&key)
            .map(|_| ())
            .ok_or(ApplyError::Missing("account assignment"))
    }

    /// Removes every assignment of a principal, as the store does when the identity store
    /// user or group is deleted.
    pub(crate) fn delete_assignments_of(&mut self, principal_type: PrincipalType, id: &str) {
        let keys: Vec<(PrincipalType, String, String, String)> =
            self.assignments_of(principal_type, id).cloned().collect();
        for key in keys {
            let (kind, principal, account, ps) = key.clone();
            self.assignments.remove(&(ps, account, kind, principal));
            self.assignments_by_principal.remove(&key);
        }
    }

    /// A principal's assignments, as (principal type, principal id, account, permission set).
    fn assignments_of<'a>(
        &'a self,
        principal_type: PrincipalType,
        id: &'a str,
    ) -> impl Iterator<Item = &'a (PrincipalType, String, String, String)> + 'a {
        self.assignments_by_principal
            .range((principal_type, id.to_owned(), String::new(), String::new())..)
            .take_while(move |(kind, principal, _, _)| *kind == principal_type && principal == id)
    }

    pub(crate) fn put_provisioning(&mut self, row: ProvisioningRow) {
        self.provisionings.insert(
            (row.permission_set_id.clone(), row.account_id.clone()),
            Arc::new(row),
        );
    }

    pub(crate) fn update_provisioning(
        &mut self,
        permission_set_id: &str,
        account_id: &str,
        revision: i64,
        provisioned: DateTime<Utc>,
    ) -> Result<(), ApplyError> {
        let key = (permission_set_id.to_owned(), account_id.to_owned());
        let current = self
            .provisionings
            .get(&key)
            .ok_or(ApplyError::Missing("provisioning"))?;
        let next = ProvisioningRow {
            revision,
            provisioned,
            ..ProvisioningRow::clone(current)
        };
        self.provisionings.insert(key, Arc::new(next));
        Ok(())
    }

    pub(crate) fn delete_provisioning(
        &mut self,
        permission_set_id: &str,
        account_id: &str,
    ) -> Result<(), ApplyError> {
        self.provisionings
            .remove(&(permission_set_id.to_owned(), account_id.to_owned()))
            .map(|_| ())
            .ok_or(ApplyError::Missing("provisioning"))
    }

    pub(crate) fn record_request(&mut self, row: &SsoRequestRow) {
        self.requests.insert(row.id.clone(), Arc::new(row.clone()));
    }

    /// The permission set's assignments in one account.
    fn assignments_in<'a>(
        &'a self,
        permission_set_id: &'a str,
        account_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<AccountAssignmentRow>> + 'a {
        let start = (
            permission_set_id.to_owned(),
            account_id.to_owned(),
            PrincipalType::User,
            String::new(),
        );
        self.assignments
            .range(start..)
            .take_while(move |((ps, account, _, _), _)| {
                ps == permission_set_id && account == account_id
            })
            .map(|(_, row)| row)
    }

    /// Where the permission set is provisioned, in account order.
    fn provisionings_of<'a>(
        &'a self,
        permission_set_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ProvisioningRow>> + 'a {
        self.provisionings
            .range((permission_set_id.to_owned(), String::new())..)
            .take_while(move |((ps, _), _)| ps == permission_set_id)
            .map(|(_, row)| row)
    }

    fn is_assigned(&self, permission_set_id: &str) -> bool {
        self.assignments
            .range(
                (
                    permission_set_id.to_owned(),
                    String::new(),
                    PrincipalType::User,
                    String::new(),
                )..,
            )
            .next()
            .is_some_and(|((ps, _, _, _), _)| ps == permission_set_id)
    }
}

/// Which provisioned accounts a listing returns (`ProvisioningStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningFilter {
    /// `LATEST_PERMISSION_SET_PROVISIONED`
    Latest,
    /// `LATEST_PERMISSION_SET_NOT_PROVISIONED`
    OutOfDate,
}

impl ProvisioningFilter {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "LATEST_PERMISSION_SET_PROVISIONED" => Some(ProvisioningFilter::Latest),
            "LATEST_PERMISSION_SET_NOT_PROVISIONED" => Some(ProvisioningFilter::OutOfDate),
            _ => None,
        }
    }

    fn matches(self, permission_set: &PermissionSet, provisioning: &ProvisioningRow) -> bool {
        let latest = provisioning.revision >= permission_set.row.revision;
        match self {
            ProvisioningFilter::Latest => latest,
            ProvisioningFilter::OutOfDate => !latest,
        }
    }
}

/// What ProvisionPermissionSet provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionTarget<'a> {
    Account(&'a str),
    AllProvisionedAccounts,
}

/// CreatePermissionSet's input besides the instance.
#[derive(Debug, Default)]
pub struct NewPermissionSet<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub session_duration: Option<&'a str>,
    pub relay_state: Option<&'a str>,
    pub tags: Vec<Tag>,
}

/// An account assignment as CreateAccountAssignment and DeleteAccountAssignment name it.
#[derive(Debug, Clone, Copy)]
pub struct Assignment<'a> {
    pub permission_set_arn: &'a str,
    pub account_id: &'a str,
    pub principal_type: PrincipalType,
    pub principal_id: &'a str,
}

/// One account, permission set and provisioned role an identity store user may use
/// through the access portal.
#[derive(Debug, Clone)]
pub struct SsoAccess {
    pub account_id: String,
    pub permission_set: Arc<PermissionSet>,
    pub role: Arc<Role>,
}

/// The changes that make the permission set's role in `account_id` match it: the role
/// made with its policies the first time, brought up to date after that. `Err` is why it
/// cannot be (a failed provisioning's reason), with nothing changed.
fn provision_changes(
    state: &State,
    center: &IdentityCenter,
    permission_set: &PermissionSet,
    account_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Change>, String> {
    let ps = &permission_set.row;
    let resolve = |reference: &CustomerManagedPolicyReference| -> Result<String, String> {
        let arn = reference.arn_in(account_id);
        match state.policies.get(&arn) {
            Some(policy) if policy.account_id.as_deref() == Some(account_id) => Ok(arn),
            _ => Err(format!(
                "The customer managed policy {arn} that the permission set {} references does not exist in account {account_id}; create it there, then provision the permission set again.",
                ps.name
            )),
        }
    };
    let mut wanted: Vec<String> = ps.policies.managed_policy_arns.clone();
    for reference in &ps.policies.customer_managed {
        wanted.push(resolve(reference)?);
    }
    let boundary = match &ps.policies.boundary {
        None => None,
        Some(PermissionsBoundary::ManagedPolicyArn(arn)) => Some(arn.clone()),
        Some(PermissionsBoundary::CustomerManagedPolicyReference(reference)) => {
            Some(resolve(reference)?)
        }
    };
    let key = (ps.id.clone(), account_id.to_owned());
    let mut changes = Vec::new();
    let Some(provisioning) = state.sso_admin.provisionings.get(&key) else {
        let name = loop {
            let name = reserved_role_name(&ps.name);
            if state.role_by_name(account_id, &name).is_none() {
                break name;
            }
        };
        let role_id = ids::new_unique_id(ids::IdKind::Role);
        let entity = Entity::Role(role_id.clone());
        changes.push(Change::CreateRole(RoleRow {
            id: role_id.clone(),
            account_id: account_id.to_owned(),
            name,
            path: RESERVED_ROLE_PATH.to_owned(),
            description: None,
            trust_policy: reserved_trust_policy(center, account_id),
            max_session_duration: ps.session_duration,
            created: at,
        }));
        changes.extend(wanted.into_iter().map(|policy_arn| Change::AttachPolicy {
            entity: entity.clone(),
            policy_arn,
        }));
        if let Some(document) = &ps.policies.inline_policy {
            changes.push(Change::PutInlinePolicy(InlinePolicyRow {
                entity: entity.clone(),
                name: INLINE_POLICY_NAME.to_owned(),
                document: document.clone(),
            }));
        }
        if boundary.is_some() {
            changes.push(Change::SetRoleBoundary {
                role_id: role_id.clone(),
                policy_arn: boundary,
            });
        }
        changes.push(Change::CreateProvisioning(ProvisioningRow {
            permission_set_id: ps.id.clone(),
            account_id: account_id.to_owned(),
            role_id,
            revision: ps.revision,
            provisioned: at,
        }));
        return Ok(changes);
    };
    let role = state.roles.get(&provisioning.role_id).ok_or_else(|| {
        format!(
            "The role of the permission set {} in account {account_id} is missing.",
            ps.name
        )
    })?;
    let entity = Entity::Role(role.id.clone());
    // Detach first, so that a replaced policy never takes the role past its quota.
    for arn in role
        .attached_policy_arns
        .iter()
        .filter(|a| !wanted.contains(a))
    {
        changes.push(Change::DetachPolicy {
            entity: entity.clone(),
            policy_arn: arn.clone(),
        });
    }
    for arn in wanted
        .iter()
        .filter(|a| !role.attached_policy_arns.contains(a))
    {
        changes.push(Change::AttachPolicy {
            entity: entity.clone(),
            policy_arn: arn.clone(),
        });
    }
    let current_inline = role
        .inline_policies
        .iter()
        .find(|p| p.name == INLINE_POLICY_NAME)
        .map(|p| p.document.as_str());
    match (&ps.policies.inline_policy, current_inline) {
        (Some(wanted), current) if current != Some(wanted.as_str()) => {
            changes.push(Change::PutInlinePolicy(InlinePolicyRow {
                entity: entity.clone(),
                name: INLINE_POLICY_NAME.to_owned(),
                document: wanted.clone(),
            }));
        }
        (None, Some(_)) => changes.push(Change::DeleteInlinePolicy {
            entity: entity.clone(),
            name: INLINE_POLICY_NAME.to_owned(),
        }),
        _ => {}
    }
    if role.permissions_boundary != boundary {
        changes.push(Change::SetRoleBoundary {
            role_id: role.id.clone(),
            policy_arn: boundary,
        });
    }
    if role.max_session_duration != ps.session_duration {
        changes.push(Change::UpdateRole {
            role_id: role.id.clone(),
            description: role.description.clone(),
            max_session_duration: ps.session_duration,
        });
    }
    changes.push(Change::UpdateProvisioning {
        permission_set_id: ps.id.clone(),
        account_id: account_id.to_owned(),
        revision: ps.revision,
        provisioned: at,
    });
    Ok(changes)
}

/// The changes that remove a provisioned role: its policies, then the record, then the role.
fn deprovision_changes(state: &State, provisioning: &ProvisioningRow) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(role) = state.roles.get(&provisioning.role_id) {
        let entity = Entity::Role(role.id.clone());
        for arn in &role.attached_policy_arns {
            changes.push(Change::DetachPolicy {
                entity: entity.clone(),
                policy_arn: arn.clone(),
            });
        }
        for policy in &role.inline_policies {
            changes.push(Change::DeleteInlinePolicy {
                entity: entity.clone(),
                name: policy.name.clone(),
            });
        }
    }
    changes.push(Change::DeleteProvisioning {
        permission_set_id: provisioning.permission_set_id.clone(),
        account_id: provisioning.account_id.clone(),
    });
    changes.push(Change::DeleteRole {
        role_id: provisioning.role_id.clone(),
    });
    changes
}

/// What deleting an identity store user or group does to SSO Admin besides removing its
/// assignments (the store's [`Change::DeleteIdentityStoreUser`] and
/// [`Change::DeleteIdentityStoreGroup`] take those): the role of every permission set and
/// account where the principal held the last assignment is removed, as
/// DeleteAccountAssignment removes it. These changes follow the delete in its batch.
pub(crate) fn principal_deletion_changes(
    state: &State,
    principal_type: PrincipalType,
    id: &str,
) -> Vec<Change> {
    let sso = &state.sso_admin;
    let mut changes = Vec::new();
    for (_, _, account_id, permission_set_id) in sso.assignments_of(principal_type, id) {
        let last = sso
            .assignments_in(permission_set_id, account_id)
            .all(|a| a.principal_type == principal_type && a.principal_id == id);
        if last
            && let Some(provisioning) = sso
                .provisionings
                .get(&(permission_set_id.clone(), account_id.clone()))
        {
            changes.extend(deprovision_changes(state, provisioning));
        }
    }
    changes
}

/// The SSO Admin API's operations on the organization's instance, through
/// [`Directory::sso_admin`]. Every method takes the `InstanceArn` (and other ARNs) as given
/// and answers a malformed one with ValidationException, a well-formed one that is not
/// ours with ResourceNotFoundException.
#[derive(Debug, Clone, Copy)]
pub struct SsoAdmin<'a> {
    directory: &'a Directory,
}

impl Directory {
    pub fn sso_admin(&self) -> SsoAdmin<'_> {
        SsoAdmin { directory: self }
    }
}

impl State {
    /// The instance an `InstanceArn` names.
    pub fn sso_instance(&self, arn: &str) -> Result<&Arc<IdentityCenter>, IamError> {
        let id = parse_instance_arn("instanceArn", arn)?;
        self.identity_store
            .center
            .as_ref()
            .filter(|center| center.instance_id == id)
            .ok_or_else(|| not_found(format!("Instance {arn} does not exist.")))
    }

    /// The permission set `arn` names in the instance `instance_arn` names.
    pub fn permission_set(
        &self,
        instance_arn: &str,
        arn: &str,
    ) -> Result<(&Arc<IdentityCenter>, &Arc<PermissionSet>), IamError> {
        let center = self.sso_instance(instance_arn)?;
        let (instance, id) = parse_permission_set_arn("permissionSetArn", arn)?;
        let permission_set = self
            .sso_admin
            .permission_sets
            .get(id)
            .filter(|ps| instance == center.instance_id && ps.row.instance_id == instance)
            .ok_or_else(|| not_found(format!("Permission set {arn} does not exist.")))?;
        Ok((center, permission_set))
    }

    /// An account of the organization, as an assignment or provisioning target.
    fn target_account(&self, account_id: &str) -> Result<(), IamError> {
        check_account_id("targetId", account_id)?;
        if !self.accounts.contains_key(account_id) {
            return Err(validation(format!(
                "The account {account_id} is not a member of the organization."
            )));
        }
        Ok(())
    }

    /// The (account, permission set, role) triples an identity store user may use: its own
    /// assignments and its groups', where the permission set is provisioned.
    pub fn sso_access(&self, user_id: &str) -> Vec<SsoAccess> {
        let ids = &self.identity_store;
        let mut principals = vec![(PrincipalType::User, user_id.to_owned())];
        principals.extend(
            ids.groups_of_member
                .range((user_id.to_owned(), String::new())..)
                .take_while(|((user, _), _)| user == user_id)
                .map(|((_, group), _)| (PrincipalType::Group, group.clone())),
        );
        let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
        for (kind, id) in principals {
            let start = (kind, id.clone(), String::new(), String::new());
            pairs.extend(
                self.sso_admin
                    .assignments_by_principal
                    .range(start..)
                    .take_while(|(k, principal, _, _)| *k == kind && *principal == id)
                    .map(|(_, _, account, ps)| (account.clone(), ps.clone())),
            );
        }
        pairs
            .into_iter()
            .filter_map(|(account_id, ps)| {
                let provisioning = self
                    .sso_admin
                    .provisionings
                    .get(&(ps.clone(), account_id.clone()))?;
                Some(SsoAccess {
                    permission_set: self.sso_admin.permission_sets.get(&ps)?.clone(),
                    role: self.roles.get(&provisioning.role_id)?.clone(),
                    account_id,
                })
            })
            .collect()
    }
}

impl SsoAdmin<'_> {
    fn snapshot(&self) -> Arc<State> {
        self.directory.snapshot()
    }

    fn write<T>(
        &self,
        plan: impl FnOnce(&State) -> Result<(Vec<Change>, T), IamError>,
    ) -> Result<(T, Arc<State>), IamError> {
        self.directory.write_or(plan, refused)
    }

    /// ListInstances: the organization's one instance.
    pub fn instances(&self) -> Vec<Arc<IdentityCenter>> {
        self.snapshot()
            .identity_store
            .center
            .iter()
            .cloned()
            .collect()
    }

    pub fn instance(&self, arn: &str) -> Result<Arc<IdentityCenter>, IamError> {
        self.snapshot().sso_instance(arn).cloned()
    }

    pub fn create_permission_set(
        &self,
        instance_arn: &str,
        new: NewPermissionSet<'_>,
    ) -> Result<Arc<PermissionSet>, IamError> {
        check_name(new.name)?;
        new.description.map(check_description).transpose()?;
        new.relay_state.map(check_relay_state).transpose()?;
        let duration = new
            .session_duration
            .map(session_duration)
            .transpose()?
            .unwrap_or(DEFAULT_SESSION_DURATION);
        validate::tags(&new.tags)?;
        check_tag_quota(&[], &new.tags).map_err(|e| quota_exceeded(e.message))?;
        let (id, state) = self.write(|state| {
            let center = state.sso_instance(instance_arn)?;
            if state
                .sso_admin
                .permission_sets_by_name
                .contains_key(&new.name.to_lowercase())
            {
                return Err(conflict(format!(
                    "A permission set with the name {} already exists in the instance.",
                    new.name
                )));
            }
            let row = PermissionSetRow {
                id: ids::new_permission_set_id(),
                instance_id: center.instance_id.clone(),
                name: new.name.to_owned(),
                description: new.description.map(str::to_owned),
                session_duration: duration,
                relay_state: new.relay_state.map(str::to_owned),
                policies: PermissionSetPolicies::default(),
                revision: 1,
                created: now(),
            };
            let mut changes = vec![Change::CreatePermissionSet(row.clone())];
            if !new.tags.is_empty() {
                changes.push(Change::SetPermissionSetTags {
                    permission_set_id: row.id.clone(),
                    tags: new.tags.clone(),
                });
            }
            Ok((changes, row.id))
        })?;
        state
            .sso_admin
            .permission_sets
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn permission_set(
        &self,
        instance_arn: &str,
        arn: &str,
    ) -> Result<Arc<PermissionSet>, IamError> {
        Ok(self.snapshot().permission_set(instance_arn, arn)?.1.clone())
    }

    /// ListPermissionSets, in name order.
    pub fn list_permission_sets(
        &self,
        instance_arn: &str,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<PermissionSet>>, IamError> {
        let state = self.snapshot();
        state.sso_instance(instance_arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let sso = &state.sso_admin;
        let sets = sso
            .permission_sets_by_name
            .range(from..)
            .filter_map(|(_, id)| sso.permission_sets.get(id).cloned());
        Ok(paginate(sets, max_results, |ps| ps.row.name.to_lowercase()))
    }

    /// Replaces the permission set by an edited copy one revision later, which marks the
    /// accounts it is provisioned in out of date.
    fn edit(
        &self,
        instance_arn: &str,
        arn: &str,
        edit: impl FnOnce(&State, &mut PermissionSetRow) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let (_, current) = state.permission_set(instance_arn, arn)?;
            let mut row = current.row.clone();
            edit(state, &mut row)?;
            row.revision = current.row.revision + 1;
            Ok((vec![Change::UpdatePermissionSet(row)], ()))
        })?;
        Ok(())
    }

    /// UpdatePermissionSet: `None` leaves a field as it is.
    pub fn update_permission_set(
        &self,
        instance_arn: &str,
        arn: &str,
        description: Option<&str>,
        session_duration: Option<&str>,
        relay_state: Option<&str>,
    ) -> Result<(), IamError> {
        description.map(check_description).transpose()?;
        relay_state.map(check_relay_state).transpose()?;
        let duration = session_duration.map(self::session_duration).transpose()?;
        self.edit(instance_arn, arn, |_, row| {
            if let Some(description) = description {
                row.description = Some(description.to_owned());
            }
            if let Some(duration) = duration {
                row.session_duration = duration;
            }
            if let Some(relay_state) = relay_state {
                row.relay_state = Some(relay_state.to_owned());
            }
            Ok(())
        })
    }

    /// DeletePermissionSet: refused while it is assigned (and so provisioned) anywhere.
    pub fn delete_permission_set(&self, instance_arn: &str, arn: &str) -> Result<(), IamError> {
        self.write(|state| {
            let (_, ps) = state.permission_set(instance_arn, arn)?;
            if state.sso_admin.is_assigned(&ps.row.id)
                || state.sso_admin.provisionings_of(&ps.row.id).next().is_some()
            {
                return Err(conflict(format!(
                    "The permission set {} is assigned to accounts; delete its account assignments first.",
                    ps.row.name
                )));
            }
            Ok((
                vec![Change::DeletePermissionSet {
                    permission_set_id: ps.row.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn attach_managed_policy(
        &self,
        instance_arn: &str,
        arn: &str,
        policy_arn: &str,
    ) -> Result<(), IamError> {
        check_managed_policy_arn(policy_arn)?;
        self.edit(instance_arn, arn, |state, row| {
            if !state
                .policies
                .get(policy_arn)
                .is_some_and(|p| p.is_aws_managed())
            {
                return Err(not_found(format!(
                    "The AWS managed policy {policy_arn} does not exist."
                )));
            }
            let policies = &mut row.policies;
            if policies.managed_policy_arns.iter().any(|a| a == policy_arn) {
                return Err(conflict(format!(
                    "The managed policy {policy_arn} is already attached to the permission set."
                )));
            }
            check_policy_quota(policies)?;
            policies.managed_policy_arns.push(policy_arn.to_owned());
            Ok(())
        })
    }

    pub fn detach_managed_policy(
        &self,
        instance_arn: &str,
        arn: &str,
        policy_arn: &str,
    ) -> Result<(), IamError> {
        check_managed_policy_arn(policy_arn)?;
        self.edit(instance_arn, arn, |_, row| {
            let attached = &mut row.policies.managed_policy_arns;
            let before = attached.len();
            attached.retain(|a| a != policy_arn);
            if attached.len() == before {
                return Err(not_found(format!(
                    "The managed policy {policy_arn} is not attached to the permission set."
                )));
            }
            Ok(())
        })
    }

    pub fn attach_customer_managed_policy(
        &self,
        instance_arn: &str,
        arn: &str,
        reference: &CustomerManagedPolicyReference,
    ) -> Result<(), IamError> {
        reference.validate("customerManagedPolicyReference")?;
        self.edit(instance_arn, arn, |_, row| {
            let policies = &mut row.policies;
            if policies.customer_managed.contains(reference) {
                return Err(conflict(format!(
                    "The customer managed policy {}{} is already attached to the permission set.",
                    reference.path, reference.name
                )));
            }
            check_policy_quota(policies)?;
            policies.customer_managed.push(reference.clone());
            Ok(())
        })
    }

    pub fn detach_customer_managed_policy(
        &self,
        instance_arn: &str,
        arn: &str,
        reference: &CustomerManagedPolicyReference,
    ) -> Result<(), IamError> {
        reference.validate("customerManagedPolicyReference")?;
        self.edit(instance_arn, arn, |_, row| {
            let attached = &mut row.policies.customer_managed;
            let before = attached.len();
            attached.retain(|r| r != reference);
            if attached.len() == before {
                return Err(not_found(format!(
                    "The customer managed policy {}{} is not attached to the permission set.",
                    reference.path, reference.name
                )));
            }
            Ok(())
        })
    }

    pub fn put_inline_policy(
        &self,
        instance_arn: &str,
        arn: &str,
        document: &str,
    ) -> Result<(), IamError> {
        check_inline_policy(document)?;
        self.edit(instance_arn, arn, |_, row| {
            row.policies.inline_policy = Some(document.to_owned());
            Ok(())
        })
    }

    pub fn delete_inline_policy(&self, instance_arn: &str, arn: &str) -> Result<(), IamError> {
        self.edit(instance_arn, arn, |_, row| {
            if row.policies.inline_policy.take().is_none() {
                return Err(not_found("The permission set has no inline policy."));
            }
            Ok(())
        })
    }

    pub fn put_boundary(
        &self,
        instance_arn: &str,
        arn: &str,
        boundary: PermissionsBoundary,
    ) -> Result<(), IamError> {
        match &boundary {
            PermissionsBoundary::ManagedPolicyArn(policy_arn) => {
                check_managed_policy_arn(policy_arn)?
            }
            PermissionsBoundary::CustomerManagedPolicyReference(reference) => {
                reference.validate("permissionsBoundary.customerManagedPolicyReference")?
            }
        }
        self.edit(instance_arn, arn, |state, row| {
            if let PermissionsBoundary::ManagedPolicyArn(policy_arn) = &boundary
                && !state
                    .policies
                    .get(policy_arn)
                    .is_some_and(|p| p.is_aws_managed())
            {
                return Err(not_found(format!(
                    "The AWS managed policy {policy_arn} does not exist."
                )));
            }
            row.policies.boundary = Some(boundary.clone());
            Ok(())
        })
    }

    pub fn delete_boundary(&self, instance_arn: &str, arn: &str) -> Result<(), IamError> {
        self.edit(instance_arn, arn, |_, row| {
            if row.policies.boundary.take().is_none() {
                return Err(not_found("The permission set has no permissions boundary."));
            }
            Ok(())
        })
    }

    pub fn tag(&self, instance_arn: &str, arn: &str, tags: Vec<Tag>) -> Result<(), IamError> {
        validate::tags(&tags)?;
        self.write(|state| {
            let (_, ps) = state.permission_set(instance_arn, arn)?;
            check_tag_quota(&ps.tags, &tags).map_err(|e| quota_exceeded(e.message))?;
            Ok((
                vec![Change::SetPermissionSetTags {
                    permission_set_id: ps.row.id.clone(),
                    tags: tags.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn untag(&self, instance_arn: &str, arn: &str, keys: Vec<String>) -> Result<(), IamError> {
        for key in &keys {
            validate::tag_key(key)?;
        }
        self.write(|state| {
            let (_, ps) = state.permission_set(instance_arn, arn)?;
            Ok((
                vec![Change::RemovePermissionSetTags {
                    permission_set_id: ps.row.id.clone(),
                    keys: keys.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// CreateAccountAssignment: the assignment, and the role in the account when the
    /// permission set is not provisioned there yet, in one batch. A provisioning that
    /// cannot be done (a customer managed policy missing in the account) is reported as a
    /// FAILED request with its reason, and nothing is assigned, as AWS reports it.
    pub fn create_assignment(
        &self,
        instance_arn: &str,
        assignment: Assignment<'_>,
    ) -> Result<Arc<SsoRequestRow>, IamError> {
        check_principal_id(assignment.principal_id)?;
        let (id, state) = self.write(|state| {
            let (center, ps) = state.permission_set(instance_arn, assignment.permission_set_arn)?;
            state.target_account(assignment.account_id)?;
            check_principal(state, assignment.principal_type, assignment.principal_id)?;
            let at = now();
            let key = (
                ps.row.id.clone(),
                assignment.account_id.to_owned(),
                assignment.principal_type,
                assignment.principal_id.to_owned(),
            );
            let mut changes = Vec::new();
            let mut failure = None;
            // Assigning again what is assigned succeeds without a change, as on AWS.
            if !state.sso_admin.assignments.contains_key(&key) {
                let provisioned = state
                    .sso_admin
                    .provisionings
                    .contains_key(&(key.0.clone(), key.1.clone()));
                if !provisioned {
                    match provision_changes(state, center, ps, assignment.account_id, at) {
                        Ok(provisioning) => changes.extend(provisioning),
                        Err(reason) => failure = Some(reason),
                    }
                }
                if failure.is_none() {
                    changes.push(Change::CreateAccountAssignment(AccountAssignmentRow {
                        permission_set_id: key.0.clone(),
                        account_id: key.1.clone(),
                        principal_type: key.2,
                        principal_id: key.3.clone(),
                        created: at,
                    }));
                }
            }
            let request = request_row(
                RequestKind::AssignmentCreation,
                center,
                ps,
                Some(assignment.account_id),
                Some((assignment.principal_type, assignment.principal_id)),
                failure,
                at,
            );
            let id = request.id.clone();
            changes.push(Change::RecordSsoRequest(request));
            Ok((changes, id))
        })?;
        stored_request(&state, &id)
    }

    /// DeleteAccountAssignment: the assignment, and the role in the account when it was the
    /// permission set's last assignment there, in one batch.
    pub fn delete_assignment(
        &self,
        instance_arn: &str,
        assignment: Assignment<'_>,
    ) -> Result<Arc<SsoRequestRow>, IamError> {
        check_principal_id(assignment.principal_id)?;
        check_account_id("targetId", assignment.account_id)?;
        let (id, state) = self.write(|state| {
            let (center, ps) = state.permission_set(instance_arn, assignment.permission_set_arn)?;
            let key = (
                ps.row.id.clone(),
                assignment.account_id.to_owned(),
                assignment.principal_type,
                assignment.principal_id.to_owned(),
            );
            if !state.sso_admin.assignments.contains_key(&key) {
                return Err(not_found(format!(
                    "The {} {} has no assignment of the permission set {} in account {}.",
                    assignment.principal_type.as_str(),
                    assignment.principal_id,
                    ps.row.name,
                    assignment.account_id
                )));
            }
            let at = now();
            let mut changes = vec![Change::DeleteAccountAssignment {
                permission_set_id: key.0.clone(),
                account_id: key.1.clone(),
                principal_type: key.2,
                principal_id: key.3.clone(),
            }];
            let last = state
                .sso_admin
                .assignments_in(&key.0, &key.1)
                .all(|a| a.principal_type == key.2 && a.principal_id == key.3);
            if last
                && let Some(provisioning) = state
                    .sso_admin
                    .provisionings
                    .get(&(key.0.clone(), key.1.clone()))
            {
                changes.extend(deprovision_changes(state, provisioning));
            }
            let request = request_row(
                RequestKind::AssignmentDeletion,
                center,
                ps,
                Some(assignment.account_id),
                Some((assignment.principal_type, assignment.principal_id)),
                None,
                at,
            );
            let id = request.id.clone();
            changes.push(Change::RecordSsoRequest(request));
            Ok((changes, id))
        })?;
        stored_request(&state, &id)
    }

    /// ProvisionPermissionSet: brings the role of one account, or of every account the
    /// permission set is provisioned in, up to date, all in one batch. When one cannot be
    /// (a customer managed policy missing there), none is changed and the request FAILED.
    pub fn provision(
        &self,
        instance_arn: &str,
        arn: &str,
        target: ProvisionTarget<'_>,
    ) -> Result<Arc<SsoRequestRow>, IamError> {
        if let ProvisionTarget::Account(account_id) = target {
            check_account_id("targetId", account_id)?;
        }
        let (id, state) = self.write(|state| {
            let (center, ps) = state.permission_set(instance_arn, arn)?;
            let accounts: Vec<String> = match target {
                ProvisionTarget::Account(account_id) => {
                    state.target_account(account_id)?;
                    if !state
                        .sso_admin
                        .provisionings
                        .contains_key(&(ps.row.id.clone(), account_id.to_owned()))
                    {
                        return Err(not_found(format!(
                            "The permission set {} is not assigned to account {account_id}; create an account assignment to provision it there.",
                            ps.row.name
                        )));
                    }
                    vec![account_id.to_owned()]
                }
                ProvisionTarget::AllProvisionedAccounts => state
                    .sso_admin
                    .provisionings_of(&ps.row.id)
                    .map(|p| p.account_id.clone())
                    .collect(),
            };
            let at = now();
            let mut changes = Vec::new();
            let mut failure = None;
            for account_id in &accounts {
                match provision_changes(state, center, ps, account_id, at) {
                    Ok(more) => changes.extend(more),
                    Err(reason) => {
                        changes.clear();
                        failure = Some(reason);
                        break;
                    }
                }
            }
            let account = match target {
                ProvisionTarget::Account(account_id) => Some(account_id),
                ProvisionTarget::AllProvisionedAccounts => None,
            };
            let request = request_row(
                RequestKind::Provisioning,
                center,
                ps,
                account,
                None,
                failure,
                at,
            );
            let id = request.id.clone();
            changes.push(Change::RecordSsoRequest(request));
            Ok((changes, id))
        })?;
        stored_request(&state, &id)
    }

    /// Describe...Status: a request of this kind by its id.
    pub fn request(
        &self,
        instance_arn: &str,
        kind: RequestKind,
        request_id: &str,
    ) -> Result<Arc<SsoRequestRow>, IamError> {
        let state = self.snapshot();
        let center = state.sso_instance(instance_arn)?;
        state
            .sso_admin
            .requests
            .get(request_id)
            .filter(|r| r.kind == kind && r.instance_id == center.instance_id)
            .cloned()
            .ok_or_else(|| not_found(format!("The request {request_id} does not exist.")))
    }

    /// List...Status: the requests of this kind, oldest first, with the given status.
    pub fn list_requests(
        &self,
        instance_arn: &str,
        kind: RequestKind,
        status: Option<RequestStatus>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<SsoRequestRow>>, IamError> {
        let state = self.snapshot();
        let center = state.sso_instance(instance_arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let sort_key = |r: &SsoRequestRow| format!("{:020}/{}", r.created.timestamp(), r.id);
        let mut requests: Vec<Arc<SsoRequestRow>> = state
            .sso_admin
            .requests
            .values()
            .filter(|r| r.kind == kind && r.instance_id == center.instance_id)
            .filter(|r| status.is_none_or(|s| r.status == s))
            .filter(|r| sort_key(r) >= from)
            .cloned()
            .collect();
        requests.sort_by_cached_key(|r| sort_key(r));
        Ok(paginate(requests.into_iter(), max_results, |r| sort_key(r)))
    }

    /// ListAccountAssignments: the permission set's assignments in one account.
    pub fn list_assignments(
        &self,
        instance_arn: &str,
        account_id: &str,
        arn: &str,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<AccountAssignmentRow>>, IamError> {
        check_account_id("accountId", account_id)?;
        let state = self.snapshot();
        let (_, ps) = state.permission_set(instance_arn, arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let key =
            |a: &AccountAssignmentRow| format!("{}/{}", a.principal_type.as_str(), a.principal_id);
        let assignments: Vec<_> = state
            .sso_admin
            .assignments_in(&ps.row.id, account_id)
            .filter(|a| key(a) >= from)
            .cloned()
            .collect();
        Ok(paginate(assignments.into_iter(), max_results, |a| key(a)))
    }

    /// ListAccountAssignmentsForPrincipal: the user's or group's own assignments (not its
    /// groups'), in one account when `account_id` is given.
    pub fn list_assignments_for_principal(
        &self,
        instance_arn: &str,
        principal_type: PrincipalType,
        principal_id: &str,
        account_id: Option<&str>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<AccountAssignmentRow>>, IamError> {
        check_principal_id(principal_id)?;
        if let Some(account_id) = account_id {
            check_account_id("filter.accountId", account_id)?;
        }
        let state = self.snapshot();
        state.sso_instance(instance_arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let sso = &state.sso_admin;
        let start = (
            principal_type,
            principal_id.to_owned(),
            String::new(),
            String::new(),
        );
        let assignments: Vec<_> = sso
            .assignments_by_principal
            .range(start..)
            .take_while(|(kind, id, _, _)| *kind == principal_type && id == principal_id)
            .filter(|(_, _, account, _)| account_id.is_none_or(|a| a == account))
            .filter(|(_, _, account, ps)| format!("{account}/{ps}") >= from)
            .filter_map(|(kind, id, account, ps)| {
                sso.assignments
                    .get(&(ps.clone(), account.clone(), *kind, id.clone()))
                    .cloned()
            })
            .collect();
        Ok(paginate(assignments.into_iter(), max_results, |a| {
            format!("{}/{}", a.account_id, a.permission_set_id)
        }))
    }

    /// ListAccountsForProvisionedPermissionSet.
    pub fn provisioned_accounts(
        &self,
        instance_arn: &str,
        arn: &str,
        filter: Option<ProvisioningFilter>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<String>, IamError> {
        let state = self.snapshot();
        let (_, ps) = state.permission_set(instance_arn, arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let accounts: Vec<String> = state
            .sso_admin
            .provisionings_of(&ps.row.id)
            .filter(|p| filter.is_none_or(|f| f.matches(ps, p)))
            .map(|p| p.account_id.clone())
            .filter(|account| *account >= from)
            .collect();
        Ok(paginate(accounts.into_iter(), max_results, Clone::clone))
    }

    /// ListPermissionSetsProvisionedToAccount: the ARNs of the permission sets provisioned
    /// in the account.
    pub fn provisioned_permission_sets(
        &self,
        instance_arn: &str,
        account_id: &str,
        filter: Option<ProvisioningFilter>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<String>, IamError> {
        check_account_id("accountId", account_id)?;
        let state = self.snapshot();
        state.sso_instance(instance_arn)?;
        let from = next_token
            .map(decode_marker)
            .transpose()?
            .unwrap_or_default();
        let sso = &state.sso_admin;
        let arns: Vec<String> = sso
            .provisionings
            .values()
            .filter(|p| p.account_id == account_id)
            .filter_map(|p| {
                let ps = sso.permission_sets.get(&p.permission_set_id)?;
                filter.is_none_or(|f| f.matches(ps, p)).then(|| ps.arn())
            })
            .filter(|arn| *arn >= from)
            .collect();
        Ok(paginate(arns.into_iter(), max_results, Clone::clone))
    }
}

/// AWS managed and customer managed policies share the quota of the role they provision.
fn check_policy_quota(policies: &PermissionSetPolicies) -> Result<(), IamError> {
    if policies.managed_policy_arns.len() + policies.customer_managed.len()
        >= MANAGED_POLICIES_PER_PERMISSION_SET
    {
        return Err(quota_exceeded(format!(
            "A permission set can have at most {MANAGED_POLICIES_PER_PERMISSION_SET} managed policies (AWS managed and customer managed together)."
        )));
    }
    Ok(())
}

/// The principal of an assignment must be a user or group of the instance's store.
fn check_principal(state: &State, kind: PrincipalType, id: &str) -> Result<(), IamError> {
    let ids = &state.identity_store;
    let exists = match kind {
        PrincipalType::User => ids.users.contains_key(id),
        PrincipalType::Group => ids.groups.contains_key(id),
    };
    if !exists {
        return Err(not_found(format!(
            "The {} {id} does not exist in the identity store.",
            kind.as_str()
        )));
    }
    Ok(())
}

fn request_row(
    kind: RequestKind,
    center: &IdentityCenter,
    ps: &PermissionSet,
    account_id: Option<&str>,
    principal: Option<(PrincipalType, &str)>,
    failure: Option<String>,
    at: DateTime<Utc>,
) -> SsoRequestRow {
    SsoRequestRow {
        id: ids::new_request_uuid(),
        kind,
        instance_id: center.instance_id.clone(),
        permission_set_arn: ps.arn(),
        account_id: account_id.map(str::to_owned),
        principal: principal.map(|(kind, id)| (kind, id.to_owned())),
        status: if failure.is_some() {
            RequestStatus::Failed
        } else {
            RequestStatus::Succeeded
        },
        failure_reason: failure,
        created: at,
    }
}

fn stored_request(state: &State, id: &str) -> Result<Arc<SsoRequestRow>, IamError> {
    state
        .sso_admin
        .requests
        .get(id)
        .cloned()
        .ok_or_else(IamError::service_failure)
}

impl Directory {
    /// For the access portal: the (account, permission set, provisioned role) triples the
    /// identity store user may use, through its own assignments and its groups'.
    pub fn sso_access(&self, user_id: &str) -> Result<Vec<SsoAccess>, IamError> {
        let state = self.snapshot();
        state.identity_store.user(user_id)?;
        Ok(state.sso_access(user_id))
    }

    /// For the access portal: credentials of the role the user's permission set (named as
    /// the portal names it) is provisioned as in the account, in a session named after the
    /// user, lasting the permission set's session duration.
    pub fn sso_role_credentials(
        &self,
        user_id: &str,
        account_id: &str,
        permission_set_name: &str,
        now: DateTime<Utc>,
    ) -> Result<IssuedSession, IamError> {
        let state = self.snapshot();
        let user = state.identity_store.user(user_id)?;
        let access = state
            .sso_access(&user.id)
            .into_iter()
            .find(|a| {
                a.account_id == account_id && a.permission_set.row.name == permission_set_name
            })
            .ok_or_else(|| {
                not_found(format!(
                    "The user has no access to {permission_set_name} in account {account_id}."
                ))
            })?;
        self.issue_sso_role_session(
            access.role,
            &user.attributes.user_name,
            access.permission_set.row.session_duration,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_iso_8601() {
        assert_eq!(parse_duration("PT1H"), Some(3600));
        assert_eq!(parse_duration("PT12H"), Some(43200));
        assert_eq!(parse_duration("PT1H30M"), Some(5400));
        assert_eq!(parse_duration("PT90M"), Some(5400));
        assert_eq!(parse_duration("PT3600S"), Some(3600));
        assert_eq!(parse_duration("PT0.5S"), Some(1));
        assert_eq!(parse_duration("P1D"), Some(86400));
        assert_eq!(parse_duration("P1DT1H"), Some(90000));
        for bad in [
            "", "P", "PT", "1H", "PT1", "PTH", "PT1H1H", "PT1M1H", "P1H", "PT1.5H", "pt1h", "-PT1H",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(3600), "PT1H");
        assert_eq!(format_duration(5400), "PT1H30M");
        assert_eq!(format_duration(43200), "PT12H");
        assert_eq!(format_duration(3601), "PT1H1S");
        assert_eq!(session_duration("PT2H").unwrap(), 7200);
        for bad in ["PT59M", "PT13H", "P1D", "nonsense"] {
            assert_eq!(
                session_duration(bad).unwrap_err().code,
                ErrorCode::Validation,
                "{bad}"
            );
        }
    }

    #[test]
    fn arns_are_parsed_as_the_model_writes_them() {
        let instance = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
        assert_eq!(
            parse_instance_arn("instanceArn", instance).unwrap(),
            "ssoins-0123456789abcdef"
        );
        assert!(
            parse_instance_arn(
                "instanceArn",
                "arn:aws-us-gov:sso:::instance/ins-0123456789abcdef"
            )
            .is_ok()
        );
        for bad in [
            "",
            "arn:aws:sso:::instance/ssoins-0123",
            "arn:aws:sso::123456789012:instance/ssoins-0123456789abcdef",
            "arn:aws:iam:::instance/ssoins-0123456789abcdef",
            "arn:aws-toolongpart:sso:::instance/ssoins-0123456789abcdef",
        ] {
            assert_eq!(
                parse_instance_arn("instanceArn", bad).unwrap_err().code,
                ErrorCode::Validation,
                "{bad}"
            );
        }
        let ps = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-fedcba9876543210";
        assert_eq!(
            parse_permission_set_arn("permissionSetArn", ps).unwrap(),
            ("ssoins-0123456789abcdef", "ps-fedcba9876543210")
        );
        for bad in [
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef",
            "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-short",
            "arn:aws:sso:::instance/ssoins-0123456789abcdef/ps-fedcba9876543210",
        ] {
            assert!(
                parse_permission_set_arn("permissionSetArn", bad).is_err(),
                "{bad}"
            );
        }
        assert!(check_principal_id("0123456789-a1b2c3d4-5678-90ab-cdef-0123456789ab").is_ok());
        assert!(check_principal_id("a1b2c3d4-5678-90ab-cdef-0123456789ab").is_ok());
        assert!(
            check_principal_id("arn:aws:identitystore:::user/a1b2c3d4-5678-90ab-cdef-0123456789ab")
                .is_err()
        );
        assert!(check_principal_id("alice").is_err());
    }

    #[test]
    fn names_descriptions_and_references_follow_the_model() {
        assert!(check_name("AdministratorAccess").is_ok());
        assert!(check_name(&"x".repeat(32)).is_ok());
        for bad in ["", "has space", &"x".repeat(33), "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_description("Full access, for admins.\n").is_ok());
        assert!(check_description("").is_err());
        assert!(check_description("emoji \u{1F600}").is_err());
        assert!(
            check_relay_state("https://console.aws.amazon.com/ec2/home?region=us-east-1#").is_ok()
        );
        assert!(check_relay_state("bad\u{7}").is_err());
        let reference = |name: &str, path: &str| CustomerManagedPolicyReference {
            name: name.into(),
            path: path.into(),
        };
        assert!(reference("Reader", "/").validate("r").is_ok());
        assert!(reference("Reader", "/team/ops/").validate("r").is_ok());
        assert!(reference("Reader", "team/").validate("r").is_err());
        assert!(reference("Reader", "//").validate("r").is_err());
        assert!(reference("no space", "/").validate("r").is_err());
        assert_eq!(
            reference("Reader", "/team/").arn_in("111122223333"),
            "arn:aws:iam::111122223333:policy/team/Reader"
        );
        assert!(check_managed_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess").is_ok());
        assert!(
            check_managed_policy_arn("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess").is_ok()
        );
        assert!(check_managed_policy_arn("arn:aws:iam::111122223333:policy/Mine").is_err());
    }

    #[test]
    fn the_reserved_trust_policy_trusts_only_the_saml_provider() {
        let center = IdentityCenter {
            instance_id: "ssoins-0123456789abcdef".into(),
            identity_store_id: "d-0123456789".into(),
            account_id: "111122223333".into(),
            created: now(),
        };
        let document = reserved_trust_policy(&center, "444455556666");
        Policy::parse(&document, PolicyKind::Trust).unwrap();
        let value: serde_json::Value = serde_json::from_str(&document).unwrap();
        assert_eq!(
            value["Statement"][0]["Principal"]["Federated"],
            "arn:aws:iam::444455556666:saml-provider/AWSSSO_0123456789abcdef_DO_NOT_DELETE"
        );
        let name = reserved_role_name("ReadOnly");
        assert!(name.starts_with("AWSReservedSSO_ReadOnly_") && name.len() == 24 + 16);
        assert!(reserved_role_name(&"x".repeat(32)).len() <= 64);
    }

    /// A store that keeps batches in memory: enough for a directory on one instance.
    use crate::audit::segment::{AuditSegment, SegmentEncoding, SegmentQuery, SegmentRef};

    #[derive(Default)]
    struct MemoryStore {
        batches: std::sync::Mutex<Vec<Vec<Change>>>,
    }

    impl crate::store::Store for MemoryStore {
        fn load(&self) -> Result<crate::store::Contents, StoreError> {
            Ok(crate::store::Contents::default())
        }

        fn apply_audited(
            &self,
            changes: &[Change],
            _audit: &[AuditSegment],
        ) -> Result<crate::store::Seq, StoreError> {
            let mut batches = self.batches.lock().unwrap();
            batches.push(changes.to_vec());
            Ok(batches.len() as i64)
        }

        fn append_audit_segments(&self, _segments: &[AuditSegment]) -> Result<(), StoreError> {
            Ok(())
        }

        fn audit_segment_refs(
            &self,
            _query: &SegmentQuery<'_>,
        ) -> Result<Vec<SegmentRef>, StoreError> {
            Ok(Vec::new())
        }

        fn audit_segment_data(
            &self,
            _segment_id: &str,
        ) -> Result<Option<(SegmentEncoding, Vec<u8>)>, StoreError> {
            Ok(None)
        }

        fn delete_audit_segments_before(&self, _before: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }

        fn changes_since(
            &self,
            after: crate::store::Seq,
        ) -> Result<crate::store::ChangesSince, StoreError> {
            let batches = self.batches.lock().unwrap();
            Ok(crate::store::ChangesSince::Batches(
                batches
                    .iter()
                    .enumerate()
                    .skip(after as usize)
                    .map(|(i, b)| (i as i64 + 1, b.clone()))
                    .collect(),
            ))
        }

        fn save_key_usage(
            &self,
            _uses: &[(String, crate::model::LastUsed)],
        ) -> Result<(), StoreError> {
            Ok(())
        }
    }

    struct World {
        directory: Directory,
        instance: String,
        member: String,
        alice: String,
        group: String,
    }

    /// An organization with a member account, and an identity store user (alice) in a group.
    fn world() -> World {
        use crate::identitystore::{GroupAttributes, UserAttributes};
        let directory = Directory::open(
            Arc::new(MemoryStore::default()),
            crate::seal::MasterKey::generate(),
        )
        .unwrap();
        directory.initialize(None).unwrap();
        let member = directory
            .create_account("member@example.com", "Member", None)
            .unwrap()
            .request_id
            .trim_start_matches("car-")
            .to_owned();
        let center = directory.identity_center().unwrap();
        let store = directory.identity_store();
        let by = "arn:aws:iam::111122223333:user/admin";
        let alice = store
            .create_user(
                &center.identity_store_id,
                UserAttributes {
                    user_name: "alice".into(),
                    ..UserAttributes::default()
                },
                by,
            )
            .unwrap()
            .id
            .clone();
        let group = store
            .create_group(
                &center.identity_store_id,
                GroupAttributes {
                    display_name: "Engineers".into(),
                    ..GroupAttributes::default()
                },
                by,
            )
            .unwrap()
            .id
            .clone();
        store
            .create_membership(&center.identity_store_id, &group, &alice, by)
            .unwrap();
        World {
            directory,
            instance: center.instance_arn(),
            member,
            alice,
            group,
        }
    }

    fn new_set(w: &World, name: &'static str) -> Arc<PermissionSet> {
        w.directory
            .sso_admin()
            .create_permission_set(
                &w.instance,
                NewPermissionSet {
                    name,
                    session_duration: Some("PT2H"),
                    ..NewPermissionSet::default()
                },
            )
            .unwrap()
    }

    fn assign<'a>(w: &'a World, ps: &'a str, kind: PrincipalType, id: &'a str) -> Assignment<'a> {
        Assignment {
            permission_set_arn: ps,
            account_id: &w.member,
            principal_type: kind,
            principal_id: id,
        }
    }

    #[test]
    fn a_users_access_comes_from_its_own_and_its_groups_assignments() {
        let w = world();
        let sso = w.directory.sso_admin();
        let readers = new_set(&w, "Readers");
        let admins = new_set(&w, "Admins");
        sso.attach_managed_policy(
            &w.instance,
            &readers.arn(),
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )
        .unwrap();
        assert!(w.directory.sso_access(&w.alice).unwrap().is_empty());
        let by_group = sso
            .create_assignment(
                &w.instance,
                assign(&w, &readers.arn(), PrincipalType::Group, &w.group),
            )
            .unwrap();
        assert_eq!(by_group.status, RequestStatus::Succeeded);
        sso.create_assignment(
            &w.instance,
            assign(&w, &admins.arn(), PrincipalType::User, &w.alice),
        )
        .unwrap();
        let access = w.directory.sso_access(&w.alice).unwrap();
        let mut names: Vec<&str> = access
            .iter()
            .map(|a| a.permission_set.row.name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["Admins", "Readers"]);
        let readers_role = &access
            .iter()
            .find(|a| a.permission_set.row.name == "Readers")
            .unwrap()
            .role;
        assert_eq!(readers_role.account_id, w.member);
        assert_eq!(readers_role.path, RESERVED_ROLE_PATH);
        assert!(readers_role.name.starts_with("AWSReservedSSO_Readers_"));
        assert_eq!(readers_role.max_session_duration, 7200);
        assert_eq!(
            readers_role.attached_policy_arns,
            ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
        );

        let issued = w
            .directory
            .sso_role_credentials(&w.alice, &w.member, "Readers", now())
            .unwrap();
        assert_eq!(
            issued.principal.arn(),
            format!(
                "arn:aws:sts::{}:assumed-role/{}/alice",
                w.member, readers_role.name
            )
        );
        assert_eq!(
            (issued.session.expires - issued.session.issued).num_seconds(),
            7200
        );
        let nothing = w
            .directory
            .sso_role_credentials(&w.alice, &w.member, "Nope", now())
            .unwrap_err();
        assert_eq!(nothing.code, ErrorCode::ResourceNotFound);

        // Out of the group, alice keeps only her own assignment.
        let center = w.directory.identity_center().unwrap();
        let membership = w
            .directory
            .identity_store()
            .membership_id(&center.identity_store_id, &w.group, &w.alice)
            .unwrap();
        w.directory
            .identity_store()
            .delete_membership(&center.identity_store_id, &membership.id)
            .unwrap();
        let access = w.directory.sso_access(&w.alice).unwrap();
        assert_eq!(access.len(), 1);
        assert_eq!(access[0].permission_set.row.name, "Admins");
    }

    #[test]
    fn provisioning_follows_the_permission_set_and_its_last_assignment() {
        let w = world();
        let sso = w.directory.sso_admin();
        let ps = new_set(&w, "Ops");
        let arn = ps.arn();
        sso.attach_managed_policy(&w.instance, &arn, "arn:aws:iam::aws:policy/ReadOnlyAccess")
            .unwrap();
        let reference = CustomerManagedPolicyReference {
            name: "OpsExtra".into(),
            path: "/ops/".into(),
        };
        sso.attach_customer_managed_policy(&w.instance, &arn, &reference)
            .unwrap();
        // The referenced policy is missing in the account: the assignment fails, nothing
        // is made.
        let failed = sso
            .create_assignment(&w.instance, assign(&w, &arn, PrincipalType::User, &w.alice))
            .unwrap();
        assert_eq!(failed.status, RequestStatus::Failed);
        assert!(
            failed
                .failure_reason
                .as_deref()
                .unwrap()
                .contains("OpsExtra")
        );
        assert!(w.directory.sso_access(&w.alice).unwrap().is_empty());
        let state = w.directory.snapshot();
        assert!(
            state
                .roles_of_account(&w.member, None)
                .all(|r| r.path != RESERVED_ROLE_PATH)
        );

        let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        w.directory
            .create_policy(&w.member, "OpsExtra", Some("/ops/"), document, None, vec![])
            .unwrap();
        sso.put_inline_policy(&w.instance, &arn, document).unwrap();
        let ok = sso
            .create_assignment(&w.instance, assign(&w, &arn, PrincipalType::User, &w.alice))
            .unwrap();
        assert_eq!(ok.status, RequestStatus::Succeeded);
        let role = w.directory.sso_access(&w.alice).unwrap()[0].role.clone();
        assert_eq!(
            role.attached_policy_arns,
            [
                "arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned(),
                format!("arn:aws:iam::{}:policy/ops/OpsExtra", w.member)
            ]
        );
        assert_eq!(role.inline_policies[0].name, INLINE_POLICY_NAME);
        // IAM may not change it, nor make a role where it lives.
        let refused = w.directory.delete_role(&w.member, &role.name).unwrap_err();
        assert_eq!(refused.code, ErrorCode::UnmodifiableEntity);
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
        let squatter = w.directory.create_role(
            &w.member,
            crate::roles::NewRole {
                name: "Squatter",
                path: Some(RESERVED_ROLE_PATH),
                trust_policy: trust,
                ..crate::roles::NewRole::default()
            },
        );
        assert_eq!(squatter.unwrap_err().code, ErrorCode::InvalidInput);

        // A change marks the account out of date until it is provisioned again.
        sso.detach_managed_policy(&w.instance, &arn, "arn:aws:iam::aws:policy/ReadOnlyAccess")
            .unwrap();
        sso.put_boundary(
            &w.instance,
            &arn,
            PermissionsBoundary::ManagedPolicyArn("arn:aws:iam::aws:policy/PowerUserAccess".into()),
        )
        .unwrap();
        sso.delete_inline_policy(&w.instance, &arn).unwrap();
        let stale = sso
            .provisioned_accounts(
                &w.instance,
                &arn,
                Some(ProvisioningFilter::OutOfDate),
                None,
                None,
            )
            .unwrap();
        assert_eq!(stale.items, std::slice::from_ref(&w.member));
        let provisioned = sso
            .provision(&w.instance, &arn, ProvisionTarget::AllProvisionedAccounts)
            .unwrap();
        assert_eq!(provisioned.status, RequestStatus::Succeeded);
        let role = w.directory.snapshot().roles.get(&role.id).cloned().unwrap();
        assert_eq!(
            role.attached_policy_arns,
            [format!("arn:aws:iam::{}:policy/ops/OpsExtra", w.member)]
        );
        assert!(role.inline_policies.is_empty());
        assert_eq!(
            role.permissions_boundary.as_deref(),
            Some("arn:aws:iam::aws:policy/PowerUserAccess")
        );
        assert!(
            sso.provisioned_accounts(
                &w.instance,
                &arn,
                Some(ProvisioningFilter::OutOfDate),
                None,
                None
            )
            .unwrap()
            .items
            .is_empty()
        );

        // Deleting the permission set is refused while it is assigned; the last
        // assignment's deletion removes the role.
        let conflict = sso.delete_permission_set(&w.instance, &arn).unwrap_err();
        assert_eq!(conflict.code, ErrorCode::Conflict);
        sso.delete_assignment(&w.instance, assign(&w, &arn, PrincipalType::User, &w.alice))
            .unwrap();
        assert!(!w.directory.snapshot().roles.contains_key(&role.id));
        sso.delete_permission_set(&w.instance, &arn).unwrap();
        let requests = sso
            .list_requests(
                &w.instance,
                RequestKind::AssignmentCreation,
                None,
                None,
                None,
            )
            .unwrap();
        let mut statuses: Vec<&str> = requests.items.iter().map(|r| r.status.as_str()).collect();
        statuses.sort();
        assert_eq!(statuses, ["FAILED", "SUCCEEDED"]);
    }
}
