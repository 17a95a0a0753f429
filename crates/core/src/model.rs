//! The entities of an account, as the snapshot holds them.

use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use latchkey_policy::Policy;
use latchkey_sigv4::SigningKeyCache;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The AWS managed policy that grants everything; `init` attaches it to the administrator.
pub const ADMINISTRATOR_ACCESS_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub root_email: String,
    /// Argon2id PHC string of the root user's console password.
    pub root_password_hash: String,
    pub created: DateTime<Utc>,
}

impl Account {
    pub fn root_arn(&self) -> String {
        format!("arn:aws:iam::{}:root", self.id)
    }
}

/// The organization's IAM Identity Center instance, in the management account, and the
/// identity store it owns. There is one per organization, made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCenter {
    /// `ssoins-` and 16 hex digits.
    pub instance_id: String,
    /// `d-` and 10 hex digits.
    pub identity_store_id: String,
    /// The management account, which owns the instance.
    pub account_id: String,
    pub created: DateTime<Utc>,
}

impl IdentityCenter {
    /// `arn:aws:sso:::instance/ssoins-...`, as SSO Admin's ListInstances reports it.
    pub fn instance_arn(&self) -> String {
        format!("arn:aws:sso:::instance/{}", self.instance_id)
    }

    /// `arn:aws:identitystore::<account>:identitystore/d-...`
    pub fn identity_store_arn(&self) -> String {
        format!(
            "arn:aws:identitystore::{}:identitystore/{}",
            self.account_id, self.identity_store_id
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProfile {
    /// Argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    pub created: DateTime<Utc>,
    pub password_reset_required: bool,
    /// When the password was last set, for the password policy's `MaxPasswordAge`.
    pub password_changed: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
    /// Sorted by key.
    pub tags: Vec<Tag>,
    pub login_profile: Option<LoginProfile>,
    /// Hashes of previous console passwords, oldest first (`PasswordReusePrevention`).
    pub password_history: Vec<crate::store::PasswordHistoryRow>,
    /// Managed policies attached to the user, in attachment order.
    pub attached_policy_arns: Vec<String>,
    /// Sorted by name.
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<String>,
    /// Ids of the groups the user belongs to, in the order the user joined them.
    pub group_ids: Vec<String>,
    /// Ids of the user's access keys, oldest first.
    pub access_key_ids: Vec<String>,
    /// Serial numbers of the MFA devices assigned to the user, in the order they were enabled.
    pub mfa_serials: Vec<String>,
}

/// A policy document embedded in a user or group, compiled once when it is stored.
#[derive(Debug, Clone)]
pub struct InlinePolicy {
    pub name: String,
    pub document: String,
    pub compiled: Arc<Policy>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
    /// Ids of the member users, in the order they joined.
    pub member_ids: Vec<String>,
    pub attached_policy_arns: Vec<String>,
    /// Sorted by name.
    pub inline_policies: Vec<InlinePolicy>,
}

impl Group {
    pub fn arn(&self) -> String {
        group_arn(&self.account_id, &self.path, &self.name)
    }
}

pub fn group_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:group{path}{name}")
}

/// An IAM role: a trust policy saying who may assume it, and the policies its sessions get.
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub trust_policy: String,
    pub compiled_trust_policy: Arc<Policy>,
    pub max_session_duration: u32,
    pub created: DateTime<Utc>,
    /// Sorted by key.
    pub tags: Vec<Tag>,
    pub attached_policy_arns: Vec<String>,
    /// Sorted by name.
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<String>,
}

impl Role {
    pub fn arn(&self) -> String {
        role_arn(&self.account_id, &self.path, &self.name)
    }
}

pub fn role_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:role{path}{name}")
}

/// A managed policy: a customer's (in an account) or one of AWS's (account `aws`).
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    pub id: String,
    pub arn: String,
    /// `None` for AWS managed policies, which cannot be changed or deleted.
    pub account_id: Option<String>,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub default_version_id: String,
    /// Oldest first.
    pub versions: Vec<PolicyVersion>,
    /// Sorted by key.
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn default_version(&self) -> Option<&PolicyVersion> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version_id)
    }

    pub fn is_aws_managed(&self) -> bool {
        self.account_id.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created: DateTime<Utc>,
    pub compiled: Arc<Policy>,
}

impl User {
    pub fn arn(&self) -> String {
        user_arn(&self.account_id, &self.path, &self.name)
    }
}

pub fn user_arn(account_id: &str, path: &str, name: &str) -> String {
    format!("arn:aws:iam::{account_id}:user{path}{name}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Active" => Some(KeyStatus::Active),
            "Inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

/// Who an access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    User(String),
    Root,
}

/// Where and when a key was last used, as GetAccessKeyLastUsed reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    pub at: DateTime<Utc>,
    pub service: String,
    pub region: String,
}

