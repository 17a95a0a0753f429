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
use latchkey_core::store::{ATTACHED_POLICIES_PER_ENTITY, TAGS_PER_USER};
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

/// Tag rows the Create user page starts with; "Add another tag" adds one, up to the quota.
const FIRST_TAG_ROWS: usize = 1;

/// One group on the Create user page.
#[derive(Debug)]
pub struct GroupChoice {
    name: String,
    policies: usize,
    checked: bool,
}

/// One managed policy on the Create user page.
#[derive(Debug)]
pub struct PolicyPick {
    arn: String,
    name: String,
    aws_managed: bool,
    checked: bool,
}

/// One tag row, as typed, with what is wrong with its key or value.
#[derive(Debug, Default)]
pub struct TagRow {
    key: String,
    value: String,
    key_error: Option<String>,
    value_error: Option<String>,
}

/// What is wrong with the Create user form, each next to its field.
#[derive(Debug, Default)]
struct NewUserErrors {
    name: Option<String>,
    password: Option<String>,
    groups: Option<String>,
    policies: Option<String>,
    boundary: Option<String>,
    tags: Option<String>,
    /// A refusal: nothing was created.
    refused: Option<String>,
}

impl NewUserErrors {
    fn any(&self, tags: &[TagRow]) -> bool {
        self.name.is_some()
            || self.password.is_some()
            || self.groups.is_some()
            || self.policies.is_some()
            || self.boundary.is_some()
            || self.tags.is_some()
            || tags
                .iter()
                .any(|t| t.key_error.is_some() || t.value_error.is_some())
    }
}

#[derive(Template)]
#[template(path = "console/user_new.html")]
struct NewUserPage<'a> {
    chrome: &'a Chrome,
    form: &'a NewUserForm,
    groups: Vec<GroupChoice>,
    policies: Vec<PolicyPick>,
    /// Every managed policy, for the permissions boundary.
    boundaries: Vec<PolicyChoice>,
    errors: NewUserErrors,
    /// Console access was asked for with a password that is not sent back: type it again.
    password_again: bool,
}

impl NewUserPage<'_> {
    fn can_add_tag(&self) -> bool {
        self.form.tags.len() < TAGS_PER_USER
    }
}

/// The Create user form: user details, groups, policies, a boundary and tags at once.
#[derive(Default)]
pub struct NewUserForm {
    csrf: String,
    user_name: String,
    console_access: bool,
    password: String,
    groups: Vec<String>,
    policies: Vec<String>,
    policy_search: String,
    boundary: String,
    tags: Vec<TagRow>,
    /// `search` (filter the policies), `add_tag`, or create.
    action: String,
}

impl std::fmt::Debug for NewUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserForm")
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

impl NewUserForm {
    /// The form's fields; the group, policy and tag fields repeat, in the page's order.
    fn parse(body: &[u8]) -> Self {
        let mut form = NewUserForm::default();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for (name, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match name.as_ref() {
                "csrf" => form.csrf = value,
                "user_name" => form.user_name = value.trim().to_owned(),
                "console_access" => form.console_access = true,
                "password" => form.password = value,
                "group" if !form.groups.contains(&value) => form.groups.push(value),
                "policy" if !form.policies.contains(&value) => form.policies.push(value),
                "policy_search" => form.policy_search = value.trim().to_owned(),
                "boundary" => form.boundary = value,
                "tag_key" => keys.push(value.trim().to_owned()),
                "tag_value" => values.push(value.trim().to_owned()),
                "action" => form.action = value,
                _ => {}
            }
        }
        values.resize(keys.len(), String::new());
        form.tags = keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| TagRow {
                key,
                value,
                ..TagRow::default()
            })
            .collect();
        form
    }

    /// The tags typed, leaving out empty rows.
    fn chosen_tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .filter(|t| !t.key.is_empty() || !t.value.is_empty())
            .map(|t| Tag {
                key: t.key.clone(),
                value: t.value.clone(),
            })
            .collect()
    }
}

