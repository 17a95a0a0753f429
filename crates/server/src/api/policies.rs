//! Groups, managed and inline policies, attachments and permissions boundaries.

use latchkey_core::model::{Group, ManagedPolicy, PolicyVersion, Role};
use latchkey_core::policies::{Scope, Target, Usage, UsageCount};
use latchkey_core::roles::NewRole;
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_query::{QueryRequest, XmlResponse, encode_policy_document};

use super::{
    invalid, marker, max_items, tag_keys, tags, timestamp, write_page_end, write_tags,
    write_user_fields,
};
use crate::operation::Operation;
use latchkey_core::directory::paginate_by_offset;

fn required<'a>(params: &'a QueryRequest, name: &str) -> Result<&'a str, IamError> {
    params.required(name).map_err(invalid)
}

/// The user, group or role an attachment, inline-policy or boundary operation names.
fn target(op: Operation, params: &QueryRequest) -> Result<Target<'_>, IamError> {
    use Operation::*;
    Ok(match op {
        AttachUserPolicy
        | DetachUserPolicy
        | ListAttachedUserPolicies
        | PutUserPolicy
        | GetUserPolicy
        | ListUserPolicies
        | DeleteUserPolicy => Target::User(required(params, "UserName")?),
        AttachGroupPolicy
        | DetachGroupPolicy
        | ListAttachedGroupPolicies
        | PutGroupPolicy
        | GetGroupPolicy
        | ListGroupPolicies
        | DeleteGroupPolicy => Target::Group(required(params, "GroupName")?),
        _ => Target::Role(required(params, "RoleName")?),
    })
}

fn write_role(out: &mut XmlResponse, role: &Role, detailed: bool) {
    out.element("Path", &role.path)
        .element("RoleName", &role.name)
        .element("RoleId", &role.id)
        .element("Arn", &role.arn())
        .element("CreateDate", &timestamp(role.created))
        .element(
            "AssumeRolePolicyDocument",
            &encode_policy_document(&role.trust_policy),
        )
        .optional("Description", role.description.as_deref())
        .element("MaxSessionDuration", &role.max_session_duration.to_string());
    // ListRoles leaves out the boundary, tags and last use; GetRole has them.
    if detailed {
        write_boundary(out, role.permissions_boundary.as_ref());
        if !role.tags.is_empty() {
            write_tags(out, &role.tags);
        }
        out.open("RoleLastUsed").close("RoleLastUsed");
    }
}

fn usage_filter(params: &QueryRequest) -> Result<Option<Usage>, IamError> {
    match params.get("PolicyUsageFilter") {
        None => Ok(None),
        Some("PermissionsPolicy") => Ok(Some(Usage::Permissions)),
        Some("PermissionsBoundary") => Ok(Some(Usage::Boundary)),
        Some(other) => Err(IamError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value '{other}' at 'policyUsageFilter' failed to satisfy constraint: Member must satisfy enum value set: [PermissionsPolicy, PermissionsBoundary]"
            ),
        )),
    }
}

fn write_group(out: &mut XmlResponse, group: &Group) {
    out.element("Path", &group.path)
        .element("GroupName", &group.name)
        .element("GroupId", &group.id)
        .element("Arn", &group.arn())
        .element("CreateDate", &timestamp(group.created));
}

/// A Policy element; `detailed` adds what only GetPolicy and CreatePolicy return
/// (description and tags), not ListPolicies.
fn write_policy(out: &mut XmlResponse, policy: &ManagedPolicy, usage: UsageCount, detailed: bool) {
    out.element("PolicyName", &policy.name)
        .element("PolicyId", &policy.id)
        .element("Arn", &policy.arn)
        .element("Path", &policy.path)
        .element("DefaultVersionId", &policy.default_version_id)
        .element("AttachmentCount", &usage.attachments.to_string())
        .element(
            "PermissionsBoundaryUsageCount",
            &usage.boundaries.to_string(),
        )
        .element("IsAttachable", "true");
    if detailed {
        out.optional("Description", policy.description.as_deref());
    }
    out.element("CreateDate", &timestamp(policy.created))
        .element("UpdateDate", &timestamp(policy.updated));
    if detailed && !policy.tags.is_empty() {
        write_tags(out, &policy.tags);
    }
}

