//! The storage boundary: what the domain asks of a database.
//!
//! Every write is a batch of [`Change`]s applied in one transaction. The store enforces the
//! invariants that must hold even with several writers (unique names, the access-key quota)
//! inside that transaction, so two instances racing cannot both succeed. Reads for the request
//! path come from the in-memory snapshot, which is built from [`Contents`] and kept current
//! by applying the same changes.
//!
//! Each committed batch gets a sequence number and is kept for a while in a change log, so
//! that other instances on the same database can apply exactly the same batches to their
//! snapshots, in commit order ([`Store::changes_since`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::segment::{AuditSegment, SegmentEncoding, SegmentQuery, SegmentRef};
use crate::identity_mfa::IdentityMfaRow;
use crate::identitystore::{GroupAttributes, UserAttributes};
use crate::invitations::{IdentityPasswordRow, InvitationRow};
use crate::model::{KeyStatus, LastUsed, MfaAssignment, Tag};
use crate::oidc::{DeviceAuthorizationRow, DeviceDecision, SpentTokenRow};
use crate::ssoadmin::{PermissionSetPolicies, PrincipalType, RequestKind, RequestStatus};

/// The most access keys a user may hold (AWS's `AccessKeysPerUser` quota).
pub const ACCESS_KEYS_PER_USER: usize = 2;
/// The most tags an IAM user or policy may carry.
pub const TAGS_PER_USER: usize = 50;
/// The most versions a managed policy may have (AWS's `VersionsPerPolicy`).
pub const VERSIONS_PER_POLICY: usize = 5;
/// The most managed policies attached to one user, group or role.
pub const ATTACHED_POLICIES_PER_ENTITY: usize = 10;
/// The most MFA devices assigned to one user (AWS's limit since 2022).
pub const MFA_DEVICES_PER_USER: usize = 8;
/// How many previous passwords are remembered per user: the most a password policy's
/// `PasswordReusePrevention` can ask for.
pub const PASSWORD_HISTORY_KEPT: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub root_email: String,
    pub root_password_hash: String,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
}

/// A customer managed policy (AWS managed policies ship with the binary, not in the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRow {
    pub id: String,
    pub arn: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersionRow {
    pub policy_arn: String,
    pub version_id: String,
    pub document: String,
    pub created: DateTime<Utc>,
}

/// What a policy is attached to or embedded in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Entity {
    User(String),
    Group(String),
    Role(String),
}