/// Checks each tag row as CreateUser's `Tags` are checked (`validate::tags`), and says
/// what is wrong next to the key or the value; too many tags is said for them all.
fn check_tag_rows(rows: &mut [TagRow]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut used = 0;
    for row in rows.iter_mut() {
        if row.key.is_empty() && row.value.is_empty() {
            continue;
        }
        used += 1;
        if row.key.is_empty() {
            row.key_error = Some("Enter a key for this value, or clear the value.".to_owned());
        } else if row.key.chars().count() > 128 {
            row.key_error = Some("A key can have at most 128 characters.".to_owned());
        } else if validate::tag_key(&row.key).is_err() {
            row.key_error = Some(
                "A key can have only letters, digits, spaces and the characters _ . : / = + - @."
                    .to_owned(),
            );
        } else if seen.iter().any(|k| k.eq_ignore_ascii_case(&row.key)) {
            row.key_error =
                Some("This key is already used above. Keys are not case-sensitive.".to_owned());
        } else {
            seen.push(row.key.clone());
        }
        let probe = Tag {
            key: "key".to_owned(),
            value: row.value.clone(),
        };
        if row.value.chars().count() > 256 {
            row.value_error = Some("A value can have at most 256 characters.".to_owned());
        } else if validate::tags(std::slice::from_ref(&probe)).is_err() {
            row.value_error = Some(
                "A value can have only letters, digits, spaces and the characters _ . : / = + - @."
                    .to_owned(),
            );
        }
    }
    (used > TAGS_PER_USER).then(|| {
        format!(
            "A user can have at most {TAGS_PER_USER} tags; remove {}.",
            used - TAGS_PER_USER
        )
    })
}

/// Renders the Create user page for `form` as typed.
fn new_user_page(
    console: &Console,
    signed_in: &SignedIn,
    form: &NewUserForm,
    errors: NewUserErrors,
    status: StatusCode,
) -> Response {
    let state = console.directory.snapshot();
    let account = signed_in.account_id();
    let mut groups: Vec<GroupChoice> = state
        .groups_of_account(account, None)
        .map(|g| GroupChoice {
            name: g.name.clone(),
            policies: g.attached_policy_arns.len(),
            checked: form.groups.contains(&g.name),
        })
        .collect();
    groups.sort_by_key(|g| g.name.to_lowercase());
    let search = form.policy_search.to_lowercase();
    let boundaries = policy_choices(&state, account, &[]);
    let policies = boundaries
        .iter()
        .map(|p| PolicyPick {
            arn: p.arn.clone(),
            name: p.name.clone(),
            aws_managed: p.aws_managed,
            checked: form.policies.contains(&p.arn),
        })
        // A chosen policy stays on the page whatever the search, so it is still sent.
        .filter(|p| p.checked || search.is_empty() || p.name.to_lowercase().contains(&search))
        .collect();
    render(
        status,
        &NewUserPage {
            chrome: &signed_in.chrome,
            form,
            groups,
            policies,
            boundaries,
            errors,
            password_again: form.console_access && !form.password.is_empty(),
        },
    )
}

/// `GET /console/users/new`
pub async fn new_form(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    let form = NewUserForm {
        tags: (0..FIRST_TAG_ROWS).map(|_| TagRow::default()).collect(),
        ..NewUserForm::default()
    };
    new_user_page(
        &console,
        &signed_in,
        &form,
        NewUserErrors::default(),
        StatusCode::OK,
    )
}

/// What happened to one step after the user was created.
#[derive(Debug)]
pub struct StepOutcome {
    what: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/user_created.html")]
struct CreatedPage<'a> {
    chrome: &'a Chrome,
    user_name: &'a str,
    steps: Vec<StepOutcome>,
}

/// A call the Create user page makes once the user exists.
#[derive(Debug, Clone)]
enum Step {
    AddToGroup(String),
    AttachPolicy(String),
    ConsoleAccess,
}

