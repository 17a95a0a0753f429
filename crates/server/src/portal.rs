//! The access portal API (`sso`, rest-json, a bearer token in `x-amz-sso_bearer_token`):
//! ListAccounts, ListAccountRoles, GetRoleCredentials and Logout, what `aws sso login`'s
//! profiles and boto3's SSO credential provider call with the token SSO OIDC issued.
//!
//! Access is read from the current snapshot on every call, so a person removed from a group, or
//! an assignment deleted, loses the account at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use latchkey_core::oidc::TokenClaims;
use latchkey_core::{Directory, ErrorCode, IamError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{self, Client};
use crate::rest::{self, ok};

/// The `eventSource` of the access portal's calls, as AWS records them.
const EVENT_SOURCE: &str = "sso.amazonaws.com";

/// The call's audit draft: who the bearer token names, what the query asked.
fn draft(
    directory: &Directory,
    claims: &Result<TokenClaims, IamError>,
    event_name: &str,
    query: &PageQuery,
    client: &Client,
    read_only: bool,
) -> Option<latchkey_core::audit::EventDraft> {
    audit::unsigned_draft(
        directory,
        claims.as_ref().ok().map(|c| c.user_id.as_str()),
        EVENT_SOURCE,
        event_name,
        serde_json::to_value(query).unwrap_or(Value::Null),
        client,
        read_only,
    )
}

const TOKEN_HEADER: &str = "x-amz-sso_bearer_token";
/// Items per page when `max_result` is not given.
const DEFAULT_PAGE: usize = 100;

fn error_response(error: &IamError) -> Response {
    let status = match error.code {
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::ResourceNotFound => StatusCode::NOT_FOUND,
        ErrorCode::ServiceFailure | ErrorCode::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = match error.code {
        ErrorCode::Unauthorized => "UnauthorizedException",
        ErrorCode::ResourceNotFound => "ResourceNotFoundException",
        ErrorCode::ServiceFailure | ErrorCode::InternalServer => "InternalServerException",
        _ => "InvalidRequestException",
    };
    rest::response(status, &json!({ "message": error.message }), Some(code))
}

fn unauthorized() -> IamError {
    IamError::new(
        ErrorCode::Unauthorized,
        "Session token not found or invalid",
    )
}

fn bearer(headers: &HeaderMap) -> Result<&str, IamError> {
    headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)
}

fn caller(directory: &Directory, headers: &HeaderMap) -> Result<TokenClaims, IamError> {
    directory
        .oidc_access_token_user(bearer(headers)?, Utc::now())
        .ok_or_else(unauthorized)
}

#[derive(Debug, Deserialize, Serialize)]
pub struct PageQuery {
    account_id: Option<String>,
    role_name: Option<String>,
    next_token: Option<String>,
    max_result: Option<usize>,
}

/// One page of `items` (sorted by their key) after `next_token` (the last key returned).
fn page(items: BTreeMap<String, Value>, query: &PageQuery) -> (Vec<Value>, Option<String>) {
    let max = query.max_result.unwrap_or(DEFAULT_PAGE).clamp(1, 1000);
    let mut rest = items
        .into_iter()
        .filter(|(key, _)| query.next_token.as_ref().is_none_or(|after| key > after))
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < max {
        let Some((key, value)) = rest.next() else {
            break;
        };
        out.push(value);
        last = Some(key);
    }
    let next = rest.peek().and(last);
    (out, next)
}

/// `GET /assignment/accounts`
pub async fn list_accounts(
    State(directory): State<Arc<Directory>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let claims = caller(&directory, &headers);
    let client = Client::of(peer, &headers);
    let draft = draft(&directory, &claims, "ListAccounts", &query, &client, true);
    let result = audit::run(&directory, draft, || {
        claims.and_then(|claims| {
            let state = directory.snapshot();
            let accounts: BTreeMap<String, Value> = directory
                .sso_access(&claims.user_id)?
                .into_iter()
                .filter_map(|access| {
                    let account = state.accounts.get(&access.account_id)?;
                    Some((
                        account.id.clone(),
                        json!({
                            "accountId": account.id,
                            "accountName": account.name,
                            "emailAddress": account.root_email,
                        }),
                    ))
                })
                .collect();
            Ok(page(accounts, &query))
        })
    });
    match result {
        Ok((items, next)) => ok(json!({ "accountList": items, "nextToken": next })),
        Err(error) => error_response(&error),
    }
}

/// `GET /assignment/roles?account_id=...`
pub async fn list_account_roles(
    State(directory): State<Arc<Directory>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let claims = caller(&directory, &headers);
    let client = Client::of(peer, &headers);
    let draft = draft(
        &directory,
        &claims,
        "ListAccountRoles",
        &query,
        &client,
        true,
    );
    let result = audit::run(&directory, draft, || {
        claims.and_then(|claims| {
            let account_id = query.account_id.clone().ok_or_else(|| {
                IamError::new(ErrorCode::InvalidRequest, "account_id is required.")
            })?;
            let roles: BTreeMap<String, Value> = directory
                .sso_access(&claims.user_id)?
                .into_iter()
                .filter(|access| access.account_id == account_id)
                .map(|access| {
                    let name = access.permission_set.row.name.clone();
                    (
                        name.clone(),
                        json!({ "roleName": name, "accountId": access.account_id }),
                    )
                })
                .collect();
            Ok(page(roles, &query))
        })
    });
    match result {
        Ok((items, next)) => ok(json!({ "roleList": items, "nextToken": next })),
        Err(error) => error_response(&error),
    }
}

/// `GET /federation/credentials?account_id=...&role_name=...`
pub async fn get_role_credentials(
    State(directory): State<Arc<Directory>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let claims = caller(&directory, &headers);
    let client = Client::of(peer, &headers);
    let draft = draft(
        &directory,
        &claims,
        "GetRoleCredentials",
        &query,
        &client,
        true,
    );
    let result = audit::run(&directory, draft, || {
        claims.and_then(|claims| {
            let (Some(account_id), Some(role_name)) = (&query.account_id, &query.role_name) else {
                return Err(IamError::new(
                    ErrorCode::InvalidRequest,
                    "account_id and role_name are required.",
                ));
            };
            directory.sso_role_credentials(&claims.user_id, account_id, role_name, Utc::now())
        })
    });
    match result {
        Ok(issued) => ok(json!({
            "roleCredentials": {
                "accessKeyId": issued.session.access_key_id,
                "secretAccessKey": issued.session.secret_access_key,
                "sessionToken": issued.session_token,
                "expiration": issued.session.expires.timestamp_millis(),
            }
        })),
        Err(error) => error_response(&error),
    }
}

/// `POST /logout`
pub async fn logout(
    State(directory): State<Arc<Directory>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let claims = caller(&directory, &headers);
    let client = Client::of(peer, &headers);
    let no_query = PageQuery {
        account_id: None,
        role_name: None,
        next_token: None,
        max_result: None,
    };
    let draft = draft(&directory, &claims, "Logout", &no_query, &client, false);
    let token = match bearer(&headers) {
        Ok(token) => token.to_owned(),
        Err(error) => {
            audit::conclude(&directory, draft, &Err::<(), _>(error.clone()));
            return error_response(&error);
        }
    };
    // The revocation commits with the call's event.
    let result = tokio::task::spawn_blocking(move || {
        audit::run(&directory, draft, || {
            directory.revoke_access_token(&token, Utc::now())
        })
    })
    .await
    .unwrap_or_else(|_| Err(IamError::service_failure()));
    match result {
        Ok(()) => ok(json!({})),
        Err(error) => error_response(&error),
    }
}
