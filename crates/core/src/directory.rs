//! The domain service: every IAM and STS operation on accounts, users and access keys.
//!
//! Reads are answered from the current snapshot. A write validates against the snapshot,
//! commits its changes to the store in one transaction, and only then publishes the next
//! snapshot, so nothing is acknowledged before it is durable.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use zeroize::Zeroizing;

use crate::audit::segment::SegmentBuilder;
use crate::audit::{self, AuditEvent, EventDraft, EventQuery};
use crate::error::{ErrorCode, IamError};
use crate::ids::{self, IdKind};
use crate::model::{
    ADMINISTRATOR_ACCESS_ARN, AccessKey, CredentialReport, KeyStatus, LastUsed, Tag, User,
};
use crate::seal::{Keyring, MASTER_KEY_CHECK_AAD, access_key_aad};
use crate::state::{ApplyError, State};
use crate::store::{
    ACCESS_KEYS_PER_USER, AccessKeyRow, AccountRow, Change, ChangesSince, CredentialReportRow,
    Entity, LoginProfileRow, Store, StoreError, TAGS_PER_USER, UserRow,
};
use crate::{password, report, validate};

/// How long a credential report stays current; within it GenerateCredentialReport reuses it.
pub const CREDENTIAL_REPORT_LIFETIME: Duration = Duration::hours(4);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    #[error("the master key does not belong to this data: {0}")]
    WrongMasterKey(#[from] ApplyError),
}

/// What `initialize` creates and shows exactly once.
#[derive(Debug)]
pub struct Initialized {
    pub account_id: String,
    pub root_email: String,
    pub root_password: Zeroizing<String>,
    pub user_name: String,
    pub user_arn: String,
    pub console_password: Zeroizing<String>,
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
}

/// A new access key, the only time its secret is seen.
#[derive(Debug)]
pub struct CreatedAccessKey {
    pub user_name: String,
    pub key: Arc<AccessKey>,
}

/// One page of a listing and the marker of the next page, if there is one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub marker: Option<String>,
}

/// Which credential report GenerateCredentialReport left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    Started,
    Complete,
}

/// How many items a listing returns when MaxItems is not given.
pub const DEFAULT_MAX_ITEMS: usize = 100;

#[derive(Debug)]
pub struct Directory {
    store: Arc<dyn Store>,
    /// Replaced whole when the operator rotates the master key (`Directory::load_keyring`).
    keyring: ArcSwap<Keyring>,
    state: ArcSwap<State>,
    /// Serializes writers so that validation, commit and publication happen in one order.
    writer: Mutex<()>,
    /// Keys used since their last use was saved: the background save visits only these,
    /// not every key of the directory.
    used_keys: Mutex<Vec<Arc<AccessKey>>>,
    /// CreateAccount requests that failed, so DescribeCreateAccountStatus can report them.
    /// Nothing was created, so they are kept in memory only, the most recent ones.
    pub(crate) failed_account_requests:
        Mutex<std::collections::VecDeque<crate::organizations::FailedRequest>>,
    /// Whether AccessDenied hides the decision's details in an encoded message.
    pub(crate) encoded_denials: bool,
    /// Whether identity-store users need an authenticator app to sign in.
    pub(crate) identity_mfa_policy: crate::identity_mfa::IdentityMfaPolicy,
    /// How long an invitation link works.
    pub(crate) invitation_ttl: chrono::Duration,
    /// Committed invitations waiting for the mailer.
    pub(crate) outgoing_mail:
        Mutex<std::collections::VecDeque<crate::invitations::OutgoingInvitation>>,
    /// Audit events waiting for the background flush.
    audit_pending: Mutex<audit::Pending>,
    /// Where flushed events go besides the store (the server's JSON-lines file).
    audit_stream: Option<AuditStream>,
    /// Whether calls are recorded (on unless the configuration turns it off).
    audit: bool,
}

/// What [`AuditStream`] calls with each flushed batch: the events' records, in time order.
pub type AuditSink = dyn Fn(&[&str]) + Send + Sync;

/// Receives every event once it is in the store, in order of recording.
pub struct AuditStream(pub Box<AuditSink>);

impl std::fmt::Debug for AuditStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditStream")
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// The store refused a change the snapshot allowed: another writer got there first. Report
/// it as AWS reports the conflict itself.
pub(crate) fn conflict_error(error: StoreError) -> IamError {
    match error {
        StoreError::Backend(_) | StoreError::Unavailable(_) => store_failure(error),
        StoreError::AlreadyExists => {
            IamError::new(ErrorCode::EntityAlreadyExists, "The entity already exists.")
        }
        StoreError::LimitExceeded { quota, limit } => IamError::new(
            ErrorCode::LimitExceeded,
            format!("Cannot exceed quota for {quota}: {limit}"),
        ),
        StoreError::DeleteConflict => IamError::new(
            ErrorCode::DeleteConflict,
            "Cannot delete entity, must delete access keys first.",
        ),
        StoreError::NotFound => IamError::new(
            ErrorCode::NoSuchEntity,
            "The entity referred to does not exist.",
        ),
    }
}

