//! Account settings: the account alias and the password policy of IAM users' console
//! passwords, with what the policy needs of login profiles (expiry, reuse prevention).
//! See docs/design/account-settings.md.
//!
//! An account has at most one alias, and an alias names one account in the whole deployment
//! (AWS keeps aliases unique in a partition); the store's unique index decides races. While
//! an account sets no password policy, AWS's default applies ([`default_policy_check`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::Directory;
use crate::error::{ErrorCode, IamError};
use crate::model::{LoginProfile, User};
use crate::password;
use crate::state::State;
use crate::store::{
    Change, LoginProfileRow, PASSWORD_HISTORY_KEPT, PasswordHistoryRow, StoreError,
};

/// The symbols `RequireSymbols` asks for, as AWS documents them.
pub const SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";

/// An account's password policy, as UpdateAccountPasswordPolicy sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// 6–128.
    pub minimum_password_length: u32,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    /// Days, 1–1095; `None`: passwords never expire.
    pub max_password_age: Option<u32>,
    /// 1–24; `None`: previous passwords may be used again.
    pub password_reuse_prevention: Option<u32>,
    /// An expired password can only be reset by an administrator.
    pub hard_expiry: bool,
}

impl Default for PasswordPolicy {
    /// What UpdateAccountPasswordPolicy sets for every parameter it is not given.
    fn default() -> Self {
        PasswordPolicy {
            minimum_password_length: 6,
            require_symbols: false,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: false,
            allow_users_to_change_password: false,
            max_password_age: None,
            password_reuse_prevention: None,
            hard_expiry: false,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password against the policy's composition rules; the error names the
    /// first rule it breaks.
    pub fn check(&self, password: &str) -> Result<(), IamError> {
        let length = password.chars().count();
        if length < self.minimum_password_length as usize {
            return Err(violation(&format!(
                "Password should have a minimum length of {}.",
                self.minimum_password_length
            )));
        }
        if length > 128 {
            return Err(violation("Password should have a maximum length of 128."));
        }
        if self.require_lowercase_characters && !password.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(violation(
                "Password should have at least one lowercase letter.",
            ));
        }
        if self.require_uppercase_characters && !password.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(violation(
                "Password should have at least one uppercase letter.",
            ));
        }
        if self.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
            return Err(violation("Password should have at least one number."));
        }
        if self.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c)) {
            return Err(violation(
                "Password should have at least one symbol (one of ! @ # $ % ^ & * ( ) _ + - = [ ] { } | ').",
            ));
        }
        Ok(())
    }

    /// When a password set at `changed` expires, if the policy makes passwords expire.
    pub fn expires(&self, changed: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_password_age
            .map(|days| changed + Duration::days(i64::from(days)))
    }

    /// The policy's rules in words, for the console.
    pub fn rules(&self) -> Vec<String> {
        let mut rules = vec![format!(
            "At least {} and at most 128 characters.",
            self.minimum_password_length
        )];
        if self.require_uppercase_characters {
            rules.push("At least one upper case letter (A–Z).".into());
        }
        if self.require_lowercase_characters {
            rules.push("At least one lower case letter (a–z).".into());
        }
        if self.require_numbers {
            rules.push("At least one number (0–9).".into());
        }
        if self.require_symbols {
            rules.push("At least one of ! @ # $ % ^ & * ( ) _ + - = [ ] { } | '.".into());
        }
        match self.max_password_age {
            Some(days) if self.hard_expiry => rules.push(format!(
                "Passwords expire after {days} days; only an administrator can reset an expired one."
            )),
            Some(days) => rules.push(format!(
                "Passwords expire after {days} days; the user then chooses a new one at sign-in."
            )),
            None => {}
        }
        if let Some(count) = self.password_reuse_prevention {
            rules.push(format!("None of the user's previous {count} passwords."));
        }
        rules.push(if self.allow_users_to_change_password {
            "IAM users may change their own password.".into()
        } else {
            "IAM users may change their own password only if a policy allows iam:ChangePassword."
                .into()
        });
        rules
    }
}

