//! The organization: one management account (the first, made by `init`) and the member
//! accounts it creates, each with its own root user and IAM namespace.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::directory::now;
use crate::error::{ErrorCode, IamError};
use crate::ids::{self, IdKind};
use crate::model::{ADMINISTRATOR_ACCESS_ARN, Account};
use crate::state::State;
use crate::store::{AccountRow, Change, Entity, RoleRow};
use crate::{Directory, validate};

/// The role CreateAccount makes in a new account unless told otherwise, as AWS does.
pub const DEFAULT_ACCESS_ROLE: &str = "OrganizationAccountAccessRole";

/// What CreateAccount and DescribeCreateAccountStatus report. Accounts are created at once,
/// so a request has succeeded or failed by the time its id is returned.
#[derive(Debug)]
pub struct CreateAccountStatus {
    pub request_id: String,
    pub requested: DateTime<Utc>,
    pub outcome: CreateAccountOutcome,
}

/// A CreateAccount request that failed.
#[derive(Debug, Clone)]
pub struct FailedRequest {
    request_id: String,
    requested: DateTime<Utc>,
    account_name: String,
    reason: &'static str,
}

/// How many failed CreateAccount requests are remembered.
const FAILED_REQUESTS_KEPT: usize = 1000;

#[derive(Debug)]
pub enum CreateAccountOutcome {
    Created(Arc<Account>),
    /// AWS reports these as a FAILED status with a reason, not as an error.
    Failed {
        account_name: String,
        reason: &'static str,
    },
}

impl From<FailedRequest> for CreateAccountStatus {
    fn from(failed: FailedRequest) -> Self {
        CreateAccountStatus {
            request_id: failed.request_id,
            requested: failed.requested,
            outcome: CreateAccountOutcome::Failed {
                account_name: failed.account_name,
                reason: failed.reason,
            },
        }
    }
}

impl State {
    /// The management account: the first account, made at initialization.
    pub fn management_account(&self) -> Option<&Arc<Account>> {
        self.accounts
            .values()
            .min_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)))
    }

    /// Accounts in creation order.
    pub fn accounts_in_order(&self) -> Vec<Arc<Account>> {
        let mut accounts: Vec<Arc<Account>> = self.accounts.values().cloned().collect();
        accounts.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        accounts
    }
}

/// The organization's id, derived from the management account so every instance agrees.
pub fn organization_id(management_account_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest =
        Sha256::digest(format!("latchkey-organization/{management_account_id}").as_bytes());
    let id: String = digest
        .iter()
        .take(10)
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
        .collect();
    format!("o-{id}")
}

/// `car-` + the account id: the request id carries the account it created.
fn request_id(account_id: &str) -> String {
    format!("car-{account_id}")
}

fn check_email(email: &str) -> Result<(), IamError> {
    let valid = (6..=64).contains(&email.len())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::ValidationError,
            "You must specify a valid email address for the account.",
        ))
    }
}

impl Directory {
    /// CreateAccount: a new member account with its root user (no password, no keys) and
    /// the access role, trusted by the management account and holding AdministratorAccess.
    pub fn create_account(
        &self,
        email: &str,
        name: &str,
        role_name: Option<&str>,
    ) -> Result<CreateAccountStatus, IamError> {
        check_email(email)?;
        if name.is_empty() || name.chars().count() > 50 {
            return Err(IamError::new(
                ErrorCode::ValidationError,
                "The account name must be 1 to 50 characters long.",
            ));
        }
        let role_name = role_name.unwrap_or(DEFAULT_ACCESS_ROLE);
        validate::user_name("roleName", role_name)?;
        let requested = now();
        if self
            .snapshot()
            .accounts
            .values()
            .any(|a| a.root_email.eq_ignore_ascii_case(email))
        {
            let failed = FailedRequest {
                request_id: format!("car-{}", ids::random_lowercase(32)),
                requested,
                account_name: name.to_owned(),
                reason: "EMAIL_ALREADY_EXISTS",
            };
            let mut kept = self
                .failed_account_requests
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if kept.len() >= FAILED_REQUESTS_KEPT {
                kept.pop_front();
            }
            kept.push_back(failed.clone());
            return Ok(failed.into());
        }
        let (account_id, state) = self.write(|state| {
            let management = state
                .management_account()
                .ok_or_else(IamError::service_failure)?;
            // Strictly after the management account, which is recognized as the oldest.
            let created = requested.max(management.created + chrono::Duration::seconds(1));
            let management = management.id.clone();
            if state.accounts.values().any(|a| a.root_email.eq_ignore_ascii_case(email)) {
                return Err(IamError::new(
                    ErrorCode::DuplicateAccount,
                    "That email address is already associated with an account.",
                ));
            }
            let account_id = loop {
                let id = ids::new_account_id();
                if !state.accounts.contains_key(&id) {
                    break id;
                }
            };
            let trust = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{management}:root"}},"Action":"sts:AssumeRole"}}]}}"#
            );
            let role_id = ids::new_unique_id(IdKind::Role);
            Ok((
                vec![
                    Change::CreateAccount(AccountRow {
                        id: account_id.clone(),
                        name: name.to_owned(),
                        root_email: email.to_owned(),
                        // No password: the root user of a created account signs in only after
                        // a password reset, as on AWS.
                        root_password_hash: String::new(),
                        created,
                    }),
                    Change::CreateRole(RoleRow {
                        id: role_id.clone(),
                        account_id: account_id.clone(),
                        name: role_name.to_owned(),
                        path: "/".into(),
                        description: None,
                        trust_policy: trust,
                        max_session_duration: 3600,
                        created,
                    }),
                    Change::AttachPolicy {
                        entity: Entity::Role(role_id),
                        policy_arn: ADMINISTRATOR_ACCESS_ARN.into(),
                    },
                ],
                account_id,
            ))
        })?;
        let account = state
            .accounts
            .get(&account_id)
            .cloned()
            .ok_or_else(IamError::service_failure)?;
        Ok(CreateAccountStatus {
            request_id: request_id(&account_id),
            requested,
            outcome: CreateAccountOutcome::Created(account),
        })
    }

    pub fn create_account_status(&self, request_id: &str) -> Result<CreateAccountStatus, IamError> {
        let not_found = || {
            IamError::new(
                ErrorCode::CreateAccountStatusNotFound,
                "We can't find a create account request with the CreateAccountRequestId that you specified.",
            )
        };
        if let Some(failed) = self
            .failed_account_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|f| f.request_id == request_id)
        {
            return Ok(failed.clone().into());
        }
        let account_id = request_id.strip_prefix("car-").ok_or_else(not_found)?;
        let account = self
            .snapshot()
            .accounts
            .get(account_id)
            .cloned()
            .ok_or_else(not_found)?;
        Ok(CreateAccountStatus {
            request_id: request_id.to_owned(),
            requested: account.created,
            outcome: CreateAccountOutcome::Created(account),
        })
    }

    pub fn account(&self, account_id: &str) -> Result<Arc<Account>, IamError> {
        self.snapshot()
            .accounts
            .get(account_id)
            .cloned()
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::AccountNotFound,
                    "You specified an account that doesn't exist.",
                )
            })
    }
}
