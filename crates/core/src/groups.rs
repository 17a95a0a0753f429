//! Groups and their members.

use std::sync::Arc;

use crate::directory::{Page, decode_marker, now, paginate};
use crate::error::{ErrorCode, IamError};
use crate::ids::{self, IdKind};
use crate::model::{Group, User};
use crate::store::{Change, GroupRow};
use crate::{Directory, validate};

pub(crate) fn no_such_group(name: &str) -> IamError {
    IamError::new(
        ErrorCode::NoSuchEntity,
        format!("The group with name {name} cannot be found."),
    )
}

impl Directory {
    pub fn create_group(
        &self,
        account_id: &str,
        name: &str,
        path: Option<&str>,
    ) -> Result<Arc<Group>, IamError> {
        validate::name_128("groupName", name)?;
        let path = path.unwrap_or("/");
        validate::path("path", path)?;
        let (group_id, state) = self.write(|state| {
            if state.group_by_name(account_id, name).is_some() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("Group with name {name} already exists."),
                ));
            }
            let id = ids::new_unique_id(IdKind::Group);
            Ok((
                vec![Change::CreateGroup(GroupRow {
                    id: id.clone(),
                    account_id: account_id.to_owned(),
                    name: name.to_owned(),
                    path: path.to_owned(),
                    created: now(),
                })],
                id,
            ))
        })?;
        state
            .group(&group_id)
            .map_err(|_| IamError::service_failure())
    }

    pub fn group(&self, account_id: &str, name: &str) -> Result<Arc<Group>, IamError> {
        self.snapshot()
            .group_by_name(account_id, name)
            .cloned()
            .ok_or_else(|| no_such_group(name))
    }

    /// The group's members in name order, one page at a time (GetGroup).
    pub fn group_members(
        &self,
        account_id: &str,
        name: &str,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<(Arc<Group>, Page<Arc<User>>), IamError> {
        let state = self.snapshot();
        let group = state
            .group_by_name(account_id, name)
            .cloned()
            .ok_or_else(|| no_such_group(name))?;
        let from = marker.map(decode_marker).transpose()?;
        let mut members: Vec<Arc<User>> = group
            .member_ids
            .iter()
            .filter_map(|id| state.users.get(id).cloned())
            .collect();
        members.sort_by_key(|u| u.name.to_lowercase());
        let members = members.into_iter().filter(|u| {
            from.as_deref()
                .is_none_or(|from| u.name.to_lowercase().as_str() >= from)
        });
        let page = paginate(members, max_items, |u| u.name.to_lowercase());
        Ok((group, page))
    }

    pub fn list_groups(
        &self,
        account_id: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Page<Arc<Group>>, IamError> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let from = marker.map(decode_marker).transpose()?;
        let state = self.snapshot();
        let groups = state
            .groups_of_account(account_id, from.as_deref())
            .filter(|g| g.path.starts_with(prefix))
            .cloned();
        Ok(paginate(groups, max_items, |g| g.name.to_lowercase()))
    }

    pub fn update_group(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        if let Some(new_name) = new_name {
            validate::name_128("newGroupName", new_name)?;
        }
        if let Some(new_path) = new_path {
            validate::path("newPath", new_path)?;
        }
        self.write(|state| {
            let group = state
                .group_by_name(account_id, name)
                .ok_or_else(|| no_such_group(name))?;
            let target = new_name.unwrap_or(&group.name);
            if let Some(other) = state.group_by_name(account_id, target)
                && other.id != group.id
            {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("Group with name {target} already exists."),
                ));
            }
            Ok((
                vec![Change::RenameGroup {
                    group_id: group.id.clone(),
                    name: target.to_owned(),
                    path: new_path.unwrap_or(&group.path).to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn delete_group(&self, account_id: &str, name: &str) -> Result<(), IamError> {
        self.write(|state| {
            let group = state
                .group_by_name(account_id, name)
                .ok_or_else(|| no_such_group(name))?;
            let conflict = if !group.member_ids.is_empty() {
                Some("Cannot delete entity, must remove users from group first.")
            } else if !group.attached_policy_arns.is_empty() {
                Some("Cannot delete entity, must detach all policies first.")
            } else if !group.inline_policies.is_empty() {
                Some("Cannot delete entity, must delete policies first.")
            } else {
                None
            };
            if let Some(message) = conflict {
                return Err(IamError::new(ErrorCode::DeleteConflict, message));
            }
            Ok((
                vec![Change::DeleteGroup {
                    group_id: group.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn add_user_to_group(
        &self,
        account_id: &str,
        group_name: &str,
        user_name: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let group = state
                .group_by_name(account_id, group_name)
                .ok_or_else(|| no_such_group(group_name))?;
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            if group.member_ids.contains(&user.id) {
                // AWS answers success for a user already in the group.
                return Ok((Vec::new(), ()));
            }
            Ok((
                vec![Change::AddUserToGroup {
                    group_id: group.id.clone(),
                    user_id: user.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn remove_user_from_group(
        &self,
        account_id: &str,
        group_name: &str,
        user_name: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let group = state
                .group_by_name(account_id, group_name)
                .ok_or_else(|| no_such_group(group_name))?;
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            if !group.member_ids.contains(&user.id) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "The user with name {user_name} cannot be found in group {group_name}."
                    ),
                ));
            }
            Ok((
                vec![Change::RemoveUserFromGroup {
                    group_id: group.id.clone(),
                    user_id: user.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// The user's groups, in name order.
    pub fn groups_for_user(
        &self,
        account_id: &str,
        user_name: &str,
    ) -> Result<Vec<Arc<Group>>, IamError> {
        let state = self.snapshot();
        let user = state
            .user_by_name(account_id, user_name)
            .ok_or_else(|| IamError::no_such_user(user_name))?;
        let mut groups: Vec<Arc<Group>> = user
            .group_ids
            .iter()
            .filter_map(|id| state.groups.get(id).cloned())
            .collect();
        groups.sort_by_key(|g| g.name.to_lowercase());
        Ok(groups)
    }
}
