//! IAM roles: trust policies, session duration limits, tags and boundaries.

use std::sync::Arc;

use latchkey_policy::{Policy, PolicyKind, quota};

use crate::directory::{Page, check_tag_quota, decode_marker, now, paginate};
use crate::error::{ErrorCode, IamError};
use crate::ids::{self, IdKind};
use crate::model::{Role, Tag};
use crate::store::{Change, RoleRow};
use crate::{Directory, validate};

/// Allowed `MaxSessionDuration` values, in seconds.
pub const MAX_SESSION_DURATION: std::ops::RangeInclusive<u32> = 3600..=43200;

pub(crate) fn no_such_role(name: &str) -> IamError {
    IamError::new(
        ErrorCode::NoSuchEntity,
        format!("The role with name {name} cannot be found."),
    )
}

/// The named role, if IAM may change it: not one that Identity Center provisioned.
fn modifiable_role<'a>(
    state: &'a crate::state::State,
    account_id: &str,
    name: &str,
) -> Result<&'a Arc<Role>, IamError> {
    let role = state
        .role_by_name(account_id, name)
        .ok_or_else(|| no_such_role(name))?;
    crate::ssoadmin::check_role_modifiable(role)?;
    Ok(role)
}

fn check_trust_policy(document: &str) -> Result<(), IamError> {
    if quota::non_whitespace_len(document) > quota::TRUST_POLICY {
        return Err(IamError::new(
            ErrorCode::LimitExceeded,
            format!(
                "Cannot exceed quota for ACLSizePerRole: {}",
                quota::TRUST_POLICY
            ),
        ));
    }
    Policy::parse(document, PolicyKind::Trust)
        .map(|_| ())
        .map_err(|e| IamError::new(ErrorCode::MalformedPolicyDocument, e.message))
}

fn check_max_session(seconds: u32) -> Result<(), IamError> {
    if MAX_SESSION_DURATION.contains(&seconds) {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value '{seconds}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200"
            ),
        ))
    }
}

fn check_description(description: Option<&str>) -> Result<(), IamError> {
    if description.is_some_and(|d| d.chars().count() > 1000) {
        return Err(IamError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
        ));
    }
    Ok(())
}

/// What CreateRole takes besides the account.
#[derive(Debug, Default)]
pub struct NewRole<'a> {
    pub name: &'a str,
    pub path: Option<&'a str>,
    pub trust_policy: &'a str,
    pub description: Option<&'a str>,
    pub max_session_duration: Option<u32>,
    pub tags: Vec<Tag>,
    pub permissions_boundary: Option<&'a str>,
}