/// State of a key that changes on the request path without a write to the store: derived
/// signing keys and last use. It is shared by every snapshot version of the same key.
#[derive(Debug, Default)]
pub struct KeyRuntime {
    /// Allocated on the key's first request: most of a large directory's keys are idle, and
    /// the cache is about a kilobyte.
    signing_keys: OnceLock<Box<SigningKeyCache>>,
    last_used: Mutex<KeyUsage>,
    /// The audit trail's identity of the key's principal, with the principal it was made
    /// for: made once per version of the principal, not per call.
    audit_identity: arc_swap::ArcSwapOption<(Principal, Arc<crate::audit::Identity>)>,
}

#[derive(Debug, Default)]
struct KeyUsage {
    last: Option<LastUsed>,
    /// Set when `last` changed since it was last written to the store.
    unsaved: bool,
}

impl KeyRuntime {
    pub fn with_last_used(last: Option<LastUsed>) -> Self {
        KeyRuntime {
            last_used: Mutex::new(KeyUsage {
                last,
                unsaved: false,
            }),
            ..KeyRuntime::default()
        }
    }

    /// The audit trail's identity of `principal` signing with this key, made by `make`
    /// unless it was made for this very version of the principal already.
    pub fn audit_identity(
        &self,
        principal: &Principal,
        make: impl FnOnce() -> crate::audit::Identity,
    ) -> Arc<crate::audit::Identity> {
        if let Some(cached) = &*self.audit_identity.load()
            && cached.0.is_same(principal)
        {
            return cached.1.clone();
        }
        let identity = Arc::new(make());
        self.audit_identity
            .store(Some(Arc::new((principal.clone(), identity.clone()))));
        identity
    }

    /// The key's derived signing keys.
    pub fn signing_keys(&self) -> &SigningKeyCache {
        self.signing_keys
            .get_or_init(|| Box::new(SigningKeyCache::new()))
    }

    pub fn last_used(&self) -> Option<LastUsed> {
        self.usage().last.clone()
    }

    /// Records a use; cheap when the same service and region were seen in the same second.
    /// Records a use; returns whether the key now has a use to save that it did not have.
    pub(crate) fn record_use(&self, at: DateTime<Utc>, service: &str, region: &str) -> bool {
        let mut usage = self.usage();
        if let Some(last) = &usage.last
            && last.at.timestamp() == at.timestamp()
            && last.service == service
            && last.region == region
        {
            return false;
        }
        usage.last = Some(LastUsed {
            at,
            service: service.to_owned(),
            region: region.to_owned(),
        });
        !std::mem::replace(&mut usage.unsaved, true)
    }

    /// The last use if it has not been saved yet, marking it saved.
    pub(crate) fn take_unsaved(&self) -> Option<LastUsed> {
        let mut usage = self.usage();
        if !usage.unsaved {
            return None;
        }
        usage.unsaved = false;
        usage.last.clone()
    }

