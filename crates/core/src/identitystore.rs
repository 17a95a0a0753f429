//! The identity store of the organization's IAM Identity Center instance (the AWS Identity
//! Store API): its users, groups and group memberships. These are not IAM users: they are
//! the workforce identities that Identity Center signs in and assigns permission sets to.
//!
//! There is one instance per organization, in the management account, made with the
//! organization ([`Directory::initialize`]) or, for data made before it existed, once at
//! start-up ([`Directory::ensure_identity_center`]).
//!
//! Attributes are kept as the documents the API exchanges (`UserAttributes`,
//! `GroupAttributes`, spelled as the wire spells them), so that creating, describing and
//! updating with `AttributePath` operations are one serde round trip each.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use imbl::{HashMap, OrdMap};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::directory::{Directory, Page, decode_marker, now, paginate, store_failure};
use crate::error::{ErrorCode, IamError};
use crate::identity_mfa::{IdentityMfa, IdentityMfaRow};
use crate::ids;
use crate::invitations::{IdentityPasswordRow, InvitationRow};
use crate::model::IdentityCenter;
use crate::ssoadmin::{PrincipalType, principal_deletion_changes};
use crate::state::{ApplyError, State};
use crate::store::{
    Change, GroupMembershipRow, IdentityCenterRow, IdentityStoreGroupRow, IdentityStoreUserRow,
    StoreError,
};

/// The one extension AWS supports on users.
pub const ENTERPRISE_EXTENSION: &str = "aws:identitystore:enterprise";

/// Names AWS reserves for itself; no user or group may take them.
const RESERVED_NAMES: [&str; 2] = ["Administrator", "AWSAdministrators"];

/// The longest value of most attributes (the model's `SensitiveStringType`).
const TEXT_MAX: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Name {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

/// An e-mail address, phone number or role: a value, its kind, and whether it is primary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct TypedValue {
    pub value: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Address {
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub formatted: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Photo {
    pub value: String,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub display: Option<String>,
    pub primary: Option<bool>,
}

/// An identifier issued by an external identity provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct ExternalId {
    pub issuer: String,
    pub id: String,
}

/// A user's attributes, as CreateUser takes and DescribeUser returns them.
///
/// `ExternalIds` are set by an identity provider on AWS (through SCIM); here UpdateUser may
/// set them (`externalIds`), the only way in until latchkey has a SCIM endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct UserAttributes {
    pub user_name: String,
    pub name: Option<Name>,
    pub display_name: Option<String>,
    pub nick_name: Option<String>,
    pub profile_url: Option<String>,
    pub emails: Vec<TypedValue>,
    pub addresses: Vec<Address>,
    pub phone_numbers: Vec<TypedValue>,
    pub user_type: Option<String>,
    pub title: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub photos: Vec<Photo>,
    pub website: Option<String>,
    pub birthdate: Option<String>,
    pub roles: Vec<TypedValue>,
    pub external_ids: Vec<ExternalId>,
    /// Extension name → its document; only [`ENTERPRISE_EXTENSION`].
    pub extensions: BTreeMap<String, Value>,
}

/// The top-level attributes of a user, as `AttributePath` names them (capitalized).
const USER_ATTRIBUTES: &[&str] = &[
    "UserName",
    "Name",
    "DisplayName",
    "NickName",
    "ProfileUrl",
    "Emails",
    "Addresses",
    "PhoneNumbers",
    "UserType",
    "Title",
    "PreferredLanguage",
    "Locale",
    "Timezone",
    "Photos",
    "Website",
    "Birthdate",
    "Roles",
    "ExternalIds",
];

/// A group's attributes, as CreateGroup takes and DescribeGroup returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct GroupAttributes {
    pub display_name: String,
    pub description: Option<String>,
    pub external_ids: Vec<ExternalId>,
}

const GROUP_ATTRIBUTES: &[&str] = &["DisplayName", "Description", "ExternalIds"];

/// One `AttributeOperation` of UpdateUser or UpdateGroup: set the attribute at the path to
/// the value, or remove it when there is no value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeOperation {
    pub attribute_path: String,
    #[serde(default)]
    pub attribute_value: Option<Value>,
}

/// GetUserId's and GetGroupId's `AlternateIdentifier` (a union: exactly one member).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum AlternateIdentifier {
    ExternalId(ExternalId),
    UniqueAttribute(UniqueAttribute),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UniqueAttribute {
    pub attribute_path: String,
    pub attribute_value: Value,
}

/// What a `ResourceNotFoundException` says is missing (the model's `ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    IdentityStore,
    User,
    Group,
    GroupMembership,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::IdentityStore => "IDENTITY_STORE",
            ResourceType::User => "USER",
            ResourceType::Group => "GROUP",
            ResourceType::GroupMembership => "GROUP_MEMBERSHIP",
        }
    }

    /// The ARN resource type (`user/<id>`); the identity store's ARN has another shape.
    fn arn_kind(self) -> &'static str {
        match self {
            ResourceType::User => "user",
            ResourceType::Group => "group",
            ResourceType::GroupMembership => "membership",
            ResourceType::IdentityStore => "identitystore",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ResourceType::IdentityStore => "Identity store",
            ResourceType::User => "User",
            ResourceType::Group => "Group",
            ResourceType::GroupMembership => "Group membership",
        }
    }
}

/// `arn:aws:identitystore:::user/<id>` (or `group/`, `membership/`).
pub fn resource_arn(kind: ResourceType, id: &str) -> String {
    format!("arn:aws:identitystore:::{}/{id}", kind.arn_kind())
}

/// `ResourceNotFoundException` with the `ResourceType` and `ResourceId` AWS reports.
pub fn not_found(kind: ResourceType, id: &str) -> IamError {
    IamError::new(
        ErrorCode::ResourceNotFound,
        format!("{} not found: {id}", kind.describe()),
    )
    .with_field("ResourceType", kind.as_str())
    .with_field("ResourceId", id)
}

/// `ResourceNotFoundException` for a resource looked up by something other than its id.
fn missing(kind: ResourceType, message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::ResourceNotFound, message).with_field("ResourceType", kind.as_str())
}

pub fn validation(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::Validation, message)
}

/// A constraint of the model that `member` (as AWS names it, `userName`) does not meet.
fn constraint(member: &str, constraint: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: {constraint}"
    ))
}

fn uniqueness_conflict(message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::Conflict, message)
        .with_field("Reason", "UNIQUENESS_CONSTRAINT_VIOLATION")
}

fn concurrent_modification() -> IamError {
    IamError::new(
        ErrorCode::Conflict,
        "The resource was modified by another request. Retry with its current revision.",
    )
    .with_field("Reason", "CONCURRENT_MODIFICATION")
}

