//! The shared store: PostgreSQL, for several latchkey instances on one database.
//!
//! The schema is the PostgreSQL dialect of `latchkey-store-sqlite`'s, migration for migration
//! (the conformance suite in `crates/store-tests` compares the two). Every `Change` is one
//! arm of SQL in [`apply_one`], as in the SQLite store.
//!
//! Consistency with concurrent writers on other instances is enforced inside the write
//! transaction (READ COMMITTED), never by checking first and writing later:
//! - names are unique by index (`lower(user_name)` for users), so the loser of a race gets a
//!   unique violation;
//! - quotas (access keys and tags per user, tags per role and policy, versions per policy,
//!   attachments per entity) and refusals to delete what still has dependents (a user with
//!   keys, a group with members, a policy still attached) lock the owning row (`SELECT ...
//!   FOR UPDATE`) before counting, so writers on one row take turns and each counts what the
//!   previous one committed; attaching a customer managed policy, or making it a boundary,
//!   holds its row `FOR KEY SHARE` so that a DeletePolicy waits and then counts the use;
//! - every write transaction takes `LOCK TABLE change_log IN EXCLUSIVE MODE` after its own
//!   changes and holds it to COMMIT, then numbers its batch `max(seq) + 1`: batches are
//!   numbered without gaps in commit order, so a reader reading `seq > n` never skips a batch
//!   that commits later with a smaller number. The same transaction sends
//!   `NOTIFY latchkey_changes, '<seq>'`, delivered to listeners at COMMIT.
//!
//! Connections: a small pool of idle connections. A connection that fails outside the
//! database's own refusals (constraint violations) is dropped, and so is every idle one (they
//! share the failed server); the next attempt connects anew, with a backoff between failed
//! connection attempts during which calls fail fast. `apply` reports success only after
//! COMMIT succeeded.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

/// Migrations by number, in order, numbered as the SQLite store's. Numbers may have gaps: a
/// number can be taken by work that lands later, and its migration then runs after higher
/// ones already applied (each is recorded by number in `schema_migrations`).
const MIGRATIONS: &[(i32, &str)] = &[
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
];

/// How many batches the change log keeps; a reader further behind reloads everything.
const CHANGE_LOG_RETAINED: i64 = 10_000;

/// The channel every committed batch is announced on, with its sequence number as payload.
pub const CHANNEL: &str = "latchkey_changes";

/// Serializes migrations of one database across instances (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x6c61_7463_686b_6579; // "latchkey"

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 4;
/// How long a connection attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Backoff between failed connection attempts: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often a transaction refused by a deadlock or serialization failure is retried.
const TRANSIENT_RETRIES: usize = 3;

