//! The second step of signing in on the verification pages (`/device`, `/authorize`): the
//! "MFA code" of the person's authenticator app, or setting one up when the instance
//! requires MFA and they have none; and setting one up after accepting an invitation.
//!
//! Each form carries the sealed ticket of the step before (the password was right), never
//! the password. A new authenticator's seed is shown once, as a QR code (an inline PNG, the
//! only thing these pages' Content-Security-Policy lets in) and in base32; the form that
//! confirms it with two consecutive codes carries it sealed, so nothing is stored before
//! that.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use chrono::Utc;
use latchkey_core::identity_mfa::{SignInPurpose, SignInStep};
use latchkey_core::{Directory, ErrorCode, IamError};
use serde::Deserialize;

use crate::html::{escape, page};
use crate::oidc::{Oidc, authorize_approval, blocking, device_approval, too_many_attempts};

#[derive(Deserialize)]
pub struct MfaCode {
    ticket: String,
    mfa_code: String,
}

impl std::fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaCode { .. }")
    }
}

#[derive(Deserialize)]
pub struct Offer {
    ticket: String,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Offer { .. }")
    }
}

#[derive(Deserialize)]
pub struct Confirm {
    ticket: String,
    enrollment: String,
    code1: String,
    code2: String,
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confirm { .. }")
    }
}

/// What follows a right password: the purpose's next page, the MFA code, or enrollment.
pub(crate) async fn next_step(oidc: &Oidc, step: SignInStep, purpose: &SignInPurpose) -> Response {
    match step {
        SignInStep::Done(ticket) => done(oidc, &ticket, purpose).await,
        SignInStep::MfaCode(ticket) => mfa_code_page(&ticket),
        SignInStep::Enroll(ticket) => required_enrollment(&oidc.directory, &ticket).await,
    }
}

/// The form asking for the MFA code, after the password.
pub(crate) fn mfa_code_page(ticket: &str) -> Response {
    page(
        StatusCode::OK,
        "Enter your MFA code",
        &mfa_form(ticket, None),
    )
}

/// Enrollment when the instance requires an authenticator and the person has none.
pub(crate) async fn required_enrollment(directory: &Arc<Directory>, ticket: &str) -> Response {
    enrollment(
        directory,
        ticket,
        "Your organization requires an authenticator app to sign in. Set one up now.",
    )
    .await
}

/// The page of the purpose the person signed in for.
async fn done(oidc: &Oidc, ticket: &str, purpose: &SignInPurpose) -> Response {
    match purpose {
        SignInPurpose::Device { user_code } => device_approval(oidc, ticket, user_code).await,
        SignInPurpose::Authorize { request } => authorize_approval(ticket, &request.client_id),
        SignInPurpose::Portal => crate::console::portal_signed_in(oidc.secure_cookies(), ticket),
        SignInPurpose::Invitation => page(
            StatusCode::OK,
            "Authenticator app set up",
            "<p role=\"status\">Your authenticator app is set up. Sign in with your password \
             and the MFA code it shows, to the access portal or with <code>aws sso login</code>.</p>",
        ),
    }
}

/// An error shown right after the field it is about, and announced.
fn field_error(field: &str, error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<br><span role=\"alert\" id=\"{field}-error\">{}</span>",
                escape(e)
            )
        })
        .unwrap_or_default()
}

fn described_by(field: &str, error: Option<&str>) -> String {
    if error.is_some() {
        format!(" aria-describedby=\"{field}-error\" aria-invalid=\"true\"")
    } else {
        String::new()
    }
}

fn code_input(field: &str, label: &str, error: Option<&str>) -> String {
    format!(
        "<p><label for=\"{field}\">{label}</label><br>\
         <input id=\"{field}\" name=\"{field}\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         pattern=\"[0-9]{{6}}\" maxlength=\"6\" required{described}>{error}</p>\n",
        described = described_by(field, error),
        error = field_error(field, error),
    )
}

fn mfa_form(ticket: &str, error: Option<&str>) -> String {
    format!(
        "<p>Enter the code your authenticator app shows now.</p>\n\
         <form method=\"post\" action=\"/mfa\">\n\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n{input}\
         <p><button type=\"submit\">Sign in</button></p>\n</form>",
        ticket = escape(ticket),
        input = code_input("mfa_code", "MFA code", error),
    )
}

fn confirm_form(ticket: &str, sealed_seed: &str, error: Option<&str>) -> String {
    format!(
        "<form method=\"post\" action=\"/mfa/enroll/confirm\">\n\
         <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n\
         <input type=\"hidden\" name=\"enrollment\" value=\"{sealed}\">\n{first}{second}\
         <p><button type=\"submit\">Confirm</button></p>\n</form>",
        ticket = escape(ticket),
        sealed = escape(sealed_seed),
        first = code_input("code1", "MFA code 1", None),
        second = code_input("code2", "MFA code 2", error),
    )
}