impl Entity {
    /// The kind's name as stored (`user`, `group`, `role`).
    pub fn kind(&self) -> &'static str {
        match self {
            Entity::User(_) => "user",
            Entity::Group(_) => "group",
            Entity::Role(_) => "role",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Entity::User(id) | Entity::Group(id) | Entity::Role(id) => id,
        }
    }

    pub fn from_parts(kind: &str, id: String) -> Option<Self> {
        match kind {
            "user" => Some(Entity::User(id)),
            "group" => Some(Entity::Group(id)),
            "role" => Some(Entity::Role(id)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub trust_policy: String,
    /// Seconds, 3600–43200.
    pub max_session_duration: u32,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlinePolicyRow {
    pub entity: Entity,
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRow {
    pub id: String,
    pub account_id: String,
    /// `None` for a root user key.
    pub user_id: Option<String>,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    /// The secret, sealed under the master key with the key id as associated data.
    pub sealed_secret: Vec<u8>,
    pub last_used: Option<LastUsed>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDeviceRow {
    pub serial: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
    /// The TOTP seed, sealed under the master key with the serial as associated data.
    pub sealed_seed: Vec<u8>,
    pub assignment: Option<MfaAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginProfileRow {
    pub user_id: String,
    pub password_hash: String,
    pub created: DateTime<Utc>,
    pub password_reset_required: bool,
    /// When the password was last set (its creation, a reset or a change): its age for
    /// the password policy's `MaxPasswordAge`.
    pub password_changed: DateTime<Utc>,
}

/// A password a user had before, kept (as its hash) for the password policy's
/// `PasswordReusePrevention`. The store keeps the newest [`PASSWORD_HISTORY_KEPT`] per user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHistoryRow {
    pub user_id: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When it stopped being the user's password.
    pub replaced: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialReportRow {
    pub account_id: String,
    pub generated: DateTime<Utc>,
    pub csv: Vec<u8>,
}

/// The organization's IAM Identity Center instance and its identity store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityCenterRow {
    pub instance_id: String,
    pub identity_store_id: String,
    pub account_id: String,
    pub created: DateTime<Utc>,
}

/// A user of the identity store (not an IAM user). The store keeps the attributes as one
/// document and indexes the user name, which is unique in the store ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityStoreUserRow {
    pub id: String,
    pub identity_store_id: String,
    pub attributes: UserAttributes,
    /// 1 at creation, one more with every update.
    pub revision: i64,
    pub created: DateTime<Utc>,
    pub created_by: String,
    pub updated: DateTime<Utc>,
    pub updated_by: String,
}

/// A group of the identity store; its display name is unique in the store ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityStoreGroupRow {
    pub id: String,
    pub identity_store_id: String,
    pub attributes: GroupAttributes,
    pub revision: i64,
    pub created: DateTime<Utc>,
    pub created_by: String,
    pub updated: DateTime<Utc>,
    pub updated_by: String,
}

/// A user's membership of an identity store group; one per (group, user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMembershipRow {
    pub id: String,
    pub identity_store_id: String,
    pub group_id: String,
    pub user_id: String,
    pub created: DateTime<Utc>,
    pub created_by: String,
}

/// A permission set of the Identity Center instance. What it grants (managed policies,
/// customer managed policy references, the inline policy, the boundary) is one document;
/// its name is unique in the instance ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSetRow {
    /// `ps-` and 16 hex digits.
    pub id: String,
    pub instance_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The `MaxSessionDuration` of the roles it provisions, in seconds (3600–43200).
    pub session_duration: u32,
    pub relay_state: Option<String>,
    pub policies: PermissionSetPolicies,
    /// 1 at creation, one more with every change to what it grants or how; accounts
    /// provisioned with an older revision are out of date.
    pub revision: i64,
    pub created: DateTime<Utc>,
}

/// A user or group of the identity store given a permission set in an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAssignmentRow {
    pub permission_set_id: String,
    pub account_id: String,
    pub principal_type: PrincipalType,
    pub principal_id: String,
    pub created: DateTime<Utc>,
}

/// A permission set provisioned in an account: the role it made there, and the revision
/// of the permission set the role was last made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRow {
    pub permission_set_id: String,
    pub account_id: String,
    pub role_id: String,
    pub revision: i64,
    pub provisioned: DateTime<Utc>,
}

/// An SSO Admin request that ran (an account assignment's creation or deletion, a
/// provisioning), kept for its Describe...Status and List...Status calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoRequestRow {
    /// A UUID.
    pub id: String,
    pub kind: RequestKind,
    pub instance_id: String,
    /// As it was when the request ran; the permission set may be gone since.
    pub permission_set_arn: String,
    /// The target account; `None` for a provisioning of every provisioned account.
    pub account_id: Option<String>,
    /// The assignment's principal; `None` for a provisioning.
    pub principal: Option<(PrincipalType, String)>,
    pub status: RequestStatus,
    pub failure_reason: Option<String>,
    pub created: DateTime<Utc>,
}

/// An organizational unit of the organization (docs/design/organizations.md). Its parent is
/// another OU, or the organization's root when `None` (the root is derived, not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationalUnitRow {
    /// `ou-` + the root's suffix + `-` + 8 random characters.
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    /// The tags CreateOrganizationalUnit was given.
    pub tags: Vec<Tag>,
    pub created: DateTime<Utc>,
}

