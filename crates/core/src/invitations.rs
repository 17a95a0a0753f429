//! Invitations: how a person created in the identity store gets a password.
//!
//! Creating an identity-store user with an e-mail address also creates an invitation, in the
//! same batch: a one-time link, valid for a limited time, to a page where the person sets a
//! password. Only the SHA-256 of the link's token is stored; the token itself exists once, in
//! the message queued for the mailer ([`Directory::take_outgoing_mail`]). Accepting marks the
//! invitation used and sets the password (an Argon2id hash) in one batch, so a link works
//! once even with several instances racing. A new invitation for the same person replaces the
//! ones still pending.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::directory::now;
use crate::error::{ErrorCode, IamError};
use crate::identity_mfa::{SignInPurpose, SignInStep};
use crate::identitystore::UserAttributes;
use crate::ids::os_rng;
use crate::store::{Change, IdentityStoreUserRow};
use crate::{Directory, password};

/// How long an invitation link works unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::days(7);
/// The shortest password an invited person may choose.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Messages queued for the mailer and not yet taken; past this the oldest are dropped (they
/// can be sent again).
const OUTGOING_LIMIT: usize = 1000;

/// A stored invitation: the token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRow {
    /// Lowercase hex SHA-256 of the token.
    pub token_hash: String,
    pub user_id: String,
    pub email: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub accepted: Option<DateTime<Utc>>,
}

/// An identity-store user's password, set through an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPasswordRow {
    pub user_id: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub set: DateTime<Utc>,
}

/// An invitation message for the mailer: the only place the token exists in the clear.
#[derive(Debug)]
pub struct OutgoingInvitation {
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: String,
    pub token: Zeroizing<String>,
    pub expires: DateTime<Utc>,
}

/// What the invitation page shows about a valid link.
#[derive(Debug, Clone)]
pub struct InvitationView {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub expires: DateTime<Utc>,
}

pub fn token_hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

/// The address an invitation goes to: the primary e-mail, else the first.
fn invitation_address(attributes: &UserAttributes) -> Option<&str> {
    attributes
        .emails
        .iter()
        .find(|e| e.primary == Some(true))
        .or_else(|| attributes.emails.first())
        .and_then(|e| e.value.as_deref())
}

fn invalid_link() -> IamError {
    IamError::new(
        ErrorCode::InvalidInvitation,
        "This invitation link is not valid. It may have expired or been used already; ask your administrator to send a new one.",
    )
}

impl Directory {
    /// The invitation change for a user who has an e-mail address, and the message to send
    /// once it is committed.
    pub(crate) fn new_invitation(
        &self,
        user: &IdentityStoreUserRow,
    ) -> Option<(Change, OutgoingInvitation)> {
        let email = invitation_address(&user.attributes)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        os_rng().fill_bytes(bytes.as_mut());
        let token = Zeroizing::new(BASE64URL_NOPAD.encode(bytes.as_ref()));
        let created = now();
        let expires = created + self.invitation_ttl;
        let row = InvitationRow {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            email: email.to_owned(),
            created,
            expires,
            accepted: None,
        };
        let outgoing = OutgoingInvitation {
            user_name: user.attributes.user_name.clone(),
            display_name: user.attributes.display_name.clone(),
            email: email.to_owned(),
            token,
            expires,
        };
        Some((Change::CreateInvitation(row), outgoing))
    }

    /// Queues a committed invitation for the mailer.
    pub(crate) fn queue_mail(&self, outgoing: OutgoingInvitation) {
        let mut queue = self.outgoing_mail.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= OUTGOING_LIMIT {
            queue.pop_front();
        }
        queue.push_back(outgoing);
    }

    /// The invitation messages committed since the last call, oldest first.
    pub fn take_outgoing_mail(&self) -> Vec<OutgoingInvitation> {
        let mut queue = self.outgoing_mail.lock().unwrap_or_else(|p| p.into_inner());
        queue.drain(..).collect()
    }