impl Step {
    fn operation(&self) -> Operation {
        match self {
            Step::AddToGroup(_) => Operation::AddUserToGroup,
            Step::AttachPolicy(_) => Operation::AttachUserPolicy,
            Step::ConsoleAccess => Operation::CreateLoginProfile,
        }
    }

    /// The parameters the API call would carry.
    fn params<'a>(&'a self, user_name: &'a str) -> Vec<(&'a str, &'a str)> {
        match self {
            Step::AddToGroup(group) => vec![("GroupName", group), ("UserName", user_name)],
            Step::AttachPolicy(arn) => vec![("UserName", user_name), ("PolicyArn", arn)],
            Step::ConsoleAccess => vec![("UserName", user_name)],
        }
    }

    fn describe(&self) -> String {
        match self {
            Step::AddToGroup(group) => format!("Add the user to the group {group}"),
            Step::AttachPolicy(arn) => format!("Attach the policy {arn}"),
            Step::ConsoleAccess => "Give the user a console password".to_owned(),
        }
    }
}

/// `POST /console/users/new`: CreateUser (with its tags and permissions boundary), then
/// AddUserToGroup for each group, AttachUserPolicy for each policy and CreateLoginProfile,
/// each its own call with its own event. Every call is authorized before the first is
/// made, so a refusal leaves nothing behind; a step that fails once the user exists is
/// reported on the page that follows.
pub async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    body: axum::body::Bytes,
) -> Response {
    let mut form = NewUserForm::parse(&body);
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let no_errors = NewUserErrors::default;
    match form.action.as_str() {
        "search" => {
            return new_user_page(&console, &signed_in, &form, no_errors(), StatusCode::OK);
        }
        "add_tag" => {
            if form.tags.len() < TAGS_PER_USER {
                form.tags.push(TagRow::default());
            }
            return new_user_page(&console, &signed_in, &form, no_errors(), StatusCode::OK);
        }
        _ => {}
    }
    let mut errors = no_errors();
    let name = form.user_name.clone();
    if let Err(error) = validate::user_name("userName", &name) {
        errors.name = Some(error.message);
    }
    let state = console.directory.snapshot();
    let account = signed_in.account_id().to_owned();
    if form.console_access
        && let Err(error) = console
            .directory
            .check_new_password(&account, &form.password)
    {
        errors.password = Some(error.message);
    }
    if let Some(missing) = form
        .groups
        .iter()
        .find(|g| state.group_by_name(&account, g).is_none())
    {
        errors.groups = Some(format!("The group {missing} no longer exists."));
    }
    let known = policy_choices(&state, &account, &[]);
    if let Some(missing) = form
        .policies
        .iter()
        .find(|arn| !known.iter().any(|p| &p.arn == *arn))
    {
        errors.policies = Some(format!("The policy {missing} no longer exists."));
    } else if form.policies.len() > ATTACHED_POLICIES_PER_ENTITY {
        errors.policies = Some(format!(
            "A user can have at most {ATTACHED_POLICIES_PER_ENTITY} managed policies attached directly; {} are chosen. Put the rest in a group's policies.",
            form.policies.len()
        ));
    }
    if !form.boundary.is_empty() && !known.iter().any(|p| p.arn == form.boundary) {
        errors.boundary = Some(format!("The policy {} no longer exists.", form.boundary));
    }
    errors.tags = check_tag_rows(&mut form.tags);
    if errors.any(&form.tags) {
        return new_user_page(&console, &signed_in, &form, errors, StatusCode::BAD_REQUEST);
    }
    drop(state);

    // The calls, as the API would carry them, each authorized before any is made.
    let tags = form.chosen_tags();
    let mut tag_params = Vec::new();
    for (n, tag) in tags.iter().enumerate() {
        tag_params.push((format!("Tags.member.{}.Key", n + 1), tag.key.clone()));
        tag_params.push((format!("Tags.member.{}.Value", n + 1), tag.value.clone()));
    }
    let boundary = (!form.boundary.is_empty()).then(|| form.boundary.clone());
    // CreateUser with tags is authorized as the API does it: iam:TagUser too.
    let mut create_params: Vec<(&str, &str)> = vec![("UserName", name.as_str())];
    create_params.extend(tag_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(arn) = &boundary {
        create_params.push(("PermissionsBoundary", arn.as_str()));
    }
    let refused = |error: IamError| {
        let stop = if error.message.ends_with('.') {
            ""
        } else {
            "."
        };
        let errors = NewUserErrors {
            refused: Some(format!(
                "Nothing was created, because one of the calls this page makes is not allowed. {}{stop} Ask for this permission, or leave out what it is needed for.",
                error.message
            )),
            ..NewUserErrors::default()
        };
        new_user_page(&console, &signed_in, &form, errors, status_of(&error))
    };
    let create_user =
        match signed_in.allow(&console.directory, Operation::CreateUser, &create_params) {
            Ok(allowed) => allowed,
            Err(error) => return refused(error),
        };
    let steps: Vec<Step> = form
        .groups
        .iter()
        .cloned()
        .map(Step::AddToGroup)
        .chain(form.policies.iter().cloned().map(Step::AttachPolicy))
        .chain(form.console_access.then_some(Step::ConsoleAccess))
        .collect();
    for step in &steps {
        if let Err(error) =
            signed_in.allow(&console.directory, step.operation(), &step.params(&name))
        {
            return refused(error);
        }
    }

    // Everything is allowed: the user first, then each step, each its own write and event.
    let (user_name, created_account) = (name.clone(), account.clone());
    let created = signed_in
        .run_allowed(&console.directory, create_user, move |directory| {
            directory.create_user(
                &created_account,
                &user_name,
                None,
                tags,
                boundary.as_deref(),
            )
        })
        .await;
    if let Err(error) = created {
        let status = status_of(&error);
        let mut errors = NewUserErrors::default();
        // The boundary is checked again in CreateUser's transaction.
        if error.code == ErrorCode::InvalidInput && !form.boundary.is_empty() {
            errors.boundary = Some(error.message);
        } else {
            errors.name = Some(error.message);
        }
        return new_user_page(&console, &signed_in, &form, errors, status);
    }
    let at = signed_in.now();
    let mut outcomes = Vec::with_capacity(steps.len());
    for step in steps {
        let what = step.describe();
        // Decided again now that the user exists: its tags are resource tags from here on,
        // as they are for the API call made after CreateUser.
        let allowed =
            match signed_in.allow(&console.directory, step.operation(), &step.params(&name)) {
                Ok(allowed) => allowed,
                Err(error) => {
                    outcomes.push(StepOutcome {
                        what,
                        error: Some(error.message),
                    });
                    continue;
                }
            };
        let (account, user_name) = (account.clone(), name.clone());
        let password = match step {
            Step::ConsoleAccess => std::mem::take(&mut form.password),
            _ => String::new(),
        };
        let result = signed_in
            .run_allowed(&console.directory, allowed, move |directory| match &step {
                Step::AddToGroup(group) => directory.add_user_to_group(&account, group, &user_name),
                Step::AttachPolicy(arn) => {
                    directory.attach_policy(&account, Target::User(&user_name), arn)
                }
                Step::ConsoleAccess => {
                    directory.create_login_profile(&account, &user_name, &password, false, at)
                }
            })
            .await;
        outcomes.push(StepOutcome {
            what,
            error: result.err().map(|e| e.message),
        });
    }
    if outcomes.iter().all(|o| o.error.is_none()) {
        return Redirect::to(&user_path(&name)).into_response();
    }
    let mut steps = vec![StepOutcome {
        what: format!("Create the user {name}"),
        error: None,
    }];
    steps.extend(outcomes);
    render(
        StatusCode::OK,
        &CreatedPage {
            chrome: &signed_in.chrome,
            user_name: &name,
            steps,
        },
    )
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