/// One change to the stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    CreateAccount(AccountRow),
    CreateUser(UserRow),
    RenameUser {
        user_id: String,
        name: String,
        path: String,
    },
    DeleteUser {
        user_id: String,
    },
    /// Adds or overwrites these tags; fails with [`StoreError::LimitExceeded`] past
    /// [`TAGS_PER_USER`].
    SetUserTags {
        user_id: String,
        tags: Vec<Tag>,
    },
    RemoveUserTags {
        user_id: String,
        keys: Vec<String>,
    },
    CreateLoginProfile(LoginProfileRow),
    /// Replaces a user's login profile if its password is still the one with hash
    /// `replaces`; fails with [`StoreError::NotFound`] when it has none or another writer set
    /// a password since (a flag change must not bring back an old password).
    UpdateLoginProfile {
        profile: LoginProfileRow,
        replaces: String,
    },
    DeleteLoginProfile {
        user_id: String,
    },
    /// Remembers a previous password; the store keeps the newest
    /// [`PASSWORD_HISTORY_KEPT`] of the user's.
    RememberPassword(PasswordHistoryRow),
    /// Sets or replaces the account's alias; fails with [`StoreError::AlreadyExists`] when
    /// another account has it (aliases are unique across the deployment).
    SetAccountAlias {
        account_id: String,
        alias: String,
    },
    /// Deletes the account's alias if it is still `alias` (NotFound if not: another
    /// instance may have replaced it since the caller looked).
    DeleteAccountAlias {
        account_id: String,
        alias: String,
    },
    /// Sets or replaces the account's password policy.
    SetPasswordPolicy {
        account_id: String,
        policy: crate::account_settings::PasswordPolicy,
    },
    DeletePasswordPolicy {
        account_id: String,
    },
    /// Sets or (with `None`) removes a user's permissions boundary.
    SetUserBoundary {
        user_id: String,
        policy_arn: Option<String>,
    },
    CreateRole(RoleRow),
    UpdateRole {
        role_id: String,
        description: Option<String>,
        max_session_duration: u32,
    },
    UpdateAssumeRolePolicy {
        role_id: String,
        document: String,
    },
    /// Fails with [`StoreError::DeleteConflict`] while the role has policies.
    DeleteRole {
        role_id: String,
    },
    SetRoleTags {
        role_id: String,
        tags: Vec<Tag>,
    },
    RemoveRoleTags {
        role_id: String,
        keys: Vec<String>,
    },
    /// Sets or (with `None`) removes a role's permissions boundary.
    SetRoleBoundary {
        role_id: String,
        policy_arn: Option<String>,
    },
    CreateGroup(GroupRow),
    RenameGroup {
        group_id: String,
        name: String,
        path: String,
    },
    /// Fails with [`StoreError::DeleteConflict`] while the group has members or policies.
    DeleteGroup {
        group_id: String,
    },
    AddUserToGroup {
        group_id: String,
        user_id: String,
    },
    RemoveUserFromGroup {
        group_id: String,
        user_id: String,
    },
    CreatePolicy(PolicyRow),
    /// Fails with [`StoreError::DeleteConflict`] while the policy is attached anywhere.
    DeletePolicy {
        policy_arn: String,
    },
    /// Fails with [`StoreError::LimitExceeded`] past [`VERSIONS_PER_POLICY`].
    CreatePolicyVersion(PolicyVersionRow),
    DeletePolicyVersion {
        policy_arn: String,
        version_id: String,
    },
    SetDefaultPolicyVersion {
        policy_arn: String,
        version_id: String,
    },
    SetPolicyTags {
        policy_arn: String,
        tags: Vec<Tag>,
    },
    RemovePolicyTags {
        policy_arn: String,
        keys: Vec<String>,
    },
    /// Fails with [`StoreError::LimitExceeded`] past [`ATTACHED_POLICIES_PER_ENTITY`].
    AttachPolicy {
        entity: Entity,
        policy_arn: String,
    },
    DetachPolicy {
        entity: Entity,
        policy_arn: String,
    },
    /// Adds or replaces the named inline policy.
    PutInlinePolicy(InlinePolicyRow),
    DeleteInlinePolicy {
        entity: Entity,
        name: String,
    },
    /// Fails with [`StoreError::LimitExceeded`] when the user already holds
    /// [`ACCESS_KEYS_PER_USER`] keys.
    CreateAccessKey(AccessKeyRow),
    SetAccessKeyStatus {
        access_key_id: String,
        status: KeyStatus,
    },
    DeleteAccessKey {
        access_key_id: String,
    },
    /// Fails with [`StoreError::AlreadyExists`] when the account has a device of that name.
    CreateMfaDevice(MfaDeviceRow),
    /// Assigns a device to a user. Fails with [`StoreError::AlreadyExists`] when the device
    /// is assigned already, and [`StoreError::LimitExceeded`] past [`MFA_DEVICES_PER_USER`].
    EnableMfaDevice {
        serial: String,
        assignment: MfaAssignment,
    },
    /// Records the clock drift ResyncMFADevice learned.
    ResyncMfaDevice {
        serial: String,
        drift_steps: i64,
    },
    /// Unassigns a device; the virtual device itself remains until it is deleted.
    DeactivateMfaDevice {
        serial: String,
    },
    /// Fails with [`StoreError::DeleteConflict`] while the device is assigned.
    DeleteMfaDevice {
        serial: String,
    },
    /// Replaces the user's pending invitations with this one.
    CreateInvitation(InvitationRow),
    /// Spends an invitation; fails with [`StoreError::NotFound`] when it was spent already.
    AcceptInvitation {
        token_hash: String,
        at: DateTime<Utc>,
    },
    /// Sets or replaces an identity-store user's password.
    SetIdentityPassword(IdentityPasswordRow),
    /// Stores a person's authenticator app; fails with [`StoreError::AlreadyExists`] when
    /// they have one, and with [`StoreError::NotFound`] when the user is gone.
    EnableIdentityMfa(IdentityMfaRow),
    /// Removes a person's authenticator app (an administrator's doing, in the console);
    /// fails with [`StoreError::NotFound`] when they have none.
    DeleteIdentityMfa {
        user_id: String,
    },
    CreateDeviceAuthorization(DeviceAuthorizationRow),
    /// Records the person's decision; fails with [`StoreError::NotFound`] once decided.
    DecideDeviceAuthorization {
        device_code_hash: String,
        decision: DeviceDecision,
    },
    /// Records an authorization code as spent; fails with [`StoreError::AlreadyExists`] when
    /// it was spent before.
    SpendToken(SpentTokenRow),
    /// Spends an approved device code; fails with [`StoreError::NotFound`] once spent.
    RedeemDeviceAuthorization {
        device_code_hash: String,
        at: DateTime<Utc>,
    },
    PutCredentialReport(CredentialReportRow),
    /// Fails with [`StoreError::AlreadyExists`] when the account already has an instance:
    /// instances starting together on one database create it once.
    CreateIdentityCenter(IdentityCenterRow),
    /// Fails with [`StoreError::AlreadyExists`] when the user name is taken in the store.
    CreateIdentityStoreUser(IdentityStoreUserRow),
    /// Replaces the user's attributes; fails with [`StoreError::NotFound`] unless the stored
    /// revision is the one before the row's (another writer changed or deleted the user).
    UpdateIdentityStoreUser(IdentityStoreUserRow),
    /// Deletes the user, its group memberships and its account assignments (including one
    /// another writer committed meanwhile: the assignments go after the user's row).
    DeleteIdentityStoreUser {
        user_id: String,
    },
    CreateIdentityStoreGroup(IdentityStoreGroupRow),
    /// As [`Change::UpdateIdentityStoreUser`], for a group.
    UpdateIdentityStoreGroup(IdentityStoreGroupRow),
    /// Deletes the group, its memberships and its account assignments.
    DeleteIdentityStoreGroup {
        group_id: String,
    },
    /// Fails with [`StoreError::AlreadyExists`] when the user is already a member, and with
    /// [`StoreError::NotFound`] when the group or user is gone.
    CreateGroupMembership(GroupMembershipRow),
    DeleteGroupMembership {
        membership_id: String,
    },
    /// Fails with [`StoreError::AlreadyExists`] when the instance has a permission set of
    /// that name.
    CreatePermissionSet(PermissionSetRow),
    /// Replaces the permission set; fails with [`StoreError::NotFound`] unless the stored
    /// revision is the one before the row's (another writer changed or deleted it).
    UpdatePermissionSet(PermissionSetRow),
    /// Deletes it and its tags; fails with [`StoreError::DeleteConflict`] while it is
    /// assigned or provisioned anywhere.
    DeletePermissionSet {
        permission_set_id: String,
    },
    /// Adds or overwrites these tags; fails with [`StoreError::LimitExceeded`] past
    /// [`TAGS_PER_USER`].
    SetPermissionSetTags {
        permission_set_id: String,
        tags: Vec<Tag>,
    },
    RemovePermissionSetTags {
        permission_set_id: String,
        keys: Vec<String>,
    },
    /// Fails with [`StoreError::AlreadyExists`] when the principal already has the
    /// permission set in the account, and with [`StoreError::NotFound`] when the identity
    /// store user or group it assigns is gone (deleted by another writer).
    CreateAccountAssignment(AccountAssignmentRow),
    DeleteAccountAssignment {
        permission_set_id: String,
        account_id: String,
        principal_type: PrincipalType,
        principal_id: String,
    },
    /// Fails with [`StoreError::AlreadyExists`] when the permission set is provisioned in
    /// the account already: two writers provisioning it together make one role.
    CreateProvisioning(ProvisioningRow),
    /// Records that the account's role now matches `revision` of the permission set.
    UpdateProvisioning {
        permission_set_id: String,
        account_id: String,
        revision: i64,
        provisioned: DateTime<Utc>,
    },
    DeleteProvisioning {
        permission_set_id: String,
        account_id: String,
    },
    RecordSsoRequest(SsoRequestRow),
    /// Fails with [`StoreError::AlreadyExists`] when the parent has an OU of that name, and
    /// with [`StoreError::NotFound`] when the parent OU is gone.
    CreateOrganizationalUnit(OrganizationalUnitRow),
    /// Fails with [`StoreError::AlreadyExists`] when the parent has another OU of that name.
    RenameOrganizationalUnit {
        ou_id: String,
        name: String,
    },
    /// Fails with [`StoreError::DeleteConflict`] while the OU holds OUs or accounts, even
    /// ones another writer just moved or created there.
    DeleteOrganizationalUnit {
        ou_id: String,
    },
    /// Moves an account from `from` to `to` (OU ids; `None` is the root). Fails with
    /// [`StoreError::NotFound`] unless the account is in `from` and `to` exists.
    MoveAccount {
        account_id: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// Records, once, the sealed value that proves which master key the store belongs to.
    SetMasterKeyCheck(Vec<u8>),
    /// Replaces a sealed value by the same secret sealed under another master key (a
    /// rotation); fails with [`StoreError::NotFound`] when its row is gone.
    Reseal(Resealed),
}

