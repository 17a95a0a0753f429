//! The in-memory snapshot that serves every read and the whole request path.
//!
//! A [`State`] is immutable once published; writers build the next one from the current one
//! with persistent maps (cheap clones, shared structure) and swap it in atomically.

use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use zeroize::Zeroizing;

use latchkey_policy::{Policy, PolicyKind};

use crate::account_settings::PasswordPolicy;
use crate::authz::EffectiveCache;
use crate::catalog;
use crate::identitystore::IdentityStoreState;
use crate::model::{
    AccessKey, Account, CredentialReport, Group, InlinePolicy, KeyOwner, KeyRuntime, LoginProfile,
    ManagedPolicy, MfaDevice, MfaRuntime, PolicyVersion, Principal, Role, Tag, User,
};
use crate::seal::{Keyring, SealError, access_key_aad, identity_mfa_seed_aad, mfa_seed_aad};
use crate::ssoadmin::{PrincipalType, SsoAdminState};
use crate::store::{AccessKeyRow, Change, Contents, Entity, Resealed, Seq};

#[derive(Debug, Clone)]
pub struct State {
    pub accounts: HashMap<String, Arc<Account>>,
    pub users: HashMap<String, Arc<User>>,
    /// (account id, lowercased user name) → user id, in name order for listing.
    pub users_by_name: OrdMap<(String, String), String>,
    pub groups: HashMap<String, Arc<Group>>,
    /// (account id, lowercased group name) → group id, in name order.
    pub groups_by_name: OrdMap<(String, String), String>,
    pub roles: HashMap<String, Arc<Role>>,
    /// (account id, lowercased role name) → role id, in name order.
    pub roles_by_name: OrdMap<(String, String), String>,
    /// Every managed policy by ARN, AWS managed ones included.
    pub policies: HashMap<String, Arc<ManagedPolicy>>,
    /// (account id or `aws`, lowercased policy name) → ARN, in name order.
    pub policies_by_name: OrdMap<(String, String), String>,
    pub access_keys: HashMap<String, Arc<AccessKey>>,
    /// SSO OIDC device authorizations by the hash of their device code.
    pub device_authorizations: HashMap<String, Arc<crate::oidc::DeviceAuthorizationRow>>,
    /// SSO OIDC authorization codes already exchanged and access tokens logged out, by hash,
    /// until they expire.
    pub spent_tokens: HashMap<String, Arc<crate::oidc::SpentTokenRow>>,
    /// Virtual MFA devices by serial number, which starts with the account's ARN prefix, so
    /// one account's devices are a range.
    pub mfa_devices: OrdMap<String, Arc<MfaDevice>>,
    pub credential_reports: HashMap<String, Arc<CredentialReport>>,
    /// Account id → its alias, and alias → account id.
    pub account_aliases: HashMap<String, String>,
    pub alias_accounts: HashMap<String, String>,
    /// Account id → the password policy it set.
    pub password_policies: HashMap<String, Arc<PasswordPolicy>>,
    pub master_key_check: Option<Arc<Vec<u8>>>,
    /// The Identity Center instance and its identity store's users, groups and memberships.
    pub identity_store: IdentityStoreState,
    /// The instance's permission sets, account assignments, provisionings and requests.
    pub sso_admin: SsoAdminState,
    /// The organization's OUs and which accounts are in them.
    pub organization: crate::organizational_units::OrgTree,
    /// The last committed batch this snapshot includes.
    pub seq: Seq,
    /// Effective policy sets computed for this version, per user id.
    pub effective: EffectiveCache,
}

/// A change that cannot be applied to the snapshot: the snapshot and the store disagree.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the snapshot has no {0} that the change refers to")]
    Missing(&'static str),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("a stored policy document does not parse: {0}")]
    Policy(String),
}

/// Compiles a stored role trust policy; see [`compile_identity_policy`] for why a failure
/// stops the snapshot.
pub fn compile_trust_policy(document: &str) -> Result<Arc<Policy>, ApplyError> {
    Policy::parse(document, PolicyKind::Trust)
        .map(Arc::new)
        .map_err(|e| ApplyError::Policy(e.message))
}

/// Compiles a stored identity-policy document. Documents were validated before they were
/// stored, so a failure means the data and the engine disagree, and the snapshot must not
/// be served (a lost Deny statement would grant access).
pub fn compile_identity_policy(document: &str) -> Result<Arc<Policy>, ApplyError> {
    Policy::parse(document, PolicyKind::Identity)
        .map(Arc::new)
        .map_err(|e| ApplyError::Policy(e.message))
}

