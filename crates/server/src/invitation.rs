//! The page behind an invitation link, where an invited person sets a password.
//!
//! Plain HTML with labelled fields, no script, and headers that keep the link's token out of
//! caches and referrers. The token travels in the form as a hidden field, which also makes a
//! cross-site post useless without the link.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use latchkey_core::Directory;
use latchkey_core::identity_mfa::{IdentityMfaPolicy, SignInStep};
use latchkey_core::invitations::{InvitationView, MIN_PASSWORD_CHARS};
use serde::Deserialize;

use crate::html::{escape, page};

#[derive(Debug, Deserialize)]
pub struct Link {
    token: Option<String>,
}

#[derive(Deserialize)]
pub struct SetPassword {
    token: String,
    password: String,
    confirm: String,
}

impl std::fmt::Debug for SetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetPassword { .. }")
    }
}

fn invalid_link(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Invitation not valid",
        &format!("<p role=\"alert\">{}</p>", escape(message)),
    )
}

fn form(token: &str, user_name: &str, email: &str, error: Option<&str>) -> String {
    let alert = error
        .map(|e| format!("<p role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "<p>Welcome, <strong>{user}</strong> ({email}). Choose a password of at least \
         {MIN_PASSWORD_CHARS} characters to finish setting up your account.</p>\n{alert}\
         <form method=\"post\" action=\"/invitation\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"username\" value=\"{user}\" autocomplete=\"username\">\n\
         <p><label for=\"password\">Password</label><br>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"{MIN_PASSWORD_CHARS}\" required></p>\n\
         <p><label for=\"confirm\">Confirm password</label><br>\
         <input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required></p>\n\
         <p><button type=\"submit\">Set password</button></p>\n</form>",
        user = escape(user_name),
        email = escape(email),
        token = escape(token),
    )
}

/// After the password: the authenticator app to set up now (MFA required), the offer to
/// set one up (optional), or nothing more.
async fn password_set(
    directory: &Arc<Directory>,
    view: &InvitationView,
    at: DateTime<Utc>,
) -> Response {
    let done = format!(
        "Your password is set, {}. You can now sign in to the access portal or with aws sso login.",
        view.user_name
    );
    match directory.after_invitation(view, at) {
        SignInStep::Enroll(ticket)
            if directory.identity_mfa_policy() == IdentityMfaPolicy::Required =>
        {
            let intro = format!(
                "Your password is set, {}. Your organization also requires an authenticator app to sign in: set it up now.",
                view.user_name
            );
            crate::second_factor::enrollment(directory, &ticket, &intro).await
        }
        SignInStep::Enroll(ticket) => page(
            StatusCode::OK,
            "Password set",
            &format!(
                "<p role=\"status\">{done}</p>\n\
                 <p>You can add an authenticator app as a second step when you sign in.</p>\n\
                 <form method=\"post\" action=\"/mfa/enroll\">\n\
                 <input type=\"hidden\" name=\"ticket\" value=\"{ticket}\">\n\
                 <p><button type=\"submit\">Set up an authenticator app</button></p>\n</form>",
                done = escape(&done),
                ticket = escape(&ticket),
            ),
        ),
        _ => page(
            StatusCode::OK,
            "Password set",
            &format!("<p role=\"status\">{}</p>", escape(&done)),
        ),
    }
}

/// `GET /invitation?token=...`
pub async fn show(State(directory): State<Arc<Directory>>, Query(link): Query<Link>) -> Response {
    let Some(token) = link.token else {
        return invalid_link("The link has no invitation in it.");
    };
    match directory.invitation(&token, chrono::Utc::now()) {
        Ok(view) => page(
            StatusCode::OK,
            "Set your password",
            &form(&token, &view.user_name, &view.email, None),
        ),
        Err(error) => invalid_link(&error.message),
    }
}

/// `POST /invitation` (token, password, confirm).
pub async fn accept(
    State(directory): State<Arc<Directory>>,
    Form(input): Form<SetPassword>,
) -> Response {
    let at = chrono::Utc::now();
    let view = match directory.invitation(&input.token, at) {
        Ok(view) => view,
        Err(error) => return invalid_link(&error.message),
    };
    if input.password != input.confirm {
        return page(
            StatusCode::BAD_REQUEST,
            "Set your password",
            &form(
                &input.token,
                &view.user_name,
                &view.email,
                Some("The passwords do not match."),
            ),
        );
    }
    let directory_after = directory.clone();
    // Argon2 takes a while: off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        directory
            .accept_invitation(&input.token, &input.password, at)
            .map_err(|e| (e, input.token))
    })
    .await;
    match result {
        Ok(Ok(view)) => password_set(&directory_after, &view, at).await,
        Ok(Err((error, token))) if error.code == latchkey_core::ErrorCode::ValidationError => page(
            StatusCode::BAD_REQUEST,
            "Set your password",
            &form(&token, &view.user_name, &view.email, Some(&error.message)),
        ),
        Ok(Err((error, _))) if error.code == latchkey_core::ErrorCode::InvalidInvitation => {
            invalid_link(&error.message)
        }
        Ok(Err((error, _))) => page(
            StatusCode::from_u16(error.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Something went wrong",
            &format!("<p role=\"alert\">{}</p>", escape(&error.message)),
        ),
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "<p role=\"alert\">Please try again.</p>",
        ),
    }
}
