//! The directory over the real SQLite store: invariants, durability and reloads.

use std::sync::Arc;

use latchkey_core::model::{KeyStatus, Tag};
use latchkey_core::seal::MasterKey;
use latchkey_core::store::{AccessKeyRow, Change, Store, StoreError};
use latchkey_core::{Directory, ErrorCode};
use latchkey_store_sqlite::SqliteStore;

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    master: MasterKey,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.db");
        Fixture {
            _dir: dir,
            path,
            master: MasterKey::generate(),
        }
    }

    fn store(&self) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }

    fn directory(&self) -> Directory {
        Directory::open(self.store(), self.master.clone()).unwrap()
    }
}

#[test]
fn initialized_state_survives_a_reopen() {
    let fx = Fixture::new();
    let dir = fx.directory();
    assert!(!dir.is_initialized());
    let init = dir.initialize(Some("owner@example.com")).unwrap();
    let user = dir
        .create_user(
            &init.account_id,
            "alice",
            Some("/eng/"),
            vec![Tag {
                key: "team".into(),
                value: "red".into(),
            }],
            None,
        )
        .unwrap();
    let key = dir.create_access_key(&init.account_id, "alice").unwrap();
    drop(dir);

    let reopened = fx.directory();
    assert!(reopened.is_initialized());
    let state = reopened.snapshot();
    let alice = state.user_by_name(&init.account_id, "ALICE").unwrap();
    assert_eq!(alice.id, user.id);
    assert_eq!(alice.path, "/eng/");
    assert_eq!(
        alice.tags,
        vec![Tag {
            key: "team".into(),
            value: "red".into()
        }]
    );
    let stored = state.access_keys.get(&key.key.id).unwrap();
    assert_eq!(stored.secret.as_str(), key.key.secret.as_str());
    let admin_key = state.access_keys.get(&init.access_key_id).unwrap();
    assert_eq!(admin_key.secret.as_str(), init.secret_access_key.as_str());
    assert!(
        reopened.initialize(None).is_err(),
        "a second initialization must be refused"
    );
}

#[test]
fn a_different_master_key_is_refused() {
    let fx = Fixture::new();
    fx.directory().initialize(None).unwrap();
    let error = Directory::open(fx.store(), MasterKey::generate()).unwrap_err();
    assert!(error.to_string().contains("master key"), "{error}");
}

#[test]
fn the_database_file_holds_no_secret() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    dir.create_user(&init.account_id, "bob", None, vec![], None)
        .unwrap();
    let key = dir.create_access_key(&init.account_id, "bob").unwrap();
    drop(dir);
    let folder = fx.path.parent().unwrap();
    for entry in std::fs::read_dir(folder).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [
            key.key.secret.as_str(),
            init.secret_access_key.as_str(),
            init.console_password.as_str(),
        ] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
}

#[test]
fn the_store_refuses_a_third_access_key_even_when_the_caller_did_not_check() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    let user = dir
        .create_user(&init.account_id, "carol", None, vec![], None)
        .unwrap();
    let store = fx.store();
    let row = |id: &str| AccessKeyRow {
        id: id.into(),
        account_id: init.account_id.clone(),
        user_id: Some(user.id.clone()),
        status: KeyStatus::Active,
        created: chrono::Utc::now(),
        sealed_secret: vec![1, 2, 3],
        last_used: None,
    };
    store
        .apply(&[Change::CreateAccessKey(row("AKIAAAAAAAAAAAAAAAA1"))])
        .unwrap();
    store
        .apply(&[Change::CreateAccessKey(row("AKIAAAAAAAAAAAAAAAA2"))])
        .unwrap();
    let third = store.apply(&[Change::CreateAccessKey(row("AKIAAAAAAAAAAAAAAAA3"))]);
    assert_eq!(
        third,
        Err(StoreError::LimitExceeded {
            quota: "AccessKeysPerUser",
            limit: 2
        })
    );
}

#[test]
fn two_directories_on_one_database_cannot_exceed_the_key_quota() {
    let fx = Fixture::new();
    let first = fx.directory();
    let init = first.initialize(None).unwrap();
    first
        .create_user(&init.account_id, "dave", None, vec![], None)
        .unwrap();
    // A second instance whose snapshot knows the user but none of its keys.
    let second = Arc::new(fx.directory());
    let first = Arc::new(first);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let dir = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let account = init.account_id.clone();
            std::thread::spawn(move || dir.create_access_key(&account, "dave").map(|_| ()))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 2, "{results:?}");
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(error.code, ErrorCode::LimitExceeded);
    }
}

#[test]
fn names_are_unique_ignoring_case_in_the_store() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    dir.create_user(&init.account_id, "Erin", None, vec![], None)
        .unwrap();
    let stale = fx.directory();
    let error = stale
        .create_user(&init.account_id, "erin", None, vec![], None)
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::EntityAlreadyExists);
}

