//! Authenticator apps (TOTP) for identity-store users, asked for on the sign-in pages.
//!
//! The machinery is IAM's virtual MFA ([`crate::mfa`]): RFC 6238 with SHA-1, six digits and
//! 30-second steps, the same windows, and the same replay guard ([`MfaRuntime`]: a code is
//! accepted once, and never one older than the last accepted). A person has at most one
//! authenticator; its seed is sealed under the master key, bound to the user id.
//!
//! Signing in is two steps when a second factor is due: the password yields a sealed,
//! short-lived [`SecondFactorTicket`] naming the user and what the sign-in is for; the MFA
//! code (or, for a person who must enroll first, two consecutive codes of a new
//! authenticator) turns it into the ticket of that purpose. Enrolling shows the seed once;
//! until the two codes confirm it, the seed exists only sealed in the page's form.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Directory;
use crate::error::{ErrorCode, IamError};
use crate::ids::os_rng;
use crate::mfa::{
    ENABLE_WINDOW, SEED_BYTES, SIGN_IN_WINDOW, consecutive_codes, current_step, matching_step,
    qr_code_png, totp, uri_component,
};
use crate::model::MfaRuntime;
use crate::oidc::AuthorizationRequest;
use crate::seal::identity_mfa_seed_aad;
use crate::store::Change;

/// How long a person has between the password and the MFA code (or the enrollment).
const SECOND_FACTOR_TTL: Duration = Duration::minutes(10);
const TICKET_AAD: &[u8] = b"latchkey/identity-mfa-ticket/v1";

/// Whether identity-store users must have an authenticator app to sign in
/// (`identity_center_mfa` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityMfaPolicy {
    /// Everyone signs in with an MFA code; a person without an authenticator sets one up
    /// when accepting the invitation or at their next sign-in. The default, as AWS's for new
    /// instances (it asks for MFA and has people register a device at sign-in).
    #[default]
    Required,
    /// People who set up an authenticator are asked for its code; others sign in with their
    /// password alone.
    Optional,
}

impl IdentityMfaPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "required" => Some(IdentityMfaPolicy::Required),
            "optional" => Some(IdentityMfaPolicy::Optional),
            _ => None,
        }
    }
}

/// A person's authenticator as stored: the seed sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityMfaRow {
    pub user_id: String,
    pub sealed_seed: Vec<u8>,
    pub enabled: DateTime<Utc>,
}

/// A person's authenticator in the snapshot, with the replay guard every snapshot shares.
#[derive(Debug, Clone)]
pub struct IdentityMfa {
    pub row: IdentityMfaRow,
    pub runtime: Arc<MfaRuntime>,
}

/// What a sign-in (or an accepted invitation) is for: what the second factor leads to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SignInPurpose {
    /// Allowing or denying a device authorization (`/device`).
    Device { user_code: String },
    /// Allowing or denying a browser's authorization request (`/authorize`).
    Authorize { request: AuthorizationRequest },
    /// Setting up an authenticator right after setting the password.
    Invitation,
    /// Signing in to the access portal's pages (`/start`).
    Portal,
}

/// Proof that `user_id` gave the right password for `purpose`, pending the second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SecondFactorTicket {
    user_id: String,
    user_name: String,
    purpose: SignInPurpose,
    expires: DateTime<Utc>,
}

/// Where a sign-in stands after the password.
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in: the purpose's ticket (an approval ticket for `/device`, an authorization
    /// ticket for `/authorize`; empty for an invitation).
    Done(String),
    /// The person has an authenticator: ask for its code, with this ticket.
    MfaCode(String),
    /// The person must set up an authenticator first: enroll, with this ticket.
    Enroll(String),
}

/// A new authenticator shown for enrollment: the seed in base32 and as a QR code, once; and
/// the same seed sealed for the form that confirms it.
#[derive(Debug)]
pub struct Enrollment {
    pub base32_seed: Zeroizing<String>,
    pub qr_code_png: Zeroizing<Vec<u8>>,
    pub sealed_seed: String,
}

fn denied(message: &str) -> IamError {
    IamError::new(ErrorCode::OidcAccessDenied, message)
}

fn expired() -> IamError {
    IamError::new(
        ErrorCode::InvalidGrant,
        "The sign-in has expired; sign in again.",
    )
}