/// A new authenticator: its QR code and seed, shown once, and the form confirming it.
pub(crate) async fn enrollment(directory: &Arc<Directory>, ticket: &str, intro: &str) -> Response {
    let directory = directory.clone();
    let owned = ticket.to_owned();
    let started = blocking(move || directory.begin_identity_mfa(&owned, Utc::now())).await;
    match started {
        Ok(enrollment) => {
            let png = base64::engine::general_purpose::STANDARD.encode(&*enrollment.qr_code_png);
            page(
                StatusCode::OK,
                "Set up an authenticator app",
                &format!(
                    "<p>{intro}</p>\n\
                     <p>Scan this QR code with an authenticator app (such as Google \
                     Authenticator, Microsoft Authenticator or 1Password), or type in the secret \
                     key below. They are shown only this once.</p>\n\
                     <p><img src=\"data:image/png;base64,{png}\" alt=\"QR code of the secret key\" \
                     width=\"240\" height=\"240\"></p>\n\
                     <p>Secret key: <code id=\"secret-key\">{seed}</code></p>\n\
                     <p>Then enter two consecutive codes the app shows: one, wait for it to \
                     change, and the next.</p>\n{form}",
                    intro = escape(intro),
                    seed = escape(&enrollment.base32_seed),
                    form = confirm_form(ticket, &enrollment.sealed_seed, None),
                ),
            )
        }
        Err(error) => expired_or(error),
    }
}

/// A page for an expired ticket or an already set up authenticator: start again.
fn expired_or(error: IamError) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign in",
        &format!("<p role=\"alert\">{}</p>", escape(&error.message)),
    )
}

/// `POST /mfa`: the MFA code after the password.
pub async fn verify(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(input): Form<MfaCode>,
) -> Response {
    let Some((user, _)) = oidc
        .directory
        .second_factor_subject(&input.ticket, Utc::now())
    else {
        return expired_or(IamError::new(
            ErrorCode::InvalidGrant,
            "The sign-in has expired; sign in again.",
        ));
    };
    if let Some(seconds) = oidc.sign_in_failures.wait(peer.ip(), &user) {
        return too_many_attempts(seconds);
    }
    let directory = oidc.directory.clone();
    let ticket = input.ticket.clone();
    let result =
        blocking(move || directory.verify_identity_mfa(&input.ticket, &input.mfa_code, Utc::now()))
            .await;
    match result {
        Ok((next, purpose)) => done(&oidc, &next, &purpose).await,
        Err(error) if error.code == ErrorCode::OidcAccessDenied => {
            oidc.sign_in_failures.fail(peer.ip(), &user);
            page(
                StatusCode::UNAUTHORIZED,
                "Enter your MFA code",
                &mfa_form(&ticket, Some(&error.message)),
            )
        }
        Err(error) => expired_or(error),
    }
}

/// `POST /mfa/enroll`: the offer after an invitation ("Set up an authenticator app").
pub async fn offer(State(oidc): State<Arc<Oidc>>, Form(input): Form<Offer>) -> Response {
    enrollment(
        &oidc.directory,
        &input.ticket,
        "Add a second step to your sign-in.",
    )
    .await
}

/// `POST /mfa/enroll/confirm`: two consecutive codes of the new authenticator.
pub async fn confirm(
    State(oidc): State<Arc<Oidc>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(input): Form<Confirm>,
) -> Response {
    let Some((user, _)) = oidc
        .directory
        .second_factor_subject(&input.ticket, Utc::now())
    else {
        return expired_or(IamError::new(
            ErrorCode::InvalidGrant,
            "The sign-in has expired; sign in again.",
        ));
    };
    if let Some(seconds) = oidc.sign_in_failures.wait(peer.ip(), &user) {
        return too_many_attempts(seconds);
    }
    let directory = oidc.directory.clone();
    let (ticket, sealed) = (input.ticket.clone(), input.enrollment.clone());
    let result = blocking(move || {
        directory.enroll_identity_mfa(
            &input.ticket,
            &input.enrollment,
            &input.code1,
            &input.code2,
            Utc::now(),
        )
    })
    .await;
    match result {
        Ok((next, purpose)) => done(&oidc, &next, &purpose).await,
        Err(error) if error.code == ErrorCode::OidcAccessDenied => {
            oidc.sign_in_failures.fail(peer.ip(), &user);
            page(
                StatusCode::BAD_REQUEST,
                "Set up an authenticator app",
                &format!(
                    "<p>Enter two consecutive codes from the authenticator app you just added.</p>\n{}",
                    confirm_form(&ticket, &sealed, Some(&error.message))
                ),
            )
        }
        Err(error) => expired_or(error),
    }
}