/// The store refused an identity store write that the snapshot allowed: another writer
/// took the name or changed the resource first.
fn refused(error: StoreError) -> IamError {
    match error {
        StoreError::AlreadyExists => uniqueness_conflict(
            "The request would violate a uniqueness constraint in the identity store.",
        ),
        StoreError::NotFound => concurrent_modification(),
        other => store_failure(other),
    }
}

/// A value of the model's `SensitiveStringType` or `GroupDisplayName` (`spaces`), or of
/// `UserName` and the external id members (no spaces): 1 to `max` characters of letters,
/// marks, symbols, numbers and punctuation. Unicode categories are approximated by refusing
/// control characters and the whitespace the pattern does not list.
fn check_text(member: &str, value: &str, max: usize, spaces: bool) -> Result<(), IamError> {
    let length = value.chars().count();
    if length == 0 {
        return Err(constraint(
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if length > max {
        return Err(constraint(
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    let allowed_space = |c: char| matches!(c, '\t' | '\n' | '\r' | ' ' | '\u{a0}' | '\u{3000}');
    let bad = value.chars().any(|c| {
        if spaces && allowed_space(c) {
            false
        } else {
            c.is_control() || c.is_whitespace() || matches!(c, '\u{200b}'..='\u{200f}')
        }
    });
    if bad {
        return Err(constraint(
            member,
            "Member must satisfy the regular expression pattern of its type",
        ));
    }
    Ok(())
}

fn check_optional(member: &str, value: &Option<String>) -> Result<(), IamError> {
    match value {
        Some(value) => check_text(member, value, TEXT_MAX, true),
        None => Ok(()),
    }
}

fn check_count<T>(member: &str, items: &[T], max: usize) -> Result<(), IamError> {
    if items.len() > max {
        return Err(constraint(
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

fn check_reserved(member: &str, name: &str) -> Result<(), IamError> {
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(validation(format!(
            "The {member} {name} is reserved and can't be used for users or groups."
        )));
    }
    Ok(())
}

fn check_external_ids(ids: &[ExternalId]) -> Result<(), IamError> {
    check_count("externalIds", ids, 10)?;
    for id in ids {
        check_text("externalIds.member.issuer", &id.issuer, 256, false)?;
        check_text("externalIds.member.id", &id.id, 256, false)?;
    }
    Ok(())
}

fn check_typed(member: &str, items: &[TypedValue]) -> Result<(), IamError> {
    check_count(member, items, 1)?;
    for item in items {
        check_optional(&format!("{member}.member.value"), &item.value)?;
        check_optional(&format!("{member}.member.type"), &item.kind)?;
    }
    Ok(())
}

impl UserAttributes {
    /// The model's constraints, and AWS's own: a user name, and not a reserved one.
    pub fn validate(&self) -> Result<(), IamError> {
        if self.user_name.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null",
            ));
        }
        check_text("userName", &self.user_name, 128, false)?;
        check_reserved("UserName", &self.user_name)?;
        if let Some(name) = &self.name {
            check_optional("name.formatted", &name.formatted)?;
            check_optional("name.familyName", &name.family_name)?;
            check_optional("name.givenName", &name.given_name)?;
            check_optional("name.middleName", &name.middle_name)?;
            check_optional("name.honorificPrefix", &name.honorific_prefix)?;
            check_optional("name.honorificSuffix", &name.honorific_suffix)?;
        }
        for (member, value) in [
            ("displayName", &self.display_name),
            ("nickName", &self.nick_name),
            ("profileUrl", &self.profile_url),
            ("userType", &self.user_type),
            ("title", &self.title),
            ("preferredLanguage", &self.preferred_language),
            ("locale", &self.locale),
            ("timezone", &self.timezone),
            ("website", &self.website),
            ("birthdate", &self.birthdate),
        ] {
            check_optional(member, value)?;
        }
        check_typed("emails", &self.emails)?;
        check_typed("phoneNumbers", &self.phone_numbers)?;
        check_typed("roles", &self.roles)?;
        check_count("addresses", &self.addresses, 1)?;
        for address in &self.addresses {
            for value in [
                &address.street_address,
                &address.locality,
                &address.region,
                &address.postal_code,
                &address.country,
                &address.formatted,
                &address.kind,
            ] {
                check_optional("addresses.member", value)?;
            }
        }
        check_count("photos", &self.photos, 3)?;
        for photo in &self.photos {
            check_text("photos.member.value", &photo.value, TEXT_MAX, true)?;
            check_optional("photos.member.type", &photo.kind)?;
            check_optional("photos.member.display", &photo.display)?;
        }
        check_external_ids(&self.external_ids)?;
        check_count(
            "extensions",
            &self.extensions.keys().collect::<Vec<_>>(),
            10,
        )?;
        for (name, value) in &self.extensions {
            if name != ENTERPRISE_EXTENSION {
                return Err(validation(format!(
                    "The extension {name} is not supported; {ENTERPRISE_EXTENSION} is the only supported extension."
                )));
            }
            if !value.is_object() {
                return Err(validation(format!(
                    "The value of the extension {name} must be an object."
                )));
            }
        }
        Ok(())
    }

    /// The values of the user's e-mail addresses.
    fn email_values(&self) -> impl Iterator<Item = &str> {
        self.emails.iter().filter_map(|e| e.value.as_deref())
    }
}

impl GroupAttributes {
    pub fn validate(&self) -> Result<(), IamError> {
        if self.display_name.is_empty() {
            return Err(validation(
                "1 validation error detected: Value null at 'displayName' failed to satisfy constraint: Member must not be null",
            ));
        }
        check_text("displayName", &self.display_name, TEXT_MAX, true)?;
        check_reserved("DisplayName", &self.display_name)?;
        check_optional("description", &self.description)?;
        check_external_ids(&self.external_ids)
    }
}

/// `displayName` → `DisplayName`: attribute paths are the wire's member names in camel case.
fn capitalized(segment: &str) -> String {
    let mut chars = segment.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn invalid_path(path: &str) -> IamError {
    validation(format!("Invalid attribute path: {path}"))
}

/// Sets (or with `None` removes) the value at `segments` under `object`, making the objects
/// on the way; `false` when a step is not an object.
fn set_path(object: &mut Map<String, Value>, segments: &[String], value: Option<&Value>) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = object;
    for segment in parents {
        let next = current
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        match next {
            Value::Object(map) => current = map,
            _ => return false,
        }
    }
    match value {
        Some(value) => {
            current.insert(last.clone(), value.clone());
        }
        None => {
            current.remove(last);
        }
    }
    true
}

/// Applies UpdateUser's or UpdateGroup's operations to `current`. A path is a top-level
/// attribute (`displayName`) or one of its members (`name.givenName`); for users an
/// extension (`aws:identitystore:enterprise`, or `...enterprise.costCenter`) too. The result
/// must still be a valid document of its type.
fn apply_operations<T: Serialize + DeserializeOwned>(
    current: &T,
    operations: &[AttributeOperation],
    attributes: &[&str],
    extensions: bool,
) -> Result<T, IamError> {
    if operations.is_empty() || operations.len() > 100 {
        return Err(constraint(
            "operations",
            "Member must have length between 1 and 100",
        ));
    }
    let mut document = match serde_json::to_value(current) {
        Ok(Value::Object(map)) => map,
        _ => return Err(IamError::service_failure()),
    };
    for operation in operations {
        let path = operation.attribute_path.as_str();
        if path.is_empty() || path.chars().count() > 255 {
            return Err(constraint(
                "operations.member.attributePath",
                "Member must have length between 1 and 255",
            ));
        }
        let value = operation.attribute_value.as_ref().filter(|v| !v.is_null());
        let segments: Vec<String> = if path.contains(':') {
            if !extensions {
                return Err(invalid_path(path));
            }
            let mut parts = path.split('.');
            let name = parts.next().unwrap_or_default();
            std::iter::once("Extensions".to_owned())
                .chain(std::iter::once(name.to_owned()))
                .chain(parts.map(str::to_owned))
                .collect()
        } else {
            let segments: Vec<String> = path.split('.').map(capitalized).collect();
            if segments.len() > 2 || !attributes.contains(&segments[0].as_str()) {
                return Err(invalid_path(path));
            }
            segments
        };
        if segments.iter().any(String::is_empty) || !set_path(&mut document, &segments, value) {
            return Err(invalid_path(path));
        }
    }
    serde_json::from_value(Value::Object(document))
        .map_err(|error| validation(format!("Invalid attribute value: {error}")))
}

/// Reads a document of attributes (CreateUser's or CreateGroup's input, without its
/// `IdentityStoreId`).
pub fn parse_attributes<T: DeserializeOwned>(input: Value) -> Result<T, IamError> {
    serde_json::from_value(input).map_err(|error| validation(format!("Invalid request: {error}")))
}

/// The identity store's users, groups and memberships in the snapshot, indexed for the
/// lookups the API makes.
#[derive(Debug, Clone, Default)]
pub struct IdentityStoreState {
    /// The organization's Identity Center instance, once made.
    pub center: Option<Arc<IdentityCenter>>,
    pub users: HashMap<String, Arc<IdentityStoreUserRow>>,
    /// Lowercased user name → user id, in name order. There is one store per organization.
    pub users_by_name: OrdMap<String, String>,
    pub groups: HashMap<String, Arc<IdentityStoreGroupRow>>,
    /// Lowercased display name → group id, in name order.
    pub groups_by_name: OrdMap<String, String>,
    pub memberships: HashMap<String, Arc<GroupMembershipRow>>,
    /// (group id, user id) → membership id.
    pub members_of_group: OrdMap<(String, String), String>,
    /// (user id, group id) → membership id.
    pub groups_of_member: OrdMap<(String, String), String>,
    /// Invitations by token hash, pending and accepted.
    pub invitations: HashMap<String, Arc<InvitationRow>>,
    /// Passwords set through invitations, by user id.
    pub passwords: HashMap<String, Arc<IdentityPasswordRow>>,
    /// Authenticator apps, by user id.
    pub mfa: HashMap<String, Arc<IdentityMfa>>,
}

impl IdentityStoreState {
    pub(crate) fn put_invitation(&mut self, row: &InvitationRow) {
        self.invitations
            .retain(|_, i| i.user_id != row.user_id || i.accepted.is_some());
        self.invitations
            .insert(row.token_hash.clone(), Arc::new(row.clone()));
    }

    pub(crate) fn accept_invitation(
        &mut self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), ApplyError> {
        let invitation = self
            .invitations
            .get(token_hash)
            .ok_or(ApplyError::Missing("invitation"))?;
        let mut next = InvitationRow::clone(invitation);
        next.accepted = Some(at);
        self.invitations
            .insert(token_hash.to_owned(), Arc::new(next));
        Ok(())
    }

    pub(crate) fn enable_mfa(&mut self, row: &IdentityMfaRow) -> Result<(), ApplyError> {
        if !self.users.contains_key(&row.user_id) {
            return Err(ApplyError::Missing("identity store user"));
        }
        self.mfa.insert(
            row.user_id.clone(),
            Arc::new(IdentityMfa {
                row: row.clone(),
                runtime: Arc::default(),
            }),
        );
        Ok(())
    }

    pub(crate) fn delete_mfa(&mut self, user_id: &str) -> Result<(), ApplyError> {
        self.mfa
            .remove(user_id)
            .map(drop)
            .ok_or(ApplyError::Missing("authenticator app"))
    }

    pub(crate) fn set_password(&mut self, row: &IdentityPasswordRow) {
        self.passwords
            .insert(row.user_id.clone(), Arc::new(row.clone()));
    }

    pub(crate) fn create_center(&mut self, row: &IdentityCenterRow) {
        self.center = Some(Arc::new(IdentityCenter {
            instance_id: row.instance_id.clone(),
            identity_store_id: row.identity_store_id.clone(),
            account_id: row.account_id.clone(),
            created: row.created,
        }));
    }

    /// Adds or (for an update) replaces a user, keeping the name index current.
    pub(crate) fn put_user(
        &mut self,
        row: &IdentityStoreUserRow,
        update: bool,
    ) -> Result<(), ApplyError> {
        if let Some(old) = self.users.get(&row.id) {
            self.users_by_name
                .remove(&old.attributes.user_name.to_lowercase());
        } else if update {
            return Err(ApplyError::Missing("identity store user"));
        }
        self.users_by_name
            .insert(row.attributes.user_name.to_lowercase(), row.id.clone());
        self.users.insert(row.id.clone(), Arc::new(row.clone()));
        Ok(())
    }

    pub(crate) fn delete_user(&mut self, user_id: &str) -> Result<(), ApplyError> {
        let user = self
            .users
            .remove(user_id)
            .ok_or(ApplyError::Missing("identity store user"))?;
        self.users_by_name
            .remove(&user.attributes.user_name.to_lowercase());
        self.invitations.retain(|_, i| i.user_id != user_id);
        self.passwords.remove(user_id);
        self.mfa.remove(user_id);
        let memberships: Vec<String> = self
            .memberships_of_member(user_id, None)
            .map(|m| m.id.clone())
            .collect();
        for id in memberships {
            self.delete_membership(&id)?;
        }
        Ok(())
    }

    pub(crate) fn put_group(
        &mut self,
        row: &IdentityStoreGroupRow,
        update: bool,
    ) -> Result<(), ApplyError> {
        if let Some(old) = self.groups.get(&row.id) {
            self.groups_by_name
                .remove(&old.attributes.display_name.to_lowercase());
        } else if update {
            return Err(ApplyError::Missing("identity store group"));
        }
        self.groups_by_name
            .insert(row.attributes.display_name.to_lowercase(), row.id.clone());
        self.groups.insert(row.id.clone(), Arc::new(row.clone()));
        Ok(())
    }

    pub(crate) fn delete_group(&mut self, group_id: &str) -> Result<(), ApplyError> {
        let group = self
            .groups
            .remove(group_id)
            .ok_or(ApplyError::Missing("identity store group"))?;
        self.groups_by_name
            .remove(&group.attributes.display_name.to_lowercase());
        let memberships: Vec<String> = self
            .memberships_of_group(group_id, None)
            .map(|m| m.id.clone())
            .collect();
        for id in memberships {
            self.delete_membership(&id)?;
        }
        Ok(())
    }

    pub(crate) fn create_membership(&mut self, row: &GroupMembershipRow) -> Result<(), ApplyError> {
        if !self.users.contains_key(&row.user_id) {
            return Err(ApplyError::Missing("identity store user"));
        }
        if !self.groups.contains_key(&row.group_id) {
            return Err(ApplyError::Missing("identity store group"));
        }
        self.members_of_group
            .insert((row.group_id.clone(), row.user_id.clone()), row.id.clone());
        self.groups_of_member
            .insert((row.user_id.clone(), row.group_id.clone()), row.id.clone());
        self.memberships
            .insert(row.id.clone(), Arc::new(row.clone()));
        Ok(())
    }

    pub(crate) fn delete_membership(&mut self, membership_id: &str) -> Result<(), ApplyError> {
        let membership = self
            .memberships
            .remove(membership_id)
            .ok_or(ApplyError::Missing("group membership"))?;
        self.members_of_group
            .remove(&(membership.group_id.clone(), membership.user_id.clone()));
        self.groups_of_member
            .remove(&(membership.user_id.clone(), membership.group_id.clone()));
        Ok(())
    }

    /// Users in name order, from `from` (a lowercased name).
    fn users_from<'a>(
        &'a self,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<IdentityStoreUserRow>> + 'a {
        self.users_by_name
            .range(from.unwrap_or("").to_owned()..)
            .filter_map(|(_, id)| self.users.get(id))
    }

    fn groups_from<'a>(
        &'a self,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<IdentityStoreGroupRow>> + 'a {
        self.groups_by_name
            .range(from.unwrap_or("").to_owned()..)
            .filter_map(|(_, id)| self.groups.get(id))
    }

    /// The group's memberships in member id order, from the member `from`.
    fn memberships_of_group<'a>(
        &'a self,
        group_id: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<GroupMembershipRow>> + 'a {
        let start = (group_id.to_owned(), from.unwrap_or("").to_owned());
        self.members_of_group
            .range(start..)
            .take_while(move |((group, _), _)| group == group_id)
            .filter_map(|(_, id)| self.memberships.get(id))
    }

    /// The user's memberships in group id order, from the group `from`.
    fn memberships_of_member<'a>(
        &'a self,
        user_id: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<GroupMembershipRow>> + 'a {
        let start = (user_id.to_owned(), from.unwrap_or("").to_owned());
        self.groups_of_member
            .range(start..)
            .take_while(move |((user, _), _)| user == user_id)
            .filter_map(|(_, id)| self.memberships.get(id))
    }

    /// The store an `IdentityStoreId` names (its id, or its ARN).
    pub fn resolve_store(&self, given: &str) -> Result<&Arc<IdentityCenter>, IamError> {
        let id = parse_identity_store_id(given)?;
        self.center
            .as_ref()
            .filter(|center| {
                center.identity_store_id == id.id
                    && id
                        .account
                        .is_none_or(|account| account == center.account_id)
            })
            .ok_or_else(|| not_found(ResourceType::IdentityStore, id.id))
    }

    pub fn user(&self, given: &str) -> Result<&Arc<IdentityStoreUserRow>, IamError> {
        let id = parse_resource_id("userId", given)?;
        self.users
            .get(id)
            .ok_or_else(|| not_found(ResourceType::User, id))
    }

    pub fn group(&self, given: &str) -> Result<&Arc<IdentityStoreGroupRow>, IamError> {
        let id = parse_resource_id("groupId", given)?;
        self.groups
            .get(id)
            .ok_or_else(|| not_found(ResourceType::Group, id))
    }

    pub fn membership(&self, given: &str) -> Result<&Arc<GroupMembershipRow>, IamError> {
        let id = parse_resource_id("membershipId", given)?;
        self.memberships
            .get(id)
            .ok_or_else(|| not_found(ResourceType::GroupMembership, id))
    }

    /// The membership of the user in the group, if there is one.
    pub fn membership_of(&self, group_id: &str, user_id: &str) -> Option<&Arc<GroupMembershipRow>> {
        self.members_of_group
            .get(&(group_id.to_owned(), user_id.to_owned()))
            .and_then(|id| self.memberships.get(id))
    }
}

/// An `IdentityStoreId`: the id, and the account when it was given as an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreId<'a> {
    pub id: &'a str,
    pub account: Option<&'a str>,
}

fn is_hex(text: &str, lowercase: bool) -> bool {
    text.bytes().all(|b| {
        b.is_ascii_digit()
            || (b'a'..=b'f').contains(&b)
            || (!lowercase && (b'A'..=b'F').contains(&b))
    })
}

/// `8-4-4-4-12` hex digits of either case, as the model's patterns write a UUID.
fn is_uuid(text: &str, lowercase: bool) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && is_hex(group, lowercase))
}

/// The model's `IdentityStoreId`: `(arn:aws[a-z-]*:identitystore::\d{12}:identitystore/)?`
/// and `d-[0-9a-f]{10}` or a lowercase UUID.
pub fn parse_identity_store_id(given: &str) -> Result<StoreId<'_>, IamError> {
    let invalid = || {
        validation(format!(
            "1 validation error detected: Value '{given}' at 'identityStoreId' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws[a-z-]*:identitystore::\\d{{12}}:identitystore/)?(d-[0-9a-f]{{10}}|[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"
        ))
    };
    if given.is_empty() || given.len() > 93 {
        return Err(invalid());
    }
    let (account, id) = match given.strip_prefix("arn:") {
        Some(rest) => {
            let (partition, rest) = rest.split_once(":identitystore::").ok_or_else(invalid)?;
            let (account, id) = rest.split_once(":identitystore/").ok_or_else(invalid)?;
            let partition_ok = partition
                .strip_prefix("aws")
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
            if !partition_ok || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(invalid());
            }
            (Some(account), id)
        }
        None => (None, given),
    };
    let valid = id
        .strip_prefix("d-")
        .is_some_and(|digits| digits.len() == 10 && is_hex(digits, true))
        || is_uuid(id, true);
    if !valid {
        return Err(invalid());
    }
    Ok(StoreId { id, account })
}

