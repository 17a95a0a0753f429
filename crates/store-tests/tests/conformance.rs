//! The store conformance suite: every test function below runs against SQLite (a temporary
//! directory) and PostgreSQL (a fresh database, dropped afterwards), through `Store`
//! directly and through `Directory`. See the crate's `src/lib.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use latchkey_core::account_settings::PasswordPolicy;
use latchkey_core::audit::segment::{self, AuditSegment, SegmentBuilder, SegmentQuery};
use latchkey_core::audit::{
    self, AuditEvent, EventDraft, EventQuery, EventResource, Identity, LookupAttribute,
};
use latchkey_core::backup::{self, Backup, RestoreError};
use latchkey_core::identity_mfa::IdentityMfaRow;
use latchkey_core::identitystore::{
    AttributeOperation, ExternalId, GroupAttributes, Name, TypedValue, UserAttributes,
};
use latchkey_core::invitations::{IdentityPasswordRow, InvitationRow};
use latchkey_core::model::{KeyStatus, LastUsed, MfaAssignment, Tag};
use latchkey_core::oidc::{DeviceAuthorizationRow, DeviceDecision, SpentTokenRow};
use latchkey_core::rotation;
use latchkey_core::seal::{self, Keyring, MasterKey};
use latchkey_core::ssoadmin::{
    CustomerManagedPolicyReference, PermissionSetPolicies, PermissionsBoundary, PrincipalType,
    RequestKind, RequestStatus,
};
use latchkey_core::store::{
    ACCESS_KEYS_PER_USER, AccessKeyRow, AccountAssignmentRow, AccountRow, Change, ChangesSince,
    Contents, CredentialReportRow, Entity, GroupMembershipRow, GroupRow, IdentityCenterRow,
    IdentityStoreGroupRow, IdentityStoreUserRow, InlinePolicyRow, LoginProfileRow, MfaDeviceRow,
    OrganizationalUnitRow, PASSWORD_HISTORY_KEPT, PasswordHistoryRow, PermissionSetRow, PolicyRow,
    PolicyVersionRow, ProvisioningRow, Resealed, RoleRow, Seq, SsoRequestRow, Store, StoreError,
    TAGS_PER_USER, UserRow,
};
use latchkey_core::{Directory, ErrorCode};
use latchkey_store_postgres::PostgresStore;
use latchkey_store_sqlite::SqliteStore;

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// Table name → its column names.
type Schema = BTreeMap<String, BTreeSet<String>>;
/// Explicitly created index name → whether it is unique.
type Indexes = BTreeMap<String, bool>;

trait Backend {
    /// A new handle on the same database, with its own connection(s): what another instance
    /// would have.
    fn open(&self) -> Arc<dyn Store>;
    /// Runs SQL (the same text on every backend) beside the store, as an operator would.
    fn execute(&self, sql: &str);
    fn schema(&self) -> (Schema, Indexes);
}

struct Sqlite {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Sqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.db");
        Sqlite { _dir: dir, path }
    }
}

impl Backend for Sqlite {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }

    fn execute(&self, sql: &str) {
        rusqlite::Connection::open(&self.path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    fn schema(&self) -> (Schema, Indexes) {
        let connection = rusqlite::Connection::open(&self.path).unwrap();
        let tables: Vec<String> = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                 AND name <> 'schema_migrations'",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut schema = Schema::new();
        let mut indexes = Indexes::new();
        for table in tables {
            let columns = connection
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .unwrap()
                .query_map([&table], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            // origin 'c': made by CREATE INDEX (not a primary key or UNIQUE constraint).
            let named: Vec<(String, bool)> = connection
                .prepare("SELECT name, \"unique\" FROM pragma_index_list(?1) WHERE origin = 'c'")
                .unwrap()
                .query_map([&table], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            indexes.extend(named);
            schema.insert(table, columns);
        }
        (schema, indexes)
    }
}

/// Where the suite finds PostgreSQL: a database it may connect to, to create others.
fn postgres_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The URL of database `name` on the server of `url` (URL form).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

fn postgres_admin() -> ::postgres::Client {
    let url = postgres_admin_url();
    ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap_or_else(|error| {
        panic!(
            "the conformance suite needs PostgreSQL at {url} (set LATCHKEY_TEST_POSTGRES; \
             scripts/test starts it): {error}"
        )
    })
}

/// A fresh database `latchkey_test_<random>`, dropped when this is.
struct Postgres {
    name: String,
    url: String,
}

impl Postgres {
    fn new() -> Self {
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres_admin();
        let mut attempt = 0;
        // CREATE DATABASE refuses while another session copies the template at the same
        // moment; tests run in parallel.
        while let Err(error) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
            attempt += 1;
            assert!(attempt < 20, "cannot create database {name}: {error}");
            thread::sleep(Duration::from_millis(100 * attempt));
        }
        let url = with_database(&postgres_admin_url(), &name);
        Postgres { name, url }
    }

    fn store(&self) -> PostgresStore {
        PostgresStore::open(&self.url).unwrap()
    }

    fn client(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.url, ::postgres::NoTls).unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Ok(mut admin) = ::postgres::Client::connect(&postgres_admin_url(), ::postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

impl Backend for Postgres {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store())
    }

    fn execute(&self, sql: &str) {
        self.client().batch_execute(sql).unwrap();
    }

    fn schema(&self) -> (Schema, Indexes) {
        let mut client = self.client();
        let mut schema = Schema::new();
        for row in client
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name <> 'schema_migrations'",
                &[],
            )
            .unwrap()
        {
            schema
                .entry(row.get(0))
                .or_default()
                .insert(row.get::<_, String>(1));
        }
        // Indexes made by CREATE INDEX: those that back no constraint.
        let indexes = client
            .query(
                "SELECT c.relname::text, i.indisunique FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public'
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                &[],
            )
            .unwrap()
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        (schema, indexes)
    }
}

/// Each listed test function runs once per backend: `sqlite::name` and `postgres::name`.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $test() { super::$test(&super::Sqlite::new()); } )*
        }
        mod postgres {
            $( #[test] fn $test() { super::$test(&super::Postgres::new()); } )*
        }
    };
}

conformance!(
    initialize_and_reopen,
    every_change_round_trips_through_load,
    user_names_are_unique_ignoring_case,
    user_names_are_unique_across_instances,
    access_key_quota_holds_across_instances,
    delete_user_is_refused_while_keys_exist,
    delete_user_races_key_creation_across_instances,
    tags_quota_is_enforced_by_the_store,
    tags_quota_holds_across_instances,
    a_failed_batch_commits_nothing,
    changes_to_missing_rows_are_not_found,
    change_log_follows_commit_order,
    changes_since_reloads_when_the_log_was_pruned,
    catch_up_follows_another_instance,
    key_usage_is_saved_monotonically,
    policy_quotas_hold_under_concurrent_writers,
    mfa_devices_are_assigned_once_and_hold_their_user,
    identity_store_names_are_unique_ignoring_case,
    identity_store_deletes_take_their_memberships,
    identity_center_is_made_once_across_instances,
    identity_store_writers_on_two_instances_conflict,
    an_invitation_is_accepted_once_across_instances,
    a_resent_invitation_replaces_the_previous_link,
    sso_admin_provisions_once_across_instances,
    deleted_principals_take_their_assignments_and_roles,
    rotation_reseals_every_secret_under_the_new_key,
    audit_events_commit_with_their_batch_or_not_at_all,
    audit_events_are_looked_up_by_attribute_and_paged,
    audit_lookups_merge_overlapping_segments_newest_first,
    audit_events_of_the_one_row_per_event_table_become_segments,
    a_call_s_event_commits_with_its_write_through_the_directory,
    account_aliases_are_unique_across_the_deployment,
    an_alias_raced_by_two_instances_goes_to_one_account,
    password_history_keeps_the_newest,
    a_login_profile_is_updated_only_over_the_password_it_replaces,
    account_settings_follow_through_the_directory,
    organizational_units_keep_the_tree_whole,
    a_non_empty_ou_is_not_deleted_across_instances,
);

// ---------------------------------------------------------------------------------------
// Rows and helpers
// ---------------------------------------------------------------------------------------

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn account_row(id: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        name: format!("account {id}"),
        root_email: format!("root@{id}.example"),
        root_password_hash: "$argon2id$fake".into(),
        created: now(),
    }
}

fn user_row(id: &str, account_id: &str, name: &str) -> UserRow {
    UserRow {
        id: id.into(),
        account_id: account_id.into(),
        name: name.into(),
        path: "/".into(),
        created: now(),
    }
}

fn key_row(id: &str, account_id: &str, user_id: Option<&str>) -> AccessKeyRow {
    AccessKeyRow {
        id: id.into(),
        account_id: account_id.into(),
        user_id: user_id.map(Into::into),
        status: KeyStatus::Active,
        created: now(),
        sealed_secret: vec![7; 48],
        last_used: None,
    }
}

/// A pending device authorization whose device code hash is `hash`.
fn device_row(hash: &str, user_code: &str) -> DeviceAuthorizationRow {
    let created = now();
    DeviceAuthorizationRow {
        device_code_hash: hash.into(),
        user_code: user_code.into(),
        client_id: "client".into(),
        client_name: "aws-cli".into(),
        scopes: vec!["sso:account:access".into()],
        start_url: "https://d-0123456789.awsapps.com/start".into(),
        created,
        expires: created + chrono::Duration::minutes(10),
        decision: None,
        redeemed: None,
    }
}

/// An invitation whose token hash is `hash` (the store keeps whatever it is given).
fn invitation_row(user_id: &str, hash: &str) -> InvitationRow {
    let created = now();
    InvitationRow {
        token_hash: hash.into(),
        user_id: user_id.into(),
        email: "person@example.com".into(),
        created,
        expires: created + chrono::Duration::days(7),
        accepted: None,
    }
}

fn mfa_row(account_id: &str, name: &str) -> MfaDeviceRow {
    MfaDeviceRow {
        serial: format!("arn:aws:iam::{account_id}:mfa/{name}"),
        account_id: account_id.into(),
        name: name.into(),
        path: "/".into(),
        created: now(),
        sealed_seed: vec![1, 0, 2, 0],
        assignment: None,
    }
}

fn group_row(id: &str, account_id: &str, name: &str) -> GroupRow {
    GroupRow {
        id: id.into(),
        account_id: account_id.into(),
        name: name.into(),
        path: "/".into(),
        created: now(),
    }
}

fn policy_row(id: &str, account_id: &str, name: &str) -> PolicyRow {
    PolicyRow {
        id: id.into(),
        arn: format!("arn:aws:iam::{account_id}:policy/{name}"),
        account_id: account_id.into(),
        name: name.into(),
        path: "/".into(),
        description: None,
        created: now(),
    }
}

fn role_row(id: &str, account_id: &str, name: &str) -> RoleRow {
    RoleRow {
        id: id.into(),
        account_id: account_id.into(),
        name: name.into(),
        path: "/".into(),
        description: None,
        trust_policy: TRUST.into(),
        max_session_duration: 3600,
        created: now(),
    }
}

const STORE_ID: &str = "d-0123456789";

fn center_row(account_id: &str) -> IdentityCenterRow {
    IdentityCenterRow {
        instance_id: INSTANCE_ID.into(),
        identity_store_id: STORE_ID.into(),
        account_id: account_id.into(),
        created: now(),
    }
}

/// An id as the identity store makes them; `n` tells them apart.
fn ou_row(id: &str, parent_id: Option<&str>, name: &str) -> OrganizationalUnitRow {
    OrganizationalUnitRow {
        id: id.into(),
        parent_id: parent_id.map(str::to_owned),
        name: name.into(),
        tags: vec![],
        created: now(),
    }
}

fn ids_id(n: u32) -> String {
    format!("0123456789-00000000-0000-4000-8000-{n:012}")
}

fn ids_user_row(n: u32, user_name: &str) -> IdentityStoreUserRow {
    IdentityStoreUserRow {
        id: ids_id(n),
        identity_store_id: STORE_ID.into(),
        attributes: UserAttributes {
            user_name: user_name.into(),
            ..UserAttributes::default()
        },
        revision: 1,
        created: now(),
        created_by: "arn:aws:iam::111122223333:user/admin".into(),
        updated: now(),
        updated_by: "arn:aws:iam::111122223333:user/admin".into(),
    }
}

fn ids_group_row(n: u32, display_name: &str) -> IdentityStoreGroupRow {
    IdentityStoreGroupRow {
        id: ids_id(n),
        identity_store_id: STORE_ID.into(),
        attributes: GroupAttributes {
            display_name: display_name.into(),
            ..GroupAttributes::default()
        },
        revision: 1,
        created: now(),
        created_by: "arn:aws:iam::111122223333:user/admin".into(),
        updated: now(),
        updated_by: "arn:aws:iam::111122223333:user/admin".into(),
    }
}

fn membership_row(
    n: u32,
    group: &IdentityStoreGroupRow,
    user: &IdentityStoreUserRow,
) -> GroupMembershipRow {
    GroupMembershipRow {
        id: ids_id(n),
        identity_store_id: STORE_ID.into(),
        group_id: group.id.clone(),
        user_id: user.id.clone(),
        created: now(),
        created_by: "arn:aws:iam::111122223333:user/admin".into(),
    }
}

const INSTANCE_ID: &str = "ssoins-0123456789abcdef";

fn permission_set_row(n: u32, name: &str) -> PermissionSetRow {
    PermissionSetRow {
        id: format!("ps-{n:016x}"),
        instance_id: INSTANCE_ID.into(),
        name: name.into(),
        description: None,
        session_duration: 3600,
        relay_state: None,
        policies: PermissionSetPolicies::default(),
        revision: 1,
        created: now(),
    }
}

fn assignment_row(
    permission_set: &PermissionSetRow,
    account_id: &str,
    principal_type: PrincipalType,
    principal_id: &str,
) -> AccountAssignmentRow {
    AccountAssignmentRow {
        permission_set_id: permission_set.id.clone(),
        account_id: account_id.into(),
        principal_type,
        principal_id: principal_id.into(),
        created: now(),
    }
}

fn provisioning_row(permission_set: &PermissionSetRow, role: &RoleRow) -> ProvisioningRow {
    ProvisioningRow {
        permission_set_id: permission_set.id.clone(),
        account_id: role.account_id.clone(),
        role_id: role.id.clone(),
        revision: permission_set.revision,
        provisioned: now(),
    }
}

fn request_row(n: u32, kind: RequestKind, permission_set: &PermissionSetRow) -> SsoRequestRow {
    SsoRequestRow {
        id: format!("00000000-0000-4000-8000-{n:012}"),
        kind,
        instance_id: INSTANCE_ID.into(),
        permission_set_arn: format!(
            "arn:aws:sso:::permissionSet/{INSTANCE_ID}/{}",
            permission_set.id
        ),
        account_id: None,
        principal: None,
        status: RequestStatus::Succeeded,
        failure_reason: None,
        created: now(),
    }
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;

const DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}"#;

fn version_row(policy_arn: &str, version_id: &str) -> PolicyVersionRow {
    PolicyVersionRow {
        policy_arn: policy_arn.into(),
        version_id: version_id.into(),
        document: DOCUMENT.into(),
        created: now(),
    }
}

/// Contents with every list in one order, to compare loads.
fn normalized(mut contents: Contents) -> Contents {
    fn sort<T: std::fmt::Debug>(items: &mut [T]) {
        items.sort_by_cached_key(|item| format!("{item:?}"));
    }
    // No `..`: a new field must be added here, or this stops compiling.
    let Contents {
        seq: _,
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
        master_key_check: _,
    } = &mut contents;
    sort(accounts);
    sort(users);
    sort(user_tags);
    sort(login_profiles);
    sort(password_history);
    sort(account_aliases);
    sort(password_policies);
    sort(user_boundaries);
    sort(groups);
    sort(roles);
    sort(role_tags);
    sort(role_boundaries);
    sort(group_members);
    sort(policies);
    sort(policy_versions);
    sort(policy_defaults);
    sort(policy_tags);
    sort(attachments);
    sort(inline_policies);
    sort(access_keys);
    sort(mfa_devices);
    sort(invitations);
    sort(identity_passwords);
    sort(identity_mfa);
    sort(device_authorizations);
    sort(spent_tokens);
    sort(credential_reports);
    sort(identity_centers);
    sort(identity_store_users);
    sort(identity_store_groups);
    sort(group_memberships);
    sort(permission_sets);
    sort(permission_set_tags);
    sort(account_assignments);
    sort(provisionings);
    sort(sso_requests);
    sort(organizational_units);
    sort(account_parents);
    contents
}

fn user_ids(contents: &Contents) -> BTreeSet<String> {
    contents.users.iter().map(|u| u.id.clone()).collect()
}

fn batches(changes: ChangesSince) -> Vec<(Seq, Vec<Change>)> {
    match changes {
        ChangesSince::Batches(batches) => batches,
        ChangesSince::Reload => panic!("expected batches, got Reload"),
    }
}

/// An initialized directory on a new handle of the backend's database.
fn directory(b: &dyn Backend, master: &MasterKey) -> Arc<Directory> {
    Arc::new(Directory::open(b.open(), master.clone()).unwrap())
}

// ---------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------

