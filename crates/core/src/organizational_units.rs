//! The organization's tree: its one root (derived from the management account, as the
//! organization id is), organizational units (OUs) nested at most [`MAX_OU_DEPTH`] deep under
//! it, and the place of every account. An account not placed in an OU is directly under the
//! root, where CreateAccount puts it. See docs/design/organizations.md.

use std::sync::Arc;

use imbl::HashMap;

use crate::directory::{now, store_failure};
use crate::error::{ErrorCode, IamError};
use crate::ids;
use crate::model::{Account, Tag};
use crate::state::{ApplyError, State};
use crate::store::{Change, OrganizationalUnitRow, StoreError};
use crate::{Directory, validate};

/// How many levels of OUs may sit under the root (AWS's quota).
pub const MAX_OU_DEPTH: usize = 5;
/// The most tags CreateOrganizationalUnit accepts.
pub const TAGS_PER_OU: usize = 50;

/// The OUs and the accounts placed in them, in the snapshot.
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    pub units: HashMap<String, Arc<OrganizationalUnitRow>>,
    /// Account id → the OU it is in; an account not here is directly under the root.
    pub account_parents: HashMap<String, String>,
}

impl OrgTree {
    pub(crate) fn create(&mut self, row: &OrganizationalUnitRow) -> Result<(), ApplyError> {
        if let Some(parent) = &row.parent_id
            && !self.units.contains_key(parent)
        {
            return Err(ApplyError::Missing("organizational unit"));
        }
        self.units.insert(row.id.clone(), Arc::new(row.clone()));
        Ok(())
    }

    pub(crate) fn rename(&mut self, ou_id: &str, name: &str) -> Result<(), ApplyError> {
        let unit = self
            .units
            .get(ou_id)
            .ok_or(ApplyError::Missing("organizational unit"))?;
        let renamed = OrganizationalUnitRow {
            name: name.to_owned(),
            ..OrganizationalUnitRow::clone(unit)
        };
        self.units.insert(ou_id.to_owned(), Arc::new(renamed));
        Ok(())
    }

    pub(crate) fn delete(&mut self, ou_id: &str) -> Result<(), ApplyError> {
        self.units
            .remove(ou_id)
            .map(drop)
            .ok_or(ApplyError::Missing("organizational unit"))
    }

    pub(crate) fn move_account(
        &mut self,
        account_id: &str,
        to: Option<&String>,
    ) -> Result<(), ApplyError> {
        match to {
            None => {
                self.account_parents.remove(account_id);
            }
            Some(ou_id) => {
                if !self.units.contains_key(ou_id) {
                    return Err(ApplyError::Missing("organizational unit"));
                }
                self.account_parents
                    .insert(account_id.to_owned(), ou_id.clone());
            }
        }
        Ok(())
    }

    /// How many OUs deep `ou_id` is: 1 for an OU directly under the root.
    pub fn depth(&self, ou_id: &str) -> usize {
        let mut depth = 0;
        let mut at = Some(ou_id.to_owned());
        while let Some(id) = at {
            depth += 1;
            at = self.units.get(&id).and_then(|u| u.parent_id.clone());
            if depth > MAX_OU_DEPTH + 1 {
                break;
            }
        }
        depth
    }

    /// The OUs directly under `parent` (`None`: the root), oldest first.
    pub fn units_under(&self, parent: Option<&str>) -> Vec<Arc<OrganizationalUnitRow>> {
        let mut units: Vec<_> = self
            .units
            .values()
            .filter(|u| u.parent_id.as_deref() == parent)
            .cloned()
            .collect();
        units.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        units
    }

    /// The OU an account is in; `None` for the root.
    pub fn parent_of_account(&self, account_id: &str) -> Option<&String> {
        self.account_parents.get(account_id)
    }

    /// The OU ids from the root down to `ou_id`, itself included.
    pub fn path_to(&self, ou_id: &str) -> Vec<String> {
        let mut path = Vec::new();
        let mut at = Some(ou_id.to_owned());
        while let Some(id) = at {
            at = self.units.get(&id).and_then(|u| u.parent_id.clone());
            path.push(id);
            if path.len() > MAX_OU_DEPTH {
                break;
            }
        }
        path.reverse();
        path
    }
}

impl State {
    /// The accounts directly under `parent` (`None`: the root), in creation order.
    pub fn accounts_under(&self, parent: Option<&str>) -> Vec<Arc<Account>> {
        self.accounts_in_order()
            .into_iter()
            .filter(|a| {
                self.organization
                    .parent_of_account(&a.id)
                    .map(String::as_str)
                    == parent
            })
            .collect()
    }
}