/// The model's `ResourceId`: an optional `arn:aws:identitystore:::(user|group|membership)/`,
/// then `([0-9a-f]{10}-|)` and a UUID. Returns the id without the ARN.
pub fn parse_resource_id<'a>(member: &str, given: &'a str) -> Result<&'a str, IamError> {
    let invalid = || {
        validation(format!(
            "1 validation error detected: Value '{given}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws[a-z-]*:identitystore:::(user|group|membership)/)?([0-9a-f]{{10}}-|)[A-Fa-f0-9]{{8}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{4}}-[A-Fa-f0-9]{{12}}"
        ))
    };
    if given.is_empty() || given.len() > 100 {
        return Err(invalid());
    }
    let id = match given.strip_prefix("arn:") {
        Some(rest) => {
            let (_, rest) = rest.split_once(":identitystore:::").ok_or_else(invalid)?;
            let (kind, id) = rest.split_once('/').ok_or_else(invalid)?;
            if !matches!(kind, "user" | "group" | "membership") {
                return Err(invalid());
            }
            id
        }
        None => given,
    };
    let uuid = match id.split_once('-') {
        Some((prefix, rest))
            if prefix.len() == 10 && is_hex(prefix, true) && is_uuid(rest, false) =>
        {
            rest
        }
        _ => id,
    };
    if !is_uuid(uuid, false) {
        return Err(invalid());
    }
    Ok(id)
}