fn violation(message: &str) -> IamError {
    IamError::new(ErrorCode::PasswordPolicyViolation, message)
}

/// The rules of AWS's default password policy, for the console.
pub const DEFAULT_POLICY_RULES: &[&str] = &[
    "At least 8 and at most 128 characters.",
    "At least three of: upper case letters, lower case letters, numbers, other characters.",
    "Not the account's name or e-mail address.",
];

/// AWS's default password policy, which applies while the account sets none: 8 to 128
/// characters, at least three of upper case, lower case, digits and other characters, and
/// not the account's name or e-mail address.
pub fn default_policy_check(
    password: &str,
    account_name: &str,
    email: &str,
) -> Result<(), IamError> {
    let length = password.chars().count();
    if length < 8 {
        return Err(violation("Password should have a minimum length of 8."));
    }
    if length > 128 {
        return Err(violation("Password should have a maximum length of 128."));
    }
    let kinds = [
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 3 {
        return Err(violation(
            "Password should have at least three of: upper case letters, lower case letters, numbers and other characters.",
        ));
    }
    if password.eq_ignore_ascii_case(account_name) || password.eq_ignore_ascii_case(email) {
        return Err(violation(
            "Password should not be the account's name or e-mail address.",
        ));
    }
    Ok(())
}

/// Checks an account alias as the IAM model and AWS's sign-in rules say: 3–63 lower case
/// letters, digits and single dashes, starting and ending with a letter or digit. latchkey
/// also refuses an alias of digits only, which sign-in could not tell from an account id.
pub fn validate_alias(alias: &str) -> Result<(), IamError> {
    let invalid = |constraint: &str| {
        IamError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value '{alias}' at 'accountAlias' failed to satisfy constraint: {constraint}"
            ),
        )
    };
    let length = alias.chars().count();
    if length < 3 {
        return Err(invalid(
            "Member must have length greater than or equal to 3",
        ));
    }
    if length > 63 {
        return Err(invalid("Member must have length less than or equal to 63"));
    }
    let bytes = alias.as_bytes();
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let pattern_ok = alias.bytes().all(|b| edge(b) || b == b'-')
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
        && !alias.contains("--");
    if !pattern_ok {
        return Err(invalid(
            "Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
        ));
    }
    if alias.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IamError::new(
            ErrorCode::ValidationError,
            format!("The account alias {alias} is not valid: an alias cannot be only digits."),
        ));
    }
    Ok(())
}

/// Whether a user's console password has expired, and what that means at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordState {
    Valid,
    /// The user must choose a new password at sign-in: an administrator asked for it
    /// (`PasswordResetRequired`), or it expired under a policy without hard expiry.
    MustChange,
    /// Expired under `HardExpiry`: only an administrator can reset it.
    Expired,
}

impl State {
    /// The account's alias, if it has one.
    pub fn account_alias(&self, account_id: &str) -> Option<&String> {
        self.account_aliases.get(account_id)
    }

    /// The account whose alias this is.
    pub fn account_of_alias(&self, alias: &str) -> Option<&String> {
        self.alias_accounts.get(alias)
    }

    /// When this user's password expires under the account's policy, if it does.
    pub fn password_expires(&self, user: &User) -> Option<DateTime<Utc>> {
        let profile = user.login_profile.as_ref()?;
        self.password_policies
            .get(&user.account_id)
            .and_then(|policy| policy.expires(profile.password_changed))
    }

    /// Where a user's console password stands at `at`.
    pub fn password_state(&self, user: &User, at: DateTime<Utc>) -> PasswordState {
        let Some(profile) = &user.login_profile else {
            return PasswordState::Valid;
        };
        let expired = self.password_expires(user).is_some_and(|end| end <= at);
        let hard = self
            .password_policies
            .get(&user.account_id)
            .is_some_and(|p| p.hard_expiry);
        match (expired, hard) {
            (true, true) => PasswordState::Expired,
            (true, false) => PasswordState::MustChange,
            _ if profile.password_reset_required => PasswordState::MustChange,
            _ => PasswordState::Valid,
        }
    }