/// The root's id (`r-` + 4 characters), derived from the management account so every
/// instance agrees, as the organization id is.
pub fn root_id(management_account_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("latchkey-root/{management_account_id}").as_bytes());
    let suffix: String = digest
        .iter()
        .take(4)
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
        .collect();
    format!("r-{suffix}")
}

fn ou_not_found() -> IamError {
    IamError::new(
        ErrorCode::OrganizationalUnitNotFound,
        "We can't find an OU with the OrganizationalUnitId that you specified.",
    )
}

pub fn parent_not_found() -> IamError {
    IamError::new(
        ErrorCode::ParentNotFound,
        "We can't find a root or OU with the ParentId that you specified.",
    )
}

fn duplicate_ou() -> IamError {
    IamError::new(
        ErrorCode::DuplicateOrganizationalUnit,
        "An OU with the same name already exists.",
    )
}

fn not_empty() -> IamError {
    IamError::new(
        ErrorCode::OrganizationalUnitNotEmpty,
        "The specified OU is not empty. Move all accounts to another root or to other OUs, remove all child OUs, and try the operation again.",
    )
}

pub fn account_not_found() -> IamError {
    IamError::new(
        ErrorCode::AccountNotFound,
        "We can't find an AWS account with the AccountId that you specified, or the account whose credentials you used to make this request isn't a member of an organization.",
    )
}

fn concurrent() -> IamError {
    IamError::new(
        ErrorCode::ConcurrentModification,
        "The target of the operation is currently being modified by a different request. Try again later.",
    )
}

/// An InvalidInputException with its reason.
pub fn invalid_input(reason: &'static str, message: impl Into<String>) -> IamError {
    IamError::new(ErrorCode::InvalidInput, message).with_field("Reason", reason)
}

fn check_name(name: &str) -> Result<(), IamError> {
    match name.chars().count() {
        0 => Err(invalid_input(
            "MIN_LENGTH_EXCEEDED",
            "You provided a value that is too short for the Name parameter.",
        )),
        1..=128 => Ok(()),
        _ => Err(invalid_input(
            "MAX_LENGTH_EXCEEDED",
            "You provided a value that is too long for the Name parameter.",
        )),
    }
}

fn create_refused(error: StoreError) -> IamError {
    match error {
        StoreError::AlreadyExists => duplicate_ou(),
        StoreError::NotFound => parent_not_found(),
        other => store_failure(other),
    }
}

fn rename_refused(error: StoreError) -> IamError {
    match error {
        StoreError::AlreadyExists => duplicate_ou(),
        StoreError::NotFound => ou_not_found(),
        other => store_failure(other),
    }
}

fn delete_refused(error: StoreError) -> IamError {
    match error {
        StoreError::DeleteConflict => not_empty(),
        StoreError::NotFound => ou_not_found(),
        other => store_failure(other),
    }
}

fn move_refused(error: StoreError) -> IamError {
    match error {
        // The account left the source, or the destination went, since the check.
        StoreError::NotFound => concurrent(),
        other => store_failure(other),
    }
}