fn initialize_and_reopen(b: &dyn Backend) {
    let master = MasterKey::generate();
    let dir = directory(b, &master);
    assert!(!dir.is_initialized());
    let init = dir.initialize(Some("owner@example.com")).unwrap();
    let user = dir
        .create_user(
            &init.account_id,
            "alice",
            Some("/eng/"),
            vec![tag("team", "red")],
            None,
        )
        .unwrap();
    let key = dir.create_access_key(&init.account_id, "alice").unwrap();
    drop(dir);

    let reopened = directory(b, &master);
    assert!(reopened.is_initialized());
    let state = reopened.snapshot();
    let alice = state.user_by_name(&init.account_id, "ALICE").unwrap();
    assert_eq!(alice.id, user.id);
    assert_eq!(alice.path, "/eng/");
    assert_eq!(alice.tags, vec![tag("team", "red")]);
    let stored = state.access_keys.get(&key.key.id).unwrap();
    assert_eq!(stored.secret.as_str(), key.key.secret.as_str());
    let admin_key = state.access_keys.get(&init.access_key_id).unwrap();
    assert_eq!(admin_key.secret.as_str(), init.secret_access_key.as_str());
    assert!(reopened.initialize(None).is_err(), "initialized twice");

    let error = Directory::open(b.open(), MasterKey::generate()).unwrap_err();
    assert!(error.to_string().contains("master key"), "{error}");
}

/// The name of every `Change` variant. No wildcard arm: a new variant stops this compiling
/// until it is added here and to the script below.
fn variant(change: &Change) -> &'static str {
    match change {
        Change::CreateAccount(_) => "CreateAccount",
        Change::CreateUser(_) => "CreateUser",
        Change::RenameUser { .. } => "RenameUser",
        Change::DeleteUser { .. } => "DeleteUser",
        Change::SetUserTags { .. } => "SetUserTags",
        Change::RemoveUserTags { .. } => "RemoveUserTags",
        Change::CreateLoginProfile(_) => "CreateLoginProfile",
        Change::UpdateLoginProfile { .. } => "UpdateLoginProfile",
        Change::DeleteLoginProfile { .. } => "DeleteLoginProfile",
        Change::RememberPassword(_) => "RememberPassword",
        Change::SetAccountAlias { .. } => "SetAccountAlias",
        Change::DeleteAccountAlias { .. } => "DeleteAccountAlias",
        Change::SetPasswordPolicy { .. } => "SetPasswordPolicy",
        Change::DeletePasswordPolicy { .. } => "DeletePasswordPolicy",
        Change::SetUserBoundary { .. } => "SetUserBoundary",
        Change::CreateRole(_) => "CreateRole",
        Change::UpdateRole { .. } => "UpdateRole",
        Change::UpdateAssumeRolePolicy { .. } => "UpdateAssumeRolePolicy",
        Change::DeleteRole { .. } => "DeleteRole",
        Change::SetRoleTags { .. } => "SetRoleTags",
        Change::RemoveRoleTags { .. } => "RemoveRoleTags",
        Change::SetRoleBoundary { .. } => "SetRoleBoundary",
        Change::CreateGroup(_) => "CreateGroup",
        Change::RenameGroup { .. } => "RenameGroup",
        Change::DeleteGroup { .. } => "DeleteGroup",
        Change::AddUserToGroup { .. } => "AddUserToGroup",
        Change::RemoveUserFromGroup { .. } => "RemoveUserFromGroup",
        Change::CreatePolicy(_) => "CreatePolicy",
        Change::DeletePolicy { .. } => "DeletePolicy",
        Change::CreatePolicyVersion(_) => "CreatePolicyVersion",
        Change::DeletePolicyVersion { .. } => "DeletePolicyVersion",
        Change::SetDefaultPolicyVersion { .. } => "SetDefaultPolicyVersion",
        Change::SetPolicyTags { .. } => "SetPolicyTags",
        Change::RemovePolicyTags { .. } => "RemovePolicyTags",
        Change::AttachPolicy { .. } => "AttachPolicy",
        Change::DetachPolicy { .. } => "DetachPolicy",
        Change::PutInlinePolicy(_) => "PutInlinePolicy",
        Change::DeleteInlinePolicy { .. } => "DeleteInlinePolicy",
        Change::CreateAccessKey(_) => "CreateAccessKey",
        Change::SetAccessKeyStatus { .. } => "SetAccessKeyStatus",
        Change::DeleteAccessKey { .. } => "DeleteAccessKey",
        Change::CreateMfaDevice(_) => "CreateMfaDevice",
        Change::EnableMfaDevice { .. } => "EnableMfaDevice",
        Change::ResyncMfaDevice { .. } => "ResyncMfaDevice",
        Change::DeactivateMfaDevice { .. } => "DeactivateMfaDevice",
        Change::DeleteMfaDevice { .. } => "DeleteMfaDevice",
        Change::PutCredentialReport(_) => "PutCredentialReport",
        Change::SetMasterKeyCheck(_) => "SetMasterKeyCheck",
        Change::Reseal(_) => "Reseal",
        Change::CreateIdentityCenter(_) => "CreateIdentityCenter",
        Change::CreateIdentityStoreUser(_) => "CreateIdentityStoreUser",
        Change::UpdateIdentityStoreUser(_) => "UpdateIdentityStoreUser",
        Change::DeleteIdentityStoreUser { .. } => "DeleteIdentityStoreUser",
        Change::CreateInvitation(_) => "CreateInvitation",
        Change::AcceptInvitation { .. } => "AcceptInvitation",
        Change::SetIdentityPassword(_) => "SetIdentityPassword",
        Change::EnableIdentityMfa(_) => "EnableIdentityMfa",
        Change::DeleteIdentityMfa { .. } => "DeleteIdentityMfa",
        Change::CreateDeviceAuthorization(_) => "CreateDeviceAuthorization",
        Change::DecideDeviceAuthorization { .. } => "DecideDeviceAuthorization",
        Change::RedeemDeviceAuthorization { .. } => "RedeemDeviceAuthorization",
        Change::SpendToken(_) => "SpendToken",
        Change::CreateIdentityStoreGroup(_) => "CreateIdentityStoreGroup",
        Change::UpdateIdentityStoreGroup(_) => "UpdateIdentityStoreGroup",
        Change::DeleteIdentityStoreGroup { .. } => "DeleteIdentityStoreGroup",
        Change::CreateGroupMembership(_) => "CreateGroupMembership",
        Change::DeleteGroupMembership { .. } => "DeleteGroupMembership",
        Change::CreatePermissionSet(_) => "CreatePermissionSet",
        Change::UpdatePermissionSet(_) => "UpdatePermissionSet",
        Change::DeletePermissionSet { .. } => "DeletePermissionSet",
        Change::SetPermissionSetTags { .. } => "SetPermissionSetTags",
        Change::RemovePermissionSetTags { .. } => "RemovePermissionSetTags",
        Change::CreateAccountAssignment(_) => "CreateAccountAssignment",
        Change::DeleteAccountAssignment { .. } => "DeleteAccountAssignment",
        Change::CreateProvisioning(_) => "CreateProvisioning",
        Change::UpdateProvisioning { .. } => "UpdateProvisioning",
        Change::DeleteProvisioning { .. } => "DeleteProvisioning",
        Change::RecordSsoRequest(_) => "RecordSsoRequest",
        Change::CreateOrganizationalUnit(_) => "CreateOrganizationalUnit",
        Change::RenameOrganizationalUnit { .. } => "RenameOrganizationalUnit",
        Change::DeleteOrganizationalUnit { .. } => "DeleteOrganizationalUnit",
        Change::MoveAccount { .. } => "MoveAccount",
    }
}

const VARIANTS: usize = 82;