/// A sealed value of a row, sealed again; what it seals is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resealed {
    AccessKey {
        access_key_id: String,
        sealed_secret: Vec<u8>,
    },
    MfaDevice {
        serial: String,
        sealed_seed: Vec<u8>,
    },
    /// The authenticator of an identity-store user.
    IdentityMfa {
        user_id: String,
        sealed_seed: Vec<u8>,
    },
    MasterKeyCheck(Vec<u8>),
}

/// The position of a committed batch in the change log; 0 before the first.
pub type Seq = i64;

/// Everything the snapshot is built from, and everything a backup holds
/// (`crate::backup`): a new table needs a field here, a line in [`Contents::into_changes`]
/// and its name in `crate::backup::TABLES`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// The last batch these contents include.
    pub seq: Seq,
    pub accounts: Vec<AccountRow>,
    pub users: Vec<UserRow>,
    pub user_tags: Vec<(String, Tag)>,
    pub login_profiles: Vec<LoginProfileRow>,
    pub password_history: Vec<PasswordHistoryRow>,
    /// (account id, alias)
    pub account_aliases: Vec<(String, String)>,
    /// (account id, policy)
    pub password_policies: Vec<(String, crate::account_settings::PasswordPolicy)>,
    /// (user id, boundary policy ARN)
    pub user_boundaries: Vec<(String, String)>,
    pub groups: Vec<GroupRow>,
    pub roles: Vec<RoleRow>,
    pub role_tags: Vec<(String, Tag)>,
    /// (role id, boundary policy ARN)
    pub role_boundaries: Vec<(String, String)>,
    /// (group id, user id)
    pub group_members: Vec<(String, String)>,
    pub policies: Vec<PolicyRow>,
    pub policy_versions: Vec<PolicyVersionRow>,
    /// (policy ARN, default version id)
    pub policy_defaults: Vec<(String, String)>,
    pub policy_tags: Vec<(String, Tag)>,
    pub attachments: Vec<(Entity, String)>,
    pub inline_policies: Vec<InlinePolicyRow>,
    pub access_keys: Vec<AccessKeyRow>,
    pub mfa_devices: Vec<MfaDeviceRow>,
    pub invitations: Vec<InvitationRow>,
    pub identity_passwords: Vec<IdentityPasswordRow>,
    pub identity_mfa: Vec<IdentityMfaRow>,
    pub device_authorizations: Vec<DeviceAuthorizationRow>,
    pub spent_tokens: Vec<SpentTokenRow>,
    pub credential_reports: Vec<CredentialReportRow>,
    pub identity_centers: Vec<IdentityCenterRow>,
    pub identity_store_users: Vec<IdentityStoreUserRow>,
    pub identity_store_groups: Vec<IdentityStoreGroupRow>,
    pub group_memberships: Vec<GroupMembershipRow>,
    pub permission_sets: Vec<PermissionSetRow>,
    /// (permission set id, tag)
    pub permission_set_tags: Vec<(String, Tag)>,
    pub account_assignments: Vec<AccountAssignmentRow>,
    pub provisionings: Vec<ProvisioningRow>,
    pub sso_requests: Vec<SsoRequestRow>,
    /// Absent from backups made before organizational units existed.
    #[serde(default)]
    pub organizational_units: Vec<OrganizationalUnitRow>,
    /// (account id, OU id) of every account not directly under the root.
    #[serde(default)]
    pub account_parents: Vec<(String, String)>,
    /// The sealed check value that proves which master key this store was initialized with.
    pub master_key_check: Option<Vec<u8>>,
}

