//! AWS Identity Store (awsJson1_1, `X-Amz-Target: AWSIdentityStore.<Op>`): the users,
//! groups and group memberships of the organization's identity store.
//!
//! Every call is authorized against each resource the Service Authorization Reference lists
//! as required for its action (the identity store, and the users, groups and memberships it
//! names), all from one snapshot; only principals of the management account, which owns the
//! store, reach it.

use chrono::{DateTime, Utc};
use latchkey_core::identitystore::{
    AlternateIdentifier, AttributeOperation, ENTERPRISE_EXTENSION, Filter, GroupAttributes,
    ResourceType, UserAttributes, parse_attributes, parse_identity_store_id, parse_resource_id,
    resource_arn, validation,
};
use latchkey_core::model::IdentityCenter;
use latchkey_core::state::State;
use latchkey_core::store::{GroupMembershipRow, IdentityStoreGroupRow, IdentityStoreUserRow};
use latchkey_core::{Directory, ErrorCode, IamError, Page};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::base_context;
use crate::auth::Caller;
use crate::operation::Operation;

/// The member's name as AWS's validation messages spell it (`IdentityStoreId` →
/// `identityStoreId`).
pub(super) fn member_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn missing(name: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        member_name(name)
    ))
}

pub(super) fn wrong_type(name: &str, expected: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must be {expected}",
        member_name(name)
    ))
}

pub(super) fn optional<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, IamError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

pub(super) fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, IamError> {
    optional(input, name)?.ok_or_else(|| missing(name))
}

/// A structured member, read with the model's shape.
pub(super) fn member<T: DeserializeOwned>(
    input: &Value,
    name: &str,
) -> Result<Option<T>, IamError> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|error| {
                validation(format!(
                    "1 validation error detected: Value at '{}' failed to satisfy constraint: {error}",
                    member_name(name)
                ))
            }),
    }
}

/// `MemberId` (a union whose one member is `UserId`): the user's id.
fn member_user_id(input: &Value) -> Result<&str, IamError> {
    let member = input.get("MemberId").ok_or_else(|| missing("MemberId"))?;
    match member.as_object() {
        Some(object) if object.len() == 1 => match object.get("UserId") {
            Some(Value::String(id)) => Ok(id),
            _ => Err(wrong_type("MemberId", "a union with the member UserId")),
        },
        _ => Err(wrong_type(
            "MemberId",
            "a union with exactly one member set",
        )),
    }
}

/// `MaxResults`: 1 to 100.
pub(super) fn max_results(input: &Value) -> Result<Option<usize>, IamError> {
    match input.get("MaxResults") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(n @ 1..=100) => Ok(Some(n as usize)),
            _ => Err(validation(format!(
                "1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
            ))),
        },
    }
}