/// Two batches that between them use every `Change` variant, and the contents expected
/// after each.
fn script() -> Vec<(Vec<Change>, Contents)> {
    let account = account_row("111122223333");
    let acct = account.id.as_str();
    let u1 = UserRow {
        path: "/eng/".into(),
        ..user_row("AIDAUSERONE", acct, "Alice")
    };
    let u2 = user_row("AIDAUSERTWO", acct, "bob");
    let g1 = group_row("AGPAGROUPONE", acct, "Admins");
    let r1 = RoleRow {
        description: Some("deploys".into()),
        max_session_duration: 7200,
        ..role_row("AROAROLEONE", acct, "Deployer")
    };
    let r2 = role_row("AROAROLETWO", acct, "spare-role");
    let inline_role = InlinePolicyRow {
        entity: Entity::Role(r1.id.clone()),
        name: "inline-role".into(),
        document: DOCUMENT.into(),
    };
    let g2 = group_row("AGPAGROUPTWO", acct, "readers");
    let p1 = PolicyRow {
        description: Some("lets people read".into()),
        ..policy_row("ANPAPOLICYONE", acct, "Reader")
    };
    let p2 = policy_row("ANPAPOLICYTWO", acct, "Spare");
    let v1 = version_row(&p1.arn, "v1");
    let v2 = PolicyVersionRow {
        document: DOCUMENT.replace("Get*", "List*"),
        ..version_row(&p1.arn, "v2")
    };
    let v1_spare = version_row(&p2.arn, "v1");
    let profile = LoginProfileRow {
        user_id: u1.id.clone(),
        password_hash: "$argon2id$profile".into(),
        created: now(),
        password_reset_required: true,
        password_changed: now(),
    };
    let profile_bob = LoginProfileRow {
        user_id: u2.id.clone(),
        password_hash: "$argon2id$bob".into(),
        password_reset_required: false,
        ..profile.clone()
    };
    let changed_at = now() + chrono::Duration::seconds(3);
    let profile_changed = LoginProfileRow {
        password_hash: "$argon2id$new".into(),
        password_reset_required: false,
        password_changed: changed_at,
        ..profile.clone()
    };
    let history1 = PasswordHistoryRow {
        user_id: u1.id.clone(),
        password_hash: "$argon2id$older".into(),
        replaced: now() - chrono::Duration::days(1),
    };
    let history2 = PasswordHistoryRow {
        user_id: u1.id.clone(),
        password_hash: profile.password_hash.clone(),
        replaced: changed_at,
    };
    let password_policy = PasswordPolicy {
        minimum_password_length: 14,
        require_symbols: true,
        require_numbers: true,
        require_uppercase_characters: false,
        require_lowercase_characters: true,
        allow_users_to_change_password: true,
        max_password_age: Some(90),
        password_reuse_prevention: Some(24),
        hard_expiry: true,
    };
    let inline_user = InlinePolicyRow {
        entity: Entity::User(u1.id.clone()),
        name: "inline-user".into(),
        document: DOCUMENT.into(),
    };
    let inline_group = InlinePolicyRow {
        entity: Entity::Group(g1.id.clone()),
        name: "inline-group".into(),
        document: DOCUMENT.into(),
    };
    let k1 = AccessKeyRow {
        last_used: Some(LastUsed {
            at: now(),
            service: "iam".into(),
            region: "us-east-1".into(),
        }),
        ..key_row("AKIAKEYONE", acct, Some(&u1.id))
    };
    let k_root = key_row("AKIAKEYROOT", acct, None);
    let report = CredentialReportRow {
        account_id: acct.into(),
        generated: now(),
        csv: b"user,arn\n".to_vec(),
    };
    let m1 = mfa_row(acct, "alice-phone");
    let m2 = mfa_row(acct, "spare-phone");
    let m3 = mfa_row(acct, "bob-phone");
    let assigned = |user_id: &str, drift_steps: i64| MfaAssignment {
        user_id: user_id.into(),
        enabled: now(),
        drift_steps,
    };
    let check = vec![1, 2, 3, 4];
    let center = center_row(acct);
    let ids_alice = IdentityStoreUserRow {
        attributes: UserAttributes {
            user_name: "alice".into(),
            name: Some(Name {
                given_name: Some("Alice".into()),
                family_name: Some("Liddell".into()),
                ..Name::default()
            }),
            display_name: Some("Alice Liddell".into()),
            emails: vec![TypedValue {
                value: Some("alice@example.com".into()),
                kind: Some("work".into()),
                primary: Some(true),
            }],
            extensions: [(
                latchkey_core::identitystore::ENTERPRISE_EXTENSION.to_owned(),
                serde_json::json!({"costCenter": "42"}),
            )]
            .into(),
            ..UserAttributes::default()
        },
        ..ids_user_row(1, "alice")
    };
    let ids_bob = ids_user_row(2, "bob");
    let ids_team = IdentityStoreGroupRow {
        attributes: GroupAttributes {
            display_name: "Team".into(),
            description: Some("the team".into()),
            external_ids: vec![ExternalId {
                issuer: "idp".into(),
                id: "team-1".into(),
            }],
        },
        ..ids_group_row(3, "Team")
    };
    let ids_spare = ids_group_row(4, "Spare");
    let alice_in_team = membership_row(5, &ids_team, &ids_alice);
    let bob_in_team = membership_row(6, &ids_team, &ids_bob);
    let alice_in_spare = membership_row(7, &ids_spare, &ids_alice);
    let ps_admin = PermissionSetRow {
        description: Some("administers".into()),
        session_duration: 7200,
        relay_state: Some("https://console.aws.amazon.com/ec2/".into()),
        policies: PermissionSetPolicies {
            managed_policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            customer_managed: vec![CustomerManagedPolicyReference {
                name: "Reader".into(),
                path: "/".into(),
            }],
            inline_policy: Some(DOCUMENT.into()),
            boundary: Some(PermissionsBoundary::ManagedPolicyArn(
                "arn:aws:iam::aws:policy/PowerUserAccess".into(),
            )),
        },
        ..permission_set_row(1, "Admin")
    };
    let ps_spare = permission_set_row(2, "Spare");
    let alice_admin = assignment_row(&ps_admin, acct, PrincipalType::User, &ids_alice.id);
    let team_admin = assignment_row(&ps_admin, acct, PrincipalType::Group, &ids_team.id);
    let bob_spare = assignment_row(&ps_spare, acct, PrincipalType::User, &ids_bob.id);
    let admin_provisioned = provisioning_row(&ps_admin, &r1);
    let spare_provisioned = provisioning_row(&ps_spare, &r1);
    let created_request = SsoRequestRow {
        account_id: Some(acct.into()),
        principal: Some((PrincipalType::User, ids_alice.id.clone())),
        ..request_row(1, RequestKind::AssignmentCreation, &ps_admin)
    };
    let failed_request = SsoRequestRow {
        status: RequestStatus::Failed,
        failure_reason: Some("the customer managed policy is missing".into()),
        ..request_row(2, RequestKind::Provisioning, &ps_admin)
    };

    let invite_alice = invitation_row(&ids_alice.id, "a1");
    let invite_bob = invitation_row(&ids_bob.id, "b1");
    let invite_alice_again = invitation_row(&ids_alice.id, "a2");
    let alice_mfa = IdentityMfaRow {
        user_id: ids_alice.id.clone(),
        sealed_seed: vec![7; 48],
        enabled: now(),
    };
    let bob_mfa = IdentityMfaRow {
        user_id: ids_bob.id.clone(),
        sealed_seed: vec![8; 48],
        enabled: now(),
    };
    let device_approved = device_row("d1", "BCDF-GHJK");
    let device_denied = device_row("d2", "LMNP-QRST");
    let ou_eng = ou_row("ou-abcd-engineer", None, "Engineering");
    let ou_platform = ou_row("ou-abcd-platform", Some(&ou_eng.id), "Platform");
    let ou_sales = OrganizationalUnitRow {
        tags: vec![tag("cost-center", "42")],
        ..ou_row("ou-abcd-salesxyz", None, "Sales")
    };
    let first = vec![
        Change::SetMasterKeyCheck(check.clone()),
        Change::CreateAccount(account.clone()),
        Change::CreateUser(u1.clone()),
        Change::CreateUser(u2.clone()),
        Change::SetUserTags {
            user_id: u1.id.clone(),
            tags: vec![tag("a", "1"), tag("b", "2")],
        },
        Change::CreateLoginProfile(profile.clone()),
        Change::CreateLoginProfile(profile_bob.clone()),
        Change::RememberPassword(history1.clone()),
        Change::SetAccountAlias {
            account_id: acct.into(),
            alias: "example-corp".into(),
        },
        Change::SetPasswordPolicy {
            account_id: acct.into(),
            policy: password_policy.clone(),
        },
        Change::CreateGroup(g1.clone()),
        Change::CreateGroup(g2.clone()),
        Change::CreateRole(r1.clone()),
        Change::CreateRole(r2.clone()),
        Change::SetRoleTags {
            role_id: r1.id.clone(),
            tags: vec![tag("env", "prod"), tag("team", "ops")],
        },
        Change::AddUserToGroup {
            group_id: g1.id.clone(),
            user_id: u1.id.clone(),
        },
        Change::CreatePolicy(p1.clone()),
        Change::CreatePolicy(p2.clone()),
        Change::CreatePolicyVersion(v1.clone()),
        Change::CreatePolicyVersion(v2.clone()),
        Change::CreatePolicyVersion(v1_spare.clone()),
        Change::SetDefaultPolicyVersion {
            policy_arn: p1.arn.clone(),
            version_id: "v2".into(),
        },
        Change::SetDefaultPolicyVersion {
            policy_arn: p2.arn.clone(),
            version_id: "v1".into(),
        },
        Change::SetPolicyTags {
            policy_arn: p1.arn.clone(),
            tags: vec![tag("x", "1"), tag("y", "2")],
        },
        Change::SetUserBoundary {
            user_id: u1.id.clone(),
            policy_arn: Some(p1.arn.clone()),
        },
        Change::AttachPolicy {
            entity: Entity::User(u1.id.clone()),
            policy_arn: p1.arn.clone(),
        },
        Change::AttachPolicy {
            entity: Entity::Group(g1.id.clone()),
            policy_arn: p1.arn.clone(),
        },
        Change::AttachPolicy {
            entity: Entity::Role(r1.id.clone()),
            policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
        },
        Change::SetRoleBoundary {
            role_id: r1.id.clone(),
            policy_arn: Some(p1.arn.clone()),
        },
        Change::PutInlinePolicy(inline_user.clone()),
        Change::PutInlinePolicy(inline_group.clone()),
        Change::PutInlinePolicy(inline_role.clone()),
        Change::CreateAccessKey(k1.clone()),
        Change::CreateAccessKey(k_root.clone()),
        Change::CreateMfaDevice(m1.clone()),
        Change::CreateMfaDevice(m2.clone()),
        Change::CreateMfaDevice(m3.clone()),
        Change::EnableMfaDevice {
            serial: m1.serial.clone(),
            assignment: assigned(&u1.id, 0),
        },
        Change::EnableMfaDevice {
            serial: m3.serial.clone(),
            assignment: assigned(&u2.id, 0),
        },
        Change::PutCredentialReport(report.clone()),
        Change::CreateIdentityCenter(center.clone()),
        Change::CreateIdentityStoreUser(ids_alice.clone()),
        Change::CreateIdentityStoreUser(ids_bob.clone()),
        Change::CreateIdentityStoreGroup(ids_team.clone()),
        Change::CreateIdentityStoreGroup(ids_spare.clone()),
        Change::CreateGroupMembership(alice_in_team.clone()),
        Change::CreateGroupMembership(bob_in_team.clone()),
        Change::CreateGroupMembership(alice_in_spare.clone()),
        Change::CreateInvitation(invite_alice.clone()),
        Change::CreateInvitation(invite_bob.clone()),
        // A new invitation replaces the pending one.
        Change::CreateInvitation(invite_alice_again.clone()),
        Change::EnableIdentityMfa(alice_mfa.clone()),
        Change::EnableIdentityMfa(bob_mfa.clone()),
        Change::CreateDeviceAuthorization(device_approved.clone()),
        Change::CreateDeviceAuthorization(device_denied.clone()),
        Change::CreatePermissionSet(ps_admin.clone()),
        Change::CreatePermissionSet(ps_spare.clone()),
        Change::SetPermissionSetTags {
            permission_set_id: ps_admin.id.clone(),
            tags: vec![tag("team", "ops"), tag("tier", "1")],
        },
        Change::SetPermissionSetTags {
            permission_set_id: ps_spare.id.clone(),
            tags: vec![tag("spare", "yes")],
        },
        Change::CreateAccountAssignment(alice_admin.clone()),
        Change::CreateAccountAssignment(team_admin.clone()),
        Change::CreateAccountAssignment(bob_spare.clone()),
        Change::CreateProvisioning(admin_provisioned.clone()),
        Change::CreateProvisioning(spare_provisioned.clone()),
        Change::RecordSsoRequest(created_request.clone()),
        Change::RecordSsoRequest(failed_request.clone()),
        Change::CreateOrganizationalUnit(ou_eng.clone()),
        Change::CreateOrganizationalUnit(ou_platform.clone()),
        Change::CreateOrganizationalUnit(ou_sales.clone()),
        Change::MoveAccount {
            account_id: acct.into(),
            from: None,
            to: Some(ou_platform.id.clone()),
        },
    ];
    let after_first = Contents {
        seq: 1,
        organizational_units: vec![ou_eng.clone(), ou_platform.clone(), ou_sales.clone()],
        account_parents: vec![(acct.into(), ou_platform.id.clone())],
        accounts: vec![account.clone()],
        users: vec![u1.clone(), u2.clone()],
        user_tags: vec![
            (u1.id.clone(), tag("a", "1")),
            (u1.id.clone(), tag("b", "2")),
        ],
        login_profiles: vec![profile.clone(), profile_bob.clone()],
        password_history: vec![history1.clone()],
        account_aliases: vec![(acct.into(), "example-corp".into())],
        password_policies: vec![(acct.into(), password_policy.clone())],
        user_boundaries: vec![(u1.id.clone(), p1.arn.clone())],
        groups: vec![g1.clone(), g2.clone()],
        roles: vec![r1.clone(), r2.clone()],
        role_tags: vec![
            (r1.id.clone(), tag("env", "prod")),
            (r1.id.clone(), tag("team", "ops")),
        ],
        role_boundaries: vec![(r1.id.clone(), p1.arn.clone())],
        group_members: vec![(g1.id.clone(), u1.id.clone())],
        policies: vec![p1.clone(), p2.clone()],
        policy_versions: vec![v1.clone(), v2.clone(), v1_spare.clone()],
        policy_defaults: vec![(p1.arn.clone(), "v2".into()), (p2.arn.clone(), "v1".into())],
        policy_tags: vec![
            (p1.arn.clone(), tag("x", "1")),
            (p1.arn.clone(), tag("y", "2")),
        ],
        attachments: vec![
            (Entity::User(u1.id.clone()), p1.arn.clone()),
            (Entity::Group(g1.id.clone()), p1.arn.clone()),
            (
                Entity::Role(r1.id.clone()),
                "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            ),
        ],
        inline_policies: vec![
            inline_user.clone(),
            inline_group.clone(),
            inline_role.clone(),
        ],
        access_keys: vec![k1.clone(), k_root.clone()],
        mfa_devices: vec![
            MfaDeviceRow {
                assignment: Some(assigned(&u1.id, 0)),
                ..m1.clone()
            },
            m2.clone(),
            MfaDeviceRow {
                assignment: Some(assigned(&u2.id, 0)),
                ..m3.clone()
            },
        ],
        credential_reports: vec![report.clone()],
        identity_centers: vec![center.clone()],
        identity_store_users: vec![ids_alice.clone(), ids_bob.clone()],
        identity_store_groups: vec![ids_team.clone(), ids_spare.clone()],
        group_memberships: vec![
            alice_in_team.clone(),
            bob_in_team.clone(),
            alice_in_spare.clone(),
        ],
        invitations: vec![invite_alice_again.clone(), invite_bob.clone()],
        identity_passwords: vec![],
        identity_mfa: vec![alice_mfa.clone(), bob_mfa.clone()],
        device_authorizations: vec![device_approved.clone(), device_denied.clone()],
        spent_tokens: vec![],
        permission_sets: vec![ps_admin.clone(), ps_spare.clone()],
        permission_set_tags: vec![
            (ps_admin.id.clone(), tag("team", "ops")),
            (ps_admin.id.clone(), tag("tier", "1")),
            (ps_spare.id.clone(), tag("spare", "yes")),
        ],
        account_assignments: vec![alice_admin.clone(), team_admin.clone(), bob_spare.clone()],
        provisionings: vec![admin_provisioned.clone(), spare_provisioned.clone()],
        sso_requests: vec![created_request.clone(), failed_request.clone()],
        master_key_check: Some(check.clone()),
    };
    let accepted_at = now();
    let alice_password = IdentityPasswordRow {
        user_id: ids_alice.id.clone(),
        password_hash: "$argon2id$alice".into(),
        set: accepted_at,
    };
    let approved = DeviceDecision::Approved {
        user_id: ids_alice.id.clone(),
        at: accepted_at,
    };
    let denied = DeviceDecision::Denied { at: accepted_at };
    let spent = SpentTokenRow {
        token_hash: "c1".into(),
        spent: accepted_at,
        expires: accepted_at + chrono::Duration::minutes(5),
    };

    let alice_renamed = IdentityStoreUserRow {
        attributes: UserAttributes {
            user_name: "Alicia".into(),
            title: Some("Engineer".into()),
            ..ids_alice.attributes.clone()
        },
        revision: 2,
        ..ids_alice.clone()
    };
    let team_described = IdentityStoreGroupRow {
        attributes: GroupAttributes {
            description: None,
            ..ids_team.attributes.clone()
        },
        revision: 2,
        ..ids_team.clone()
    };
    let report2 = CredentialReportRow {
        csv: b"user,arn\nbob,x\n".to_vec(),
        ..report.clone()
    };
    let admin_updated = PermissionSetRow {
        description: None,
        session_duration: 43200,
        relay_state: None,
        policies: PermissionSetPolicies {
            boundary: Some(PermissionsBoundary::CustomerManagedPolicyReference(
                CustomerManagedPolicyReference {
                    name: "Boundary".into(),
                    path: "/limits/".into(),
                },
            )),
            ..PermissionSetPolicies::default()
        },
        revision: 2,
        ..ps_admin.clone()
    };
    let reprovisioned_at = now() + chrono::Duration::seconds(5);
    let deleted_request = SsoRequestRow {
        account_id: Some(acct.into()),
        principal: Some((PrincipalType::Group, ids_team.id.clone())),
        ..request_row(3, RequestKind::AssignmentDeletion, &ps_admin)
    };
    let second = vec![
        Change::UpdatePermissionSet(admin_updated.clone()),
        Change::UpdateProvisioning {
            permission_set_id: ps_admin.id.clone(),
            account_id: acct.into(),
            revision: 2,
            provisioned: reprovisioned_at,
        },
        Change::RemovePermissionSetTags {
            permission_set_id: ps_admin.id.clone(),
            keys: vec!["tier".into(), "absent".into()],
        },
        Change::DeleteAccountAssignment {
            permission_set_id: ps_admin.id.clone(),
            account_id: acct.into(),
            principal_type: PrincipalType::Group,
            principal_id: ids_team.id.clone(),
        },
        Change::DeleteAccountAssignment {
            permission_set_id: ps_spare.id.clone(),
            account_id: acct.into(),
            principal_type: PrincipalType::User,
            principal_id: ids_bob.id.clone(),
        },
        Change::DeleteProvisioning {
            permission_set_id: ps_spare.id.clone(),
            account_id: acct.into(),
        },
        // Its tags go with it.
        Change::DeletePermissionSet {
            permission_set_id: ps_spare.id.clone(),
        },
        Change::RecordSsoRequest(deleted_request.clone()),
        Change::RenameUser {
            user_id: u2.id.clone(),
            name: "Robert".into(),
            path: "/ops/".into(),
        },
        Change::RemoveUserTags {
            user_id: u1.id.clone(),
            keys: vec!["a".into(), "absent".into()],
        },
        Change::SetUserTags {
            user_id: u1.id.clone(),
            tags: vec![tag("b", "3")],
        },
        Change::SetUserBoundary {
            user_id: u1.id.clone(),
            policy_arn: None,
        },
        Change::UpdateRole {
            role_id: r1.id.clone(),
            description: None,
            max_session_duration: 43200,
        },
        Change::UpdateAssumeRolePolicy {
            role_id: r1.id.clone(),
            document: TRUST.replace("111122223333", "444455556666"),
        },
        Change::RemoveRoleTags {
            role_id: r1.id.clone(),
            keys: vec!["env".into()],
        },
        Change::SetRoleBoundary {
            role_id: r1.id.clone(),
            policy_arn: None,
        },
        Change::DeleteRole {
            role_id: r2.id.clone(),
        },
        Change::RenameGroup {
            group_id: g2.id.clone(),
            name: "Viewers".into(),
            path: "/v/".into(),
        },
        Change::RemoveUserFromGroup {
            group_id: g1.id.clone(),
            user_id: u1.id.clone(),
        },
        Change::SetDefaultPolicyVersion {
            policy_arn: p1.arn.clone(),
            version_id: "v1".into(),
        },
        Change::DeletePolicyVersion {
            policy_arn: p1.arn.clone(),
            version_id: "v2".into(),
        },
        Change::RemovePolicyTags {
            policy_arn: p1.arn.clone(),
            keys: vec!["x".into()],
        },
        Change::DetachPolicy {
            entity: Entity::Group(g1.id.clone()),
            policy_arn: p1.arn.clone(),
        },
        Change::DeleteInlinePolicy {
            entity: Entity::Group(g1.id.clone()),
            name: "inline-group".into(),
        },
        Change::SetAccessKeyStatus {
            access_key_id: k1.id.clone(),
            status: KeyStatus::Inactive,
        },
        Change::DeleteAccessKey {
            access_key_id: k_root.id.clone(),
        },
        Change::PutCredentialReport(report2.clone()),
        Change::DeleteGroup {
            group_id: g2.id.clone(),
        },
        Change::DeletePolicy {
            policy_arn: p2.arn.clone(),
        },
        Change::ResyncMfaDevice {
            serial: m1.serial.clone(),
            drift_steps: -2,
        },
        Change::DeactivateMfaDevice {
            serial: m3.serial.clone(),
        },
        Change::DeleteMfaDevice {
            serial: m2.serial.clone(),
        },
        Change::RememberPassword(history2.clone()),
        Change::UpdateLoginProfile {
            profile: profile_changed.clone(),
            replaces: profile.password_hash.clone(),
        },
        Change::DeleteLoginProfile {
            user_id: u2.id.clone(),
        },
        Change::DeleteAccountAlias {
            account_id: acct.into(),
            alias: "example-corp".into(),
        },
        Change::DeletePasswordPolicy {
            account_id: acct.into(),
        },
        Change::DeleteUser {
            user_id: u2.id.clone(),
        },
        Change::UpdateIdentityStoreUser(alice_renamed.clone()),
        Change::UpdateIdentityStoreGroup(team_described.clone()),
        Change::DeleteGroupMembership {
            membership_id: alice_in_team.id.clone(),
        },
        Change::AcceptInvitation {
            token_hash: "a2".into(),
            at: accepted_at,
        },
        Change::SetIdentityPassword(alice_password.clone()),
        Change::DecideDeviceAuthorization {
            device_code_hash: "d1".into(),
            decision: approved.clone(),
        },
        Change::RedeemDeviceAuthorization {
            device_code_hash: "d1".into(),
            at: accepted_at,
        },
        Change::DecideDeviceAuthorization {
            device_code_hash: "d2".into(),
            decision: denied.clone(),
        },
        Change::SpendToken(spent.clone()),
        // An administrator removes Bob's authenticator app.
        Change::DeleteIdentityMfa {
            user_id: bob_mfa.user_id.clone(),
        },
        // Bob's and the spare group's memberships, and his invitation, go with them.
        Change::DeleteIdentityStoreUser {
            user_id: ids_bob.id.clone(),
        },
        Change::DeleteIdentityStoreGroup {
            group_id: ids_spare.id.clone(),
        },
        // A master key rotation re-seals the stored secrets in place.
        Change::Reseal(Resealed::AccessKey {
            access_key_id: k1.id.clone(),
            sealed_secret: vec![8; 56],
        }),
        Change::Reseal(Resealed::MfaDevice {
            serial: m1.serial.clone(),
            sealed_seed: vec![2, 9, 9],
        }),
        Change::Reseal(Resealed::IdentityMfa {
            user_id: alice_mfa.user_id.clone(),
            sealed_seed: vec![7, 7, 7],
        }),
        Change::Reseal(Resealed::MasterKeyCheck(vec![2, 4, 6])),
        Change::RenameOrganizationalUnit {
            ou_id: ou_eng.id.clone(),
            name: "R&D".into(),
        },
        Change::MoveAccount {
            account_id: acct.into(),
            from: Some(ou_platform.id.clone()),
            to: Some(ou_eng.id.clone()),
        },
        Change::DeleteOrganizationalUnit {
            ou_id: ou_platform.id.clone(),
        },
    ];
    let after_second = Contents {
        seq: 2,
        organizational_units: vec![
            OrganizationalUnitRow {
                name: "R&D".into(),
                ..ou_eng.clone()
            },
            ou_sales.clone(),
        ],
        account_parents: vec![(acct.into(), ou_eng.id.clone())],
        master_key_check: Some(vec![2, 4, 6]),
        users: vec![u1.clone()],
        login_profiles: vec![profile_changed],
        password_history: vec![history1, history2],
        account_aliases: vec![],
        password_policies: vec![],
        user_tags: vec![(u1.id.clone(), tag("b", "3"))],
        user_boundaries: vec![],
        groups: vec![g1.clone()],
        roles: vec![RoleRow {
            description: None,
            max_session_duration: 43200,
            trust_policy: TRUST.replace("111122223333", "444455556666"),
            ..r1.clone()
        }],
        role_tags: vec![(r1.id.clone(), tag("team", "ops"))],
        role_boundaries: vec![],
        group_members: vec![],
        policies: vec![p1.clone()],
        policy_versions: vec![v1.clone()],
        policy_defaults: vec![(p1.arn.clone(), "v1".into())],
        policy_tags: vec![(p1.arn.clone(), tag("y", "2"))],
        attachments: vec![
            (Entity::User(u1.id.clone()), p1.arn.clone()),
            (
                Entity::Role(r1.id.clone()),
                "arn:aws:iam::aws:policy/ReadOnlyAccess".into(),
            ),
        ],
        inline_policies: vec![inline_user.clone(), inline_role.clone()],
        access_keys: vec![AccessKeyRow {
            status: KeyStatus::Inactive,
            sealed_secret: vec![8; 56],
            ..k1.clone()
        }],
        mfa_devices: vec![
            MfaDeviceRow {
                assignment: Some(assigned(&u1.id, -2)),
                sealed_seed: vec![2, 9, 9],
                ..m1.clone()
            },
            m3.clone(),
        ],
        credential_reports: vec![report2],
        identity_store_users: vec![alice_renamed],
        identity_store_groups: vec![team_described],
        group_memberships: vec![],
        invitations: vec![InvitationRow {
            accepted: Some(accepted_at),
            ..invite_alice_again.clone()
        }],
        identity_passwords: vec![alice_password],
        // Bob's authenticator was removed.
        identity_mfa: vec![IdentityMfaRow {
            sealed_seed: vec![7, 7, 7],
            ..alice_mfa
        }],
        spent_tokens: vec![spent],
        device_authorizations: vec![
            DeviceAuthorizationRow {
                decision: Some(approved),
                redeemed: Some(accepted_at),
                ..device_approved
            },
            DeviceAuthorizationRow {
                decision: Some(denied),
                ..device_denied
            },
        ],
        permission_sets: vec![admin_updated],
        permission_set_tags: vec![(ps_admin.id.clone(), tag("team", "ops"))],
        account_assignments: vec![alice_admin],
        provisionings: vec![ProvisioningRow {
            revision: 2,
            provisioned: reprovisioned_at,
            ..admin_provisioned
        }],
        sso_requests: vec![created_request, failed_request, deleted_request],
        ..after_first.clone()
    };
    vec![(first, after_first), (second, after_second)]
}

fn every_change_round_trips_through_load(b: &dyn Backend) {
    let script = script();
    let used: BTreeSet<&str> = script
        .iter()
        .flat_map(|(changes, _)| changes.iter().map(variant))
        .collect();
    assert_eq!(used.len(), VARIANTS, "the script must use every variant");

    let store = b.open();
    assert_eq!(store.load().unwrap(), Contents::default());
    for (changes, expected) in script {
        let seq = store.apply(&changes).unwrap();
        assert_eq!(seq, expected.seq);
        let loaded = store.load().unwrap();
        assert_eq!(normalized(loaded), normalized(expected.clone()));
        // Another handle (instance) loads the same, and the log holds the batch as applied.
        assert_eq!(normalized(b.open().load().unwrap()), normalized(expected));
        let logged = batches(store.changes_since(seq - 1).unwrap());
        assert_eq!(logged, vec![(seq, changes)]);
    }
}

fn user_names_are_unique_ignoring_case(b: &dyn Backend) {
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateAccount(account_row("222222222222")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "Alice")),
            Change::CreateUser(user_row("AIDA2", "111111111111", "Bob")),
        ])
        .unwrap();
    let refused = store.apply(&[Change::CreateUser(user_row(
        "AIDA3",
        "111111111111",
        "ALICE",
    ))]);
    assert_eq!(refused, Err(StoreError::AlreadyExists));
    let renamed = store.apply(&[Change::RenameUser {
        user_id: "AIDA2".into(),
        name: "aLiCe".into(),
        path: "/".into(),
    }]);
    assert_eq!(renamed, Err(StoreError::AlreadyExists));
    // Another account may use the name; an id is unique everywhere.
    store
        .apply(&[Change::CreateUser(user_row(
            "AIDA4",
            "222222222222",
            "alice",
        ))])
        .unwrap();
    let same_id = store.apply(&[Change::CreateUser(user_row(
        "AIDA1",
        "222222222222",
        "carl",
    ))]);
    assert_eq!(same_id, Err(StoreError::AlreadyExists));
    // Groups likewise.
    store
        .apply(&[Change::CreateGroup(group_row(
            "AGPA1",
            "111111111111",
            "Admins",
        ))])
        .unwrap();
    let group = store.apply(&[Change::CreateGroup(group_row(
        "AGPA2",
        "111111111111",
        "ADMINS",
    ))]);
    assert_eq!(group, Err(StoreError::AlreadyExists));
}