impl Contents {
    /// The changes that make these contents from nothing, in an order every store accepts
    /// and that leaves what the stores prune on the way (expired device authorizations,
    /// spent tokens) as it was: loading a snapshot and restoring a backup both replay them.
    pub fn into_changes(self) -> Vec<Change> {
        let mut changes = Vec::new();
        changes.extend(self.master_key_check.map(Change::SetMasterKeyCheck));
        changes.extend(self.accounts.into_iter().map(Change::CreateAccount));
        changes.extend(self.users.into_iter().map(Change::CreateUser));
        for (user_id, tags) in grouped(self.user_tags) {
            changes.push(Change::SetUserTags { user_id, tags });
        }
        changes.extend(
            self.login_profiles
                .into_iter()
                .map(Change::CreateLoginProfile),
        );
        let mut history = self.password_history;
        history.sort_by_key(|h| h.replaced);
        changes.extend(history.into_iter().map(Change::RememberPassword));
        for (account_id, alias) in self.account_aliases {
            changes.push(Change::SetAccountAlias { account_id, alias });
        }
        for (account_id, policy) in self.password_policies {
            changes.push(Change::SetPasswordPolicy { account_id, policy });
        }
        for (user_id, policy_arn) in self.user_boundaries {
            let policy_arn = Some(policy_arn);
            changes.push(Change::SetUserBoundary {
                user_id,
                policy_arn,
            });
        }
        changes.extend(self.roles.into_iter().map(Change::CreateRole));
        for (role_id, tags) in grouped(self.role_tags) {
            changes.push(Change::SetRoleTags { role_id, tags });
        }
        for (role_id, policy_arn) in self.role_boundaries {
            let policy_arn = Some(policy_arn);
            changes.push(Change::SetRoleBoundary {
                role_id,
                policy_arn,
            });
        }
        changes.extend(self.groups.into_iter().map(Change::CreateGroup));
        for (group_id, user_id) in self.group_members {
            changes.push(Change::AddUserToGroup { group_id, user_id });
        }
        changes.extend(self.policies.into_iter().map(Change::CreatePolicy));
        let mut versions = self.policy_versions;
        versions.sort_by(|a, b| {
            a.created
                .cmp(&b.created)
                .then_with(|| version_order(&a.version_id, &b.version_id))
        });
        changes.extend(versions.into_iter().map(Change::CreatePolicyVersion));
        for (policy_arn, version_id) in self.policy_defaults {
            changes.push(Change::SetDefaultPolicyVersion {
                policy_arn,
                version_id,
            });
        }
        for (policy_arn, tags) in grouped(self.policy_tags) {
            changes.push(Change::SetPolicyTags { policy_arn, tags });
        }
        for (entity, policy_arn) in self.attachments {
            changes.push(Change::AttachPolicy { entity, policy_arn });
        }
        changes.extend(
            self.inline_policies
                .into_iter()
                .map(Change::PutInlinePolicy),
        );
        let mut keys = self.access_keys;
        keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        changes.extend(keys.into_iter().map(Change::CreateAccessKey));
        let mut devices = self.mfa_devices;
        devices.sort_by_key(|d| (d.assignment.as_ref().map(|a| a.enabled), d.serial.clone()));
        for mut device in devices {
            let assignment = device.assignment.take();
            let serial = device.serial.clone();
            changes.push(Change::CreateMfaDevice(device));
            if let Some(assignment) = assignment {
                changes.push(Change::EnableMfaDevice { serial, assignment });
            }
        }
        changes.extend(
            self.credential_reports
                .into_iter()
                .map(Change::PutCredentialReport),
        );
        changes.extend(
            self.identity_centers
                .into_iter()
                .map(Change::CreateIdentityCenter),
        );
        changes.extend(
            self.identity_store_users
                .into_iter()
                .map(Change::CreateIdentityStoreUser),
        );
        changes.extend(
            self.identity_store_groups
                .into_iter()
                .map(Change::CreateIdentityStoreGroup),
        );
        changes.extend(
            self.group_memberships
                .into_iter()
                .map(Change::CreateGroupMembership),
        );
        // A new invitation replaces the user's pending one: the accepted ones go first.
        let mut invitations = self.invitations;
        invitations.sort_by_key(|i| (i.accepted.is_none(), i.created));
        changes.extend(invitations.into_iter().map(Change::CreateInvitation));
        changes.extend(
            self.identity_passwords
                .into_iter()
                .map(Change::SetIdentityPassword),
        );
        changes.extend(self.identity_mfa.into_iter().map(Change::EnableIdentityMfa));
        // Each of these prunes rows that expired before it was made, which the original
        // store had pruned too: in the order they were made, nothing is lost.
        let mut spent = self.spent_tokens;
        spent.sort_by_key(|t| t.spent);
        changes.extend(spent.into_iter().map(Change::SpendToken));
        let mut devices = self.device_authorizations;
        devices.sort_by_key(|d| d.created);
        changes.extend(devices.into_iter().map(Change::CreateDeviceAuthorization));
        changes.extend(
            self.permission_sets
                .into_iter()
                .map(Change::CreatePermissionSet),
        );
        for (permission_set_id, tags) in grouped(self.permission_set_tags) {
            changes.push(Change::SetPermissionSetTags {
                permission_set_id,
                tags,
            });
        }
        changes.extend(
            self.account_assignments
                .into_iter()
                .map(Change::CreateAccountAssignment),
        );
        changes.extend(
            self.provisionings
                .into_iter()
                .map(Change::CreateProvisioning),
        );
        changes.extend(self.sso_requests.into_iter().map(Change::RecordSsoRequest));
        changes.extend(
            parents_first(self.organizational_units)
                .into_iter()
                .map(Change::CreateOrganizationalUnit),
        );
        for (account_id, ou_id) in self.account_parents {
            changes.push(Change::MoveAccount {
                account_id,
                from: None,
                to: Some(ou_id),
            });
        }
        changes
    }
}