pub(crate) fn store_failure(error: StoreError) -> IamError {
    if let StoreError::Unavailable(detail) = &error {
        tracing::warn!(%detail, "store unavailable");
        return IamError::new(
            ErrorCode::ServiceUnavailable,
            "The service is unavailable. Please try again later.",
        );
    }
    tracing::error!(%error, "store write failed");
    IamError::service_failure()
}

/// The snapshot of everything stored, after checking the keyring opens the master key check.
fn load_state(store: &dyn Store, keyring: &Keyring) -> Result<State, OpenError> {
    let contents = store.load()?;
    if let Some(check) = &contents.master_key_check {
        keyring
            .open(check, MASTER_KEY_CHECK_AAD)
            .map_err(ApplyError::from)?;
    }
    Ok(State::from_contents(contents, keyring)?)
}

pub(crate) fn now() -> DateTime<Utc> {
    // IAM reports times to the second.
    Utc::now().trunc_subsecs(0)
}

impl Directory {
    /// Loads the snapshot from the store and checks that the keyring holds the master key it
    /// was sealed with.
    pub fn open(store: Arc<dyn Store>, keyring: impl Into<Keyring>) -> Result<Self, OpenError> {
        let keyring = keyring.into();
        let state = load_state(&*store, &keyring)?;
        Ok(Directory {
            store,
            keyring: ArcSwap::from_pointee(keyring),
            state: ArcSwap::from_pointee(state),
            writer: Mutex::new(()),
            used_keys: Mutex::default(),
            failed_account_requests: Mutex::default(),
            encoded_denials: false,
            invitation_ttl: crate::invitations::DEFAULT_TTL,
            identity_mfa_policy: crate::identity_mfa::IdentityMfaPolicy::default(),
            outgoing_mail: Mutex::default(),
            audit_pending: Mutex::default(),
            audit_stream: None,
            audit: true,
        })
    }

    /// Makes denials say only that a call was refused, with the details in an encoded
    /// message for DecodeAuthorizationMessage.
    pub fn with_encoded_denials(mut self, on: bool) -> Self {
        self.encoded_denials = on;
        self
    }

