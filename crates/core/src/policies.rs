//! Managed policies and their versions, inline policies, attachments and permissions
//! boundaries.

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_policy::{Policy, PolicyKind, quota};

use crate::catalog::AWS_OWNER;
use crate::directory::{Page, check_tag_quota, decode_marker, now, paginate};
use crate::error::{ErrorCode, IamError};
use crate::groups::no_such_group;
use crate::ids::{self, IdKind};
use crate::model::{InlinePolicy, ManagedPolicy, PolicyVersion, Tag};
use crate::state::State;
use crate::store::{
    ATTACHED_POLICIES_PER_ENTITY, Change, Entity, InlinePolicyRow, PolicyRow, PolicyVersionRow,
    VERSIONS_PER_POLICY,
};
use crate::{Directory, validate};

/// A user or group named in a request.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    User(&'a str),
    Group(&'a str),
    Role(&'a str),
}

impl<'a> Target<'a> {
    fn kind(self) -> &'static str {
        match self {
            Target::User(_) => "user",
            Target::Group(_) => "group",
            Target::Role(_) => "role",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Target::User(_) => "User",
            Target::Group(_) => "Group",
            Target::Role(_) => "Role",
        }
    }

    fn entity_name(self) -> &'a str {
        match self {
            Target::User(name) | Target::Group(name) | Target::Role(name) => name,
        }
    }
}

/// Which managed policies ListPolicies returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Aws,
    Local,
}

/// How a policy is used, for ListPolicies' and ListEntitiesForPolicy's usage filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Permissions,
    Boundary,
}

/// The entities a managed policy is attached to (ListEntitiesForPolicy).
#[derive(Debug, Default)]
pub struct PolicyEntities {
    pub groups: Vec<(String, String)>,
    pub users: Vec<(String, String)>,
    pub roles: Vec<(String, String)>,
}

/// Where a policy is used, counted over the whole snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub struct UsageCount {
    pub attachments: usize,
    pub boundaries: usize,
}

fn no_such_policy(arn: &str) -> IamError {
    IamError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} does not exist or is not attachable."),
    )
}

fn malformed(error: latchkey_policy::PolicyError) -> IamError {
    IamError::new(ErrorCode::MalformedPolicyDocument, error.message)
}

/// Parses an identity policy document as IAM does before storing it.
fn check_document(document: &str) -> Result<(), IamError> {
    Policy::parse(document, PolicyKind::Identity)
        .map(|_| ())
        .map_err(malformed)
}

/// CreatePolicy's and CreatePolicyVersion's check of a managed policy document: its size
/// quota, then its grammar. Public so the console's editor validates with the same rules.
pub fn check_managed_document(document: &str) -> Result<(), IamError> {
    if quota::non_whitespace_len(document) > quota::MANAGED_POLICY {
        return Err(IamError::new(
            ErrorCode::LimitExceeded,
            format!(
                "Cannot exceed quota for PolicySize: {}",
                quota::MANAGED_POLICY
            ),
        ));
    }
    check_document(document)
}

fn policy_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:policy{path}{name}")
}

fn entity_of(state: &State, account_id: &str, target: Target<'_>) -> Result<Entity, IamError> {
    match target {
        Target::User(name) => state
            .user_by_name(account_id, name)
            .map(|u| Entity::User(u.id.clone()))
            .ok_or_else(|| IamError::no_such_user(name)),
        Target::Group(name) => state
            .group_by_name(account_id, name)
            .map(|g| Entity::Group(g.id.clone()))
            .ok_or_else(|| no_such_group(name)),
        Target::Role(name) => state
            .role_by_name(account_id, name)
            .map(|r| Entity::Role(r.id.clone()))
            .ok_or_else(|| crate::roles::no_such_role(name)),
    }
}

/// [`entity_of`] for a change: IAM does not change the roles Identity Center provisions.
fn modifiable_entity(
    state: &State,
    account_id: &str,
    target: Target<'_>,
) -> Result<Entity, IamError> {
    let entity = entity_of(state, account_id, target)?;
    if let Entity::Role(id) = &entity
        && let Some(role) = state.roles.get(id)
    {
        crate::ssoadmin::check_role_modifiable(role)?;
    }
    Ok(entity)
}