/// Two directories: the second's snapshot does not know the first's user yet, so only the
/// store can refuse the second.
fn user_names_are_unique_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let other = directory(b, &master);
    a.create_user(&init.account_id, "carol", None, vec![], None)
        .unwrap();
    let error = other
        .create_user(&init.account_id, "CAROL", None, vec![], None)
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::EntityAlreadyExists);
    let carols = b
        .open()
        .load()
        .unwrap()
        .users
        .iter()
        .filter(|u| u.name.eq_ignore_ascii_case("carol"))
        .count();
    assert_eq!(carols, 1);
}

/// Runs `work` on `threads` threads at once, alternating between the directories.
fn race<T: Send + 'static>(
    directories: &[Arc<Directory>],
    threads: usize,
    work: impl Fn(&Directory) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(threads));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let directory = directories[i % directories.len()].clone();
            let barrier = barrier.clone();
            let work = work.clone();
            thread::spawn(move || {
                barrier.wait();
                work(&directory)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn access_key_quota_holds_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let other = directory(b, &master);
    let account_id = init.account_id.clone();
    for round in 0..3 {
        let name = format!("dave{round}");
        a.create_user(&account_id, &name, None, vec![], None)
            .unwrap();
        // Both know the user; neither knows the other's keys until the store says so.
        other.catch_up().unwrap();
        let account = account_id.clone();
        let user = name.clone();
        let results = race(&[a.clone(), other.clone()], 4, move |dir| {
            dir.create_access_key(&account, &user)
                .map(|created| created.key.id.clone())
                .map_err(|e| e.code)
        });
        let created: BTreeSet<String> = results.iter().filter_map(|r| r.clone().ok()).collect();
        assert_eq!(created.len(), ACCESS_KEYS_PER_USER, "{results:?}");
        for result in &results {
            if let Err(code) = result {
                assert_eq!(*code, ErrorCode::LimitExceeded, "{results:?}");
            }
        }
        let contents = b.open().load().unwrap();
        let user_id = contents
            .users
            .iter()
            .find(|u| u.name == name)
            .unwrap()
            .id
            .clone();
        let stored: BTreeSet<String> = contents
            .access_keys
            .iter()
            .filter(|k| k.user_id.as_deref() == Some(user_id.as_str()))
            .map(|k| k.id.clone())
            .collect();
        assert_eq!(stored, created);
    }
    // The store refuses a third key even when the caller did not check.
    let contents = b.open().load().unwrap();
    let user_id = contents
        .users
        .iter()
        .find(|u| u.name == "dave0")
        .unwrap()
        .id
        .clone();
    let third = b.open().apply(&[Change::CreateAccessKey(key_row(
        "AKIATHIRD",
        &account_id,
        Some(&user_id),
    ))]);
    assert_eq!(
        third,
        Err(StoreError::LimitExceeded {
            quota: "AccessKeysPerUser",
            limit: ACCESS_KEYS_PER_USER
        })
    );
}

fn delete_user_is_refused_while_keys_exist(b: &dyn Backend) {
    // The store alone.
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "erin")),
            Change::CreateAccessKey(key_row("AKIA1", "111111111111", Some("AIDA1"))),
        ])
        .unwrap();
    assert_eq!(
        store.apply(&[Change::DeleteUser {
            user_id: "AIDA1".into()
        }]),
        Err(StoreError::DeleteConflict)
    );
}

/// Two directories: one creates a key the other's snapshot has not seen; then both at once,
/// where exactly one of "create a key" and "delete the user" may win.
fn delete_user_races_key_creation_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let other = directory(b, &master);
    let account_id = init.account_id.clone();
    a.create_user(&account_id, "frank", None, vec![], None)
        .unwrap();
    other.catch_up().unwrap();
    a.create_access_key(&account_id, "frank").unwrap();
    let error = other.delete_user(&account_id, "frank").unwrap_err();
    assert_eq!(error.code, ErrorCode::DeleteConflict);

    for round in 0..4 {
        let name = format!("gus{round}");
        a.create_user(&account_id, &name, None, vec![], None)
            .unwrap();
        other.catch_up().unwrap();
        let (create, delete) = {
            let barrier = Arc::new(Barrier::new(2));
            let (a2, b2) = (a.clone(), other.clone());
            let (acc1, acc2) = (account_id.clone(), account_id.clone());
            let (n1, n2) = (name.clone(), name.clone());
            let (bar1, bar2) = (barrier.clone(), barrier);
            let create = thread::spawn(move || {
                bar1.wait();
                a2.create_access_key(&acc1, &n1)
                    .map(|_| ())
                    .map_err(|e| e.code)
            });
            let delete = thread::spawn(move || {
                bar2.wait();
                b2.delete_user(&acc2, &n2).map_err(|e| e.code)
            });
            (create.join().unwrap(), delete.join().unwrap())
        };
        match (&create, &delete) {
            (Ok(()), Err(ErrorCode::DeleteConflict)) | (Err(ErrorCode::NoSuchEntity), Ok(())) => {}
            // The SQLite store reports the foreign key violation of a key for a user deleted
            // in between as AlreadyExists (every constraint violation is, there).
            (Err(ErrorCode::EntityAlreadyExists), Ok(())) => {}
            _ => panic!("round {round}: create {create:?}, delete {delete:?}"),
        }
        // Never a key without its user.
        let contents = b.open().load().unwrap();
        let users = user_ids(&contents);
        assert!(
            contents
                .access_keys
                .iter()
                .all(|k| k.user_id.as_ref().is_none_or(|u| users.contains(u)))
        );
    }
}

fn tags_quota_is_enforced_by_the_store(b: &dyn Backend) {
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "hal")),
        ])
        .unwrap();
    let fifty: Vec<Tag> = (0..TAGS_PER_USER)
        .map(|i| tag(&format!("k{i}"), "v"))
        .collect();
    store
        .apply(&[Change::SetUserTags {
            user_id: "AIDA1".into(),
            tags: fifty,
        }])
        .unwrap();
    let refused = store.apply(&[Change::SetUserTags {
        user_id: "AIDA1".into(),
        tags: vec![tag("k0", "changed"), tag("one-too-many", "v")],
    }]);
    assert_eq!(
        refused,
        Err(StoreError::LimitExceeded {
            quota: "TagsPerUser",
            limit: TAGS_PER_USER
        })
    );
    let tags = store.load().unwrap().user_tags;
    assert_eq!(tags.len(), TAGS_PER_USER);
    assert!(
        tags.iter().all(|(_, t)| t.value == "v"),
        "nothing of the refused batch"
    );
    // Overwriting an existing tag at the limit is fine.
    store
        .apply(&[Change::SetUserTags {
            user_id: "AIDA1".into(),
            tags: vec![tag("k0", "changed")],
        }])
        .unwrap();
}

/// Two directories tagging the same user at once: 30 + 30 > 50, only one may win.
fn tags_quota_holds_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let other = directory(b, &master);
    let account_id = init.account_id.clone();
    for round in 0..3 {
        let name = format!("ivy{round}");
        a.create_user(&account_id, &name, None, vec![], None)
            .unwrap();
        other.catch_up().unwrap();
        let account = account_id.clone();
        let results = race(&[a.clone(), other.clone()], 2, move |dir| {
            let prefix = format!("{:p}", dir);
            let tags = (0..30)
                .map(|i| tag(&format!("{prefix}-{i}"), "v"))
                .collect();
            dir.tag_user(&account, &name, tags).map_err(|e| e.code)
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "round {round}: {results:?}");
        assert!(
            results.contains(&Err(ErrorCode::LimitExceeded)),
            "{results:?}"
        );
    }
}

fn a_failed_batch_commits_nothing(b: &dyn Backend) {
    let store = b.open();
    let seq = store
        .apply(&[Change::CreateAccount(account_row("111111111111"))])
        .unwrap();
    let refused = store.apply(&[
        Change::CreateUser(user_row("AIDA1", "111111111111", "jack")),
        Change::CreateUser(user_row("AIDA2", "111111111111", "JACK")),
    ]);
    assert_eq!(refused, Err(StoreError::AlreadyExists));
    let contents = store.load().unwrap();
    assert!(contents.users.is_empty());
    assert_eq!(contents.seq, seq);
    assert_eq!(batches(store.changes_since(seq).unwrap()), vec![]);
    // The next batch follows directly: a refused one takes no number.
    let next = store
        .apply(&[Change::CreateUser(user_row(
            "AIDA1",
            "111111111111",
            "jack",
        ))])
        .unwrap();
    assert_eq!(next, seq + 1);
}

fn changes_to_missing_rows_are_not_found(b: &dyn Backend) {
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "kim")),
        ])
        .unwrap();
    let missing = [
        Change::SetAccessKeyStatus {
            access_key_id: "AKIANONE".into(),
            status: KeyStatus::Inactive,
        },
        Change::DeleteAccessKey {
            access_key_id: "AKIANONE".into(),
        },
        Change::RenameUser {
            user_id: "AIDANONE".into(),
            name: "x".into(),
            path: "/".into(),
        },
        Change::DeleteUser {
            user_id: "AIDANONE".into(),
        },
        Change::DeleteIdentityMfa {
            user_id: "a1b2c3d4-0000-0000-0000-000000000000".into(),
        },
    ];
    for change in missing {
        assert_eq!(
            store.apply(std::slice::from_ref(&change)),
            Err(StoreError::NotFound),
            "{change:?}"
        );
    }
    // A key for a user that does not exist is refused one way or another.
    assert!(
        store
            .apply(&[Change::CreateAccessKey(key_row(
                "AKIA1",
                "111111111111",
                Some("AIDANONE")
            ))])
            .is_err()
    );
    assert_eq!(store.load().unwrap().seq, 1);
}