/// OUs ordered so that each comes after its parent.
fn parents_first(mut units: Vec<OrganizationalUnitRow>) -> Vec<OrganizationalUnitRow> {
    units.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let mut placed = std::collections::HashSet::new();
    let mut ordered = Vec::with_capacity(units.len());
    while !units.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = units.into_iter().partition(|u| {
            u.parent_id
                .as_ref()
                .is_none_or(|parent| placed.contains(parent))
        });
        if ready.is_empty() {
            // Parents that are not there: left for the store to refuse.
            ordered.extend(waiting);
            break;
        }
        placed.extend(ready.iter().map(|u| u.id.clone()));
        ordered.extend(ready);
        units = waiting;
    }
    ordered
}

/// Tags by their owner, in the order the owners first appear.
fn grouped(tags: Vec<(String, Tag)>) -> Vec<(String, Vec<Tag>)> {
    let mut owners: Vec<(String, Vec<Tag>)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (owner, tag) in tags {
        let at = *index.entry(owner.clone()).or_insert_with(|| {
            owners.push((owner, Vec::new()));
            owners.len() - 1
        });
        owners[at].1.push(tag);
    }
    owners
}

/// Policy versions in the order they were made: `v2` before `v10`.
pub(crate) fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let number = |v: &str| v.trim_start_matches('v').parse::<u64>().unwrap_or(u64::MAX);
    number(a).cmp(&number(b)).then_with(|| a.cmp(b))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness constraint refused the change (a name or id already taken).
    #[error("already exists")]
    AlreadyExists,
    /// A quota checked in the transaction refused the change.
    #[error("quota {quota} of {limit} exceeded")]
    LimitExceeded { quota: &'static str, limit: usize },
    /// The row to delete still has dependents (a user that holds access keys).
    #[error("dependent rows exist")]
    DeleteConflict,
    /// The row the change refers to is gone.
    #[error("not found")]
    NotFound,
    /// The backend failed; nothing was committed.
    #[error("storage failure: {0}")]
    Backend(String),
    /// The database cannot be reached; nothing was committed and a retry may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// Batches committed after a given one, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesSince {
    Batches(Vec<(Seq, Vec<Change>)>),
    /// The log no longer reaches back that far: load everything again.
    Reload,
}