    /// Sends a new invitation to an identity-store user (by id) who has not set a password
    /// yet. The new link replaces the pending one: the store deletes the pending invitations
    /// in the same transaction, so the previous link stops working on every instance (one
    /// whose snapshot still has it is refused by the store when accepting it). For the
    /// console; AWS's Identity Store API has no such call.
    pub fn resend_invitation(&self, user_id: &str) -> Result<(), IamError> {
        let (outgoing, _) = self.write(|state| {
            let user = state.identity_store.user(user_id)?;
            if state.identity_store.passwords.contains_key(&user.id) {
                return Err(IamError::new(
                    ErrorCode::ValidationError,
                    "The user has already accepted an invitation and set a password.",
                ));
            }
            let (change, outgoing) = self.new_invitation(user).ok_or_else(|| {
                IamError::new(
                    ErrorCode::ValidationError,
                    "The user has no e-mail address to send an invitation to.",
                )
            })?;
            Ok((vec![change], outgoing))
        })?;
        self.queue_mail(outgoing);
        Ok(())
    }

    /// The invitation a link's token names, if it can still be accepted at `at`.
    pub fn invitation(&self, token: &str, at: DateTime<Utc>) -> Result<InvitationView, IamError> {
        let state = self.snapshot();
        let invitation = state
            .identity_store
            .invitations
            .get(&token_hash(token))
            .filter(|i| i.accepted.is_none() && at < i.expires)
            .ok_or_else(invalid_link)?;
        let user = state
            .identity_store
            .users
            .get(&invitation.user_id)
            .ok_or_else(invalid_link)?;
        Ok(InvitationView {
            user_id: user.id.clone(),
            user_name: user.attributes.user_name.clone(),
            email: invitation.email.clone(),
            expires: invitation.expires,
        })
    }

    /// Accepts an invitation: sets the person's password and spends the link, in one batch.
    pub fn accept_invitation(
        &self,
        token: &str,
        new_password: &str,
        at: DateTime<Utc>,
    ) -> Result<InvitationView, IamError> {
        let view = self.invitation(token, at)?;
        if new_password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(IamError::new(
                ErrorCode::ValidationError,
                format!("The password must have at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        if new_password.chars().count() > 128 {
            return Err(IamError::new(
                ErrorCode::ValidationError,
                "The password must have at most 128 characters.",
            ));
        }
        // Hashing takes a while: do it before taking the writer lock.
        let password_hash = password::hash(new_password);
        let hash = token_hash(token);
        self.write(|state| {
            let invitation = state
                .identity_store
                .invitations
                .get(&hash)
                .filter(|i| i.accepted.is_none() && at < i.expires)
                .ok_or_else(invalid_link)?;
            Ok((
                vec![
                    Change::AcceptInvitation {
                        token_hash: hash.clone(),
                        at,
                    },
                    Change::SetIdentityPassword(IdentityPasswordRow {
                        user_id: invitation.user_id.clone(),
                        password_hash: password_hash.clone(),
                        set: at,
                    }),
                ],
                (),
            ))
        })?;
        Ok(view)
    }

    /// What follows setting the password: nothing when the person has an authenticator,
    /// else a ticket to set one up ([`SignInStep::Enroll`]), shown at once when the instance
    /// requires MFA and offered when it is optional.
    pub fn after_invitation(&self, view: &InvitationView, at: DateTime<Utc>) -> SignInStep {
        self.after_password(&view.user_id, SignInPurpose::Invitation, at, |_| {
            String::new()
        })
    }

    /// Whether `password` is the identity-store user's (by user name), in constant time with
    /// respect to the stored hash.
    pub fn verify_identity_password(&self, user_name: &str, password: &str) -> bool {
        let state = self.snapshot();
        let stored = state
            .identity_store
            .users_by_name
            .get(&user_name.to_lowercase())
            .and_then(|id| state.identity_store.passwords.get(id))
            .map(Arc::clone);
        match stored {
            Some(stored) => password::verify(password, &stored.password_hash),
            None => {
                let _ = password::verify(password, password::decoy_hash());
                false
            }
        }
    }
}
