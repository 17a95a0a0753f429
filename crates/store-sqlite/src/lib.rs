//! The embedded store: one SQLite database in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a commit is on disk before `apply` returns and before
//! any response acknowledges it. Invariants that must survive concurrent writers are enforced
//! here, inside the write transaction: unique indexes for names, and a count under
//! `BEGIN IMMEDIATE` (which holds SQLite's single write lock) for the access-key quota.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use latchkey_core::account_settings::PasswordPolicy;
use latchkey_core::audit::segment::{AuditSegment, SegmentEncoding, SegmentQuery, SegmentRef};
use latchkey_core::identity_mfa::IdentityMfaRow;
use latchkey_core::invitations::{IdentityPasswordRow, InvitationRow};
use latchkey_core::model::{KeyStatus, LastUsed, MfaAssignment, Tag};
use latchkey_core::oidc::{DeviceAuthorizationRow, DeviceDecision, SpentTokenRow};
use latchkey_core::ssoadmin::{PrincipalType, RequestKind, RequestStatus};
use latchkey_core::store::{
    ACCESS_KEYS_PER_USER, ATTACHED_POLICIES_PER_ENTITY, AccessKeyRow, AccountAssignmentRow,
    AccountRow, Change, ChangesSince, Contents, CredentialReportRow, Entity, GroupMembershipRow,
    GroupRow, IdentityCenterRow, IdentityStoreGroupRow, IdentityStoreUserRow, InlinePolicyRow,
    LoginProfileRow, MFA_DEVICES_PER_USER, MfaDeviceRow, OrganizationalUnitRow,
    PASSWORD_HISTORY_KEPT, PasswordHistoryRow, PermissionSetRow, PolicyRow, PolicyVersionRow,
    ProvisioningRow, Resealed, RoleRow, Seq, SsoRequestRow, Store, StoreError, TAGS_PER_USER,
    UserRow, VERSIONS_PER_POLICY,
};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};

/// Migrations by number, in order. Numbers may have gaps: a number can be taken by work
/// that lands later, and its migration then runs after higher ones already applied. Which
/// ones were applied is recorded per number (`schema_migrations`); `user_version` holds the
/// highest applied, for people and `latchkey migrate`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_change_log.sql")),
    (
        3,
        include_str!("../migrations/0003_groups_policies_roles.sql"),
    ),
    (4, include_str!("../migrations/0004_mfa_devices.sql")),
    (5, include_str!("../migrations/0005_identity_store.sql")),
    (6, include_str!("../migrations/0006_sso_admin.sql")),
    (7, include_str!("../migrations/0007_invitations.sql")),
    (
        8,
        include_str!("../migrations/0008_device_authorizations.sql"),
    ),
    (9, include_str!("../migrations/0009_spent_tokens.sql")),
    (10, include_str!("../migrations/0010_audit_events.sql")),
    (11, include_str!("../migrations/0011_identity_mfa.sql")),
    (12, include_str!("../migrations/0012_account_settings.sql")),
    (
        13,
        include_str!("../migrations/0013_organizational_units.sql"),
    ),
    (14, include_str!("../migrations/0014_audit_segments.sql")),
    (
        15,
        include_str!("../migrations/0015_audit_segment_keys_key_first.sql"),
    ),
];

/// How many batches the change log keeps; a reader further behind reloads everything.
const CHANGE_LOG_RETAINED: i64 = 10_000;

#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

