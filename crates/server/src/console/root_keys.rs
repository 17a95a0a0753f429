//! The root user's own access keys ("My security credentials"): shown only to the root
//! user, with AWS's warning against them, and created only after an explicit
//! acknowledgment.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::model::KeyStatus;
use serde::Deserialize;

use super::access_keys::{RetrievePage, csv_href};
use super::{Chrome, Console, SignedIn, age, check_form, date, error_page, render};
use crate::operation::Operation;

const PATH: &str = "/console/root-keys";

/// One of the root user's keys.
#[derive(Debug)]
pub struct RootKeyRow {
    id: String,
    active: bool,
    created: String,
    age: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "console/root_keys.html")]
struct RootKeysPage<'a> {
    chrome: &'a Chrome,
    keys: Vec<RootKeyRow>,
    can_create: bool,
    error: Option<&'a str>,
}

fn only_root(signed_in: &SignedIn) -> Option<Response> {
    (!signed_in.chrome.is_root).then(|| {
        super::message_page(
            StatusCode::FORBIDDEN,
            "Root user only",
            "Only the root user has root access keys. Sign in as the root user to see them.",
            Some(&signed_in.chrome),
        )
    })
}

/// `GET /console/root-keys`
pub async fn show(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    page(&console, &signed_in, None, StatusCode::OK)
}

fn page(
    console: &Console,
    signed_in: &SignedIn,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    if let Some(refused) = only_root(signed_in) {
        return refused;
    }
    let now = signed_in.now();
    let keys: Vec<RootKeyRow> = console
        .directory
        .root_access_keys(signed_in.account_id())
        .iter()
        .map(|key| RootKeyRow {
            id: key.id.clone(),
            active: key.status == KeyStatus::Active,
            created: date(key.created),
            age: age(key.created, now),
            last_used: key.runtime.last_used().map_or_else(
                || "Never".to_owned(),
                |u| format!("{} ({}, {})", date(u.at), u.service, u.region),
            ),
        })
        .collect();
    render(
        status,
        &RootKeysPage {
            chrome: &signed_in.chrome,
            can_create: keys.len() < latchkey_core::store::ACCESS_KEYS_PER_USER,
            keys,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    #[serde(default)]
    understood: Option<String>,
}

impl std::fmt::Debug for CreateForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateForm").finish_non_exhaustive()
    }
}

/// `POST /console/root-keys`: CreateAccessKey as the root user, after the acknowledgment.
pub async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = only_root(&signed_in) {
        return refused;
    }
    if form.understood.is_none() {
        return page(
            &console,
            &signed_in,
            Some("Confirm that you understand the risk before creating a root access key."),
            StatusCode::BAD_REQUEST,
        );
    }
    if let Err(error) = signed_in.authorize(&console.directory, Operation::CreateAccessKey, &[]) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let created = signed_in
        .run(&console.directory, move |directory| {
            directory.create_root_access_key(&account)
        })
        .await;
    let created = match created {
        Ok(created) => created,
        Err(error) => {
            return page(
                &console,
                &signed_in,
                Some(&error.message),
                StatusCode::CONFLICT,
            );
        }
    };
    let secret: &str = &created.key.secret;
    render(
        StatusCode::OK,
        &RetrievePage {
            chrome: &signed_in.chrome,
            owner: "Root user",
            back: PATH.to_owned(),
            access_key_id: &created.key.id,
            secret,
            description: "",
            description_error: None,
            csv_href: &csv_href(&created.key.id, secret),
            csv_name: "rootkey.csv".to_owned(),
        },
    )
}

#[derive(Deserialize)]
pub struct KeyForm {
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    confirmation: String,
}

impl std::fmt::Debug for KeyForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyForm")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// `POST /console/root-keys/{key}/status`: Activate or Deactivate.
pub async fn set_status(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(key): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = only_root(&signed_in) {
        return refused;
    }
    let Some(status) = KeyStatus::parse(&form.status) else {
        return page(
            &console,
            &signed_in,
            Some("The status must be Active or Inactive."),
            StatusCode::BAD_REQUEST,
        );
    };
    let params = [("AccessKeyId", key.as_str()), ("Status", status.as_str())];
    if let Err(error) = signed_in.authorize(&console.directory, Operation::UpdateAccessKey, &params)
    {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.update_root_access_key(&account, &key, status)
        })
        .await;
    match result {
        Ok(()) => Redirect::to(PATH).into_response(),
        Err(error) => page(
            &console,
            &signed_in,
            Some(&error.message),
            StatusCode::BAD_REQUEST,
        ),
    }
}

/// `POST /console/root-keys/{key}/delete`: only with the key id typed in.
pub async fn delete(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(key): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Some(refused) = only_root(&signed_in) {
        return refused;
    }
    if form.confirmation.trim() != key {
        return page(
            &console,
            &signed_in,
            Some("Type the access key ID exactly to confirm."),
            StatusCode::BAD_REQUEST,
        );
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::DeleteAccessKey,
        &[("AccessKeyId", key.as_str())],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.delete_root_access_key(&account, &key)
        })
        .await;
    match result {
        Ok(()) => Redirect::to(PATH).into_response(),
        Err(error) => page(
            &console,
            &signed_in,
            Some(&error.message),
            StatusCode::BAD_REQUEST,
        ),
    }
}
