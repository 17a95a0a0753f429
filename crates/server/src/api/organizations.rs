//! AWS Organizations (awsJson1_1): the organization, its accounts, its root and its
//! organizational units.

use latchkey_core::directory::paginate_by_offset;
use latchkey_core::model::{Account, Tag};
use latchkey_core::organizational_units::{
    account_not_found, invalid_input, parent_not_found, root_id,
};
use latchkey_core::organizations::{CreateAccountOutcome, CreateAccountStatus, organization_id};
use latchkey_core::state::State;
use latchkey_core::store::OrganizationalUnitRow;
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

/// `prefix` and then `min..=max` lowercase letters or digits.
fn suffix_ok(text: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_root_id(id: &str) -> bool {
    id.strip_prefix("r-").is_some_and(|s| suffix_ok(s, 4, 32))
}

fn is_ou_id(id: &str) -> bool {
    id.strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, own)| suffix_ok(root, 4, 32) && suffix_ok(own, 8, 32))
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

fn bad_pattern(name: &str) -> IamError {
    invalid_input(
        "INVALID_PATTERN",
        format!("You specified a value for {name} that doesn't match the required pattern."),
    )
}

/// A root or OU id: `None` for this organization's root, the OU id otherwise (not yet
/// known to exist). Another root is `not_found`.
fn parent_id(
    input: &Value,
    name: &str,
    root: &str,
    not_found: fn() -> IamError,
) -> Result<Option<String>, IamError> {
    let id = required(input, name)?;
    if is_root_id(id) {
        return if id == root {
            Ok(None)
        } else {
            Err(not_found())
        };
    }
    if is_ou_id(id) {
        return Ok(Some(id.to_owned()));
    }
    Err(bad_pattern(name))
}

/// A parent that must exist: the root or a known OU.
fn existing_parent(state: &State, input: &Value, root: &str) -> Result<Option<String>, IamError> {
    let parent = parent_id(input, "ParentId", root, parent_not_found)?;
    match &parent {
        Some(ou) if !state.organization.units.contains_key(ou) => Err(parent_not_found()),
        _ => Ok(parent),
    }
}

fn ou_id(input: &Value) -> Result<&str, IamError> {
    let id = required(input, "OrganizationalUnitId")?;
    if is_ou_id(id) {
        Ok(id)
    } else {
        Err(bad_pattern("OrganizationalUnitId"))
    }
}

fn tags(input: &Value) -> Result<Vec<Tag>, IamError> {
    let Some(list) = input.get("Tags") else {
        return Ok(Vec::new());
    };
    let malformed = || {
        invalid_input(
            "INVALID_LIST_MEMBER",
            "You provided a tag that is not valid.",
        )
    };
    list.as_array()
        .ok_or_else(malformed)?
        .iter()
        .map(|tag| {
            Ok(Tag {
                key: field(tag, "Key").ok_or_else(malformed)?.to_owned(),
                value: field(tag, "Value").ok_or_else(malformed)?.to_owned(),
            })
        })
        .collect()
}

/// One page of `items` under `key`, as ListAccounts pages: at most MaxResults (1–20, 20 by
/// default), from the position a NextToken names.
fn page(input: &Value, key: &str, items: Vec<Value>) -> Result<Value, IamError> {
    let max = input
        .get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(20, |m| m.clamp(1, 20) as usize);
    let page = paginate_by_offset(&items, field(input, "NextToken"), Some(max))
        .map_err(|_| invalid_input("INVALID_NEXT_TOKEN", "The NextToken is not valid."))?;
    Ok(super::identitystore::page_json(key, &page, Value::clone))
}

fn ou_json(state: &State, management: &Account, unit: &OrganizationalUnitRow) -> Value {
    let organization = organization_id(&management.id);
    let root = root_id(&management.id);
    let mut path = format!("{organization}/{root}/");
    for id in state.organization.path_to(&unit.id) {
        path.push_str(&id);
        path.push('/');
    }
    json!({
        "Id": unit.id,
        "Arn": format!("arn:aws:organizations::{}:ou/{organization}/{}", management.id, unit.id),
        "Name": unit.name,
        "Path": path,
    })
}