fn change_log_follows_commit_order(b: &dyn Backend) {
    const WRITERS: usize = 4;
    const BATCHES: usize = 25;
    let store = b.open();
    let start = store
        .apply(&[Change::CreateAccount(account_row("111111111111"))])
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    // A follower reads the log while the writers commit: it must never skip a batch.
    let reader = {
        let store = b.open();
        let done = done.clone();
        thread::spawn(move || {
            let mut seen: Vec<(Seq, Vec<Change>)> = Vec::new();
            let mut last = start;
            loop {
                let finished = done.load(Ordering::SeqCst);
                for (seq, changes) in batches(store.changes_since(last).unwrap()) {
                    assert!(seq > last, "batch {seq} after {last}");
                    last = seq;
                    seen.push((seq, changes));
                }
                if finished {
                    return seen;
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = b.open();
            thread::spawn(move || {
                (0..BATCHES)
                    .map(|i| {
                        let id = format!("AIDA{w}X{i}");
                        store
                            .apply(&[Change::CreateUser(user_row(&id, "111111111111", &id))])
                            .unwrap()
                    })
                    .collect::<Vec<Seq>>()
            })
        })
        .collect();
    let mut committed: Vec<Seq> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();
    committed.sort_unstable();
    let expected: Vec<Seq> = (start + 1..=start + (WRITERS * BATCHES) as Seq).collect();
    assert_eq!(committed, expected, "one number per batch, without gaps");
    let seen_seqs: Vec<Seq> = seen.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seen_seqs, expected,
        "the follower saw every batch, in order"
    );
    assert_eq!(seen, batches(store.changes_since(start).unwrap()));
    let contents = store.load().unwrap();
    assert_eq!(contents.seq, start + (WRITERS * BATCHES) as Seq);
    assert_eq!(contents.users.len(), WRITERS * BATCHES);
    assert_eq!(batches(store.changes_since(contents.seq).unwrap()), vec![]);
}

fn changes_since_reloads_when_the_log_was_pruned(b: &dyn Backend) {
    let master = MasterKey::generate();
    let follower = directory(b, &master);
    let store = b.open();
    let first = store
        .apply(&[Change::CreateAccount(account_row("111111111111"))])
        .unwrap();
    let second = store
        .apply(&[Change::CreateUser(user_row("AIDA1", "111111111111", "lea"))])
        .unwrap();
    let third = store
        .apply(&[Change::CreateUser(user_row("AIDA2", "111111111111", "max"))])
        .unwrap();
    assert_eq!(
        batches(store.changes_since(first).unwrap())
            .iter()
            .map(|(seq, _)| *seq)
            .collect::<Vec<_>>(),
        vec![second, third]
    );
    // An operator (or the store's retention) removes the oldest batches.
    b.execute(&format!("DELETE FROM change_log WHERE seq <= {second}"));
    assert_eq!(store.changes_since(0).unwrap(), ChangesSince::Reload);
    assert_eq!(store.changes_since(first).unwrap(), ChangesSince::Reload);
    assert_eq!(
        batches(store.changes_since(second).unwrap())
            .iter()
            .map(|(seq, _)| *seq)
            .collect::<Vec<_>>(),
        vec![third]
    );
    // A directory that fell that far behind reloads everything.
    follower.catch_up().unwrap();
    let state = follower.snapshot();
    assert_eq!(state.seq, third);
    assert!(state.user_by_name("111111111111", "lea").is_some());
    assert!(state.user_by_name("111111111111", "max").is_some());
}

fn catch_up_follows_another_instance(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let account_id = init.account_id.as_str();
    let other = directory(b, &master);
    assert!(other.is_initialized());

    a.create_user(account_id, "nina", None, vec![tag("t", "1")], None)
        .unwrap();
    let key = a.create_access_key(account_id, "nina").unwrap();
    assert!(other.snapshot().user_by_name(account_id, "nina").is_none());
    other.catch_up().unwrap();
    let state = other.snapshot();
    assert_eq!(state.seq, a.snapshot().seq);
    assert_eq!(
        state.user_by_name(account_id, "nina").unwrap().tags,
        vec![tag("t", "1")]
    );
    let seen = state.access_keys.get(&key.key.id).unwrap();
    assert_eq!(seen.status, KeyStatus::Active);
    assert_eq!(seen.secret.as_str(), key.key.secret.as_str());

    a.update_access_key(account_id, "nina", &key.key.id, KeyStatus::Inactive)
        .unwrap();
    other.catch_up().unwrap();
    assert_eq!(
        other
            .snapshot()
            .access_keys
            .get(&key.key.id)
            .unwrap()
            .status,
        KeyStatus::Inactive
    );
    a.delete_access_key(account_id, "nina", &key.key.id)
        .unwrap();
    other.catch_up().unwrap();
    assert!(other.snapshot().access_keys.get(&key.key.id).is_none());
    a.delete_user(account_id, "nina").unwrap();
    other.catch_up().unwrap();
    assert!(other.snapshot().user_by_name(account_id, "nina").is_none());

    // A write through a stale instance brings it up to date with what it had missed.
    a.create_user(account_id, "oscar", None, vec![], None)
        .unwrap();
    other
        .create_user(account_id, "paula", None, vec![], None)
        .unwrap();
    let state = other.snapshot();
    assert!(state.user_by_name(account_id, "oscar").is_some());
    assert!(state.user_by_name(account_id, "paula").is_some());
    a.catch_up().unwrap();
    assert_eq!(a.snapshot().seq, other.snapshot().seq);
    // Nothing new: catching up changes nothing.
    let before = other.snapshot().seq;
    other.catch_up().unwrap();
    assert_eq!(other.snapshot().seq, before);
}

/// Runs `work(store, i)` on `threads` threads at once, each with a store handle of its own.
fn race_stores<T: Send + 'static>(
    b: &dyn Backend,
    threads: usize,
    work: impl Fn(&dyn Store, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(threads));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let store = b.open();
            let barrier = barrier.clone();
            let work = work.clone();
            thread::spawn(move || {
                barrier.wait();
                work(store.as_ref(), i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A device goes to one user even when instances race to enable it for different users; an
/// assigned device keeps its user from being deleted and cannot be deleted itself; device
/// names are unique in an account ignoring case.
fn mfa_devices_are_assigned_once_and_hold_their_user(b: &dyn Backend) {
    let account = "111111111111";
    let device = mfa_row(account, "shared");
    let mut setup = vec![
        Change::CreateAccount(account_row(account)),
        Change::CreateMfaDevice(device.clone()),
    ];
    for i in 0..4 {
        setup.push(Change::CreateUser(user_row(
            &format!("AIDA{i}"),
            account,
            &format!("user{i}"),
        )));
    }
    b.open().apply(&setup).unwrap();
    assert_eq!(
        b.open().apply(&[Change::CreateMfaDevice(MfaDeviceRow {
            serial: format!("arn:aws:iam::{account}:mfa/other/SHARED"),
            ..mfa_row(account, "SHARED")
        })]),
        Err(StoreError::AlreadyExists)
    );

    let serial = device.serial.clone();
    let enabled = race_stores(b, 4, move |store, i| {
        store.apply(&[Change::EnableMfaDevice {
            serial: serial.clone(),
            assignment: MfaAssignment {
                user_id: format!("AIDA{i}"),
                enabled: now(),
                drift_steps: 0,
            },
        }])
    });
    assert_eq!(
        enabled.iter().filter(|r| r.is_ok()).count(),
        1,
        "{enabled:?}"
    );
    assert!(
        enabled
            .iter()
            .all(|r| r.is_ok() || *r == Err(StoreError::AlreadyExists)),
        "{enabled:?}"
    );
    let winner = enabled.iter().position(Result::is_ok).unwrap();
    let store = b.open();
    let loaded = store.load().unwrap();
    let assignment = loaded.mfa_devices[0].assignment.as_ref().unwrap();
    assert_eq!(assignment.user_id, format!("AIDA{winner}"));

    let user_id = format!("AIDA{winner}");
    assert_eq!(
        store.apply(&[Change::DeleteUser {
            user_id: user_id.clone()
        }]),
        Err(StoreError::DeleteConflict)
    );
    assert_eq!(
        store.apply(&[Change::DeleteMfaDevice {
            serial: device.serial.clone()
        }]),
        Err(StoreError::DeleteConflict)
    );
    store
        .apply(&[
            Change::DeactivateMfaDevice {
                serial: device.serial.clone(),
            },
            Change::DeleteMfaDevice {
                serial: device.serial.clone(),
            },
            Change::DeleteUser { user_id },
        ])
        .unwrap();
    assert!(store.load().unwrap().mfa_devices.is_empty());
}

fn policy_quotas_hold_under_concurrent_writers(b: &dyn Backend) {
    let account = "111111111111";
    let policy = policy_row("ANPA1", account, "Quota");
    let arn = policy.arn.clone();
    let mut setup = vec![
        Change::CreateAccount(account_row(account)),
        Change::CreateUser(user_row("AIDA1", account, "sam")),
        Change::CreatePolicy(policy),
    ];
    // Four versions of five, nine attachments of ten.
    for v in 1..=4 {
        setup.push(Change::CreatePolicyVersion(version_row(
            &arn,
            &format!("v{v}"),
        )));
    }
    for p in 0..9 {
        setup.push(Change::AttachPolicy {
            entity: Entity::User("AIDA1".into()),
            policy_arn: format!("arn:aws:iam::aws:policy/P{p}"),
        });
    }
    b.open().apply(&setup).unwrap();

    let versions = race_stores(b, 4, {
        let arn = arn.clone();
        move |store, i| {
            store.apply(&[Change::CreatePolicyVersion(version_row(
                &arn,
                &format!("v{}", 5 + i),
            ))])
        }
    });
    assert_eq!(
        versions.iter().filter(|r| r.is_ok()).count(),
        1,
        "{versions:?}"
    );
    let attached = race_stores(b, 4, move |store, i| {
        store.apply(&[Change::AttachPolicy {
            entity: Entity::User("AIDA1".into()),
            policy_arn: format!("arn:aws:iam::aws:policy/Q{i}"),
        }])
    });
    assert_eq!(
        attached.iter().filter(|r| r.is_ok()).count(),
        1,
        "{attached:?}"
    );
    for refused in versions.iter().chain(&attached).filter(|r| r.is_err()) {
        assert!(
            matches!(refused, Err(StoreError::LimitExceeded { .. })),
            "{refused:?}"
        );
    }
    let contents = b.open().load().unwrap();
    assert_eq!(contents.policy_versions.len(), 5);
    assert_eq!(contents.attachments.len(), 10);
}

fn key_usage_is_saved_monotonically(b: &dyn Backend) {
    let one = b.open();
    let two = b.open();
    let seq = one
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "quinn")),
            Change::CreateAccessKey(key_row("AKIA1", "111111111111", Some("AIDA1"))),
        ])
        .unwrap();
    let at = now();
    let used = |seconds: i64, service: &str, region: &str| LastUsed {
        at: at + chrono::Duration::seconds(seconds),
        service: service.into(),
        region: region.into(),
    };
    let last_used = || one.load().unwrap().access_keys[0].last_used.clone();
    one.save_key_usage(&[("AKIA1".into(), used(10, "iam", "us-east-1"))])
        .unwrap();
    assert_eq!(last_used(), Some(used(10, "iam", "us-east-1")));
    // An older use saved later (by another instance) does not go back in time.
    two.save_key_usage(&[("AKIA1".into(), used(5, "sts", "eu-west-1"))])
        .unwrap();
    assert_eq!(last_used(), Some(used(10, "iam", "us-east-1")));
    two.save_key_usage(&[
        ("AKIA1".into(), used(20, "sts", "eu-west-1")),
        ("AKIAGONE".into(), used(20, "sts", "eu-west-1")),
    ])
    .unwrap();
    assert_eq!(last_used(), Some(used(20, "sts", "eu-west-1")));
    // Key use is not a logged change.
    assert_eq!(one.load().unwrap().seq, seq);
    assert_eq!(batches(one.changes_since(seq).unwrap()), vec![]);
}

/// An account with the organization's Identity Center instance, through the store alone.
fn identity_store_base(store: &dyn Store) {
    store
        .apply(&[
            Change::CreateAccount(account_row("111122223333")),
            Change::CreateIdentityCenter(center_row("111122223333")),
        ])
        .unwrap();
}

fn identity_store_names_are_unique_ignoring_case(b: &dyn Backend) {
    let store = b.open();
    identity_store_base(&*store);
    let alice = ids_user_row(1, "Alice");
    let team = ids_group_row(2, "Team");
    store
        .apply(&[
            Change::CreateIdentityStoreUser(alice.clone()),
            Change::CreateIdentityStoreUser(ids_user_row(3, "bob")),
            Change::CreateIdentityStoreGroup(team.clone()),
            Change::CreateGroupMembership(membership_row(4, &team, &alice)),
        ])
        .unwrap();
    let refused = |change: Change| store.apply(&[change]);
    assert_eq!(
        refused(Change::CreateIdentityStoreUser(ids_user_row(5, "ALICE"))),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        refused(Change::CreateIdentityStoreGroup(ids_group_row(5, "team"))),
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        refused(Change::CreateGroupMembership(membership_row(
            5, &team, &alice
        ))),
        Err(StoreError::AlreadyExists)
    );
    // A rename onto another user's name, too.
    let mut bob = ids_user_row(3, "aLiCe");
    bob.revision = 2;
    assert_eq!(
        refused(Change::UpdateIdentityStoreUser(bob)),
        Err(StoreError::AlreadyExists)
    );
    // A second instance for the same account.
    let second = IdentityCenterRow {
        instance_id: "ssoins-fedcba9876543210".into(),
        identity_store_id: "d-9876543210".into(),
        ..center_row("111122223333")
    };
    assert_eq!(
        refused(Change::CreateIdentityCenter(second)),
        Err(StoreError::AlreadyExists)
    );
    // A membership of a user or group that is not there.
    let ghost = ids_user_row(9, "ghost");
    assert_eq!(
        refused(Change::CreateGroupMembership(membership_row(
            6, &team, &ghost
        ))),
        Err(StoreError::NotFound)
    );
}

fn identity_store_deletes_take_their_memberships(b: &dyn Backend) {
    let store = b.open();
    identity_store_base(&*store);
    let alice = ids_user_row(1, "alice");
    let bob = ids_user_row(2, "bob");
    let team = ids_group_row(3, "team");
    let ops = ids_group_row(4, "ops");
    store
        .apply(&[
            Change::CreateIdentityStoreUser(alice.clone()),
            Change::CreateIdentityStoreUser(bob.clone()),
            Change::CreateIdentityStoreGroup(team.clone()),
            Change::CreateIdentityStoreGroup(ops.clone()),
            Change::CreateGroupMembership(membership_row(5, &team, &alice)),
            Change::CreateGroupMembership(membership_row(6, &team, &bob)),
            Change::CreateGroupMembership(membership_row(7, &ops, &bob)),
        ])
        .unwrap();
    store
        .apply(&[Change::DeleteIdentityStoreUser {
            user_id: alice.id.clone(),
        }])
        .unwrap();
    store
        .apply(&[Change::DeleteIdentityStoreGroup {
            group_id: ops.id.clone(),
        }])
        .unwrap();
    let left: Vec<String> = store
        .load()
        .unwrap()
        .group_memberships
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![ids_id(6)]);
    // The snapshot built from the store and the one that applied the changes agree.
    let master = MasterKey::generate();
    let state = latchkey_core::state::State::from_contents(
        store.load().unwrap(),
        &Keyring::from(master.clone()),
    )
    .unwrap();
    assert_eq!(state.identity_store.memberships.len(), 1);
    assert!(
        state
            .identity_store
            .membership_of(&team.id, &bob.id)
            .is_some()
    );
    assert_eq!(
        store.apply(&[Change::DeleteIdentityStoreUser { user_id: alice.id }]),
        Err(StoreError::NotFound)
    );
}

/// Data initialized before Identity Center instances existed gets one at start-up; two
/// instances starting at once on one database make exactly one.
fn identity_center_is_made_once_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let init = directory(b, &master).initialize(None).unwrap();
    let made = init_center(b);
    b.execute("DELETE FROM identity_centers");
    let directories = [directory(b, &master), directory(b, &master)];
    assert!(directories.iter().all(|d| d.identity_center().is_none()));
    let centers = race(&directories, 4, |dir| {
        dir.ensure_identity_center().map_err(|e| e.code)
    });
    let centers: BTreeSet<String> = centers
        .into_iter()
        .map(|c| c.unwrap().identity_store_id.clone())
        .collect();
    assert_eq!(centers.len(), 1, "{centers:?}");
    let stored = b.open().load().unwrap().identity_centers;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].account_id, init.account_id);
    assert_ne!(stored[0].identity_store_id, made);
    for directory in &directories {
        directory.catch_up().unwrap();
        let center = directory.identity_center().unwrap();
        assert_eq!(center.identity_store_id, stored[0].identity_store_id);
        assert!(
            center
                .instance_arn()
                .starts_with("arn:aws:sso:::instance/ssoins-")
        );
    }
}

/// The identity store id `initialize` made.
fn init_center(b: &dyn Backend) -> String {
    let stored = b.open().load().unwrap().identity_centers;
    assert_eq!(stored.len(), 1, "initialize makes the instance");
    stored[0].identity_store_id.clone()
}

/// Two directories whose snapshots lag each other: the store refuses what the second's
/// snapshot allowed, and the API reports it as a ConflictException with its reason.
/// Two instances both see a pending invitation; the person submits the form to each at once.
/// One sets the password; the other is refused, and the link is spent for both.
fn an_invitation_is_accepted_once_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let store_id = a.identity_center().unwrap().identity_store_id.clone();
    let person = UserAttributes {
        user_name: "erin".into(),
        emails: vec![TypedValue {
            value: Some("erin@example.com".into()),
            kind: Some("work".into()),
            primary: Some(true),
        }],
        ..UserAttributes::default()
    };
    a.identity_store()
        .create_user(&store_id, person, "arn:aws:iam::111122223333:user/admin")
        .unwrap();
    let mail = a.take_outgoing_mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].email, "erin@example.com");
    let token = mail[0].token.to_string();
    let other = directory(b, &master);
    let at = now();
    assert!(other.invitation(&token, at).is_ok());

    // Each instance sets a different password, so the survivor tells who won.
    let first = a.clone();
    let results = race(&[a.clone(), other.clone()], 2, move |directory| {
        let password = if std::ptr::eq(directory, &*first) {
            "first password"
        } else {
            "second password"
        };
        directory
            .accept_invitation(&token, password, at)
            .map(|_| password)
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let winner = *results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    let loser = if winner == "first password" {
        "second password"
    } else {
        "first password"
    };
    for directory in [&a, &other] {
        directory.catch_up().unwrap();
        assert!(directory.verify_identity_password("ERIN", winner));
        assert!(!directory.verify_identity_password("erin", loser));
    }
    let reopened = directory(b, &master);
    assert!(reopened.verify_identity_password("erin", winner));
    assert!(reopened.invitation(&mail[0].token, now()).is_err());
}

/// Resending an invitation makes a new link and kills the previous one, also on an instance
/// that has not seen the resend; it is refused once the person has a password, for a person
/// without an e-mail address, and for a deleted person.
fn a_resent_invitation_replaces_the_previous_link(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let store_id = a.identity_center().unwrap().identity_store_id.clone();
    let by = "arn:aws:iam::111122223333:user/admin";
    let person = |name: &str, email: Option<&str>| UserAttributes {
        user_name: name.into(),
        emails: email
            .map(|address| TypedValue {
                value: Some(address.into()),
                kind: None,
                primary: Some(true),
            })
            .into_iter()
            .collect(),
        ..UserAttributes::default()
    };
    let user = a
        .identity_store()
        .create_user(&store_id, person("erin", Some("erin@example.com")), by)
        .unwrap();
    let first = a.take_outgoing_mail().pop().unwrap().token.to_string();
    let stale = directory(b, &master);
    assert!(stale.invitation(&first, now()).is_ok());

    a.resend_invitation(&user.id).unwrap();
    let mail = a.take_outgoing_mail();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].email, "erin@example.com");
    let second = mail[0].token.to_string();
    assert_ne!(first, second);
    assert!(a.invitation(&first, now()).is_err());
    assert!(a.invitation(&second, now()).is_ok());
    // `stale` still sees the first link; the store refuses it.
    assert!(
        stale
            .accept_invitation(&first, "first password", now())
            .is_err()
    );
    stale.catch_up().unwrap();
    assert!(!stale.verify_identity_password("erin", "first password"));
    assert!(stale.invitation(&first, now()).is_err());
    stale
        .accept_invitation(&second, "second password", now())
        .unwrap();
    a.catch_up().unwrap();
    assert!(a.verify_identity_password("erin", "second password"));
    assert_eq!(
        b.open().load().unwrap().invitations.len(),
        1,
        "only the accepted invitation is kept"
    );

    let refused = a.resend_invitation(&user.id).unwrap_err();
    assert_eq!(refused.code, ErrorCode::ValidationError, "{refused:?}");
    let silent = a
        .identity_store()
        .create_user(&store_id, person("nomail", None), by)
        .unwrap();
    assert!(a.take_outgoing_mail().is_empty());
    let refused = a.resend_invitation(&silent.id).unwrap_err();
    assert_eq!(refused.code, ErrorCode::ValidationError, "{refused:?}");
    a.identity_store()
        .delete_user(&store_id, &silent.id, None)
        .unwrap();
    let refused = a.resend_invitation(&silent.id).unwrap_err();
    assert_eq!(refused.code, ErrorCode::ResourceNotFound, "{refused:?}");
    assert!(a.take_outgoing_mail().is_empty());
}