/// The Identity Store API's operations on the organization's identity store, through
/// [`Directory::identity_store`]. Every method takes the `IdentityStoreId` as given and
/// answers a wrong one as AWS does (ValidationException when malformed,
/// ResourceNotFoundException with `ResourceType` `IDENTITY_STORE` when it is not ours).
#[derive(Debug, Clone, Copy)]
pub struct IdentityStore<'a> {
    directory: &'a Directory,
}

/// A user or group listing's filter (`Filters`, at most one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Filter {
    pub attribute_path: String,
    pub attribute_value: String,
}

impl Directory {
    pub fn identity_store(&self) -> IdentityStore<'_> {
        IdentityStore { directory: self }
    }

    /// The organization's Identity Center instance, for SSO Admin (ListInstances).
    pub fn identity_center(&self) -> Option<Arc<IdentityCenter>> {
        self.snapshot().identity_store.center.clone()
    }

    /// Makes the Identity Center instance of an organization initialized before instances
    /// existed. Idempotent; when another instance on the same database makes it at the same
    /// time, the store refuses the second and this one takes the first's.
    pub fn ensure_identity_center(&self) -> Result<Arc<IdentityCenter>, IamError> {
        if let Some(center) = self.identity_center() {
            return Ok(center);
        }
        let written = self.write(|state| {
            if state.identity_store.center.is_some() {
                return Ok((Vec::new(), ()));
            }
            let management = state
                .management_account()
                .ok_or_else(IamError::service_failure)?;
            Ok((
                vec![Change::CreateIdentityCenter(new_identity_center(
                    &management.id,
                ))],
                (),
            ))
        });
        match written {
            Ok(_) => {}
            Err(error) if error.code == ErrorCode::EntityAlreadyExists => self.catch_up()?,
            Err(error) => return Err(error),
        }
        self.identity_center().ok_or_else(IamError::service_failure)
    }
}