fn attached_arns<'a>(state: &'a State, entity: &Entity) -> &'a [String] {
    match entity {
        Entity::User(id) => state
            .users
            .get(id)
            .map(|u| u.attached_policy_arns.as_slice()),
        Entity::Group(id) => state
            .groups
            .get(id)
            .map(|g| g.attached_policy_arns.as_slice()),
        Entity::Role(id) => state
            .roles
            .get(id)
            .map(|r| r.attached_policy_arns.as_slice()),
    }
    .unwrap_or_default()
}

fn inline_policies<'a>(state: &'a State, entity: &Entity) -> &'a [InlinePolicy] {
    match entity {
        Entity::User(id) => state.users.get(id).map(|u| u.inline_policies.as_slice()),
        Entity::Group(id) => state.groups.get(id).map(|g| g.inline_policies.as_slice()),
        Entity::Role(id) => state.roles.get(id).map(|r| r.inline_policies.as_slice()),
    }
    .unwrap_or_default()
}

/// The policy, if the account may see it: its own customer policies and AWS's.
fn visible_policy(
    state: &State,
    account_id: &str,
    arn: &str,
) -> Result<Arc<ManagedPolicy>, IamError> {
    state
        .policies
        .get(arn)
        .filter(|p| p.account_id.as_deref().is_none_or(|a| a == account_id))
        .cloned()
        .ok_or_else(|| no_such_policy(arn))
}

/// A customer managed policy of the account, which the account may change.
fn own_policy(state: &State, account_id: &str, arn: &str) -> Result<Arc<ManagedPolicy>, IamError> {
    let policy = visible_policy(state, account_id, arn)?;
    if policy.is_aws_managed() {
        return Err(IamError::new(
            ErrorCode::UnmodifiableEntity,
            format!("Cannot modify the AWS managed policy {arn}."),
        ));
    }
    Ok(policy)
}

/// A boundary must be a managed policy the account can see.
pub(crate) fn check_boundary(state: &State, account_id: &str, arn: &str) -> Result<(), IamError> {
    visible_policy(state, account_id, arn)
        .map(|_| ())
        .map_err(|_| IamError::new(ErrorCode::InvalidInput, format!("ARN {arn} is not valid.")))
}