fn identity_store_writers_on_two_instances_conflict(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let other = directory(b, &master);
    let store_id = a.identity_center().unwrap().identity_store_id.clone();
    let by = "arn:aws:iam::111122223333:user/admin";
    let user = |name: &str| UserAttributes {
        user_name: name.into(),
        ..UserAttributes::default()
    };
    let dana = a
        .identity_store()
        .create_user(&store_id, user("dana"), by)
        .unwrap();
    let reason = |error: latchkey_core::IamError| {
        assert_eq!(error.code, ErrorCode::Conflict, "{error:?}");
        error
            .fields
            .iter()
            .find(|(name, _)| *name == "Reason")
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    // `other` does not know dana yet: only the unique index refuses the name.
    let taken = other
        .identity_store()
        .create_user(&store_id, user("DANA"), by)
        .unwrap_err();
    assert_eq!(reason(taken), "UNIQUENESS_CONSTRAINT_VIOLATION");
    other.catch_up().unwrap();
    // Both update dana from revision 1; the second is refused by the store.
    let rename = |name: &str| {
        vec![AttributeOperation {
            attribute_path: "displayName".into(),
            attribute_value: Some(serde_json::json!(name)),
        }]
    };
    let first = a
        .identity_store()
        .update_user(&store_id, &dana.id, &rename("Dana A."), None, by)
        .unwrap();
    assert_eq!(first.revision, 2);
    let stale = other
        .identity_store()
        .update_user(&store_id, &dana.id, &rename("Dana B."), None, by)
        .unwrap_err();
    assert_eq!(reason(stale), "CONCURRENT_MODIFICATION");
    other.catch_up().unwrap();
    let current = other.identity_store().user(&store_id, &dana.id).unwrap();
    assert_eq!(current.attributes.display_name.as_deref(), Some("Dana A."));
    // A revision the caller read earlier is refused before anything is written.
    let old = other
        .identity_store()
        .delete_user(&store_id, &dana.id, Some("1"))
        .unwrap_err();
    assert_eq!(reason(old), "CONCURRENT_MODIFICATION");
}

/// Two instances assigning one permission set in one account together make one role: the
/// second, whose snapshot does not have the first's, is refused by the store. A permission
/// set is not deleted while an instance that has not seen its assignment asks.
fn sso_admin_provisions_once_across_instances(b: &dyn Backend) {
    use latchkey_core::ssoadmin::{Assignment, NewPermissionSet};
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let member = a
        .create_account("member@example.com", "Member", None)
        .unwrap()
        .request_id
        .trim_start_matches("car-")
        .to_owned();
    let center = a.identity_center().unwrap();
    let instance = center.instance_arn();
    let by = "arn:aws:iam::111122223333:user/admin";
    let user = a
        .identity_store()
        .create_user(
            &center.identity_store_id,
            UserAttributes {
                user_name: "erin".into(),
                ..UserAttributes::default()
            },
            by,
        )
        .unwrap();
    let group = a
        .identity_store()
        .create_group(
            &center.identity_store_id,
            GroupAttributes {
                display_name: "Ops".into(),
                ..GroupAttributes::default()
            },
            by,
        )
        .unwrap();
    let ps = a
        .sso_admin()
        .create_permission_set(
            &instance,
            NewPermissionSet {
                name: "Ops",
                ..NewPermissionSet::default()
            },
        )
        .unwrap();
    // Two more instances, which know the permission set but none of what follows.
    let other = directory(b, &master);
    let stale = directory(b, &master);
    let (ps_arn, user_id, group_id) = (ps.arn(), user.id.clone(), group.id.clone());
    let created = a
        .sso_admin()
        .create_assignment(
            &instance,
            Assignment {
                permission_set_arn: &ps_arn,
                account_id: &member,
                principal_type: PrincipalType::User,
                principal_id: &user_id,
            },
        )
        .unwrap();
    assert_eq!(created.status, RequestStatus::Succeeded);
    // `other` has not seen the role: it makes one too, and the store refuses it.
    let raced = other
        .sso_admin()
        .create_assignment(
            &instance,
            Assignment {
                permission_set_arn: &ps_arn,
                account_id: &member,
                principal_type: PrincipalType::Group,
                principal_id: &group_id,
            },
        )
        .unwrap_err();
    assert_eq!(raced.code, ErrorCode::Conflict, "{raced:?}");
    other.catch_up().unwrap();
    let state = other.snapshot();
    let reserved: Vec<_> = state
        .roles_of_account(&member, None)
        .filter(|r| r.name.starts_with("AWSReservedSSO_Ops_"))
        .collect();
    assert_eq!(reserved.len(), 1);
    // Caught up, it assigns the group to the role that exists.
    other
        .sso_admin()
        .create_assignment(
            &instance,
            Assignment {
                permission_set_arn: &ps_arn,
                account_id: &member,
                principal_type: PrincipalType::Group,
                principal_id: &group_id,
            },
        )
        .unwrap();
    // `stale` has seen no assignment: only the store refuses the delete.
    let deleted = stale.sso_admin().delete_permission_set(&instance, &ps_arn);
    assert_eq!(deleted.unwrap_err().code, ErrorCode::Conflict);
    stale.catch_up().unwrap();
    assert!(
        stale
            .snapshot()
            .sso_admin
            .permission_sets
            .contains_key(&ps.row.id)
    );
}

/// Deleting an identity store user or group removes its account assignments and the role
/// it held the last assignment of; an instance that has not seen the deletion cannot assign
/// the deleted principal afterwards.
fn deleted_principals_take_their_assignments_and_roles(b: &dyn Backend) {
    use latchkey_core::ssoadmin::{Assignment, NewPermissionSet};
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let member = a
        .create_account("member@example.com", "Member", None)
        .unwrap()
        .request_id
        .trim_start_matches("car-")
        .to_owned();
    let center = a.identity_center().unwrap();
    let (instance, store_id) = (center.instance_arn(), center.identity_store_id.clone());
    let by = "arn:aws:iam::111122223333:user/admin";
    let person = |name: &str| {
        a.identity_store()
            .create_user(
                &store_id,
                UserAttributes {
                    user_name: name.into(),
                    ..UserAttributes::default()
                },
                by,
            )
            .unwrap()
            .id
            .clone()
    };
    let (gone, stays) = (person("gone"), person("stays"));
    let group = a
        .identity_store()
        .create_group(
            &store_id,
            GroupAttributes {
                display_name: "Ops".into(),
                ..GroupAttributes::default()
            },
            by,
        )
        .unwrap()
        .id
        .clone();
    let new_set = |name: &str| {
        a.sso_admin()
            .create_permission_set(
                &instance,
                NewPermissionSet {
                    name,
                    ..NewPermissionSet::default()
                },
            )
            .unwrap()
            .arn()
    };
    let (solo, shared, unused) = (new_set("Solo"), new_set("Shared"), new_set("Unused"));
    let assign = |dir: &Directory, ps: &str, kind: PrincipalType, id: &str| {
        dir.sso_admin().create_assignment(
            &instance,
            Assignment {
                permission_set_arn: ps,
                account_id: &member,
                principal_type: kind,
                principal_id: id,
            },
        )
    };
    assign(&a, &solo, PrincipalType::User, &gone).unwrap();
    assign(&a, &shared, PrincipalType::User, &gone).unwrap();
    assign(&a, &shared, PrincipalType::User, &stays).unwrap();
    assign(&a, &solo, PrincipalType::Group, &group).unwrap();
    let stale = directory(b, &master);
    let roles = |dir: &Directory| -> BTreeSet<String> {
        dir.snapshot()
            .roles_of_account(&member, None)
            .filter(|r| r.name.starts_with("AWSReservedSSO_"))
            .map(|r| r.name.split('_').nth(1).unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(roles(&a), BTreeSet::from(["Shared".into(), "Solo".into()]));

    // The group still holds Solo: deleting the user leaves both roles.
    a.identity_store()
        .delete_user(&store_id, &gone, None)
        .unwrap();
    assert_eq!(roles(&a), BTreeSet::from(["Shared".into(), "Solo".into()]));
    // The group held Solo's last assignment: its role goes with the group.
    a.identity_store()
        .delete_group(&store_id, &group, None)
        .unwrap();
    assert_eq!(roles(&a), BTreeSet::from(["Shared".into()]));
    let principals = |contents: &Contents| -> Vec<String> {
        contents
            .account_assignments
            .iter()
            .map(|row| row.principal_id.clone())
            .collect()
    };
    assert_eq!(principals(&b.open().load().unwrap()), vec![stays.clone()]);
    assert_eq!(a.snapshot().sso_admin.assignments.len(), 1);

    // `stale` still sees the deleted user: only the store refuses the assignment.
    assert!(stale.snapshot().identity_store.users.contains_key(&gone));
    let refused = assign(&stale, &unused, PrincipalType::User, &gone).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict, "{refused:?}");
    let refused = assign(&stale, &shared, PrincipalType::Group, &group).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Conflict, "{refused:?}");
    stale.catch_up().unwrap();
    assert_eq!(principals(&b.open().load().unwrap()), vec![stays]);
    assert_eq!(stale.snapshot().sso_admin.assignments.len(), 1);
    assert_eq!(roles(&stale), BTreeSet::from(["Shared".into()]));
    // The snapshot rebuilt from the store agrees with the one that followed the changes.
    let keyring = latchkey_core::seal::Keyring::from(master);
    let rebuilt =
        latchkey_core::state::State::from_contents(b.open().load().unwrap(), &keyring).unwrap();
    assert_eq!(rebuilt.sso_admin.assignments.len(), 1);
    assert_eq!(rebuilt.sso_admin.provisionings.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Across backends
// ---------------------------------------------------------------------------------------

/// After all migrations both backends have the same tables, with the same columns, and the
/// same explicitly created indexes (unique or not).
#[test]
fn sqlite_and_postgres_schemas_match() {
    let sqlite = Sqlite::new();
    let postgres = Postgres::new();
    sqlite.open();
    postgres.open();
    let (sqlite_tables, sqlite_indexes) = sqlite.schema();
    let (postgres_tables, postgres_indexes) = postgres.schema();
    assert!(
        sqlite_tables.contains_key("change_log"),
        "{sqlite_tables:?}"
    );
    assert_eq!(sqlite_tables, postgres_tables);
    assert_eq!(sqlite_indexes, postgres_indexes);
    assert_eq!(
        postgres.store().schema_version().unwrap(),
        PostgresStore::latest_schema_version()
    );
}

/// The same batches load as the same contents from either backend.
#[test]
fn sqlite_and_postgres_load_the_same() {
    let sqlite = Sqlite::new().open();
    let postgres = Postgres::new();
    let postgres_store = postgres.open();
    for (changes, _) in script() {
        assert_eq!(
            sqlite.apply(&changes).unwrap(),
            postgres_store.apply(&changes).unwrap()
        );
        assert_eq!(
            normalized(sqlite.load().unwrap()),
            normalized(postgres_store.load().unwrap())
        );
    }
}

/// Re-sealing under a new primary key moves every stored sealed value to it, through
/// batches a running instance that has not loaded the new key yet follows without losing a
/// secret; afterwards the old key alone opens nothing stored, the new one alone opens all.
fn rotation_reseals_every_secret_under_the_new_key(b: &dyn Backend) {
    let old = MasterKey::generate();
    let running = directory(b, &old);
    let init = running.initialize(None).unwrap();
    running
        .create_user(&init.account_id, "alice", None, vec![], None)
        .unwrap();
    let key = running
        .create_access_key(&init.account_id, "alice")
        .unwrap();
    let device = running
        .create_virtual_mfa_device(&init.account_id, "/", "alice-phone")
        .unwrap();
    let new = MasterKey::generate();
    let ring = Keyring::new(vec![new.clone(), old.clone()]).unwrap();
    let census = rotation::sealed_by_key(&b.open().load().unwrap(), &ring);
    // The check value, two access keys, one seed.
    assert_eq!(census, BTreeMap::from([(Some(old.id()), 4)]));

    assert_eq!(rotation::reseal(&*b.open(), &ring).unwrap(), 4);
    let stored = b.open().load().unwrap();
    assert_eq!(
        rotation::sealed_by_key(&stored, &ring),
        BTreeMap::from([(Some(new.id()), 4)])
    );
    assert_eq!(
        rotation::sealed_by_key(&stored, &Keyring::from(old.clone())),
        BTreeMap::from([(None, 4)]),
        "the old key opens nothing stored"
    );
    // Every value names the key that sealed it.
    let named = |sealed: &Vec<u8>| seal::key_id_of(sealed) == Some(new.id());
    assert!(stored.access_keys.iter().all(|k| named(&k.sealed_secret)));
    assert!(stored.mfa_devices.iter().all(|d| named(&d.sealed_seed)));
    assert_eq!(rotation::reseal(&*b.open(), &ring).unwrap(), 0, "done once");

    // The instance still on the old key follows the batches and keeps serving.
    running.catch_up().unwrap();
    let state = running.snapshot();
    assert_eq!(
        state.access_keys.get(&key.key.id).unwrap().secret.as_str(),
        key.key.secret.as_str()
    );
    let seed_before = device.device.sealed_seed.clone();
    assert_eq!(
        state
            .mfa_devices
            .get(&device.device.serial)
            .unwrap()
            .sealed_seed,
        seed_before,
        "it keeps the seed sealed under the key it holds"
    );

    // The old key alone opens nothing stored; a keyring without the new key is refused
    // and the running instance keeps its own.
    assert!(Directory::open(b.open(), old.clone()).is_err());
    assert!(running.load_keyring(Keyring::from(old.clone())).is_err());
    assert_eq!(running.keyring_ids(), vec![old.id()]);
    // Loading the new keyring reloads the snapshot under it.
    running.load_keyring(Keyring::from(new.clone())).unwrap();
    let seed_after = &running
        .snapshot()
        .mfa_devices
        .get(&device.device.serial)
        .unwrap()
        .sealed_seed
        .clone();
    assert_eq!(seal::key_id_of(seed_after), Some(new.id()));
    let reopened = Directory::open(b.open(), new).unwrap();
    assert_eq!(
        reopened
            .snapshot()
            .access_keys
            .get(&init.access_key_id)
            .unwrap()
            .secret
            .as_str(),
        init.secret_access_key.as_str()
    );
}

// ---------------------------------------------------------------------------------------
// Backups: taken from one store, restored into an empty one of the other kind
// ---------------------------------------------------------------------------------------

/// Every change of the script, backed up from each store kind and restored into the other,
/// loads as it was: the backup is table-complete and store-agnostic.
#[test]
fn backups_restore_everything_into_the_other_store() {
    let pairs: [(Box<dyn Backend>, Box<dyn Backend>); 2] = [
        (Box::new(Sqlite::new()), Box::new(Postgres::new())),
        (Box::new(Postgres::new()), Box::new(Sqlite::new())),
    ];
    for (source, target) in pairs {
        let source = source.open();
        for (changes, _) in script() {
            source.apply(&changes).unwrap();
        }
        let json = Backup::take(&*source).unwrap().to_json();
        let backup = Backup::from_json(&json).unwrap();
        assert_eq!(backup.contents, source.load().unwrap());

        let restored = target.open();
        assert_eq!(backup.clone().restore(&*restored).unwrap(), 1);
        // The same rows; the restored store's change log starts anew.
        assert_eq!(
            normalized(restored.load().unwrap()),
            normalized(Contents {
                seq: 1,
                ..source.load().unwrap()
            })
        );
        // A second restore is refused and changes nothing.
        let before = restored.load().unwrap();
        assert!(matches!(
            backup.restore(&*restored),
            Err(RestoreError::NotEmpty)
        ));
        assert_eq!(restored.load().unwrap(), before);
    }
}

/// A restored store opens with the master key it was backed up under, and serves the same
/// secrets; another key is refused before anything is written.
#[test]
fn a_restored_store_opens_with_its_master_key_only() {
    let master = MasterKey::generate();
    let source = Sqlite::new();
    let dir = directory(&source, &master);
    let init = dir.initialize(None).unwrap();
    dir.create_user(&init.account_id, "alice", None, vec![], None)
        .unwrap();
    let key = dir.create_access_key(&init.account_id, "alice").unwrap();
    let backup = Backup::take(&*source.open()).unwrap();

    assert!(matches!(
        backup.check_master_key(&MasterKey::generate().into()),
        Err(RestoreError::WrongMasterKey)
    ));
    backup.check_master_key(&master.clone().into()).unwrap();
    let target = Postgres::new();
    backup.restore(&*target.open()).unwrap();
    let restored = directory(&target, &master);
    let state = restored.snapshot();
    let stored = state.access_keys.get(&key.key.id).unwrap();
    assert_eq!(stored.secret.as_str(), key.key.secret.as_str());
    assert!(Directory::open(target.open(), MasterKey::generate()).is_err());
}

/// Every table of the schema is either in the backup or left out for a stated reason: a
/// new table fails this until `latchkey_core::backup::TABLES` lists it.
#[test]
fn every_table_is_backed_up() {
    let listed: BTreeSet<&str> = backup::TABLES
        .iter()
        .chain(backup::NOT_BACKED_UP)
        .map(|(table, _)| *table)
        .filter(|table| *table != "schema_migrations")
        .collect();
    let sqlite = Sqlite::new();
    sqlite.open();
    let postgres = Postgres::new();
    postgres.open();
    for (tables, _) in [sqlite.schema(), postgres.schema()] {
        let tables: BTreeSet<&str> = tables.keys().map(String::as_str).collect();
        assert_eq!(tables, listed);
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL only: connections, migrations, notifications
// ---------------------------------------------------------------------------------------

/// Ends every session on the database but the caller's, as a server restart would.
fn terminate_sessions(db: &Postgres) {
    let mut admin = postgres_admin();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap();
}

#[test]
fn postgres_store_reconnects_after_its_sessions_end() {
    let db = Postgres::new();
    let store = db.store();
    store
        .apply(&[Change::CreateAccount(account_row("111111111111"))])
        .unwrap();
    store.load().unwrap();
    terminate_sessions(&db);
    // The idle connections are dead; the store notices before sending anything and
    // connects anew, so the write goes through.
    store
        .apply(&[Change::CreateUser(user_row(
            "AIDA1",
            "111111111111",
            "rita",
        ))])
        .unwrap();
    assert_eq!(store.load().unwrap().users.len(), 1);
    terminate_sessions(&db);
    assert_eq!(store.load().unwrap().users.len(), 1);
    assert_eq!(batches(store.changes_since(0).unwrap()).len(), 2);
}

#[test]
fn postgres_migrations_are_versioned_and_run_once() {
    let db = Postgres::new();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            thread::spawn(move || PostgresStore::open(&url).map(|_| ()))
        })
        .collect();
    for handle in opened {
        handle.join().unwrap().unwrap();
    }
    let versions: Vec<i32> = db
        .client()
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        versions,
        PostgresStore::migration_versions().collect::<Vec<_>>()
    );
    let latest = PostgresStore::latest_schema_version();
    assert_eq!(db.store().schema_version().unwrap(), latest);
}

#[test]
fn postgres_listener_hears_every_instances_commits() {
    let db = Postgres::new();
    let one = db.store();
    let two = db.store();
    let mut listener = one.listen().unwrap();
    assert!(!listener.wait(Duration::from_millis(100)).unwrap());
    two.apply(&[Change::CreateAccount(account_row("111111111111"))])
        .unwrap();
    assert!(listener.wait(Duration::from_secs(5)).unwrap());
    assert!(!listener.wait(Duration::from_millis(100)).unwrap());
    // A refused batch announces nothing.
    assert!(
        two.apply(&[Change::CreateAccount(account_row("111111111111"))])
            .is_err()
    );
    assert!(!listener.wait(Duration::from_millis(200)).unwrap());
    // A lost connection is reported, so the follower can listen again.
    terminate_sessions(&db);
    let lost = (0..3).any(|_| {
        listener.wait(Duration::from_millis(200)).is_err()
            || listener.check(Duration::from_secs(1)).is_err()
    });
    assert!(lost, "the listener did not notice its connection ending");
}

#[test]
fn postgres_store_fails_fast_while_the_server_is_unreachable() {
    // Nothing listens on port 1.
    let url = "postgres://postgres@127.0.0.1:1/latchkey";
    assert!(matches!(
        PostgresStore::open(url),
        Err(StoreError::Unavailable(_))
    ));
    let store = PostgresStore::connect_only(url).unwrap();
    let change = [Change::CreateAccount(account_row("111111111111"))];
    assert!(matches!(
        store.apply(&change),
        Err(StoreError::Unavailable(_))
    ));
    // Within the backoff the store does not even try: the caller gets its answer at once.
    let started = std::time::Instant::now();
    assert!(matches!(
        store.apply(&change),
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(store.load(), Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_millis(50));
}

/// A customer managed policy is never deleted while an attachment to it commits: one of the
/// two waits for the other, then fails.
#[test]
fn postgres_policy_delete_and_attach_take_turns() {
    let db = Postgres::new();
    let account = "111111111111";
    db.store()
        .apply(&[
            Change::CreateAccount(account_row(account)),
            Change::CreateUser(user_row("AIDA1", account, "tess")),
        ])
        .unwrap();
    for round in 0..10 {
        let policy = policy_row(&format!("ANPA{round}"), account, &format!("P{round}"));
        let arn = policy.arn.clone();
        db.store().apply(&[Change::CreatePolicy(policy)]).unwrap();
        let results = race_stores(&db, 2, move |store, i| {
            let change = if i == 0 {
                Change::DeletePolicy {
                    policy_arn: arn.clone(),
                }
            } else {
                Change::AttachPolicy {
                    entity: Entity::User("AIDA1".into()),
                    policy_arn: arn.clone(),
                }
            };
            store.apply(&[change])
        });
        match (&results[0], &results[1]) {
            (Ok(_), Err(StoreError::NotFound)) | (Err(StoreError::DeleteConflict), Ok(_)) => {}
            other => panic!("round {round}: {other:?}"),
        }
    }
    let contents = db.store().load().unwrap();
    let policies: BTreeSet<&str> = contents.policies.iter().map(|p| p.arn.as_str()).collect();
    assert!(
        contents
            .attachments
            .iter()
            .all(|(_, arn)| policies.contains(arn.as_str())),
        "an attachment outlived its policy"
    );
}

// ---------------------------------------------------------------------------------------
// The audit trail
// ---------------------------------------------------------------------------------------

/// A call's event by `username` of `account_id` with `access_key_id`, naming the user
/// `{id}-user`.
fn event(id: &str, account_id: &str, name: &str, seconds_ago: i64) -> EventDraft {
    let mut draft = EventDraft::new(
        "iam.amazonaws.com",
        name,
        "us-east-1",
        caller(account_id, "admin", "AKIAEXAMPLE"),
        audit::query_parameters([("UserName", format!("{id}-user").as_str())]),
        &format!("request-{id}"),
        name.starts_with("Get"),
    )
    .at(Utc::now().trunc_subsecs(0) - chrono::Duration::seconds(seconds_ago));
    draft.event_id = id.into();
    draft
}

fn caller(account_id: &str, username: &str, access_key_id: &str) -> Arc<Identity> {
    Arc::new(Identity::unverified(
        Some(access_key_id),
        Some(account_id),
        Some(username),
    ))
}

/// The events as the segments of one flush.
fn segments(events: &[EventDraft]) -> Vec<AuditSegment> {
    events
        .chunks(segment::MAX_SEGMENT_EVENTS)
        .map(|chunk| {
            let mut builder = SegmentBuilder::default();
            chunk
                .iter()
                .for_each(|event| builder.push(event, None, None));
            builder.finish()
        })
        .collect()
}

/// An event as a lookup gives it back.
fn as_read(event: &EventDraft) -> AuditEvent {
    let [segment] = segments(std::slice::from_ref(event)).try_into().unwrap();
    let [read] = segment::decode(segment.encoding, &segment.data)
        .unwrap()
        .try_into()
        .unwrap();
    read
}

fn events_of(store: &dyn Store, account_id: &str) -> Vec<String> {
    let query = EventQuery {
        account_id: account_id.into(),
        attribute: None,
        start: None,
        end: None,
        after: None,
        limit: 1000,
    };
    let found = segment::lookup(store, &query).unwrap();
    found.into_iter().map(|e| e.event_id).collect()
}

fn audit_events_commit_with_their_batch_or_not_at_all(b: &dyn Backend) {
    let store = b.open();
    let committed = event("e1", "111111111111", "CreateAccount", 0);
    let committed_segment = segments(std::slice::from_ref(&committed));
    store
        .apply_audited(
            &[Change::CreateAccount(account_row("111111111111"))],
            &committed_segment,
        )
        .unwrap();
    let refused = store.apply_audited(
        &[
            Change::CreateUser(user_row("AIDA1", "111111111111", "jack")),
            Change::CreateUser(user_row("AIDA2", "111111111111", "JACK")),
        ],
        &segments(&[event("e2", "111111111111", "CreateUser", 0)]),
    );
    assert_eq!(refused, Err(StoreError::AlreadyExists));
    assert_eq!(events_of(store.as_ref(), "111111111111"), vec!["e1"]);
    // What was stored is what comes back, and another instance reads it too.
    let other = b.open();
    let query = EventQuery {
        account_id: "111111111111".into(),
        attribute: None,
        start: None,
        end: None,
        after: None,
        limit: 10,
    };
    assert_eq!(
        segment::lookup(other.as_ref(), &query).unwrap(),
        vec![as_read(&committed)]
    );
    // Saving a segment twice (a flush retried after an unknown outcome) keeps one.
    store.append_audit_segments(&committed_segment).unwrap();
    assert_eq!(events_of(store.as_ref(), "111111111111"), vec!["e1"]);
}

fn audit_events_are_looked_up_by_attribute_and_paged(b: &dyn Backend) {
    let store = b.open();
    let mut events: Vec<EventDraft> = (0..7)
        .map(|n| {
            let name = if n % 2 == 0 { "GetUser" } else { "CreateUser" };
            event(&format!("e{n}"), "111111111111", name, 100 - n)
        })
        .collect();
    events[3].identity = caller("111111111111", "bob", "AKIAEXAMPLE");
    events[4].identity = caller("111111111111", "admin", "AKIABOB");
    events[5].event_source = "sts.amazonaws.com".into();
    events.push(event("other", "222222222222", "GetUser", 0));
    // Three flushes: e0-e2, e3-e4, e5-e6 with the other account's event.
    for flush in [&events[..3], &events[3..5], &events[5..]] {
        store.append_audit_segments(&segments(flush)).unwrap();
    }

    let lookup = |attribute: Option<LookupAttribute>| {
        let query = EventQuery {
            account_id: "111111111111".into(),
            attribute,
            start: None,
            end: None,
            after: None,
            limit: 100,
        };
        let found = segment::lookup(store.as_ref(), &query).unwrap();
        found.into_iter().map(|e| e.event_id).collect::<Vec<_>>()
    };
    // Newest first, only the account's own.
    assert_eq!(lookup(None), vec!["e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
    assert_eq!(
        lookup(Some(LookupAttribute::EventName("CreateUser".into()))),
        vec!["e5", "e3", "e1"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::ReadOnly(true))),
        vec!["e6", "e4", "e2", "e0"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::Username("bob".into()))),
        vec!["e3"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::EventId("e1".into()))),
        vec!["e1"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::AccessKeyId("AKIABOB".into()))),
        vec!["e4"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::EventSource(
            "sts.amazonaws.com".into()
        ))),
        vec!["e5"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::ResourceName("e2-user".into()))),
        vec!["e2"]
    );
    assert_eq!(
        lookup(Some(LookupAttribute::ResourceName("other-user".into()))),
        Vec::<String>::new(),
        "another account's events are not found by their values"
    );

    // Pages of three, each after the last event of the one before, then a time window.
    let mut after = None;
    let mut pages = Vec::new();
    loop {
        let query = EventQuery {
            account_id: "111111111111".into(),
            attribute: None,
            start: None,
            end: None,
            after: after.clone(),
            limit: 3,
        };
        let page = segment::lookup(store.as_ref(), &query).unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.event_time, last.event_id.clone()));
        pages.push(page.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        vec![vec!["e6", "e5", "e4"], vec!["e3", "e2", "e1"], vec!["e0"]]
    );
    let query = EventQuery {
        account_id: "111111111111".into(),
        attribute: None,
        start: Some(events[2].event_time),
        end: Some(events[4].event_time),
        after: None,
        limit: 100,
    };
    let window: Vec<String> = segment::lookup(store.as_ref(), &query)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(window, vec!["e4", "e3", "e2"]);

    // Retention goes by segment: those whose last event is older than e3 go, with their keys.
    let deleted = store
        .delete_audit_segments_before(events[3].event_time)
        .unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(lookup(None), vec!["e6", "e5", "e4", "e3"]);
    assert_eq!(
        lookup(Some(LookupAttribute::ResourceName("e2-user".into()))),
        Vec::<String>::new()
    );
    let stale = SegmentQuery {
        account_id: "111111111111",
        attribute: "ResourceName",
        value: "e2-user",
        from_us: None,
        to_us: None,
        below: None,
        limit: 10,
    };
    assert_eq!(store.audit_segment_refs(&stale).unwrap(), vec![]);
    assert_eq!(events_of(store.as_ref(), "222222222222"), vec!["other"]);
}

