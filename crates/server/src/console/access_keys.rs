//! Access keys in the console: the Create access key wizard (use case, description, the
//! one-time retrieval with the .csv), status changes, and deletion with a confirmation.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::model::{KeyStatus, Tag};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::users::user_path;
use super::{Chrome, Console, SignedIn, check_form, error_page, render};
use crate::operation::Operation;

/// The use cases of AWS's wizard, each with the safer way to do the job where there is one.
pub struct UseCase {
    pub id: &'static str,
    pub label: &'static str,
    /// The recommended alternative; choosing the use case anyway needs an acknowledgment.
    pub alternative: Option<&'static str>,
}

pub const USE_CASES: &[UseCase] = &[
    UseCase {
        id: "cli",
        label: "Command Line Interface (CLI)",
        alternative: Some(
            "Use IAM Identity Center with the AWS CLI v2: run 'aws configure sso' and 'aws sso login', \
             or copy short-term credentials from the access portal. They expire on their own.",
        ),
    },
    UseCase {
        id: "local-code",
        label: "Local code",
        alternative: Some(
            "Use short-term credentials from IAM Identity Center ('aws sso login') in your development \
             environment instead of a long-term key.",
        ),
    },
    UseCase {
        id: "compute",
        label: "Application running on an AWS compute service",
        alternative: Some(
            "Give the compute resource an IAM role (an instance profile, a task or function role): \
             it receives short-term credentials automatically.",
        ),
    },
    UseCase {
        id: "third-party",
        label: "Third-party service",
        alternative: Some(
            "Let the service assume an IAM role with short-term credentials if it can. If it needs a key, \
             give the key only the permissions the service needs, and rotate it.",
        ),
    },
    UseCase {
        id: "outside",
        label: "Application running outside AWS",
        alternative: Some(
            "Prefer short-term credentials obtained through a role. If a long-term key is unavoidable, \
             store it in a secrets manager, scope it narrowly, and rotate it.",
        ),
    },
    UseCase {
        id: "other",
        label: "Other",
        alternative: None,
    },
];

fn find_use_case(id: &str) -> Option<&'static UseCase> {
    USE_CASES.iter().find(|u| u.id == id)
}

/// Description tags are at most 256 characters, as AWS's tag values are.
const DESCRIPTION_MAX: usize = 256;

#[derive(Template)]
#[template(path = "console/key_use_case.html")]
struct UseCasePage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    use_cases: &'a [UseCase],
    chosen: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/key_description.html")]
struct DescriptionPage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    use_case: &'a UseCase,
    description: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/key_retrieve.html")]
pub(super) struct RetrievePage<'a> {
    pub chrome: &'a Chrome,
    /// Whose key it is, as the breadcrumbs name it ("alice", "root user").
    pub owner: &'a str,
    /// Where "Done" leads: the owner's security credentials.
    pub back: String,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub description: &'a str,
    /// Why the description could not be saved, if it could not.
    pub description_error: Option<&'a str>,
    pub csv_href: &'a str,
    pub csv_name: String,
}

/// `GET /console/users/{name}/access-keys/new`: step 1, the use case.
fn use_case_page(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    chosen: &str,
    error: Option<&str>,
) -> Response {
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::CreateAccessKey,
        &[("UserName", name)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        status,
        &UseCasePage {
            chrome: &signed_in.chrome,
            user_name: name,
            use_cases: USE_CASES,
            chosen,
            error,
        },
    )
}

