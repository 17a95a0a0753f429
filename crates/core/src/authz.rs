//! Who may do what, until the policy engine decides it.
//!
//! The rule is deliberately narrow: the root user and principals holding
//! AdministratorAccess may do everything in their account; any other user may manage only
//! their own access keys. The policy engine replaces this function, not its callers.

use crate::error::{ErrorCode, IamError};
use crate::model::{ADMINISTRATOR_ACCESS_ARN, Principal};

/// Actions a user may perform on their own user resource without any policy.
const SELF_SERVICE_ACTIONS: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:GetAccessKeyLastUsed",
];

/// Allows or denies `action` on `resource` (an ARN) for `principal`.
pub fn authorize(principal: &Principal, action: &str, resource: &str) -> Result<(), IamError> {
    let allowed = match principal {
        Principal::Root { account_id } => resource_in_account(resource, account_id),
        Principal::User(user) => {
            let same_account = resource_in_account(resource, &user.account_id);
            let admin = user
                .attached_policy_arns
                .iter()
                .any(|arn| arn == ADMINISTRATOR_ACCESS_ARN);
            same_account
                && (admin || (SELF_SERVICE_ACTIONS.contains(&action) && resource == user.arn()))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(IamError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
                principal.arn()
            ),
        ))
    }
}

/// Whether an IAM ARN (or `*`) names something in `account_id`.
fn resource_in_account(resource: &str, account_id: &str) -> bool {
    resource == "*"
        || resource
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(account, _)| account == account_id)
}