fn backend(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &error
        && failure.code == ErrorCode::ConstraintViolation
    {
        // A foreign key names a row another writer deleted; other constraints are unique
        // names and ids.
        return if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
            StoreError::NotFound
        } else {
            StoreError::AlreadyExists
        };
    }
    StoreError::Backend(error.to_string())
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(text: String) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = Connection::open(path).map_err(backend)?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(backend)?;
        migrate(&mut connection, MIGRATIONS)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back when the Transaction drops, so the
        // connection is consistent even if the lock was poisoned.
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applies the migrations not yet applied, each in its own transaction with its record.
///
/// Databases made before migrations were recorded by number applied them without gaps, and
/// their `user_version` counts them: those are recorded first.
fn migrate(connection: &mut Connection, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let recorded: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            [],
            |row| row.get(0),
        )
        .map_err(backend)?;
    if !recorded {
        let counted: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        tx.execute_batch(
            "CREATE TABLE schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL
             ) STRICT",
        )
        .map_err(backend)?;
        for version in 1..=counted {
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, time(&Utc::now())],
            )
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)?;
    for (version, sql) in migrations {
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let applied: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM schema_migrations WHERE version = ?1",
                params![version],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if applied {
            continue;
        }
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, time(&Utc::now())],
        )
        .map_err(backend)?;
        let highest: i64 = tx
            .query_row("SELECT max(version) FROM schema_migrations", [], |row| {
                row.get(0)
            })
            .map_err(backend)?;
        tx.pragma_update(None, "user_version", highest)
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(&self) -> Result<Contents, StoreError> {
        let mut connection = self.connection();
        // One read transaction, so the snapshot is of one moment.
        let tx = connection.transaction().map_err(backend)?;
        let contents = read_all(&tx).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(contents)
    }

    fn apply_audited(&self, changes: &[Change], audit: &[AuditSegment]) -> Result<Seq, StoreError> {
        let batch =
            serde_json::to_string(changes).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        for change in changes {
            apply_one(&tx, change)?;
        }
        insert_segments(&tx, audit)?;
        tx.execute(
            "INSERT INTO change_log (batch, created_at) VALUES (?1, ?2)",
            params![batch, time(&Utc::now())],
        )
        .map_err(backend)?;
        let seq = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM change_log WHERE seq <= ?1",
            params![seq - CHANGE_LOG_RETAINED],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(seq)
    }

    fn changes_since(&self, after: Seq) -> Result<ChangesSince, StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(backend)?;
        let oldest: Option<Seq> = tx
            .query_row("SELECT min(seq) FROM change_log", [], |row| row.get(0))
            .map_err(backend)?;
        if oldest.is_some_and(|oldest| oldest > after + 1) {
            return Ok(ChangesSince::Reload);
        }
        let rows: Vec<(Seq, String)> = tx
            .prepare("SELECT seq, batch FROM change_log WHERE seq > ?1 ORDER BY seq")
            .and_then(|mut statement| {
                statement
                    .query_map(params![after], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        rows.into_iter()
            .map(|(seq, batch)| {
                serde_json::from_str(&batch)
                    .map(|changes| (seq, changes))
                    .map_err(|e| StoreError::Backend(format!("change log entry {seq}: {e}")))
            })
            .collect::<Result<_, _>>()
            .map(ChangesSince::Batches)
    }

    fn append_audit_segments(&self, segments: &[AuditSegment]) -> Result<(), StoreError> {
        if segments.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection();
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        insert_segments(&tx, segments)?;
        tx.commit().map_err(backend)
    }

    fn audit_segment_refs(&self, query: &SegmentQuery<'_>) -> Result<Vec<SegmentRef>, StoreError> {
        let (below_last, below_id) = match &query.below {
            Some((last_us, id)) => (Some(*last_us), Some(id.as_str())),
            None => (None, None),
        };
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT segment_id, first_us, last_us FROM audit_segment_keys
                 WHERE account_id = ?1 AND attribute = ?2 AND value = ?3
                   AND (?4 IS NULL OR last_us >= ?4) AND (?5 IS NULL OR first_us <= ?5)
                   AND (?6 IS NULL OR last_us < ?6 OR (last_us = ?6 AND segment_id < ?7))
                 ORDER BY last_us DESC, segment_id DESC LIMIT ?8",
            )
            .map_err(backend)?;
        statement
            .query_map(
                params![
                    query.account_id,
                    query.attribute,
                    query.value,
                    query.from_us,
                    query.to_us,
                    below_last,
                    below_id,
                    query.limit as i64
                ],
                |row| {
                    Ok(SegmentRef {
                        segment_id: row.get(0)?,
                        first_us: row.get(1)?,
                        last_us: row.get(2)?,
                    })
                },
            )
            .and_then(|rows| rows.collect())
            .map_err(backend)
    }

    fn audit_segment_data(
        &self,
        segment_id: &str,
    ) -> Result<Option<(SegmentEncoding, Vec<u8>)>, StoreError> {
        let connection = self.connection();
        let row: Option<(i16, Vec<u8>)> = connection
            .query_row(
                "SELECT encoding, data FROM audit_segments WHERE segment_id = ?1",
                params![segment_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        row.map(|(encoding, data)| Ok((SegmentEncoding::from_code(encoding)?, data)))
            .transpose()
    }

    fn delete_audit_segments_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(backend)?;
        let before = micros(&before);
        let events: i64 = tx
            .query_row(
                "SELECT coalesce(sum(event_count), 0) FROM audit_segments WHERE last_us < ?1",
                params![before],
                |row| row.get(0),
            )
            .map_err(backend)?;
        tx.execute(
            "DELETE FROM audit_segments WHERE last_us < ?1",
            params![before],
        )
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM audit_segment_keys WHERE last_us < ?1",
            params![before],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(events as u64)
    }

    fn save_key_usage(&self, uses: &[(String, LastUsed)]) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let tx = connection.transaction().map_err(backend)?;
        for (access_key_id, last_used) in uses {
            // A key deleted since its use was recorded simply has nothing to update; an
            // older use never overwrites a newer one saved by another instance.
            tx.execute(
                "UPDATE access_keys SET last_used_at = ?2, last_used_service = ?3, last_used_region = ?4
                 WHERE access_key_id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2)",
                params![access_key_id, time(&last_used.at), last_used.service, last_used.region],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }
}

fn micros(at: &DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Saves audit segments with their keys; a segment already there (the same id) is left as
/// it was.
fn insert_segments(tx: &Transaction<'_>, segments: &[AuditSegment]) -> Result<(), StoreError> {
    let mut insert_segment = tx
        .prepare_cached(
            "INSERT INTO audit_segments (segment_id, first_us, last_us, event_count, encoding, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (segment_id) DO NOTHING",
        )
        .map_err(backend)?;
    let mut insert_key = tx
        .prepare_cached(
            "INSERT INTO audit_segment_keys (account_id, attribute, value, last_us, first_us, segment_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?;
    for segment in segments {
        let inserted = insert_segment
            .execute(params![
                segment.segment_id,
                segment.first_us,
                segment.last_us,
                segment.event_count,
                segment.encoding.code(),
                segment.data
            ])
            .map_err(backend)?;
        if inserted == 0 {
            continue;
        }
        for key in &segment.keys {
            insert_key
                .execute(params![
                    key.account_id,
                    key.attribute,
                    key.value,
                    segment.last_us,
                    segment.first_us,
                    segment.segment_id
                ])
                .map_err(backend)?;
        }
    }
    Ok(())
}

/// A tag table: which table holds one kind of owner's tags, and the quota it reports.
struct TagTable {
    table: &'static str,
    owner: &'static str,
    quota: &'static str,
}

const USER_TAGS: TagTable = TagTable {
    table: "user_tags",
    owner: "user_id",
    quota: "TagsPerUser",
};
const ROLE_TAGS: TagTable = TagTable {
    table: "role_tags",
    owner: "role_id",
    quota: "TagsPerRole",
};
const POLICY_TAGS: TagTable = TagTable {
    table: "policy_tags",
    owner: "policy_arn",
    quota: "TagsPerPolicy",
};
const PERMISSION_SET_TAGS: TagTable = TagTable {
    table: "permission_set_tags",
    owner: "permission_set_id",
    quota: "TagsPerPermissionSet",
};

/// Adds or overwrites tags, then refuses the whole change past the quota (the write
/// transaction holds SQLite's only write lock, so the count is exact).
fn set_tags(
    tx: &Transaction<'_>,
    t: &TagTable,
    owner: &str,
    tags: &[Tag],
) -> Result<usize, StoreError> {
    let upsert = format!(
        "INSERT INTO {table} ({owner}, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT ({owner}, key) DO UPDATE SET value = excluded.value",
        table = t.table,
        owner = t.owner
    );
    for Tag { key, value } in tags {
        tx.execute(&upsert, params![owner, key, value])
            .map_err(backend)?;
    }
    let held = count(
        tx,
        &format!("SELECT count(*) FROM {} WHERE {} = ?1", t.table, t.owner),
        owner,
    )?;
    if held as usize > TAGS_PER_USER {
        return Err(StoreError::LimitExceeded {
            quota: t.quota,
            limit: TAGS_PER_USER,
        });
    }
    Ok(1)
}

fn remove_tags(
    tx: &Transaction<'_>,
    t: &TagTable,
    owner: &str,
    keys: &[String],
) -> Result<usize, StoreError> {
    let delete = format!(
        "DELETE FROM {} WHERE {} = ?1 AND key = ?2",
        t.table, t.owner
    );
    for key in keys {
        tx.execute(&delete, params![owner, key]).map_err(backend)?;
    }
    Ok(1)
}

/// Deletes an identity store user or group (`delete`), then its account assignments.
fn delete_principal(
    tx: &Transaction<'_>,
    delete: &str,
    principal_type: PrincipalType,
    id: &str,
) -> rusqlite::Result<usize> {
    let deleted = tx.execute(delete, params![id])?;
    tx.execute(
        "DELETE FROM account_assignments WHERE principal_type = ?1 AND principal_id = ?2",
        params![principal_type.as_str(), id],
    )?;
    Ok(deleted)
}

fn apply_one(tx: &Transaction<'_>, change: &Change) -> Result<(), StoreError> {
    let affected = match change {
        Change::SetMasterKeyCheck(check) => tx.execute(
            "INSERT INTO meta (key, value) VALUES ('master_key_check', ?1)",
            params![check],
        ),
        Change::Reseal(Resealed::AccessKey {
            access_key_id,
            sealed_secret,
        }) => tx.execute(
            "UPDATE access_keys SET sealed_secret = ?2 WHERE access_key_id = ?1",
            params![access_key_id, sealed_secret],
        ),
        Change::Reseal(Resealed::MfaDevice {
            serial,
            sealed_seed,
        }) => tx.execute(
            "UPDATE mfa_devices SET sealed_seed = ?2 WHERE serial_number = ?1",
            params![serial, sealed_seed],
        ),
        Change::Reseal(Resealed::IdentityMfa {
            user_id,
            sealed_seed,
        }) => tx.execute(
            "UPDATE identity_store_mfa SET sealed_seed = ?2 WHERE user_id = ?1",
            params![user_id, sealed_seed],
        ),
        Change::Reseal(Resealed::MasterKeyCheck(check)) => tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'master_key_check'",
            params![check],
        ),
        Change::CreateAccount(AccountRow {
            id,
            name,
            root_email,
            root_password_hash,
            created,
        }) => tx.execute(
            "INSERT INTO accounts (account_id, name, root_email, root_password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, root_email, root_password_hash, time(created)],
        ),
        Change::CreateUser(UserRow {
            id,
            account_id,
            name,
            path,
            created,
        }) => tx.execute(
            "INSERT INTO users (user_id, account_id, user_name, path, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, account_id, name, path, time(created)],
        ),
        Change::RenameUser { user_id, name, path } => tx.execute(
            "UPDATE users SET user_name = ?2, path = ?3 WHERE user_id = ?1",
            params![user_id, name, path],
        ),
        Change::DeleteUser { user_id } => {
            // The user may have gained a key, group or policy on another writer since the
            // caller checked.
            let dependents = count(
                tx,
                "SELECT (SELECT count(*) FROM access_keys WHERE user_id = ?1)
                      + (SELECT count(*) FROM mfa_devices WHERE user_id = ?1)
                      + (SELECT count(*) FROM group_members WHERE user_id = ?1)
                      + (SELECT count(*) FROM policy_attachments WHERE entity_type = 'user' AND entity_id = ?1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'user' AND entity_id = ?1)",
                user_id,
            )?;
            if dependents > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute("DELETE FROM users WHERE user_id = ?1", params![user_id])
        }
        Change::SetUserBoundary { user_id, policy_arn } => tx.execute(
            "UPDATE users SET permissions_boundary_arn = ?2 WHERE user_id = ?1",
            params![user_id, policy_arn],
        ),
        Change::CreateRole(RoleRow {
            id,
            account_id,
            name,
            path,
            description,
            trust_policy,
            max_session_duration,
            created,
        }) => tx.execute(
            "INSERT INTO roles (role_id, account_id, role_name, path, description, trust_policy, max_session_duration, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, account_id, name, path, description, trust_policy, max_session_duration, time(created)],
        ),
        Change::UpdateRole {
            role_id,
            description,
            max_session_duration,
        } => tx.execute(
            "UPDATE roles SET description = ?2, max_session_duration = ?3 WHERE role_id = ?1",
            params![role_id, description, max_session_duration],
        ),
        Change::UpdateAssumeRolePolicy { role_id, document } => tx.execute(
            "UPDATE roles SET trust_policy = ?2 WHERE role_id = ?1",
            params![role_id, document],
        ),
        Change::DeleteRole { role_id } => {
            let dependents = count(
                tx,
                "SELECT (SELECT count(*) FROM policy_attachments WHERE entity_type = 'role' AND entity_id = ?1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'role' AND entity_id = ?1)",
                role_id,
            )?;
            if dependents > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute("DELETE FROM roles WHERE role_id = ?1", params![role_id])
        }
        Change::SetRoleTags { role_id, tags } => Ok(set_tags(tx, &ROLE_TAGS, role_id, tags)?),
        Change::RemoveRoleTags { role_id, keys } => Ok(remove_tags(tx, &ROLE_TAGS, role_id, keys)?),
        Change::SetRoleBoundary { role_id, policy_arn } => tx.execute(
            "UPDATE roles SET permissions_boundary_arn = ?2 WHERE role_id = ?1",
            params![role_id, policy_arn],
        ),
        Change::CreateGroup(GroupRow {
            id,
            account_id,
            name,
            path,
            created,
        }) => tx.execute(
            "INSERT INTO groups (group_id, account_id, group_name, path, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, account_id, name, path, time(created)],
        ),
        Change::RenameGroup { group_id, name, path } => tx.execute(
            "UPDATE groups SET group_name = ?2, path = ?3 WHERE group_id = ?1",
            params![group_id, name, path],
        ),
        Change::DeleteGroup { group_id } => {
            let dependents = count(
                tx,
                "SELECT (SELECT count(*) FROM group_members WHERE group_id = ?1)
                      + (SELECT count(*) FROM policy_attachments WHERE entity_type = 'group' AND entity_id = ?1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'group' AND entity_id = ?1)",
                group_id,
            )?;
            if dependents > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute("DELETE FROM groups WHERE group_id = ?1", params![group_id])
        }
        Change::AddUserToGroup { group_id, user_id } => tx.execute(
            "INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?1, ?2)",
            params![group_id, user_id],
        ).map(|_| 1),
        Change::RemoveUserFromGroup { group_id, user_id } => tx.execute(
            "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
            params![group_id, user_id],
        ),
        Change::CreatePolicy(PolicyRow {
            id,
            arn,
            account_id,
            name,
            path,
            description,
            created,
        }) => tx.execute(
            "INSERT INTO managed_policies (policy_arn, policy_id, account_id, policy_name, path, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![arn, id, account_id, name, path, description, time(created)],
        ),
        Change::DeletePolicy { policy_arn } => {
            let uses = count(
                tx,
                "SELECT (SELECT count(*) FROM policy_attachments WHERE policy_arn = ?1)
                      + (SELECT count(*) FROM users WHERE permissions_boundary_arn = ?1)
                      + (SELECT count(*) FROM roles WHERE permissions_boundary_arn = ?1)",
                policy_arn,
            )?;
            if uses > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute("DELETE FROM managed_policies WHERE policy_arn = ?1", params![policy_arn])
        }
        Change::CreatePolicyVersion(PolicyVersionRow {
            policy_arn,
            version_id,
            document,
            created,
        }) => {
            let versions = count(tx, "SELECT count(*) FROM policy_versions WHERE policy_arn = ?1", policy_arn)?;
            if versions as usize >= VERSIONS_PER_POLICY {
                return Err(StoreError::LimitExceeded {
                    quota: "VersionsPerPolicy",
                    limit: VERSIONS_PER_POLICY,
                });
            }
            tx.execute(
                "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![policy_arn, version_id, document, time(created)],
            )
        }
        Change::DeletePolicyVersion { policy_arn, version_id } => tx.execute(
            "DELETE FROM policy_versions WHERE policy_arn = ?1 AND version_id = ?2
             AND version_id IS NOT (SELECT default_version_id FROM managed_policies WHERE policy_arn = ?1)",
            params![policy_arn, version_id],
        ),
        Change::SetDefaultPolicyVersion { policy_arn, version_id } => tx.execute(
            "UPDATE managed_policies SET default_version_id = ?2 WHERE policy_arn = ?1
             AND EXISTS (SELECT 1 FROM policy_versions WHERE policy_arn = ?1 AND version_id = ?2)",
            params![policy_arn, version_id],
        ),
        Change::SetPolicyTags { policy_arn, tags } => Ok(set_tags(tx, &POLICY_TAGS, policy_arn, tags)?),
        Change::RemovePolicyTags { policy_arn, keys } => Ok(remove_tags(tx, &POLICY_TAGS, policy_arn, keys)?),
        Change::AttachPolicy { entity, policy_arn } => {
            let attached: i64 = tx
                .query_row(
                    "SELECT count(*) FROM policy_attachments WHERE entity_type = ?1 AND entity_id = ?2",
                    params![entity.kind(), entity.id()],
                    |row| row.get(0),
                )
                .map_err(backend)?;
            if attached as usize >= ATTACHED_POLICIES_PER_ENTITY {
                return Err(StoreError::LimitExceeded {
                    quota: match entity {
                        Entity::User(_) => "PoliciesPerUser",
                        Entity::Group(_) => "PoliciesPerGroup",
                        Entity::Role(_) => "PoliciesPerRole",
                    },
                    limit: ATTACHED_POLICIES_PER_ENTITY,
                });
            }
            tx.execute(
                "INSERT OR IGNORE INTO policy_attachments (entity_type, entity_id, policy_arn, attached_at)
                 VALUES (?1, ?2, ?3, (SELECT coalesce(max(attached_at), 0) + 1 FROM policy_attachments))",
                params![entity.kind(), entity.id(), policy_arn],
            )
            .map(|_| 1)
        }
        Change::DetachPolicy { entity, policy_arn } => tx.execute(
            "DELETE FROM policy_attachments WHERE entity_type = ?1 AND entity_id = ?2 AND policy_arn = ?3",
            params![entity.kind(), entity.id(), policy_arn],
        ),
        Change::PutInlinePolicy(InlinePolicyRow { entity, name, document }) => tx.execute(
            "INSERT INTO inline_policies (entity_type, entity_id, policy_name, document) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (entity_type, entity_id, policy_name) DO UPDATE SET document = excluded.document",
            params![entity.kind(), entity.id(), name, document],
        ),
        Change::DeleteInlinePolicy { entity, name } => tx.execute(
            "DELETE FROM inline_policies WHERE entity_type = ?1 AND entity_id = ?2 AND policy_name = ?3",
            params![entity.kind(), entity.id(), name],
        ),
        Change::SetUserTags { user_id, tags } => Ok(set_tags(tx, &USER_TAGS, user_id, tags)?),
        Change::RemoveUserTags { user_id, keys } => Ok(remove_tags(tx, &USER_TAGS, user_id, keys)?),
        Change::CreateLoginProfile(LoginProfileRow {
            user_id,
            password_hash,
            created,
            password_reset_required,
            password_changed,
        }) => tx.execute(
            "INSERT INTO login_profiles (user_id, password_hash, created_at, password_reset_required, password_changed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user_id, password_hash, time(created), password_reset_required, time(password_changed)],
        ),
        Change::UpdateLoginProfile {
            profile:
                LoginProfileRow {
                    user_id,
                    password_hash,
                    created: _,
                    password_reset_required,
                    password_changed,
                },
            replaces,
        } => tx.execute(
            "UPDATE login_profiles SET password_hash = ?2, password_reset_required = ?3, password_changed_at = ?4 WHERE user_id = ?1 AND password_hash = ?5",
            params![user_id, password_hash, password_reset_required, time(password_changed), replaces],
        ),
        Change::DeleteLoginProfile { user_id } => tx.execute(
            "DELETE FROM login_profiles WHERE user_id = ?1",
            params![user_id],
        ),
        Change::RememberPassword(PasswordHistoryRow {
            user_id,
            password_hash,
            replaced,
        }) => {
            let inserted = tx.execute(
                "INSERT INTO password_history (user_id, password_hash, replaced_at) VALUES (?1, ?2, ?3)",
                params![user_id, password_hash, time(replaced)],
            ).map_err(backend)?;
            tx.execute(
                "DELETE FROM password_history WHERE user_id = ?1 AND rowid NOT IN
                 (SELECT rowid FROM password_history WHERE user_id = ?1 ORDER BY replaced_at DESC LIMIT ?2)",
                params![user_id, PASSWORD_HISTORY_KEPT as i64],
            ).map_err(backend)?;
            Ok(inserted)
        }
        Change::SetAccountAlias { account_id, alias } => tx.execute(
            "INSERT INTO account_aliases (account_id, alias) VALUES (?1, ?2)
             ON CONFLICT (account_id) DO UPDATE SET alias = excluded.alias",
            params![account_id, alias],
        ),
        Change::DeleteAccountAlias { account_id, alias } => tx.execute(
            "DELETE FROM account_aliases WHERE account_id = ?1 AND alias = ?2",
            params![account_id, alias],
        ),
        Change::SetPasswordPolicy { account_id, policy } => tx.execute(
            "INSERT INTO password_policies (account_id, minimum_password_length, require_symbols, require_numbers,
                 require_uppercase_characters, require_lowercase_characters, allow_users_to_change_password,
                 max_password_age, password_reuse_prevention, hard_expiry)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (account_id) DO UPDATE SET
                 minimum_password_length = excluded.minimum_password_length,
                 require_symbols = excluded.require_symbols,
                 require_numbers = excluded.require_numbers,
                 require_uppercase_characters = excluded.require_uppercase_characters,
                 require_lowercase_characters = excluded.require_lowercase_characters,
                 allow_users_to_change_password = excluded.allow_users_to_change_password,
                 max_password_age = excluded.max_password_age,
                 password_reuse_prevention = excluded.password_reuse_prevention,
                 hard_expiry = excluded.hard_expiry",
            params![
                account_id,
                policy.minimum_password_length,
                policy.require_symbols,
                policy.require_numbers,
                policy.require_uppercase_characters,
                policy.require_lowercase_characters,
                policy.allow_users_to_change_password,
                policy.max_password_age,
                policy.password_reuse_prevention,
                policy.hard_expiry,
            ],
        ),
        Change::DeletePasswordPolicy { account_id } => tx.execute(
            "DELETE FROM password_policies WHERE account_id = ?1",
            params![account_id],
        ),
        Change::CreateAccessKey(AccessKeyRow {
            id,
            account_id,
            user_id,
            status,
            created,
            sealed_secret,
            last_used,
        }) => {
            // A user's keys, or the root user's (no user) of the account.
            let held: i64 = match user_id {
                Some(user_id) => tx.query_row(
                    "SELECT count(*) FROM access_keys WHERE user_id = ?1",
                    params![user_id],
                    |row| row.get(0),
                ),
                None => tx.query_row(
                    "SELECT count(*) FROM access_keys WHERE user_id IS NULL AND account_id = ?1",
                    params![account_id],
                    |row| row.get(0),
                ),
            }
            .map_err(backend)?;
            if held as usize >= ACCESS_KEYS_PER_USER {
                return Err(StoreError::LimitExceeded {
                    quota: "AccessKeysPerUser",
                    limit: ACCESS_KEYS_PER_USER,
                });
            }
            tx.execute(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, status, created_at, sealed_secret, last_used_at, last_used_service, last_used_region)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    account_id,
                    user_id,
                    status.as_str(),
                    time(created),
                    sealed_secret,
                    last_used.as_ref().map(|u| time(&u.at)),
                    last_used.as_ref().map(|u| &u.service),
                    last_used.as_ref().map(|u| &u.region),
                ],
            )
        }
        Change::SetAccessKeyStatus { access_key_id, status } => tx.execute(
            "UPDATE access_keys SET status = ?2 WHERE access_key_id = ?1",
            params![access_key_id, status.as_str()],
        ),
        Change::DeleteAccessKey { access_key_id } => tx.execute(
            "DELETE FROM access_keys WHERE access_key_id = ?1",
            params![access_key_id],
        ),
        Change::CreateMfaDevice(MfaDeviceRow {
            serial,
            account_id,
            name,
            path,
            created,
            sealed_seed,
            assignment,
        }) => tx.execute(
            "INSERT INTO mfa_devices (serial_number, account_id, device_name, path, created_at, sealed_seed, user_id, enabled_at, drift_steps)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                serial,
                account_id,
                name,
                path,
                time(created),
                sealed_seed,
                assignment.as_ref().map(|a| &a.user_id),
                assignment.as_ref().map(|a| time(&a.enabled)),
                assignment.as_ref().map_or(0, |a| a.drift_steps),
            ],
        ),
        Change::EnableMfaDevice { serial, assignment } => {
            let held = count(
                tx,
                "SELECT count(*) FROM mfa_devices WHERE user_id = ?1",
                &assignment.user_id,
            )?;
            if held as usize >= MFA_DEVICES_PER_USER {
                return Err(StoreError::LimitExceeded {
                    quota: "MFADevicesPerUser",
                    limit: MFA_DEVICES_PER_USER,
                });
            }
            // Another writer may have assigned the device since the caller checked.
            let assigned = tx
                .query_row(
                    "SELECT user_id IS NOT NULL FROM mfa_devices WHERE serial_number = ?1",
                    params![serial],
                    |row| row.get::<_, bool>(0),
                )
                .optional()
                .map_err(backend)?
                .ok_or(StoreError::NotFound)?;
            if assigned {
                return Err(StoreError::AlreadyExists);
            }
            tx.execute(
                "UPDATE mfa_devices SET user_id = ?2, enabled_at = ?3, drift_steps = ?4 WHERE serial_number = ?1",
                params![
                    serial,
                    assignment.user_id,
                    time(&assignment.enabled),
                    assignment.drift_steps
                ],
            )
        }
        Change::ResyncMfaDevice {
            serial,
            drift_steps,
        } => tx.execute(
            "UPDATE mfa_devices SET drift_steps = ?2 WHERE serial_number = ?1 AND user_id IS NOT NULL",
            params![serial, drift_steps],
        ),
        Change::DeactivateMfaDevice { serial } => tx.execute(
            "UPDATE mfa_devices SET user_id = NULL, enabled_at = NULL, drift_steps = 0
             WHERE serial_number = ?1 AND user_id IS NOT NULL",
            params![serial],
        ),
        Change::DeleteMfaDevice { serial } => {
            if count(
                tx,
                "SELECT count(*) FROM mfa_devices WHERE serial_number = ?1 AND user_id IS NOT NULL",
                serial,
            )? > 0
            {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute(
                "DELETE FROM mfa_devices WHERE serial_number = ?1",
                params![serial],
            )
        }
        Change::CreateInvitation(row) => {
            tx.execute(
                "DELETE FROM identity_store_invitations WHERE user_id = ?1 AND accepted_at IS NULL",
                params![row.user_id],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO identity_store_invitations (token_hash, user_id, email, created_at, expires_at, accepted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    row.token_hash,
                    row.user_id,
                    row.email,
                    time(&row.created),
                    time(&row.expires),
                    row.accepted.as_ref().map(time),
                ],
            )
        }
        Change::AcceptInvitation { token_hash, at } => tx.execute(
            "UPDATE identity_store_invitations SET accepted_at = ?2 WHERE token_hash = ?1 AND accepted_at IS NULL",
            params![token_hash, time(at)],
        ),
        Change::SetIdentityPassword(row) => tx.execute(
            "INSERT INTO identity_store_passwords (user_id, password_hash, set_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, set_at = excluded.set_at",
            params![row.user_id, row.password_hash, time(&row.set)],
        ),
        Change::EnableIdentityMfa(row) => tx.execute(
            "INSERT INTO identity_store_mfa (user_id, sealed_seed, enabled_at) VALUES (?1, ?2, ?3)",
            params![row.user_id, row.sealed_seed, time(&row.enabled)],
        ),
        Change::DeleteIdentityMfa { user_id } => tx.execute(
            "DELETE FROM identity_store_mfa WHERE user_id = ?1",
            params![user_id],
        ),
        Change::CreateDeviceAuthorization(row) => {
            tx.execute(
                "DELETE FROM device_authorizations WHERE expires_at < ?1",
                params![time(&(row.created - chrono::Duration::hours(1)))],
            )
            .map_err(backend)?;
            let (decision, user_id, decided_at) = DeviceDecision::to_columns(row.decision.as_ref());
            tx.execute(
                "INSERT INTO device_authorizations (device_code_hash, user_code, client_id, client_name, scopes, start_url, created_at, expires_at, decision, decided_user_id, decided_at, redeemed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    row.device_code_hash,
                    row.user_code,
                    row.client_id,
                    row.client_name,
                    serde_json::to_string(&row.scopes).map_err(|e| StoreError::Backend(e.to_string()))?,
                    row.start_url,
                    time(&row.created),
                    time(&row.expires),
                    decision,
                    user_id,
                    decided_at.as_ref().map(time),
                    row.redeemed.as_ref().map(time),
                ],
            )
        }
        Change::DecideDeviceAuthorization {
            device_code_hash,
            decision,
        } => {
            let (decision, user_id, decided_at) = DeviceDecision::to_columns(Some(decision));
            tx.execute(
                "UPDATE device_authorizations SET decision = ?2, decided_user_id = ?3, decided_at = ?4
                 WHERE device_code_hash = ?1 AND decision IS NULL",
                params![device_code_hash, decision, user_id, decided_at.as_ref().map(time)],
            )
        }
        Change::SpendToken(row) => {
            tx.execute(
                "DELETE FROM spent_tokens WHERE expires_at < ?1",
                params![time(&row.spent)],
            )
            .map_err(backend)?;
            tx.execute(
                "INSERT INTO spent_tokens (token_hash, spent_at, expires_at) VALUES (?1, ?2, ?3)",
                params![row.token_hash, time(&row.spent), time(&row.expires)],
            )
        }
        Change::RedeemDeviceAuthorization {
            device_code_hash,
            at,
        } => tx.execute(
            "UPDATE device_authorizations SET redeemed_at = ?2
             WHERE device_code_hash = ?1 AND decision = 'approved' AND redeemed_at IS NULL",
            params![device_code_hash, time(at)],
        ),
        Change::PutCredentialReport(CredentialReportRow {
            account_id,
            generated,
            csv,
        }) => tx.execute(
            "INSERT INTO credential_reports (account_id, generated_at, content) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id) DO UPDATE SET generated_at = excluded.generated_at, content = excluded.content",
            params![account_id, time(generated), csv],
        ),
        Change::CreateIdentityCenter(IdentityCenterRow {
            instance_id,
            identity_store_id,
            account_id,
            created,
        }) => tx.execute(
            "INSERT INTO identity_centers (instance_id, identity_store_id, account_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![instance_id, identity_store_id, account_id, time(created)],
        ),
        Change::CreateIdentityStoreUser(row) => tx.execute(
            "INSERT INTO identity_store_users (user_id, identity_store_id, user_name, attributes, revision, created_at, created_by, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.id,
                row.identity_store_id,
                row.attributes.user_name,
                document(&row.attributes)?,
                row.revision,
                time(&row.created),
                row.created_by,
                time(&row.updated),
                row.updated_by,
            ],
        ),
        // Only over the revision it was made from: a writer that changed the user since
        // leaves no row to update.
        Change::UpdateIdentityStoreUser(row) => tx.execute(
            "UPDATE identity_store_users SET user_name = ?2, attributes = ?3, revision = ?4, updated_at = ?5, updated_by = ?6
             WHERE user_id = ?1 AND revision = ?4 - 1",
            params![
                row.id,
                row.attributes.user_name,
                document(&row.attributes)?,
                row.revision,
                time(&row.updated),
                row.updated_by,
            ],
        ),
        Change::DeleteIdentityStoreUser { user_id } => delete_principal(
            tx,
            "DELETE FROM identity_store_users WHERE user_id = ?1",
            PrincipalType::User,
            user_id,
        ),
        Change::CreateIdentityStoreGroup(row) => tx.execute(
            "INSERT INTO identity_store_groups (group_id, identity_store_id, display_name, attributes, revision, created_at, created_by, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.id,
                row.identity_store_id,
                row.attributes.display_name,
                document(&row.attributes)?,
                row.revision,
                time(&row.created),
                row.created_by,
                time(&row.updated),
                row.updated_by,
            ],
        ),
        Change::UpdateIdentityStoreGroup(row) => tx.execute(
            "UPDATE identity_store_groups SET display_name = ?2, attributes = ?3, revision = ?4, updated_at = ?5, updated_by = ?6
             WHERE group_id = ?1 AND revision = ?4 - 1",
            params![
                row.id,
                row.attributes.display_name,
                document(&row.attributes)?,
                row.revision,
                time(&row.updated),
                row.updated_by,
            ],
        ),
        Change::DeleteIdentityStoreGroup { group_id } => delete_principal(
            tx,
            "DELETE FROM identity_store_groups WHERE group_id = ?1",
            PrincipalType::Group,
            group_id,
        ),
        Change::CreateGroupMembership(GroupMembershipRow {
            id,
            identity_store_id,
            group_id,
            user_id,
            created,
            created_by,
        }) => tx.execute(
            "INSERT INTO identity_store_memberships (membership_id, identity_store_id, group_id, user_id, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, identity_store_id, group_id, user_id, time(created), created_by],
        ),
        Change::DeleteGroupMembership { membership_id } => tx.execute(
            "DELETE FROM identity_store_memberships WHERE membership_id = ?1",
            params![membership_id],
        ),
        Change::CreatePermissionSet(row) => tx.execute(
            "INSERT INTO permission_sets (permission_set_id, instance_id, name, description, session_duration, relay_state, policies, revision, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.id,
                row.instance_id,
                row.name,
                row.description,
                row.session_duration,
                row.relay_state,
                document(&row.policies)?,
                row.revision,
                time(&row.created),
            ],
        ),
        // Only over the revision it was made from, as identity store updates.
        Change::UpdatePermissionSet(row) => tx.execute(
            "UPDATE permission_sets SET description = ?2, session_duration = ?3, relay_state = ?4, policies = ?5, revision = ?6
             WHERE permission_set_id = ?1 AND revision = ?6 - 1",
            params![
                row.id,
                row.description,
                row.session_duration,
                row.relay_state,
                document(&row.policies)?,
                row.revision,
            ],
        ),
        Change::DeletePermissionSet { permission_set_id } => {
            // Another writer may have assigned it since the caller checked.
            let uses = count(
                tx,
                "SELECT (SELECT count(*) FROM account_assignments WHERE permission_set_id = ?1)
                      + (SELECT count(*) FROM permission_set_provisionings WHERE permission_set_id = ?1)",
                permission_set_id,
            )?;
            if uses > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute(
                "DELETE FROM permission_sets WHERE permission_set_id = ?1",
                params![permission_set_id],
            )
        }
        Change::SetPermissionSetTags { permission_set_id, tags } => {
            Ok(set_tags(tx, &PERMISSION_SET_TAGS, permission_set_id, tags)?)
        }
        Change::RemovePermissionSetTags { permission_set_id, keys } => {
            Ok(remove_tags(tx, &PERMISSION_SET_TAGS, permission_set_id, keys)?)
        }
        // Only for a principal that still exists: a writer with an older snapshot may not
        // have seen its deletion.
        Change::CreateAccountAssignment(row) => tx.execute(
            match row.principal_type {
                PrincipalType::User => {
                    "INSERT INTO account_assignments (permission_set_id, account_id, principal_type, principal_id, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM identity_store_users WHERE user_id = ?4)"
                }
                PrincipalType::Group => {
                    "INSERT INTO account_assignments (permission_set_id, account_id, principal_type, principal_id, created_at)
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM identity_store_groups WHERE group_id = ?4)"
                }
            },
            params![
                row.permission_set_id,
                row.account_id,
                row.principal_type.as_str(),
                row.principal_id,
                time(&row.created),
            ],
        ),
        Change::DeleteAccountAssignment {
            permission_set_id,
            account_id,
            principal_type,
            principal_id,
        } => tx.execute(
            "DELETE FROM account_assignments
             WHERE permission_set_id = ?1 AND account_id = ?2 AND principal_type = ?3 AND principal_id = ?4",
            params![permission_set_id, account_id, principal_type.as_str(), principal_id],
        ),
        Change::CreateProvisioning(row) => tx.execute(
            "INSERT INTO permission_set_provisionings (permission_set_id, account_id, role_id, revision, provisioned_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                row.permission_set_id,
                row.account_id,
                row.role_id,
                row.revision,
                time(&row.provisioned),
            ],
        ),
        Change::UpdateProvisioning {
            permission_set_id,
            account_id,
            revision,
            provisioned,
        } => tx.execute(
            "UPDATE permission_set_provisionings SET revision = ?3, provisioned_at = ?4
             WHERE permission_set_id = ?1 AND account_id = ?2",
            params![permission_set_id, account_id, revision, time(provisioned)],
        ),
        Change::DeleteProvisioning {
            permission_set_id,
            account_id,
        } => tx.execute(
            "DELETE FROM permission_set_provisionings WHERE permission_set_id = ?1 AND account_id = ?2",
            params![permission_set_id, account_id],
        ),
        Change::RecordSsoRequest(row) => tx.execute(
            "INSERT INTO sso_requests (request_id, kind, instance_id, permission_set_arn, account_id, principal_type, principal_id, status, failure_reason, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                row.id,
                row.kind.as_str(),
                row.instance_id,
                row.permission_set_arn,
                row.account_id,
                row.principal.as_ref().map(|(kind, _)| kind.as_str()),
                row.principal.as_ref().map(|(_, id)| id),
                row.status.as_str(),
                row.failure_reason,
                time(&row.created),
            ],
        ),
        Change::CreateOrganizationalUnit(row) => tx.execute(
            "INSERT INTO organizational_units (ou_id, parent_id, name, tags, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![row.id, row.parent_id, row.name, document(&row.tags)?, time(&row.created)],
        ),
        Change::RenameOrganizationalUnit { ou_id, name } => tx.execute(
            "UPDATE organizational_units SET name = ?2 WHERE ou_id = ?1",
            params![ou_id, name],
        ),
        Change::DeleteOrganizationalUnit { ou_id } => {
            let dependents = count(
                tx,
                "SELECT (SELECT count(*) FROM organizational_units WHERE parent_id = ?1)
                      + (SELECT count(*) FROM accounts WHERE parent_id = ?1)",
                ou_id,
            )?;
            if dependents > 0 {
                return Err(StoreError::DeleteConflict);
            }
            tx.execute(
                "DELETE FROM organizational_units WHERE ou_id = ?1",
                params![ou_id],
            )
        }
        // Only from where the caller saw it: a move another writer made since fails.
        Change::MoveAccount {
            account_id,
            from,
            to,
        } => tx.execute(
            "UPDATE accounts SET parent_id = ?3 WHERE account_id = ?1 AND parent_id IS ?2",
            params![account_id, from, to],
        ),
    }
    .map_err(backend)?;
    if affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A stored enumeration (`USER`, `SUCCEEDED`, ...), read back.