fn write_version(
    out: &mut XmlResponse,
    policy: &ManagedPolicy,
    version: &PolicyVersion,
    with_document: bool,
) {
    if with_document {
        out.element("Document", &encode_policy_document(&version.document));
    }
    out.element("VersionId", &version.id)
        .element(
            "IsDefaultVersion",
            if version.id == policy.default_version_id {
                "true"
            } else {
                "false"
            },
        )
        .element("CreateDate", &timestamp(version.created));
}

fn usage_of(directory: &Directory, account: &str, arn: &str) -> UsageCount {
    latchkey_core::policies::usage_counts(&directory.snapshot(), account)
        .get(arn)
        .copied()
        .unwrap_or_default()
}

fn write_attached(
    out: &mut XmlResponse,
    policies: &[std::sync::Arc<ManagedPolicy>],
    params: &QueryRequest,
) -> Result<(), IamError> {
    let page = paginate_by_offset(policies, marker(params)?, max_items(params)?)?;
    out.list("AttachedPolicies", &page.items, |out, policy| {
        out.element("PolicyName", &policy.name)
            .element("PolicyArn", &policy.arn);
    });
    write_page_end(out, &page);
    Ok(())
}

fn write_policy_names(
    out: &mut XmlResponse,
    names: &[String],
    params: &QueryRequest,
) -> Result<(), IamError> {
    let page = paginate_by_offset(names, marker(params)?, max_items(params)?)?;
    out.list("PolicyNames", &page.items, |out, name| {
        out.escape_text(name);
    });
    write_page_end(out, &page);
    Ok(())
}

fn write_inline_list(
    out: &mut XmlResponse,
    element: &str,
    policies: &[latchkey_core::model::InlinePolicy],
) {
    out.list(element, policies, |out, policy| {
        out.element("PolicyName", &policy.name)
            .element("PolicyDocument", &encode_policy_document(&policy.document));
    });
}

fn write_attached_list(
    out: &mut XmlResponse,
    state: &latchkey_core::state::State,
    arns: &[String],
) {
    out.list("AttachedManagedPolicies", arns, |out, arn| {
        let name = state.policies.get(arn).map_or("", |p| p.name.as_str());
        out.element("PolicyName", name).element("PolicyArn", arn);
    });
}