impl Default for State {
    /// An empty state that already holds the AWS managed policies.
    fn default() -> Self {
        let mut state = State {
            accounts: HashMap::new(),
            users: HashMap::new(),
            users_by_name: OrdMap::new(),
            groups: HashMap::new(),
            groups_by_name: OrdMap::new(),
            roles: HashMap::new(),
            roles_by_name: OrdMap::new(),
            policies: HashMap::new(),
            policies_by_name: OrdMap::new(),
            access_keys: HashMap::new(),
            mfa_devices: OrdMap::new(),
            device_authorizations: HashMap::new(),
            spent_tokens: HashMap::new(),
            credential_reports: HashMap::new(),
            account_aliases: HashMap::new(),
            alias_accounts: HashMap::new(),
            password_policies: HashMap::new(),
            master_key_check: None,
            identity_store: IdentityStoreState::default(),
            sso_admin: SsoAdminState::default(),
            organization: Default::default(),
            seq: 0,
            effective: EffectiveCache::default(),
        };
        for policy in catalog::aws_managed_policies() {
            state.insert_policy(policy.clone());
        }
        state
    }
}

impl State {
    pub fn from_contents(contents: Contents, master: &Keyring) -> Result<Self, ApplyError> {
        let mut state = State {
            seq: contents.seq,
            ..State::default()
        };
        for change in contents.into_changes() {
            state.apply(&change, master)?;
        }
        Ok(state)
    }