pub async fn use_case(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Response {
    use_case_page(&console, &signed_in, &name, "", None)
}

#[derive(Deserialize)]
pub struct WizardForm {
    csrf: String,
    /// 1: the use case was chosen; 2: the description was given, create the key.
    step: u8,
    #[serde(default)]
    use_case: String,
    #[serde(default)]
    understood: Option<String>,
    #[serde(default)]
    description: String,
}

impl std::fmt::Debug for WizardForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WizardForm")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/access-keys/new`: steps 2 and 3.
pub async fn wizard(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<WizardForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let Some(chosen) = find_use_case(&form.use_case) else {
        return use_case_page(
            &console,
            &signed_in,
            &name,
            "",
            Some("Choose the use case that fits best."),
        );
    };
    if chosen.alternative.is_some() && form.understood.is_none() {
        return use_case_page(
            &console,
            &signed_in,
            &name,
            chosen.id,
            Some("Confirm that you understand the recommendation before going on."),
        );
    }
    let description_page = |error: Option<&str>, status| {
        render(
            status,
            &DescriptionPage {
                chrome: &signed_in.chrome,
                user_name: &name,
                use_case: chosen,
                description: form.description.trim(),
                error,
            },
        )
    };
    if form.step < 2 {
        return description_page(None, StatusCode::OK);
    }
    let description = form.description.trim().to_owned();
    if description.chars().count() > DESCRIPTION_MAX {
        return description_page(
            Some("The description can have at most 256 characters."),
            StatusCode::BAD_REQUEST,
        );
    }
    // Two API calls, each its own event: CreateAccessKey, then TagUser with the tag keyed by
    // the new key's id, which only exists once the key does.
    let create = match signed_in.allow(
        &console.directory,
        Operation::CreateAccessKey,
        &[("UserName", name.as_str())],
    ) {
        Ok(allowed) => allowed,
        Err(error) => return description_page(Some(&error.message), StatusCode::FORBIDDEN),
    };
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    let created = match signed_in
        .run_allowed(&console.directory, create, move |directory| {
            directory.create_access_key(&account, &user_name)
        })
        .await
    {
        Ok(created) => created,
        Err(error) => return description_page(Some(&error.message), StatusCode::CONFLICT),
    };
    // The key exists now: whatever happens to its description, its secret must be shown.
    // The description is a second call (TagUser), with its own event, as AWS stores it: a
    // user tag keyed by the access key id.
    let description_error = if description.is_empty() {
        None
    } else {
        let tag_params = [
            ("UserName", name.as_str()),
            ("Tags.member.1.Key", created.key.id.as_str()),
            ("Tags.member.1.Value", description.as_str()),
        ];
        match signed_in.allow(&console.directory, Operation::TagUser, &tag_params) {
            Err(error) => Some(error.message),
            Ok(allowed) => {
                let (account, user_name) = (signed_in.account_id().to_owned(), name.clone());
                let tag = Tag {
                    key: created.key.id.clone(),
                    value: description.clone(),
                };
                signed_in
                    .run_allowed(&console.directory, allowed, move |directory| {
                        directory.tag_user(&account, &user_name, vec![tag])
                    })
                    .await
                    .err()
                    .map(|error| error.message)
            }
        }
    };
    let secret: &str = &created.key.secret;
    render(
        StatusCode::OK,
        &RetrievePage {
            chrome: &signed_in.chrome,
            owner: &name,
            back: format!("{}?tab=security_credentials", user_path(&name)),
            access_key_id: &created.key.id,
            secret,
            description: &description,
            description_error: description_error.as_deref(),
            csv_href: &csv_href(&created.key.id, secret),
            csv_name: format!("{name}_accessKeys.csv"),
        },
    )
}

/// The .csv AWS's console downloads, as a `data:` link so the secret never makes a second
/// trip to the server: UTF-8 with a byte order mark, a header row, CRLF line ends.
pub(super) fn csv_href(access_key_id: &str, secret: &str) -> Zeroizing<String> {
    let csv = Zeroizing::new(format!(
        "\u{feff}Access key ID,Secret access key\r\n{access_key_id},{secret}\r\n"
    ));
    Zeroizing::new(format!(
        "data:text/csv;charset=utf-8,{}",
        utf8_percent_encode(&csv, NON_ALPHANUMERIC)
    ))
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
}

impl std::fmt::Debug for StatusForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusForm")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn credentials_tab(name: &str) -> Response {
    Redirect::to(&format!("{}?tab=security_credentials", user_path(name))).into_response()
}

/// `POST /console/users/{name}/access-keys/{key}/status`: Activate or Deactivate.
pub async fn set_status(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((name, key)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let Some(status) = KeyStatus::parse(&form.status) else {
        return error_page(
            &latchkey_core::IamError::new(
                latchkey_core::ErrorCode::ValidationError,
                "The status must be Active or Inactive.",
            ),
            &signed_in.chrome,
        );
    };
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::UpdateAccessKey,
        &[("UserName", &name), ("AccessKeyId", &key)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    match signed_in
        .run(&console.directory, move |directory| {
            directory.update_access_key(&account, &user_name, &key, status)
        })
        .await
    {
        Ok(()) => credentials_tab(&name),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}

#[derive(Template)]
#[template(path = "console/key_delete.html")]
struct DeletePage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    access_key_id: &'a str,
    active: bool,
    error: Option<&'a str>,
}

/// `GET /console/users/{name}/access-keys/{key}/delete`: the confirmation, naming the key.
pub async fn confirm_delete(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path((name, key)): Path<(String, String)>,
) -> Response {
    delete_page(&console, &signed_in, &name, &key, None, StatusCode::OK)
}

fn delete_page(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    key: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let state = console.directory.snapshot();
    let owned = state
        .user_by_name(signed_in.account_id(), name)
        .filter(|u| u.access_key_ids.iter().any(|id| id == key))
        .and_then(|_| state.access_keys.get(key));
    let Some(access_key) = owned else {
        return error_page(
            &latchkey_core::IamError::no_such_access_key(key),
            &signed_in.chrome,
        );
    };
    render(
        status,
        &DeletePage {
            chrome: &signed_in.chrome,
            user_name: name,
            access_key_id: key,
            active: access_key.status == KeyStatus::Active,
            error,
        },
    )
}

#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
    #[serde(default)]
    confirmation: String,
}

impl std::fmt::Debug for DeleteForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteForm").finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/access-keys/{key}/delete`: only with the key id typed in.
pub async fn delete(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path((name, key)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if form.confirmation.trim() != key {
        return delete_page(
            &console,
            &signed_in,
            &name,
            &key,
            Some("Type the access key ID exactly to confirm."),
            StatusCode::BAD_REQUEST,
        );
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::DeleteAccessKey,
        &[("UserName", &name), ("AccessKeyId", &key)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    match signed_in
        .run(&console.directory, move |directory| {
            directory.delete_access_key(&account, &user_name, &key)
        })
        .await
    {
        Ok(()) => credentials_tab(&name),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}