/// The PostgreSQL store.
pub struct PostgresStore {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
    reconnect: Mutex<Backoff>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("host", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    fn delay(&self) -> Duration {
        BACKOFF_FIRST
            .saturating_mul(1u32 << self.failures.min(10))
            .min(BACKOFF_MAX)
    }
}

/// Why one attempt at a transaction failed.
#[derive(Debug)]
enum Failure {
    /// A refusal decided by the store's own rules; the connection is fine.
    Store(StoreError),
    /// An error from the database or the connection.
    Db(postgres::Error),
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Failure::Db(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

impl Failure {
    /// Whether the connection that produced this failure can be used again: the database
    /// answered (a refusal or a constraint), as opposed to the connection breaking.
    fn connection_usable(&self, client: &Client) -> bool {
        !client.is_closed()
            && match self {
                Failure::Store(_) => true,
                Failure::Db(error) => !is_connection_failure(error),
            }
    }

    fn is_transient(&self) -> bool {
        matches!(self, Failure::Db(error) if matches!(
            error.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        ))
    }

    fn into_store_error(self) -> StoreError {
        match self {
            Failure::Store(error) => error,
            Failure::Db(error) => classify(error),
        }
    }
}

/// Maps a database error onto the store's: constraint violations are the refusals the
/// invariants are made of; a lost or unreachable database is [`unavailable`]; everything
/// else is a backend failure. Nothing was committed in any case.
fn classify(error: postgres::Error) -> StoreError {
    match error.code() {
        Some(&SqlState::UNIQUE_VIOLATION) => StoreError::AlreadyExists,
        // The row the change refers to (a user, an account) is gone.
        Some(&SqlState::FOREIGN_KEY_VIOLATION) => StoreError::NotFound,
        _ if is_connection_failure(&error) => unavailable(describe(&error)),
        _ => StoreError::Backend(describe(&error)),
    }
}

/// The connection failed or the server ended the session (shutdown, restart,
/// `pg_terminate_backend`), as opposed to the database refusing a statement: trying again
/// on a new connection may succeed.
fn is_connection_failure(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        // No SQLSTATE: the client side failed (I/O, a closed socket, a timeout).
        None => error.as_db_error().is_none(),
        Some(code) => {
            matches!(code.code().get(..2), Some("08") | Some("53") | Some("58"))
                || matches!(
                    code,
                    &SqlState::ADMIN_SHUTDOWN
                        | &SqlState::CRASH_SHUTDOWN
                        | &SqlState::CANNOT_CONNECT_NOW
                        | &SqlState::IDLE_SESSION_TIMEOUT
                )
        }
    }
}

/// The database cannot be reached: the write may be retried. Reported as a backend failure
/// until the store error has a variant of its own for it (HTTP 503 rather than 500).
fn unavailable(detail: String) -> StoreError {
    StoreError::Unavailable(detail)
}

fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

fn decode_error(what: &str, error: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Backend(format!("{what}: {error}")))
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db` or key=value form) and
    /// brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = Self::connect_only(url)?;
        let mut client = store.connect()?;
        migrate(&mut client)?;
        store.put_back(client);
        Ok(store)
    }

    /// Like [`open`](Self::open) but leaves the schema as it is.
    pub fn connect_only(url: &str) -> Result<Self, StoreError> {
        let config = parse_config(url)?;
        Ok(PostgresStore {
            config,
            idle: Mutex::new(Vec::new()),
            reconnect: Mutex::new(Backoff::default()),
        })
    }

    /// The highest migration applied to the database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        self.read(|tx| {
            let version: Option<i32> = tx
                .query_one("SELECT max(version) FROM schema_migrations", &[])?
                .get(0);
            Ok(version.unwrap_or(0) as usize)
        })
    }

    /// The highest migration this build knows.
    pub fn latest_schema_version() -> usize {
        Self::migration_versions().max().unwrap_or(0) as usize
    }

    /// The numbers of the migrations this build knows, in order.
    pub fn migration_versions() -> impl Iterator<Item = i32> {
        MIGRATIONS.iter().map(|(version, _)| *version)
    }

    /// Whether the database already holds an account or a master key check: `init` must not
    /// touch it then.
    pub fn is_initialized(&self) -> Result<bool, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM accounts)
                         OR EXISTS (SELECT 1 FROM meta WHERE key = 'master_key_check')",
                    &[],
                )?
                .get(0))
        })
    }

    /// Opens a connection that listens for committed batches; for following other
    /// instances. The listener holds its own connection, outside the pool.
    pub fn listen(&self) -> Result<ChangeListener, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Backend(describe(&e)))?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| StoreError::Backend(describe(&e)))?;
        Ok(ChangeListener { client })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Client>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new connection, unless a recent attempt failed and the backoff has not passed.
    fn connect(&self) -> Result<Client, StoreError> {
        {
            let backoff = self.reconnect.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = backoff.retry_at
                && Instant::now() < at
            {
                return Err(unavailable(
                    "the database is unreachable; reconnecting".into(),
                ));
            }
        }
        match self.config.connect(NoTls) {
            Ok(client) => {
                let mut backoff = self.reconnect.lock().unwrap_or_else(|p| p.into_inner());
                if backoff.failures > 0 {
                    tracing::info!("reconnected to the database");
                }
                *backoff = Backoff::default();
                Ok(client)
            }
            Err(error) => {
                let mut backoff = self.reconnect.lock().unwrap_or_else(|p| p.into_inner());
                let delay = backoff.delay();
                backoff.failures = backoff.failures.saturating_add(1);
                backoff.retry_at = Some(Instant::now() + delay);
                tracing::warn!(error = %describe(&error), retry_in = ?delay, "cannot connect to the database");
                Err(unavailable(format!(
                    "cannot connect to the database: {}",
                    describe(&error)
                )))
            }
        }
    }

    fn put_back(&self, client: Client) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE && !client.is_closed() {
            idle.push(client);
        }
    }

    /// Runs `body` in one transaction and commits it, on a pooled or new connection.
    ///
    /// A pooled connection that cannot even begin a transaction is dropped (with the other
    /// idle ones) and the attempt repeats on the next or a new one: nothing was sent, so
    /// nothing can have been committed. A transaction refused as a deadlock or serialization
    /// failure is retried. Any other failure is returned; a failed COMMIT is never success.
    fn transaction<T>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut transient = 0;
        loop {
            let pooled = self.idle().pop();
            let reused = pooled.is_some();
            let mut client = match pooled {
                Some(client) => client,
                None => self.connect()?,
            };
            let result = match attempt(&mut client, isolation, read_only, &mut body) {
                Ok(result) => result,
                Err(error) if reused => {
                    // Its server may have restarted: so did every idle connection's. This
                    // one is dropped at the end of the iteration.
                    tracing::debug!(error = %describe(&error), "dropped a stale connection");
                    self.idle().clear();
                    continue;
                }
                Err(error) => return Err(classify(error)),
            };
            match result {
                Ok(value) => {
                    self.put_back(client);
                    return Ok(value);
                }
                Err(failure) => {
                    if failure.connection_usable(&client) {
                        self.put_back(client);
                    } else {
                        drop(client);
                        self.idle().clear();
                    }
                    if failure.is_transient() && transient < TRANSIENT_RETRIES {
                        transient += 1;
                        continue;
                    }
                    return Err(failure.into_store_error());
                }
            }
        }
    }

    /// A read-only transaction that sees one committed moment.
    fn read<T>(
        &self,
        body: impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        self.transaction(IsolationLevel::RepeatableRead, true, body)
    }
}

/// One attempt at a transaction: `Err` if it could not even begin (nothing was sent), else
/// the outcome of the body and the COMMIT.
fn attempt<T>(
    client: &mut Client,
    isolation: IsolationLevel,
    read_only: bool,
    body: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, Failure>,
) -> Result<Result<T, Failure>, postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(isolation)
        .read_only(read_only)
        .start()?;
    Ok(match body(&mut tx) {
        Ok(value) => tx.commit().map(|()| value).map_err(Failure::from),
        // Dropping the transaction rolls it back.
        Err(failure) => Err(failure),
    })
}

fn parse_config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| StoreError::Backend(format!("invalid store URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("latchkey");
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10));
    Ok(config)
}

/// Applies the migrations not yet applied, each in its own transaction, under an advisory
/// lock so that instances starting together migrate once.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let fail = |e: postgres::Error| StoreError::Backend(format!("migration: {}", describe(&e)));
    {
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(fail)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .map_err(fail)?
            .get(0);
        if !exists {
            tx.batch_execute(
                "CREATE TABLE schema_migrations (
                     version    INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 )",
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
    }
    for &(version, sql) in MIGRATIONS {
        let mut tx = client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(fail)?;
        let applied: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
                &[&version],
            )
            .map_err(fail)?
            .get(0);
        if applied {
            continue;
        }
        tx.batch_execute(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version, "applied a schema migration");
    }
    Ok(())
}

impl Store for PostgresStore {
    fn load(&self) -> Result<Contents, StoreError> {
        self.read(read_all)
    }

    fn apply_audited(&self, changes: &[Change], audit: &[AuditSegment]) -> Result<Seq, StoreError> {
        let batch =
            serde_json::to_string(changes).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.transaction(IsolationLevel::ReadCommitted, false, |tx| {
            for change in changes {
                apply_one(tx, change)?;
            }
            insert_segments(tx, audit)?;
            // Number the batch and commit it while no other writer can: commit order is
            // log order.
            tx.batch_execute("LOCK TABLE change_log IN EXCLUSIVE MODE")?;
            let seq: i64 = tx
                .query_one("SELECT coalesce(max(seq), 0) + 1 FROM change_log", &[])?
                .get(0);
            tx.execute(
                "INSERT INTO change_log (seq, batch, created_at) VALUES ($1, $2, $3)",
                &[&seq, &batch, &Utc::now()],
            )?;
            tx.execute(
                "DELETE FROM change_log WHERE seq <= $1",
                &[&(seq - CHANGE_LOG_RETAINED)],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])?;
            Ok(seq)
        })
    }

    fn changes_since(&self, after: Seq) -> Result<ChangesSince, StoreError> {
        let rows = self.read(|tx| {
            let oldest: Option<i64> = tx.query_one("SELECT min(seq) FROM change_log", &[])?.get(0);
            if oldest.is_some_and(|oldest| oldest > after + 1) {
                return Ok(None);
            }
            let rows = tx
                .query(
                    "SELECT seq, batch FROM change_log WHERE seq > $1 ORDER BY seq",
                    &[&after],
                )?
                .into_iter()
                .map(|row| (row.get::<_, i64>(0), row.get::<_, String>(1)))
                .collect::<Vec<_>>();
            Ok(Some(rows))
        })?;
        let Some(rows) = rows else {
            return Ok(ChangesSince::Reload);
        };
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
        self.transaction(IsolationLevel::ReadCommitted, false, |tx| {
            insert_segments(tx, segments)
        })
    }

    fn audit_segment_refs(&self, query: &SegmentQuery<'_>) -> Result<Vec<SegmentRef>, StoreError> {
        let (below_last, below_id) = match &query.below {
            Some((last_us, id)) => (Some(*last_us), Some(id.as_str())),
            None => (None, None),
        };
        let limit = query.limit as i64;
        self.read(|tx| {
            let rows = tx.query(
                "SELECT segment_id, first_us, last_us FROM audit_segment_keys
                 WHERE account_id = $1 AND attribute = $2 AND value = $3
                   AND ($4::BIGINT IS NULL OR last_us >= $4)
                   AND ($5::BIGINT IS NULL OR first_us <= $5)
                   AND ($6::BIGINT IS NULL OR (last_us, segment_id) < ($6, $7::TEXT))
                 ORDER BY last_us DESC, segment_id DESC LIMIT $8",
                &[
                    &query.account_id,
                    &query.attribute,
                    &query.value,
                    &query.from_us,
                    &query.to_us,
                    &below_last,
                    &below_id,
                    &limit,
                ],
            )?;
            Ok(rows
                .into_iter()
                .map(|row| SegmentRef {
                    segment_id: row.get(0),
                    first_us: row.get(1),
                    last_us: row.get(2),
                })
                .collect())
        })
    }

    fn audit_segment_data(
        &self,
        segment_id: &str,
    ) -> Result<Option<(SegmentEncoding, Vec<u8>)>, StoreError> {
        let row = self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT encoding, data FROM audit_segments WHERE segment_id = $1",
                    &[&segment_id],
                )?
                .map(|row| (row.get::<_, i16>(0), row.get::<_, Vec<u8>>(1))))
        })?;
        row.map(|(encoding, data)| Ok((SegmentEncoding::from_code(encoding)?, data)))
            .transpose()
    }

    fn delete_audit_segments_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = before.timestamp_micros();
        self.transaction(IsolationLevel::ReadCommitted, false, |tx| {
            let events: i64 = tx
                .query_one(
                    "WITH gone AS (DELETE FROM audit_segments WHERE last_us < $1 RETURNING event_count)
                     SELECT coalesce(sum(event_count), 0)::BIGINT FROM gone",
                    &[&before],
                )?
                .get(0);
            tx.execute("DELETE FROM audit_segment_keys WHERE last_us < $1", &[&before])?;
            Ok(events as u64)
        })
    }

    fn save_key_usage(&self, uses: &[(String, LastUsed)]) -> Result<(), StoreError> {
        self.transaction(IsolationLevel::ReadCommitted, false, |tx| {
            for (access_key_id, last_used) in uses {
                // A key deleted since its use was recorded simply has nothing to update; an
                // older use never overwrites a newer one saved by another instance.
                tx.execute(
                    "UPDATE access_keys SET last_used_at = $2, last_used_service = $3, last_used_region = $4
                     WHERE access_key_id = $1 AND (last_used_at IS NULL OR last_used_at <= $2)",
                    &[access_key_id, &last_used.at, &last_used.service, &last_used.region],
                )?;
            }
            Ok(())
        })
    }
}

/// Saves audit segments with their keys, one statement each; a segment already there (the
/// same id) is left as it was.
fn insert_segments(tx: &mut Transaction<'_>, segments: &[AuditSegment]) -> Result<(), Failure> {
    for segment in segments {
        let inserted = tx.execute(
            "INSERT INTO audit_segments (segment_id, first_us, last_us, event_count, encoding, data)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (segment_id) DO NOTHING",
            &[
                &segment.segment_id,
                &segment.first_us,
                &segment.last_us,
                &segment.event_count,
                &segment.encoding.code(),
                &segment.data,
            ],
        )?;
        if inserted == 0 {
            continue;
        }
        let accounts: Vec<&str> = segment.keys.iter().map(|k| k.account_id.as_str()).collect();
        let attributes: Vec<&str> = segment.keys.iter().map(|k| k.attribute).collect();
        let values: Vec<&str> = segment.keys.iter().map(|k| k.value.as_str()).collect();
        tx.execute(
            "INSERT INTO audit_segment_keys (account_id, attribute, value, last_us, first_us, segment_id)
             SELECT account_id, attribute, value, $4, $5, $6
             FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS k (account_id, attribute, value)",
            &[
                &accounts,
                &attributes,
                &values,
                &segment.last_us,
                &segment.first_us,
                &segment.segment_id,
            ],
        )?;
    }
    Ok(())
}

/// Locks one row for the rest of the transaction (`sql` selects it `FOR UPDATE` or `FOR KEY
/// SHARE` by its id), so that the writers that count or check what hangs off it take turns;
/// `NotFound` if the row is gone.
fn lock(tx: &mut Transaction<'_>, sql: &str, id: &str) -> Result<(), Failure> {
    match tx.query_opt(sql, &[&id])? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound.into()),
    }
}