/// `NextToken`: a token this server returned; the model's pattern `[-a-zA-Z0-9+=/:_]*`.
pub(super) fn next_token(input: &Value) -> Result<Option<&str>, IamError> {
    let token = optional(input, "NextToken")?;
    if let Some(token) = token
        && (token.is_empty()
            || token.len() > 65535
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-+=/:_".contains(&b)))
    {
        return Err(validation("The NextToken is not valid."));
    }
    Ok(token)
}

/// `Filters`: at most one.
fn filter(input: &Value) -> Result<Option<Filter>, IamError> {
    let filters: Option<Vec<Filter>> = member(input, "Filters")?;
    match filters {
        None => Ok(None),
        Some(mut filters) if filters.len() <= 1 => Ok(filters.pop()),
        Some(_) => Err(validation(
            "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 1",
        )),
    }
}

/// `Extensions` of DescribeUser and ListUsers: which extensions to return.
fn requested_extensions(input: &Value) -> Result<Vec<String>, IamError> {
    let names: Vec<String> = member(input, "Extensions")?.unwrap_or_default();
    if names.len() > 10 {
        return Err(validation(
            "1 validation error detected: Value at 'extensions' failed to satisfy constraint: Member must have length less than or equal to 10",
        ));
    }
    if let Some(name) = names.iter().find(|n| n.as_str() != ENTERPRISE_EXTENSION) {
        return Err(validation(format!(
            "The extension {name} is not supported; {ENTERPRISE_EXTENSION} is the only supported extension."
        )));
    }
    Ok(names)
}

/// The input without the members that are not attributes (CreateUser's, CreateGroup's).
fn attributes<T: DeserializeOwned>(input: &Value) -> Result<T, IamError> {
    let mut document = input.as_object().cloned().unwrap_or_default();
    document.remove("IdentityStoreId");
    parse_attributes(Value::Object(document))
}

pub(super) fn epoch(at: DateTime<Utc>) -> Value {
    json!(at.timestamp())
}

/// Drops the members that are not set, so that a response has only what the resource has.
fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(prune);
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            items.iter_mut().for_each(prune);
            items.retain(|v| !v.is_null());
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// A document of attributes as an object, without unset members.
fn document(attributes: &impl serde::Serialize) -> Map<String, Value> {
    let mut value = serde_json::to_value(attributes).unwrap_or(Value::Null);
    prune(&mut value);
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn user_json(user: &IdentityStoreUserRow, extensions: &[String]) -> Value {
    let mut out = document(&user.attributes);
    match out.get_mut("Extensions") {
        Some(Value::Object(present)) => {
            present.retain(|name, _| extensions.contains(name));
            if present.is_empty() {
                out.remove("Extensions");
            }
        }
        _ => {
            out.remove("Extensions");
        }
    }
    out.insert("IdentityStoreId".into(), json!(user.identity_store_id));
    out.insert("UserId".into(), json!(user.id));
    out.insert(
        "UserArn".into(),
        json!(resource_arn(ResourceType::User, &user.id)),
    );
    out.insert("Revision".into(), json!(user.revision.to_string()));
    // Users are enabled until a later API (or SCIM) can disable them.
    out.insert("UserStatus".into(), json!("ENABLED"));
    out.insert("CreatedAt".into(), epoch(user.created));
    out.insert("CreatedBy".into(), json!(user.created_by));
    out.insert("UpdatedAt".into(), epoch(user.updated));
    out.insert("UpdatedBy".into(), json!(user.updated_by));
    Value::Object(out)
}

fn group_json(group: &IdentityStoreGroupRow) -> Value {
    let mut out = document(&group.attributes);
    out.insert("IdentityStoreId".into(), json!(group.identity_store_id));
    out.insert("GroupId".into(), json!(group.id));
    out.insert(
        "GroupArn".into(),
        json!(resource_arn(ResourceType::Group, &group.id)),
    );
    out.insert("Revision".into(), json!(group.revision.to_string()));
    out.insert("CreatedAt".into(), epoch(group.created));
    out.insert("CreatedBy".into(), json!(group.created_by));
    out.insert("UpdatedAt".into(), epoch(group.updated));
    out.insert("UpdatedBy".into(), json!(group.updated_by));
    Value::Object(out)
}

fn membership_json(membership: &GroupMembershipRow) -> Value {
    json!({
        "IdentityStoreId": membership.identity_store_id,
        "MembershipId": membership.id,
        "MembershipArn": resource_arn(ResourceType::GroupMembership, &membership.id),
        "GroupId": membership.group_id,
        "MemberId": { "UserId": membership.user_id },
        "CreatedAt": epoch(membership.created),
        "CreatedBy": membership.created_by,
        // Memberships are never changed, only made and deleted.
        "UpdatedAt": epoch(membership.created),
        "UpdatedBy": membership.created_by,
    })
}

/// A listing's page under `key`, with its `NextToken` when more remain.
pub(crate) fn page_json<T>(key: &str, page: &Page<T>, item: impl Fn(&T) -> Value) -> Value {
    let mut out = json!({ key: page.items.iter().map(item).collect::<Vec<_>>() });
    if let Some(token) = &page.marker {
        out["NextToken"] = json!(token);
    }
    out
}

/// The awsJson spelling of errors shared with the IAM layers.
pub(super) fn in_dialect(error: IamError) -> IamError {
    let code = match error.code {
        ErrorCode::ValidationError | ErrorCode::InvalidInput => ErrorCode::Validation,
        ErrorCode::ServiceFailure | ErrorCode::ServiceUnavailable => ErrorCode::InternalServer,
        other => other,
    };
    IamError { code, ..error }
}

/// Runs an Identity Store operation for a caller.
pub fn execute(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<Value, IamError> {
    authorize(directory, caller, op, input).map_err(in_dialect)?;
    run(directory, caller, op, input).map_err(in_dialect)
}

/// The store's ARN for the `IdentityStoreId` as given (it need not be ours: a wrong one is
/// authorized, then not found, as on AWS).
fn store_arn(center: &IdentityCenter, input: &Value) -> Result<String, IamError> {
    let given = parse_identity_store_id(required(input, "IdentityStoreId")?)?;
    Ok(format!(
        "arn:aws:identitystore::{}:identitystore/{}",
        given.account.unwrap_or(&center.account_id),
        given.id
    ))
}

fn arn_of(kind: ResourceType, input: &Value, name: &str) -> Result<String, IamError> {
    let id = parse_resource_id(&member_name(name), required(input, name)?)?;
    Ok(resource_arn(kind, id))
}

/// Every resource `identitystore:<Op>` requires, as the Service Authorization Reference
/// lists them; a resource found through another (a membership's group) is named by its
/// wildcard when it does not exist.
fn resources(
    directory: &Directory,
    state: &State,
    center: &IdentityCenter,
    op: Operation,
    input: &Value,
) -> Result<Vec<String>, IamError> {
    use ResourceType::{Group, GroupMembership, User};
    if op == Operation::ListIdentityStores {
        return Ok(vec!["*".to_owned()]);
    }
    let store = store_arn(center, input)?;
    let all = |kind: ResourceType| resource_arn(kind, "*");
    let ids = &state.identity_store;
    let mut arns = vec![store];
    match op {
        Operation::DescribeIdentityStore
        | Operation::IdentityStoreCreateUser
        | Operation::IdentityStoreCreateGroup => {}
        Operation::DescribeUser
        | Operation::IdentityStoreUpdateUser
        | Operation::IdentityStoreDeleteUser => arns.push(arn_of(User, input, "UserId")?),
        Operation::DescribeGroup
        | Operation::IdentityStoreUpdateGroup
        | Operation::IdentityStoreDeleteGroup => arns.push(arn_of(Group, input, "GroupId")?),
        Operation::IdentityStoreListUsers => arns.push(all(User)),
        Operation::IdentityStoreListGroups => arns.push(all(Group)),
        Operation::GetUserId => {
            let alternate = alternate_identifier(input)?;
            let store_id = required(input, "IdentityStoreId")?;
            arns.push(
                match directory.identity_store().user_id(store_id, &alternate) {
                    Ok(user) => resource_arn(User, &user.id),
                    Err(_) => all(User),
                },
            );
        }
        Operation::GetGroupId => {
            let alternate = alternate_identifier(input)?;
            let store_id = required(input, "IdentityStoreId")?;
            arns.push(
                match directory.identity_store().group_id(store_id, &alternate) {
                    Ok(group) => resource_arn(Group, &group.id),
                    Err(_) => all(Group),
                },
            );
        }
        Operation::CreateGroupMembership => {
            arns.push(arn_of(Group, input, "GroupId")?);
            arns.push(resource_arn(
                User,
                parse_resource_id("memberId.userId", member_user_id(input)?)?,
            ));
        }
        Operation::DescribeGroupMembership | Operation::DeleteGroupMembership => {
            arns.push(arn_of(GroupMembership, input, "MembershipId")?);
            match ids.membership(required(input, "MembershipId")?) {
                Ok(membership) => {
                    arns.push(resource_arn(Group, &membership.group_id));
                    arns.push(resource_arn(User, &membership.user_id));
                }
                Err(_) => {
                    arns.push(all(Group));
                    arns.push(all(User));
                }
            }
        }
        Operation::GetGroupMembershipId => {
            let group = parse_resource_id("groupId", required(input, "GroupId")?)?;
            let user = parse_resource_id("memberId.userId", member_user_id(input)?)?;
            arns.push(resource_arn(Group, group));
            arns.push(resource_arn(User, user));
            arns.push(match ids.membership_of(group, user) {
                Some(membership) => resource_arn(GroupMembership, &membership.id),
                None => all(GroupMembership),
            });
        }
        Operation::ListGroupMemberships => {
            arns.push(all(GroupMembership));
            arns.push(arn_of(Group, input, "GroupId")?);
        }
        Operation::ListGroupMembershipsForMember => {
            arns.push(all(GroupMembership));
            arns.push(resource_arn(
                User,
                parse_resource_id("memberId.userId", member_user_id(input)?)?,
            ));
        }
        Operation::IsMemberInGroups => {
            arns.push(all(GroupMembership));
            arns.push(resource_arn(
                User,
                parse_resource_id("memberId.userId", member_user_id(input)?)?,
            ));
            for group in group_ids(input)? {
                arns.push(resource_arn(
                    Group,
                    parse_resource_id("groupIds.member", &group)?,
                ));
            }
        }
        other => {
            return Err(IamError::new(
                ErrorCode::InvalidAction,
                format!("Operation {} is not supported.", other.name()),
            ));
        }
    }
    Ok(arns)
}

fn alternate_identifier(input: &Value) -> Result<AlternateIdentifier, IamError> {
    member(input, "AlternateIdentifier")?.ok_or_else(|| missing("AlternateIdentifier"))
}

fn group_ids(input: &Value) -> Result<Vec<String>, IamError> {
    member(input, "GroupIds")?.ok_or_else(|| missing("GroupIds"))
}

/// Only the management account, which owns the store, reaches it; there, the caller's
/// policies must allow the action on every resource it requires.
pub(crate) fn authorize(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<(), IamError> {
    // One snapshot for the whole decision: resources, context and policies agree.
    let state = directory.snapshot();
    let center = state
        .identity_store
        .center
        .clone()
        .ok_or_else(IamError::service_failure)?;
    let resources = resources(directory, &state, &center, op, input)?;
    if caller.principal.account_id() != center.account_id {
        return Err(IamError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} because the identity store belongs to another account",
                caller.principal.arn(),
                op.action(),
                center.identity_store_arn()
            ),
        ));
    }
    let context = base_context(caller);
    for resource in &resources {
        crate::metrics::timed_authorization(|| {
            directory.authorize(
                &state,
                &caller.principal,
                op.action(),
                resource,
                &context,
                caller.at,
            )
        })?;
    }
    Ok(())
}

fn run(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<Value, IamError> {
    let ids = directory.identity_store();
    let by = caller.principal.arn();
    let store_id = || required(input, "IdentityStoreId");
    match op {
        Operation::DescribeIdentityStore => {
            let center = ids.describe(store_id()?)?;
            Ok(json!({
                "IdentityStoreId": center.identity_store_id,
                "IdentityStoreArn": center.identity_store_arn(),
            }))
        }
        Operation::ListIdentityStores => {
            max_results(input)?;
            // There is one store, on the first page: no token of ours continues it.
            if next_token(input)?.is_some() {
                return Err(validation("The NextToken is not valid."));
            }
            let stores: Vec<Value> = directory
                .identity_center()
                .iter()
                .map(|center| {
                    json!({
                        "IdentityStoreId": center.identity_store_id,
                        "IdentityStoreArn": center.identity_store_arn(),
                    })
                })
                .collect();
            Ok(json!({ "IdentityStores": stores }))
        }
        Operation::IdentityStoreCreateUser => {
            let attributes: UserAttributes = attributes(input)?;
            let user = ids.create_user(store_id()?, attributes, &by)?;
            Ok(json!({
                "IdentityStoreId": user.identity_store_id,
                "UserId": user.id,
                "UserArn": resource_arn(ResourceType::User, &user.id),
                "Revision": user.revision.to_string(),
            }))
        }
        Operation::DescribeUser => {
            let extensions = requested_extensions(input)?;
            let user = ids.user(store_id()?, required(input, "UserId")?)?;
            Ok(user_json(&user, &extensions))
        }
        Operation::IdentityStoreListUsers => {
            let extensions = requested_extensions(input)?;
            let page = ids.list_users(
                store_id()?,
                filter(input)?.as_ref(),
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("Users", &page, |u| user_json(u, &extensions)))
        }
        Operation::IdentityStoreUpdateUser => {
            let operations: Vec<AttributeOperation> =
                member(input, "Operations")?.ok_or_else(|| missing("Operations"))?;
            let user = ids.update_user(
                store_id()?,
                required(input, "UserId")?,
                &operations,
                optional(input, "Revision")?,
                &by,
            )?;
            Ok(json!({
                "IdentityStoreId": user.identity_store_id,
                "UserId": user.id,
                "UserArn": resource_arn(ResourceType::User, &user.id),
                "Revision": user.revision.to_string(),
            }))
        }
        Operation::IdentityStoreDeleteUser => {
            ids.delete_user(
                store_id()?,
                required(input, "UserId")?,
                optional(input, "Revision")?,
            )?;
            Ok(json!({}))
        }
        Operation::GetUserId => {
            let user = ids.user_id(store_id()?, &alternate_identifier(input)?)?;
            Ok(json!({
                "IdentityStoreId": user.identity_store_id,
                "UserId": user.id,
                "UserArn": resource_arn(ResourceType::User, &user.id),
            }))
        }
        Operation::IdentityStoreCreateGroup => {
            let attributes: GroupAttributes = attributes(input)?;
            let group = ids.create_group(store_id()?, attributes, &by)?;
            Ok(json!({
                "IdentityStoreId": group.identity_store_id,
                "GroupId": group.id,
                "GroupArn": resource_arn(ResourceType::Group, &group.id),
                "Revision": group.revision.to_string(),
            }))
        }
        Operation::DescribeGroup => {
            let group = ids.group(store_id()?, required(input, "GroupId")?)?;
            Ok(group_json(&group))
        }
        Operation::IdentityStoreListGroups => {
            let page = ids.list_groups(
                store_id()?,
                filter(input)?.as_ref(),
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("Groups", &page, |g| group_json(g)))
        }
        Operation::IdentityStoreUpdateGroup => {
            let operations: Vec<AttributeOperation> =
                member(input, "Operations")?.ok_or_else(|| missing("Operations"))?;
            let group = ids.update_group(
                store_id()?,
                required(input, "GroupId")?,
                &operations,
                optional(input, "Revision")?,
                &by,
            )?;
            Ok(json!({
                "IdentityStoreId": group.identity_store_id,
                "GroupId": group.id,
                "GroupArn": resource_arn(ResourceType::Group, &group.id),
                "Revision": group.revision.to_string(),
            }))
        }
        Operation::IdentityStoreDeleteGroup => {
            ids.delete_group(
                store_id()?,
                required(input, "GroupId")?,
                optional(input, "Revision")?,
            )?;
            Ok(json!({}))
        }
        Operation::GetGroupId => {
            let group = ids.group_id(store_id()?, &alternate_identifier(input)?)?;
            Ok(json!({
                "IdentityStoreId": group.identity_store_id,
                "GroupId": group.id,
                "GroupArn": resource_arn(ResourceType::Group, &group.id),
            }))
        }
        Operation::CreateGroupMembership => {
            let membership = ids.create_membership(
                store_id()?,
                required(input, "GroupId")?,
                member_user_id(input)?,
                &by,
            )?;
            Ok(json!({
                "IdentityStoreId": membership.identity_store_id,
                "MembershipId": membership.id,
                "MembershipArn": resource_arn(ResourceType::GroupMembership, &membership.id),
            }))
        }
        Operation::DescribeGroupMembership => {
            let membership = ids.membership(store_id()?, required(input, "MembershipId")?)?;
            Ok(membership_json(&membership))
        }
        Operation::DeleteGroupMembership => {
            ids.delete_membership(store_id()?, required(input, "MembershipId")?)?;
            Ok(json!({}))
        }
        Operation::GetGroupMembershipId => {
            let membership = ids.membership_id(
                store_id()?,
                required(input, "GroupId")?,
                member_user_id(input)?,
            )?;
            Ok(json!({
                "IdentityStoreId": membership.identity_store_id,
                "MembershipId": membership.id,
                "MembershipArn": resource_arn(ResourceType::GroupMembership, &membership.id),
            }))
        }
        Operation::ListGroupMemberships => {
            let page = ids.list_memberships(
                store_id()?,
                required(input, "GroupId")?,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("GroupMemberships", &page, |m| membership_json(m)))
        }
        Operation::ListGroupMembershipsForMember => {
            let page = ids.list_memberships_for_member(
                store_id()?,
                member_user_id(input)?,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("GroupMemberships", &page, |m| membership_json(m)))
        }
        Operation::IsMemberInGroups => {
            let user_id = member_user_id(input)?;
            let results = ids.is_member_in_groups(store_id()?, user_id, &group_ids(input)?)?;
            let results: Vec<Value> = results
                .into_iter()
                .map(|(group_id, member)| {
                    json!({
                        "GroupId": group_id,
                        "MemberId": { "UserId": user_id },
                        "MembershipExists": member,
                    })
                })
                .collect();
            Ok(json!({ "Results": results }))
        }
        other => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!("Operation {} is not supported.", other.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_leave_out_what_is_not_set() {
        let mut value =
            json!({"A": null, "B": [], "C": {"D": null}, "E": [{"F": "x", "G": null}], "H": false});
        prune(&mut value);
        assert_eq!(value, json!({"E": [{"F": "x"}], "H": false}));
    }

    #[test]
    fn members_are_named_as_aws_names_them() {
        assert_eq!(member_name("IdentityStoreId"), "identityStoreId");
        let error = required(&json!({}), "UserId").unwrap_err();
        assert!(error.message.contains("'userId'"), "{}", error.message);
        assert_eq!(
            max_results(&json!({"MaxResults": 0})).unwrap_err().code,
            ErrorCode::Validation
        );
        assert_eq!(max_results(&json!({"MaxResults": 100})).unwrap(), Some(100));
        assert!(next_token(&json!({"NextToken": "a b"})).is_err());
        assert!(member_user_id(&json!({"MemberId": {}})).is_err());
        assert_eq!(
            member_user_id(&json!({"MemberId": {"UserId": "u"}})).unwrap(),
            "u"
        );
    }
}
