//! IAM Identity Center in the console: people (with their invitations), groups, permission
//! sets and account assignments.
//!
//! Every page and form runs the awsJson operation the API would run, through the same
//! `execute` functions (`api::identitystore`, `api::ssoadmin`, `api::organizations`), so
//! authorization, validation and errors are the API's own.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::{ErrorCode, IamError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Allowed, Chrome, Console, ConsoleAction, SignedIn, check_form, error_page, render, status_of,
};
use crate::oidc::blocking;
use crate::operation::Operation;

/// The permission sets AWS offers ready-made, each the AWS managed policy of its name.
pub const PREDEFINED: &[&str] = &[
    "AdministratorAccess",
    "Billing",
    "DatabaseAdministrator",
    "DataScientist",
    "NetworkAdministrator",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "SecurityAudit",
    "SupportUser",
    "SystemAdministrator",
    "ViewOnlyAccess",
];

const BASE: &str = "/console/identity-center";

/// Runs one awsJson operation as the signed-in principal, off the async workers.
async fn call(
    console: &Console,
    signed_in: &SignedIn,
    op: Operation,
    input: Value,
) -> Result<Value, IamError> {
    signed_in.run_json(&console.directory, op, input).await
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn items(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The instance and its identity store, which every page names.
struct Instance {
    arn: String,
    store_id: String,
}

async fn instance(console: &Console, signed_in: &SignedIn) -> Result<Instance, IamError> {
    let listed = call(console, signed_in, Operation::ListInstances, json!({})).await?;
    let first = items(&listed, "Instances")
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(Instance {
        arn: text(&first, "InstanceArn").to_owned(),
        store_id: text(&first, "IdentityStoreId").to_owned(),
    })
}

/// Every item of a listing, page after page (`input` is the first page's request, with its
/// `MaxResults`): a page shows every person, group, set, assignment, OU and account, not the
/// first page of them.
async fn all_pages(
    console: &Console,
    signed_in: &SignedIn,
    op: Operation,
    mut input: Value,
    key: &str,
) -> Result<Vec<Value>, IamError> {
    let mut all = Vec::new();
    loop {
        let page = call(console, signed_in, op, input.clone()).await?;
        all.extend(items(&page, key));
        match page.get("NextToken").and_then(Value::as_str) {
            Some(token) => input["NextToken"] = json!(token),
            None => return Ok(all),
        }
    }
}

async fn all_users(
    console: &Console,
    signed_in: &SignedIn,
    store_id: &str,
) -> Result<Vec<Value>, IamError> {
    all_pages(
        console,
        signed_in,
        Operation::IdentityStoreListUsers,
        json!({ "IdentityStoreId": store_id, "MaxResults": 100 }),
        "Users",
    )
    .await
}

async fn all_groups(
    console: &Console,
    signed_in: &SignedIn,
    store_id: &str,
) -> Result<Vec<Value>, IamError> {
    all_pages(
        console,
        signed_in,
        Operation::IdentityStoreListGroups,
        json!({ "IdentityStoreId": store_id, "MaxResults": 100 }),
        "Groups",
    )
    .await
}

/// A permission set by ARN, with its name.
#[derive(Debug, Clone)]
pub struct PermissionSetEntry {
    arn: String,
    name: String,
    description: String,
    session_duration: String,
    policies: Vec<String>,
}

async fn all_permission_sets(
    console: &Console,
    signed_in: &SignedIn,
    instance: &str,
) -> Result<Vec<PermissionSetEntry>, IamError> {
    let listed = all_pages(
        console,
        signed_in,
        Operation::ListPermissionSets,
        json!({ "InstanceArn": instance, "MaxResults": 100 }),
        "PermissionSets",
    )
    .await?;
    let mut sets = Vec::new();
    for arn in listed {
        let arn = arn.as_str().unwrap_or_default().to_owned();
        let described = call(
            console,
            signed_in,
            Operation::DescribePermissionSet,
            json!({ "InstanceArn": instance, "PermissionSetArn": arn }),
        )
        .await?;
        let set = &described["PermissionSet"];
        let policies = call(
            console,
            signed_in,
            Operation::ListManagedPoliciesInPermissionSet,
            json!({ "InstanceArn": instance, "PermissionSetArn": arn }),
        )
        .await?;
        sets.push(PermissionSetEntry {
            name: text(set, "Name").to_owned(),
            description: text(set, "Description").to_owned(),
            session_duration: text(set, "SessionDuration").to_owned(),
            policies: items(&policies, "AttachedManagedPolicies")
                .iter()
                .map(|p| text(p, "Name").to_owned())
                .collect(),
            arn,
        });
    }
    sets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(sets)
}

fn back_to(path: &str) -> Response {
    Redirect::to(path).into_response()
}

// --- the overview and people ---------------------------------------------------------

/// One person in the users table.
#[derive(Debug)]
pub struct PersonRow {
    id: String,
    user_name: String,
    display_name: String,
    email: String,
    /// "Active" once a password is set, else "Invitation sent".
    status: &'static str,
    /// Whether an authenticator app is registered; `None` when the principal may not see
    /// it (`sso-directory:ListMfaDevicesForUser`).
    authenticator: Option<bool>,
}

#[derive(Template)]
#[template(path = "console/ic_users.html")]
struct UsersPage<'a> {
    chrome: &'a Chrome,
    store_id: &'a str,
    start_url: String,
    people: Vec<PersonRow>,
    form: NewPerson,
    errors: BTreeMap<&'static str, String>,
    notice: Option<&'a str>,
}

impl UsersPage<'_> {
    /// The form's fields: name, label, value typed, input type.
    fn fields(&self) -> [(&'static str, &'static str, &str, &'static str); 5] {
        let f = &self.form;
        [
            ("user_name", "Username", &f.user_name, "text"),
            ("email", "E-mail address", &f.email, "email"),
            ("given_name", "First name", &f.given_name, "text"),
            ("family_name", "Last name", &f.family_name, "text"),
            ("display_name", "Display name", &f.display_name, "text"),
        ]
    }

    /// What is wrong with `field`, said next to it.
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewPerson {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
}

/// `GET /console/identity-center` and `/console/identity-center/users`
pub async fn users(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    users_page(
        &console,
        &signed_in,
        NewPerson::default(),
        BTreeMap::new(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn users_page(
    console: &Console,
    signed_in: &SignedIn,
    form: NewPerson,
    errors: BTreeMap<&'static str, String>,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let instance = match instance(console, signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let listed = match all_users(console, signed_in, &instance.store_id).await {
        Ok(users) => users,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    // One check for the column, as AWS's console lists each person's devices.
    let may_list_mfa = directory_action(
        console,
        signed_in,
        "ListMfaDevicesForUser",
        json!({ "identityStoreId": instance.store_id }),
        false,
    )
    .is_ok();
    let state = console.directory.snapshot();
    let people = listed
        .iter()
        .map(|user| {
            let id = text(user, "UserId").to_owned();
            PersonRow {
                authenticator: may_list_mfa.then(|| state.identity_store.mfa.contains_key(&id)),
                user_name: text(user, "UserName").to_owned(),
                display_name: text(user, "DisplayName").to_owned(),
                email: items(user, "Emails")
                    .first()
                    .map(|e| text(e, "Value").to_owned())
                    .unwrap_or_default(),
                status: if state.identity_store.passwords.contains_key(&id) {
                    "Active"
                } else {
                    "Invitation sent"
                },
                id,
            }
        })
        .collect();
    render(
        status,
        &UsersPage {
            chrome: &signed_in.chrome,
            start_url: format!("https://{}.awsapps.com/start", instance.store_id),
            store_id: &instance.store_id,
            people,
            form,
            errors,
            notice,
        },
    )
}

/// `POST /console/identity-center/users`: CreateUser, which sends the invitation.
pub async fn create_person(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<NewPerson>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let mut errors = BTreeMap::new();
    for (field, value, label) in [
        ("user_name", &form.user_name, "a username"),
        ("given_name", &form.given_name, "a first name"),
        ("family_name", &form.family_name, "a last name"),
        ("display_name", &form.display_name, "a display name"),
        ("email", &form.email, "an e-mail address"),
    ] {
        if value.trim().is_empty() {
            errors.insert(field, format!("Enter {label}."));
        }
    }
    if !errors.is_empty() {
        return users_page(
            &console,
            &signed_in,
            form,
            errors,
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let instance = match instance(&console, &signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let input = json!({
        "IdentityStoreId": instance.store_id,
        "UserName": form.user_name.trim(),
        "DisplayName": form.display_name.trim(),
        "Name": { "GivenName": form.given_name.trim(), "FamilyName": form.family_name.trim() },
        "Emails": [{ "Value": form.email.trim(), "Type": "work", "Primary": true }],
    });
    match call(
        &console,
        &signed_in,
        Operation::IdentityStoreCreateUser,
        input,
    )
    .await
    {
        Ok(_) => back_to(&format!("{BASE}/users")),
        Err(error) => {
            let mut errors = BTreeMap::new();
            errors.insert("user_name", error.message);
            users_page(
                &console,
                &signed_in,
                form,
                errors,
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

impl std::fmt::Debug for CsrfOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfOnly").finish_non_exhaustive()
    }
}

/// `POST /console/identity-center/users/{id}/resend`: a new invitation link, the old one
/// void. There is no AWS API for it; whoever may update the person (identitystore:UpdateUser)
/// may resend.
pub async fn resend_invitation(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let instance = match instance(&console, &signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let allowed = super::authorize_identity_store(
        &console.directory,
        &signed_in.caller,
        Operation::IdentityStoreUpdateUser,
        &json!({ "IdentityStoreId": instance.store_id, "UserId": user_id, "Operations": [] }),
    );
    // No API operation resends an invitation, and AWS publishes no event name for it: the
    // event is the directory's, under a name that says what happened, and a refusal is one
    // too.
    let draft = console.directory.audit_enabled().then(|| {
        crate::audit::draft_from(
            &signed_in.caller,
            DIRECTORY_EVENT_SOURCE,
            "ResendInvitation",
            json!({ "IdentityStoreId": instance.store_id, "UserId": user_id }),
            &uuid::Uuid::new_v4().to_string(),
            false,
        )
    });
    if let Err(error) = allowed {
        crate::audit::conclude(&console.directory, draft, &Err::<(), _>(error.clone()));
        return error_page(&error, &signed_in.chrome);
    }
    let directory = console.directory.clone();
    let resent = blocking(move || {
        crate::audit::run(&directory, draft, || directory.resend_invitation(&user_id))
    });
    match resent.await {
        Ok(()) => {
            users_page(
                &console,
                &signed_in,
                NewPerson::default(),
                BTreeMap::new(),
                Some("A new invitation is on its way. The previous link no longer works."),
                StatusCode::OK,
            )
            .await
        }
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}

// --- a person's authenticator app ----------------------------------------------------

/// The `eventSource` of the Identity Center directory's actions.
const DIRECTORY_EVENT_SOURCE: &str = "sso-directory.amazonaws.com";

/// Whether the signed-in principal may take `sso-directory:{name}`. AWS's console manages
/// a person's MFA devices with these actions of the Identity Center directory, which has no
/// public API (`ListMfaDevicesForUser`, `DeleteMfaDeviceForUser` in the Service
/// Authorization Reference, with no resource type: the resource is `*`). As for the
/// Identity Store API, only principals of the management account, which holds the
/// instance, reach it.
fn directory_action(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    parameters: Value,
    mutates: bool,
) -> Result<Allowed, IamError> {
    let action = format!("sso-directory:{name}");
    let center = console.directory.snapshot().identity_store.center.clone();
    let reachable = if center.is_some_and(|c| c.account_id == signed_in.account_id()) {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {action} because the identity store belongs to another account",
                signed_in.session.principal.arn()
            ),
        ))
    };
    signed_in.allow_action(
        &console.directory,
        ConsoleAction {
            event_source: DIRECTORY_EVENT_SOURCE,
            action: &action,
            resource: "*",
            mutates,
        },
        parameters,
        reachable,
    )
}

#[derive(Template)]
#[template(path = "console/ic_authenticator.html")]
struct AuthenticatorPage<'a> {
    chrome: &'a Chrome,
    user_id: &'a str,
    user_name: &'a str,
    display_name: &'a str,
    registered: bool,
    error: Option<&'a str>,
}

/// The id of the instance's identity store, for the events of `sso-directory` actions.
fn store_id(console: &Console) -> String {
    console
        .directory
        .snapshot()
        .identity_store
        .center
        .as_ref()
        .map(|c| c.identity_store_id.clone())
        .unwrap_or_default()
}

/// The person's name and display name, if they exist.
fn person(console: &Console, user_id: &str) -> Option<(String, String)> {
    let state = console.directory.snapshot();
    let user = state.identity_store.users.get(user_id)?;
    Some((
        user.attributes.user_name.clone(),
        user.attributes.display_name.clone().unwrap_or_default(),
    ))
}

fn authenticator_page(
    console: &Console,
    signed_in: &SignedIn,
    user_id: &str,
    error: Option<&IamError>,
) -> Response {
    let Some((user_name, display_name)) = person(console, user_id) else {
        return error_page(
            &IamError::new(ErrorCode::ResourceNotFound, "This user does not exist."),
            &signed_in.chrome,
        );
    };
    render(
        error.map_or(StatusCode::OK, status_of),
        &AuthenticatorPage {
            chrome: &signed_in.chrome,
            user_id,
            user_name: &user_name,
            display_name: &display_name,
            registered: console.directory.has_identity_mfa(user_id),
            error: error.map(|e| e.message.as_str()),
        },
    )
}

/// `GET /console/identity-center/users/{id}/authenticator`: whether the person has an
/// authenticator app, and the confirmation to remove it.
pub async fn confirm_remove_authenticator(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
) -> Response {
    let store_id = store_id(&console);
    if let Err(error) = directory_action(
        &console,
        &signed_in,
        "ListMfaDevicesForUser",
        json!({ "identityStoreId": store_id, "userId": user_id }),
        false,
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    authenticator_page(&console, &signed_in, &user_id, None)
}

/// `POST /console/identity-center/users/{id}/authenticator`: removes the person's
/// authenticator app (`sso-directory:DeleteMfaDeviceForUser`), one event in the write's
/// transaction. Its codes stop working at once; with MFA required, the person sets up a new
/// one at the next sign-in.
pub async fn remove_authenticator(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let store_id = store_id(&console);
    let allowed = match directory_action(
        &console,
        &signed_in,
        "DeleteMfaDeviceForUser",
        json!({ "identityStoreId": store_id, "userId": user_id }),
        true,
    ) {
        Ok(allowed) => allowed,
        Err(error) => return authenticator_page(&console, &signed_in, &user_id, Some(&error)),
    };
    let person_id = user_id.clone();
    let removed = signed_in
        .run_allowed(&console.directory, allowed, move |directory| {
            directory.remove_identity_mfa(&person_id)
        })
        .await;
    match removed {
        Ok(()) => {
            let name = person(&console, &user_id)
                .map(|(name, _)| name)
                .unwrap_or_default();
            users_page(
                &console,
                &signed_in,
                NewPerson::default(),
                BTreeMap::new(),
                Some(&format!(
                    "The authenticator app of {name} was removed. Its codes no longer work; {name} sets up a new one at the next sign-in when MFA is required."
                )),
                StatusCode::OK,
            )
            .await
        }
        Err(error) => authenticator_page(&console, &signed_in, &user_id, Some(&error)),
    }
}

// --- groups ----------------------------------------------------------------------------

#[derive(Debug)]
pub struct GroupRow {
    id: String,
    name: String,
    description: String,
    members: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/ic_groups.html")]
struct GroupsPage<'a> {
    chrome: &'a Chrome,
    groups: Vec<GroupRow>,
    /// (user id, user name) of everyone, for the "Add member" choices.
    people: Vec<(String, String)>,
    error: Option<&'a str>,
}

/// `GET /console/identity-center/groups`
pub async fn groups(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    groups_page(&console, &signed_in, None, StatusCode::OK).await
}

async fn groups_page(
    console: &Console,
    signed_in: &SignedIn,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let instance = instance(console, signed_in).await?;
        let users = all_users(console, signed_in, &instance.store_id).await?;
        let names: BTreeMap<String, String> = users
            .iter()
            .map(|u| (text(u, "UserId").to_owned(), text(u, "UserName").to_owned()))
            .collect();
        let mut rows = Vec::new();
        for group in all_groups(console, signed_in, &instance.store_id).await? {
            let id = text(&group, "GroupId").to_owned();
            let memberships = all_pages(
                console,
                signed_in,
                Operation::ListGroupMemberships,
                json!({ "IdentityStoreId": instance.store_id, "GroupId": id, "MaxResults": 100 }),
                "GroupMemberships",
            )
            .await?;
            let members = memberships
                .iter()
                .map(|m| {
                    let user = text(&m["MemberId"], "UserId");
                    (
                        text(m, "MembershipId").to_owned(),
                        names.get(user).cloned().unwrap_or_else(|| user.to_owned()),
                    )
                })
                .collect();
            rows.push(GroupRow {
                name: text(&group, "DisplayName").to_owned(),
                description: text(&group, "Description").to_owned(),
                members,
                id,
            });
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok::<_, IamError>((rows, names.into_iter().collect()))
    };
    match loaded.await {
        Ok((groups, people)) => render(
            status,
            &GroupsPage {
                chrome: &signed_in.chrome,
                groups,
                people,
                error,
            },
        ),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}

#[derive(Debug, Deserialize)]
pub struct GroupForm {
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    membership_id: String,
}

/// `POST /console/identity-center/groups`: CreateGroup.
pub async fn create_group(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<GroupForm>,
) -> Response {
    group_change(&console, &headers, &signed_in, &form, |store| {
        let mut input =
            json!({ "IdentityStoreId": store, "DisplayName": form.display_name.trim() });
        if !form.description.trim().is_empty() {
            input["Description"] = json!(form.description.trim());
        }
        (Operation::IdentityStoreCreateGroup, input)
    })
    .await
}

/// `POST /console/identity-center/groups/{id}/members`: CreateGroupMembership.
pub async fn add_member(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(group_id): Path<String>,
    Form(form): Form<GroupForm>,
) -> Response {
    group_change(&console, &headers, &signed_in, &form, |store| {
        (
            Operation::CreateGroupMembership,
            json!({ "IdentityStoreId": store, "GroupId": group_id, "MemberId": { "UserId": form.user_id } }),
        )
    })
    .await
}

/// `POST /console/identity-center/groups/{id}/members/remove`: DeleteGroupMembership.
pub async fn remove_member(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(_group_id): Path<String>,
    Form(form): Form<GroupForm>,
) -> Response {
    group_change(&console, &headers, &signed_in, &form, |store| {
        (
            Operation::DeleteGroupMembership,
            json!({ "IdentityStoreId": store, "MembershipId": form.membership_id }),
        )
    })
    .await
}

async fn group_change(
    console: &Console,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    form: &GroupForm,
    change: impl FnOnce(&str) -> (Operation, Value),
) -> Response {
    if let Err(refused) = check_form(headers, signed_in, &form.csrf) {
        return refused.into_response();
    }
    let instance = match instance(console, signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let (op, input) = change(&instance.store_id);
    match call(console, signed_in, op, input).await {
        Ok(_) => back_to(&format!("{BASE}/groups")),
        Err(error) => {
            groups_page(
                console,
                signed_in,
                Some(&error.message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

// --- permission sets -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/ic_permission_sets.html")]
struct PermissionSetsPage<'a> {
    chrome: &'a Chrome,
    sets: Vec<PermissionSetEntry>,
    predefined: &'a [&'a str],
    managed: Vec<String>,
    error: Option<&'a str>,
}

/// `GET /console/identity-center/permission-sets`
pub async fn permission_sets(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    permission_sets_page(&console, &signed_in, None, StatusCode::OK).await
}

async fn permission_sets_page(
    console: &Console,
    signed_in: &SignedIn,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let instance = instance(console, signed_in).await?;
        all_permission_sets(console, signed_in, &instance.arn).await
    };
    match loaded.await {
        Ok(sets) => render(
            status,
            &PermissionSetsPage {
                chrome: &signed_in.chrome,
                sets,
                predefined: PREDEFINED,
                managed: latchkey_core::catalog::aws_managed_policies()
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
                error,
            },
        ),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}

#[derive(Debug, Deserialize)]
pub struct PermissionSetForm {
    csrf: String,
    /// `predefined` or `custom`.
    #[serde(default)]
    kind: String,
    #[serde(default)]
    predefined: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    session_hours: String,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    permission_set_arn: String,
}

/// `POST /console/identity-center/permission-sets`: CreatePermissionSet, and for a
/// predefined one, AttachManagedPolicyToPermissionSet with the policy of its name.
pub async fn create_permission_set(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<PermissionSetForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let refuse = |message: &str| {
        let message = message.to_owned();
        let (console, signed_in) = (&console, &signed_in);
        async move {
            permission_sets_page(console, signed_in, Some(&message), StatusCode::BAD_REQUEST).await
        }
    };
    let (name, policy) = if form.kind == "predefined" {
        match PREDEFINED.iter().find(|p| **p == form.predefined) {
            Some(name) => (name.to_string(), Some(policy_arn(name))),
            None => return refuse("Choose a predefined permission set.").await,
        }
    } else {
        (form.name.trim().to_owned(), None)
    };
    if name.is_empty() {
        return refuse("Enter a name for the permission set.").await;
    }
    let hours: u32 = match form.session_hours.trim() {
        "" => 1,
        typed => match typed.parse() {
            Ok(hours) if (1..=12).contains(&hours) => hours,
            _ => {
                return refuse("The session duration is a whole number of hours from 1 to 12.")
                    .await;
            }
        },
    };
    let instance = match instance(&console, &signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let mut input = json!({
        "InstanceArn": instance.arn, "Name": name, "SessionDuration": format!("PT{hours}H"),
    });
    if !form.description.trim().is_empty() {
        input["Description"] = json!(form.description.trim());
    }
    let created = match call(&console, &signed_in, Operation::CreatePermissionSet, input).await {
        Ok(created) => created,
        Err(error) => return refuse(&error.message).await,
    };
    if let Some(policy) = policy {
        let arn = text(&created["PermissionSet"], "PermissionSetArn").to_owned();
        let attach = json!({
            "InstanceArn": instance.arn, "PermissionSetArn": arn, "ManagedPolicyArn": policy,
        });
        if let Err(error) = call(
            &console,
            &signed_in,
            Operation::AttachManagedPolicyToPermissionSet,
            attach,
        )
        .await
        {
            return refuse(&format!(
                "The permission set was created, but its policy was not attached: {}",
                error.message
            ))
            .await;
        }
    }
    back_to(&format!("{BASE}/permission-sets"))
}

fn policy_arn(name: &str) -> String {
    latchkey_core::catalog::aws_managed_policies()
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.arn.clone())
        .unwrap_or_else(|| format!("arn:aws:iam::aws:policy/{name}"))
}

/// `POST /console/identity-center/permission-sets/attach`
pub async fn attach_policy(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<PermissionSetForm>,
) -> Response {
    permission_set_change(
        &console,
        &headers,
        &signed_in,
        &form,
        Operation::AttachManagedPolicyToPermissionSet,
    )
    .await
}

/// `POST /console/identity-center/permission-sets/detach`
pub async fn detach_policy(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<PermissionSetForm>,
) -> Response {
    permission_set_change(
        &console,
        &headers,
        &signed_in,
        &form,
        Operation::DetachManagedPolicyFromPermissionSet,
    )
    .await
}

async fn permission_set_change(
    console: &Console,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    form: &PermissionSetForm,
    op: Operation,
) -> Response {
    if let Err(refused) = check_form(headers, signed_in, &form.csrf) {
        return refused.into_response();
    }
    let instance = match instance(console, signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let input = json!({
        "InstanceArn": instance.arn,
        "PermissionSetArn": form.permission_set_arn,
        "ManagedPolicyArn": policy_arn(&form.policy),
    });
    match call(console, signed_in, op, input).await {
        Ok(_) => back_to(&format!("{BASE}/permission-sets")),
        Err(error) => {
            permission_sets_page(
                console,
                signed_in,
                Some(&error.message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

// --- AWS accounts and assignments ------------------------------------------------------

#[derive(Debug)]
pub struct AssignmentRow {
    principal_type: String,
    principal_id: String,
    principal: String,
    permission_set_arn: String,
    permission_set: String,
}

#[derive(Debug)]
pub struct AccountRow {
    id: String,
    name: String,
    assignments: Vec<AssignmentRow>,
}

/// A root or OU in the tree, with the heading level it is shown at.
#[derive(Debug)]
pub struct Container {
    id: String,
    name: String,
    level: usize,
    empty: bool,
}

/// The tree, flattened in document order: a container opens (`<li>`, its heading and a
/// nested `<ul>`), its OUs and accounts follow, and it closes. Nested lists need no
/// recursion in the template this way.
#[derive(Debug)]
pub enum TreeItem {
    Open(Container),
    Account {
        account: AccountRow,
        parent_id: String,
        level: usize,
    },
    Close {
        empty: bool,
    },
}

impl TreeItem {
    fn opened(&self) -> Option<&Container> {
        match self {
            TreeItem::Open(container) => Some(container),
            _ => None,
        }
    }

    fn account(&self) -> Option<(&AccountRow, &str, usize)> {
        match self {
            TreeItem::Account {
                account,
                parent_id,
                level,
            } => Some((account, parent_id, *level)),
            _ => None,
        }
    }

    /// `Some(empty)` when this closes a container.
    fn closed(&self) -> Option<bool> {
        match self {
            TreeItem::Close { empty } => Some(*empty),
            _ => None,
        }
    }
}

/// A step of the walk over the tree.
enum Work {
    Visit {
        id: String,
        name: String,
        path: String,
        level: usize,
    },
    Emit(TreeItem),
}

/// What the last form on the page said, next to the field it concerns.
#[derive(Debug, Default)]
struct Feedback<'a> {
    status: Option<&'a str>,
    error: Option<&'a str>,
    /// CreateOrganizationalUnit's error, next to the name field.
    ou_error: Option<&'a str>,
    /// MoveAccount's error, next to that account's destination field.
    move_error: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "console/ic_accounts.html")]
struct AccountsPage<'a> {
    chrome: &'a Chrome,
    tree: Vec<TreeItem>,
    containers: Vec<(String, String)>,
    account_count: usize,
    people: Vec<(String, String)>,
    groups: Vec<(String, String)>,
    sets: Vec<PermissionSetEntry>,
    feedback: Feedback<'a>,
}

impl AccountsPage<'_> {
    fn move_error_for(&self, account_id: &str) -> Option<&str> {
        self.feedback
            .move_error
            .filter(|(id, _)| *id == account_id)
            .map(|(_, message)| message)
    }
}

/// `GET /console/identity-center/accounts`
pub async fn accounts(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    accounts_page(&console, &signed_in, Feedback::default(), StatusCode::OK).await
}

/// Every item of an Organizations listing under a parent, page after page.
/// The account's assignments, one ListAccountAssignments per permission set.
async fn assignments_of(
    console: &Console,
    signed_in: &SignedIn,
    instance_arn: &str,
    account_id: &str,
    sets: &[PermissionSetEntry],
    people: &[(String, String)],
    groups: &[(String, String)],
) -> Result<Vec<AssignmentRow>, IamError> {
    let mut assignments = Vec::new();
    for set in sets {
        let found = all_pages(
            console,
            signed_in,
            Operation::ListAccountAssignments,
            json!({ "InstanceArn": instance_arn, "AccountId": account_id, "PermissionSetArn": set.arn }),
            "AccountAssignments",
        )
        .await?;
        for a in found {
            let principal_id = text(&a, "PrincipalId").to_owned();
            let principal_type = text(&a, "PrincipalType").to_owned();
            let named = if principal_type == "GROUP" {
                groups
            } else {
                people
            };
            assignments.push(AssignmentRow {
                principal: named
                    .iter()
                    .find(|(pid, _)| *pid == principal_id)
                    .map(|(_, name)| name.clone())
                    .unwrap_or_else(|| principal_id.clone()),
                principal_type,
                principal_id,
                permission_set_arn: set.arn.clone(),
                permission_set: set.name.clone(),
            });
        }
    }
    Ok(assignments)
}

async fn accounts_page(
    console: &Console,
    signed_in: &SignedIn,
    feedback: Feedback<'_>,
    status: StatusCode,
) -> Response {
    let loaded = async {
        let instance = instance(console, signed_in).await?;
        let people: Vec<(String, String)> = all_users(console, signed_in, &instance.store_id)
            .await?
            .iter()
            .map(|u| (text(u, "UserId").to_owned(), text(u, "UserName").to_owned()))
            .collect();
        let groups: Vec<(String, String)> = all_groups(console, signed_in, &instance.store_id)
            .await?
            .iter()
            .map(|g| {
                (
                    text(g, "GroupId").to_owned(),
                    text(g, "DisplayName").to_owned(),
                )
            })
            .collect();
        let sets = all_permission_sets(console, signed_in, &instance.arn).await?;
        let roots = call(console, signed_in, Operation::ListRoots, json!({})).await?;
        let mut tree = Vec::new();
        let mut containers = Vec::new();
        let mut account_count = 0;
        // Depth first with an explicit stack; what is pushed last comes out first.
        let mut stack: Vec<Work> = items(&roots, "Roots")
            .iter()
            .map(|r| Work::Visit {
                id: text(r, "Id").to_owned(),
                name: "Root".to_owned(),
                path: "Root".to_owned(),
                level: 3,
            })
            .collect();
        while let Some(work) = stack.pop() {
            let (id, name, path, level) = match work {
                Work::Emit(item) => {
                    tree.push(item);
                    continue;
                }
                Work::Visit {
                    id,
                    name,
                    path,
                    level,
                } => (id, name, path, level),
            };
            let units = all_pages(
                console,
                signed_in,
                Operation::ListOrganizationalUnitsForParent,
                json!({ "ParentId": id, "MaxResults": 20 }),
                "OrganizationalUnits",
            )
            .await?;
            let accounts = all_pages(
                console,
                signed_in,
                Operation::ListAccountsForParent,
                json!({ "ParentId": id, "MaxResults": 20 }),
                "Accounts",
            )
            .await?;
            let empty = units.is_empty() && accounts.is_empty();
            containers.push((id.clone(), path.clone()));
            tree.push(TreeItem::Open(Container {
                id: id.clone(),
                name,
                level,
                empty,
            }));
            // Its OUs, then its accounts, then its end.
            stack.push(Work::Emit(TreeItem::Close { empty }));
            let child_level = (level + 1).min(6);
            account_count += accounts.len();
            for account in accounts.iter().rev() {
                let account_id = text(account, "Id").to_owned();
                let assignments = assignments_of(
                    console,
                    signed_in,
                    &instance.arn,
                    &account_id,
                    &sets,
                    &people,
                    &groups,
                )
                .await?;
                stack.push(Work::Emit(TreeItem::Account {
                    account: AccountRow {
                        name: text(account, "Name").to_owned(),
                        id: account_id,
                        assignments,
                    },
                    parent_id: id.clone(),
                    level: child_level,
                }));
            }
            for unit in units.iter().rev() {
                let unit_name = text(unit, "Name").to_owned();
                stack.push(Work::Visit {
                    id: text(unit, "Id").to_owned(),
                    path: format!("{path} / {unit_name}"),
                    name: unit_name,
                    level: child_level,
                });
            }
        }
        Ok::<_, IamError>((tree, containers, account_count, people, groups, sets))
    };
    match loaded.await {
        Ok((tree, containers, account_count, people, groups, sets)) => render(
            status,
            &AccountsPage {
                chrome: &signed_in.chrome,
                tree,
                containers,
                account_count,
                people,
                groups,
                sets,
                feedback,
            },
        ),
        Err(error) => error_page(&error, &signed_in.chrome),
    }
}

#[derive(Debug, Deserialize)]
pub struct AssignmentForm {
    csrf: String,
    account_id: String,
    /// `USER:<id>` or `GROUP:<id>`.
    principal: String,
    permission_set_arn: String,
}

/// `POST /console/identity-center/accounts/assign`: CreateAccountAssignment, and the
/// provisioning status it reports.
pub async fn assign(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<AssignmentForm>,
) -> Response {
    assignment_change(&console, &headers, &signed_in, &form, true).await
}

/// `POST /console/identity-center/accounts/unassign`: DeleteAccountAssignment.
pub async fn unassign(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<AssignmentForm>,
) -> Response {
    assignment_change(&console, &headers, &signed_in, &form, false).await
}

async fn assignment_change(
    console: &Console,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    form: &AssignmentForm,
    create: bool,
) -> Response {
    if let Err(refused) = check_form(headers, signed_in, &form.csrf) {
        return refused.into_response();
    }
    let Some((principal_type, principal_id)) = form.principal.split_once(':') else {
        let feedback = Feedback {
            error: Some("Choose a user or a group."),
            ..Feedback::default()
        };
        return accounts_page(console, signed_in, feedback, StatusCode::BAD_REQUEST).await;
    };
    let instance = match instance(console, signed_in).await {
        Ok(instance) => instance,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let input = json!({
        "InstanceArn": instance.arn,
        "TargetId": form.account_id,
        "TargetType": "AWS_ACCOUNT",
        "PermissionSetArn": form.permission_set_arn,
        "PrincipalType": principal_type,
        "PrincipalId": principal_id,
    });
    let (op, key) = if create {
        (
            Operation::CreateAccountAssignment,
            "AccountAssignmentCreationStatus",
        )
    } else {
        (
            Operation::DeleteAccountAssignment,
            "AccountAssignmentDeletionStatus",
        )
    };
    match call(console, signed_in, op, input).await {
        Ok(result) => {
            let status = &result[key];
            let said = match text(status, "FailureReason") {
                "" => format!("Provisioning: {}.", text(status, "Status")),
                reason => format!("Provisioning: {}. {reason}", text(status, "Status")),
            };
            let feedback = Feedback {
                status: Some(&said),
                ..Feedback::default()
            };
            accounts_page(console, signed_in, feedback, StatusCode::OK).await
        }
        Err(error) => {
            let feedback = Feedback {
                error: Some(&error.message),
                ..Feedback::default()
            };
            accounts_page(console, signed_in, feedback, StatusCode::BAD_REQUEST).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct OuForm {
    csrf: String,
    parent_id: String,
    name: String,
}

/// `POST /console/identity-center/accounts/ou`: CreateOrganizationalUnit.
pub async fn create_ou(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<OuForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let name = form.name.trim();
    if name.is_empty() {
        let feedback = Feedback {
            ou_error: Some("Enter a name for the organizational unit."),
            ..Feedback::default()
        };
        return accounts_page(&console, &signed_in, feedback, StatusCode::BAD_REQUEST).await;
    }
    let input = json!({ "ParentId": form.parent_id, "Name": name });
    match call(
        &console,
        &signed_in,
        Operation::CreateOrganizationalUnit,
        input,
    )
    .await
    {
        Ok(_) => {
            let said = format!("Organizational unit {name} created.");
            let feedback = Feedback {
                status: Some(&said),
                ..Feedback::default()
            };
            accounts_page(&console, &signed_in, feedback, StatusCode::OK).await
        }
        Err(error) if error.code == latchkey_core::ErrorCode::AccessDenied => {
            error_page(&error, &signed_in.chrome)
        }
        Err(error) => {
            let feedback = Feedback {
                ou_error: Some(&error.message),
                ..Feedback::default()
            };
            accounts_page(&console, &signed_in, feedback, StatusCode::BAD_REQUEST).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    csrf: String,
    account_id: String,
    source_parent_id: String,
    destination_parent_id: String,
}

/// `POST /console/identity-center/accounts/move`: MoveAccount.
pub async fn move_account(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<MoveForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let input = json!({
        "AccountId": form.account_id,
        "SourceParentId": form.source_parent_id,
        "DestinationParentId": form.destination_parent_id,
    });
    match call(&console, &signed_in, Operation::MoveAccount, input).await {
        Ok(_) => {
            let feedback = Feedback {
                status: Some("Account moved."),
                ..Feedback::default()
            };
            accounts_page(&console, &signed_in, feedback, StatusCode::OK).await
        }
        Err(error) if error.code == latchkey_core::ErrorCode::AccessDenied => {
            error_page(&error, &signed_in.chrome)
        }
        Err(error) => {
            let feedback = Feedback {
                move_error: Some((&form.account_id, &error.message)),
                ..Feedback::default()
            };
            accounts_page(&console, &signed_in, feedback, StatusCode::BAD_REQUEST).await
        }
    }
}