fn parent_json(root: &str, parent: Option<&String>) -> Value {
    match parent {
        None => json!({ "Id": root, "Type": "ROOT" }),
        Some(ou) => json!({ "Id": ou, "Type": "ORGANIZATIONAL_UNIT" }),
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
    let root = root_id(&management.id);
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
            let accounts = state
                .accounts_in_order()
                .iter()
                .map(|a| account_json(&management, a))
                .collect();
            page(input, "Accounts", accounts)
        }
        Operation::DescribeAccount => {
            let account = directory.account(required(input, "AccountId")?)?;
            Ok(json!({ "Account": account_json(&management, &account) }))
        }
        Operation::ListRoots => {
            let organization = organization_id(&management.id);
            let root = root_id(&management.id);
            let roots = vec![json!({
                "Id": root,
                "Arn": format!("arn:aws:organizations::{}:root/{organization}/{root}", management.id),
                "Name": "Root",
                "PolicyTypes": [],
            })];
            page(input, "Roots", roots)
        }
        Operation::CreateOrganizationalUnit => {
            let parent = parent_id(input, "ParentId", &root, parent_not_found)?;
            let name = required(input, "Name")?;
            let unit =
                directory.create_organizational_unit(parent.as_deref(), name, tags(input)?)?;
            let state = directory.snapshot();
            Ok(json!({ "OrganizationalUnit": ou_json(&state, &management, &unit) }))
        }
        Operation::DescribeOrganizationalUnit => {
            let unit = directory.organizational_unit(ou_id(input)?)?;
            Ok(json!({ "OrganizationalUnit": ou_json(&state, &management, &unit) }))
        }
        Operation::UpdateOrganizationalUnit => {
            let unit = directory.rename_organizational_unit(ou_id(input)?, field(input, "Name"))?;
            let state = directory.snapshot();
            Ok(json!({ "OrganizationalUnit": ou_json(&state, &management, &unit) }))
        }
        Operation::DeleteOrganizationalUnit => {
            directory.delete_organizational_unit(ou_id(input)?)?;
            Ok(json!({}))
        }
        Operation::ListOrganizationalUnitsForParent => {
            let parent = existing_parent(&state, input, &root)?;
            let units = state
                .organization
                .units_under(parent.as_deref())
                .iter()
                .map(|u| ou_json(&state, &management, u))
                .collect();
            page(input, "OrganizationalUnits", units)
        }
        Operation::ListAccountsForParent => {
            let parent = existing_parent(&state, input, &root)?;
            let accounts = state
                .accounts_under(parent.as_deref())
                .iter()
                .map(|a| account_json(&management, a))
                .collect();
            page(input, "Accounts", accounts)
        }
        Operation::ListChildren => {
            let parent = existing_parent(&state, input, &root)?;
            let children: Vec<Value> = match required(input, "ChildType")? {
                "ACCOUNT" => state
                    .accounts_under(parent.as_deref())
                    .iter()
                    .map(|a| json!({ "Id": a.id, "Type": "ACCOUNT" }))
                    .collect(),
                "ORGANIZATIONAL_UNIT" => state
                    .organization
                    .units_under(parent.as_deref())
                    .iter()
                    .map(|u| json!({ "Id": u.id, "Type": "ORGANIZATIONAL_UNIT" }))
                    .collect(),
                _ => {
                    return Err(invalid_input(
                        "INVALID_ENUM",
                        "You specified an invalid value for ChildType: use ACCOUNT or ORGANIZATIONAL_UNIT.",
                    ));
                }
            };
            page(input, "Children", children)
        }
        Operation::ListParents => {
            let child = required(input, "ChildId")?;
            let not_found = || {
                IamError::new(
                    ErrorCode::ChildNotFound,
                    "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
                )
            };
            let parent = if is_account_id(child) {
                if !state.accounts.contains_key(child) {
                    return Err(not_found());
                }
                state.organization.parent_of_account(child)
            } else if is_ou_id(child) {
                state
                    .organization
                    .units
                    .get(child)
                    .ok_or_else(not_found)?
                    .parent_id
                    .as_ref()
            } else {
                return Err(bad_pattern("ChildId"));
            };
            page(input, "Parents", vec![parent_json(&root, parent)])
        }
        Operation::MoveAccount => {
            let account = required(input, "AccountId")?;
            if !is_account_id(account) {
                return Err(bad_pattern("AccountId"));
            }
            let source_not_found = || {
                IamError::new(
                    ErrorCode::SourceParentNotFound,
                    "We can't find a source root or OU with the ParentId that you specified.",
                )
            };
            let destination_not_found = || {
                IamError::new(
                    ErrorCode::DestinationParentNotFound,
                    "We can't find the destination container (a root or OU) with the ParentId that you specified.",
                )
            };
            let from = parent_id(input, "SourceParentId", &root, source_not_found)?;
            let to = parent_id(input, "DestinationParentId", &root, destination_not_found)?;
            if !state.accounts.contains_key(account) {
                return Err(account_not_found());
            }
            directory.move_account(account, from.as_deref(), to.as_deref())?;
            Ok(json!({}))
        }
        other => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!("Operation {} is not supported.", other.name()),
        )),
    }
}
