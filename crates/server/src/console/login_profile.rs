//! A user's console password on their Security credentials tab, beyond enabling it:
//! resetting it (UpdateLoginProfile) and removing console access (DeleteLoginProfile).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::users::{user_page, user_path};
use super::{Console, FieldErrors, SignedIn, check_form, error_page, status_of};
use crate::operation::Operation;

const TAB: &str = "security_credentials";

#[derive(Deserialize)]
pub struct ResetForm {
    csrf: String,
    password: String,
    /// Whether the user must choose a new password at their next sign-in.
    require_reset: Option<String>,
}

impl std::fmt::Debug for ResetForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetForm").finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/console-access/reset`: UpdateLoginProfile with a new
/// password.
pub async fn reset(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<ResetForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let require_reset = form.require_reset.is_some();
    let reset_text = require_reset.to_string();
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::UpdateLoginProfile,
        &[
            ("UserName", &name),
            ("Password", "-"),
            ("PasswordResetRequired", &reset_text),
        ],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let at = signed_in.now();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.update_login_profile(
                &account,
                &user_name,
                Some(&form.password),
                Some(require_reset),
                at,
            )
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&format!("{}?tab={TAB}", user_path(&name))).into_response(),
        Err(error) => user_page(
            &console,
            &signed_in,
            &name,
            TAB,
            FieldErrors::at("reset_password", error.message.clone()),
            status_of(&error),
        ),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
}

impl std::fmt::Debug for DeleteForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteForm").finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/console-access/delete`: DeleteLoginProfile; the user's
/// console sessions end with it.
pub async fn delete(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::DeleteLoginProfile,
        &[("UserName", &name)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.delete_login_profile(&account, &user_name)
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&format!("{}?tab={TAB}", user_path(&name))).into_response(),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}
