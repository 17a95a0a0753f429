//! Account settings and console passwords: the account alias, the password policy, and the
//! login-profile operations beyond create and get (docs/design/account-settings.md).

use latchkey_core::account_settings::PasswordPolicy;
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_query::{QueryRequest, XmlResponse};

use super::{invalid, marker, max_items, target_user_name};
use crate::auth::Caller;
use crate::operation::Operation;

/// Runs an account-settings operation; false when the response has no result element.
pub(super) fn run(
    op: Operation,
    directory: &Directory,
    caller: &Caller,
    params: &QueryRequest,
    out: &mut XmlResponse,
) -> Result<bool, IamError> {
    let account = caller.principal.account_id();
    match op {
        Operation::CreateAccountAlias => {
            directory
                .create_account_alias(account, params.required("AccountAlias").map_err(invalid)?)?;
            Ok(false)
        }
        Operation::DeleteAccountAlias => {
            directory
                .delete_account_alias(account, params.required("AccountAlias").map_err(invalid)?)?;
            Ok(false)
        }
        Operation::ListAccountAliases => {
            marker(params)?;
            max_items(params)?;
            let aliases: Vec<String> = directory
                .snapshot()
                .account_alias(account)
                .cloned()
                .into_iter()
                .collect();
            out.list("AccountAliases", &aliases, |out, alias| {
                out.escape_text(alias);
            });
            out.element("IsTruncated", "false");
            Ok(true)
        }
        Operation::GetAccountPasswordPolicy => {
            let policy = directory.password_policy(account)?;
            write_policy(out, &policy);
            Ok(true)
        }
        Operation::UpdateAccountPasswordPolicy => {
            directory.update_password_policy(account, policy_from(params)?)?;
            Ok(false)
        }
        Operation::DeleteAccountPasswordPolicy => {
            directory.delete_password_policy(account)?;
            Ok(false)
        }
        Operation::UpdateLoginProfile => {
            let user_name = params.required("UserName").map_err(invalid)?;
            let password = params.get("Password");
            if password == Some("") {
                return Err(password_too_short("password"));
            }
            let reset = params.bool("PasswordResetRequired").map_err(invalid)?;
            directory.update_login_profile(account, user_name, password, reset, caller.at)?;
            Ok(false)
        }
        Operation::DeleteLoginProfile => {
            directory.delete_login_profile(account, target_user_name(caller, params)?)?;
            Ok(false)
        }
        Operation::ChangePassword => {
            let old = params.required("OldPassword").map_err(invalid)?;
            let new = params.required("NewPassword").map_err(invalid)?;
            if new.is_empty() {
                return Err(password_too_short("newPassword"));
            }
            // `authorize` refused every caller but an IAM user.
            let user = caller
                .principal
                .user()
                .ok_or_else(IamError::service_failure)?;
            directory.change_password(&user.id, old, new, caller.at)?;
            Ok(false)
        }
        _ => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!(
                "Operation {} is not an account-settings operation.",
                op.name()
            ),
        )),
    }
}

fn password_too_short(field: &str) -> IamError {
    IamError::new(
        ErrorCode::ValidationError,
        format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ),
    )
}

/// The policy UpdateAccountPasswordPolicy asks for: every parameter not given takes its
/// documented default (the operation does not update in part).
fn policy_from(params: &QueryRequest) -> Result<PasswordPolicy, IamError> {
    let flag = |name: &str| -> Result<bool, IamError> {
        Ok(params.bool(name).map_err(invalid)?.unwrap_or(false))
    };
    let number = |name: &str, min: i64, max: i64| -> Result<Option<u32>, IamError> {
        Ok(params
            .int_in(name, min, max)
            .map_err(invalid)?
            .and_then(|n| u32::try_from(n).ok()))
    };
    let defaults = PasswordPolicy::default();
    Ok(PasswordPolicy {
        minimum_password_length: number("MinimumPasswordLength", 6, 128)?
            .unwrap_or(defaults.minimum_password_length),
        require_symbols: flag("RequireSymbols")?,
        require_numbers: flag("RequireNumbers")?,
        require_uppercase_characters: flag("RequireUppercaseCharacters")?,
        require_lowercase_characters: flag("RequireLowercaseCharacters")?,
        allow_users_to_change_password: flag("AllowUsersToChangePassword")?,
        max_password_age: number("MaxPasswordAge", 1, 1095)?,
        password_reuse_prevention: number("PasswordReusePrevention", 1, 24)?,
        hard_expiry: flag("HardExpiry")?,
    })
}

fn write_policy(out: &mut XmlResponse, policy: &PasswordPolicy) {
    let flag = |on: bool| if on { "true" } else { "false" };
    out.open("PasswordPolicy")
        .element(
            "MinimumPasswordLength",
            &policy.minimum_password_length.to_string(),
        )
        .element("RequireSymbols", flag(policy.require_symbols))
        .element("RequireNumbers", flag(policy.require_numbers))
        .element(
            "RequireUppercaseCharacters",
            flag(policy.require_uppercase_characters),
        )
        .element(
            "RequireLowercaseCharacters",
            flag(policy.require_lowercase_characters),
        )
        .element(
            "AllowUsersToChangePassword",
            flag(policy.allow_users_to_change_password),
        )
        .element("ExpirePasswords", flag(policy.max_password_age.is_some()));
    if let Some(days) = policy.max_password_age {
        out.element("MaxPasswordAge", &days.to_string());
    }
    if let Some(count) = policy.password_reuse_prevention {
        out.element("PasswordReusePrevention", &count.to_string());
    }
    if policy.hard_expiry {
        out.element("HardExpiry", "true");
    }
    out.close("PasswordPolicy");
}