/// Locks the user's row: writers counting the user's keys, tags or dependents take turns.
fn lock_user(tx: &mut Transaction<'_>, user_id: &str) -> Result<(), Failure> {
    lock(
        tx,
        "SELECT 1 FROM users WHERE user_id = $1 FOR UPDATE",
        user_id,
    )
}

fn lock_group(tx: &mut Transaction<'_>, group_id: &str) -> Result<(), Failure> {
    lock(
        tx,
        "SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE",
        group_id,
    )
}

fn lock_role(tx: &mut Transaction<'_>, role_id: &str) -> Result<(), Failure> {
    lock(
        tx,
        "SELECT 1 FROM roles WHERE role_id = $1 FOR UPDATE",
        role_id,
    )
}

/// Locks a permission set's row: its tags are counted, and its deletion checks that it is
/// unused, one writer at a time; an assignment or provisioning inserted meanwhile holds the
/// row through its foreign key (KEY SHARE), so the delete waits for it and counts it.
fn lock_permission_set(tx: &mut Transaction<'_>, permission_set_id: &str) -> Result<(), Failure> {
    lock(
        tx,
        "SELECT 1 FROM permission_sets WHERE permission_set_id = $1 FOR UPDATE",
        permission_set_id,
    )
}

/// Holds an identity store user or group (`FOR KEY SHARE`) while an account assignment is
/// made for it: a concurrent delete of the principal waits for this commit, then deletes the
/// new assignment too ([`delete_principal`]); a delete that committed first leaves nothing to
/// lock, and the assignment is refused.
fn lock_principal(
    tx: &mut Transaction<'_>,
    principal_type: PrincipalType,
    id: &str,
) -> Result<(), Failure> {
    let sql = match principal_type {
        PrincipalType::User => {
            "SELECT 1 FROM identity_store_users WHERE user_id = $1 FOR KEY SHARE"
        }
        PrincipalType::Group => {
            "SELECT 1 FROM identity_store_groups WHERE group_id = $1 FOR KEY SHARE"
        }
    };
    lock(tx, sql, id)
}

/// Deletes an identity store user or group (`delete`), then its account assignments. The
/// row goes first: an assignment made concurrently holds the row until it commits, so the
/// second statement, run after that wait, sees and deletes it.
fn delete_principal(
    tx: &mut Transaction<'_>,
    delete: &str,
    principal_type: PrincipalType,
    id: &str,
) -> Result<u64, Failure> {
    let deleted = tx.execute(delete, &[&id])?;
    tx.execute(
        "DELETE FROM account_assignments WHERE principal_type = $1 AND principal_id = $2",
        &[&principal_type.as_str(), &id],
    )?;
    Ok(deleted)
}

fn lock_entity(tx: &mut Transaction<'_>, entity: &Entity) -> Result<(), Failure> {
    match entity {
        Entity::User(id) => lock_user(tx, id),
        Entity::Group(id) => lock_group(tx, id),
        Entity::Role(id) => lock_role(tx, id),
    }
}

/// Locks a customer managed policy's row: its versions, tags and default change one writer
/// at a time, and it is not deleted while a writer attaches it.
fn lock_policy(tx: &mut Transaction<'_>, policy_arn: &str) -> Result<(), Failure> {
    lock(
        tx,
        "SELECT 1 FROM managed_policies WHERE policy_arn = $1 FOR UPDATE",
        policy_arn,
    )
}

/// AWS managed policies live in the binary, not in the store.
const AWS_MANAGED_PREFIX: &str = "arn:aws:iam::aws:policy/";

/// Keeps a customer managed policy from being deleted until this transaction ends (a
/// DeletePolicy waits for it, then counts this attachment or boundary); `NotFound` if it is
/// already gone. AWS managed policies cannot be deleted.
fn hold_policy(tx: &mut Transaction<'_>, policy_arn: &str) -> Result<(), Failure> {
    if policy_arn.starts_with(AWS_MANAGED_PREFIX) {
        return Ok(());
    }
    lock(
        tx,
        "SELECT 1 FROM managed_policies WHERE policy_arn = $1 FOR KEY SHARE",
        policy_arn,
    )
}