fn write_boundary(out: &mut XmlResponse, boundary: Option<&String>) {
    if let Some(arn) = boundary {
        out.open("PermissionsBoundary")
            .element("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
            .element("PermissionsBoundaryArn", arn)
            .close("PermissionsBoundary");
    }
}

/// GetAccountAuthorizationDetails: every user, group, role and policy of the account with
/// their policies, in one page.
fn write_authorization_details(
    directory: &Directory,
    account: &str,
    params: &QueryRequest,
    out: &mut XmlResponse,
) -> Result<(), IamError> {
    const FILTERS: &[&str] = &[
        "User",
        "Role",
        "Group",
        "LocalManagedPolicy",
        "AWSManagedPolicy",
    ];
    let filters = params.string_list("Filter").map_err(invalid)?;
    if let Some(bad) = filters.iter().find(|f| !FILTERS.contains(f)) {
        return Err(IamError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value '{bad}' at 'filter' failed to satisfy constraint: Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]"
            ),
        ));
    }
    let wants = |kind: &str| filters.is_empty() || filters.contains(&kind);
    let state = directory.snapshot();
    let users: Vec<_> = if wants("User") {
        state.users_of_account(account, None).cloned().collect()
    } else {
        Vec::new()
    };
    out.list("UserDetailList", &users, |out, user| {
        out.element("Path", &user.path)
            .element("UserName", &user.name)
            .element("UserId", &user.id)
            .element("Arn", &user.arn())
            .element("CreateDate", &timestamp(user.created));
        write_inline_list(out, "UserPolicyList", &user.inline_policies);
        let groups: Vec<&str> = user
            .group_ids
            .iter()
            .filter_map(|id| state.groups.get(id).map(|g| g.name.as_str()))
            .collect();
        out.list("GroupList", groups, |out, name| {
            out.escape_text(name);
        });
        write_attached_list(out, &state, &user.attached_policy_arns);
        write_boundary(out, user.permissions_boundary.as_ref());
        if !user.tags.is_empty() {
            write_tags(out, &user.tags);
        }
    });
    let groups: Vec<_> = if wants("Group") {
        state.groups_of_account(account, None).cloned().collect()
    } else {
        Vec::new()
    };
    out.list("GroupDetailList", &groups, |out, group| {
        write_group(out, group);
        write_inline_list(out, "GroupPolicyList", &group.inline_policies);
        write_attached_list(out, &state, &group.attached_policy_arns);
    });
    let roles: Vec<_> = if wants("Role") {
        state.roles_of_account(account, None).cloned().collect()
    } else {
        Vec::new()
    };
    out.list("RoleDetailList", &roles, |out, role| {
        out.element("Path", &role.path)
            .element("RoleName", &role.name)
            .element("RoleId", &role.id)
            .element("Arn", &role.arn())
            .element("CreateDate", &timestamp(role.created))
            .element(
                "AssumeRolePolicyDocument",
                &encode_policy_document(&role.trust_policy),
            );
        out.list("InstanceProfileList", std::iter::empty::<()>(), |_, _| {});
        write_inline_list(out, "RolePolicyList", &role.inline_policies);
        write_attached_list(out, &state, &role.attached_policy_arns);
        write_boundary(out, role.permissions_boundary.as_ref());
        if !role.tags.is_empty() {
            write_tags(out, &role.tags);
        }
    });
    // The account's own policies, and the AWS managed policies it uses.
    let counts = latchkey_core::policies::usage_counts(&state, account);
    let mut policies: Vec<_> = Vec::new();
    if wants("LocalManagedPolicy") {
        policies.extend(state.policies_of_owner(account, None).cloned());
    }
    if wants("AWSManagedPolicy") {
        policies.extend(
            state
                .policies_of_owner(latchkey_core::catalog::AWS_OWNER, None)
                .filter(|p| counts.contains_key(&p.arn))
                .cloned(),
        );
    }
    out.list("Policies", &policies, |out, policy| {
        let usage = counts.get(&policy.arn).copied().unwrap_or_default();
        write_policy(out, policy, usage, false);
        out.list("PolicyVersionList", &policy.versions, |out, version| {
            write_version(out, policy, version, true)
        });
    });
    out.element("IsTruncated", "false");
    Ok(())
}