impl Directory {
    /// CreateOrganizationalUnit under `parent` (`None`: the root).
    pub fn create_organizational_unit(
        &self,
        parent: Option<&str>,
        name: &str,
        tags: Vec<Tag>,
    ) -> Result<Arc<OrganizationalUnitRow>, IamError> {
        check_name(name)?;
        for (index, tag) in tags.iter().enumerate() {
            if tags[..index]
                .iter()
                .any(|t| t.key.eq_ignore_ascii_case(&tag.key))
            {
                return Err(invalid_input(
                    "DUPLICATE_TAG_KEY",
                    "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
                ));
            }
        }
        validate::tags(&tags).map_err(|e| invalid_input("INVALID_LIST_MEMBER", e.message))?;
        if tags.len() > TAGS_PER_OU {
            return Err(IamError::new(
                ErrorCode::ConstraintViolation,
                "You have exceeded the maximum number of tags allowed on this resource.",
            )
            .with_field("Reason", "MAX_TAG_LIMIT_EXCEEDED"));
        }
        let (id, state) = self.write_or(
            |state| {
                let management = state
                    .management_account()
                    .ok_or_else(IamError::service_failure)?;
                let tree = &state.organization;
                if let Some(parent) = parent {
                    if !tree.units.contains_key(parent) {
                        return Err(parent_not_found());
                    }
                    if tree.depth(parent) >= MAX_OU_DEPTH {
                        return Err(IamError::new(
                            ErrorCode::ConstraintViolation,
                            "You attempted to create an OU tree that is too many levels deep.",
                        )
                        .with_field("Reason", "OU_DEPTH_LIMIT_EXCEEDED"));
                    }
                }
                if tree.units_under(parent).iter().any(|u| u.name == name) {
                    return Err(duplicate_ou());
                }
                let root = root_id(&management.id);
                let suffix = root.trim_start_matches("r-");
                let id = loop {
                    let id = format!("ou-{suffix}-{}", ids::random_lowercase(8));
                    if !tree.units.contains_key(&id) {
                        break id;
                    }
                };
                let row = OrganizationalUnitRow {
                    id: id.clone(),
                    parent_id: parent.map(str::to_owned),
                    name: name.to_owned(),
                    tags,
                    created: now(),
                };
                Ok((vec![Change::CreateOrganizationalUnit(row)], id))
            },
            create_refused,
        )?;
        state
            .organization
            .units
            .get(&id)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn organizational_unit(&self, ou_id: &str) -> Result<Arc<OrganizationalUnitRow>, IamError> {
        self.snapshot()
            .organization
            .units
            .get(ou_id)
            .cloned()
            .ok_or_else(ou_not_found)
    }

    /// UpdateOrganizationalUnit: renames it (unchanged without a name).
    pub fn rename_organizational_unit(
        &self,
        ou_id: &str,
        name: Option<&str>,
    ) -> Result<Arc<OrganizationalUnitRow>, IamError> {
        if let Some(name) = name {
            check_name(name)?;
        }
        let ((), state) = self.write_or(
            |state| {
                let tree = &state.organization;
                let unit = tree.units.get(ou_id).ok_or_else(ou_not_found)?;
                let Some(name) = name.filter(|n| *n != unit.name) else {
                    return Ok((Vec::new(), ()));
                };
                if tree
                    .units_under(unit.parent_id.as_deref())
                    .iter()
                    .any(|u| u.name == name)
                {
                    return Err(duplicate_ou());
                }
                Ok((
                    vec![Change::RenameOrganizationalUnit {
                        ou_id: ou_id.to_owned(),
                        name: name.to_owned(),
                    }],
                    (),
                ))
            },
            rename_refused,
        )?;
        state
            .organization
            .units
            .get(ou_id)
            .cloned()
            .ok_or_else(ou_not_found)
    }

    /// DeleteOrganizationalUnit: only an empty OU (no OUs, no accounts in it).
    pub fn delete_organizational_unit(&self, ou_id: &str) -> Result<(), IamError> {
        self.write_or(
            |state| {
                let tree = &state.organization;
                if !tree.units.contains_key(ou_id) {
                    return Err(ou_not_found());
                }
                if !tree.units_under(Some(ou_id)).is_empty()
                    || tree.account_parents.values().any(|p| p == ou_id)
                {
                    return Err(not_empty());
                }
                Ok((
                    vec![Change::DeleteOrganizationalUnit {
                        ou_id: ou_id.to_owned(),
                    }],
                    (),
                ))
            },
            delete_refused,
        )
        .map(drop)
    }

    /// MoveAccount from `from` to `to` (`None`: the root), which the caller has found to be
    /// this organization's root or an id of OU form.
    pub fn move_account(
        &self,
        account_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(), IamError> {
        self.write_or(
            |state| {
                let tree = &state.organization;
                if let Some(from) = from
                    && !tree.units.contains_key(from)
                {
                    return Err(IamError::new(
                        ErrorCode::SourceParentNotFound,
                        "We can't find a source root or OU with the ParentId that you specified.",
                    ));
                }
                if let Some(to) = to
                    && !tree.units.contains_key(to)
                {
                    return Err(IamError::new(
                        ErrorCode::DestinationParentNotFound,
                        "We can't find the destination container (a root or OU) with the ParentId that you specified.",
                    ));
                }
                if !state.accounts.contains_key(account_id)
                    || tree.parent_of_account(account_id).map(String::as_str) != from
                {
                    return Err(account_not_found());
                }
                if from == to {
                    return Err(IamError::new(
                        ErrorCode::DuplicateAccount,
                        "That account is already present in the specified destination.",
                    ));
                }
                Ok((
                    vec![Change::MoveAccount {
                        account_id: account_id.to_owned(),
                        from: from.map(str::to_owned),
                        to: to.map(str::to_owned),
                    }],
                    (),
                ))
            },
            move_refused,
        )
        .map(drop)
    }
}