fn six_digits(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

impl Directory {
    pub fn identity_mfa_policy(&self) -> IdentityMfaPolicy {
        self.identity_mfa_policy
    }

    /// Whether the identity-store user has an authenticator app.
    pub fn has_identity_mfa(&self, user_id: &str) -> bool {
        self.snapshot().identity_store.mfa.contains_key(user_id)
    }

    /// After the password: done, or the second factor to ask for, by the person's
    /// authenticator and the instance's policy. An invitation asks for enrollment only when
    /// MFA is required and the person has no authenticator.
    pub(crate) fn after_password(
        &self,
        user_id: &str,
        purpose: SignInPurpose,
        at: DateTime<Utc>,
        done: impl FnOnce(SignInPurpose) -> String,
    ) -> SignInStep {
        let state = self.snapshot();
        let enrolled = state.identity_store.mfa.contains_key(user_id);
        // As stored, whatever case the person typed it in.
        let user_name = state
            .identity_store
            .users
            .get(user_id)
            .map(|u| u.attributes.user_name.clone())
            .unwrap_or_default();
        let ticket = |purpose| {
            self.seal_json(
                &SecondFactorTicket {
                    user_id: user_id.to_owned(),
                    user_name: user_name.clone(),
                    purpose,
                    expires: at + SECOND_FACTOR_TTL,
                },
                TICKET_AAD,
            )
        };
        match (&purpose, enrolled, self.identity_mfa_policy) {
            (SignInPurpose::Invitation, true, _) => SignInStep::Done(String::new()),
            // Enrollment is shown at once when required, offered when optional.
            (SignInPurpose::Invitation, false, _) => SignInStep::Enroll(ticket(purpose)),
            (_, true, _) => SignInStep::MfaCode(ticket(purpose)),
            (_, false, IdentityMfaPolicy::Required) => SignInStep::Enroll(ticket(purpose)),
            (_, false, IdentityMfaPolicy::Optional) => SignInStep::Done(done(purpose)),
        }
    }

    fn second_factor_ticket(
        &self,
        ticket: &str,
        at: DateTime<Utc>,
    ) -> Result<SecondFactorTicket, IamError> {
        self.open_json(ticket, TICKET_AAD)
            .filter(|t: &SecondFactorTicket| at < t.expires)
            .ok_or_else(expired)
    }

    /// The user name and purpose a second-factor ticket is for, if it is still valid (for
    /// throttling failures by user and rendering the next step).
    pub fn second_factor_subject(
        &self,
        ticket: &str,
        at: DateTime<Utc>,
    ) -> Option<(String, SignInPurpose)> {
        self.second_factor_ticket(ticket, at)
            .ok()
            .map(|t| (t.user_name, t.purpose))
    }

    /// The ticket of the purpose, once the second factor is given.
    fn finish_sign_in(&self, ticket: SecondFactorTicket, at: DateTime<Utc>) -> String {
        match ticket.purpose {
            SignInPurpose::Invitation => String::new(),
            purpose => self.purpose_ticket(ticket.user_id, purpose, at),
        }
    }

    /// The second step of a sign-in: the code of the person's authenticator, accepted once.
    pub fn verify_identity_mfa(
        &self,
        ticket: &str,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<(String, SignInPurpose), IamError> {
        let ticket = self.second_factor_ticket(ticket, at)?;
        let not_valid = || {
            denied(
                "The MFA code is not correct, or was used already. Wait for the next code and enter it.",
            )
        };
        let code = code.trim();
        if !six_digits(code) {
            return Err(denied(
                "The MFA code is the six digits your authenticator app shows.",
            ));
        }
        let state = self.snapshot();
        let device = state
            .identity_store
            .mfa
            .get(&ticket.user_id)
            .ok_or_else(not_valid)?;
        let seed = self
            .master()
            .open(
                &device.row.sealed_seed,
                &identity_mfa_seed_aad(&ticket.user_id),
            )
            .map_err(|_| IamError::service_failure())?;
        let now = current_step(at);
        let steps = (now + SIGN_IN_WINDOW.start())..=(now + SIGN_IN_WINDOW.end());
        let accepted = matching_step(&totp(&seed)?, code, steps)
            .is_some_and(|step| device.runtime.claim(step));
        if !accepted {
            return Err(not_valid());
        }
        let purpose = ticket.purpose.clone();
        Ok((self.finish_sign_in(ticket, at), purpose))
    }

    /// A new authenticator for the person a ticket names; nothing is stored until
    /// [`Directory::enroll_identity_mfa`] confirms it.
    pub fn begin_identity_mfa(
        &self,
        ticket: &str,
        at: DateTime<Utc>,
    ) -> Result<Enrollment, IamError> {
        let ticket = self.second_factor_ticket(ticket, at)?;
        if self.has_identity_mfa(&ticket.user_id) {
            return Err(denied("An authenticator app is already set up for you."));
        }
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        os_rng().fill_bytes(seed.as_mut());
        let base32_seed = Zeroizing::new(BASE32_NOPAD.encode(seed.as_ref()));
        let uri = Zeroizing::new(format!(
            "otpauth://totp/{}?secret={}&issuer=latchkey",
            uri_component(&ticket.user_name),
            base32_seed.as_str()
        ));
        let sealed = self
            .master()
            .seal(seed.as_ref(), &identity_mfa_seed_aad(&ticket.user_id));
        Ok(Enrollment {
            qr_code_png: Zeroizing::new(qr_code_png(&uri)?),
            base32_seed,
            sealed_seed: data_encoding::BASE64URL_NOPAD.encode(&sealed),
        })
    }

    /// Confirms a new authenticator with two consecutive codes, as EnableMFADevice does,
    /// stores it, and finishes the sign-in the ticket is for.
    pub fn enroll_identity_mfa(
        &self,
        ticket: &str,
        sealed_seed: &str,
        first_code: &str,
        second_code: &str,
        at: DateTime<Utc>,
    ) -> Result<(String, SignInPurpose), IamError> {
        let ticket = self.second_factor_ticket(ticket, at)?;
        let (first_code, second_code) = (first_code.trim(), second_code.trim());
        if !six_digits(first_code) || !six_digits(second_code) {
            return Err(denied(
                "Enter two consecutive codes, six digits each, from your authenticator app.",
            ));
        }
        let sealed = data_encoding::BASE64URL_NOPAD
            .decode(sealed_seed.trim().as_bytes())
            .map_err(|_| expired())?;
        let seed = self
            .master()
            .open(&sealed, &identity_mfa_seed_aad(&ticket.user_id))
            .map_err(|_| expired())?;
        let step = consecutive_codes(&seed, first_code, second_code, at, ENABLE_WINDOW)?
            .ok_or_else(|| {
                denied("The codes are not two consecutive codes of this authenticator. Enter the code shown now, then the next one.")
            })?;
        let ((), state) = self.write(|state| {
            state.identity_store.user(&ticket.user_id)?;
            if state.identity_store.mfa.contains_key(&ticket.user_id) {
                return Err(denied("An authenticator app is already set up for you."));
            }
            Ok((
                vec![Change::EnableIdentityMfa(IdentityMfaRow {
                    user_id: ticket.user_id.clone(),
                    sealed_seed: sealed.clone(),
                    enabled: at,
                })],
                (),
            ))
        })?;
        if let Some(device) = state.identity_store.mfa.get(&ticket.user_id) {
            device.runtime.claim(step);
        }
        let purpose = ticket.purpose.clone();
        Ok((self.finish_sign_in(ticket, at), purpose))
    }

    /// Removes the person's authenticator app, as an administrator does in the console when
    /// it is lost. Its codes stop working with this write; with MFA required, the person
    /// sets up a new one at the next sign-in.
    pub fn remove_identity_mfa(&self, user_id: &str) -> Result<(), IamError> {
        self.write(|state| {
            state.identity_store.user(user_id)?;
            if !state.identity_store.mfa.contains_key(user_id) {
                return Err(IamError::new(
                    ErrorCode::ResourceNotFound,
                    "This user has no authenticator app registered.",
                ));
            }
            Ok((
                vec![Change::DeleteIdentityMfa {
                    user_id: user_id.to_owned(),
                }],
                (),
            ))
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_read_from_its_two_words() {
        assert_eq!(
            IdentityMfaPolicy::parse("required"),
            Some(IdentityMfaPolicy::Required)
        );
        assert_eq!(
            IdentityMfaPolicy::parse("optional"),
            Some(IdentityMfaPolicy::Optional)
        );
        assert_eq!(IdentityMfaPolicy::parse("Required"), None);
        assert_eq!(IdentityMfaPolicy::default(), IdentityMfaPolicy::Required);
    }
}