    /// Applies one committed change. The store has already accepted it, so a failure here
    /// means the snapshot is out of step and must be rebuilt from the store.
    pub fn apply(&mut self, change: &Change, master: &Keyring) -> Result<(), ApplyError> {
        match change {
            Change::SetMasterKeyCheck(check) | Change::Reseal(Resealed::MasterKeyCheck(check)) => {
                self.master_key_check = Some(Arc::new(check.clone()));
            }
            // The snapshot holds the key's secret unsealed, and that did not change.
            Change::Reseal(Resealed::AccessKey { access_key_id, .. }) => {
                if !self.access_keys.contains_key(access_key_id) {
                    return Err(ApplyError::Missing("access key"));
                }
            }
            // The seed stays sealed in the snapshot. An instance following another's
            // rotation before it has loaded the new key keeps the value it can open (the
            // same seed under the old key, which stays in every keyring until retired);
            // loading the new keyring reloads the snapshot from the store.
            Change::Reseal(Resealed::MfaDevice {
                serial,
                sealed_seed,
            }) => {
                let device = self
                    .mfa_devices
                    .get(serial)
                    .ok_or(ApplyError::Missing("MFA device"))?;
                if master.open(sealed_seed, &mfa_seed_aad(serial)).is_ok() {
                    let device = MfaDevice {
                        sealed_seed: sealed_seed.clone(),
                        ..MfaDevice::clone(device)
                    };
                    self.mfa_devices.insert(serial.clone(), Arc::new(device));
                }
            }
            // As for MFA devices: kept only once this instance's keyring opens it.
            Change::Reseal(Resealed::IdentityMfa {
                user_id,
                sealed_seed,
            }) => {
                let device = self
                    .identity_store
                    .mfa
                    .get(user_id)
                    .ok_or(ApplyError::Missing("identity store authenticator"))?;
                if master
                    .open(sealed_seed, &identity_mfa_seed_aad(user_id))
                    .is_ok()
                {
                    let mut row = device.row.clone();
                    row.sealed_seed = sealed_seed.clone();
                    let resealed = crate::identity_mfa::IdentityMfa {
                        row,
                        runtime: device.runtime.clone(),
                    };
                    self.identity_store
                        .mfa
                        .insert(user_id.clone(), Arc::new(resealed));
                }
            }
            Change::CreateAccount(row) => {
                self.accounts.insert(
                    row.id.clone(),
                    Arc::new(Account {
                        id: row.id.clone(),
                        name: row.name.clone(),
                        root_email: row.root_email.clone(),
                        root_password_hash: row.root_password_hash.clone(),
                        created: row.created,
                    }),
                );
            }
            Change::CreateUser(row) => {
                self.users_by_name.insert(
                    (row.account_id.clone(), row.name.to_lowercase()),
                    row.id.clone(),
                );
                self.users.insert(
                    row.id.clone(),
                    Arc::new(User {
                        id: row.id.clone(),
                        account_id: row.account_id.clone(),
                        name: row.name.clone(),
                        path: row.path.clone(),
                        created: row.created,
                        tags: Vec::new(),
                        login_profile: None,
                        password_history: Vec::new(),
                        attached_policy_arns: Vec::new(),
                        inline_policies: Vec::new(),
                        permissions_boundary: None,
                        group_ids: Vec::new(),
                        access_key_ids: Vec::new(),
                        mfa_serials: Vec::new(),
                    }),
                );
            }
            Change::RenameUser {
                user_id,
                name,
                path,
            } => {
                let user = self.user(user_id)?;
                self.users_by_name
                    .remove(&(user.account_id.clone(), user.name.to_lowercase()));
                self.users_by_name.insert(
                    (user.account_id.clone(), name.to_lowercase()),
                    user_id.clone(),
                );
                self.update_user(user_id, |u| {
                    u.name = name.clone();
                    u.path = path.clone();
                })?;
            }
            Change::DeleteUser { user_id } => {
                let user = self.user(user_id)?;
                self.users_by_name
                    .remove(&(user.account_id.clone(), user.name.to_lowercase()));
                for key_id in &user.access_key_ids {
                    self.access_keys.remove(key_id);
                }
                for group_id in &user.group_ids {
                    self.update_group(group_id, |g| g.member_ids.retain(|id| id != user_id))?;
                }
                self.users.remove(user_id);
            }
            Change::SetUserTags { user_id, tags } => {
                self.update_user(user_id, |u| merge_tags(&mut u.tags, tags))?;
            }
            Change::RemoveUserTags { user_id, keys } => {
                self.update_user(user_id, |u| u.tags.retain(|t| !keys.contains(&t.key)))?;
            }
            Change::CreateLoginProfile(row) => {
                self.update_user(&row.user_id, |u| {
                    u.login_profile = Some(LoginProfile {
                        password_hash: row.password_hash.clone(),
                        created: row.created,
                        password_reset_required: row.password_reset_required,
                        password_changed: row.password_changed,
                    });
                })?;
            }
            Change::UpdateLoginProfile { profile: row, .. } => {
                self.update_user(&row.user_id, |u| {
                    u.login_profile = Some(LoginProfile {
                        password_hash: row.password_hash.clone(),
                        created: row.created,
                        password_reset_required: row.password_reset_required,
                        password_changed: row.password_changed,
                    });
                })?;
            }
            Change::DeleteLoginProfile { user_id } => {
                self.update_user(user_id, |u| u.login_profile = None)?;
            }
            Change::RememberPassword(row) => {
                self.update_user(&row.user_id, |u| {
                    u.password_history.push(row.clone());
                    crate::account_settings::trim_history(&mut u.password_history);
                })?;
            }
            Change::SetAccountAlias { account_id, alias } => {
                if let Some(old) = self
                    .account_aliases
                    .insert(account_id.clone(), alias.clone())
                {
                    self.alias_accounts.remove(&old);
                }
                self.alias_accounts
                    .insert(alias.clone(), account_id.clone());
            }
            Change::DeleteAccountAlias { account_id, alias } => {
                if self.account_aliases.get(account_id) == Some(alias) {
                    self.account_aliases.remove(account_id);
                    self.alias_accounts.remove(alias);
                }
            }
            Change::SetPasswordPolicy { account_id, policy } => {
                self.password_policies
                    .insert(account_id.clone(), Arc::new(policy.clone()));
            }
            Change::DeletePasswordPolicy { account_id } => {
                self.password_policies.remove(account_id);
            }
            Change::SetUserBoundary {
                user_id,
                policy_arn,
            } => {
                self.update_user(user_id, |u| u.permissions_boundary = policy_arn.clone())?;
            }
            Change::CreateRole(row) => {
                self.roles_by_name.insert(
                    (row.account_id.clone(), row.name.to_lowercase()),
                    row.id.clone(),
                );
                self.roles.insert(
                    row.id.clone(),
                    Arc::new(Role {
                        id: row.id.clone(),
                        account_id: row.account_id.clone(),
                        name: row.name.clone(),
                        path: row.path.clone(),
                        description: row.description.clone(),
                        trust_policy: row.trust_policy.clone(),
                        compiled_trust_policy: compile_trust_policy(&row.trust_policy)?,
                        max_session_duration: row.max_session_duration,
                        created: row.created,
                        tags: Vec::new(),
                        attached_policy_arns: Vec::new(),
                        inline_policies: Vec::new(),
                        permissions_boundary: None,
                    }),
                );
            }
            Change::UpdateRole {
                role_id,
                description,
                max_session_duration,
            } => {
                self.update_role(role_id, |r| {
                    r.description = description.clone();
                    r.max_session_duration = *max_session_duration;
                })?;
            }
            Change::UpdateAssumeRolePolicy { role_id, document } => {
                let compiled = compile_trust_policy(document)?;
                self.update_role(role_id, |r| {
                    r.trust_policy = document.clone();
                    r.compiled_trust_policy = compiled;
                })?;
            }
            Change::DeleteRole { role_id } => {
                let role = self
                    .roles
                    .remove(role_id)
                    .ok_or(ApplyError::Missing("role"))?;
                self.roles_by_name
                    .remove(&(role.account_id.clone(), role.name.to_lowercase()));
            }
            Change::SetRoleTags { role_id, tags } => {
                self.update_role(role_id, |r| merge_tags(&mut r.tags, tags))?;
            }
            Change::RemoveRoleTags { role_id, keys } => {
                self.update_role(role_id, |r| r.tags.retain(|t| !keys.contains(&t.key)))?;
            }
            Change::SetRoleBoundary {
                role_id,
                policy_arn,
            } => {
                self.update_role(role_id, |r| r.permissions_boundary = policy_arn.clone())?;
            }
            Change::CreateGroup(row) => {
                self.groups_by_name.insert(
                    (row.account_id.clone(), row.name.to_lowercase()),
                    row.id.clone(),
                );
                self.groups.insert(
                    row.id.clone(),
                    Arc::new(Group {
                        id: row.id.clone(),
                        account_id: row.account_id.clone(),
                        name: row.name.clone(),
                        path: row.path.clone(),
                        created: row.created,
                        member_ids: Vec::new(),
                        attached_policy_arns: Vec::new(),
                        inline_policies: Vec::new(),
                    }),
                );
            }
            Change::RenameGroup {
                group_id,
                name,
                path,
            } => {
                let group = self.group(group_id)?;
                self.groups_by_name
                    .remove(&(group.account_id.clone(), group.name.to_lowercase()));
                self.groups_by_name.insert(
                    (group.account_id.clone(), name.to_lowercase()),
                    group_id.clone(),
                );
                self.update_group(group_id, |g| {
                    g.name = name.clone();
                    g.path = path.clone();
                })?;
            }
            Change::DeleteGroup { group_id } => {
                let group = self.group(group_id)?;
                self.groups_by_name
                    .remove(&(group.account_id.clone(), group.name.to_lowercase()));
                for user_id in &group.member_ids {
                    self.update_user(user_id, |u| u.group_ids.retain(|id| id != group_id))?;
                }
                self.groups.remove(group_id);
            }
            Change::AddUserToGroup { group_id, user_id } => {
                self.update_group(group_id, |g| {
                    if !g.member_ids.contains(user_id) {
                        g.member_ids.push(user_id.clone());
                    }
                })?;
                self.update_user(user_id, |u| {
                    if !u.group_ids.contains(group_id) {
                        u.group_ids.push(group_id.clone());
                    }
                })?;
            }
            Change::RemoveUserFromGroup { group_id, user_id } => {
                self.update_group(group_id, |g| g.member_ids.retain(|id| id != user_id))?;
                self.update_user(user_id, |u| u.group_ids.retain(|id| id != group_id))?;
            }
            Change::CreatePolicy(row) => {
                self.insert_policy(Arc::new(ManagedPolicy {
                    id: row.id.clone(),
                    arn: row.arn.clone(),
                    account_id: Some(row.account_id.clone()),
                    name: row.name.clone(),
                    path: row.path.clone(),
                    description: row.description.clone(),
                    created: row.created,
                    updated: row.created,
                    default_version_id: String::new(),
                    versions: Vec::new(),
                    tags: Vec::new(),
                }));
            }
            Change::DeletePolicy { policy_arn } => {
                let policy = self
                    .policies
                    .remove(policy_arn)
                    .ok_or(ApplyError::Missing("policy"))?;
                if let Some(account) = &policy.account_id {
                    self.policies_by_name
                        .remove(&(account.clone(), policy.name.to_lowercase()));
                }
            }
            Change::CreatePolicyVersion(row) => {
                let compiled = compile_identity_policy(&row.document)?;
                self.update_policy(&row.policy_arn, |p| {
                    p.versions.push(PolicyVersion {
                        id: row.version_id.clone(),
                        document: row.document.clone(),
                        created: row.created,
                        compiled,
                    });
                })?;
            }
            Change::DeletePolicyVersion {
                policy_arn,
                version_id,
            } => {
                self.update_policy(policy_arn, |p| p.versions.retain(|v| &v.id != version_id))?;
            }
            Change::SetDefaultPolicyVersion {
                policy_arn,
                version_id,
            } => {
                self.update_policy(policy_arn, |p| {
                    if let Some(version) = p.versions.iter().find(|v| &v.id == version_id) {
                        p.updated = version.created;
                    }
                    p.default_version_id = version_id.clone();
                })?;
            }
            Change::SetPolicyTags { policy_arn, tags } => {
                self.update_policy(policy_arn, |p| merge_tags(&mut p.tags, tags))?;
            }
            Change::RemovePolicyTags { policy_arn, keys } => {
                self.update_policy(policy_arn, |p| p.tags.retain(|t| !keys.contains(&t.key)))?;
            }
            Change::AttachPolicy { entity, policy_arn } => {
                let attach = |arns: &mut Vec<String>| {
                    if !arns.contains(policy_arn) {
                        arns.push(policy_arn.clone());
                    }
                };
                match entity {
                    Entity::User(id) => {
                        self.update_user(id, |u| attach(&mut u.attached_policy_arns))?
                    }
                    Entity::Group(id) => {
                        self.update_group(id, |g| attach(&mut g.attached_policy_arns))?
                    }
                    Entity::Role(id) => {
                        self.update_role(id, |r| attach(&mut r.attached_policy_arns))?
                    }
                }
            }
            Change::DetachPolicy { entity, policy_arn } => {
                match entity {
                    Entity::User(id) => self
                        .update_user(id, |u| u.attached_policy_arns.retain(|a| a != policy_arn))?,
                    Entity::Group(id) => self
                        .update_group(id, |g| g.attached_policy_arns.retain(|a| a != policy_arn))?,
                    Entity::Role(id) => self
                        .update_role(id, |r| r.attached_policy_arns.retain(|a| a != policy_arn))?,
                }
            }
            Change::PutInlinePolicy(row) => {
                let inline = InlinePolicy {
                    name: row.name.clone(),
                    document: row.document.clone(),
                    compiled: compile_identity_policy(&row.document)?,
                };
                let put = |policies: &mut Vec<InlinePolicy>| {
                    policies.retain(|p| p.name != inline.name);
                    policies.push(inline.clone());
                    policies.sort_by(|a, b| a.name.cmp(&b.name));
                };
                match &row.entity {
                    Entity::User(id) => self.update_user(id, |u| put(&mut u.inline_policies))?,
                    Entity::Group(id) => self.update_group(id, |g| put(&mut g.inline_policies))?,
                    Entity::Role(id) => self.update_role(id, |r| put(&mut r.inline_policies))?,
                }
            }
            Change::DeleteInlinePolicy { entity, name } => match entity {
                Entity::User(id) => {
                    self.update_user(id, |u| u.inline_policies.retain(|p| &p.name != name))?
                }
                Entity::Group(id) => {
                    self.update_group(id, |g| g.inline_policies.retain(|p| &p.name != name))?
                }
                Entity::Role(id) => {
                    self.update_role(id, |r| r.inline_policies.retain(|p| &p.name != name))?
                }
            },
            Change::CreateAccessKey(row) => {
                let key = unseal_key(row, master)?;
                if let KeyOwner::User(user_id) = &key.owner {
                    self.update_user(user_id, |u| u.access_key_ids.push(row.id.clone()))?;
                }
                self.access_keys.insert(row.id.clone(), Arc::new(key));
            }
            Change::SetAccessKeyStatus {
                access_key_id,
                status,
            } => {
                let key = self
                    .access_keys
                    .get(access_key_id)
                    .ok_or(ApplyError::Missing("access key"))?;
                let mut next = AccessKey::clone(key);
                next.status = *status;
                self.access_keys
                    .insert(access_key_id.clone(), Arc::new(next));
            }
            Change::DeleteAccessKey { access_key_id } => {
                let key = self
                    .access_keys
                    .remove(access_key_id)
                    .ok_or(ApplyError::Missing("access key"))?;
                if let KeyOwner::User(user_id) = &key.owner {
                    self.update_user(user_id, |u| {
                        u.access_key_ids.retain(|id| id != access_key_id)
                    })?;
                }
            }
            Change::CreateMfaDevice(row) => {
                self.mfa_devices.insert(
                    row.serial.clone(),
                    Arc::new(MfaDevice {
                        serial: row.serial.clone(),
                        account_id: row.account_id.clone(),
                        name: row.name.clone(),
                        path: row.path.clone(),
                        created: row.created,
                        sealed_seed: row.sealed_seed.clone(),
                        assignment: row.assignment.clone(),
                        runtime: Arc::new(MfaRuntime::default()),
                    }),
                );
            }
            Change::EnableMfaDevice { serial, assignment } => {
                self.update_user(&assignment.user_id, |u| u.mfa_serials.push(serial.clone()))?;
                self.update_mfa_device(serial, |d| d.assignment = Some(assignment.clone()))?;
            }
            Change::ResyncMfaDevice {
                serial,
                drift_steps,
            } => {
                self.update_mfa_device(serial, |d| {
                    if let Some(assignment) = &mut d.assignment {
                        assignment.drift_steps = *drift_steps;
                    }
                })?;
            }
            Change::DeactivateMfaDevice { serial } => {
                let device = self
                    .mfa_devices
                    .get(serial)
                    .cloned()
                    .ok_or(ApplyError::Missing("MFA device"))?;
                if let Some(assignment) = &device.assignment {
                    self.update_user(&assignment.user_id, |u| {
                        u.mfa_serials.retain(|s| s != serial)
                    })?;
                }
                self.update_mfa_device(serial, |d| d.assignment = None)?;
            }
            Change::DeleteMfaDevice { serial } => {
                self.mfa_devices
                    .remove(serial)
                    .ok_or(ApplyError::Missing("MFA device"))?;
            }
            Change::PutCredentialReport(row) => {
                self.credential_reports.insert(
                    row.account_id.clone(),
                    Arc::new(CredentialReport {
                        generated: row.generated,
                        csv: row.csv.clone(),
                    }),
                );
            }
            Change::CreateIdentityCenter(row) => self.identity_store.create_center(row),
            Change::CreateInvitation(row) => self.identity_store.put_invitation(row),
            Change::AcceptInvitation { token_hash, at } => {
                self.identity_store.accept_invitation(token_hash, *at)?
            }
            Change::SetIdentityPassword(row) => self.identity_store.set_password(row),
            Change::EnableIdentityMfa(row) => self.identity_store.enable_mfa(row)?,
            Change::DeleteIdentityMfa { user_id } => self.identity_store.delete_mfa(user_id)?,
            Change::CreateDeviceAuthorization(row) => {
                // Expired authorizations are of no use to anyone: drop them as new ones come.
                let now = row.created;
                self.device_authorizations
                    .retain(|_, d| now - d.expires < chrono::Duration::hours(1));
                self.device_authorizations
                    .insert(row.device_code_hash.clone(), Arc::new(row.clone()));
            }
            Change::SpendToken(row) => {
                // A code or token past its expiry is refused anyway: forget the spent ones.
                self.spent_tokens.retain(|_, c| row.spent <= c.expires);
                self.spent_tokens
                    .insert(row.token_hash.clone(), Arc::new(row.clone()));
            }
            Change::DecideDeviceAuthorization {
                device_code_hash,
                decision,
            } => self.update_device(device_code_hash, |d| d.decision = Some(decision.clone()))?,
            Change::RedeemDeviceAuthorization {
                device_code_hash,
                at,
            } => self.update_device(device_code_hash, |d| d.redeemed = Some(*at))?,
            Change::CreateIdentityStoreUser(row) => self.identity_store.put_user(row, false)?,
            Change::UpdateIdentityStoreUser(row) => self.identity_store.put_user(row, true)?,
            Change::DeleteIdentityStoreUser { user_id } => {
                self.identity_store.delete_user(user_id)?;
                self.sso_admin
                    .delete_assignments_of(PrincipalType::User, user_id);
            }
            Change::CreateIdentityStoreGroup(row) => self.identity_store.put_group(row, false)?,
            Change::UpdateIdentityStoreGroup(row) => self.identity_store.put_group(row, true)?,
            Change::DeleteIdentityStoreGroup { group_id } => {
                self.identity_store.delete_group(group_id)?;
                self.sso_admin
                    .delete_assignments_of(PrincipalType::Group, group_id);
            }
            Change::CreateGroupMembership(row) => self.identity_store.create_membership(row)?,
            Change::DeleteGroupMembership { membership_id } => {
                self.identity_store.delete_membership(membership_id)?
            }
            Change::CreatePermissionSet(row) => self.sso_admin.put_permission_set(row, false)?,
            Change::UpdatePermissionSet(row) => self.sso_admin.put_permission_set(row, true)?,
            Change::DeletePermissionSet { permission_set_id } => {
                self.sso_admin.delete_permission_set(permission_set_id)?
            }
            Change::SetPermissionSetTags {
                permission_set_id,
                tags,
            } => self
                .sso_admin
                .edit_tags(permission_set_id, |t| merge_tags(t, tags))?,
            Change::RemovePermissionSetTags {
                permission_set_id,
                keys,
            } => self
                .sso_admin
                .edit_tags(permission_set_id, |t| t.retain(|t| !keys.contains(&t.key)))?,
            Change::CreateAccountAssignment(row) => self.sso_admin.create_assignment(row),
            Change::DeleteAccountAssignment {
                permission_set_id,
                account_id,
                principal_type,
                principal_id,
            } => self.sso_admin.delete_assignment((
                permission_set_id.clone(),
                account_id.clone(),
                *principal_type,
                principal_id.clone(),
            ))?,
            Change::CreateProvisioning(row) => self.sso_admin.put_provisioning(row.clone()),
            Change::UpdateProvisioning {
                permission_set_id,
                account_id,
                revision,
                provisioned,
            } => self.sso_admin.update_provisioning(
                permission_set_id,
                account_id,
                *revision,
                *provisioned,
            )?,
            Change::DeleteProvisioning {
                permission_set_id,
                account_id,
            } => self
                .sso_admin
                .delete_provisioning(permission_set_id, account_id)?,
            Change::RecordSsoRequest(row) => self.sso_admin.record_request(row),
            Change::CreateOrganizationalUnit(row) => self.organization.create(row)?,
            Change::RenameOrganizationalUnit { ou_id, name } => {
                self.organization.rename(ou_id, name)?
            }
            Change::DeleteOrganizationalUnit { ou_id } => self.organization.delete(ou_id)?,
            Change::MoveAccount { account_id, to, .. } => {
                if !self.accounts.contains_key(account_id) {
                    return Err(ApplyError::Missing("account"));
                }
                self.organization.move_account(account_id, to.as_ref())?
            }
        }
        Ok(())
    }

