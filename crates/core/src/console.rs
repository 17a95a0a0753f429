//! Sign-in and sessions of the web pages: the console and the access portal.
//!
//! In the console, IAM users sign in with their account, user name and console password
//! (their login profile); the root user with the account's e-mail address and root password.
//! A user with an MFA device must then give a code from it. In the access portal, people of
//! the identity store sign in with their user name and password. A signed-in session is a token sealed under
//! the master key, like STS sessions (`docs/design/sessions.md`), so every instance behind a
//! load balancer accepts it without a lookup; signing out spends it, which every instance
//! sees in its snapshot.
//!
//! A session stands for its principal only while the principal can still sign in: deleting
//! the user or its login profile ends its sessions at once, since each request resolves the
//! principal again in the current snapshot.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Directory;
use crate::account_settings::PasswordState;
use crate::error::{ErrorCode, IamError};
use crate::identity_mfa::{SignInPurpose, SignInStep};
use crate::ids;
use crate::invitations::token_hash;
use crate::model::{LoginProfile, Principal, User};
use crate::oidc::SpentTokenRow;
use crate::password;
use crate::state::State;
use crate::store::{Change, LoginProfileRow};

/// How long a console session lasts (AWS signs IAM users out of the console after 12 hours).
pub const SESSION_TTL: Duration = Duration::hours(12);
/// How long an access portal session lasts (Identity Center's default session duration).
pub const PORTAL_SESSION_TTL: Duration = Duration::hours(8);
/// How long the password step's proof waits for the MFA code.
pub const MFA_STEP_TTL: Duration = Duration::minutes(5);

const SESSION_AAD: &[u8] = b"latchkey/console-session/v1";
const MFA_STEP_AAD: &[u8] = b"latchkey/console-mfa-step/v1";

/// AWS's words for every failed sign-in: nothing tells which part was wrong.
pub const SIGN_IN_FAILED: &str = "Your authentication information is incorrect. Please try again.";

/// Who signed in: an IAM user of an account or an account's root user (console), or a
/// person of the identity store (access portal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConsoleIdentity {
    User {
        account_id: String,
        user_id: String,
    },
    Root {
        account_id: String,
    },
    /// A person of the identity store, signed in to the access portal (not the console).
    Portal {
        user_id: String,
    },
}

/// What a session token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionClaims {
    /// Random; the anti-forgery token of the session's forms is derived from it.
    id: String,
    identity: ConsoleIdentity,
    mfa: bool,
    issued: DateTime<Utc>,
    expires: DateTime<Utc>,
}

/// The proof that the password step passed, waiting for the MFA code.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MfaStepClaims {
    identity: ConsoleIdentity,
    expires: DateTime<Utc>,
}

/// The proof that the password (and MFA) steps passed, waiting for the new password the
/// user must choose.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NewPasswordClaims {
    identity: ConsoleIdentity,
    mfa: bool,
    expires: DateTime<Utc>,
}

const NEW_PASSWORD_AAD: &[u8] = b"latchkey/console-new-password/v1";

/// The outcome of the password step.
#[derive(Debug)]
pub enum SignIn {
    /// The password must be changed first: the new password is needed, with this proof of
    /// the steps before.
    NewPasswordRequired { ticket: String },
    /// Signed in: the session token and when it ends.
    Session {
        token: String,
        expires: DateTime<Utc>,
    },
    /// The user has an MFA device: the code is needed, with this proof of the password step.
    MfaRequired { ticket: String },
}

/// A live session, resolved against the current snapshot.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: Principal,
    /// The user, for an IAM user's session.
    pub user: Option<Arc<User>>,
    pub mfa: bool,
    pub expires: DateTime<Utc>,
    /// The token forms must carry: bound to this session, unknowable without its cookie.
    pub csrf_token: String,
}

/// A live access portal session.
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// The identity-store user.
    pub user_id: String,
    pub user_name: String,
    pub expires: DateTime<Utc>,
    pub csrf_token: String,
}

fn sign_in_failed() -> IamError {
    IamError::new(ErrorCode::AccessDenied, SIGN_IN_FAILED)
}

