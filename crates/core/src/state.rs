//! The in-memory snapshot that serves every read and the whole request path.
//!
//! A [`State`] is immutable once published; writers build the next one from the current one
//! with persistent maps (cheap clones, shared structure) and swap it in atomically.

use std::sync::Arc;

use imbl::{HashMap, OrdMap};
use zeroize::Zeroizing;

use crate::model::{
    AccessKey, Account, CredentialReport, KeyOwner, KeyRuntime, LoginProfile, Principal, Tag, User,
};
use crate::seal::{MasterKey, SealError, access_key_aad};
use crate::store::{AccessKeyRow, Change, Contents, Seq};

#[derive(Debug, Clone, Default)]
pub struct State {
    pub accounts: HashMap<String, Arc<Account>>,
    pub users: HashMap<String, Arc<User>>,
    /// (account id, lowercased user name) → user id, in name order for listing.
    pub users_by_name: OrdMap<(String, String), String>,
    pub access_keys: HashMap<String, Arc<AccessKey>>,
    pub credential_reports: HashMap<String, Arc<CredentialReport>>,
    pub master_key_check: Option<Arc<Vec<u8>>>,
    /// The last committed batch this snapshot includes.
    pub seq: Seq,
}

/// A change that cannot be applied to the snapshot: the snapshot and the store disagree.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the snapshot has no {0} that the change refers to")]
    Missing(&'static str),
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl State {
    pub fn from_contents(contents: Contents, master: &MasterKey) -> Result<Self, ApplyError> {
        let mut state = State {
            seq: contents.seq,
            ..State::default()
        };
        if let Some(check) = contents.master_key_check {
            state.apply(&Change::SetMasterKeyCheck(check), master)?;
        }
        for account in contents.accounts {
            state.apply(&Change::CreateAccount(account), master)?;
        }
        for user in contents.users {
            state.apply(&Change::CreateUser(user), master)?;
        }
        let mut tags_by_user: std::collections::HashMap<String, Vec<Tag>> = Default::default();
        for (user_id, tag) in contents.user_tags {
            tags_by_user.entry(user_id).or_default().push(tag);
        }
        for (user_id, tags) in tags_by_user {
            state.apply(&Change::SetUserTags { user_id, tags }, master)?;
        }
        for profile in contents.login_profiles {
            state.apply(&Change::CreateLoginProfile(profile), master)?;
        }
        for (user_id, policy_arn) in contents.user_policies {
            state.apply(
                &Change::AttachUserPolicy {
                    user_id,
                    policy_arn,
                },
                master,
            )?;
        }
        let mut keys = contents.access_keys;
        keys.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        for key in keys {
            state.apply(&Change::CreateAccessKey(key), master)?;
        }
        for report in contents.credential_reports {
            state.apply(&Change::PutCredentialReport(report), master)?;
        }
        Ok(state)
    }

    /// Applies one committed change. The store has already accepted it, so a failure here
    /// means the snapshot is out of step and must be rebuilt from the store.
    pub fn apply(&mut self, change: &Change, master: &MasterKey) -> Result<(), ApplyError> {
        match change {
            Change::SetMasterKeyCheck(check) => {
                self.master_key_check = Some(Arc::new(check.clone()));
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
                        attached_policy_arns: Vec::new(),
                        access_key_ids: Vec::new(),
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
                self.users.remove(user_id);
            }
            Change::SetUserTags { user_id, tags } => {
                self.update_user(user_id, |u| {
                    for tag in tags {
                        match u.tags.iter_mut().find(|t| t.key == tag.key) {
                            Some(existing) => existing.value = tag.value.clone(),
                            None => u.tags.push(tag.clone()),
                        }
                    }
                    u.tags.sort_by(|a, b| a.key.cmp(&b.key));
                })?;
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
                    });
                })?;
            }
            Change::AttachUserPolicy {
                user_id,
                policy_arn,
            } => {
                self.update_user(user_id, |u| {
                    if !u.attached_policy_arns.contains(policy_arn) {
                        u.attached_policy_arns.push(policy_arn.clone());
                    }
                })?;
            }
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
            Change::PutCredentialReport(row) => {
                self.credential_reports.insert(
                    row.account_id.clone(),
                    Arc::new(CredentialReport {
                        generated: row.generated,
                        csv: row.csv.clone(),
                    }),
                );
            }
        }
        Ok(())
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

fn unseal_key(row: &AccessKeyRow, master: &MasterKey) -> Result<AccessKey, SealError> {
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