/// A role's maximum session duration as stored (INTEGER).
/// A password policy's number (at most 1095), as PostgreSQL's INTEGER.
fn small(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn seconds(duration: u32) -> Result<i32, Failure> {
    i32::try_from(duration).map_err(|e| decode_error("max_session_duration", e))
}

fn count(tx: &mut Transaction<'_>, sql: &str, id: &str) -> Result<usize, Failure> {
    let n: i64 = tx.query_one(sql, &[&id])?.get(0);
    Ok(n as usize)
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

/// Adds or overwrites tags, then refuses the whole change past the quota. The caller has
/// locked the owner's row, so concurrent taggers count one after the other.
fn set_tags(
    tx: &mut Transaction<'_>,
    t: &TagTable,
    owner: &str,
    tags: &[Tag],
) -> Result<u64, Failure> {
    let upsert = format!(
        "INSERT INTO {table} ({owner}, key, value) VALUES ($1, $2, $3)
         ON CONFLICT ({owner}, key) DO UPDATE SET value = excluded.value",
        table = t.table,
        owner = t.owner
    );
    for Tag { key, value } in tags {
        tx.execute(upsert.as_str(), &[&owner, key, value])?;
    }
    let held = count(
        tx,
        &format!("SELECT count(*) FROM {} WHERE {} = $1", t.table, t.owner),
        owner,
    )?;
    if held > TAGS_PER_USER {
        return Err(StoreError::LimitExceeded {
            quota: t.quota,
            limit: TAGS_PER_USER,
        }
        .into());
    }
    Ok(1)
}

fn remove_tags(
    tx: &mut Transaction<'_>,
    t: &TagTable,
    owner: &str,
    keys: &[String],
) -> Result<u64, Failure> {
    tx.execute(
        format!(
            "DELETE FROM {} WHERE {} = $1 AND key = ANY($2)",
            t.table, t.owner
        )
        .as_str(),
        &[&owner, &keys],
    )?;
    Ok(1)
}

fn apply_one(tx: &mut Transaction<'_>, change: &Change) -> Result<(), Failure> {
    let affected = match change {
        Change::SetMasterKeyCheck(check) => tx.execute(
            "INSERT INTO meta (key, value) VALUES ('master_key_check', $1)",
            &[check],
        )?,
        Change::Reseal(Resealed::AccessKey {
            access_key_id,
            sealed_secret,
        }) => tx.execute(
            "UPDATE access_keys SET sealed_secret = $2 WHERE access_key_id = $1",
            &[access_key_id, sealed_secret],
        )?,
        Change::Reseal(Resealed::MfaDevice {
            serial,
            sealed_seed,
        }) => tx.execute(
            "UPDATE mfa_devices SET sealed_seed = $2 WHERE serial_number = $1",
            &[serial, sealed_seed],
        )?,
        Change::Reseal(Resealed::IdentityMfa {
            user_id,
            sealed_seed,
        }) => tx.execute(
            "UPDATE identity_store_mfa SET sealed_seed = $2 WHERE user_id = $1",
            &[user_id, sealed_seed],
        )?,
        Change::Reseal(Resealed::MasterKeyCheck(check)) => tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'master_key_check'",
            &[check],
        )?,
        Change::CreateAccount(AccountRow {
            id,
            name,
            root_email,
            root_password_hash,
            created,
        }) => tx.execute(
            "INSERT INTO accounts (account_id, name, root_email, root_password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[id, name, root_email, root_password_hash, created],
        )?,
        Change::CreateUser(UserRow {
            id,
            account_id,
            name,
            path,
            created,
        }) => tx.execute(
            "INSERT INTO users (user_id, account_id, user_name, path, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[id, account_id, name, path, created],
        )?,
        Change::RenameUser { user_id, name, path } => tx.execute(
            "UPDATE users SET user_name = $2, path = $3 WHERE user_id = $1",
            &[user_id, name, path],
        )?,
        Change::DeleteUser { user_id } => {
            lock_user(tx, user_id)?;
            // A key, group or policy the user gained since the caller checked (on this or
            // another instance) committed before our lock was granted, and is counted here.
            if count(
                tx,
                "SELECT (SELECT count(*) FROM access_keys WHERE user_id = $1)
                      + (SELECT count(*) FROM mfa_devices WHERE user_id = $1)
                      + (SELECT count(*) FROM group_members WHERE user_id = $1)
                      + (SELECT count(*) FROM policy_attachments WHERE entity_type = 'user' AND entity_id = $1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'user' AND entity_id = $1)",
                user_id,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute("DELETE FROM users WHERE user_id = $1", &[user_id])?
        }
        Change::SetUserBoundary { user_id, policy_arn } => {
            if let Some(arn) = policy_arn {
                hold_policy(tx, arn)?;
            }
            tx.execute(
                "UPDATE users SET permissions_boundary_arn = $2 WHERE user_id = $1",
                &[user_id, policy_arn],
            )?
        }
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[id, account_id, name, path, description, trust_policy, &seconds(*max_session_duration)?, created],
        )?,
        Change::UpdateRole {
            role_id,
            description,
            max_session_duration,
        } => tx.execute(
            "UPDATE roles SET description = $2, max_session_duration = $3 WHERE role_id = $1",
            &[role_id, description, &seconds(*max_session_duration)?],
        )?,
        Change::UpdateAssumeRolePolicy { role_id, document } => tx.execute(
            "UPDATE roles SET trust_policy = $2 WHERE role_id = $1",
            &[role_id, document],
        )?,
        Change::DeleteRole { role_id } => {
            lock_role(tx, role_id)?;
            if count(
                tx,
                "SELECT (SELECT count(*) FROM policy_attachments WHERE entity_type = 'role' AND entity_id = $1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'role' AND entity_id = $1)",
                role_id,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute("DELETE FROM roles WHERE role_id = $1", &[role_id])?
        }
        Change::SetRoleTags { role_id, tags } => {
            lock_role(tx, role_id)?;
            set_tags(tx, &ROLE_TAGS, role_id, tags)?
        }
        Change::RemoveRoleTags { role_id, keys } => remove_tags(tx, &ROLE_TAGS, role_id, keys)?,
        Change::SetRoleBoundary { role_id, policy_arn } => {
            if let Some(arn) = policy_arn {
                hold_policy(tx, arn)?;
            }
            tx.execute(
                "UPDATE roles SET permissions_boundary_arn = $2 WHERE role_id = $1",
                &[role_id, policy_arn],
            )?
        }
        Change::CreateGroup(GroupRow {
            id,
            account_id,
            name,
            path,
            created,
        }) => tx.execute(
            "INSERT INTO groups (group_id, account_id, group_name, path, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[id, account_id, name, path, created],
        )?,
        Change::RenameGroup { group_id, name, path } => tx.execute(
            "UPDATE groups SET group_name = $2, path = $3 WHERE group_id = $1",
            &[group_id, name, path],
        )?,
        Change::DeleteGroup { group_id } => {
            lock_group(tx, group_id)?;
            if count(
                tx,
                "SELECT (SELECT count(*) FROM group_members WHERE group_id = $1)
                      + (SELECT count(*) FROM policy_attachments WHERE entity_type = 'group' AND entity_id = $1)
                      + (SELECT count(*) FROM inline_policies WHERE entity_type = 'group' AND entity_id = $1)",
                group_id,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute("DELETE FROM groups WHERE group_id = $1", &[group_id])?
        }
        Change::AddUserToGroup { group_id, user_id } => {
            // The foreign keys hold both rows (KEY SHARE) against a concurrent delete.
            tx.execute(
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[group_id, user_id],
            )?;
            1
        }
        Change::RemoveUserFromGroup { group_id, user_id } => tx.execute(
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[group_id, user_id],
        )?,
        Change::CreatePolicy(PolicyRow {
            id,
            arn,
            account_id,
            name,
            path,
            description,
            created,
        }) => tx.execute(
            "INSERT INTO managed_policies (policy_arn, policy_id, account_id, policy_name, path, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[arn, id, account_id, name, path, description, created],
        )?,
        Change::DeletePolicy { policy_arn } => {
            // Writers attaching the policy or making it a boundary hold its row; once they
            // committed, their use is counted here.
            lock_policy(tx, policy_arn)?;
            if count(
                tx,
                "SELECT (SELECT count(*) FROM policy_attachments WHERE policy_arn = $1)
                      + (SELECT count(*) FROM users WHERE permissions_boundary_arn = $1)
                      + (SELECT count(*) FROM roles WHERE permissions_boundary_arn = $1)",
                policy_arn,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute(
                "DELETE FROM managed_policies WHERE policy_arn = $1",
                &[policy_arn],
            )?
        }
        Change::CreatePolicyVersion(PolicyVersionRow {
            policy_arn,
            version_id,
            document,
            created,
        }) => {
            lock_policy(tx, policy_arn)?;
            if count(
                tx,
                "SELECT count(*) FROM policy_versions WHERE policy_arn = $1",
                policy_arn,
            )? >= VERSIONS_PER_POLICY
            {
                return Err(StoreError::LimitExceeded {
                    quota: "VersionsPerPolicy",
                    limit: VERSIONS_PER_POLICY,
                }
                .into());
            }
            tx.execute(
                "INSERT INTO policy_versions (policy_arn, version_id, document, created_at) VALUES ($1, $2, $3, $4)",
                &[policy_arn, version_id, document, created],
            )?
        }
        Change::DeletePolicyVersion {
            policy_arn,
            version_id,
        } => {
            // Not while another writer makes it the default.
            lock_policy(tx, policy_arn)?;
            tx.execute(
                "DELETE FROM policy_versions WHERE policy_arn = $1 AND version_id = $2
                 AND version_id IS DISTINCT FROM (SELECT default_version_id FROM managed_policies WHERE policy_arn = $1)",
                &[policy_arn, version_id],
            )?
        }
        Change::SetDefaultPolicyVersion {
            policy_arn,
            version_id,
        } => {
            lock_policy(tx, policy_arn)?;
            tx.execute(
                "UPDATE managed_policies SET default_version_id = $2 WHERE policy_arn = $1
                 AND EXISTS (SELECT 1 FROM policy_versions WHERE policy_arn = $1 AND version_id = $2)",
                &[policy_arn, version_id],
            )?
        }
        Change::SetPolicyTags { policy_arn, tags } => {
            lock_policy(tx, policy_arn)?;
            set_tags(tx, &POLICY_TAGS, policy_arn, tags)?
        }
        Change::RemovePolicyTags { policy_arn, keys } => remove_tags(tx, &POLICY_TAGS, policy_arn, keys)?,
        Change::AttachPolicy { entity, policy_arn } => {
            lock_entity(tx, entity)?;
            hold_policy(tx, policy_arn)?;
            let attached = tx
                .query_one(
                    "SELECT count(*) FROM policy_attachments WHERE entity_type = $1 AND entity_id = $2",
                    &[&entity.kind(), &entity.id()],
                )?
                .get::<_, i64>(0) as usize;
            if attached >= ATTACHED_POLICIES_PER_ENTITY {
                return Err(StoreError::LimitExceeded {
                    quota: match entity {
                        Entity::User(_) => "PoliciesPerUser",
                        Entity::Group(_) => "PoliciesPerGroup",
                        Entity::Role(_) => "PoliciesPerRole",
                    },
                    limit: ATTACHED_POLICIES_PER_ENTITY,
                }
                .into());
            }
            tx.execute(
                "INSERT INTO policy_attachments (entity_type, entity_id, policy_arn) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&entity.kind(), &entity.id(), policy_arn],
            )?;
            1
        }
        Change::DetachPolicy { entity, policy_arn } => tx.execute(
            "DELETE FROM policy_attachments WHERE entity_type = $1 AND entity_id = $2 AND policy_arn = $3",
            &[&entity.kind(), &entity.id(), policy_arn],
        )?,
        Change::PutInlinePolicy(InlinePolicyRow {
            entity,
            name,
            document,
        }) => {
            // Not while another writer deletes the user or group.
            lock_entity(tx, entity)?;
            tx.execute(
                "INSERT INTO inline_policies (entity_type, entity_id, policy_name, document) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (entity_type, entity_id, policy_name) DO UPDATE SET document = excluded.document",
                &[&entity.kind(), &entity.id(), name, document],
            )?
        }
        Change::DeleteInlinePolicy { entity, name } => tx.execute(
            "DELETE FROM inline_policies WHERE entity_type = $1 AND entity_id = $2 AND policy_name = $3",
            &[&entity.kind(), &entity.id(), name],
        )?,
        Change::SetUserTags { user_id, tags } => {
            lock_user(tx, user_id)?;
            set_tags(tx, &USER_TAGS, user_id, tags)?
        }
        Change::RemoveUserTags { user_id, keys } => remove_tags(tx, &USER_TAGS, user_id, keys)?,
        Change::CreateLoginProfile(LoginProfileRow {
            user_id,
            password_hash,
            created,
            password_reset_required,
            password_changed,
        }) => tx.execute(
            "INSERT INTO login_profiles (user_id, password_hash, created_at, password_reset_required, password_changed_at) VALUES ($1, $2, $3, $4, $5)",
            &[user_id, password_hash, created, password_reset_required, password_changed],
        )?,
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
            "UPDATE login_profiles SET password_hash = $2, password_reset_required = $3, password_changed_at = $4 WHERE user_id = $1 AND password_hash = $5",
            &[user_id, password_hash, password_reset_required, password_changed, replaces],
        )?,
        Change::DeleteLoginProfile { user_id } => tx.execute(
            "DELETE FROM login_profiles WHERE user_id = $1",
            &[user_id],
        )?,
        Change::RememberPassword(PasswordHistoryRow {
            user_id,
            password_hash,
            replaced,
        }) => {
            let inserted = tx.execute(
                "INSERT INTO password_history (user_id, password_hash, replaced_at) VALUES ($1, $2, $3)",
                &[user_id, password_hash, replaced],
            )?;
            tx.execute(
                "DELETE FROM password_history WHERE user_id = $1 AND ctid NOT IN
                 (SELECT ctid FROM password_history WHERE user_id = $1 ORDER BY replaced_at DESC LIMIT $2)",
                &[user_id, &(PASSWORD_HISTORY_KEPT as i64)],
            )?;
            inserted
        }
        Change::SetAccountAlias { account_id, alias } => tx.execute(
            "INSERT INTO account_aliases (account_id, alias) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET alias = excluded.alias",
            &[account_id, alias],
        )?,
        Change::DeleteAccountAlias { account_id, alias } => tx.execute(
            "DELETE FROM account_aliases WHERE account_id = $1 AND alias = $2",
            &[account_id, alias],
        )?,
        Change::SetPasswordPolicy { account_id, policy } => tx.execute(
            "INSERT INTO password_policies (account_id, minimum_password_length, require_symbols, require_numbers,
                 require_uppercase_characters, require_lowercase_characters, allow_users_to_change_password,
                 max_password_age, password_reuse_prevention, hard_expiry)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
            &[
                account_id,
                &small(policy.minimum_password_length),
                &policy.require_symbols,
                &policy.require_numbers,
                &policy.require_uppercase_characters,
                &policy.require_lowercase_characters,
                &policy.allow_users_to_change_password,
                &policy.max_password_age.map(small),
                &policy.password_reuse_prevention.map(small),
                &policy.hard_expiry,
            ],
        )?,
        Change::DeletePasswordPolicy { account_id } => tx.execute(
            "DELETE FROM password_policies WHERE account_id = $1",
            &[account_id],
        )?,
        Change::CreateAccessKey(AccessKeyRow {
            id,
            account_id,
            user_id,
            status,
            created,
            sealed_secret,
            last_used,
        }) => {
            // A user's keys, or the root user's (no user) of the account, counted under a
            // lock on their owner so two instances cannot both add the last one.
            let held = match user_id {
                Some(user_id) => {
                    lock_user(tx, user_id)?;
                    count(tx, "SELECT count(*) FROM access_keys WHERE user_id = $1", user_id)?
                }
                None => {
                    lock(
                        tx,
                        "SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE",
                        account_id,
                    )?;
                    count(
                        tx,
                        "SELECT count(*) FROM access_keys WHERE user_id IS NULL AND account_id = $1",
                        account_id,
                    )?
                }
            };
            if held >= ACCESS_KEYS_PER_USER {
                return Err(StoreError::LimitExceeded {
                    quota: "AccessKeysPerUser",
                    limit: ACCESS_KEYS_PER_USER,
                }
                .into());
            }
            tx.execute(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, status, created_at, sealed_secret, last_used_at, last_used_service, last_used_region)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    id,
                    account_id,
                    user_id,
                    &status.as_str(),
                    created,
                    sealed_secret,
                    &last_used.as_ref().map(|u| u.at),
                    &last_used.as_ref().map(|u| u.service.as_str()),
                    &last_used.as_ref().map(|u| u.region.as_str()),
                ],
            )?
        }
        Change::SetAccessKeyStatus { access_key_id, status } => tx.execute(
            "UPDATE access_keys SET status = $2 WHERE access_key_id = $1",
            &[access_key_id, &status.as_str()],
        )?,
        Change::DeleteAccessKey { access_key_id } => tx.execute(
            "DELETE FROM access_keys WHERE access_key_id = $1",
            &[access_key_id],
        )?,
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                serial,
                account_id,
                name,
                path,
                created,
                sealed_seed,
                &assignment.as_ref().map(|a| a.user_id.as_str()),
                &assignment.as_ref().map(|a| a.enabled),
                &assignment.as_ref().map_or(0, |a| a.drift_steps),
            ],
        )?,
        Change::EnableMfaDevice { serial, assignment } => {
            // The user's lock orders enablers of the same user; the device's row lock orders
            // enablers of the same device.
            lock_user(tx, &assignment.user_id)?;
            if count(
                tx,
                "SELECT count(*) FROM mfa_devices WHERE user_id = $1",
                &assignment.user_id,
            )? >= MFA_DEVICES_PER_USER
            {
                return Err(StoreError::LimitExceeded {
                    quota: "MFADevicesPerUser",
                    limit: MFA_DEVICES_PER_USER,
                }
                .into());
            }
            let assigned: bool = tx
                .query_opt(
                    "SELECT user_id IS NOT NULL FROM mfa_devices WHERE serial_number = $1 FOR UPDATE",
                    &[serial],
                )?
                .ok_or(StoreError::NotFound)?
                .get(0);
            if assigned {
                return Err(StoreError::AlreadyExists.into());
            }
            tx.execute(
                "UPDATE mfa_devices SET user_id = $2, enabled_at = $3, drift_steps = $4 WHERE serial_number = $1",
                &[
                    serial,
                    &assignment.user_id,
                    &assignment.enabled,
                    &assignment.drift_steps,
                ],
            )?
        }
        Change::ResyncMfaDevice {
            serial,
            drift_steps,
        } => tx.execute(
            "UPDATE mfa_devices SET drift_steps = $2 WHERE serial_number = $1 AND user_id IS NOT NULL",
            &[serial, drift_steps],
        )?,
        Change::DeactivateMfaDevice { serial } => tx.execute(
            "UPDATE mfa_devices SET user_id = NULL, enabled_at = NULL, drift_steps = 0
             WHERE serial_number = $1 AND user_id IS NOT NULL",
            &[serial],
        )?,
        Change::DeleteMfaDevice { serial } => {
            let assigned: bool = tx
                .query_opt(
                    "SELECT user_id IS NOT NULL FROM mfa_devices WHERE serial_number = $1 FOR UPDATE",
                    &[serial],
                )?
                .ok_or(StoreError::NotFound)?
                .get(0);
            if assigned {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute(
                "DELETE FROM mfa_devices WHERE serial_number = $1",
                &[serial],
            )?
        }
        Change::CreateInvitation(row) => {
            tx.execute(
                "DELETE FROM identity_store_invitations WHERE user_id = $1 AND accepted_at IS NULL",
                &[&row.user_id],
            )?;
            tx.execute(
                "INSERT INTO identity_store_invitations (token_hash, user_id, email, created_at, expires_at, accepted_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &row.token_hash,
                    &row.user_id,
                    &row.email,
                    &row.created,
                    &row.expires,
                    &row.accepted,
                ],
            )?
        }
        Change::AcceptInvitation { token_hash, at } => tx.execute(
            "UPDATE identity_store_invitations SET accepted_at = $2 WHERE token_hash = $1 AND accepted_at IS NULL",
            &[token_hash, at],
        )?,
        Change::SetIdentityPassword(row) => tx.execute(
            "INSERT INTO identity_store_passwords (user_id, password_hash, set_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, set_at = excluded.set_at",
            &[&row.user_id, &row.password_hash, &row.set],
        )?,
        Change::EnableIdentityMfa(row) => tx.execute(
            "INSERT INTO identity_store_mfa (user_id, sealed_seed, enabled_at) VALUES ($1, $2, $3)",
            &[&row.user_id, &row.sealed_seed, &row.enabled],
        )?,
        Change::DeleteIdentityMfa { user_id } => tx.execute(
            "DELETE FROM identity_store_mfa WHERE user_id = $1",
            &[user_id],
        )?,
        Change::CreateDeviceAuthorization(row) => {
            tx.execute(
                "DELETE FROM device_authorizations WHERE expires_at < $1",
                &[&(row.created - chrono::Duration::hours(1))],
            )?;
            let (decision, user_id, decided_at) = DeviceDecision::to_columns(row.decision.as_ref());
            tx.execute(
                "INSERT INTO device_authorizations (device_code_hash, user_code, client_id, client_name, scopes, start_url, created_at, expires_at, decision, decided_user_id, decided_at, redeemed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &row.device_code_hash,
                    &row.user_code,
                    &row.client_id,
                    &row.client_name,
                    &serde_json::to_string(&row.scopes).map_err(|e| StoreError::Backend(e.to_string()))?,
                    &row.start_url,
                    &row.created,
                    &row.expires,
                    &decision,
                    &user_id,
                    &decided_at,
                    &row.redeemed,
                ],
            )?
        }
        Change::DecideDeviceAuthorization {
            device_code_hash,
            decision,
        } => {
            let (decision, user_id, decided_at) = DeviceDecision::to_columns(Some(decision));
            tx.execute(
                "UPDATE device_authorizations SET decision = $2, decided_user_id = $3, decided_at = $4
                 WHERE device_code_hash = $1 AND decision IS NULL",
                &[device_code_hash, &decision, &user_id, &decided_at],
            )?
        }
        Change::SpendToken(row) => {
            tx.execute(
                "DELETE FROM spent_tokens WHERE expires_at < $1",
                &[&row.spent],
            )?;
            tx.execute(
                "INSERT INTO spent_tokens (token_hash, spent_at, expires_at) VALUES ($1, $2, $3)",
                &[&row.token_hash, &row.spent, &row.expires],
            )?
        }
        Change::RedeemDeviceAuthorization {
            device_code_hash,
            at,
        } => tx.execute(
            "UPDATE device_authorizations SET redeemed_at = $2
             WHERE device_code_hash = $1 AND decision = 'approved' AND redeemed_at IS NULL",
            &[device_code_hash, at],
        )?,
        Change::PutCredentialReport(CredentialReportRow {
            account_id,
            generated,
            csv,
        }) => tx.execute(
            "INSERT INTO credential_reports (account_id, generated_at, content) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET generated_at = excluded.generated_at, content = excluded.content",
            &[account_id, generated, csv],
        )?,
        Change::CreateIdentityCenter(IdentityCenterRow {
            instance_id,
            identity_store_id,
            account_id,
            created,
        }) => tx.execute(
            "INSERT INTO identity_centers (instance_id, identity_store_id, account_id, created_at) VALUES ($1, $2, $3, $4)",
            &[instance_id, identity_store_id, account_id, created],
        )?,
        Change::CreateIdentityStoreUser(row) => tx.execute(
            "INSERT INTO identity_store_users (user_id, identity_store_id, user_name, attributes, revision, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.id,
                &row.identity_store_id,
                &row.attributes.user_name,
                &document(&row.attributes)?,
                &row.revision,
                &row.created,
                &row.created_by,
                &row.updated,
                &row.updated_by,
            ],
        )?,
        // Only over the revision it was made from: the row lock orders concurrent writers,
        // and one that changed the user first leaves no row to update.
        Change::UpdateIdentityStoreUser(row) => tx.execute(
            "UPDATE identity_store_users SET user_name = $2, attributes = $3, revision = $4::bigint, updated_at = $5, updated_by = $6
             WHERE user_id = $1 AND revision = $4::bigint - 1",
            &[
                &row.id,
                &row.attributes.user_name,
                &document(&row.attributes)?,
                &row.revision,
                &row.updated,
                &row.updated_by,
            ],
        )?,
        Change::DeleteIdentityStoreUser { user_id } => delete_principal(
            tx,
            "DELETE FROM identity_store_users WHERE user_id = $1",
            PrincipalType::User,
            user_id,
        )?,
        Change::CreateIdentityStoreGroup(row) => tx.execute(
            "INSERT INTO identity_store_groups (group_id, identity_store_id, display_name, attributes, revision, created_at, created_by, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.id,
                &row.identity_store_id,
                &row.attributes.display_name,
                &document(&row.attributes)?,
                &row.revision,
                &row.created,
                &row.created_by,
                &row.updated,
                &row.updated_by,
            ],
        )?,
        Change::UpdateIdentityStoreGroup(row) => tx.execute(
            "UPDATE identity_store_groups SET display_name = $2, attributes = $3, revision = $4::bigint, updated_at = $5, updated_by = $6
             WHERE group_id = $1 AND revision = $4::bigint - 1",
            &[
                &row.id,
                &row.attributes.display_name,
                &document(&row.attributes)?,
                &row.revision,
                &row.updated,
                &row.updated_by,
            ],
        )?,
        Change::DeleteIdentityStoreGroup { group_id } => delete_principal(
            tx,
            "DELETE FROM identity_store_groups WHERE group_id = $1",
            PrincipalType::Group,
            group_id,
        )?,
        // The foreign keys hold the group and user rows (KEY SHARE) until commit, so a
        // concurrent delete of either waits and then removes this membership too.
        Change::CreateGroupMembership(GroupMembershipRow {
            id,
            identity_store_id,
            group_id,
            user_id,
            created,
            created_by,
        }) => tx.execute(
            "INSERT INTO identity_store_memberships (membership_id, identity_store_id, group_id, user_id, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[id, identity_store_id, group_id, user_id, created, created_by],
        )?,
        Change::DeleteGroupMembership { membership_id } => tx.execute(
            "DELETE FROM identity_store_memberships WHERE membership_id = $1",
            &[membership_id],
        )?,
        Change::CreatePermissionSet(row) => tx.execute(
            "INSERT INTO permission_sets (permission_set_id, instance_id, name, description, session_duration, relay_state, policies, revision, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.id,
                &row.instance_id,
                &row.name,
                &row.description,
                &seconds(row.session_duration)?,
                &row.relay_state,
                &document(&row.policies)?,
                &row.revision,
                &row.created,
            ],
        )?,
        // Only over the revision it was made from, as identity store updates.
        Change::UpdatePermissionSet(row) => tx.execute(
            "UPDATE permission_sets SET description = $2, session_duration = $3, relay_state = $4, policies = $5, revision = $6::bigint
             WHERE permission_set_id = $1 AND revision = $6::bigint - 1",
            &[
                &row.id,
                &row.description,
                &seconds(row.session_duration)?,
                &row.relay_state,
                &document(&row.policies)?,
                &row.revision,
            ],
        )?,
        Change::DeletePermissionSet { permission_set_id } => {
            lock_permission_set(tx, permission_set_id)?;
            if count(
                tx,
                "SELECT (SELECT count(*) FROM account_assignments WHERE permission_set_id = $1)
                      + (SELECT count(*) FROM permission_set_provisionings WHERE permission_set_id = $1)",
                permission_set_id,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute(
                "DELETE FROM permission_sets WHERE permission_set_id = $1",
                &[permission_set_id],
            )?
        }
        Change::SetPermissionSetTags { permission_set_id, tags } => {
            lock_permission_set(tx, permission_set_id)?;
            set_tags(tx, &PERMISSION_SET_TAGS, permission_set_id, tags)?
        }
        Change::RemovePermissionSetTags { permission_set_id, keys } => {
            remove_tags(tx, &PERMISSION_SET_TAGS, permission_set_id, keys)?
        }
        Change::CreateAccountAssignment(row) => {
            lock_principal(tx, row.principal_type, &row.principal_id)?;
            tx.execute(
                "INSERT INTO account_assignments (permission_set_id, account_id, principal_type, principal_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &row.permission_set_id,
                    &row.account_id,
                    &row.principal_type.as_str(),
                    &row.principal_id,
                    &row.created,
                ],
            )?
        }
        Change::DeleteAccountAssignment {
            permission_set_id,
            account_id,
            principal_type,
            principal_id,
        } => tx.execute(
            "DELETE FROM account_assignments
             WHERE permission_set_id = $1 AND account_id = $2 AND principal_type = $3 AND principal_id = $4",
            &[permission_set_id, account_id, &principal_type.as_str(), principal_id],
        )?,
        Change::CreateProvisioning(row) => tx.execute(
            "INSERT INTO permission_set_provisionings (permission_set_id, account_id, role_id, revision, provisioned_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &row.permission_set_id,
                &row.account_id,
                &row.role_id,
                &row.revision,
                &row.provisioned,
            ],
        )?,
        Change::UpdateProvisioning {
            permission_set_id,
            account_id,
            revision,
            provisioned,
        } => tx.execute(
            "UPDATE permission_set_provisionings SET revision = $3, provisioned_at = $4
             WHERE permission_set_id = $1 AND account_id = $2",
            &[permission_set_id, account_id, revision, provisioned],
        )?,
        Change::DeleteProvisioning {
            permission_set_id,
            account_id,
        } => tx.execute(
            "DELETE FROM permission_set_provisionings WHERE permission_set_id = $1 AND account_id = $2",
            &[permission_set_id, account_id],
        )?,
        Change::RecordSsoRequest(row) => tx.execute(
            "INSERT INTO sso_requests (request_id, kind, instance_id, permission_set_arn, account_id, principal_type, principal_id, status, failure_reason, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &row.id,
                &row.kind.as_str(),
                &row.instance_id,
                &row.permission_set_arn,
                &row.account_id,
                &row.principal.as_ref().map(|(kind, _)| kind.as_str()),
                &row.principal.as_ref().map(|(_, id)| id.as_str()),
                &row.status.as_str(),
                &row.failure_reason,
                &row.created,
            ],
        )?,
        // The foreign key holds the parent (KEY SHARE) against a concurrent delete.
        Change::CreateOrganizationalUnit(row) => tx.execute(
            "INSERT INTO organizational_units (ou_id, parent_id, name, tags, created_at) VALUES ($1, $2, $3, $4, $5)",
            &[&row.id, &row.parent_id, &row.name, &document(&row.tags)?, &row.created],
        )?,
        Change::RenameOrganizationalUnit { ou_id, name } => tx.execute(
            "UPDATE organizational_units SET name = $2 WHERE ou_id = $1",
            &[ou_id, name],
        )?,
        Change::DeleteOrganizationalUnit { ou_id } => {
            // Writers moving an account or making an OU in it hold its row (KEY SHARE, by
            // the foreign key) until they commit; once this lock is ours, what they did is
            // committed and counted, and later ones fail on the foreign key.
            lock(
                tx,
                "SELECT 1 FROM organizational_units WHERE ou_id = $1 FOR UPDATE",
                ou_id,
            )?;
            if count(
                tx,
                "SELECT (SELECT count(*) FROM organizational_units WHERE parent_id = $1)
                      + (SELECT count(*) FROM accounts WHERE parent_id = $1)",
                ou_id,
            )? > 0
            {
                return Err(StoreError::DeleteConflict.into());
            }
            tx.execute("DELETE FROM organizational_units WHERE ou_id = $1", &[ou_id])?
        }
        // Only from where the caller saw it: after a concurrent move of the same account
        // commits, the condition is checked again on the new row, and fails.
        Change::MoveAccount {
            account_id,
            from,
            to,
        } => tx.execute(
            "UPDATE accounts SET parent_id = $3 WHERE account_id = $1 AND parent_id IS NOT DISTINCT FROM $2",
            &[account_id, from, to],
        )?,
    };
    if affected == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

