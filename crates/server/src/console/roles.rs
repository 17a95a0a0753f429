//! IAM roles: the list, and a role's page with its trust policy and its attached and inline
//! policies.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_core::model::Role;

use super::{Chrome, Console, SignedIn, date, error_page, render};
use crate::operation::Operation;

#[derive(Debug)]
pub struct RoleRow {
    name: String,
    description: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<RoleRow>,
}

/// `GET /console/roles`
pub async fn list(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    if let Err(error) = signed_in.authorize(&console.directory, Operation::ListRoles, &[]) {
        return error_page(&error, &signed_in.chrome);
    }
    let state = console.directory.snapshot();
    let rows = state
        .roles_of_account(signed_in.account_id(), None)
        .map(|role| RoleRow {
            name: role.name.clone(),
            description: role.description.clone().unwrap_or_default(),
            created: date(role.created),
        })
        .collect();
    render(
        StatusCode::OK,
        &RolesPage {
            chrome: &signed_in.chrome,
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "console/role.html")]
struct RolePage<'a> {
    chrome: &'a Chrome,
    role: &'a Role,
    arn: String,
    created: String,
    /// Why the attached policies are not shown, when ListAttachedRolePolicies is refused.
    attached_denied: Option<String>,
    /// Why the inline policies are not shown, when ListRolePolicies is refused.
    inline_denied: Option<String>,
}

/// `GET /console/roles/{name}`: GetRole, which returns the trust policy.
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Response {
    let directory = &console.directory;
    let params = [("RoleName", name.as_str())];
    if let Err(error) = signed_in.authorize(directory, Operation::GetRole, &params) {
        return error_page(&error, &signed_in.chrome);
    }
    let role = match directory.role(signed_in.account_id(), &name) {
        Ok(role) => role,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    let denied = |op| {
        signed_in
            .authorize(directory, op, &params)
            .err()
            .map(|e| e.message)
    };
    render(
        StatusCode::OK,
        &RolePage {
            chrome: &signed_in.chrome,
            arn: role.arn(),
            created: date(role.created),
            role: &role,
            attached_denied: denied(Operation::ListAttachedRolePolicies),
            inline_denied: denied(Operation::ListRolePolicies),
        },
    )
}