    /// Checks a new password for a user of `account_id`: the account's policy (or AWS's
    /// default while it sets none).
    fn check_new_password(&self, account_id: &str, password: &str) -> Result<(), IamError> {
        match self.password_policies.get(account_id) {
            Some(policy) => policy.check(password),
            None => {
                let account = self
                    .accounts
                    .get(account_id)
                    .ok_or_else(IamError::service_failure)?;
                default_policy_check(password, &account.name, &account.root_email)
            }
        }
    }
}

/// Whether a password is among the user's current one and previous `count` ones.
fn reused(user: &User, password: &str, count: u32) -> bool {
    let current = user
        .login_profile
        .as_ref()
        .map(|p| p.password_hash.as_str());
    current
        .into_iter()
        .chain(
            user.password_history
                .iter()
                .rev()
                .take((count as usize).saturating_sub(1))
                .map(|h| h.password_hash.as_str()),
        )
        .any(|stored| password::verify(password, stored))
}

/// The changes that give a user a new password: the profile with it, and the old one
/// remembered.
fn set_password_changes(
    user: &User,
    profile: &LoginProfile,
    password_hash: String,
    password_reset_required: bool,
    at: DateTime<Utc>,
) -> Vec<Change> {
    vec![
        Change::RememberPassword(PasswordHistoryRow {
            user_id: user.id.clone(),
            password_hash: profile.password_hash.clone(),
            replaced: at,
        }),
        Change::UpdateLoginProfile {
            profile: LoginProfileRow {
                user_id: user.id.clone(),
                password_hash,
                created: profile.created,
                password_reset_required,
                password_changed: at,
            },
            replaces: profile.password_hash.clone(),
        },
    ]
}

/// A login profile write the store refused: the password changed under it (another
/// instance's write) or the profile is gone.
fn login_profile_changed(_: StoreError) -> IamError {
    IamError::new(
        ErrorCode::EntityTemporarilyUnmodifiable,
        "The login profile was changed by another request. Try again.",
    )
}

fn no_login_profile(user_name: &str) -> IamError {
    IamError::new(
        ErrorCode::NoSuchEntity,
        format!("Login Profile for User {user_name} cannot be found."),
    )
}

impl Directory {
    /// The rules new console passwords of the account follow, in words.
    pub fn password_rules(&self, account_id: &str) -> Vec<String> {
        match self.snapshot().password_policies.get(account_id) {
            Some(policy) => policy.rules(),
            None => DEFAULT_POLICY_RULES
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
        }
    }

    /// Checks a new console password for a user of the account against its policy.
    pub fn check_new_password(&self, account_id: &str, password: &str) -> Result<(), IamError> {
        self.snapshot().check_new_password(account_id, password)
    }