impl Directory {
    pub fn create_role(&self, account_id: &str, new: NewRole<'_>) -> Result<Arc<Role>, IamError> {
        validate::user_name("roleName", new.name)?;
        let path = new.path.unwrap_or("/");
        validate::path("path", path)?;
        // A role made there would be protected like a provisioned one, and so could never
        // be changed or deleted again.
        if path.starts_with(crate::ssoadmin::RESERVED_ROLE_PATH) {
            return Err(IamError::new(
                ErrorCode::InvalidInput,
                format!(
                    "The path {path} is reserved for roles that IAM Identity Center provisions."
                ),
            ));
        }
        validate::tags(&new.tags)?;
        check_tag_quota(&[], &new.tags)?;
        check_description(new.description)?;
        let max_session_duration = new.max_session_duration.unwrap_or(3600);
        check_max_session(max_session_duration)?;
        check_trust_policy(new.trust_policy)?;
        let (role_id, state) = self.write(|state| {
            if state.role_by_name(account_id, new.name).is_some() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("Role with name {} already exists.", new.name),
                ));
            }
            let id = ids::new_unique_id(IdKind::Role);
            let mut changes = vec![Change::CreateRole(RoleRow {
                id: id.clone(),
                account_id: account_id.to_owned(),
                name: new.name.to_owned(),
                path: path.to_owned(),
                description: new.description.map(str::to_owned),
                trust_policy: new.trust_policy.to_owned(),
                max_session_duration,
                created: now(),
            })];
            if !new.tags.is_empty() {
                changes.push(Change::SetRoleTags {
                    role_id: id.clone(),
                    tags: new.tags.clone(),
                });
            }
            if let Some(arn) = new.permissions_boundary {
                crate::policies::check_boundary(state, account_id, arn)?;
                changes.push(Change::SetRoleBoundary {
                    role_id: id.clone(),
                    policy_arn: Some(arn.to_owned()),
                });
            }
            Ok((changes, id))
        })?;
        state
            .roles
            .get(&role_id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn role(&self, account_id: &str, name: &str) -> Result<Arc<Role>, IamError> {
        self.snapshot()
            .role_by_name(account_id, name)
            .cloned()
            .ok_or_else(|| no_such_role(name))
    }

    pub fn list_roles(
        &self,
        account_id: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Page<Arc<Role>>, IamError> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let from = marker.map(decode_marker).transpose()?;
        let state = self.snapshot();
        let roles = state
            .roles_of_account(account_id, from.as_deref())
            .filter(|r| r.path.starts_with(prefix))
            .cloned();
        Ok(paginate(roles, max_items, |r| r.name.to_lowercase()))
    }

    /// UpdateRole and UpdateRoleDescription: `None` leaves a field as it is.
    pub fn update_role(
        &self,
        account_id: &str,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<u32>,
    ) -> Result<(), IamError> {
        check_description(description)?;
        if let Some(seconds) = max_session_duration {
            check_max_session(seconds)?;
        }
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            Ok((
                vec![Change::UpdateRole {
                    role_id: role.id.clone(),
                    description: description
                        .map(str::to_owned)
                        .or_else(|| role.description.clone()),
                    max_session_duration: max_session_duration.unwrap_or(role.max_session_duration),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn update_assume_role_policy(
        &self,
        account_id: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        check_trust_policy(document)?;
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            Ok((
                vec![Change::UpdateAssumeRolePolicy {
                    role_id: role.id.clone(),
                    document: document.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn delete_role(&self, account_id: &str, name: &str) -> Result<(), IamError> {
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            let conflict = if !role.attached_policy_arns.is_empty() {
                Some("Cannot delete entity, must detach all policies first.")
            } else if !role.inline_policies.is_empty() {
                Some("Cannot delete entity, must delete policies first.")
            } else {
                None
            };
            if let Some(message) = conflict {
                return Err(IamError::new(ErrorCode::DeleteConflict, message));
            }
            Ok((
                vec![Change::DeleteRole {
                    role_id: role.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn tag_role(&self, account_id: &str, name: &str, tags: Vec<Tag>) -> Result<(), IamError> {
        validate::tags(&tags)?;
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            check_tag_quota(&role.tags, &tags)?;
            Ok((
                vec![Change::SetRoleTags {
                    role_id: role.id.clone(),
                    tags: tags.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn untag_role(
        &self,
        account_id: &str,
        name: &str,
        keys: Vec<String>,
    ) -> Result<(), IamError> {
        for key in &keys {
            validate::tag_key(key)?;
        }
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            Ok((
                vec![Change::RemoveRoleTags {
                    role_id: role.id.clone(),
                    keys: keys.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn set_role_boundary(
        &self,
        account_id: &str,
        name: &str,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let role = modifiable_role(state, account_id, name)?;
            if let Some(arn) = arn {
                crate::policies::check_boundary(state, account_id, arn)?;
            } else if role.permissions_boundary.is_none() {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("The role {name} does not have a permissions boundary."),
                ));
            }
            Ok((
                vec![Change::SetRoleBoundary {
                    role_id: role.id.clone(),
                    policy_arn: arn.map(str::to_owned),
                }],
                (),
            ))
        })?;
        Ok(())
    }
}