    /// Puts back a use whose save failed.
    pub(crate) fn mark_unsaved(&self) {
        self.usage().unsaved = true;
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, KeyUsage> {
        // A panic while holding this lock cannot leave the usage record inconsistent.
        self.last_used
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// A virtual MFA device (an authenticator app holding a TOTP seed), assigned to at most
/// one user.
#[derive(Debug, Clone)]
pub struct MfaDevice {
    /// `arn:aws:iam::<account>:mfa<path><name>`.
    pub serial: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
    /// The TOTP seed, sealed under the master key with the serial as associated data. It is
    /// opened only to check a code, never kept in the clear.
    pub sealed_seed: Vec<u8>,
    pub assignment: Option<MfaAssignment>,
    pub runtime: Arc<MfaRuntime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaAssignment {
    pub user_id: String,
    pub enabled: DateTime<Utc>,
    /// How many 30-second steps the device's clock runs ahead (negative: behind), learned by
    /// ResyncMFADevice.
    pub drift_steps: i64,
}

/// The last TOTP step a device's code was accepted for, shared by every snapshot version of
/// the device: a code is accepted once (RFC 6238, 5.2), and only codes newer than the last.
#[derive(Debug, Default)]
pub struct MfaRuntime {
    last_step: std::sync::atomic::AtomicI64,
}

impl MfaRuntime {
    /// Claims `step`: true when no code of this or a later step was accepted before.
    pub fn claim(&self, step: i64) -> bool {
        self.last_step
            .fetch_max(step, std::sync::atomic::Ordering::SeqCst)
            < step
    }
}

#[derive(Clone)]
pub struct AccessKey {
    pub id: String,
    pub account_id: String,
    pub owner: KeyOwner,
    pub status: KeyStatus,
    pub created: DateTime<Utc>,
    /// The unsealed secret, held only in memory for signature verification.
    pub secret: Arc<Zeroizing<String>>,
    pub runtime: Arc<KeyRuntime>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("owner", &self.owner)
            .field("status", &self.status)
            .field("created", &self.created)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The principal a request is made as.
#[derive(Debug, Clone)]
pub enum Principal {
    Root {
        account_id: String,
    },
    User(Arc<User>),
    /// An IAM user signing with temporary credentials from GetSessionToken.
    UserSession {
        user: Arc<User>,
        session: Arc<Session>,
    },
    /// A session of a role, from AssumeRole.
    RoleSession {
        role: Arc<Role>,
        session: Arc<Session>,
    },
    /// A federated user, from an IAM user's GetFederationToken.
    FederatedSession {
        user: Arc<User>,
        session: Arc<Session>,
    },
}

impl Principal {
    /// Whether `other` is this very version of this principal: the same account's root, or
    /// the same allocations of its user, role and session (a change to any of them is a
    /// new allocation in the next snapshot, and one held here cannot be reused by another).
    pub fn is_same(&self, other: &Principal) -> bool {
        match (self, other) {
            (Principal::Root { account_id: a }, Principal::Root { account_id: b }) => a == b,
            (Principal::User(a), Principal::User(b)) => Arc::ptr_eq(a, b),
            (
                Principal::UserSession {
                    user: a,
                    session: s,
                },
                Principal::UserSession {
                    user: b,
                    session: t,
                },
            )
            | (
                Principal::FederatedSession {
                    user: a,
                    session: s,
                },
                Principal::FederatedSession {
                    user: b,
                    session: t,
                },
            ) => Arc::ptr_eq(a, b) && Arc::ptr_eq(s, t),
            (
                Principal::RoleSession {
                    role: a,
                    session: s,
                },
                Principal::RoleSession {
                    role: b,
                    session: t,
                },
            ) => Arc::ptr_eq(a, b) && Arc::ptr_eq(s, t),
            _ => false,
        }
    }

    pub fn account_id(&self) -> &str {
        match self {
            Principal::Root { account_id } => account_id,
            Principal::User(user)
            | Principal::UserSession { user, .. }
            | Principal::FederatedSession { user, .. } => &user.account_id,
            Principal::RoleSession { role, .. } => &role.account_id,
        }
    }

    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account_id } => format!("arn:aws:iam::{account_id}:root"),
            Principal::User(user) | Principal::UserSession { user, .. } => user.arn(),
            Principal::RoleSession { role, session } => format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                role.account_id,
                role.name,
                session.session_name.as_deref().unwrap_or_default()
            ),
            Principal::FederatedSession { user, session } => format!(
                "arn:aws:sts::{}:federated-user/{}",
                user.account_id,
                session.federated_name.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The `UserId` of GetCallerIdentity: the account id for the root user,
    /// `<role id>:<session name>` for a role session.
    pub fn user_id(&self) -> String {
        match self {
            Principal::Root { account_id } => account_id.clone(),
            Principal::User(user) | Principal::UserSession { user, .. } => user.id.clone(),
            Principal::RoleSession { role, session } => format!(
                "{}:{}",
                role.id,
                session.session_name.as_deref().unwrap_or_default()
            ),
            Principal::FederatedSession { user, session } => format!(
                "{}:{}",
                user.account_id,
                session.federated_name.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The IAM user behind the request, for operations that default to "the caller".
    pub fn user(&self) -> Option<&Arc<User>> {
        match self {
            Principal::User(user) | Principal::UserSession { user, .. } => Some(user),
            Principal::Root { .. }
            | Principal::RoleSession { .. }
            | Principal::FederatedSession { .. } => None,
        }
    }

    pub fn session(&self) -> Option<&Arc<Session>> {
        match self {
            Principal::UserSession { session, .. }
            | Principal::RoleSession { session, .. }
            | Principal::FederatedSession { session, .. } => Some(session),
            Principal::Root { .. } | Principal::User(_) => None,
        }
    }
}

/// Temporary credentials, as carried (sealed) in their session token.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    /// The role's id for a role session, the user's id for GetSessionToken.
    pub subject_id: String,
    /// Set for role sessions.
    pub session_name: Option<String>,
    /// Set for federated users (GetFederationToken).
    #[serde(default)]
    pub federated_name: Option<String>,
    pub issued: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// The inline session policy passed to AssumeRole.
    pub policy: Option<String>,
    /// Managed session policies passed to AssumeRole.
    pub policy_arns: Vec<String>,
    pub tags: Vec<Tag>,
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
    /// Whether the session came from a role session (role chaining).
    pub chained: bool,
    /// When the caller proved an MFA code for this session (GetSessionToken or AssumeRole
    /// with SerialNumber and TokenCode); absent when it did not.
    #[serde(default)]
    pub mfa_authenticated: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("subject_id", &self.subject_id)
            .field("session_name", &self.session_name)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

/// A generated credential report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    pub generated: DateTime<Utc>,
    pub csv: Vec<u8>,
}
