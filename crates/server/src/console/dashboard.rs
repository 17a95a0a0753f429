//! The dashboard: the numbers an administrator wants at a glance, each a link to the list
//! it counts.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use latchkey_core::model::{KeyOwner, KeyStatus};

use super::{Chrome, Console, SignedIn, render};
use crate::operation::Operation;

/// Keys older than this are flagged, as AWS's console flags them.
pub const OLD_KEY_DAYS: i64 = 90;

#[derive(Debug, Default)]
pub struct Findings {
    pub users: usize,
    pub users_without_mfa: usize,
    pub old_keys: usize,
    pub unused_keys: usize,
    pub root_keys: usize,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage<'a> {
    chrome: &'a Chrome,
    /// None when the signed-in principal may not list users.
    findings: Option<Findings>,
    old_key_days: i64,
}

/// `GET /console`
pub async fn show(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    let findings = signed_in
        .authorize(&console.directory, Operation::ListUsers, &[])
        .ok()
        .map(|()| findings(&console, &signed_in));
    render(
        StatusCode::OK,
        &DashboardPage {
            chrome: &signed_in.chrome,
            findings,
            old_key_days: OLD_KEY_DAYS,
        },
    )
}

fn findings(console: &Console, signed_in: &SignedIn) -> Findings {
    let state = console.directory.snapshot();
    let account = signed_in.account_id();
    let now = signed_in.now();
    let mut findings = Findings::default();
    for user in state.users_of_account(account, None) {
        findings.users += 1;
        if user.mfa_serials.is_empty() {
            findings.users_without_mfa += 1;
        }
    }
    for key in state
        .access_keys
        .values()
        .filter(|k| k.account_id == account)
    {
        if matches!(key.owner, KeyOwner::Root) {
            findings.root_keys += 1;
            continue;
        }
        if key.status != KeyStatus::Active {
            continue;
        }
        if now - key.created > Duration::days(OLD_KEY_DAYS) {
            findings.old_keys += 1;
        }
        if key.runtime.last_used().is_none() {
            findings.unused_keys += 1;
        }
    }
    findings
}