/// A database that keeps latchkey's state.
pub trait Store: Send + Sync + 'static {
    /// Reads the whole state, for building a snapshot, as of one committed batch.
    fn load(&self) -> Result<Contents, StoreError>;

    /// Applies the changes in one transaction and logs them as one batch, with the audit
    /// segment of the call that made them: all of it is durable when this returns the
    /// batch's sequence number, none of it on `Err`.
    fn apply_audited(&self, changes: &[Change], audit: &[AuditSegment]) -> Result<Seq, StoreError>;

    /// [`Store::apply_audited`] for a batch no call made (start-up, migrations of data).
    fn apply(&self, changes: &[Change]) -> Result<Seq, StoreError> {
        self.apply_audited(changes, &[])
    }

    /// Saves audit segments of calls that changed nothing (reads, denials, failures), in one
    /// transaction. A segment already saved (the same id) is left as it is.
    fn append_audit_segments(&self, segments: &[AuditSegment]) -> Result<(), StoreError>;

    /// The segments a lookup reads, in the query's order, at most `query.limit`.
    fn audit_segment_refs(&self, query: &SegmentQuery<'_>) -> Result<Vec<SegmentRef>, StoreError>;

    /// One segment's encoded events; `None` if it is gone.
    fn audit_segment_data(
        &self,
        segment_id: &str,
    ) -> Result<Option<(SegmentEncoding, Vec<u8>)>, StoreError>;

    /// Deletes the segments whose last event is older than `before`, with their keys;
    /// returns how many events they held.
    fn delete_audit_segments_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The batches committed after `after`, by any writer.
    fn changes_since(&self, after: Seq) -> Result<ChangesSince, StoreError>;

    /// Saves when access keys were last used. Not a logged change: use is recorded on the
    /// request path of whichever instance served it, and saved in the background.
    fn save_key_usage(&self, uses: &[(String, LastUsed)]) -> Result<(), StoreError>;
}
