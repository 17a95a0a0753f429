//! IAM users: the list, creating one, and a user's page with its tabs.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use latchkey_core::model::{KeyStatus, Tag, User};
use latchkey_core::policies::Target;
use latchkey_core::{ErrorCode, IamError, validate};
use serde::Deserialize;

use super::dashboard::OLD_KEY_DAYS;
use super::policies::{PolicyChoice, PolicyForm, policy_choices};
use super::{
    Chrome, Console, FieldErrors, SignedIn, age, check_form, date, error_page, render, status_of,
};
use crate::operation::Operation;

const PAGE_SIZE: usize = 20;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    search: String,
    /// `no-mfa`, `old-keys` or `unused-keys`: the dashboard's findings.
    #[serde(default)]
    filter: String,
    #[serde(default)]
    page: usize,
}

/// One row of the users table.
#[derive(Debug)]
pub struct UserRow {
    name: String,
    console_access: bool,
    mfa: bool,
    /// The age of the oldest active key, if any.
    key_age: Option<String>,
    key_age_warning: bool,
    last_activity: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<UserRow>,
    search: &'a str,
    filter: &'a str,
    filter_label: Option<&'static str>,
    page: usize,
    pages: usize,
    total: usize,
}

fn filter_label(filter: &str) -> Option<&'static str> {
    match filter {
        "no-mfa" => Some("Users without MFA"),
        "old-keys" => Some("Users with access keys older than 90 days"),
        "unused-keys" => Some("Users with access keys never used"),
        _ => None,
    }
}

/// `GET /console/users`
pub async fn list(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(error) = signed_in.authorize(&console.directory, Operation::ListUsers, &[]) {
        return error_page(&error, &signed_in.chrome);
    }
    let state = console.directory.snapshot();
    let now = signed_in.now();
    let search = query.search.trim().to_lowercase();
    let matching: Vec<UserRow> = state
        .users_of_account(signed_in.account_id(), None)
        .filter(|user| search.is_empty() || user.name.to_lowercase().contains(&search))
        .filter_map(|user| {
            let keys: Vec<_> = user
                .access_key_ids
                .iter()
                .filter_map(|id| state.access_keys.get(id))
                .collect();
            let active = keys.iter().filter(|k| k.status == KeyStatus::Active);
            let oldest = active.clone().map(|k| k.created).min();
            let old = oldest.is_some_and(|c| now - c > Duration::days(OLD_KEY_DAYS));
            let unused = active.clone().any(|k| k.runtime.last_used().is_none());
            let keep = match query.filter.as_str() {
                "no-mfa" => user.mfa_serials.is_empty(),
                "old-keys" => old,
                "unused-keys" => unused,
                _ => true,
            };
            let last_used: Option<DateTime<Utc>> = keys
                .iter()
                .filter_map(|k| k.runtime.last_used().map(|u| u.at))
                .max();
            keep.then(|| UserRow {
                name: user.name.clone(),
                console_access: user.login_profile.is_some(),
                mfa: !user.mfa_serials.is_empty(),
                key_age: oldest.map(|c| age(c, now)),
                key_age_warning: old,
                last_activity: last_used
                    .map_or_else(|| "Never".to_owned(), |at| age(at, now) + " ago"),
                created: date(user.created),
            })
        })
        .collect();
    let total = matching.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.min(pages - 1);
    let rows = matching
        .into_iter()
        .skip(page * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    render(
        StatusCode::OK,
        &UsersPage {
            chrome: &signed_in.chrome,
            rows,
            search: query.search.trim(),
            filter: &query.filter,
            filter_label: filter_label(&query.filter),
            page,
            pages,
            total,
        },
    )
}

#[derive(Template)]
#[template(path = "console/user_new.html")]
struct NewUserPage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    console_access: bool,
    name_error: Option<&'a str>,
    password_error: Option<&'a str>,
    error: Option<&'a str>,
}