/// A new instance and identity store for the management account.
pub(crate) fn new_identity_center(account_id: &str) -> IdentityCenterRow {
    IdentityCenterRow {
        instance_id: ids::new_sso_instance_id(),
        identity_store_id: ids::new_identity_store_id(),
        account_id: account_id.to_owned(),
        created: now(),
    }
}

impl IdentityStore<'_> {
    fn snapshot(&self) -> Arc<State> {
        self.directory.snapshot()
    }

    /// Runs a write plan, reporting the store's refusals as Identity Store conflicts.
    fn write<T>(
        &self,
        plan: impl FnOnce(&State) -> Result<(Vec<Change>, T), IamError>,
    ) -> Result<(T, Arc<State>), IamError> {
        self.directory.write_or(plan, refused)
    }

    pub fn describe(&self, identity_store_id: &str) -> Result<Arc<IdentityCenter>, IamError> {
        self.snapshot()
            .identity_store
            .resolve_store(identity_store_id)
            .cloned()
    }

    pub fn create_user(
        &self,
        identity_store_id: &str,
        attributes: UserAttributes,
        by: &str,
    ) -> Result<Arc<IdentityStoreUserRow>, IamError> {
        attributes.validate()?;
        let (id, state) = self.write(|state| {
            let store = state.identity_store.resolve_store(identity_store_id)?;
            check_user_unique(state, None, &attributes)?;
            let at = now();
            let row = IdentityStoreUserRow {
                id: ids::new_identity_store_resource_id(&store.identity_store_id),
                identity_store_id: store.identity_store_id.clone(),
                attributes: attributes.clone(),
                revision: 1,
                created: at,
                created_by: by.to_owned(),
                updated: at,
                updated_by: by.to_owned(),
            };
            // A person with an e-mail address is invited in the same batch: a user that
            // exists without the invitation it needs cannot be.
            let mut changes = vec![Change::CreateIdentityStoreUser(row.clone())];
            let invitation = self
                .directory
                .new_invitation(&row)
                .map(|(change, outgoing)| {
                    changes.push(change);
                    outgoing
                });
            Ok((changes, (row.id, invitation)))
        })?;
        let (id, invitation) = id;
        if let Some(outgoing) = invitation {
            self.directory.queue_mail(outgoing);
        }
        state
            .identity_store
            .users
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn user(
        &self,
        identity_store_id: &str,
        user_id: &str,
    ) -> Result<Arc<IdentityStoreUserRow>, IamError> {
        let state = self.snapshot();
        state.identity_store.resolve_store(identity_store_id)?;
        state.identity_store.user(user_id).cloned()
    }

    /// ListUsers: in user name order; the filter matches `UserName` or `DisplayName`
    /// exactly, ignoring case.
    pub fn list_users(
        &self,
        identity_store_id: &str,
        filter: Option<&Filter>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<IdentityStoreUserRow>>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let from = next_token.map(decode_marker).transpose()?;
        let matches: Box<dyn Fn(&IdentityStoreUserRow) -> bool> = match filter {
            None => Box::new(|_| true),
            Some(filter) => {
                let wanted = filter.attribute_value.to_lowercase();
                match filter.attribute_path.to_ascii_lowercase().as_str() {
                    "username" => {
                        Box::new(move |u| u.attributes.user_name.to_lowercase() == wanted)
                    }
                    "displayname" => Box::new(move |u| {
                        u.attributes
                            .display_name
                            .as_deref()
                            .is_some_and(|d| d.to_lowercase() == wanted)
                    }),
                    _ => return Err(invalid_filter(&filter.attribute_path)),
                }
            }
        };
        let users = ids
            .users_from(from.as_deref())
            .filter(|u| matches(u))
            .cloned();
        Ok(paginate(users, max_results, |u| {
            u.attributes.user_name.to_lowercase()
        }))
    }

    pub fn update_user(
        &self,
        identity_store_id: &str,
        user_id: &str,
        operations: &[AttributeOperation],
        revision: Option<&str>,
        by: &str,
    ) -> Result<Arc<IdentityStoreUserRow>, IamError> {
        let (id, state) = self.write(|state| {
            let ids = &state.identity_store;
            ids.resolve_store(identity_store_id)?;
            let user = ids.user(user_id)?;
            check_revision(revision, user.revision)?;
            let attributes = apply_operations(&user.attributes, operations, USER_ATTRIBUTES, true)?;
            attributes.validate()?;
            check_user_unique(state, Some(&user.id), &attributes)?;
            let row = IdentityStoreUserRow {
                attributes,
                revision: user.revision + 1,
                updated: now(),
                updated_by: by.to_owned(),
                ..IdentityStoreUserRow::clone(user)
            };
            Ok((vec![Change::UpdateIdentityStoreUser(row)], user.id.clone()))
        })?;
        state
            .identity_store
            .users
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    /// Deletes the user and, as AWS does, its group memberships and account assignments;
    /// a provisioned role whose last assignment that was goes too.
    pub fn delete_user(
        &self,
        identity_store_id: &str,
        user_id: &str,
        revision: Option<&str>,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let ids = &state.identity_store;
            ids.resolve_store(identity_store_id)?;
            let user = ids.user(user_id)?;
            check_revision(revision, user.revision)?;
            let mut changes = vec![Change::DeleteIdentityStoreUser {
                user_id: user.id.clone(),
            }];
            changes.extend(principal_deletion_changes(
                state,
                PrincipalType::User,
                &user.id,
            ));
            Ok((changes, ()))
        })?;
        Ok(())
    }

    /// GetUserId: by `userName` or `emails.value` (ignoring case), or by an external id.
    pub fn user_id(
        &self,
        identity_store_id: &str,
        alternate: &AlternateIdentifier,
    ) -> Result<Arc<IdentityStoreUserRow>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let found = match alternate {
            AlternateIdentifier::ExternalId(external) => {
                check_external_ids(std::slice::from_ref(external))?;
                ids.users_from(None)
                    .find(|u| u.attributes.external_ids.contains(external))
            }
            AlternateIdentifier::UniqueAttribute(unique) => {
                let value = unique_value(unique)?.to_lowercase();
                match unique.attribute_path.to_ascii_lowercase().as_str() {
                    "username" => ids
                        .users_by_name
                        .get(&value)
                        .and_then(|id| ids.users.get(id)),
                    "emails.value" => ids.users_from(None).find(|u| {
                        u.attributes
                            .email_values()
                            .any(|e| e.to_lowercase() == value)
                    }),
                    _ => {
                        return Err(invalid_unique_path(
                            &unique.attribute_path,
                            "userName, emails.value",
                        ));
                    }
                }
            }
        };
        found.cloned().ok_or_else(|| {
            missing(
                ResourceType::User,
                "The user specified by the alternate identifier was not found.",
            )
        })
    }

    pub fn create_group(
        &self,
        identity_store_id: &str,
        attributes: GroupAttributes,
        by: &str,
    ) -> Result<Arc<IdentityStoreGroupRow>, IamError> {
        attributes.validate()?;
        let (id, state) = self.write(|state| {
            let store = state.identity_store.resolve_store(identity_store_id)?;
            check_group_unique(state, None, &attributes)?;
            let at = now();
            let row = IdentityStoreGroupRow {
                id: ids::new_identity_store_resource_id(&store.identity_store_id),
                identity_store_id: store.identity_store_id.clone(),
                attributes: attributes.clone(),
                revision: 1,
                created: at,
                created_by: by.to_owned(),
                updated: at,
                updated_by: by.to_owned(),
            };
            Ok((vec![Change::CreateIdentityStoreGroup(row.clone())], row.id))
        })?;
        state
            .identity_store
            .groups
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn group(
        &self,
        identity_store_id: &str,
        group_id: &str,
    ) -> Result<Arc<IdentityStoreGroupRow>, IamError> {
        let state = self.snapshot();
        state.identity_store.resolve_store(identity_store_id)?;
        state.identity_store.group(group_id).cloned()
    }

    /// ListGroups: in display name order; the filter matches `DisplayName` exactly,
    /// ignoring case.
    pub fn list_groups(
        &self,
        identity_store_id: &str,
        filter: Option<&Filter>,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<IdentityStoreGroupRow>>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let wanted = match filter {
            None => None,
            Some(filter) if filter.attribute_path.eq_ignore_ascii_case("displayname") => {
                Some(filter.attribute_value.to_lowercase())
            }
            Some(filter) => return Err(invalid_filter(&filter.attribute_path)),
        };
        let from = next_token.map(decode_marker).transpose()?;
        let groups = ids
            .groups_from(from.as_deref())
            .filter(|g| {
                wanted
                    .as_deref()
                    .is_none_or(|w| g.attributes.display_name.to_lowercase() == w)
            })
            .cloned();
        Ok(paginate(groups, max_results, |g| {
            g.attributes.display_name.to_lowercase()
        }))
    }

    pub fn update_group(
        &self,
        identity_store_id: &str,
        group_id: &str,
        operations: &[AttributeOperation],
        revision: Option<&str>,
        by: &str,
    ) -> Result<Arc<IdentityStoreGroupRow>, IamError> {
        let (id, state) = self.write(|state| {
            let ids = &state.identity_store;
            ids.resolve_store(identity_store_id)?;
            let group = ids.group(group_id)?;
            check_revision(revision, group.revision)?;
            let attributes =
                apply_operations(&group.attributes, operations, GROUP_ATTRIBUTES, false)?;
            attributes.validate()?;
            check_group_unique(state, Some(&group.id), &attributes)?;
            let row = IdentityStoreGroupRow {
                attributes,
                revision: group.revision + 1,
                updated: now(),
                updated_by: by.to_owned(),
                ..IdentityStoreGroupRow::clone(group)
            };
            Ok((
                vec![Change::UpdateIdentityStoreGroup(row)],
                group.id.clone(),
            ))
        })?;
        state
            .identity_store
            .groups
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    /// Deletes the group, its memberships and its account assignments (and the roles
    /// provisioned for those alone).
    pub fn delete_group(
        &self,
        identity_store_id: &str,
        group_id: &str,
        revision: Option<&str>,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let ids = &state.identity_store;
            ids.resolve_store(identity_store_id)?;
            let group = ids.group(group_id)?;
            check_revision(revision, group.revision)?;
            let mut changes = vec![Change::DeleteIdentityStoreGroup {
                group_id: group.id.clone(),
            }];
            changes.extend(principal_deletion_changes(
                state,
                PrincipalType::Group,
                &group.id,
            ));
            Ok((changes, ()))
        })?;
        Ok(())
    }

    /// GetGroupId: by `displayName` (ignoring case) or by an external id.
    pub fn group_id(
        &self,
        identity_store_id: &str,
        alternate: &AlternateIdentifier,
    ) -> Result<Arc<IdentityStoreGroupRow>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let found = match alternate {
            AlternateIdentifier::ExternalId(external) => {
                check_external_ids(std::slice::from_ref(external))?;
                ids.groups_from(None)
                    .find(|g| g.attributes.external_ids.contains(external))
            }
            AlternateIdentifier::UniqueAttribute(unique) => {
                let value = unique_value(unique)?.to_lowercase();
                if !unique.attribute_path.eq_ignore_ascii_case("displayname") {
                    return Err(invalid_unique_path(&unique.attribute_path, "displayName"));
                }
                ids.groups_by_name
                    .get(&value)
                    .and_then(|id| ids.groups.get(id))
            }
        };
        found.cloned().ok_or_else(|| {
            missing(
                ResourceType::Group,
                "The group specified by the alternate identifier was not found.",
            )
        })
    }

    pub fn create_membership(
        &self,
        identity_store_id: &str,
        group_id: &str,
        user_id: &str,
        by: &str,
    ) -> Result<Arc<GroupMembershipRow>, IamError> {
        let (id, state) = self.write(|state| {
            let ids = &state.identity_store;
            let store = ids.resolve_store(identity_store_id)?;
            let group = ids.group(group_id)?;
            let user = ids.user(user_id)?;
            if ids.membership_of(&group.id, &user.id).is_some() {
                return Err(uniqueness_conflict(format!(
                    "The user {} is already a member of the group {}.",
                    user.id, group.id
                )));
            }
            let row = GroupMembershipRow {
                id: ids::new_identity_store_resource_id(&store.identity_store_id),
                identity_store_id: store.identity_store_id.clone(),
                group_id: group.id.clone(),
                user_id: user.id.clone(),
                created: now(),
                created_by: by.to_owned(),
            };
            Ok((vec![Change::CreateGroupMembership(row.clone())], row.id))
        })?;
        state
            .identity_store
            .memberships
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn membership(
        &self,
        identity_store_id: &str,
        membership_id: &str,
    ) -> Result<Arc<GroupMembershipRow>, IamError> {
        let state = self.snapshot();
        state.identity_store.resolve_store(identity_store_id)?;
        state.identity_store.membership(membership_id).cloned()
    }

    pub fn delete_membership(
        &self,
        identity_store_id: &str,
        membership_id: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let ids = &state.identity_store;
            ids.resolve_store(identity_store_id)?;
            let membership = ids.membership(membership_id)?;
            Ok((
                vec![Change::DeleteGroupMembership {
                    membership_id: membership.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// GetGroupMembershipId.
    pub fn membership_id(
        &self,
        identity_store_id: &str,
        group_id: &str,
        user_id: &str,
    ) -> Result<Arc<GroupMembershipRow>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let group = ids.group(group_id)?;
        let user = ids.user(user_id)?;
        ids.membership_of(&group.id, &user.id)
            .cloned()
            .ok_or_else(|| {
                missing(
                    ResourceType::GroupMembership,
                    format!(
                        "The user {} is not a member of the group {}.",
                        user.id, group.id
                    ),
                )
            })
    }

    /// ListGroupMemberships: the group's memberships in member id order.
    pub fn list_memberships(
        &self,
        identity_store_id: &str,
        group_id: &str,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<GroupMembershipRow>>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let group = ids.group(group_id)?;
        let from = next_token.map(decode_marker).transpose()?;
        let memberships = ids
            .memberships_of_group(&group.id, from.as_deref())
            .cloned();
        Ok(paginate(memberships, max_results, |m| m.user_id.clone()))
    }

    /// ListGroupMembershipsForMember: the user's memberships in group id order.
    pub fn list_memberships_for_member(
        &self,
        identity_store_id: &str,
        user_id: &str,
        next_token: Option<&str>,
        max_results: Option<usize>,
    ) -> Result<Page<Arc<GroupMembershipRow>>, IamError> {
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let user = ids.user(user_id)?;
        let from = next_token.map(decode_marker).transpose()?;
        let memberships = ids
            .memberships_of_member(&user.id, from.as_deref())
            .cloned();
        Ok(paginate(memberships, max_results, |m| m.group_id.clone()))
    }

    /// IsMemberInGroups: for each group as given, whether the user is a member of it (a
    /// group that does not exist has no members).
    pub fn is_member_in_groups(
        &self,
        identity_store_id: &str,
        user_id: &str,
        group_ids: &[String],
    ) -> Result<Vec<(String, bool)>, IamError> {
        if group_ids.is_empty() || group_ids.len() > 100 {
            return Err(constraint(
                "groupIds",
                "Member must have length between 1 and 100",
            ));
        }
        let state = self.snapshot();
        let ids = &state.identity_store;
        ids.resolve_store(identity_store_id)?;
        let user = ids.user(user_id)?;
        group_ids
            .iter()
            .map(|given| {
                let group_id = parse_resource_id("groupIds.member", given)?;
                Ok((
                    given.clone(),
                    ids.membership_of(group_id, &user.id).is_some(),
                ))
            })
            .collect()
    }
}

fn invalid_filter(path: &str) -> IamError {
    validation(format!(
        "The attribute path {path} is not supported as a filter."
    ))
}

fn invalid_unique_path(path: &str, supported: &str) -> IamError {
    validation(format!(
        "The attribute path {path} is not a unique attribute; use one of: {supported}."
    ))
}

/// A unique attribute's value, which must be a string.
fn unique_value(unique: &UniqueAttribute) -> Result<&str, IamError> {
    unique
        .attribute_value
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            validation("The AttributeValue of a unique attribute must be a non-empty string.")
        })
}

/// A `Revision` that must match the resource's current one.
fn check_revision(expected: Option<&str>, current: i64) -> Result<(), IamError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    if expected.is_empty() || expected.len() > 64 || !expected.bytes().all(|b| b.is_ascii_digit()) {
        return Err(constraint(
            "revision",
            "Member must satisfy regular expression pattern: [0-9]+",
        ));
    }
    if expected.parse::<i64>().ok() != Some(current) {
        return Err(concurrent_modification());
    }
    Ok(())
}

/// User names are unique in the store ignoring case, and so are external ids.
fn check_user_unique(
    state: &State,
    except: Option<&str>,
    attributes: &UserAttributes,
) -> Result<(), IamError> {
    let ids = &state.identity_store;
    if let Some(holder) = ids.users_by_name.get(&attributes.user_name.to_lowercase())
        && Some(holder.as_str()) != except
    {
        return Err(uniqueness_conflict(format!(
            "A user with the UserName {} already exists in the identity store.",
            attributes.user_name
        )));
    }
    for external in &attributes.external_ids {
        if ids
            .users
            .values()
            .any(|u| Some(u.id.as_str()) != except && u.attributes.external_ids.contains(external))
        {
            return Err(uniqueness_conflict(format!(
                "Another user already has the external id {} of {}.",
                external.id, external.issuer
            )));
        }
    }
    Ok(())
}

/// Group display names are unique in the store ignoring case, and so are external ids.
fn check_group_unique(
    state: &State,
    except: Option<&str>,
    attributes: &GroupAttributes,
) -> Result<(), IamError> {
    let ids = &state.identity_store;
    if let Some(holder) = ids
        .groups_by_name
        .get(&attributes.display_name.to_lowercase())
        && Some(holder.as_str()) != except
    {
        return Err(uniqueness_conflict(format!(
            "A group with the DisplayName {} already exists in the identity store.",
            attributes.display_name
        )));
    }
    for external in &attributes.external_ids {
        if ids
            .groups
            .values()
            .any(|g| Some(g.id.as_str()) != except && g.attributes.external_ids.contains(external))
        {
            return Err(uniqueness_conflict(format!(
                "Another group already has the external id {} of {}.",
                external.id, external.issuer
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_parsed_as_the_model_writes_them() {
        assert_eq!(
            parse_identity_store_id("d-0123456789").unwrap().id,
            "d-0123456789"
        );
        let arn = parse_identity_store_id(
            "arn:aws:identitystore::111122223333:identitystore/d-abcdef0123",
        )
        .unwrap();
        assert_eq!(
            (arn.id, arn.account),
            ("d-abcdef0123", Some("111122223333"))
        );
        for bad in [
            "",
            "d-012345678",
            "d-ABCDEF0123",
            "x-0123456789",
            "arn:aws:iam::111122223333:identitystore/d-0123456789",
        ] {
            let error = parse_identity_store_id(bad).map(|_| ()).unwrap_err();
            assert_eq!(error.code, ErrorCode::Validation, "{bad}");
        }
        let id = "0123456789-a1b2c3d4-5678-90ab-cdef-0123456789AB";
        assert_eq!(parse_resource_id("userId", id).unwrap(), id);
        assert_eq!(
            parse_resource_id("userId", &format!("arn:aws:identitystore:::user/{id}")).unwrap(),
            id
        );
        assert_eq!(
            parse_resource_id("userId", "a1b2c3d4-5678-90ab-cdef-0123456789ab").unwrap(),
            "a1b2c3d4-5678-90ab-cdef-0123456789ab"
        );
        for bad in [
            "alice",
            "0123456789-nope",
            "arn:aws:identitystore:::role/a1b2c3d4-5678-90ab-cdef-0123456789ab",
        ] {
            assert_eq!(
                parse_resource_id("userId", bad).unwrap_err().code,
                ErrorCode::Validation
            );
        }
    }

    #[test]
    fn operations_set_and_remove_attributes() {
        let user: UserAttributes = parse_attributes(json!({
            "UserName": "alice",
            "DisplayName": "Alice",
            "Name": {"GivenName": "Alice", "FamilyName": "Liddell"},
            "Emails": [{"Value": "alice@example.com", "Type": "work", "Primary": true}],
        }))
        .unwrap();
        user.validate().unwrap();
        let ops =
            |list: Value| -> Vec<AttributeOperation> { serde_json::from_value(list).unwrap() };
        let updated = apply_operations(
            &user,
            &ops(json!([
                {"AttributePath": "displayName", "AttributeValue": "Alice L."},
                {"AttributePath": "name.givenName", "AttributeValue": "Alicia"},
                {"AttributePath": "name.familyName"},
                {"AttributePath": "title", "AttributeValue": "Engineer"},
                {"AttributePath": "aws:identitystore:enterprise.costCenter", "AttributeValue": "42"},
            ])),
            USER_ATTRIBUTES,
            true,
        )
        .unwrap();
        assert_eq!(updated.display_name.as_deref(), Some("Alice L."));
        let name = updated.name.clone().unwrap();
        assert_eq!(name.given_name.as_deref(), Some("Alicia"));
        assert_eq!(name.family_name, None);
        assert_eq!(updated.title.as_deref(), Some("Engineer"));
        assert_eq!(
            updated.extensions[ENTERPRISE_EXTENSION],
            json!({"costCenter": "42"})
        );
        updated.validate().unwrap();

        for bad in [
            json!([{"AttributePath": "nope", "AttributeValue": "x"}]),
            json!([{"AttributePath": "name.nope", "AttributeValue": "x"}]),
            json!([{"AttributePath": "emails.value", "AttributeValue": "x"}]),
            json!([{"AttributePath": "displayName", "AttributeValue": 7}]),
            json!([{"AttributePath": "a.b.c", "AttributeValue": "x"}]),
        ] {
            let error =
                apply_operations(&user, &ops(bad.clone()), USER_ATTRIBUTES, true).unwrap_err();
            assert_eq!(error.code, ErrorCode::Validation, "{bad}");
        }
        // Removing the user name leaves a user that does not validate.
        let nameless = apply_operations(
            &user,
            &ops(json!([{"AttributePath": "userName"}])),
            USER_ATTRIBUTES,
            true,
        )
        .unwrap();
        assert_eq!(nameless.validate().unwrap_err().code, ErrorCode::Validation);
    }

    #[test]
    fn attributes_are_checked_against_the_model() {
        let valid = |v: Value| parse_attributes::<UserAttributes>(v).and_then(|u| u.validate());
        assert!(valid(json!({"UserName": "bob"})).is_ok());
        for bad in [
            json!({}),
            json!({"UserName": "has space"}),
            json!({"UserName": "x".repeat(129)}),
            json!({"UserName": "administrator"}),
            json!({"UserName": "bob", "DisplayName": ""}),
            json!({"UserName": "bob", "Emails": [{"Value": "a@x"}, {"Value": "b@x"}]}),
            json!({"UserName": "bob", "Unknown": 1}),
            json!({"UserName": "bob", "Extensions": {"aws:identitystore:other": {}}}),
        ] {
            assert_eq!(
                valid(bad.clone()).unwrap_err().code,
                ErrorCode::Validation,
                "{bad}"
            );
        }
        let group = |v: Value| parse_attributes::<GroupAttributes>(v).and_then(|g| g.validate());
        assert!(group(json!({"DisplayName": "Engineering team"})).is_ok());
        assert!(group(json!({"DisplayName": "AWSAdministrators"})).is_err());
        assert!(group(json!({"Description": "no name"})).is_err());
    }

    #[test]
    fn revisions_must_match() {
        assert!(check_revision(None, 3).is_ok());
        assert!(check_revision(Some("3"), 3).is_ok());
        let stale = check_revision(Some("2"), 3).unwrap_err();
        assert_eq!(stale.code, ErrorCode::Conflict);
        assert!(
            stale
                .fields
                .contains(&("Reason", "CONCURRENT_MODIFICATION".to_owned()))
        );
        assert_eq!(
            check_revision(Some("x"), 3).unwrap_err().code,
            ErrorCode::Validation
        );
    }
}