    /// Sets how long invitation links work.
    pub fn with_invitation_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.invitation_ttl = ttl;
        self
    }

    /// Sets whether identity-store users need an authenticator app to sign in.
    pub fn with_identity_mfa_policy(
        mut self,
        policy: crate::identity_mfa::IdentityMfaPolicy,
    ) -> Self {
        self.identity_mfa_policy = policy;
        self
    }

    /// Turns the audit trail on or off (it is on by default).
    pub fn with_audit(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// Whether calls are to be recorded in the audit trail.
    pub fn audit_enabled(&self) -> bool {
        self.audit
    }

    /// Also hands every event to `stream` once it is saved.
    pub fn with_audit_stream(mut self, stream: AuditStream) -> Self {
        self.audit_stream = Some(stream);
        self
    }

    pub(crate) fn master(&self) -> arc_swap::Guard<Arc<Keyring>> {
        self.keyring.load()
    }

    /// Replaces the keyring (a master key rotation: a key added, promoted or retired) and
    /// reloads the snapshot under it, after checking that it opens everything stored. On
    /// error the current keyring and snapshot stay.
    pub fn load_keyring(&self, keyring: Keyring) -> Result<(), OpenError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let state = load_state(&*self.store, &keyring)?;
        self.keyring.store(Arc::new(keyring));
        self.state.store(Arc::new(state));
        Ok(())
    }

    /// The ids of the keys this directory opens with, the primary first.
    pub fn keyring_ids(&self) -> Vec<crate::seal::KeyId> {
        self.keyring.load().ids()
    }

    /// The current snapshot. Cheap; callers on the request path hold it for one request.
    pub fn snapshot(&self) -> Arc<State> {
        self.state.load_full()
    }

    pub fn is_initialized(&self) -> bool {
        !self.state.load().accounts.is_empty()
    }

    /// Runs `plan` against the current snapshot under the writer lock, commits the changes
    /// it returns and publishes the snapshot they produce.
    pub(crate) fn write<T>(
        &self,
        plan: impl FnOnce(&State) -> Result<(Vec<Change>, T), IamError>,
    ) -> Result<(T, Arc<State>), IamError> {
        self.write_or(plan, conflict_error)
    }

    /// [`Directory::write`], with the service's own report of a change the store refused
    /// (the Identity Store API's ConflictException rather than IAM's EntityAlreadyExists).
    pub(crate) fn write_or<T>(
        &self,
        plan: impl FnOnce(&State) -> Result<(Vec<Change>, T), IamError>,
        refused: fn(StoreError) -> IamError,
    ) -> Result<(T, Arc<State>), IamError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.state.load_full();
        let (changes, output) = plan(&current)?;
        if changes.is_empty() {
            return Ok((output, current));
        }
        // The call's event commits with its changes; a refused batch leaves it to the
        // caller, who records it as a failure.
        let event = audit::event_for_write(&changes, &current);
        let streamed = match (&event, &self.audit_stream) {
            (Some(event), Some(_)) => event.records().unwrap_or_else(|error| {
                tracing::error!(%error, "cannot render an audit event for the stream");
                Vec::new()
            }),
            _ => Vec::new(),
        };
        let segments: Vec<_> = event.map(SegmentBuilder::finish).into_iter().collect();
        let seq = self
            .store
            .apply_audited(&changes, &segments)
            .map_err(refused)?;
        if !segments.is_empty() {
            audit::written();
            if !streamed.is_empty() {
                let mut pending = self.audit_pending.lock().unwrap_or_else(|p| p.into_inner());
                pending.committed.extend(streamed);
            }
        }
        let next = if seq == current.seq + 1 {
            // Nobody else wrote since our snapshot: apply our own batch.
            let mut next = State::clone(&current);
            let applied = changes
                .iter()
                .try_for_each(|change| next.apply(change, &self.master()));
            match applied {
                Ok(()) => {
                    next.seq = seq;
                    next
                }
                Err(error) => self.rebuild(error)?,
            }
        } else {
            // Other writers committed in between: take every batch in commit order,
            // ours included.
            self.caught_up(&current)?
        };
        let next = Arc::new(next);
        self.state.store(next.clone());
        Ok((output, next))
    }

    /// Records the event of a call that wrote nothing (a read, a denial, a failure), finished
    /// with `error` (the AWS error code and message of a failure or denial): its facts are
    /// written into the segment being built, kept in memory until the next
    /// [`Directory::flush_audit`].
    pub fn record_event(&self, draft: EventDraft, error: Option<(&str, &str)>) {
        let mut pending = self.audit_pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= audit::MAX_PENDING_EVENTS {
            pending.dropped += 1;
            return;
        }
        pending.building.push(&draft, error, None);
        if pending.building.is_full() {
            let full = std::mem::take(&mut pending.building);
            pending.built.push(full);
        }
    }

    /// Saves the buffered events to the store, as segments, and hands every event recorded
    /// since the last flush to the audit stream, in time order. Segments the store could not
    /// save stay buffered and are saved as they are by the next flush.
    pub fn flush_audit(&self) -> Result<(), IamError> {
        let mut taken =
            std::mem::take(&mut *self.audit_pending.lock().unwrap_or_else(|p| p.into_inner()));
        if taken.dropped > 0 {
            tracing::warn!(
                dropped = taken.dropped,
                "audit events dropped: more than {} were waiting to be saved",
                audit::MAX_PENDING_EVENTS
            );
        }
        let mut builders = std::mem::take(&mut taken.built);
        if !taken.building.is_empty() {
            builders.push(std::mem::take(&mut taken.building));
        }
        if let Some(stream) = &self.audit_stream {
            let mut records = std::mem::take(&mut taken.committed);
            for builder in &builders {
                match builder.records() {
                    Ok(rendered) => records.extend(rendered),
                    Err(error) => {
                        tracing::error!(%error, "cannot render audit events for the stream");
                    }
                }
            }
            records.sort_by_key(|(at, _)| *at);
            let records: Vec<&str> = records.iter().map(|(_, record)| record.as_str()).collect();
            (stream.0)(&records);
        }
        let mut segments = std::mem::take(&mut taken.unsaved);
        segments.extend(builders.into_iter().map(SegmentBuilder::finish));
        if let Err(error) = self.store.append_audit_segments(&segments) {
            let mut pending = self.audit_pending.lock().unwrap_or_else(|p| p.into_inner());
            segments.append(&mut pending.unsaved);
            pending.unsaved = segments;
            return Err(store_failure(error));
        }
        Ok(())
    }

    /// The events LookupEvents asks for, from the store (shared by every instance), after
    /// saving this instance's buffered ones so that a caller sees its own calls.
    pub fn lookup_events(&self, query: &EventQuery) -> Result<Vec<AuditEvent>, IamError> {
        self.flush_audit()?;
        audit::segment::lookup(self.store.as_ref(), query).map_err(store_failure)
    }

    /// Deletes the events older than `retention`; returns how many.
    pub fn purge_events(&self, retention: Duration) -> Result<u64, IamError> {
        self.store
            .delete_audit_segments_before(Utc::now() - retention)
            .map_err(store_failure)
    }

    /// Applies the batches other writers committed since the current snapshot. Instances
    /// sharing a database call this when notified of a commit, and periodically.
    pub fn catch_up(&self) -> Result<(), IamError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.state.load_full();
        let next = self.caught_up(&current)?;
        if next.seq != current.seq {
            self.state.store(Arc::new(next));
        }
        Ok(())
    }

    /// Whether the store answers a query, for readiness checks: asks for the batches after
    /// the snapshot (none, unless another instance wrote) without taking the writer lock.
    pub fn store_answers(&self) -> Result<(), IamError> {
        let seq = self.state.load().seq;
        self.store
            .changes_since(seq)
            .map(|_| ())
            .map_err(store_failure)
    }

    fn caught_up(&self, current: &State) -> Result<State, IamError> {
        let batches = match self
            .store
            .changes_since(current.seq)
            .map_err(store_failure)?
        {
            ChangesSince::Reload => return self.reload(),
            ChangesSince::Batches(batches) => batches,
        };
        let mut next = State::clone(current);
        for (seq, changes) in batches {
            if let Err(error) = changes
                .iter()
                .try_for_each(|change| next.apply(change, &self.master()))
            {
                return self.rebuild(error);
            }
            next.seq = seq;
        }
        Ok(next)
    }

    /// The store committed something the snapshot cannot follow; rebuild the snapshot from
    /// the store rather than serve one that disagrees with it.
    fn rebuild(&self, error: ApplyError) -> Result<State, IamError> {
        tracing::error!(%error, "snapshot out of step with the store; reloading");
        self.reload()
    }

    fn reload(&self) -> Result<State, IamError> {
        let contents = self.store.load().map_err(store_failure)?;
        State::from_contents(contents, &self.master()).map_err(|error| {
            tracing::error!(%error, "cannot rebuild the snapshot");
            IamError::service_failure()
        })
    }

    /// Creates the first account: its root user (no access key), the administrator `admin`
    /// holding AdministratorAccess, a console password and one access key, and the
    /// organization's IAM Identity Center instance with its identity store.
    pub fn initialize(&self, root_email: Option<&str>) -> Result<Initialized, IamError> {
        let ((init, _), _) = self.write(|state| {
            if !state.accounts.is_empty() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    "This data directory is already initialized.",
                ));
            }
            let created = now();
            let account_id = ids::new_account_id();
            let root_email = root_email
                .map(str::to_owned)
                .unwrap_or_else(|| format!("root@{account_id}.latchkey.invalid"));
            let root_password = ids::new_console_password();
            let console_password = ids::new_console_password();
            let user_id = ids::new_unique_id(IdKind::User);
            let access_key_id = ids::new_access_key_id(&account_id);
            let secret = ids::new_secret_access_key();
            let changes = vec![
                Change::SetMasterKeyCheck(self.master().seal(b"latchkey", MASTER_KEY_CHECK_AAD)),
                Change::CreateAccount(AccountRow {
                    id: account_id.clone(),
                    name: "management".into(),
                    root_email: root_email.clone(),
                    root_password_hash: password::hash(&root_password),
                    created,
                }),
                Change::CreateUser(UserRow {
                    id: user_id.clone(),
                    account_id: account_id.clone(),
                    name: "admin".into(),
                    path: "/".into(),
                    created,
                }),
                Change::CreateLoginProfile(LoginProfileRow {
                    user_id: user_id.clone(),
                    password_hash: password::hash(&console_password),
                    created,
                    password_reset_required: false,
                    password_changed: created,
                }),
                Change::AttachPolicy {
                    entity: Entity::User(user_id.clone()),
                    policy_arn: ADMINISTRATOR_ACCESS_ARN.into(),
                },
                Change::CreateIdentityCenter(crate::identitystore::new_identity_center(
                    &account_id,
                )),
                Change::CreateAccessKey(AccessKeyRow {
                    id: access_key_id.clone(),
                    account_id: account_id.clone(),
                    user_id: Some(user_id),
                    status: KeyStatus::Active,
                    created,
                    sealed_secret: self
                        .master()
                        .seal(secret.as_bytes(), &access_key_aad(&access_key_id)),
                    last_used: None,
                }),
            ];
            let init = Initialized {
                user_arn: crate::model::user_arn(&account_id, "/", "admin"),
                account_id,
                root_email,
                root_password,
                user_name: "admin".into(),
                console_password,
                access_key_id,
                secret_access_key: secret,
            };
            Ok((changes, (init, ())))
        })?;
        Ok(init)
    }

    pub fn create_user(
        &self,
        account_id: &str,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
        permissions_boundary: Option<&str>,
    ) -> Result<Arc<User>, IamError> {
        validate::user_name("userName", name)?;
        let path = path.unwrap_or("/");
        validate::path("path", path)?;
        validate::tags(&tags)?;
        check_tag_quota(&[], &tags)?;
        let (user_id, state) = self.write(|state| {
            if state.user_by_name(account_id, name).is_some() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("User with name {name} already exists."),
                ));
            }
            let id = ids::new_unique_id(IdKind::User);
            let mut changes = vec![Change::CreateUser(UserRow {
                id: id.clone(),
                account_id: account_id.to_owned(),
                name: name.to_owned(),
                path: path.to_owned(),
                created: now(),
            })];
            if !tags.is_empty() {
                changes.push(Change::SetUserTags {
                    user_id: id.clone(),
                    tags: tags.clone(),
                });
            }
            if let Some(arn) = permissions_boundary {
                crate::policies::check_boundary(state, account_id, arn)?;
                changes.push(Change::SetUserBoundary {
                    user_id: id.clone(),
                    policy_arn: Some(arn.to_owned()),
                });
            }
            Ok((changes, id))
        })?;
        state
            .user(&user_id)
            .map_err(|_| IamError::service_failure())
    }

    /// The named user of the account.
    pub fn user(&self, account_id: &str, name: &str) -> Result<Arc<User>, IamError> {
        self.snapshot()
            .user_by_name(account_id, name)
            .cloned()
            .ok_or_else(|| IamError::no_such_user(name))
    }

    pub fn list_users(
        &self,
        account_id: &str,
        path_prefix: Option<&str>,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Page<Arc<User>>, IamError> {
        let prefix = path_prefix.unwrap_or("/");
        validate::path_prefix(prefix)?;
        let from = marker.map(decode_marker).transpose()?;
        let state = self.snapshot();
        let users = state
            .users_of_account(account_id, from.as_deref())
            .filter(|u| u.path.starts_with(prefix))
            .cloned();
        Ok(paginate(users, max_items, |u| u.name.to_lowercase()))
    }

    pub fn update_user(
        &self,
        account_id: &str,
        name: &str,
        new_name: Option<&str>,
        new_path: Option<&str>,
    ) -> Result<(), IamError> {
        if let Some(new_name) = new_name {
            validate::user_name("newUserName", new_name)?;
        }
        if let Some(new_path) = new_path {
            validate::path("newPath", new_path)?;
        }
        self.write(|state| {
            let user = state
                .user_by_name(account_id, name)
                .ok_or_else(|| IamError::no_such_user(name))?;
            let target_name = new_name.unwrap_or(&user.name);
            if let Some(other) = state.user_by_name(account_id, target_name)
                && other.id != user.id
            {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("User with name {target_name} already exists."),
                ));
            }
            Ok((
                vec![Change::RenameUser {
                    user_id: user.id.clone(),
                    name: target_name.to_owned(),
                    path: new_path.unwrap_or(&user.path).to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn delete_user(&self, account_id: &str, name: &str) -> Result<(), IamError> {
        self.write(|state| {
            let user = state
                .user_by_name(account_id, name)
                .ok_or_else(|| IamError::no_such_user(name))?;
            let conflict = if !user.access_key_ids.is_empty() {
                Some("Cannot delete entity, must delete access keys first.")
            } else if !user.mfa_serials.is_empty() {
                Some("Cannot delete entity, must delete MFA device first.")
            } else if user.login_profile.is_some() {
                Some("Cannot delete entity, must delete login profile first.")
            } else if !user.group_ids.is_empty() {
                Some("Cannot delete entity, must remove users from group first.")
            } else if !user.attached_policy_arns.is_empty() {
                Some("Cannot delete entity, must detach all policies first.")
            } else if !user.inline_policies.is_empty() {
                Some("Cannot delete entity, must delete policies first.")
            } else {
                None
            };
            if let Some(message) = conflict {
                return Err(IamError::new(ErrorCode::DeleteConflict, message));
            }
            Ok((
                vec![Change::DeleteUser {
                    user_id: user.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn tag_user(&self, account_id: &str, name: &str, tags: Vec<Tag>) -> Result<(), IamError> {
        validate::tags(&tags)?;
        self.write(|state| {
            let user = state
                .user_by_name(account_id, name)
                .ok_or_else(|| IamError::no_such_user(name))?;
            check_tag_quota(&user.tags, &tags)?;
            Ok((
                vec![Change::SetUserTags {
                    user_id: user.id.clone(),
                    tags: tags.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn untag_user(
        &self,
        account_id: &str,
        name: &str,
        keys: Vec<String>,
    ) -> Result<(), IamError> {
        for key in &keys {
            validate::tag_key(key)?;
        }
        self.write(|state| {
            let user = state
                .user_by_name(account_id, name)
                .ok_or_else(|| IamError::no_such_user(name))?;
            Ok((
                vec![Change::RemoveUserTags {
                    user_id: user.id.clone(),
                    keys: keys.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn create_access_key(
        &self,
        account_id: &str,
        user_name: &str,
    ) -> Result<CreatedAccessKey, IamError> {
        self.new_access_key(account_id, |state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            Ok((Some(user.id.clone()), user.access_key_ids.len()))
        })
    }

    /// An access key of the account's root user: as powerful as the root user, which is why
    /// AWS advises against it and the console asks for an acknowledgment first.
    pub fn create_root_access_key(&self, account_id: &str) -> Result<CreatedAccessKey, IamError> {
        self.new_access_key(account_id, |state| {
            Ok((None, root_keys(state, account_id).count()))
        })
    }

    /// A new key for the owner `owner` names (a user id, or `None` for the root user) with
    /// the number of keys it holds; the quota is checked again in the store's transaction.
    fn new_access_key(
        &self,
        account_id: &str,
        owner: impl FnOnce(&State) -> Result<(Option<String>, usize), IamError>,
    ) -> Result<CreatedAccessKey, IamError> {
        let (key_id, state) = self.write(|state| {
            let (user_id, held) = owner(state)?;
            if held >= ACCESS_KEYS_PER_USER {
                return Err(IamError::new(
                    ErrorCode::LimitExceeded,
                    format!("Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}"),
                ));
            }
            let id = ids::new_access_key_id(account_id);
            let secret = ids::new_secret_access_key();
            Ok((
                vec![Change::CreateAccessKey(AccessKeyRow {
                    id: id.clone(),
                    account_id: account_id.to_owned(),
                    user_id,
                    status: KeyStatus::Active,
                    created: now(),
                    sealed_secret: self.master().seal(secret.as_bytes(), &access_key_aad(&id)),
                    last_used: None,
                })],
                id,
            ))
        })?;
        let key = state
            .access_keys
            .get(&key_id)
            .cloned()
            .ok_or_else(IamError::service_failure)?;
        let user_name = match &key.owner {
            crate::model::KeyOwner::User(id) => state.users.get(id).map(|u| u.name.clone()),
            crate::model::KeyOwner::Root => None,
        }
        .unwrap_or_default();
        Ok(CreatedAccessKey { user_name, key })
    }

    /// The root user's keys, oldest first.
    pub fn root_access_keys(&self, account_id: &str) -> Vec<Arc<AccessKey>> {
        let state = self.snapshot();
        let mut keys: Vec<_> = root_keys(&state, account_id).cloned().collect();
        keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        keys
    }

    /// Activates or deactivates a root user's key.
    pub fn update_root_access_key(
        &self,
        account_id: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let access_key_id = root_key(state, account_id, access_key_id)?;
            Ok((
                vec![Change::SetAccessKeyStatus {
                    access_key_id,
                    status,
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// Deletes a root user's key.
    pub fn delete_root_access_key(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> Result<(), IamError> {
        self.write(|state| {
            let access_key_id = root_key(state, account_id, access_key_id)?;
            Ok((vec![Change::DeleteAccessKey { access_key_id }], ()))
        })?;
        Ok(())
    }

    /// The user's keys, oldest first.
    pub fn list_access_keys(
        &self,
        account_id: &str,
        user_name: &str,
    ) -> Result<(Arc<User>, Vec<Arc<AccessKey>>), IamError> {
        let state = self.snapshot();
        let user = state
            .user_by_name(account_id, user_name)
            .cloned()
            .ok_or_else(|| IamError::no_such_user(user_name))?;
        let keys = user
            .access_key_ids
            .iter()
            .filter_map(|id| state.access_keys.get(id).cloned())
            .collect();
        Ok((user, keys))
    }

    pub fn update_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        validate::access_key_id(access_key_id)?;
        self.write(|state| {
            let key_id = owned_key(state, account_id, user_name, access_key_id)?;
            Ok((
                vec![Change::SetAccessKeyStatus {
                    access_key_id: key_id,
                    status,
                }],
                (),
            ))
        })?;
        Ok(())
    }

    pub fn delete_access_key(
        &self,
        account_id: &str,
        user_name: &str,
        access_key_id: &str,
    ) -> Result<(), IamError> {
        validate::access_key_id(access_key_id)?;
        self.write(|state| {
            let key_id = owned_key(state, account_id, user_name, access_key_id)?;
            Ok((
                vec![Change::DeleteAccessKey {
                    access_key_id: key_id,
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// The key, for GetAccessKeyLastUsed; any key of the account.
    pub fn access_key(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> Result<Arc<AccessKey>, IamError> {
        validate::access_key_id(access_key_id)?;
        self.snapshot()
            .access_keys
            .get(access_key_id)
            .filter(|k| k.account_id == account_id)
            .cloned()
            .ok_or_else(|| IamError::no_such_access_key(access_key_id))
    }

    /// Writes key uses recorded since the last call to the store. Key use is tracked in
    /// memory on the request path and saved in the background, as AWS also reports it with
    /// a delay; a use not yet saved is lost only if the process dies.
    pub fn save_key_usage(&self) -> Result<usize, IamError> {
        let used = std::mem::take(&mut *self.used_keys.lock().unwrap_or_else(|p| p.into_inner()));
        let pending: Vec<(Arc<AccessKey>, LastUsed)> = used
            .into_iter()
            .filter_map(|key| key.runtime.take_unsaved().map(|last| (key, last)))
            .collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let uses: Vec<(String, LastUsed)> = pending
            .iter()
            .map(|(key, used)| (key.id.clone(), used.clone()))
            .collect();
        if let Err(error) = self.store.save_key_usage(&uses) {
            let mut queue = self.used_keys.lock().unwrap_or_else(|p| p.into_inner());
            for (key, _) in pending {
                key.runtime.mark_unsaved();
                queue.push(key);
            }
            return Err(store_failure(error));
        }
        Ok(uses.len())
    }

    /// Records that a request was signed with `key`, for GetAccessKeyLastUsed. Kept in
    /// memory on the request path; [`Directory::save_key_usage`] writes it to the store.
    pub fn record_key_use(
        &self,
        key: &Arc<AccessKey>,
        at: DateTime<Utc>,
        service: &str,
        region: &str,
    ) {
        if key.runtime.record_use(at, service, region) {
            self.used_keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(key.clone());
        }
    }

    /// Generates the account's credential report unless a current one exists.
    pub fn generate_credential_report(&self, account_id: &str) -> Result<ReportState, IamError> {
        let (state, _) = self.write(|state| {
            if let Some(report) = state.credential_reports.get(account_id)
                && now() - report.generated < CREDENTIAL_REPORT_LIFETIME
            {
                return Ok((Vec::new(), ReportState::Complete));
            }
            let account = state
                .accounts
                .get(account_id)
                .ok_or_else(IamError::service_failure)?;
            let csv = report::render(state, account);
            Ok((
                vec![Change::PutCredentialReport(CredentialReportRow {
                    account_id: account_id.to_owned(),
                    generated: now(),
                    csv: csv.into_bytes(),
                })],
                ReportState::Started,
            ))
        })?;
        Ok(state)
    }

    pub fn credential_report(&self, account_id: &str) -> Result<Arc<CredentialReport>, IamError> {
        let report = self
            .snapshot()
            .credential_reports
            .get(account_id)
            .cloned()
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::ReportNotPresent,
                    "Credential report not present. Call GenerateCredentialReport to generate one.",
                )
            })?;
        if now() - report.generated >= CREDENTIAL_REPORT_LIFETIME {
            return Err(IamError::new(
                ErrorCode::ReportExpired,
                "Credential report has expired. Call GenerateCredentialReport to generate a new one.",
            ));
        }
        Ok(report)
    }

    /// GetAccountSummary's map, in the order AWS lists its keys.
    pub fn account_summary(&self, account_id: &str) -> Vec<(&'static str, usize)> {
        let state = self.snapshot();
        let users = state.users_of_account(account_id, None).count();
        let groups = state.groups_of_account(account_id, None).count();
        let policies = state.policies_of_owner(account_id, None).count();
        let policy_versions: usize = state
            .policies_of_owner(account_id, None)
            .map(|p| p.versions.len())
            .sum();
        let roles = state.roles_of_account(account_id, None).count();
        let mfa_devices = state.mfa_devices_of_account(account_id).count();
        let mfa_in_use = state
            .mfa_devices_of_account(account_id)
            .filter(|d| d.assignment.is_some())
            .count();
        let root_keys = root_keys(&state, account_id).count();
        vec![
            ("GroupPolicySizeQuota", 5120),
            ("InstanceProfilesQuota", 1000),
            ("Policies", policies),
            ("GroupsPerUserQuota", 10),
            ("InstanceProfiles", 0),
            ("AttachedPoliciesPerUserQuota", 10),
            ("Users", users),
            ("PoliciesQuota", 1500),
            ("Providers", 0),
            ("AccountMFAEnabled", 0),
            ("AccessKeysPerUserQuota", ACCESS_KEYS_PER_USER),
            ("AssumeRolePolicySizeQuota", 2048),
            ("PolicyVersionsInUseQuota", 10000),
            ("GlobalEndpointTokenVersion", 1),
            ("VersionsPerPolicyQuota", 5),
            ("AttachedPoliciesPerGroupQuota", 10),
            ("PolicySizeQuota", 6144),
            ("Groups", groups),
            ("AccountSigningCertificatesPresent", 0),
            ("UsersQuota", 5000),
            ("ServerCertificatesQuota", 20),
            ("MFADevices", mfa_devices),
            ("UserPolicySizeQuota", 2048),
            ("PolicyVersionsInUse", policy_versions),
            ("ServerCertificates", 0),
            ("Roles", roles),
            ("RolesQuota", 1000),
            ("SigningCertificatesPerUserQuota", 2),
            ("MFADevicesInUse", mfa_in_use),
            ("RolePolicySizeQuota", 10240),
            ("AttachedPoliciesPerRoleQuota", 10),
            ("AccountAccessKeysPresent", usize::from(root_keys > 0)),
            ("GroupsQuota", 300),
        ]
    }
}

/// The key id if the key exists and belongs to the named user, with AWS's errors otherwise.
fn root_keys<'a>(
    state: &'a State,
    account_id: &'a str,
) -> impl Iterator<Item = &'a Arc<AccessKey>> {
    state
        .access_keys
        .values()
        .filter(move |k| k.account_id == account_id && k.owner == crate::model::KeyOwner::Root)
}

/// The root user's key `access_key_id`, if the account's root user holds it.
fn root_key(state: &State, account_id: &str, access_key_id: &str) -> Result<String, IamError> {
    validate::access_key_id(access_key_id)?;
    root_keys(state, account_id)
        .find(|k| k.id == access_key_id)
        .map(|k| k.id.clone())
        .ok_or_else(|| IamError::no_such_access_key(access_key_id))
}

fn owned_key(
    state: &State,
    account_id: &str,
    user_name: &str,
    access_key_id: &str,
) -> Result<String, IamError> {
    let user = state
        .user_by_name(account_id, user_name)
        .ok_or_else(|| IamError::no_such_user(user_name))?;
    if !user.access_key_ids.iter().any(|id| id == access_key_id) {
        return Err(IamError::no_such_access_key(access_key_id));
    }
    Ok(access_key_id.to_owned())
}

/// Refuses tags that would take an entity holding `existing` past the tag quota; a tag whose
/// key is already there replaces it and does not count.
pub(crate) fn check_tag_quota(existing: &[Tag], added: &[Tag]) -> Result<(), IamError> {
    let new_keys = added
        .iter()
        .filter(|t| !existing.iter().any(|e| e.key == t.key))
        .count();
    if existing.len() + new_keys > TAGS_PER_USER {
        return Err(too_many_tags());
    }
    Ok(())
}

pub(crate) fn too_many_tags() -> IamError {
    IamError::new(
        ErrorCode::LimitExceeded,
        format!("The number of tags has reached the maximum limit of {TAGS_PER_USER}."),
    )
}

fn encode_marker(sort_key: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(sort_key.as_bytes())
}

pub(crate) fn decode_marker(marker: &str) -> Result<String, IamError> {
    data_encoding::BASE64URL_NOPAD
        .decode(marker.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| IamError::new(ErrorCode::ValidationError, "Invalid Marker."))
}

/// Takes up to `max_items` and, when more remain, the marker that resumes at the next one.
pub(crate) fn paginate<T>(
    mut items: impl Iterator<Item = T>,
    max_items: Option<usize>,
    sort_key: impl Fn(&T) -> String,
) -> Page<T> {
    let max = max_items.unwrap_or(DEFAULT_MAX_ITEMS);
    let page: Vec<T> = items.by_ref().take(max).collect();
    let marker = items.next().map(|next| encode_marker(&sort_key(&next)));
    Page {
        items: page,
        marker,
    }
}

/// Pages over a list that has no natural key (tags): the marker is the offset.
pub fn paginate_by_offset<T: Clone>(
    items: &[T],
    marker: Option<&str>,
    max_items: Option<usize>,
) -> Result<Page<T>, IamError> {
    let start = match marker {
        None => 0,
        Some(marker) => decode_marker(marker)?
            .parse::<usize>()
            .map_err(|_| IamError::new(ErrorCode::ValidationError, "Invalid Marker."))?,
    };
    let max = max_items.unwrap_or(DEFAULT_MAX_ITEMS);
    let end = start.saturating_add(max).min(items.len());
    let page = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let marker = (end < items.len()).then(|| encode_marker(&end.to_string()));
    Ok(Page {
        items: page,
        marker,
    })
}