fn parse_enum<T>(text: String, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown stored value {text}").into(),
        )
    })
}

/// An identity store user's or group's attributes, or a permission set's policies, as
/// stored: their JSON document.
fn document(attributes: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(attributes).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A stored attributes document, read back.
fn parse_document<T: serde::de::DeserializeOwned>(text: String) -> rusqlite::Result<T> {
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// A single count from a query with one parameter.
fn count(tx: &Transaction<'_>, sql: &str, param: &str) -> Result<i64, StoreError> {
    tx.query_row(sql, params![param], |row| row.get(0))
        .map_err(backend)
}

fn read_all(tx: &Transaction<'_>) -> rusqlite::Result<Contents> {
    let master_key_check = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'master_key_check'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let accounts = tx
        .prepare(
            "SELECT account_id, name, root_email, root_password_hash, created_at FROM accounts",
        )?
        .query_map([], |row| {
            Ok(AccountRow {
                id: row.get(0)?,
                name: row.get(1)?,
                root_email: row.get(2)?,
                root_password_hash: row.get(3)?,
                created: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let users = tx
        .prepare("SELECT user_id, account_id, user_name, path, created_at FROM users")?
        .query_map([], |row| {
            Ok(UserRow {
                id: row.get(0)?,
                account_id: row.get(1)?,
                name: row.get(2)?,
                path: row.get(3)?,
                created: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let user_tags = tx
        .prepare("SELECT user_id, key, value FROM user_tags")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                Tag {
                    key: row.get(1)?,
                    value: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let login_profiles = tx
        .prepare("SELECT user_id, password_hash, created_at, password_reset_required, coalesce(password_changed_at, created_at) FROM login_profiles")?
        .query_map([], |row| {
            Ok(LoginProfileRow {
                user_id: row.get(0)?,
                password_hash: row.get(1)?,
                created: parse_time(row.get(2)?)?,
                password_reset_required: row.get(3)?,
                password_changed: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let password_history = tx
        .prepare("SELECT user_id, password_hash, replaced_at FROM password_history")?
        .query_map([], |row| {
            Ok(PasswordHistoryRow {
                user_id: row.get(0)?,
                password_hash: row.get(1)?,
                replaced: parse_time(row.get(2)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let account_aliases = tx
        .prepare("SELECT account_id, alias FROM account_aliases")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let password_policies = tx
        .prepare(
            "SELECT account_id, minimum_password_length, require_symbols, require_numbers,
                 require_uppercase_characters, require_lowercase_characters,
                 allow_users_to_change_password, max_password_age, password_reuse_prevention,
                 hard_expiry
             FROM password_policies",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                PasswordPolicy {
                    minimum_password_length: row.get(1)?,
                    require_symbols: row.get(2)?,
                    require_numbers: row.get(3)?,
                    require_uppercase_characters: row.get(4)?,
                    require_lowercase_characters: row.get(5)?,
                    allow_users_to_change_password: row.get(6)?,
                    max_password_age: row.get(7)?,
                    password_reuse_prevention: row.get(8)?,
                    hard_expiry: row.get(9)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let user_boundaries = tx
        .prepare("SELECT user_id, permissions_boundary_arn FROM users WHERE permissions_boundary_arn IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let groups = tx
        .prepare("SELECT group_id, account_id, group_name, path, created_at FROM groups")?
        .query_map([], |row| {
            Ok(GroupRow {
                id: row.get(0)?,
                account_id: row.get(1)?,
                name: row.get(2)?,
                path: row.get(3)?,
                created: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let roles = tx
        .prepare("SELECT role_id, account_id, role_name, path, description, trust_policy, max_session_duration, created_at FROM roles")?
        .query_map([], |row| {
            Ok(RoleRow {
                id: row.get(0)?,
                account_id: row.get(1)?,
                name: row.get(2)?,
                path: row.get(3)?,
                description: row.get(4)?,
                trust_policy: row.get(5)?,
                max_session_duration: row.get(6)?,
                created: parse_time(row.get(7)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let role_tags = tx
        .prepare("SELECT role_id, key, value FROM role_tags")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                Tag {
                    key: row.get(1)?,
                    value: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let role_boundaries = tx
        .prepare("SELECT role_id, permissions_boundary_arn FROM roles WHERE permissions_boundary_arn IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let group_members = tx
        .prepare("SELECT group_id, user_id FROM group_members ORDER BY rowid")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let policies = tx
        .prepare("SELECT policy_id, policy_arn, account_id, policy_name, path, description, created_at FROM managed_policies")?
        .query_map([], |row| {
            Ok(PolicyRow {
                id: row.get(0)?,
                arn: row.get(1)?,
                account_id: row.get(2)?,
                name: row.get(3)?,
                path: row.get(4)?,
                description: row.get(5)?,
                created: parse_time(row.get(6)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let policy_versions = tx
        .prepare("SELECT policy_arn, version_id, document, created_at FROM policy_versions")?
        .query_map([], |row| {
            Ok(PolicyVersionRow {
                policy_arn: row.get(0)?,
                version_id: row.get(1)?,
                document: row.get(2)?,
                created: parse_time(row.get(3)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let policy_defaults = tx
        .prepare("SELECT policy_arn, default_version_id FROM managed_policies WHERE default_version_id IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let policy_tags = tx
        .prepare("SELECT policy_arn, key, value FROM policy_tags")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                Tag {
                    key: row.get(1)?,
                    value: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let attachments = tx
        .prepare("SELECT entity_type, entity_id, policy_arn FROM policy_attachments ORDER BY attached_at")?
        .query_map([], |row| {
            let kind: String = row.get(0)?;
            Ok((kind, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|(kind, id, arn)| Entity::from_parts(&kind, id).map(|entity| (entity, arn)))
        .collect();
    let inline_policies = tx
        .prepare("SELECT entity_type, entity_id, policy_name, document FROM inline_policies")?
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|(kind, id, name, document)| {
            Entity::from_parts(&kind, id).map(|entity| InlinePolicyRow {
                entity,
                name,
                document,
            })
        })
        .collect();
    let access_keys = tx
        .prepare(
            "SELECT access_key_id, account_id, user_id, status, created_at, sealed_secret, last_used_at, last_used_service, last_used_region FROM access_keys",
        )?
        .query_map([], |row| {
            let status: String = row.get(3)?;
            let last_used_at: Option<String> = row.get(6)?;
            let last_used = match last_used_at {
                Some(at) => Some(LastUsed {
                    at: parse_time(at)?,
                    service: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
                    region: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
                }),
                None => None,
            };
            Ok(AccessKeyRow {
                id: row.get(0)?,
                account_id: row.get(1)?,
                user_id: row.get(2)?,
                status: KeyStatus::parse(&status).unwrap_or(KeyStatus::Inactive),
                created: parse_time(row.get(4)?)?,
                sealed_secret: row.get(5)?,
                last_used,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mfa_devices = tx
        .prepare(
            "SELECT serial_number, account_id, device_name, path, created_at, sealed_seed, user_id, enabled_at, drift_steps FROM mfa_devices",
        )?
        .query_map([], |row| {
            let user_id: Option<String> = row.get(6)?;
            let enabled: Option<String> = row.get(7)?;
            let assignment = match (user_id, enabled) {
                (Some(user_id), Some(enabled)) => Some(MfaAssignment {
                    user_id,
                    enabled: parse_time(enabled)?,
                    drift_steps: row.get(8)?,
                }),
                _ => None,
            };
            Ok(MfaDeviceRow {
                serial: row.get(0)?,
                account_id: row.get(1)?,
                name: row.get(2)?,
                path: row.get(3)?,
                created: parse_time(row.get(4)?)?,
                sealed_seed: row.get(5)?,
                assignment,
            })
        })?
        .collect::<Result<_, _>>()?;
    let invitations = tx
        .prepare(
            "SELECT token_hash, user_id, email, created_at, expires_at, accepted_at FROM identity_store_invitations",
        )?
        .query_map([], |row| {
            Ok(InvitationRow {
                token_hash: row.get(0)?,
                user_id: row.get(1)?,
                email: row.get(2)?,
                created: parse_time(row.get(3)?)?,
                expires: parse_time(row.get(4)?)?,
                accepted: row.get::<_, Option<String>>(5)?.map(parse_time).transpose()?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let identity_passwords = tx
        .prepare("SELECT user_id, password_hash, set_at FROM identity_store_passwords")?
        .query_map([], |row| {
            Ok(IdentityPasswordRow {
                user_id: row.get(0)?,
                password_hash: row.get(1)?,
                set: parse_time(row.get(2)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let identity_mfa = tx
        .prepare("SELECT user_id, sealed_seed, enabled_at FROM identity_store_mfa")?
        .query_map([], |row| {
            Ok(IdentityMfaRow {
                user_id: row.get(0)?,
                sealed_seed: row.get(1)?,
                enabled: parse_time(row.get(2)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let spent_tokens = tx
        .prepare("SELECT token_hash, spent_at, expires_at FROM spent_tokens")?
        .query_map([], |row| {
            Ok(SpentTokenRow {
                token_hash: row.get(0)?,
                spent: parse_time(row.get(1)?)?,
                expires: parse_time(row.get(2)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let device_authorizations = tx
        .prepare(
            "SELECT device_code_hash, user_code, client_id, client_name, scopes, start_url, created_at, expires_at, decision, decided_user_id, decided_at, redeemed_at FROM device_authorizations",
        )?
        .query_map([], |row| {
            let scopes: String = row.get(4)?;
            let decided_at = row.get::<_, Option<String>>(10)?.map(parse_time).transpose()?;
            Ok(DeviceAuthorizationRow {
                device_code_hash: row.get(0)?,
                user_code: row.get(1)?,
                client_id: row.get(2)?,
                client_name: row.get(3)?,
                scopes: serde_json::from_str(&scopes).unwrap_or_default(),
                start_url: row.get(5)?,
                created: parse_time(row.get(6)?)?,
                expires: parse_time(row.get(7)?)?,
                decision: DeviceDecision::from_columns(row.get(8)?, row.get(9)?, decided_at),
                redeemed: row.get::<_, Option<String>>(11)?.map(parse_time).transpose()?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let credential_reports = tx
        .prepare("SELECT account_id, generated_at, content FROM credential_reports")?
        .query_map([], |row| {
            Ok(CredentialReportRow {
                account_id: row.get(0)?,
                generated: parse_time(row.get(1)?)?,
                csv: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let identity_centers = tx
        .prepare(
            "SELECT instance_id, identity_store_id, account_id, created_at FROM identity_centers",
        )?
        .query_map([], |row| {
            Ok(IdentityCenterRow {
                instance_id: row.get(0)?,
                identity_store_id: row.get(1)?,
                account_id: row.get(2)?,
                created: parse_time(row.get(3)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let identity_store_users = tx
        .prepare(
            "SELECT user_id, identity_store_id, attributes, revision, created_at, created_by, updated_at, updated_by
             FROM identity_store_users",
        )?
        .query_map([], |row| {
            Ok(IdentityStoreUserRow {
                id: row.get(0)?,
                identity_store_id: row.get(1)?,
                attributes: parse_document(row.get(2)?)?,
                revision: row.get(3)?,
                created: parse_time(row.get(4)?)?,
                created_by: row.get(5)?,
                updated: parse_time(row.get(6)?)?,
                updated_by: row.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let identity_store_groups = tx
        .prepare(
            "SELECT group_id, identity_store_id, attributes, revision, created_at, created_by, updated_at, updated_by
             FROM identity_store_groups",
        )?
        .query_map([], |row| {
            Ok(IdentityStoreGroupRow {
                id: row.get(0)?,
                identity_store_id: row.get(1)?,
                attributes: parse_document(row.get(2)?)?,
                revision: row.get(3)?,
                created: parse_time(row.get(4)?)?,
                created_by: row.get(5)?,
                updated: parse_time(row.get(6)?)?,
                updated_by: row.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let group_memberships = tx
        .prepare(
            "SELECT membership_id, identity_store_id, group_id, user_id, created_at, created_by
             FROM identity_store_memberships",
        )?
        .query_map([], |row| {
            Ok(GroupMembershipRow {
                id: row.get(0)?,
                identity_store_id: row.get(1)?,
                group_id: row.get(2)?,
                user_id: row.get(3)?,
                created: parse_time(row.get(4)?)?,
                created_by: row.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let permission_sets = tx
        .prepare(
            "SELECT permission_set_id, instance_id, name, description, session_duration, relay_state, policies, revision, created_at
             FROM permission_sets",
        )?
        .query_map([], |row| {
            Ok(PermissionSetRow {
                id: row.get(0)?,
                instance_id: row.get(1)?,
                name: row.get(2)?,
                description: row.get(3)?,
                session_duration: row.get(4)?,
                relay_state: row.get(5)?,
                policies: parse_document(row.get(6)?)?,
                revision: row.get(7)?,
                created: parse_time(row.get(8)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let permission_set_tags = tx
        .prepare("SELECT permission_set_id, key, value FROM permission_set_tags")?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                Tag {
                    key: row.get(1)?,
                    value: row.get(2)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let account_assignments = tx
        .prepare(
            "SELECT permission_set_id, account_id, principal_type, principal_id, created_at FROM account_assignments",
        )?
        .query_map([], |row| {
            Ok(AccountAssignmentRow {
                permission_set_id: row.get(0)?,
                account_id: row.get(1)?,
                principal_type: parse_enum(row.get(2)?, PrincipalType::parse)?,
                principal_id: row.get(3)?,
                created: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let provisionings = tx
        .prepare(
            "SELECT permission_set_id, account_id, role_id, revision, provisioned_at FROM permission_set_provisionings",
        )?
        .query_map([], |row| {
            Ok(ProvisioningRow {
                permission_set_id: row.get(0)?,
                account_id: row.get(1)?,
                role_id: row.get(2)?,
                revision: row.get(3)?,
                provisioned: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let sso_requests = tx
        .prepare(
            "SELECT request_id, kind, instance_id, permission_set_arn, account_id, principal_type, principal_id, status, failure_reason, created_at
             FROM sso_requests",
        )?
        .query_map([], |row| {
            let principal_type: Option<String> = row.get(5)?;
            let principal_id: Option<String> = row.get(6)?;
            let principal = match (principal_type, principal_id) {
                (Some(kind), Some(id)) => Some((parse_enum(kind, PrincipalType::parse)?, id)),
                _ => None,
            };
            Ok(SsoRequestRow {
                id: row.get(0)?,
                kind: parse_enum(row.get(1)?, RequestKind::parse)?,
                instance_id: row.get(2)?,
                permission_set_arn: row.get(3)?,
                account_id: row.get(4)?,
                principal,
                status: parse_enum(row.get(7)?, RequestStatus::parse)?,
                failure_reason: row.get(8)?,
                created: parse_time(row.get(9)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let organizational_units = tx
        .prepare("SELECT ou_id, parent_id, name, tags, created_at FROM organizational_units")?
        .query_map([], |row| {
            Ok(OrganizationalUnitRow {
                id: row.get(0)?,
                parent_id: row.get(1)?,
                name: row.get(2)?,
                tags: parse_document(row.get(3)?)?,
                created: parse_time(row.get(4)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let account_parents = tx
        .prepare("SELECT account_id, parent_id FROM accounts WHERE parent_id IS NOT NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let seq = tx.query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |row| {
        row.get(0)
    })?;
    Ok(Contents {
        seq,
        accounts,
        users,
        user_tags,
        login_profiles,
        password_history,
        account_aliases,
        password_policies,
        user_boundaries,
        groups,
        roles,
        role_tags,
        role_boundaries,
        group_members,
        policies,
        policy_versions,
        policy_defaults,
        policy_tags,
        attachments,
        inline_policies,
        access_keys,
        mfa_devices,
        invitations,
        identity_passwords,
        identity_mfa,
        device_authorizations,
        spent_tokens,
        credential_reports,
        identity_centers,
        identity_store_users,
        identity_store_groups,
        group_memberships,
        permission_sets,
        permission_set_tags,
        account_assignments,
        provisionings,
        sso_requests,
        organizational_units,
        account_parents,
        master_key_check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(connection: &Connection) -> Vec<String> {
        connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't%' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// SQLite 3.40's `PRAGMA integrity_check` reports NULLs that are not there in a WITHOUT
    /// ROWID table whose non-key column comes before a key column (migration 15): every such
    /// table declares its primary key's columns first, in the key's order.
    #[test]
    fn without_rowid_tables_declare_their_key_first() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection, MIGRATIONS).unwrap();
        let tables: Vec<String> = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%'")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!tables.is_empty());
        for table in tables {
            // (declared position, position in the key: 0 when not in it)
            let columns: Vec<(i64, i64)> = connection
                .prepare(&format!("SELECT cid, pk FROM pragma_table_info('{table}')"))
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let key_len = columns.iter().filter(|(_, pk)| *pk > 0).count() as i64;
            for (cid, pk) in columns {
                if cid < key_len {
                    assert_eq!(pk, cid + 1, "{table}: column {cid} is not the key's");
                }
            }
        }
    }

    /// A migration whose number was free when a later one was applied still runs, once.
    #[test]
    fn migrations_tolerate_gaps_in_their_numbers() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(
            &mut connection,
            &[(1, "CREATE TABLE t1 (x)"), (3, "CREATE TABLE t3 (x)")],
        )
        .unwrap();
        assert_eq!(tables(&connection), ["t1", "t3"]);
        let all: &[(i64, &str)] = &[
            (1, "CREATE TABLE t1 (x)"),
            (2, "CREATE TABLE t2 (x)"),
            (3, "CREATE TABLE t3 (x)"),
        ];
        migrate(&mut connection, all).unwrap();
        migrate(&mut connection, all).unwrap();
        assert_eq!(tables(&connection), ["t1", "t2", "t3"]);
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 3);
    }

    /// A database from before numbers were recorded counted its migrations in user_version.
    #[test]
    fn counted_migrations_are_recorded_as_applied() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t1 (x); PRAGMA user_version = 1;")
            .unwrap();
        migrate(
            &mut connection,
            &[(1, "CREATE TABLE t1 (x)"), (2, "CREATE TABLE t2 (x)")],
        )
        .unwrap();
        assert_eq!(tables(&connection), ["t1", "t2"]);
    }
}
