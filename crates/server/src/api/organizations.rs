//! AWS Organizations (awsJson1_1): the organization and its accounts.

use latchkey_core::model::Account;
use latchkey_core::organizations::{CreateAccountOutcome, CreateAccountStatus, organization_id};
use latchkey_core::{Directory, ErrorCode, IamError};
use serde_json::{Value, json};

use super::base_context;
use crate::auth::Caller;
use crate::operation::Operation;

fn field<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, IamError> {
    field(input, name).ok_or_else(|| {
        IamError::new(
            ErrorCode::ValidationError,
            format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

fn epoch(at: chrono::DateTime<chrono::Utc>) -> Value {
    json!(at.timestamp())
}

fn account_json(management: &Account, account: &Account) -> Value {
    let organization = organization_id(&management.id);
    json!({
        "Id": account.id,
        "Arn": format!("arn:aws:organizations::{}:account/{organization}/{}", management.id, account.id),
        "Email": account.root_email,
        "Name": account.name,
        "Status": "ACTIVE",
        "State": "ACTIVE",
        "JoinedMethod": if account.id == management.id { "INVITED" } else { "CREATED" },
        "JoinedTimestamp": epoch(account.created),
    })
}

fn status_json(status: &CreateAccountStatus) -> Value {
    match &status.outcome {
        CreateAccountOutcome::Created(account) => json!({
            "CreateAccountStatus": {
                "Id": status.request_id,
                "AccountName": account.name,
                "State": "SUCCEEDED",
                "RequestedTimestamp": epoch(status.requested),
                "CompletedTimestamp": epoch(account.created),
                "AccountId": account.id,
            }
        }),
        CreateAccountOutcome::Failed {
            account_name,
            reason,
        } => json!({
            "CreateAccountStatus": {
                "Id": status.request_id,
                "AccountName": account_name,
                "State": "FAILED",
                "RequestedTimestamp": epoch(status.requested),
                "CompletedTimestamp": epoch(status.requested),
                "FailureReason": reason,
            }
        }),
    }
}

/// Runs an Organizations operation for a caller in the management account.
pub fn execute(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<Value, IamError> {
    let state = directory.snapshot();
    let management = state
        .management_account()
        .cloned()
        .ok_or_else(IamError::service_failure)?;
    // Every account of the organization may describe it; only the management account
    // administers it.
    if op != Operation::DescribeOrganization && caller.principal.account_id() != management.id {
        return Err(IamError::new(
            ErrorCode::AccessDenied,
            "You don't have permissions to access this resource.",
        ));
    }
    let context = base_context(caller);
    crate::metrics::timed_authorization(|| {
        directory.authorize(
            &state,
            &caller.principal,
            op.action(),
            "*",
            &context,
            caller.at,
        )
    })?;
    match op {
        Operation::DescribeOrganization => {
            let organization = organization_id(&management.id);
            Ok(json!({
                "Organization": {
                    "Id": organization,
                    "Arn": format!("arn:aws:organizations::{}:organization/{organization}", management.id),
                    "FeatureSet": "ALL",
                    "MasterAccountArn": format!("arn:aws:organizations::{0}:account/{organization}/{0}", management.id),
                    "MasterAccountId": management.id,
                    "MasterAccountEmail": management.root_email,
                    "AvailablePolicyTypes": [],
                }
            }))
        }
        Operation::CreateAccount => {
            let status = directory.create_account(
                required(input, "Email")?,
                required(input, "AccountName")?,
                field(input, "RoleName"),
            )?;
            Ok(status_json(&status))
        }
        Operation::DescribeCreateAccountStatus => {
            let status =
                directory.create_account_status(required(input, "CreateAccountRequestId")?)?;
            Ok(status_json(&status))
        }
        Operation::ListAccounts => {
            let accounts = state.accounts_in_order();
            let max = input
                .get("MaxResults")
                .and_then(Value::as_u64)
                .map_or(20, |m| m.clamp(1, 20) as usize);
            let start = match field(input, "NextToken") {
                None => 0,
                Some(token) => token.parse::<usize>().map_err(|_| {
                    IamError::new(ErrorCode::ValidationError, "The NextToken is not valid.")
                })?,
            };
            let page: Vec<Value> = accounts
                .iter()
                .skip(start)
                .take(max)
                .map(|a| account_json(&management, a))
                .collect();
            let mut output = json!({ "Accounts": page });
            if start + max < accounts.len() {
                output["NextToken"] = json!((start + max).to_string());
            }
            Ok(output)
        }
        Operation::DescribeAccount => {
            let account = directory.account(required(input, "AccountId")?)?;
            Ok(json!({ "Account": account_json(&management, &account) }))
        }
        other => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!("Operation {} is not supported.", other.name()),
        )),
    }
}