impl Directory {
    /// The password step for an IAM user. `account` is the account id or its alias.
    pub fn console_sign_in_user(
        &self,
        account: &str,
        user_name: &str,
        password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignIn, IamError> {
        let state = self.snapshot();
        let account = account.trim();
        let account = state
            .account_of_alias(&account.to_ascii_lowercase())
            .map_or(account, String::as_str);
        let user = state.user_by_name(account, user_name.trim()).cloned();
        let stored = user
            .as_ref()
            .and_then(|u| u.login_profile.as_ref())
            .map(|p| p.password_hash.as_str());
        let matches = password::verify(password, stored.unwrap_or(password::decoy_hash()));
        let user = match user {
            Some(user) if matches && stored.is_some() => user,
            _ => return Err(sign_in_failed()),
        };
        if state.password_state(&user, at) == PasswordState::Expired {
            return Err(IamError::new(
                ErrorCode::AccessDenied,
                "Your password has expired. Ask your administrator to reset it.",
            ));
        }
        let identity = ConsoleIdentity::User {
            account_id: user.account_id.clone(),
            user_id: user.id.clone(),
        };
        if user.mfa_serials.is_empty() {
            return Ok(self.after_sign_in(&state, &user, identity, false, at));
        }
        Ok(SignIn::MfaRequired {
            ticket: self.seal_json(
                &MfaStepClaims {
                    identity,
                    expires: at + MFA_STEP_TTL,
                },
                MFA_STEP_AAD,
            ),
        })
    }

    /// The password step for a root user, who signs in with the account's e-mail address.
    pub fn console_sign_in_root(
        &self,
        email: &str,
        password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignIn, IamError> {
        let state = self.snapshot();
        let email = email.trim();
        // Member accounts made by Organizations have no root password until one is set.
        let account = state
            .accounts
            .values()
            .find(|a| a.root_email.eq_ignore_ascii_case(email) && !a.root_password_hash.is_empty())
            .cloned();
        let stored = account.as_ref().map(|a| a.root_password_hash.as_str());
        let matches = password::verify(password, stored.unwrap_or(password::decoy_hash()));
        match account {
            Some(account) if matches => Ok(self.new_session(
                ConsoleIdentity::Root {
                    account_id: account.id.clone(),
                },
                false,
                at,
            )),
            _ => Err(sign_in_failed()),
        }
    }

    /// The MFA step: a code from any of the user's devices, each code accepted once.
    pub fn console_sign_in_mfa(
        &self,
        ticket: &str,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<SignIn, IamError> {
        let expired = || {
            IamError::new(
                ErrorCode::AccessDenied,
                "Your sign-in took too long. Sign in again.",
            )
        };
        let claims: MfaStepClaims = self
            .open_json(ticket, MFA_STEP_AAD)
            .filter(|c: &MfaStepClaims| at < c.expires)
            .ok_or_else(expired)?;
        let ConsoleIdentity::User {
            account_id,
            user_id,
        } = &claims.identity
        else {
            return Err(expired());
        };
        let state = self.snapshot();
        let user = state
            .users
            .get(user_id)
            .filter(|u| &u.account_id == account_id && u.login_profile.is_some())
            .cloned()
            .ok_or_else(expired)?;
        let principal = Principal::User(user.clone());
        let proven = user.mfa_serials.iter().any(|serial| {
            self.verify_mfa_code(&principal, serial, code.trim(), at)
                .is_ok()
        });
        if !proven {
            return Err(IamError::new(
                ErrorCode::InvalidAuthenticationCode,
                "The MFA code is not valid. Wait for the next code and try again.",
            ));
        }
        Ok(self.after_sign_in(&state, &user, claims.identity, true, at))
    }

    /// The session, or first the new password the user must choose (an administrator
    /// asked for it, or the password expired).
    fn after_sign_in(
        &self,
        state: &State,
        user: &User,
        identity: ConsoleIdentity,
        mfa: bool,
        at: DateTime<Utc>,
    ) -> SignIn {
        if state.password_state(user, at) == PasswordState::Valid {
            return self.new_session(identity, mfa, at);
        }
        SignIn::NewPasswordRequired {
            ticket: self.seal_json(
                &NewPasswordClaims {
                    identity,
                    mfa,
                    expires: at + MFA_STEP_TTL,
                },
                NEW_PASSWORD_AAD,
            ),
        }
    }

    /// The rules of the password policy the new-password step's user must follow (none
    /// for a ticket that does not open).
    pub fn password_rules_for_ticket(&self, ticket: &str) -> Vec<String> {
        let claims: Option<NewPasswordClaims> = self.open_json(ticket, NEW_PASSWORD_AAD);
        match claims.map(|c| c.identity) {
            Some(ConsoleIdentity::User { account_id, .. }) => self.password_rules(&account_id),
            _ => Vec::new(),
        }
    }

    /// The new-password step: the user chooses a password that follows the account's
    /// policy, and is signed in.
    pub fn console_sign_in_new_password(
        &self,
        ticket: &str,
        new_password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignIn, IamError> {
        let expired = || {
            IamError::new(
                ErrorCode::AccessDenied,
                "Your sign-in took too long. Sign in again.",
            )
        };
        let claims: NewPasswordClaims = self
            .open_json(ticket, NEW_PASSWORD_AAD)
            .filter(|c: &NewPasswordClaims| at < c.expires)
            .ok_or_else(expired)?;
        let ConsoleIdentity::User { user_id, .. } = &claims.identity else {
            return Err(expired());
        };
        self.set_own_password(user_id, new_password, at)?;
        Ok(self.new_session(claims.identity, claims.mfa, at))
    }

    fn new_session(&self, identity: ConsoleIdentity, mfa: bool, at: DateTime<Utc>) -> SignIn {
        let expires = at + SESSION_TTL;
        let token = self.seal_json(
            &SessionClaims {
                id: ids::random_lowercase(32),
                identity,
                mfa,
                issued: at,
                expires,
            },
            SESSION_AAD,
        );
        SignIn::Session { token, expires }
    }

    /// The claims of a session token that is unexpired and not signed out.
    fn open_web_session(&self, token: &str, at: DateTime<Utc>) -> Option<SessionClaims> {
        let claims: SessionClaims = self
            .open_json(token, SESSION_AAD)
            .filter(|c: &SessionClaims| at < c.expires)?;
        let spent = self
            .snapshot()
            .spent_tokens
            .contains_key(&token_hash(token));
        (!spent).then_some(claims)
    }

    /// The console session a token stands for, while it is live and its principal can still
    /// sign in.
    pub fn console_session(&self, token: &str, at: DateTime<Utc>) -> Option<ConsoleSession> {
        let claims = self.open_web_session(token, at)?;
        let state = self.snapshot();
        let (principal, user) = match &claims.identity {
            ConsoleIdentity::User {
                account_id,
                user_id,
            } => {
                let user = state
                    .users
                    .get(user_id)
                    .filter(|u| &u.account_id == account_id && u.login_profile.is_some())?
                    .clone();
                (Principal::User(user.clone()), Some(user))
            }
            ConsoleIdentity::Root { account_id } => {
                state.accounts.get(account_id)?;
                (
                    Principal::Root {
                        account_id: account_id.clone(),
                    },
                    None,
                )
            }
            ConsoleIdentity::Portal { .. } => return None,
        };
        Some(ConsoleSession {
            principal,
            user,
            mfa: claims.mfa,
            expires: claims.expires,
            csrf_token: csrf_token(&claims.id),
        })
    }

    /// The access portal's password step for a person of the identity store: signed in
    /// (the session token), or the second factor their authenticator or the instance's
    /// policy asks for ([`SignInStep`]).
    pub fn portal_sign_in(
        &self,
        user_name: &str,
        password: &str,
        at: DateTime<Utc>,
    ) -> Result<SignInStep, IamError> {
        if !self.verify_identity_password(user_name.trim(), password) {
            return Err(sign_in_failed());
        }
        let user_id = self
            .snapshot()
            .identity_store
            .users_by_name
            .get(&user_name.trim().to_lowercase())
            .cloned()
            .ok_or_else(sign_in_failed)?;
        Ok(
            self.after_password(&user_id, SignInPurpose::Portal, at, |purpose| {
                self.purpose_ticket(user_id.clone(), purpose, at)
            }),
        )
    }

    /// A new access portal session for an identity-store user who has signed in.
    pub(crate) fn new_portal_session(&self, user_id: String, at: DateTime<Utc>) -> String {
        self.seal_json(
            &SessionClaims {
                id: ids::random_lowercase(32),
                identity: ConsoleIdentity::Portal { user_id },
                mfa: false,
                issued: at,
                expires: at + PORTAL_SESSION_TTL,
            },
            SESSION_AAD,
        )
    }

    /// The access portal session a token stands for, while it is live and its person
    /// exists.
    pub fn portal_session(&self, token: &str, at: DateTime<Utc>) -> Option<PortalSession> {
        let claims = self.open_web_session(token, at)?;
        let ConsoleIdentity::Portal { user_id } = &claims.identity else {
            return None;
        };
        let state = self.snapshot();
        let user = state.identity_store.users.get(user_id)?;
        Some(PortalSession {
            user_id: user_id.clone(),
            user_name: user.attributes.user_name.clone(),
            expires: claims.expires,
            csrf_token: csrf_token(&claims.id),
        })
    }

    /// Signs out: the token stops working on every instance.
    pub fn end_session(&self, token: &str, at: DateTime<Utc>) -> Result<(), IamError> {
        let Some(session) = self.open_web_session(token, at) else {
            return Ok(());
        };
        let hash = token_hash(token);
        self.write(|state| {
            if state.spent_tokens.contains_key(&hash) {
                return Ok((Vec::new(), ()));
            }
            Ok((
                vec![Change::SpendToken(SpentTokenRow {
                    token_hash: hash.clone(),
                    spent: at,
                    expires: session.expires,
                })],
                (),
            ))
        })?;
        Ok(())
    }
}

/// The anti-forgery token of a session: a hash of the session's random id, which only the
/// sealed cookie holds.
fn csrf_token(session_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"latchkey/console-csrf/v1\0");
    hasher.update(session_id.as_bytes());
    data_encoding::BASE64URL_NOPAD.encode(&hasher.finalize())
}

impl Directory {
    /// CreateLoginProfile: gives an IAM user a console password.
    pub fn create_login_profile(
        &self,
        account_id: &str,
        user_name: &str,
        password: &str,
        password_reset_required: bool,
        at: DateTime<Utc>,
    ) -> Result<(), IamError> {
        if !self.snapshot().accounts.contains_key(account_id) {
            return Err(IamError::no_such_user(user_name));
        }
        self.check_new_password(account_id, password)?;
        // Hash before taking the writer lock: Argon2 is deliberately slow.
        let password_hash = password::hash(password);
        self.write(|state| {
            let user = state
                .user_by_name(account_id, user_name)
                .ok_or_else(|| IamError::no_such_user(user_name))?;
            if user.login_profile.is_some() {
                return Err(IamError::new(
                    ErrorCode::EntityAlreadyExists,
                    format!("Login Profile for user {} already exists.", user.name),
                ));
            }
            let row = LoginProfileRow {
                user_id: user.id.clone(),
                password_hash: password_hash.clone(),
                created: at,
                password_reset_required,
                password_changed: at,
            };
            Ok((vec![Change::CreateLoginProfile(row)], ()))
        })?;
        Ok(())
    }

    /// GetLoginProfile.
    pub fn login_profile(
        &self,
        account_id: &str,
        user_name: &str,
    ) -> Result<LoginProfile, IamError> {
        let user = self.user(account_id, user_name)?;
        user.login_profile.clone().ok_or_else(|| {
            IamError::new(
                ErrorCode::NoSuchEntity,
                format!("Login Profile for User {} cannot be found.", user.name),
            )
        })
    }
}