#[test]
fn a_user_with_keys_cannot_be_deleted_and_listing_pages_in_name_order() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    for name in ["u3", "u1", "u2", "u5", "u4"] {
        dir.create_user(&init.account_id, name, Some("/paged/"), vec![], None)
            .unwrap();
    }
    let key = dir.create_access_key(&init.account_id, "u1").unwrap();
    assert_eq!(
        dir.delete_user(&init.account_id, "u1").unwrap_err().code,
        ErrorCode::DeleteConflict
    );
    dir.delete_access_key(&init.account_id, "u1", &key.key.id)
        .unwrap();
    dir.delete_user(&init.account_id, "u1").unwrap();

    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = dir
            .list_users(
                &init.account_id,
                Some("/paged/"),
                marker.as_deref(),
                Some(2),
            )
            .unwrap();
        names.extend(page.items.iter().map(|u| u.name.clone()));
        match page.marker {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    assert_eq!(names, ["u2", "u3", "u4", "u5"]);
}

#[test]
fn key_use_is_saved_and_reloaded() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    let key = dir
        .snapshot()
        .access_keys
        .get(&init.access_key_id)
        .cloned()
        .unwrap();
    assert_eq!(dir.save_key_usage().unwrap(), 0);
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    dir.record_key_use(&key, at, "sts", "eu-west-1");
    assert_eq!(dir.save_key_usage().unwrap(), 1);
    assert_eq!(dir.save_key_usage().unwrap(), 0);
    drop(dir);
    let reloaded = fx.directory();
    let used = reloaded
        .snapshot()
        .access_keys
        .get(&init.access_key_id)
        .unwrap()
        .runtime
        .last_used()
        .unwrap();
    assert_eq!(
        (used.at, used.service.as_str(), used.region.as_str()),
        (at, "sts", "eu-west-1")
    );
}

#[test]
fn status_changes_and_renames_are_durable() {
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    dir.create_user(&init.account_id, "frank", None, vec![], None)
        .unwrap();
    let key = dir.create_access_key(&init.account_id, "frank").unwrap();
    dir.update_access_key(&init.account_id, "frank", &key.key.id, KeyStatus::Inactive)
        .unwrap();
    dir.update_user(&init.account_id, "frank", Some("francis"), Some("/ops/"))
        .unwrap();
    dir.tag_user(
        &init.account_id,
        "francis",
        vec![
            Tag {
                key: "a".into(),
                value: "1".into(),
            },
            Tag {
                key: "b".into(),
                value: "2".into(),
            },
        ],
    )
    .unwrap();
    dir.untag_user(&init.account_id, "francis", vec!["a".into()])
        .unwrap();
    drop(dir);
    let state = fx.directory().snapshot();
    assert!(state.user_by_name(&init.account_id, "frank").is_none());
    let user = state.user_by_name(&init.account_id, "francis").unwrap();
    assert_eq!(user.path, "/ops/");
    assert_eq!(
        user.tags,
        vec![Tag {
            key: "b".into(),
            value: "2".into()
        }]
    );
    assert_eq!(
        state.access_keys.get(&key.key.id).unwrap().status,
        KeyStatus::Inactive
    );
}

#[test]
fn a_second_instance_follows_the_first_through_the_change_log() {
    let fx = Fixture::new();
    let first = fx.directory();
    let init = first.initialize(None).unwrap();
    let second = fx.directory();
    first
        .create_user(&init.account_id, "gina", None, vec![], None)
        .unwrap();
    let key = first.create_access_key(&init.account_id, "gina").unwrap();
    assert!(second.snapshot().access_keys.get(&key.key.id).is_none());

    second.catch_up().unwrap();
    let seen = second.snapshot();
    assert_eq!(seen.seq, first.snapshot().seq);
    let followed = seen.access_keys.get(&key.key.id).unwrap();
    assert_eq!(followed.secret.as_str(), key.key.secret.as_str());
    assert_eq!(followed.status, KeyStatus::Active);

    // A write through the second instance, whose snapshot is current, then a deactivation
    // through the first, whose snapshot is now behind: both end up with every batch.
    second
        .tag_user(
            &init.account_id,
            "gina",
            vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
        )
        .unwrap();
    first
        .update_access_key(&init.account_id, "gina", &key.key.id, KeyStatus::Inactive)
        .unwrap();
    assert_eq!(
        first
            .snapshot()
            .user_by_name(&init.account_id, "gina")
            .unwrap()
            .tags
            .len(),
        1
    );
    second.catch_up().unwrap();
    assert_eq!(
        second
            .snapshot()
            .access_keys
            .get(&key.key.id)
            .unwrap()
            .status,
        KeyStatus::Inactive
    );
    assert_eq!(first.snapshot().seq, second.snapshot().seq);
}