    /// Replaces a device with an edited copy; the copy keeps the device's runtime, so a code
    /// accepted before the edit stays used.
    fn update_mfa_device(
        &mut self,
        serial: &str,
        edit: impl FnOnce(&mut MfaDevice),
    ) -> Result<(), ApplyError> {
        let device = self
            .mfa_devices
            .get(serial)
            .ok_or(ApplyError::Missing("MFA device"))?;
        let mut next = MfaDevice::clone(device);
        edit(&mut next);
        self.mfa_devices.insert(serial.to_owned(), Arc::new(next));
        Ok(())
    }

    fn update_device(
        &mut self,
        device_code_hash: &str,
        edit: impl FnOnce(&mut crate::oidc::DeviceAuthorizationRow),
    ) -> Result<(), ApplyError> {
        let device = self
            .device_authorizations
            .get(device_code_hash)
            .ok_or(ApplyError::Missing("device authorization"))?;
        let mut next = crate::oidc::DeviceAuthorizationRow::clone(device);
        edit(&mut next);
        self.device_authorizations
            .insert(device_code_hash.to_owned(), Arc::new(next));
        Ok(())
    }

    /// The account's MFA devices in serial-number order.
    pub fn mfa_devices_of_account<'a>(
        &'a self,
        account_id: &str,
    ) -> impl Iterator<Item = &'a Arc<MfaDevice>> + 'a {
        let prefix = format!("arn:aws:iam::{account_id}:mfa/");
        self.mfa_devices
            .range(prefix.clone()..)
            .take_while(move |(serial, _)| serial.starts_with(&prefix))
            .map(|(_, device)| device)
    }

    pub fn user(&self, user_id: &str) -> Result<Arc<User>, ApplyError> {
        self.users
            .get(user_id)
            .cloned()
            .ok_or(ApplyError::Missing("user"))
    }

    /// The user named `name` in the account; IAM user names are unique ignoring case.
    pub fn user_by_name(&self, account_id: &str, name: &str) -> Option<&Arc<User>> {
        let id = self
            .users_by_name
            .get(&(account_id.to_owned(), name.to_lowercase()))?;
        self.users.get(id)
    }

    /// Users of one account in name order, starting at `from` (a lowercased name).
    pub fn users_of_account<'a>(
        &'a self,
        account_id: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<User>> + 'a {
        let start = (account_id.to_owned(), from.unwrap_or("").to_owned());
        self.users_by_name
            .range(start..)
            .take_while(move |((account, _), _)| account == account_id)
            .filter_map(|(_, id)| self.users.get(id))
    }

    /// The principal that signs with this key, if the key is usable right now.
    pub fn principal_for_key(&self, key: &AccessKey) -> Option<Principal> {
        match &key.owner {
            KeyOwner::Root => Some(Principal::Root {
                account_id: key.account_id.clone(),
            }),
            KeyOwner::User(user_id) => self.users.get(user_id).cloned().map(Principal::User),
        }
    }

    pub fn group(&self, group_id: &str) -> Result<Arc<Group>, ApplyError> {
        self.groups
            .get(group_id)
            .cloned()
            .ok_or(ApplyError::Missing("group"))
    }

    /// The named group of the account; group names are unique ignoring case.
    pub fn group_by_name(&self, account_id: &str, name: &str) -> Option<&Arc<Group>> {
        let id = self
            .groups_by_name
            .get(&(account_id.to_owned(), name.to_lowercase()))?;
        self.groups.get(id)
    }

    /// Groups of one account in name order, starting at `from` (a lowercased name).
    pub fn groups_of_account<'a>(
        &'a self,
        account_id: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<Group>> + 'a {
        let start = (account_id.to_owned(), from.unwrap_or("").to_owned());
        self.groups_by_name
            .range(start..)
            .take_while(move |((account, _), _)| account == account_id)
            .filter_map(|(_, id)| self.groups.get(id))
    }

    /// Managed policies owned by `owner` (an account id, or `aws`) in name order, from `from`.
    pub fn policies_of_owner<'a>(
        &'a self,
        owner: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<ManagedPolicy>> + 'a {
        let start = (owner.to_owned(), from.unwrap_or("").to_owned());
        self.policies_by_name
            .range(start..)
            .take_while(move |((account, _), _)| account == owner)
            .filter_map(|(_, arn)| self.policies.get(arn))
    }

    fn insert_policy(&mut self, policy: Arc<ManagedPolicy>) {
        let owner = policy
            .account_id
            .clone()
            .unwrap_or_else(|| catalog::AWS_OWNER.to_owned());
        self.policies_by_name
            .insert((owner, policy.name.to_lowercase()), policy.arn.clone());
        self.policies.insert(policy.arn.clone(), policy);
    }

    /// The named role of the account; role names are unique ignoring case.
    pub fn role_by_name(&self, account_id: &str, name: &str) -> Option<&Arc<Role>> {
        let id = self
            .roles_by_name
            .get(&(account_id.to_owned(), name.to_lowercase()))?;
        self.roles.get(id)
    }

    /// Roles of one account in name order, starting at `from` (a lowercased name).
    pub fn roles_of_account<'a>(
        &'a self,
        account_id: &'a str,
        from: Option<&str>,
    ) -> impl Iterator<Item = &'a Arc<Role>> + 'a {
        let start = (account_id.to_owned(), from.unwrap_or("").to_owned());
        self.roles_by_name
            .range(start..)
            .take_while(move |((account, _), _)| account == account_id)
            .filter_map(|(_, id)| self.roles.get(id))
    }

    fn update_role(
        &mut self,
        role_id: &str,
        edit: impl FnOnce(&mut Role),
    ) -> Result<(), ApplyError> {
        let role = self.roles.get(role_id).ok_or(ApplyError::Missing("role"))?;
        let mut next = Role::clone(role);
        edit(&mut next);
        self.roles.insert(role_id.to_owned(), Arc::new(next));
        Ok(())
    }

    fn update_group(
        &mut self,
        group_id: &str,
        edit: impl FnOnce(&mut Group),
    ) -> Result<(), ApplyError> {
        let group = self
            .groups
            .get(group_id)
            .ok_or(ApplyError::Missing("group"))?;
        let mut next = Group::clone(group);
        edit(&mut next);
        self.groups.insert(group_id.to_owned(), Arc::new(next));
        Ok(())
    }

    fn update_policy(
        &mut self,
        arn: &str,
        edit: impl FnOnce(&mut ManagedPolicy),
    ) -> Result<(), ApplyError> {
        let policy = self
            .policies
            .get(arn)
            .ok_or(ApplyError::Missing("policy"))?;
        let mut next = ManagedPolicy::clone(policy);
        edit(&mut next);
        self.policies.insert(arn.to_owned(), Arc::new(next));
        Ok(())
    }

    fn update_user(
        &mut self,
        user_id: &str,
        edit: impl FnOnce(&mut User),
    ) -> Result<(), ApplyError> {
        let user = self.users.get(user_id).ok_or(ApplyError::Missing("user"))?;
        let mut next = User::clone(user);
        edit(&mut next);
        self.users.insert(user_id.to_owned(), Arc::new(next));
        Ok(())
    }
}

/// Adds or overwrites tags, keeping them sorted by key.
fn merge_tags(existing: &mut Vec<Tag>, tags: &[Tag]) {
    for tag in tags {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(found) => found.value = tag.value.clone(),
            None => existing.push(tag.clone()),
        }
    }
    existing.sort_by(|a, b| a.key.cmp(&b.key));
}

fn unseal_key(row: &AccessKeyRow, master: &Keyring) -> Result<AccessKey, SealError> {
    let secret = master.open(&row.sealed_secret, &access_key_aad(&row.id))?;
    let secret = String::from_utf8(secret.to_vec()).map_err(|_| SealError::Open)?;
    Ok(AccessKey {
        id: row.id.clone(),
        account_id: row.account_id.clone(),
        owner: match &row.user_id {
            Some(user_id) => KeyOwner::User(user_id.clone()),
            None => KeyOwner::Root,
        },
        status: row.status,
        created: row.created,
        secret: Arc::new(Zeroizing::new(secret)),
        runtime: Arc::new(KeyRuntime::with_last_used(row.last_used.clone())),
    })
}
