//! The entities of an account, as the snapshot holds them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub path: String,
    pub created: DateTime<Utc>,
    /// Sorted by key.
    pub tags: Vec<Tag>,
    pub login_profile: Option<LoginProfile>,
    pub attached_policy_arns: Vec<String>,
    /// Ids of the user's access keys, oldest first.
    pub access_key_ids: Vec<String>,
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
    pub signing_keys: SigningKeyCache,
    last_used: Mutex<KeyUsage>,
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
            signing_keys: SigningKeyCache::new(),
            last_used: Mutex::new(KeyUsage {
                last,
                unsaved: false,
            }),
        }
    }

    pub fn last_used(&self) -> Option<LastUsed> {
        self.usage().last.clone()
    }

    /// Records a use; cheap when the same service and region were seen in the same second.
    pub fn record_use(&self, at: DateTime<Utc>, service: &str, region: &str) {
        let mut usage = self.usage();
        if let Some(last) = &usage.last
            && last.at.timestamp() == at.timestamp()
            && last.service == service
            && last.region == region
        {
            return;
        }
        usage.last = Some(LastUsed {
            at,
            service: service.to_owned(),
            region: region.to_owned(),
        });
        usage.unsaved = true;
    }

    /// The last use if it has not been saved yet, marking it saved.
    pub fn take_unsaved(&self) -> Option<LastUsed> {
        let mut usage = self.usage();
        if !usage.unsaved {
            return None;
        }
        usage.unsaved = false;
        usage.last.clone()
    }

    /// Puts back a use whose save failed, unless a newer one arrived meanwhile.
    pub fn mark_unsaved(&self) {
        self.usage().unsaved = true;
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, KeyUsage> {
        // A panic while holding this lock cannot leave the usage record inconsistent.
        self.last_used
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
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
    Root { account_id: String },
    User(Arc<User>),
}

impl Principal {
    pub fn account_id(&self) -> &str {
        match self {
            Principal::Root { account_id } => account_id,
            Principal::User(user) => &user.account_id,
        }
    }

    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account_id } => format!("arn:aws:iam::{account_id}:root"),
            Principal::User(user) => user.arn(),
        }
    }

    /// The `UserId` of GetCallerIdentity: the account id for the root user.
    pub fn user_id(&self) -> &str {
        match self {
            Principal::Root { account_id } => account_id,
            Principal::User(user) => &user.id,
        }
    }
}

/// A generated credential report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    pub generated: DateTime<Utc>,
    pub csv: Vec<u8>,
}