#[test]
fn groups_policies_and_attachments_survive_a_reopen() {
    use latchkey_core::policies::Target;
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    let account = &init.account_id;
    dir.create_user(account, "hana", None, vec![], None)
        .unwrap();
    dir.create_group(account, "ops", Some("/teams/")).unwrap();
    dir.add_user_to_group(account, "ops", "hana").unwrap();
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;
    let policy = dir
        .create_policy(
            account,
            "read-self",
            Some("/custom/"),
            document,
            Some("reads"),
            vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
        )
        .unwrap();
    let second = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:List*","Resource":"*"}]}"#;
    dir.create_policy_version(account, &policy.arn, second, true)
        .unwrap();
    dir.attach_policy(account, Target::Group("ops"), &policy.arn)
        .unwrap();
    dir.attach_policy(
        account,
        Target::User("hana"),
        "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
    )
    .unwrap();
    dir.put_inline_policy(account, Target::User("hana"), "inline", document)
        .unwrap();
    dir.put_inline_policy(account, Target::Group("ops"), "group-inline", document)
        .unwrap();
    dir.set_user_boundary(account, "hana", Some(&policy.arn))
        .unwrap();
    drop(dir);

    let state = fx.directory().snapshot();
    let hana = state.user_by_name(account, "hana").unwrap();
    let ops = state.group_by_name(account, "ops").unwrap();
    assert_eq!(hana.group_ids, vec![ops.id.clone()]);
    assert_eq!(ops.member_ids, vec![hana.id.clone()]);
    assert_eq!(ops.path, "/teams/");
    assert_eq!(ops.attached_policy_arns, vec![policy.arn.clone()]);
    assert_eq!(
        hana.attached_policy_arns,
        vec!["arn:aws:iam::aws:policy/IAMReadOnlyAccess".to_string()]
    );
    assert_eq!(hana.inline_policies.len(), 1);
    assert_eq!(ops.inline_policies[0].name, "group-inline");
    assert_eq!(
        hana.permissions_boundary.as_deref(),
        Some(policy.arn.as_str())
    );
    let stored = state.policies.get(&policy.arn).unwrap();
    assert_eq!(stored.default_version_id, "v2");
    assert_eq!(stored.versions.len(), 2);
    assert_eq!(stored.default_version().unwrap().document, second);
    assert_eq!(stored.description.as_deref(), Some("reads"));
    assert_eq!(
        stored.tags,
        vec![Tag {
            key: "k".into(),
            value: "v".into()
        }]
    );
}

#[test]
fn the_store_enforces_policy_quotas_and_conflicts() {
    use latchkey_core::policies::Target;
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    let account = &init.account_id;
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#;
    let policy = dir
        .create_policy(account, "p", None, document, None, vec![])
        .unwrap();
    for _ in 0..4 {
        dir.create_policy_version(account, &policy.arn, document, false)
            .unwrap();
    }
    assert_eq!(
        dir.create_policy_version(account, &policy.arn, document, false)
            .unwrap_err()
            .code,
        ErrorCode::LimitExceeded
    );
    dir.create_group(account, "g", None).unwrap();
    dir.attach_policy(account, Target::Group("g"), &policy.arn)
        .unwrap();
    assert_eq!(
        dir.delete_policy(account, &policy.arn).unwrap_err().code,
        ErrorCode::DeleteConflict
    );
    assert_eq!(
        dir.delete_group(account, "g").unwrap_err().code,
        ErrorCode::DeleteConflict
    );
    // A second instance with a stale snapshot is stopped by the store itself.
    let stale = fx.directory();
    dir.detach_policy(account, Target::Group("g"), &policy.arn)
        .unwrap();
    dir.create_user(account, "member", None, vec![], None)
        .unwrap();
    dir.add_user_to_group(account, "g", "member").unwrap();
    assert_eq!(
        stale.delete_group(account, "g").unwrap_err().code,
        ErrorCode::DeleteConflict
    );
}

#[test]
fn session_tokens_expire_to_the_second_and_cannot_be_altered() {
    use latchkey_core::model::Principal;
    let fx = Fixture::new();
    let dir = fx.directory();
    let init = dir.initialize(None).unwrap();
    let admin = dir.user(&init.account_id, "admin").unwrap();
    let issued_at = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    let issued = dir
        .get_session_token(&Principal::User(admin), Some(900), None, issued_at)
        .unwrap();
    let key_id = issued.session.access_key_id.clone();
    assert!(key_id.starts_with("ASIA"));
    let token = &issued.session_token;
    let last_valid = issued_at + chrono::Duration::seconds(899);
    assert!(dir.open_session(token, &key_id, last_valid).is_ok());
    let expired = dir
        .open_session(token, &key_id, issued_at + chrono::Duration::seconds(900))
        .unwrap_err();
    assert_eq!(expired.code, ErrorCode::ExpiredToken);
    // Another key id, or one altered byte, and the token is refused.
    assert_eq!(
        dir.open_session(token, "ASIAAAAAAAAAAAAAAAAA", last_valid)
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
    let mut altered = token.clone().into_bytes();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_eq!(
        dir.open_session(&altered, &key_id, last_valid)
            .unwrap_err()
            .code,
        ErrorCode::InvalidClientTokenId
    );
    // The secret never appears in the token in the clear.
    assert!(!token.contains(&issued.session.secret_access_key));
}