/// `GET /console/users/new`
pub async fn new_form(signed_in: SignedIn) -> Response {
    render(
        StatusCode::OK,
        &NewUserPage {
            chrome: &signed_in.chrome,
            user_name: "",
            console_access: false,
            name_error: None,
            password_error: None,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    user_name: String,
    #[serde(default)]
    console_access: Option<String>,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for NewUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserForm")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// `POST /console/users/new`: CreateUser, and CreateLoginProfile when console access is
/// asked for. Everything is checked before anything is written.
pub async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<NewUserForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let name = form.user_name.trim().to_owned();
    let console_access = form.console_access.is_some();
    let again = |name_error: Option<&str>, password_error: Option<&str>, error: Option<&str>| {
        render(
            StatusCode::BAD_REQUEST,
            &NewUserPage {
                chrome: &signed_in.chrome,
                user_name: &name,
                console_access,
                name_error,
                password_error,
                error,
            },
        )
    };
    if let Err(error) = validate::user_name("userName", &name) {
        return again(Some(&error.message), None, None);
    }
    let params = [("UserName", name.as_str())];
    let mut checks = vec![Operation::CreateUser];
    if console_access {
        checks.push(Operation::CreateLoginProfile);
        if let Err(error) = console
            .directory
            .check_new_password(signed_in.account_id(), &form.password)
        {
            return again(None, Some(&error.message), None);
        }
    }
    for op in checks {
        if let Err(error) = signed_in.authorize(&console.directory, op, &params) {
            return again(None, None, Some(&error.message));
        }
    }
    let account = signed_in.account_id().to_owned();
    let at = signed_in.now();
    let (user_name, password) = (name.clone(), form.password);
    let created = signed_in
        .run(&console.directory, move |directory| {
            directory.create_user(&account, &user_name, None, Vec::new(), None)?;
            if console_access {
                directory.create_login_profile(&account, &user_name, &password, false, at)?;
            }
            Ok(())
        })
        .await;
    match created {
        Ok(()) => Redirect::to(&user_path(&name)).into_response(),
        Err(error) => again(Some(&error.message), None, None),
    }
}

pub fn user_path(name: &str) -> String {
    format!("/console/users/{name}")
}

/// One access key on the Security credentials tab.
#[derive(Debug)]
pub struct KeyRow {
    pub id: String,
    pub description: String,
    pub active: bool,
    pub created: String,
    pub age: String,
    pub old: bool,
    pub last_used: String,
}

#[derive(Debug, Deserialize)]
pub struct Tab {
    #[serde(default)]
    tab: String,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct UserPage<'a> {
    chrome: &'a Chrome,
    user: &'a User,
    arn: String,
    created: String,
    tab: &'a str,
    groups: Vec<String>,
    /// Groups of the account the user is not in, for Add to group.
    other_groups: Vec<String>,
    /// Managed policies not attached to the user, for Attach policy.
    choices: Vec<PolicyChoice>,
    keys: Vec<KeyRow>,
    can_create_key: bool,
    errors: FieldErrors,
}

/// `GET /console/users/{name}[?tab=permissions|groups|tags|security_credentials]`
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Query(tab): Query<Tab>,
) -> Response {
    user_page(
        &console,
        &signed_in,
        &name,
        &tab.tab,
        FieldErrors::none(),
        StatusCode::OK,
    )
}

pub fn user_page(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    tab: &str,
    errors: FieldErrors,
    status: StatusCode,
) -> Response {
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::GetUser,
        &[("UserName", name)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let state = console.directory.snapshot();
    let Some(user) = state.user_by_name(signed_in.account_id(), name).cloned() else {
        return error_page(
            &latchkey_core::IamError::no_such_user(name),
            &signed_in.chrome,
        );
    };
    let tab = match tab {
        "groups" | "tags" | "security_credentials" => tab,
        _ => "permissions",
    };
    let now = signed_in.now();
    let keys = if tab == "security_credentials" {
        if let Err(error) = signed_in.authorize(
            &console.directory,
            Operation::ListAccessKeys,
            &[("UserName", &user.name)],
        ) {
            return error_page(&error, &signed_in.chrome);
        }
        user.access_key_ids
            .iter()
            .filter_map(|id| state.access_keys.get(id))
            .map(|key| KeyRow {
                id: key.id.clone(),
                description: user
                    .tags
                    .iter()
                    .find(|t| t.key == key.id)
                    .map(|t| t.value.clone())
                    .unwrap_or_default(),
                active: key.status == KeyStatus::Active,
                created: date(key.created),
                age: age(key.created, now),
                old: now - key.created > Duration::days(OLD_KEY_DAYS),
                last_used: key.runtime.last_used().map_or_else(
                    || "Never".to_owned(),
                    |u| format!("{} ({}, {})", date(u.at), u.service, u.region),
                ),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut groups: Vec<String> = user
        .group_ids
        .iter()
        .filter_map(|id| state.groups.get(id))
        .map(|g| g.name.clone())
        .collect();
    groups.sort_by_key(|g| g.to_lowercase());
    let other_groups = state
        .groups_of_account(signed_in.account_id(), None)
        .filter(|g| !user.group_ids.contains(&g.id))
        .map(|g| g.name.clone())
        .collect();
    render(
        status,
        &UserPage {
            chrome: &signed_in.chrome,
            arn: user.arn(),
            created: date(user.created),
            user: &user,
            tab,
            groups,
            other_groups,
            choices: policy_choices(&state, signed_in.account_id(), &user.attached_policy_arns),
            can_create_key: user.access_key_ids.len() < latchkey_core::store::ACCESS_KEYS_PER_USER,
            keys,
            errors,
        },
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordForm").finish_non_exhaustive()
    }
}

/// `POST /console/users/{name}/console-access`: CreateLoginProfile.
pub async fn enable_console_access(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::CreateLoginProfile,
        &[("UserName", &name)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let at = signed_in.now();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.create_login_profile(&account, &user_name, &form.password, false, at)
        })
        .await;
    match result {
        Ok(()) => {
            Redirect::to(&format!("{}?tab=security_credentials", user_path(&name))).into_response()
        }
        Err(error) => user_page(
            &console,
            &signed_in,
            &name,
            "security_credentials",
            FieldErrors::at("password", error.message),
            StatusCode::BAD_REQUEST,
        ),
    }
}

/// Re-shows a tab of the user's page with `error` next to `field`.
fn tab_with_error(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    tab: &str,
    field: &'static str,
    error: &IamError,
) -> Response {
    user_page(
        console,
        signed_in,
        name,
        tab,
        FieldErrors::at(field, error.message.clone()),
        status_of(error),
    )
}

fn tab_path(name: &str, tab: &str) -> String {
    format!("{}?tab={tab}", user_path(name))
}

fn choose(what: &str) -> IamError {
    IamError::new(ErrorCode::ValidationError, format!("Choose a {what}."))
}

/// `POST /console/users/{name}/policies`: AttachUserPolicy or DetachUserPolicy.
pub async fn change_policies(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let attaching = form.action == "attach";
    let op = if attaching {
        Operation::AttachUserPolicy
    } else {
        Operation::DetachUserPolicy
    };
    let arn = form.policy_arn.trim().to_owned();
    let again = |error: &IamError| {
        tab_with_error(
            &console,
            &signed_in,
            &name,
            "permissions",
            "policy_arn",
            error,
        )
    };
    if arn.is_empty() {
        return again(&choose("policy"));
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        op,
        &[("UserName", &name), ("PolicyArn", &arn)],
    ) {
        return again(&error);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            let target = Target::User(&user_name);
            if attaching {
                directory.attach_policy(&account, target, &arn)
            } else {
                directory.detach_policy(&account, target, &arn)
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&tab_path(&name, "permissions")).into_response(),
        Err(error) => again(&error),
    }
}

#[derive(Debug, Deserialize)]
pub struct GroupForm {
    csrf: String,
    /// `add` or `remove`.
    action: String,
    #[serde(default)]
    group_name: String,
}

/// `POST /console/users/{name}/groups`: AddUserToGroup or RemoveUserFromGroup.
pub async fn change_groups(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<GroupForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let adding = form.action == "add";
    let op = if adding {
        Operation::AddUserToGroup
    } else {
        Operation::RemoveUserFromGroup
    };
    let group = form.group_name.trim().to_owned();
    let again = |error: &IamError| {
        tab_with_error(&console, &signed_in, &name, "groups", "group_name", error)
    };
    if group.is_empty() {
        return again(&choose("group"));
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        op,
        &[("GroupName", &group), ("UserName", &name)],
    ) {
        return again(&error);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            if adding {
                directory.add_user_to_group(&account, &group, &user_name)
            } else {
                directory.remove_user_from_group(&account, &group, &user_name)
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&tab_path(&name, "groups")).into_response(),
        Err(error) => again(&error),
    }
}

#[derive(Debug, Deserialize)]
pub struct TagForm {
    csrf: String,
    /// `add` or `remove`.
    action: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

/// `POST /console/users/{name}/tags`: TagUser or UntagUser, with the tag in the request
/// context as the API puts it (`aws:RequestTag/…`, `aws:TagKeys`).
pub async fn change_tags(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<TagForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let adding = form.action == "add";
    let key = form.key.trim().to_owned();
    let value = form.value.trim().to_owned();
    let again = |error: &IamError| {
        // Only the value's own constraints are about the value field.
        let field = if error.message.contains(".member.value'") {
            "tag_value"
        } else {
            "tag_key"
        };
        tab_with_error(&console, &signed_in, &name, "tags", field, error)
    };
    let (op, params) = if adding {
        let tag = Tag {
            key: key.clone(),
            value: value.clone(),
        };
        if let Err(error) = validate::tags(std::slice::from_ref(&tag)) {
            return again(&error);
        }
        (
            Operation::TagUser,
            vec![
                ("UserName", name.as_str()),
                ("Tags.member.1.Key", key.as_str()),
                ("Tags.member.1.Value", value.as_str()),
            ],
        )
    } else {
        (
            Operation::UntagUser,
            vec![
                ("UserName", name.as_str()),
                ("TagKeys.member.1", key.as_str()),
            ],
        )
    };
    if let Err(error) = signed_in.authorize(&console.directory, op, &params) {
        return again(&error);
    }
    let account = signed_in.account_id().to_owned();
    let user_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            if adding {
                directory.tag_user(&account, &user_name, vec![Tag { key, value }])
            } else {
                directory.untag_user(&account, &user_name, vec![key])
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&tab_path(&name, "tags")).into_response(),
        Err(error) => again(&error),
    }
}
