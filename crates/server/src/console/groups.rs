//! IAM groups: the list, creating one, and a group's page with its members and its attached
//! managed policies.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::IamError;
use latchkey_core::model::Group;
use latchkey_core::policies::Target;
use latchkey_core::validate;
use serde::Deserialize;

use super::policies::{PolicyChoice, PolicyForm, policy_choices};
use super::{
    Chrome, Console, FieldErrors, SignedIn, check_form, date, error_page, render, status_of,
};
use crate::operation::Operation;

/// One row of the groups table.
#[derive(Debug)]
pub struct GroupRow {
    name: String,
    members: usize,
    created: String,
}

#[derive(Template)]
#[template(path = "console/groups.html")]
struct GroupsPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<GroupRow>,
}

/// `GET /console/groups`
pub async fn list(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    if let Err(error) = signed_in.authorize(&console.directory, Operation::ListGroups, &[]) {
        return error_page(&error, &signed_in.chrome);
    }
    let state = console.directory.snapshot();
    let rows = state
        .groups_of_account(signed_in.account_id(), None)
        .map(|group| GroupRow {
            name: group.name.clone(),
            members: group.member_ids.len(),
            created: date(group.created),
        })
        .collect();
    render(
        StatusCode::OK,
        &GroupsPage {
            chrome: &signed_in.chrome,
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "console/group_new.html")]
struct NewGroupPage<'a> {
    chrome: &'a Chrome,
    group_name: &'a str,
    errors: FieldErrors,
}

/// `GET /console/groups/new`
pub async fn new_form(signed_in: SignedIn) -> Response {
    render(
        StatusCode::OK,
        &NewGroupPage {
            chrome: &signed_in.chrome,
            group_name: "",
            errors: FieldErrors::none(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct NewGroupForm {
    csrf: String,
    group_name: String,
}

/// `POST /console/groups/new`: CreateGroup.
pub async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<NewGroupForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let name = form.group_name.trim().to_owned();
    let again = |error: &IamError| {
        render(
            status_of(error),
            &NewGroupPage {
                chrome: &signed_in.chrome,
                group_name: &name,
                errors: FieldErrors::at("group_name", error.message.clone()),
            },
        )
    };
    if let Err(error) = validate::name_128("groupName", &name) {
        return again(&error);
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::CreateGroup,
        &[("GroupName", &name)],
    ) {
        return again(&error);
    }
    let account = signed_in.account_id().to_owned();
    let group_name = name.clone();
    match signed_in
        .run(&console.directory, move |directory| {
            directory.create_group(&account, &group_name, None)
        })
        .await
    {
        Ok(_) => Redirect::to(&group_path(&name)).into_response(),
        Err(error) => again(&error),
    }
}

fn group_path(name: &str) -> String {
    format!("/console/groups/{name}")
}

#[derive(Template)]
#[template(path = "console/group.html")]
struct GroupPage<'a> {
    chrome: &'a Chrome,
    group: &'a Group,
    arn: String,
    created: String,
    members: Vec<String>,
    /// Users of the account who are not members, for the Add user list.
    others: Vec<String>,
    attached: Vec<String>,
    /// Why the attached policies are not shown, when ListAttachedGroupPolicies is refused.
    attached_denied: Option<String>,
    choices: Vec<PolicyChoice>,
    errors: FieldErrors,
}

/// `GET /console/groups/{name}`
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Response {
    group_page(
        &console,
        &signed_in,
        &name,
        FieldErrors::none(),
        StatusCode::OK,
    )
}

fn group_page(
    console: &Console,
    signed_in: &SignedIn,
    name: &str,
    errors: FieldErrors,
    status: StatusCode,
) -> Response {
    let directory = &console.directory;
    if let Err(error) = signed_in.authorize(directory, Operation::GetGroup, &[("GroupName", name)])
    {
        return error_page(&error, &signed_in.chrome);
    }
    let state = directory.snapshot();
    let Some(group) = state.group_by_name(signed_in.account_id(), name).cloned() else {
        return error_page(
            &IamError::new(
                latchkey_core::ErrorCode::NoSuchEntity,
                format!("The group with name {name} cannot be found."),
            ),
            &signed_in.chrome,
        );
    };
    let mut members: Vec<String> = group
        .member_ids
        .iter()
        .filter_map(|id| state.users.get(id))
        .map(|u| u.name.clone())
        .collect();
    members.sort_by_key(|n| n.to_lowercase());
    let others = state
        .users_of_account(signed_in.account_id(), None)
        .filter(|u| !group.member_ids.contains(&u.id))
        .map(|u| u.name.clone())
        .collect();
    let attached_denied = signed_in
        .authorize(
            directory,
            Operation::ListAttachedGroupPolicies,
            &[("GroupName", name)],
        )
        .err()
        .map(|e| e.message);
    let attached = if attached_denied.is_none() {
        group.attached_policy_arns.clone()
    } else {
        Vec::new()
    };
    render(
        status,
        &GroupPage {
            chrome: &signed_in.chrome,
            arn: group.arn(),
            created: date(group.created),
            group: &group,
            members,
            others,
            choices: policy_choices(&state, signed_in.account_id(), &attached),
            attached,
            attached_denied,
            errors,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct MemberForm {
    csrf: String,
    /// `add` or `remove`.
    action: String,
    #[serde(default)]
    user_name: String,
}

/// `POST /console/groups/{name}/members`: AddUserToGroup or RemoveUserFromGroup.
pub async fn change_members(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Path(name): Path<String>,
    Form(form): Form<MemberForm>,
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
    let user_name = form.user_name.trim().to_owned();
    let again = |error: IamError| {
        group_page(
            &console,
            &signed_in,
            &name,
            FieldErrors::at("user_name", error.message.clone()),
            status_of(&error),
        )
    };
    if user_name.is_empty() {
        return again(IamError::new(
            latchkey_core::ErrorCode::ValidationError,
            "Choose a user.",
        ));
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        op,
        &[("GroupName", &name), ("UserName", &user_name)],
    ) {
        return again(error);
    }
    let account = signed_in.account_id().to_owned();
    let group_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            if adding {
                directory.add_user_to_group(&account, &group_name, &user_name)
            } else {
                directory.remove_user_from_group(&account, &group_name, &user_name)
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&group_path(&name)).into_response(),
        Err(error) => again(error),
    }
}

/// `POST /console/groups/{name}/policies`: AttachGroupPolicy or DetachGroupPolicy.
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
        Operation::AttachGroupPolicy
    } else {
        Operation::DetachGroupPolicy
    };
    let arn = form.policy_arn.trim().to_owned();
    let again = |error: IamError| {
        group_page(
            &console,
            &signed_in,
            &name,
            FieldErrors::at("policy_arn", error.message.clone()),
            status_of(&error),
        )
    };
    if arn.is_empty() {
        return again(IamError::new(
            latchkey_core::ErrorCode::ValidationError,
            "Choose a policy.",
        ));
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        op,
        &[("GroupName", &name), ("PolicyArn", &arn)],
    ) {
        return again(error);
    }
    let account = signed_in.account_id().to_owned();
    let group_name = name.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            let target = Target::Group(&group_name);
            if attaching {
                directory.attach_policy(&account, target, &arn)
            } else {
                directory.detach_policy(&account, target, &arn)
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&group_path(&name)).into_response(),
        Err(error) => again(error),
    }
}