/// A stored enumeration (`USER`, `SUCCEEDED`, ...), read back.
fn parse_enum<T>(what: &str, text: &str, parse: fn(&str) -> Option<T>) -> Result<T, Failure> {
    parse(text).ok_or_else(|| decode_error(what, format!("unknown stored value {text}")))
}

/// An identity store user's or group's attributes, or a permission set's policies, as
/// stored: their JSON document.
fn document(attributes: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(attributes).map_err(|e| decode_error("attributes", e))
}

fn parse_document<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| decode_error("attributes", e))
}

fn read_all(tx: &mut Transaction<'_>) -> Result<Contents, Failure> {
    let master_key_check = tx
        .query_opt("SELECT value FROM meta WHERE key = 'master_key_check'", &[])?
        .map(|row| row.get(0));
    let accounts = tx
        .query(
            "SELECT account_id, name, root_email, root_password_hash, created_at FROM accounts",
            &[],
        )?
        .into_iter()
        .map(|row| AccountRow {
            id: row.get(0),
            name: row.get(1),
            root_email: row.get(2),
            root_password_hash: row.get(3),
            created: row.get(4),
        })
        .collect();
    let users = tx
        .query(
            "SELECT user_id, account_id, user_name, path, created_at FROM users",
            &[],
        )?
        .into_iter()
        .map(|row| UserRow {
            id: row.get(0),
            account_id: row.get(1),
            name: row.get(2),
            path: row.get(3),
            created: row.get(4),
        })
        .collect();
    let user_tags = tx
        .query("SELECT user_id, key, value FROM user_tags", &[])?
        .into_iter()
        .map(|row| {
            (
                row.get(0),
                Tag {
                    key: row.get(1),
                    value: row.get(2),
                },
            )
        })
        .collect();
    let login_profiles = tx
        .query(
            "SELECT user_id, password_hash, created_at, password_reset_required,
                 coalesce(password_changed_at, created_at)
             FROM login_profiles",
            &[],
        )?
        .into_iter()
        .map(|row| LoginProfileRow {
            user_id: row.get(0),
            password_hash: row.get(1),
            created: row.get(2),
            password_reset_required: row.get(3),
            password_changed: row.get(4),
        })
        .collect();
    let password_history = tx
        .query(
            "SELECT user_id, password_hash, replaced_at FROM password_history",
            &[],
        )?
        .into_iter()
        .map(|row| PasswordHistoryRow {
            user_id: row.get(0),
            password_hash: row.get(1),
            replaced: row.get(2),
        })
        .collect();
    let account_aliases = tx
        .query("SELECT account_id, alias FROM account_aliases", &[])?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let password_policies = tx
        .query(
            "SELECT account_id, minimum_password_length, require_symbols, require_numbers,
                 require_uppercase_characters, require_lowercase_characters,
                 allow_users_to_change_password, max_password_age, password_reuse_prevention,
                 hard_expiry
             FROM password_policies",
            &[],
        )?
        .into_iter()
        .map(|row| {
            (
                row.get(0),
                PasswordPolicy {
                    minimum_password_length: row.get::<_, i32>(1).unsigned_abs(),
                    require_symbols: row.get(2),
                    require_numbers: row.get(3),
                    require_uppercase_characters: row.get(4),
                    require_lowercase_characters: row.get(5),
                    allow_users_to_change_password: row.get(6),
                    max_password_age: row.get::<_, Option<i32>>(7).map(i32::unsigned_abs),
                    password_reuse_prevention: row.get::<_, Option<i32>>(8).map(i32::unsigned_abs),
                    hard_expiry: row.get(9),
                },
            )
        })
        .collect();
    let user_boundaries = tx
        .query(
            "SELECT user_id, permissions_boundary_arn FROM users WHERE permissions_boundary_arn IS NOT NULL",
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let groups = tx
        .query(
            "SELECT group_id, account_id, group_name, path, created_at FROM groups",
            &[],
        )?
        .into_iter()
        .map(|row| GroupRow {
            id: row.get(0),
            account_id: row.get(1),
            name: row.get(2),
            path: row.get(3),
            created: row.get(4),
        })
        .collect();
    let roles = tx
        .query(
            "SELECT role_id, account_id, role_name, path, description, trust_policy, max_session_duration, created_at FROM roles",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let seconds: i32 = row.get(6);
            Ok(RoleRow {
                id: row.get(0),
                account_id: row.get(1),
                name: row.get(2),
                path: row.get(3),
                description: row.get(4),
                trust_policy: row.get(5),
                max_session_duration: u32::try_from(seconds)
                    .map_err(|e| decode_error("max_session_duration", e))?,
                created: row.get(7),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let role_tags = tx
        .query("SELECT role_id, key, value FROM role_tags", &[])?
        .into_iter()
        .map(|row| {
            (
                row.get(0),
                Tag {
                    key: row.get(1),
                    value: row.get(2),
                },
            )
        })
        .collect();
    let role_boundaries = tx
        .query(
            "SELECT role_id, permissions_boundary_arn FROM roles WHERE permissions_boundary_arn IS NOT NULL",
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let group_members = tx
        .query(
            "SELECT group_id, user_id FROM group_members ORDER BY ctid",
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let policies = tx
        .query(
            "SELECT policy_id, policy_arn, account_id, policy_name, path, description, created_at FROM managed_policies",
            &[],
        )?
        .into_iter()
        .map(|row| PolicyRow {
            id: row.get(0),
            arn: row.get(1),
            account_id: row.get(2),
            name: row.get(3),
            path: row.get(4),
            description: row.get(5),
            created: row.get(6),
        })
        .collect();
    let policy_versions = tx
        .query(
            "SELECT policy_arn, version_id, document, created_at FROM policy_versions",
            &[],
        )?
        .into_iter()
        .map(|row| PolicyVersionRow {
            policy_arn: row.get(0),
            version_id: row.get(1),
            document: row.get(2),
            created: row.get(3),
        })
        .collect();
    let policy_defaults = tx
        .query(
            "SELECT policy_arn, default_version_id FROM managed_policies WHERE default_version_id IS NOT NULL",
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let policy_tags = tx
        .query("SELECT policy_arn, key, value FROM policy_tags", &[])?
        .into_iter()
        .map(|row| {
            (
                row.get(0),
                Tag {
                    key: row.get(1),
                    value: row.get(2),
                },
            )
        })
        .collect();
    let attachments = tx
        .query(
            "SELECT entity_type, entity_id, policy_arn FROM policy_attachments ORDER BY attached_at",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let kind: String = row.get(0);
            let entity = Entity::from_parts(&kind, row.get(1))
                .ok_or_else(|| decode_error("attachment entity type", &kind))?;
            Ok((entity, row.get(2)))
        })
        .collect::<Result<_, Failure>>()?;
    let inline_policies = tx
        .query(
            "SELECT entity_type, entity_id, policy_name, document FROM inline_policies",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let kind: String = row.get(0);
            let entity = Entity::from_parts(&kind, row.get(1))
                .ok_or_else(|| decode_error("inline policy entity type", &kind))?;
            Ok(InlinePolicyRow {
                entity,
                name: row.get(2),
                document: row.get(3),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let access_keys = tx
        .query(
            "SELECT access_key_id, account_id, user_id, status, created_at, sealed_secret, last_used_at, last_used_service, last_used_region FROM access_keys",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let status: String = row.get(3);
            let last_used_at: Option<DateTime<Utc>> = row.get(6);
            Ok(AccessKeyRow {
                id: row.get(0),
                account_id: row.get(1),
                user_id: row.get(2),
                status: KeyStatus::parse(&status)
                    .ok_or_else(|| decode_error("access key status", &status))?,
                created: row.get(4),
                sealed_secret: row.get(5),
                last_used: last_used_at.map(|at| LastUsed {
                    at,
                    service: row.get::<_, Option<String>>(7).unwrap_or_default(),
                    region: row.get::<_, Option<String>>(8).unwrap_or_default(),
                }),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let mfa_devices = tx
        .query(
            "SELECT serial_number, account_id, device_name, path, created_at, sealed_seed, user_id, enabled_at, drift_steps FROM mfa_devices",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let user_id: Option<String> = row.get(6);
            let enabled: Option<DateTime<Utc>> = row.get(7);
            MfaDeviceRow {
                serial: row.get(0),
                account_id: row.get(1),
                name: row.get(2),
                path: row.get(3),
                created: row.get(4),
                sealed_seed: row.get(5),
                assignment: user_id.zip(enabled).map(|(user_id, enabled)| MfaAssignment {
                    user_id,
                    enabled,
                    drift_steps: row.get(8),
                }),
            }
        })
        .collect();
    let invitations = tx
        .query(
            "SELECT token_hash, user_id, email, created_at, expires_at, accepted_at FROM identity_store_invitations",
            &[],
        )?
        .into_iter()
        .map(|row| InvitationRow {
            token_hash: row.get(0),
            user_id: row.get(1),
            email: row.get(2),
            created: row.get(3),
            expires: row.get(4),
            accepted: row.get(5),
        })
        .collect();
    let identity_passwords = tx
        .query(
            "SELECT user_id, password_hash, set_at FROM identity_store_passwords",
            &[],
        )?
        .into_iter()
        .map(|row| IdentityPasswordRow {
            user_id: row.get(0),
            password_hash: row.get(1),
            set: row.get(2),
        })
        .collect();
    let identity_mfa = tx
        .query(
            "SELECT user_id, sealed_seed, enabled_at FROM identity_store_mfa",
            &[],
        )?
        .into_iter()
        .map(|row| IdentityMfaRow {
            user_id: row.get(0),
            sealed_seed: row.get(1),
            enabled: row.get(2),
        })
        .collect();
    let spent_tokens = tx
        .query(
            "SELECT token_hash, spent_at, expires_at FROM spent_tokens",
            &[],
        )?
        .into_iter()
        .map(|row| SpentTokenRow {
            token_hash: row.get(0),
            spent: row.get(1),
            expires: row.get(2),
        })
        .collect();
    let device_authorizations = tx
        .query(
            "SELECT device_code_hash, user_code, client_id, client_name, scopes, start_url, created_at, expires_at, decision, decided_user_id, decided_at, redeemed_at FROM device_authorizations",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let scopes: String = row.get(4);
            DeviceAuthorizationRow {
                device_code_hash: row.get(0),
                user_code: row.get(1),
                client_id: row.get(2),
                client_name: row.get(3),
                scopes: serde_json::from_str(&scopes).unwrap_or_default(),
                start_url: row.get(5),
                created: row.get(6),
                expires: row.get(7),
                decision: DeviceDecision::from_columns(row.get(8), row.get(9), row.get(10)),
                redeemed: row.get(11),
            }
        })
        .collect();
    let credential_reports = tx
        .query(
            "SELECT account_id, generated_at, content FROM credential_reports",
            &[],
        )?
        .into_iter()
        .map(|row| CredentialReportRow {
            account_id: row.get(0),
            generated: row.get(1),
            csv: row.get(2),
        })
        .collect();
    let identity_centers = tx
        .query(
            "SELECT instance_id, identity_store_id, account_id, created_at FROM identity_centers",
            &[],
        )?
        .into_iter()
        .map(|row| IdentityCenterRow {
            instance_id: row.get(0),
            identity_store_id: row.get(1),
            account_id: row.get(2),
            created: row.get(3),
        })
        .collect();
    let identity_store_users = tx
        .query(
            "SELECT user_id, identity_store_id, attributes, revision, created_at, created_by, updated_at, updated_by
             FROM identity_store_users",
            &[],
        )?
        .into_iter()
        .map(|row| {
            Ok(IdentityStoreUserRow {
                id: row.get(0),
                identity_store_id: row.get(1),
                attributes: parse_document(row.get(2))?,
                revision: row.get(3),
                created: row.get(4),
                created_by: row.get(5),
                updated: row.get(6),
                updated_by: row.get(7),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let identity_store_groups = tx
        .query(
            "SELECT group_id, identity_store_id, attributes, revision, created_at, created_by, updated_at, updated_by
             FROM identity_store_groups",
            &[],
        )?
        .into_iter()
        .map(|row| {
            Ok(IdentityStoreGroupRow {
                id: row.get(0),
                identity_store_id: row.get(1),
                attributes: parse_document(row.get(2))?,
                revision: row.get(3),
                created: row.get(4),
                created_by: row.get(5),
                updated: row.get(6),
                updated_by: row.get(7),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let group_memberships = tx
        .query(
            "SELECT membership_id, identity_store_id, group_id, user_id, created_at, created_by
             FROM identity_store_memberships",
            &[],
        )?
        .into_iter()
        .map(|row| GroupMembershipRow {
            id: row.get(0),
            identity_store_id: row.get(1),
            group_id: row.get(2),
            user_id: row.get(3),
            created: row.get(4),
            created_by: row.get(5),
        })
        .collect();
    let permission_sets = tx
        .query(
            "SELECT permission_set_id, instance_id, name, description, session_duration, relay_state, policies, revision, created_at
             FROM permission_sets",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let duration: i32 = row.get(4);
            Ok(PermissionSetRow {
                id: row.get(0),
                instance_id: row.get(1),
                name: row.get(2),
                description: row.get(3),
                session_duration: u32::try_from(duration)
                    .map_err(|e| decode_error("session_duration", e))?,
                relay_state: row.get(5),
                policies: parse_document(row.get(6))?,
                revision: row.get(7),
                created: row.get(8),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let permission_set_tags = tx
        .query(
            "SELECT permission_set_id, key, value FROM permission_set_tags",
            &[],
        )?
        .into_iter()
        .map(|row| {
            (
                row.get(0),
                Tag {
                    key: row.get(1),
                    value: row.get(2),
                },
            )
        })
        .collect();
    let account_assignments = tx
        .query(
            "SELECT permission_set_id, account_id, principal_type, principal_id, created_at FROM account_assignments",
            &[],
        )?
        .into_iter()
        .map(|row| {
            Ok(AccountAssignmentRow {
                permission_set_id: row.get(0),
                account_id: row.get(1),
                principal_type: parse_enum("principal_type", row.get(2), PrincipalType::parse)?,
                principal_id: row.get(3),
                created: row.get(4),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let provisionings = tx
        .query(
            "SELECT permission_set_id, account_id, role_id, revision, provisioned_at FROM permission_set_provisionings",
            &[],
        )?
        .into_iter()
        .map(|row| ProvisioningRow {
            permission_set_id: row.get(0),
            account_id: row.get(1),
            role_id: row.get(2),
            revision: row.get(3),
            provisioned: row.get(4),
        })
        .collect();
    let sso_requests = tx
        .query(
            "SELECT request_id, kind, instance_id, permission_set_arn, account_id, principal_type, principal_id, status, failure_reason, created_at
             FROM sso_requests",
            &[],
        )?
        .into_iter()
        .map(|row| {
            let principal_type: Option<&str> = row.get(5);
            let principal_id: Option<String> = row.get(6);
            let principal = match (principal_type, principal_id) {
                (Some(kind), Some(id)) => {
                    Some((parse_enum("principal_type", kind, PrincipalType::parse)?, id))
                }
                _ => None,
            };
            Ok(SsoRequestRow {
                id: row.get(0),
                kind: parse_enum("kind", row.get(1), RequestKind::parse)?,
                instance_id: row.get(2),
                permission_set_arn: row.get(3),
                account_id: row.get(4),
                principal,
                status: parse_enum("status", row.get(7), RequestStatus::parse)?,
                failure_reason: row.get(8),
                created: row.get(9),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let organizational_units = tx
        .query(
            "SELECT ou_id, parent_id, name, tags, created_at FROM organizational_units",
            &[],
        )?
        .into_iter()
        .map(|row| {
            Ok(OrganizationalUnitRow {
                id: row.get(0),
                parent_id: row.get(1),
                name: row.get(2),
                tags: parse_document(row.get(3))?,
                created: row.get(4),
            })
        })
        .collect::<Result<_, Failure>>()?;
    let account_parents = tx
        .query(
            "SELECT account_id, parent_id FROM accounts WHERE parent_id IS NOT NULL",
            &[],
        )?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let seq: i64 = tx
        .query_one("SELECT coalesce(max(seq), 0) FROM change_log", &[])?
        .get(0);
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

/// A connection that LISTENs for committed batches.
pub struct ChangeListener {
    client: Client,
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener").finish_non_exhaustive()
    }
}

impl ChangeListener {
    /// Waits up to `timeout` for batches to be announced. `Ok(true)` when at least one was
    /// (all pending announcements are consumed), `Ok(false)` when none came, `Err` when the
    /// connection is lost: listen again on a new one.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let lost = |e: postgres::Error| StoreError::Backend(describe(&e));
        let announced = {
            let mut notifications = self.client.notifications();
            let announced = notifications
                .timeout_iter(timeout)
                .next()
                .map_err(lost)?
                .is_some();
            if announced {
                // Batches committed in a burst: one catch-up covers them all.
                let mut pending = notifications.iter();
                while pending.next().map_err(lost)?.is_some() {}
            }
            announced
        };
        if self.client.is_closed() {
            return Err(StoreError::Backend(
                "the listening connection closed".into(),
            ));
        }
        Ok(announced)
    }

    /// Checks that the connection still answers (a lost connection can stay silent).
    pub fn check(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.client
            .is_valid(timeout)
            .map_err(|e| StoreError::Backend(describe(&e)))
    }
}