    /// CreateAccountAlias: sets the account's alias, replacing the one it had.
    pub fn create_account_alias(&self, account_id: &str, alias: &str) -> Result<(), IamError> {
        validate_alias(alias)?;
        let taken = || {
            IamError::new(
                ErrorCode::EntityAlreadyExists,
                format!("The account alias {alias} already exists."),
            )
        };
        self.write(|state| {
            match state.account_of_alias(alias) {
                Some(owner) if owner == account_id => return Ok((Vec::new(), ())),
                Some(_) => return Err(taken()),
                None => {}
            }
            Ok((
                vec![Change::SetAccountAlias {
                    account_id: account_id.to_owned(),
                    alias: alias.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// DeleteAccountAlias: the alias must be the account's.
    pub fn delete_account_alias(&self, account_id: &str, alias: &str) -> Result<(), IamError> {
        self.write(|state| {
            if state.account_alias(account_id).map(String::as_str) != Some(alias) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("The account alias {alias} cannot be found."),
                ));
            }
            Ok((
                vec![Change::DeleteAccountAlias {
                    account_id: account_id.to_owned(),
                    alias: alias.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// GetAccountPasswordPolicy: NoSuchEntity while the account sets none, as on AWS.
    pub fn password_policy(&self, account_id: &str) -> Result<PasswordPolicy, IamError> {
        self.snapshot()
            .password_policies
            .get(account_id)
            .map(|p| PasswordPolicy::clone(p))
            .ok_or_else(|| {
                IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("The Password Policy with domain name {account_id} cannot be found."),
                )
            })
    }

    /// UpdateAccountPasswordPolicy: replaces the whole policy.
    pub fn update_password_policy(
        &self,
        account_id: &str,
        policy: PasswordPolicy,
    ) -> Result<(), IamError> {
        self.write(|_| {
            Ok((
                vec![Change::SetPasswordPolicy {
                    account_id: account_id.to_owned(),
                    policy: policy.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// DeleteAccountPasswordPolicy: AWS's default applies again.
    pub fn delete_password_policy(&self, account_id: &str) -> Result<(), IamError> {
        self.write(|state| {
            if !state.password_policies.contains_key(account_id) {
                return Err(IamError::new(
                    ErrorCode::NoSuchEntity,
                    format!("The account policy with name {account_id} cannot be found."),
                ));
            }
            Ok((
                vec![Change::DeletePasswordPolicy {
                    account_id: account_id.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// UpdateLoginProfile: an administrator sets a new password, whether the user must
    /// change it at next sign-in, or both. A new password follows the policy, reuse
    /// prevention included.
    pub fn update_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password: Option<&str>,
        password_reset_required: Option<bool>,
        at: DateTime<Utc>,
    ) -> Result<(), IamError> {
        let hash = match password {
            Some(password) => {
                let state = self.snapshot();
                let user = state
                    .user_by_name(account_id, user_name)
                    .ok_or_else(|| IamError::no_such_user(user_name))?;
                if user.login_profile.is_none() {
                    return Err(no_login_profile(&user.name));
                }
                state.check_new_password(account_id, password)?;
                check_reuse(&state, user, password)?;
                Some(password::hash(password))
            }
            None => None,
        };
        self.write_or(
            |state| {
                let user = state
                    .user_by_name(account_id, user_name)
                    .ok_or_else(|| IamError::no_such_user(user_name))?;
                let profile = user
                    .login_profile
                    .as_ref()
                    .ok_or_else(|| no_login_profile(&user.name))?;
                let reset = password_reset_required.unwrap_or(profile.password_reset_required);
                let changes = match &hash {
                    Some(hash) => set_password_changes(user, profile, hash.clone(), reset, at),
                    None => vec![Change::UpdateLoginProfile {
                        profile: LoginProfileRow {
                            user_id: user.id.clone(),
                            password_hash: profile.password_hash.clone(),
                            created: profile.created,
                            password_reset_required: reset,
                            password_changed: profile.password_changed,
                        },
                        replaces: profile.password_hash.clone(),
                    }],
                };
                Ok((changes, ()))
            },
            login_profile_changed,
        )?;
        Ok(())
    }

    /// DeleteLoginProfile: the user can no longer sign in to the console; its sessions end.
    pub fn delete_login_profile(&self, account_id: &str, user_name: &str) -> Result<(), IamError> {
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            if user.login_profile.is_none() {
                return Err(no_login_profile(&user.name));
            }
            Ok((
                vec![Change::DeleteLoginProfile {
                    user_id: user.id.clone(),
                }],
                (),
            ))
        })?;
        Ok(())
    }

    /// ChangePassword: a user replaces their own password, proving the old one. The caller
    /// has been authorized already.
    pub fn change_password(
        &self,
        user_id: &str,
        old_password: &str,
        new_password: &str,
        at: DateTime<Utc>,
    ) -> Result<(), IamError> {
        let state = self.snapshot();
        let user = own_user(&state, user_id)?;
        let profile = user
            .login_profile
            .as_ref()
            .ok_or_else(|| no_login_profile(&user.name))?;
        if !password::verify(old_password, &profile.password_hash) {
            return Err(IamError::new(
                ErrorCode::AccessDenied,
                "The old password is incorrect.",
            ));
        }
        if state.password_state(user, at) == PasswordState::Expired {
            return Err(IamError::new(
                ErrorCode::AccessDenied,
                "The password has expired and only an administrator can reset it.",
            ));
        }
        self.set_own_password(user_id, new_password, at)
    }

    /// Gives a user the new password they chose (ChangePassword after its proof of the old
    /// one, or the console's sign-in when the password must change): it follows the
    /// account's policy, reuse prevention included, and clears `PasswordResetRequired`.
    pub(crate) fn set_own_password(
        &self,
        user_id: &str,
        new_password: &str,
        at: DateTime<Utc>,
    ) -> Result<(), IamError> {
        let state = self.snapshot();
        let user = own_user(&state, user_id)?;
        let expected = user
            .login_profile
            .as_ref()
            .ok_or_else(|| no_login_profile(&user.name))?
            .password_hash
            .clone();
        state.check_new_password(&user.account_id, new_password)?;
        check_reuse(&state, user, new_password)?;
        drop(state);
        // Hash before taking the writer lock: Argon2 is deliberately slow.
        let hash = password::hash(new_password);
        self.write_or(
            |state| {
                let user = own_user(state, user_id)?;
                let profile = user
                    .login_profile
                    .as_ref()
                    .ok_or_else(|| no_login_profile(&user.name))?;
                // Someone else set a password in between: the one proven is no longer it.
                if profile.password_hash != expected {
                    return Err(login_profile_changed(StoreError::NotFound));
                }
                Ok((
                    set_password_changes(user, profile, hash.clone(), false, at),
                    (),
                ))
            },
            login_profile_changed,
        )?;
        Ok(())
    }
}

fn own_user<'a>(state: &'a State, user_id: &str) -> Result<&'a User, IamError> {
    state
        .users
        .get(user_id)
        .map(|u| &**u)
        .ok_or_else(|| IamError::new(ErrorCode::NoSuchEntity, "The user cannot be found."))
}

/// Refuses a password the user had recently, when the policy asks for it.
fn check_reuse(state: &State, user: &User, password: &str) -> Result<(), IamError> {
    let count = state
        .password_policies
        .get(&user.account_id)
        .and_then(|p| p.password_reuse_prevention);
    if let Some(count) = count
        && reused(user, password, count)
    {
        return Err(violation(&format!(
            "Password should not be one of your previous {count} passwords."
        )));
    }
    Ok(())
}

/// The newest previous passwords kept for a user.
pub(crate) fn trim_history(history: &mut Vec<PasswordHistoryRow>) {
    history.sort_by_key(|h| h.replaced);
    let excess = history.len().saturating_sub(PASSWORD_HISTORY_KEPT);
    history.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        assert!(validate_alias("my-company").is_ok());
        assert!(validate_alias("a1b").is_ok());
        for bad in ["ab", "-abc", "abc-", "a--b", "ABC", "a_b", "123456789012"] {
            let error = validate_alias(bad).unwrap_err();
            assert_eq!(error.code, ErrorCode::ValidationError, "{bad}");
        }
        assert!(validate_alias(&"a".repeat(63)).is_ok());
        assert!(validate_alias(&"a".repeat(64)).is_err());
    }

    #[test]
    fn policy_rules_are_checked_in_order() {
        let policy = PasswordPolicy {
            minimum_password_length: 10,
            require_symbols: true,
            require_numbers: true,
            require_uppercase_characters: true,
            require_lowercase_characters: true,
            ..PasswordPolicy::default()
        };
        let message = |p: &str| policy.check(p).unwrap_err().message;
        assert!(message("Short1!a").contains("minimum length of 10"));
        assert!(message("ALLUPPER123!").contains("lowercase"));
        assert!(message("alllower123!").contains("uppercase"));
        assert!(message("NoNumbersHere!").contains("number"));
        assert!(message("NoSymbols123A").contains("symbol"));
        assert!(policy.check("Good-Password1").is_ok());
        assert!(PasswordPolicy::default().check("abcdef").is_ok());
    }
}