fn next_version_id(policy: &ManagedPolicy) -> String {
    let highest = policy
        .versions
        .iter()
        .filter_map(|v| v.id.trim_start_matches('v').parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("v{}", highest + 1)
}

/// Counts, for every managed policy, where it is attached and where it is a boundary.
pub fn usage_counts(state: &State, account_id: &str) -> HashMap<String, UsageCount> {
    let mut counts: HashMap<String, UsageCount> = HashMap::new();
    for user in state.users_of_account(account_id, None) {
        for arn in &user.attached_policy_arns {
            counts.entry(arn.clone()).or_default().attachments += 1;
        }
        if let Some(arn) = &user.permissions_boundary {
            counts.entry(arn.clone()).or_default().boundaries += 1;
        }
    }
    for group in state.groups_of_account(account_id, None) {
        for arn in &group.attached_policy_arns {
            counts.entry(arn.clone()).or_default().attachments += 1;
        }
    }
    for role in state.roles_of_account(account_id, None) {
        for arn in &role.attached_policy_arns {
            counts.entry(arn.clone()).or_default().attachments += 1;
        }
        if let Some(arn) = &role.permissions_boundary {
            counts.entry(arn.clone()).or_default().boundaries += 1;
        }
    }
    counts
}

impl Directory {
    pub fn create_policy(
        &self,
        account_id: &str,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Arc<ManagedPolicy>, IamError> {
        validate::name_128("policyName", name)?;
        let path = path.unwrap_or("/");
        validate::path("path", path)?;
        validate::tags(&tags)?;
        check_tag_quota(&[], &tags)?;
        if description.is_some_and(|d| d.chars().count() > 1000) {
            return Err(IamError::new(
                ErrorCode::ValidationError,
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000",
            ));
        }
        check_managed_document(document)?;
        let arn = policy_arn(account_id, path, name);
        let (_, state) = self.write(|state| {
            if state
                .policies_of_owner(account_id, None)
                .any(|p| p.name.eq_ignore_ascii_case(name))
            {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!(
                        "A policy called {name} already exists. Duplicate names are not allowed."
                    ),
                ));
            }
            let created = now();
            let mut changes = vec![
                Change::CreatePolicy(PolicyRow {
                    id: ids::new_unique_id(IdKind::Policy),
                    arn: arn.clone(),
                    account_id: account_id.to_owned(),
                    name: name.to_owned(),
                    path: path.to_owned(),
                    description: description.map(str::to_owned),
                    created,
                }),
                Change::CreatePolicyVersion(PolicyVersionRow {
                    policy_arn: arn.clone(),
                    version_id: "v1".into(),
                    document: document.to_owned(),
                    created,
                }),
                Change::SetDefaultPolicyVersion {
                    policy_arn: arn.clone(),
                    version_id: "v1".into(),
                },
            ];
            if !tags.is_empty() {
                changes.push(Change::SetPolicyTags {
                    policy_arn: arn.clone(),
                    tags: tags.clone(),
                });
            }
            Ok((changes, ()))
        })?;
        state
            .policies
            .get(&arn)
            .cloned()
            .ok_or_else(IamError::service_failure)
    }

    pub fn policy(&self, account_id: &str, arn: &str) -> Result<Arc<ManagedPolicy>, IamError> {
        visible_policy(&self.snapshot(), account_id, arn).map_err(|_| {
            IamError::new(
                ErrorCode::NoSuchEntity,
                format!("Policy {arn} was not found."),
            )
        })
    }

    /// ListPolicies, with each policy's usage counts.
    #[allow(clippy::too_many_arguments)]
    pub fn list_policies(
        &self,
        account_id: &str,
        scope: Scope,
        only_attached: bool,
        path_prefix: Option<&str>,
        usage: Option<Usage>,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Page<(Arc<ManagedPolicy>, UsageCount)>, IamError> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let from = marker.map(decode_marker).transpose()?;
        let state = self.snapshot();
        let counts = usage_counts(&state, account_id);
        let owners: &[&str] = match scope {
            Scope::All => &[AWS_OWNER, account_id],
            Scope::Aws => &[AWS_OWNER],
            Scope::Local => &[account_id],
        };
        // The sort key puts AWS policies first, then the account's, each in name order.
        let sort_key = |p: &ManagedPolicy| {
            format!(
                "{}:{}",
                u8::from(p.account_id.is_some()),
                p.name.to_lowercase()
            )
        };
        let policies = owners
            .iter()
            .flat_map(|owner| state.policies_of_owner(owner, None))
            .filter(|p| {
                from.as_deref()
                    .is_none_or(|from| sort_key(p).as_str() >= from)
            })
            .filter(|p| p.path.starts_with(prefix))
            .map(|p| (p.clone(), counts.get(&p.arn).copied().unwrap_or_default()))
            .filter(|(_, count)| !only_attached || count.attachments + count.boundaries > 0)
            .filter(|(_, count)| match usage {
                None => true,
                // A policy counts for a usage unless it is used only the other way.
                Some(Usage::Permissions) => count.attachments > 0 || count.boundaries == 0,
                Some(Usage::Boundary) => count.boundaries > 0 || count.attachments == 0,
            });
        Ok(paginate(policies, max_items, |(p, _)| sort_key(p)))
    }

    pub fn delete_policy(&self, account_id: &str, arn: &str) -> Result<(), IamError> {
        self.write(|state| {
            let policy = own_policy(state, account_id, arn)?;
            let count = usage_counts(state, account_id).get(arn).copied().unwrap_or_default();
            if count.attachments + count.boundaries > 0 {
                return Err(IamError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete a policy attached to entities.",
                ));
            }
            if policy.versions.len() > 1 {
                return Err(IamError::new(
                    ErrorCode::DeleteConflict,
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                ));
            }
            Ok((vec![Change::DeletePolicy { policy_arn: arn.to_owned() }], ()))
        })?;
        Ok(())
    }

    pub fn create_policy_version(
        &self,
        account_id: &str,
        arn: &str,
        document: &str,
        set_as_default: bool,
    ) -> Result<PolicyVersion, IamError> {
        check_managed_document(document)?;
        let (version_id, state) = self.write(|state| {
            let policy = own_policy(state, account_id, arn)?;
            if policy.versions.len() >= VERSIONS_PER_POLICY {
                return Err(IamError::new(
                    ErrorCode::LimitExceeded,
                    format!("A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new version, you must delete an existing version."),
                ));
            }
            let version_id = next_version_id(&policy);
            let mut changes = vec![Change::CreatePolicyVersion(PolicyVersionRow {
                policy_arn: arn.to_owned(),
                version_id: version_id.clone(),
                document: document.to_owned(),
                created: now(),
            })];
            if set_as_default {
                changes.push(Change::SetDefaultPolicyVersion {
                    policy_arn: arn.to_owned(),
                    version_id: version_id.clone(),
                });
            }
            Ok((changes, version_id))
        })?;
        state
            .policies
            .get(arn)
            .and_then(|p| p.versions.iter().find(|v| v.id == version_id).cloned())
            .ok_or_else(IamError::service_failure)
    }

    pub fn policy_version(
        &self,
        account_id: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(Arc<ManagedPolicy>, PolicyVersion), IamError> {
        let policy = self.policy(account_id, arn)?;
        let version = policy
            .versions
            .iter()
            .find(|v| v.id == version_id)
            .cloned()
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "Policy {arn} version {version_id} does not exist or is not attachable."
                    ),
                )
            })?;
        Ok((policy, version))
    }

    pub fn delete_policy_version(
        &self,
        account_id: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let policy = own_policy(state, account_id, arn)?;
            if !policy.versions.iter().any(|v| v.id == version_id) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "Policy {arn} version {version_id} does not exist or is not attachable."
                    ),
                ));
            }
            if policy.default_version_id == version_id {
                return Err(IamError::new(
                    ErrorCode::DeleteConflict,
                    "Cannot delete the default version of a policy.",
                ));
            }
            Ok((
                vec![Change::DeletePolicyVersion {
                    policy_arn: arn.to_owned(),
                    version_id: version_id.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn set_default_policy_version(
        &self,
        account_id: &str,
        arn: &str,
        version_id: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let policy = own_policy(state, account_id, arn)?;
            if !policy.versions.iter().any(|v| v.id == version_id) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "Policy {arn} version {version_id} does not exist or is not attachable."
                    ),
                ));
            }
            Ok((
                vec![Change::SetDefaultPolicyVersion {
                    policy_arn: arn.to_owned(),
                    version_id: version_id.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn tag_policy(&self, account_id: &str, arn: &str, tags: Vec<Tag>) -> Result<(), IamError> {
        validate::tags(&tags)?;
        self.write(|state| {
            let policy = own_policy(state, account_id, arn)?;
            check_tag_quota(&policy.tags, &tags)?;
            Ok((
                vec![Change::SetPolicyTags {
                    policy_arn: arn.to_owned(),
                    tags: tags.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn untag_policy(
        &self,
        account_id: &str,
        arn: &str,
        keys: Vec<String>,
    ) -> Result<(), IamError> {
        for key in &keys {
            validate::tag_key(key)?;
        }
        self.write(|state| {
            own_policy(state, account_id, arn)?;
            Ok((
                vec![Change::RemovePolicyTags {
                    policy_arn: arn.to_owned(),
                    keys: keys.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn attach_policy(
        &self,
        account_id: &str,
        target: Target<'_>,
        arn: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let entity = modifiable_entity(state, account_id, target)?;
            visible_policy(state, account_id, arn)?;
            let attached = attached_arns(state, &entity);
            if attached.iter().any(|a| a == arn) {
                return Ok((Vec::new(), ()));
            }
            if attached.len() >= ATTACHED_POLICIES_PER_ENTITY {
                return Err(IamError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "Cannot exceed quota for PoliciesPer{}: {ATTACHED_POLICIES_PER_ENTITY}",
                        target.name()
                    ),
                ));
            }
            Ok((
                vec![Change::AttachPolicy {
                    entity,
                    policy_arn: arn.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn detach_policy(
        &self,
        account_id: &str,
        target: Target<'_>,
        arn: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let entity = modifiable_entity(state, account_id, target)?;
            if !attached_arns(state, &entity).iter().any(|a| a == arn) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("Policy {arn} was not found."),
                ));
            }
            Ok((
                vec![Change::DetachPolicy {
                    entity,
                    policy_arn: arn.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// The managed policies attached to a user or group, under `path_prefix`.
    pub fn attached_policies(
        &self,
        account_id: &str,
        target: Target<'_>,
        path_prefix: Option<&str>,
    ) -> Result<Vec<Arc<ManagedPolicy>>, IamError> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let state = self.snapshot();
        let entity = entity_of(&state, account_id, target)?;
        Ok(attached_arns(&state, &entity)
            .iter()
            .filter_map(|arn| state.policies.get(arn).cloned())
            .filter(|p| p.path.starts_with(prefix))
            .collect())
    }

    pub fn entities_for_policy(
        &self,
        account_id: &str,
        arn: &str,
        usage: Option<Usage>,
    ) -> Result<PolicyEntities, IamError> {
        let state = self.snapshot();
        visible_policy(&state, account_id, arn)?;
        let mut entities = PolicyEntities::default();
        for user in state.users_of_account(account_id, None) {
            let as_permissions = user.attached_policy_arns.iter().any(|a| a == arn);
            let as_boundary = user.permissions_boundary.as_deref() == Some(arn);
            let listed = match usage {
                None => as_permissions || as_boundary,
                Some(Usage::Permissions) => as_permissions,
                Some(Usage::Boundary) => as_boundary,
            };
            if listed {
                entities.users.push((user.name.clone(), user.id.clone()));
            }
        }
        for role in state.roles_of_account(account_id, None) {
            let as_permissions = role.attached_policy_arns.iter().any(|a| a == arn);
            let as_boundary = role.permissions_boundary.as_deref() == Some(arn);
            let listed = match usage {
                None => as_permissions || as_boundary,
                Some(Usage::Permissions) => as_permissions,
                Some(Usage::Boundary) => as_boundary,
            };
            if listed {
                entities.roles.push((role.name.clone(), role.id.clone()));
            }
        }
        if usage != Some(Usage::Boundary) {
            for group in state.groups_of_account(account_id, None) {
                if group.attached_policy_arns.iter().any(|a| a == arn) {
                    entities.groups.push((group.name.clone(), group.id.clone()));
                }
            }
        }
        Ok(entities)
    }

    pub fn put_inline_policy(
        &self,
        account_id: &str,
        target: Target<'_>,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        validate::name_128("policyName", name)?;
        check_document(document)?;
        self.write(|state| {
            let entity = modifiable_entity(state, account_id, target)?;
            let others: usize = inline_policies(state, &entity)
                .iter()
                .filter(|p| p.name != name)
                .map(|p| quota::non_whitespace_len(&p.document))
                .sum();
            let limit = match target {
                Target::User(_) => quota::USER_INLINE,
                Target::Group(_) => quota::GROUP_INLINE,
                Target::Role(_) => quota::ROLE_INLINE,
            };
            if others + quota::non_whitespace_len(document) > limit {
                return Err(IamError::new(
                    ErrorCode::LimitExceeded,
                    format!(
                        "Maximum policy size of {limit} bytes exceeded for {} {}",
                        target.kind(),
                        target.entity_name()
                    ),
                ));
            }
            Ok((
                vec![Change::PutInlinePolicy(InlinePolicyRow {
                    entity,
                    name: name.to_owned(),
                    document: document.to_owned(),
                })],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn inline_policy(
        &self,
        account_id: &str,
        target: Target<'_>,
        name: &str,
    ) -> Result<InlinePolicy, IamError> {
        let state = self.snapshot();
        let entity = entity_of(&state, account_id, target)?;
        inline_policies(&state, &entity)
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "The {} policy with name {name} cannot be found.",
                        target.kind()
                    ),
                )
            })
    }

    pub fn inline_policy_names(
        &self,
        account_id: &str,
        target: Target<'_>,
    ) -> Result<Vec<String>, IamError> {
        let state = self.snapshot();
        let entity = entity_of(&state, account_id, target)?;
        Ok(inline_policies(&state, &entity)
            .iter()
            .map(|p| p.name.clone())
            .collect())
    }

    pub fn delete_inline_policy(
        &self,
        account_id: &str,
        target: Target<'_>,
        name: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let entity = modifiable_entity(state, account_id, target)?;
            if !inline_policies(state, &entity)
                .iter()
                .any(|p| p.name == name)
            {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!(
                        "The {} policy with name {name} cannot be found.",
                        target.kind()
                    ),
                ));
            }
            Ok((
                vec![Change::DeleteInlinePolicy {
                    entity,
                    name: name.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn set_user_boundary(
        &self,
        account_id: &str,
        user_name: &str,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            if let Some(arn) = arn {
                check_boundary(state, account_id, arn)?;
            } else if user.permissions_boundary.is_none() {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("The user {user_name} does not have a permissions boundary."),
                ));
            }
            Ok((
                vec![Change::SetUserBoundary {
                    user_id: user.id.clone(),
                    policy_arn: arn.map(str::to_owned),
                }],
                (),
            ))
        })?;
        Ok(())
    }
}