/// Instances flush at the same time, so segments overlap in time: a lookup must still give
/// every event once, newest first, across more segments than it reads references at a time.
fn audit_lookups_merge_overlapping_segments_newest_first(b: &dyn Backend) {
    let store = b.open();
    let base = Utc::now().trunc_subsecs(0) - chrono::Duration::hours(1);
    let (bob, alice) = (
        caller("111111111111", "bob", "AKIAEXAMPLE"),
        caller("111111111111", "alice", "AKIAEXAMPLE"),
    );
    let drafts: Vec<EventDraft> = (0..600)
        .map(|n| {
            let mut event = event(&format!("e{n:03}"), "111111111111", "GetUser", 0);
            event.event_time = base + chrono::Duration::milliseconds(n * 7 % 1000 + n);
            event.identity = if n % 5 == 0 { &bob } else { &alice }.clone();
            event
        })
        .collect();
    // Three "instances", each saving every third event in segments of ten.
    for instance in 0..3 {
        let theirs: Vec<EventDraft> = drafts.iter().skip(instance).step_by(3).cloned().collect();
        for flush in theirs.chunks(10) {
            store.append_audit_segments(&segments(flush)).unwrap();
        }
    }
    let mut all: Vec<AuditEvent> = drafts.iter().map(as_read).collect();
    all.sort_by(|a, b| (b.event_time, &b.event_id).cmp(&(a.event_time, &a.event_id)));
    for (attribute, expected) in [
        (None, all.clone()),
        (
            Some(LookupAttribute::Username("bob".into())),
            all.iter()
                .filter(|e| e.username.as_deref() == Some("bob"))
                .cloned()
                .collect(),
        ),
    ] {
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let query = EventQuery {
                account_id: "111111111111".into(),
                attribute: attribute.clone(),
                start: None,
                end: None,
                after: after.clone(),
                limit: 51,
            };
            let page = segment::lookup(store.as_ref(), &query).unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.event_time, last.event_id.clone()));
            seen.extend(page);
        }
        assert_eq!(seen.len(), expected.len());
        assert!(
            seen == expected,
            "paged lookup ({attribute:?}) out of order"
        );
    }
    // An event found by its id (a version 7 UUID names its millisecond).
    let mut tagged = event("placeholder", "111111111111", "CreateUser", 0);
    tagged.event_id = "01890a5d-ac96-774b-bcce-b302099a8057".into();
    tagged.event_time = DateTime::from_timestamp_millis(0x0189_0a5d_ac96).unwrap();
    store
        .append_audit_segments(&segments(std::slice::from_ref(&tagged)))
        .unwrap();
    let by_id = segment::lookup(
        store.as_ref(),
        &EventQuery {
            account_id: "111111111111".into(),
            attribute: Some(LookupAttribute::EventId(tagged.event_id.clone())),
            start: None,
            end: None,
            after: None,
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(by_id, vec![as_read(&tagged)]);
}

/// Migration 14 moves the events of the one-row-per-event table (migration 10) into
/// segments: an upgraded store finds them as before.
fn audit_events_of_the_one_row_per_event_table_become_segments(b: &dyn Backend) {
    let store = b.open();
    let at = now() - chrono::Duration::minutes(5);
    let us = at.timestamp_micros();
    // The store as migration 10 left it, with two events in it.
    b.execute(&format!(
        "DROP TABLE audit_segment_keys;
         DROP TABLE audit_segments;
         DELETE FROM schema_migrations WHERE version IN (14, 15);
         CREATE TABLE audit_events (
             event_id TEXT PRIMARY KEY, event_time_us BIGINT NOT NULL, account_id TEXT,
             event_source TEXT NOT NULL, event_name TEXT NOT NULL, read_only BOOLEAN NOT NULL,
             username TEXT, access_key_id TEXT, resources TEXT NOT NULL, record TEXT NOT NULL);
         CREATE TABLE audit_event_resources (event_id TEXT NOT NULL, resource_name TEXT NOT NULL);
         INSERT INTO audit_events VALUES
             ('old-1', {us}, '111111111111', 'iam.amazonaws.com', 'CreateUser', FALSE, 'admin',
              'AKIAOLD', '[{{\"resource_type\":\"AWS::IAM::User\",\"name\":\"zoe\"}}]',
              '{{\"eventID\":\"old-1\"}}'),
             ('old-2', {later}, NULL, 'sts.amazonaws.com', 'GetCallerIdentity', TRUE, NULL, NULL,
              '[]', '{{\"eventID\":\"old-2\"}}');
         INSERT INTO audit_event_resources VALUES ('old-1', 'zoe');",
        later = us + 1,
    ));
    drop(store);
    let upgraded = b.open();
    let lookup = |attribute: Option<LookupAttribute>| {
        segment::lookup(
            upgraded.as_ref(),
            &EventQuery {
                account_id: "111111111111".into(),
                attribute,
                start: None,
                end: None,
                after: None,
                limit: 10,
            },
        )
        .unwrap()
    };
    let expected = AuditEvent {
        event_id: "old-1".into(),
        event_time: at,
        account_id: Some("111111111111".into()),
        event_source: "iam.amazonaws.com".into(),
        event_name: "CreateUser".into(),
        read_only: false,
        username: Some("admin".into()),
        access_key_id: Some("AKIAOLD".into()),
        resources: vec![EventResource {
            resource_type: "AWS::IAM::User".into(),
            name: "zoe".into(),
        }],
        record: r#"{"eventID":"old-1"}"#.into(),
    };
    assert_eq!(lookup(None), vec![expected.clone()]);
    for attribute in [
        LookupAttribute::ResourceName("zoe".into()),
        LookupAttribute::Username("admin".into()),
        LookupAttribute::AccessKeyId("AKIAOLD".into()),
        LookupAttribute::EventName("CreateUser".into()),
        LookupAttribute::EventSource("iam.amazonaws.com".into()),
        LookupAttribute::ReadOnly(false),
        LookupAttribute::EventId("old-1".into()),
    ] {
        assert_eq!(lookup(Some(attribute)), vec![expected.clone()]);
    }
    // The event no account could be told is kept, under no key; retention counts it.
    assert_eq!(
        upgraded
            .delete_audit_segments_before(at + chrono::Duration::seconds(1))
            .unwrap(),
        2
    );
}

/// The server's audit scope around a Directory call: a committed write carries the call's
/// event in its transaction; a refused one leaves it to the caller and writes nothing.
fn a_call_s_event_commits_with_its_write_through_the_directory(b: &dyn Backend) {
    let master = MasterKey::generate();
    let dir = directory(b, &master);
    let init = dir.initialize(None).unwrap();
    let account = init.account_id.clone();
    let draft = |user_name: &str| {
        EventDraft::new(
            "iam.amazonaws.com",
            "CreateUser",
            "us-east-1",
            Identity::unverified(Some(&init.access_key_id), Some(&account), Some("admin")),
            audit::query_parameters([("UserName", user_name), ("Password", "hunter2-secret")]),
            "request-1",
            false,
        )
    };
    let (created, left) = audit::scoped(draft("lena"), || {
        dir.create_user(&account, "lena", None, vec![], None)
    });
    assert!(created.is_ok());
    assert!(left.is_none(), "the write took the event");
    let stored = b.open();
    let found = segment::lookup(
        stored.as_ref(),
        &EventQuery {
            account_id: account.clone(),
            attribute: Some(LookupAttribute::ResourceName("lena".into())),
            start: None,
            end: None,
            after: None,
            limit: 10,
        },
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event_name, "CreateUser");
    assert!(found[0].record.contains(audit::HIDDEN));
    assert!(!found[0].record.contains("hunter2-secret"));

    let (refused, left) = audit::scoped(draft("lena"), || {
        dir.create_user(&account, "lena", None, vec![], None)
    });
    assert_eq!(refused.unwrap_err().code, ErrorCode::EntityAlreadyExists);
    let left = left.expect("a call that wrote nothing gives its event back");
    assert_eq!(events_of(stored.as_ref(), &account).len(), 1);
    dir.record_event(left, Some(("EntityAlreadyExists", "taken")));
    assert_eq!(
        events_of(stored.as_ref(), &account).len(),
        1,
        "buffered until flushed"
    );
    dir.flush_audit().unwrap();
    assert_eq!(events_of(stored.as_ref(), &account).len(), 2);
}

// ---------------------------------------------------------------------------------------
// Account settings: aliases, password policies, password history
// ---------------------------------------------------------------------------------------

fn set_alias(account_id: &str, alias: &str) -> Change {
    Change::SetAccountAlias {
        account_id: account_id.into(),
        alias: alias.into(),
    }
}

/// An account has one alias, which a new one replaces; an alias names one account.
fn account_aliases_are_unique_across_the_deployment(b: &dyn Backend) {
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateAccount(account_row("222222222222")),
            set_alias("111111111111", "corp"),
        ])
        .unwrap();
    assert_eq!(
        store.apply(&[set_alias("222222222222", "corp")]),
        Err(StoreError::AlreadyExists)
    );
    store
        .apply(&[set_alias("111111111111", "corp-two")])
        .unwrap();
    assert_eq!(
        store.load().unwrap().account_aliases,
        vec![("111111111111".to_owned(), "corp-two".to_owned())]
    );
    // The replaced alias is free again.
    store.apply(&[set_alias("222222222222", "corp")]).unwrap();
    assert_eq!(
        store.apply(&[Change::DeleteAccountAlias {
            account_id: "333333333333".into(),
            alias: "corp".into(),
        }]),
        Err(StoreError::NotFound)
    );
    // Deleting an alias the account no longer has (another instance replaced it) deletes
    // nothing: the current alias stays.
    assert_eq!(
        store.apply(&[Change::DeleteAccountAlias {
            account_id: "111111111111".into(),
            alias: "corp".into(),
        }]),
        Err(StoreError::NotFound)
    );
    assert!(
        store
            .load()
            .unwrap()
            .account_aliases
            .contains(&("111111111111".to_owned(), "corp-two".to_owned()))
    );
    // An alias of an account that does not exist is refused.
    assert_eq!(
        store.apply(&[set_alias("333333333333", "ghost")]),
        Err(StoreError::NotFound)
    );
}