/// Runs the operation and writes its result; `false` when the operation has no output.
pub(super) fn run(
    op: Operation,
    directory: &Directory,
    account: &str,
    params: &QueryRequest,
    out: &mut XmlResponse,
) -> Result<bool, IamError> {
    match op {
        Operation::CreateGroup => {
            let group = directory.create_group(
                account,
                required(params, "GroupName")?,
                params.get("Path"),
            )?;
            out.open("Group");
            write_group(out, &group);
            out.close("Group");
        }
        Operation::GetGroup => {
            let (group, members) = directory.group_members(
                account,
                required(params, "GroupName")?,
                marker(params)?,
                max_items(params)?,
            )?;
            out.open("Group");
            write_group(out, &group);
            out.close("Group");
            out.list("Users", &members.items, |out, user| {
                write_user_fields(out, user, false)
            });
            write_page_end(out, &members);
        }
        Operation::ListGroups => {
            let page = directory.list_groups(
                account,
                params.get("PathPrefix"),
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("Groups", &page.items, |out, group| write_group(out, group));
            write_page_end(out, &page);
        }
        Operation::UpdateGroup => {
            directory.update_group(
                account,
                required(params, "GroupName")?,
                params.get("NewGroupName"),
                params.get("NewPath"),
            )?;
            return Ok(false);
        }
        Operation::DeleteGroup => {
            directory.delete_group(account, required(params, "GroupName")?)?;
            return Ok(false);
        }
        Operation::AddUserToGroup => {
            directory.add_user_to_group(
                account,
                required(params, "GroupName")?,
                required(params, "UserName")?,
            )?;
            return Ok(false);
        }
        Operation::RemoveUserFromGroup => {
            directory.remove_user_from_group(
                account,
                required(params, "GroupName")?,
                required(params, "UserName")?,
            )?;
            return Ok(false);
        }
        Operation::ListGroupsForUser => {
            let groups = directory.groups_for_user(account, required(params, "UserName")?)?;
            let page = paginate_by_offset(&groups, marker(params)?, max_items(params)?)?;
            out.list("Groups", &page.items, |out, group| write_group(out, group));
            write_page_end(out, &page);
        }
        Operation::CreatePolicy => {
            let policy = directory.create_policy(
                account,
                required(params, "PolicyName")?,
                params.get("Path"),
                required(params, "PolicyDocument")?,
                params.get("Description"),
                tags(params, "Tags")?,
            )?;
            out.open("Policy");
            write_policy(out, &policy, UsageCount::default(), true);
            out.close("Policy");
        }
        Operation::GetPolicy => {
            let arn = required(params, "PolicyArn")?;
            let policy = directory.policy(account, arn)?;
            out.open("Policy");
            write_policy(out, &policy, usage_of(directory, account, arn), true);
            out.close("Policy");
        }
        Operation::ListPolicies => {
            let scope = match params.get("Scope").unwrap_or("All") {
                "All" => Scope::All,
                "AWS" => Scope::Aws,
                "Local" => Scope::Local,
                other => {
                    return Err(IamError::new(
                        ErrorCode::ValidationError,
                        format!(
                            "1 validation error detected: Value '{other}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
                        ),
                    ));
                }
            };
            let page = directory.list_policies(
                account,
                scope,
                params
                    .bool("OnlyAttached")
                    .map_err(invalid)?
                    .unwrap_or(false),
                params.get("PathPrefix"),
                usage_filter(params)?,
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("Policies", &page.items, |out, (policy, usage)| {
                write_policy(out, policy, *usage, false)
            });
            write_page_end(out, &page);
        }
        Operation::DeletePolicy => {
            directory.delete_policy(account, required(params, "PolicyArn")?)?;
            return Ok(false);
        }
        Operation::CreatePolicyVersion => {
            let arn = required(params, "PolicyArn")?;
            let version = directory.create_policy_version(
                account,
                arn,
                required(params, "PolicyDocument")?,
                params
                    .bool("SetAsDefault")
                    .map_err(invalid)?
                    .unwrap_or(false),
            )?;
            let policy = directory.policy(account, arn)?;
            out.open("PolicyVersion");
            write_version(out, &policy, &version, false);
            out.close("PolicyVersion");
        }
        Operation::GetPolicyVersion => {
            let (policy, version) = directory.policy_version(
                account,
                required(params, "PolicyArn")?,
                required(params, "VersionId")?,
            )?;
            out.open("PolicyVersion");
            write_version(out, &policy, &version, true);
            out.close("PolicyVersion");
        }
        Operation::ListPolicyVersions => {
            let policy = directory.policy(account, required(params, "PolicyArn")?)?;
            let mut versions = policy.versions.clone();
            // Newest first, as IAM lists them.
            versions.reverse();
            let page = paginate_by_offset(&versions, marker(params)?, max_items(params)?)?;
            out.list("Versions", &page.items, |out, version| {
                write_version(out, &policy, version, false)
            });
            write_page_end(out, &page);
        }
        Operation::DeletePolicyVersion => {
            directory.delete_policy_version(
                account,
                required(params, "PolicyArn")?,
                required(params, "VersionId")?,
            )?;
            return Ok(false);
        }
        Operation::SetDefaultPolicyVersion => {
            directory.set_default_policy_version(
                account,
                required(params, "PolicyArn")?,
                required(params, "VersionId")?,
            )?;
            return Ok(false);
        }
        Operation::TagPolicy => {
            directory.tag_policy(
                account,
                required(params, "PolicyArn")?,
                tags(params, "Tags")?,
            )?;
            return Ok(false);
        }
        Operation::UntagPolicy => {
            directory.untag_policy(account, required(params, "PolicyArn")?, tag_keys(params)?)?;
            return Ok(false);
        }
        Operation::ListPolicyTags => {
            let policy = directory.policy(account, required(params, "PolicyArn")?)?;
            let page = paginate_by_offset(&policy.tags, marker(params)?, max_items(params)?)?;
            write_tags(out, &page.items);
            write_page_end(out, &page);
        }
        Operation::AttachUserPolicy
        | Operation::AttachGroupPolicy
        | Operation::AttachRolePolicy => {
            directory.attach_policy(
                account,
                target(op, params)?,
                required(params, "PolicyArn")?,
            )?;
            return Ok(false);
        }
        Operation::DetachUserPolicy
        | Operation::DetachGroupPolicy
        | Operation::DetachRolePolicy => {
            directory.detach_policy(
                account,
                target(op, params)?,
                required(params, "PolicyArn")?,
            )?;
            return Ok(false);
        }
        Operation::ListAttachedUserPolicies
        | Operation::ListAttachedGroupPolicies
        | Operation::ListAttachedRolePolicies => {
            let policies = directory.attached_policies(
                account,
                target(op, params)?,
                params.get("PathPrefix"),
            )?;
            write_attached(out, &policies, params)?;
        }
        Operation::ListEntitiesForPolicy => {
            let filter = params.get("EntityFilter");
            let entities = directory.entities_for_policy(
                account,
                required(params, "PolicyArn")?,
                usage_filter(params)?,
            )?;
            let wants = |kind: &str| filter.is_none_or(|f| f == kind);
            let groups = if wants("Group") {
                entities.groups
            } else {
                Vec::new()
            };
            let users = if wants("User") {
                entities.users
            } else {
                Vec::new()
            };
            out.list("PolicyGroups", &groups, |out, (name, id)| {
                out.element("GroupName", name).element("GroupId", id);
            });
            out.list("PolicyUsers", &users, |out, (name, id)| {
                out.element("UserName", name).element("UserId", id);
            });
            let roles = if wants("Role") {
                entities.roles
            } else {
                Vec::new()
            };
            out.list("PolicyRoles", &roles, |out, (name, id)| {
                out.element("RoleName", name).element("RoleId", id);
            });
            out.element("IsTruncated", "false");
        }
        Operation::PutUserPolicy | Operation::PutGroupPolicy | Operation::PutRolePolicy => {
            directory.put_inline_policy(
                account,
                target(op, params)?,
                required(params, "PolicyName")?,
                required(params, "PolicyDocument")?,
            )?;
            return Ok(false);
        }
        Operation::GetUserPolicy | Operation::GetGroupPolicy | Operation::GetRolePolicy => {
            let target = target(op, params)?;
            let policy =
                directory.inline_policy(account, target, required(params, "PolicyName")?)?;
            let (element, name) = match target {
                Target::User(name) => ("UserName", name),
                Target::Group(name) => ("GroupName", name),
                Target::Role(name) => ("RoleName", name),
            };
            out.element(element, name)
                .element("PolicyName", &policy.name)
                .element("PolicyDocument", &encode_policy_document(&policy.document));
        }
        Operation::ListUserPolicies
        | Operation::ListGroupPolicies
        | Operation::ListRolePolicies => {
            let names = directory.inline_policy_names(account, target(op, params)?)?;
            write_policy_names(out, &names, params)?;
        }
        Operation::DeleteUserPolicy
        | Operation::DeleteGroupPolicy
        | Operation::DeleteRolePolicy => {
            directory.delete_inline_policy(
                account,
                target(op, params)?,
                required(params, "PolicyName")?,
            )?;
            return Ok(false);
        }
        Operation::CreateRole => {
            let role = directory.create_role(
                account,
                NewRole {
                    name: required(params, "RoleName")?,
                    path: params.get("Path"),
                    trust_policy: required(params, "AssumeRolePolicyDocument")?,
                    description: params.get("Description"),
                    max_session_duration: params
                        .int_in("MaxSessionDuration", 3600, 43200)
                        .map_err(invalid)?
                        .map(|d| d as u32),
                    tags: tags(params, "Tags")?,
                    permissions_boundary: params.get("PermissionsBoundary"),
                },
            )?;
            out.open("Role");
            write_role(out, &role, true);
            out.close("Role");
        }
        Operation::GetRole => {
            let role = directory.role(account, required(params, "RoleName")?)?;
            out.open("Role");
            write_role(out, &role, true);
            out.close("Role");
        }
        Operation::ListRoles => {
            let page = directory.list_roles(
                account,
                params.get("PathPrefix"),
                marker(params)?,
                max_items(params)?,
            )?;
            out.list("Roles", &page.items, |out, role| {
                write_role(out, role, false)
            });
            write_page_end(out, &page);
        }
        Operation::UpdateRole => {
            directory.update_role(
                account,
                required(params, "RoleName")?,
                params.get("Description"),
                params
                    .int_in("MaxSessionDuration", 3600, 43200)
                    .map_err(invalid)?
                    .map(|d| d as u32),
            )?;
            // UpdateRole, unlike the other updates, has an (empty) output shape.
        }
        Operation::UpdateRoleDescription => {
            let name = required(params, "RoleName")?;
            directory.update_role(account, name, Some(required(params, "Description")?), None)?;
            let role = directory.role(account, name)?;
            out.open("Role");
            write_role(out, &role, true);
            out.close("Role");
        }
        Operation::UpdateAssumeRolePolicy => {
            directory.update_assume_role_policy(
                account,
                required(params, "RoleName")?,
                required(params, "PolicyDocument")?,
            )?;
            return Ok(false);
        }
        Operation::DeleteRole => {
            directory.delete_role(account, required(params, "RoleName")?)?;
            return Ok(false);
        }
        Operation::TagRole => {
            directory.tag_role(
                account,
                required(params, "RoleName")?,
                tags(params, "Tags")?,
            )?;
            return Ok(false);
        }
        Operation::UntagRole => {
            directory.untag_role(account, required(params, "RoleName")?, tag_keys(params)?)?;
            return Ok(false);
        }
        Operation::ListRoleTags => {
            let role = directory.role(account, required(params, "RoleName")?)?;
            let page = paginate_by_offset(&role.tags, marker(params)?, max_items(params)?)?;
            write_tags(out, &page.items);
            write_page_end(out, &page);
        }
        Operation::PutRolePermissionsBoundary => {
            directory.set_role_boundary(
                account,
                required(params, "RoleName")?,
                Some(required(params, "PermissionsBoundary")?),
            )?;
            return Ok(false);
        }
        Operation::DeleteRolePermissionsBoundary => {
            directory.set_role_boundary(account, required(params, "RoleName")?, None)?;
            return Ok(false);
        }
        Operation::PutUserPermissionsBoundary => {
            directory.set_user_boundary(
                account,
                required(params, "UserName")?,
                Some(required(params, "PermissionsBoundary")?),
            )?;
            return Ok(false);
        }
        Operation::DeleteUserPermissionsBoundary => {
            directory.set_user_boundary(account, required(params, "UserName")?, None)?;
            return Ok(false);
        }
        Operation::GetAccountAuthorizationDetails => {
            write_authorization_details(directory, account, params, out)?;
        }
        other => {
            return Err(IamError::new(
                ErrorCode::InvalidAction,
                format!("Could not find operation {}", other.name()),
            ));
        }
    }
    Ok(true)
}
