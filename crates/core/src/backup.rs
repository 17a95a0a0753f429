//! Logical backups: every table read in one read transaction ([`Store::load`]), written as
//! one JSON document, and restored into an empty store of either kind by one batch of
//! [`Change`]s ([`Store::apply`]). Sealed secrets stay sealed: the backup names the master
//! key it needs (its check value) but never holds it. See docs/design/backup.md.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::seal::{Keyring, MASTER_KEY_CHECK_AAD};
use crate::state::State;
use crate::store::{Contents, Seq, Store, StoreError};

/// What the first field of every backup says.
pub const FORMAT: &str = "latchkey-backup";
/// Raised when a backup made by this version could not be restored by an older one.
pub const FORMAT_VERSION: u32 = 1;

/// Every table of the schema and where a backup keeps it. A new table is one more line here
/// (the conformance suite fails until it is listed), and a field of [`Contents`].
pub const TABLES: &[(&str, &str)] = &[
    ("meta", "master_key_check"),
    ("accounts", "accounts, account_parents"),
    ("organizational_units", "organizational_units"),
    ("users", "users"),
    ("user_tags", "user_tags"),
    ("login_profiles", "login_profiles"),
    ("password_history", "password_history"),
    ("account_aliases", "account_aliases"),
    ("password_policies", "password_policies"),
    ("access_keys", "access_keys (with their last use)"),
    ("credential_reports", "credential_reports"),
    ("groups", "groups"),
    ("group_members", "group_members"),
    ("roles", "roles, role_boundaries"),
    ("role_tags", "role_tags"),
    ("managed_policies", "policies, policy_defaults"),
    ("policy_versions", "policy_versions"),
    ("policy_tags", "policy_tags"),
    ("policy_attachments", "attachments"),
    ("inline_policies", "inline_policies"),
    ("mfa_devices", "mfa_devices"),
    ("identity_centers", "identity_centers"),
    ("identity_store_users", "identity_store_users"),
    ("identity_store_groups", "identity_store_groups"),
    ("identity_store_memberships", "group_memberships"),
    ("permission_sets", "permission_sets"),
    ("permission_set_tags", "permission_set_tags"),
    ("account_assignments", "account_assignments"),
    ("permission_set_provisionings", "provisionings"),
    ("sso_requests", "sso_requests"),
    ("identity_store_invitations", "invitations"),
    ("identity_store_passwords", "identity_passwords"),
    ("identity_store_mfa", "identity_mfa"),
    ("device_authorizations", "device_authorizations"),
    ("spent_tokens", "spent_tokens"),
];

/// Tables a backup leaves out on purpose, and why.
pub const NOT_BACKED_UP: &[(&str, &str)] = &[
    (
        "change_log",
        "replication between instances of one database; a restored store starts a new log",
    ),
    (
        "audit_segments",
        "the audit trail is kept for its retention and can be streamed off the machine with \
         --audit-log; a restored store starts a new trail",
    ),
    (
        "audit_segment_keys",
        "part of the audit trail (see audit_segments)",
    ),
    (
        "schema_migrations",
        "the schema is the restoring binary's; the backup records the version that wrote it",
    ),
];

/// A whole store as of one committed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub format: String,
    pub format_version: u32,
    /// The latchkey version that wrote it.
    pub latchkey_version: String,
    pub created: DateTime<Utc>,
    /// Everything, as [`Store::load`] read it in one read transaction. Its
    /// `master_key_check` says which master key opens the sealed secrets.
    pub contents: Contents,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("not a latchkey backup: {0}")]
    NotABackup(String),
    #[error("the backup has format version {0}; this latchkey reads version {FORMAT_VERSION}")]
    UnknownVersion(u32),
    #[error("the target store is already initialized; nothing was changed")]
    NotEmpty,
    #[error(
        "the master key does not open this backup's secrets (use the key the backup was made with); nothing was changed"
    )]
    WrongMasterKey,
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl Backup {
    /// Reads every table in one read transaction.
    pub fn take(store: &dyn Store) -> Result<Backup, StoreError> {
        Ok(Backup {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            latchkey_version: env!("CARGO_PKG_VERSION").to_owned(),
            created: Utc::now(),
            contents: store.load()?,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a backup serializes")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Backup, RestoreError> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            format_version: u32,
        }
        let header: Header =
            serde_json::from_slice(bytes).map_err(|e| RestoreError::NotABackup(e.to_string()))?;
        if header.format != FORMAT {
            return Err(RestoreError::NotABackup(format!(
                "format {:?}",
                header.format
            )));
        }
        if header.format_version != FORMAT_VERSION {
            return Err(RestoreError::UnknownVersion(header.format_version));
        }
        serde_json::from_slice(bytes).map_err(|e| RestoreError::NotABackup(e.to_string()))
    }

    /// Writes the backup into `store`, which must hold nothing yet, as one batch: all of it
    /// or (on any error) nothing. Check the master key with [`Backup::check_master_key`]
    /// first: a store restored under a key that cannot open it would not start.
    pub fn restore(self, store: &dyn Store) -> Result<Seq, RestoreError> {
        let current = store.load()?;
        if (Contents { seq: 0, ..current }) != Contents::default() {
            return Err(RestoreError::NotEmpty);
        }
        Ok(store.apply(&self.contents.into_changes())?)
    }

    /// Whether `master` opens the check value and every sealed access key.
    pub fn check_master_key(&self, master: &Keyring) -> Result<(), RestoreError> {
        if let Some(check) = &self.contents.master_key_check {
            master
                .open(check, MASTER_KEY_CHECK_AAD)
                .map_err(|_| RestoreError::WrongMasterKey)?;
        }
        State::from_contents(self.contents.clone(), master)
            .map(drop)
            .map_err(|_| RestoreError::WrongMasterKey)
    }
}