/// Instances racing to give different accounts one alias: exactly one wins, and every
/// other is refused by the store.
fn an_alias_raced_by_two_instances_goes_to_one_account(b: &dyn Backend) {
    let accounts: Vec<String> = (1..=4).map(|i| format!("{i}{i}{i}{i}00000000")).collect();
    b.open()
        .apply(
            &accounts
                .iter()
                .map(|id| Change::CreateAccount(account_row(id)))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let raced = accounts.clone();
    let results = race_stores(b, 4, move |store, i| {
        store.apply(&[set_alias(&raced[i], "contested")])
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || *r == Err(StoreError::AlreadyExists)),
        "{results:?}"
    );
    let aliases = b.open().load().unwrap().account_aliases;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].1, "contested");
}

/// The store keeps a user's newest previous passwords only, and deleting the user takes them.
/// An instance whose snapshot lags (it still sees the old password) cannot write its view
/// of the profile back: a flag change would bring the old password back with it.
fn a_login_profile_is_updated_only_over_the_password_it_replaces(b: &dyn Backend) {
    let store = b.open();
    let old = LoginProfileRow {
        user_id: "AIDA1".into(),
        password_hash: "$argon2id$old".into(),
        created: now(),
        password_reset_required: false,
        password_changed: now(),
    };
    let new = LoginProfileRow {
        password_hash: "$argon2id$new".into(),
        ..old.clone()
    };
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "alice")),
            Change::CreateLoginProfile(old.clone()),
            Change::UpdateLoginProfile {
                profile: new.clone(),
                replaces: old.password_hash.clone(),
            },
        ])
        .unwrap();
    let stale_flag = LoginProfileRow {
        password_reset_required: true,
        ..old.clone()
    };
    assert_eq!(
        b.open().apply(&[Change::UpdateLoginProfile {
            profile: stale_flag,
            replaces: old.password_hash.clone(),
        }]),
        Err(StoreError::NotFound)
    );
    assert_eq!(store.load().unwrap().login_profiles, vec![new]);
}

fn password_history_keeps_the_newest(b: &dyn Backend) {
    let store = b.open();
    store
        .apply(&[
            Change::CreateAccount(account_row("111111111111")),
            Change::CreateUser(user_row("AIDA1", "111111111111", "alice")),
        ])
        .unwrap();
    let total = PASSWORD_HISTORY_KEPT + 6;
    for n in 0..total {
        store
            .apply(&[Change::RememberPassword(PasswordHistoryRow {
                user_id: "AIDA1".into(),
                password_hash: format!("$argon2id${n}"),
                replaced: now() + chrono::Duration::seconds(n as i64),
            })])
            .unwrap();
    }
    let mut kept: Vec<String> = store
        .load()
        .unwrap()
        .password_history
        .into_iter()
        .map(|h| h.password_hash)
        .collect();
    kept.sort_by_key(|h| h.trim_start_matches("$argon2id$").parse::<usize>().unwrap());
    let expected: Vec<String> = (total - PASSWORD_HISTORY_KEPT..total)
        .map(|n| format!("$argon2id${n}"))
        .collect();
    assert_eq!(kept, expected);
    // The snapshot built from the store keeps the same ones.
    let master = MasterKey::generate();
    let state =
        latchkey_core::state::State::from_contents(store.load().unwrap(), &Keyring::from(master))
            .unwrap();
    let remembered: Vec<&str> = state.users["AIDA1"]
        .password_history
        .iter()
        .map(|h| h.password_hash.as_str())
        .collect();
    assert_eq!(remembered.len(), PASSWORD_HISTORY_KEPT);
    store
        .apply(&[Change::DeleteUser {
            user_id: "AIDA1".into(),
        }])
        .unwrap();
    assert!(store.load().unwrap().password_history.is_empty());
}

/// Through two directories on one database: the alias, the policy and a changed password
/// reach the other instance, and the store refuses an alias the other's snapshot missed.
fn account_settings_follow_through_the_directory(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    let init = a.initialize(None).unwrap();
    let account = init.account_id.clone();
    let other = directory(b, &master);
    a.create_account_alias(&account, "shared-alias").unwrap();
    a.update_password_policy(
        &account,
        PasswordPolicy {
            minimum_password_length: 12,
            password_reuse_prevention: Some(3),
            allow_users_to_change_password: true,
            ..PasswordPolicy::default()
        },
    )
    .unwrap();
    other.catch_up().unwrap();
    let state = other.snapshot();
    assert_eq!(
        state.account_alias(&account).map(String::as_str),
        Some("shared-alias")
    );
    assert_eq!(
        state.account_of_alias("shared-alias").map(String::as_str),
        Some(account.as_str())
    );
    assert_eq!(
        other
            .password_policy(&account)
            .unwrap()
            .minimum_password_length,
        12
    );
    // The policy applies to new passwords on either instance.
    let short = other
        .create_login_profile(&account, "admin", "Short-1", false, now())
        .unwrap_err();
    assert_eq!(short.code, ErrorCode::PasswordPolicyViolation);
    assert!(
        short.message.contains("minimum length of 12"),
        "{}",
        short.message
    );
    let user_id = state.user_by_name(&account, "admin").unwrap().id.clone();
    let error = other
        .update_login_profile(&account, "admin", Some("Short-1"), None, now())
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PasswordPolicyViolation);
    other
        .update_login_profile(&account, "admin", Some("Long-Enough-Pass-1"), None, now())
        .unwrap();
    // Reuse prevention on the first instance, once it has caught up.
    a.catch_up().unwrap();
    let reused = a
        .change_password(&user_id, "Long-Enough-Pass-1", "Long-Enough-Pass-1", now())
        .unwrap_err();
    assert_eq!(reused.code, ErrorCode::PasswordPolicyViolation);
    a.change_password(&user_id, "Long-Enough-Pass-1", "Another-Long-Pass-2", now())
        .unwrap();
    let wrong = a
        .change_password(&user_id, "Long-Enough-Pass-1", "Third-Long-Pass-3", now())
        .unwrap_err();
    assert_eq!(wrong.code, ErrorCode::AccessDenied);
    // Another account taking the alias through a snapshot that lags is refused by the store.
    b.open()
        .apply(&[Change::CreateAccount(account_row("999999999999"))])
        .unwrap();
    a.delete_account_alias(&account, "shared-alias").unwrap();
    let lagging = directory(b, &master);
    a.create_account_alias(&account, "shared-alias").unwrap();
    assert_eq!(lagging.snapshot().account_of_alias("shared-alias"), None);
    let taken = lagging
        .create_account_alias("999999999999", "shared-alias")
        .unwrap_err();
    assert_eq!(taken.code, ErrorCode::EntityAlreadyExists);
}

// ---------------------------------------------------------------------------------------
// The organization's tree
// ---------------------------------------------------------------------------------------

/// OU names are unique per parent; an OU or account refers only to an OU that exists; an
/// account moves only from where it is; an OU that holds an OU or an account stays.
fn organizational_units_keep_the_tree_whole(b: &dyn Backend) {
    let store = b.open();
    let account = account_row("444455556666");
    let eng = ou_row("ou-abcd-engineer", None, "Engineering");
    let web = ou_row("ou-abcd-webteam1", Some(&eng.id), "Web");
    store
        .apply(&[
            Change::CreateAccount(account.clone()),
            Change::CreateOrganizationalUnit(eng.clone()),
            Change::CreateOrganizationalUnit(web.clone()),
        ])
        .unwrap();
    // The same name under the root again, and under another parent.
    let again = ou_row("ou-abcd-enginee2", None, "Engineering");
    assert_eq!(
        store.apply(&[Change::CreateOrganizationalUnit(again)]),
        Err(StoreError::AlreadyExists)
    );
    let nested = ou_row("ou-abcd-enginee3", Some(&web.id), "Engineering");
    store
        .apply(&[Change::CreateOrganizationalUnit(nested.clone())])
        .unwrap();
    let orphan = ou_row("ou-abcd-orphan12", Some("ou-abcd-missing1"), "Orphan");
    assert_eq!(
        store.apply(&[Change::CreateOrganizationalUnit(orphan)]),
        Err(StoreError::NotFound)
    );
    // A rename onto a sibling's name.
    let ops = ou_row("ou-abcd-opsteam1", None, "Ops");
    store
        .apply(&[Change::CreateOrganizationalUnit(ops.clone())])
        .unwrap();
    assert_eq!(
        store.apply(&[Change::RenameOrganizationalUnit {
            ou_id: ops.id.clone(),
            name: "Engineering".into(),
        }]),
        Err(StoreError::AlreadyExists)
    );
    // Moves: only from where the account is, only to an OU that exists.
    let moved = |from: Option<&str>, to: Option<&str>| {
        store.apply(&[Change::MoveAccount {
            account_id: account.id.clone(),
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        }])
    };
    assert_eq!(
        moved(Some(&eng.id), Some(&web.id)),
        Err(StoreError::NotFound)
    );
    assert_eq!(
        moved(None, Some("ou-abcd-missing1")),
        Err(StoreError::NotFound)
    );
    moved(None, Some(&web.id)).unwrap();
    assert_eq!(moved(None, Some(&eng.id)), Err(StoreError::NotFound));
    // Web holds the account and an OU; Engineering holds Web.
    for ou in [&web.id, &eng.id] {
        assert_eq!(
            store.apply(&[Change::DeleteOrganizationalUnit { ou_id: ou.clone() }]),
            Err(StoreError::DeleteConflict),
            "{ou}"
        );
    }
    store
        .apply(&[Change::DeleteOrganizationalUnit {
            ou_id: nested.id.clone(),
        }])
        .unwrap();
    assert_eq!(
        store.apply(&[Change::DeleteOrganizationalUnit {
            ou_id: web.id.clone(),
        }]),
        Err(StoreError::DeleteConflict)
    );
    moved(Some(&web.id), None).unwrap();
    store
        .apply(&[
            Change::DeleteOrganizationalUnit {
                ou_id: web.id.clone(),
            },
            Change::DeleteOrganizationalUnit {
                ou_id: eng.id.clone(),
            },
        ])
        .unwrap();
    assert_eq!(
        store.apply(&[Change::DeleteOrganizationalUnit { ou_id: eng.id }]),
        Err(StoreError::NotFound)
    );
    let contents = b.open().load().unwrap();
    assert_eq!(contents.organizational_units, vec![ops]);
    assert!(contents.account_parents.is_empty());
}

/// An instance whose snapshot still shows an OU empty cannot delete it once another
/// instance has moved an account into it; racing the two, either the move or the delete
/// wins, and no account is ever left in an OU that is gone.
fn a_non_empty_ou_is_not_deleted_across_instances(b: &dyn Backend) {
    let master = MasterKey::generate();
    let a = directory(b, &master);
    a.initialize(None).unwrap();
    let other = directory(b, &master);
    let new_account = |n: u32| {
        let status = a
            .create_account(
                &format!("member{n}@example.com"),
                &format!("Member {n}"),
                None,
            )
            .unwrap();
        match status.outcome {
            latchkey_core::organizations::CreateAccountOutcome::Created(account) => {
                account.id.clone()
            }
            failed => panic!("{failed:?}"),
        }
    };

    let account = new_account(0);
    let ou = a
        .create_organizational_unit(None, "Engineering", vec![])
        .unwrap();
    other.catch_up().unwrap();
    a.move_account(&account, None, Some(&ou.id)).unwrap();
    // `other` has not caught up: its snapshot shows the OU empty, the store does not.
    assert!(
        other
            .snapshot()
            .organization
            .parent_of_account(&account)
            .is_none()
    );
    let error = other.delete_organizational_unit(&ou.id).unwrap_err();
    assert_eq!(
        error.code,
        ErrorCode::OrganizationalUnitNotEmpty,
        "{error:?}"
    );

    for round in 1..=4 {
        let account = new_account(round);
        let ou = a
            .create_organizational_unit(None, &format!("Team {round}"), vec![])
            .unwrap();
        other.catch_up().unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let (mover, deleter) = (a.clone(), other.clone());
        let (bar1, bar2) = (barrier.clone(), barrier);
        let (acct, ou1, ou2) = (account.clone(), ou.id.clone(), ou.id.clone());
        let moving = thread::spawn(move || {
            bar1.wait();
            mover
                .move_account(&acct, None, Some(&ou1))
                .map_err(|e| e.code)
        });
        let deleting = thread::spawn(move || {
            bar2.wait();
            deleter.delete_organizational_unit(&ou2).map_err(|e| e.code)
        });
        let (moved, deleted) = (moving.join().unwrap(), deleting.join().unwrap());
        match (&moved, &deleted) {
            (Ok(()), Err(ErrorCode::OrganizationalUnitNotEmpty))
            | (Err(ErrorCode::ConcurrentModification), Ok(())) => {}
            _ => panic!("round {round}: move {moved:?}, delete {deleted:?}"),
        }
        let contents = b.open().load().unwrap();
        let units: BTreeSet<&String> = contents
            .organizational_units
            .iter()
            .map(|u| &u.id)
            .collect();
        assert!(
            contents
                .account_parents
                .iter()
                .all(|(_, parent)| units.contains(parent)),
            "round {round}: {contents:?}"
        );
        a.catch_up().unwrap();
        other.catch_up().unwrap();
    }
}
