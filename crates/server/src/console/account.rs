//! Account settings: the account alias and the password policy of console passwords, each
//! shown and changed as the API calls would be authorized (ListAccountAliases,
//! CreateAccountAlias, DeleteAccountAlias, GetAccountPasswordPolicy,
//! UpdateAccountPasswordPolicy, DeleteAccountPasswordPolicy); and the signed-in IAM user's
//! own password (ChangePassword).

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::account_settings::{DEFAULT_POLICY_RULES, PasswordPolicy};
use latchkey_core::{ErrorCode, IamError};
use serde::Deserialize;

use super::{Chrome, Console, FieldErrors, SignedIn, check_form, error_page, render, status_of};
use crate::operation::Operation;

/// What the page shows of the policy: the account's, AWS's default, or nothing when the
/// signed-in principal may not read it.
#[derive(Debug)]
enum PolicyView {
    Custom(PasswordPolicy),
    Default,
    Hidden(String),
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage<'a> {
    chrome: &'a Chrome,
    /// The alias, when the principal may list it; `Err` holds the denial.
    alias: Result<Option<String>, String>,
    alias_input: &'a str,
    policy: PolicyView,
    rules: Vec<String>,
    /// What the policy form shows: the account's policy, or what was just refused.
    form: PasswordPolicy,
    /// The number fields as the form shows them (what was typed, when it was refused).
    numbers: NumberInputs,
    /// The IAM user signed in may change their own password.
    can_change_password: bool,
    errors: FieldErrors,
}

/// The policy form's number fields, as text.
#[derive(Debug, Clone)]
struct NumberInputs {
    minimum_password_length: String,
    max_password_age: String,
    password_reuse_prevention: String,
    /// Whether "Passwords expire" and "Prevent password reuse" are checked.
    expire: bool,
    prevent_reuse: bool,
}

impl NumberInputs {
    fn of(policy: &PasswordPolicy) -> Self {
        NumberInputs {
            minimum_password_length: policy.minimum_password_length.to_string(),
            max_password_age: policy.max_password_age.unwrap_or(90).to_string(),
            password_reuse_prevention: policy.password_reuse_prevention.unwrap_or(5).to_string(),
            expire: policy.max_password_age.is_some(),
            prevent_reuse: policy.password_reuse_prevention.is_some(),
        }
    }
}

/// `GET /console/account`
pub async fn show(State(console): State<Arc<Console>>, signed_in: SignedIn) -> Response {
    page(
        &console,
        &signed_in,
        "",
        None,
        FieldErrors::none(),
        StatusCode::OK,
    )
}

/// What the policy form re-shows after a refusal: the policy asked for, with the numbers as
/// they were typed.
type Refused = (PasswordPolicy, NumberInputs);

fn page(
    console: &Console,
    signed_in: &SignedIn,
    alias_input: &str,
    refused: Option<Refused>,
    errors: FieldErrors,
    status: StatusCode,
) -> Response {
    let directory = &console.directory;
    let account = signed_in.account_id();
    let alias = signed_in
        .authorize(directory, Operation::ListAccountAliases, &[])
        .map(|()| directory.snapshot().account_alias(account).cloned())
        .map_err(|e| e.message);
    let policy = match signed_in.authorize(directory, Operation::GetAccountPasswordPolicy, &[]) {
        Err(denied) => PolicyView::Hidden(denied.message),
        Ok(()) => match directory.password_policy(account) {
            Ok(policy) => PolicyView::Custom(policy),
            Err(_) => PolicyView::Default,
        },
    };
    let rules = match &policy {
        PolicyView::Custom(policy) => policy.rules(),
        PolicyView::Default => DEFAULT_POLICY_RULES.iter().map(|r| (*r).into()).collect(),
        PolicyView::Hidden(_) => Vec::new(),
    };
    let (form, numbers) = refused.unwrap_or_else(|| {
        let form = match &policy {
            PolicyView::Custom(policy) => policy.clone(),
            _ => PasswordPolicy::default(),
        };
        let numbers = NumberInputs::of(&form);
        (form, numbers)
    });
    let can_change_password = signed_in.session.user.is_some()
        && latchkey_query::QueryRequest::from_pairs(std::iter::empty::<(&str, &str)>()).is_ok_and(
            |query| {
                crate::api::authorize(
                    directory,
                    &signed_in.caller,
                    Operation::ChangePassword,
                    &query,
                )
                .is_ok()
            },
        );
    render(
        status,
        &AccountPage {
            chrome: &signed_in.chrome,
            alias,
            alias_input,
            policy,
            rules,
            form,
            numbers,
            can_change_password,
            errors,
        },
    )
}

#[derive(Deserialize)]
pub struct AliasForm {
    csrf: String,
    action: String,
    #[serde(default)]
    alias: String,
}

impl std::fmt::Debug for AliasForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliasForm")
            .field("action", &self.action)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

/// `POST /console/account/alias`: CreateAccountAlias (`action=create`) or
/// DeleteAccountAlias (`action=delete`).
pub async fn alias(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<AliasForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let alias = form.alias.trim().to_owned();
    let op = match form.action.as_str() {
        "create" => Operation::CreateAccountAlias,
        "delete" => Operation::DeleteAccountAlias,
        _ => {
            return error_page(
                &IamError::new(ErrorCode::ValidationError, "Choose create or delete."),
                &signed_in.chrome,
            );
        }
    };
    let again = |error: &IamError| {
        page(
            &console,
            &signed_in,
            &alias,
            None,
            FieldErrors::at("alias", error.message.clone()),
            status_of(error),
        )
    };
    if let Err(error) = signed_in.authorize(&console.directory, op, &[("AccountAlias", &alias)]) {
        return again(&error);
    }
    let account = signed_in.account_id().to_owned();
    let name = alias.clone();
    let result = signed_in
        .run(&console.directory, move |directory| match op {
            Operation::CreateAccountAlias => directory.create_account_alias(&account, &name),
            _ => directory.delete_account_alias(&account, &name),
        })
        .await;
    match result {
        Ok(()) => Redirect::to("/console/account").into_response(),
        Err(error) => again(&error),
    }
}

#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    csrf: String,
    action: String,
    #[serde(default)]
    minimum_password_length: String,
    require_uppercase_characters: Option<String>,
    require_lowercase_characters: Option<String>,
    require_numbers: Option<String>,
    require_symbols: Option<String>,
    allow_users_to_change_password: Option<String>,
    expire_passwords: Option<String>,
    #[serde(default)]
    max_password_age: String,
    hard_expiry: Option<String>,
    prevent_reuse: Option<String>,
    #[serde(default)]
    password_reuse_prevention: String,
}

/// `POST /console/account/password-policy`: UpdateAccountPasswordPolicy
/// (`action=update`) or DeleteAccountPasswordPolicy (`action=delete`).
pub async fn password_policy(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    if form.action == "delete" {
        if let Err(error) = signed_in.authorize(
            &console.directory,
            Operation::DeleteAccountPasswordPolicy,
            &[],
        ) {
            return error_page(&error, &signed_in.chrome);
        }
        let account = signed_in.account_id().to_owned();
        let result = signed_in
            .run(&console.directory, move |directory| {
                directory.delete_password_policy(&account)
            })
            .await;
        return match result {
            Ok(()) => Redirect::to("/console/account").into_response(),
            Err(error) => error_page(&error, &signed_in.chrome),
        };
    }
    let (policy, problem) = read_policy(&form);
    let typed = NumberInputs {
        minimum_password_length: form.minimum_password_length.clone(),
        max_password_age: form.max_password_age.clone(),
        password_reuse_prevention: form.password_reuse_prevention.clone(),
        expire: form.expire_passwords.is_some(),
        prevent_reuse: form.prevent_reuse.is_some(),
    };
    let again = |field: &'static str, message: String, status: StatusCode| {
        page(
            &console,
            &signed_in,
            "",
            Some((policy.clone(), typed.clone())),
            FieldErrors::at(field, message),
            status,
        )
    };
    if let Some((field, message)) = problem {
        return again(field, message, StatusCode::BAD_REQUEST);
    }
    let params = parameters(&policy);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::UpdateAccountPasswordPolicy,
        &pairs,
    ) {
        return again("policy", error.message.clone(), status_of(&error));
    }
    let account = signed_in.account_id().to_owned();
    let chosen = policy.clone();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.update_password_policy(&account, chosen)
        })
        .await;
    match result {
        Ok(()) => Redirect::to("/console/account").into_response(),
        Err(error) => again("policy", error.message.clone(), status_of(&error)),
    }
}

/// The policy the form asks for, and the first field that is out of range.
fn read_policy(form: &PolicyForm) -> (PasswordPolicy, Option<(&'static str, String)>) {
    let mut problem = None;
    let mut number = |field: &'static str, text: &str, label: &str, min: u32, max: u32| match text
        .trim()
        .parse::<u32>()
    {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            if problem.is_none() {
                problem = Some((
                    field,
                    format!("{label} must be a whole number from {min} to {max}."),
                ));
            }
            None
        }
    };
    let minimum = number(
        "minimum_password_length",
        &form.minimum_password_length,
        "The minimum length",
        6,
        128,
    );
    let max_age = form.expire_passwords.as_ref().and_then(|_| {
        number(
            "max_password_age",
            &form.max_password_age,
            "The password expiration",
            1,
            1095,
        )
    });
    let reuse = form.prevent_reuse.as_ref().and_then(|_| {
        number(
            "password_reuse_prevention",
            &form.password_reuse_prevention,
            "The number of remembered passwords",
            1,
            24,
        )
    });
    let policy = PasswordPolicy {
        minimum_password_length: minimum
            .unwrap_or(PasswordPolicy::default().minimum_password_length),
        require_symbols: form.require_symbols.is_some(),
        require_numbers: form.require_numbers.is_some(),
        require_uppercase_characters: form.require_uppercase_characters.is_some(),
        require_lowercase_characters: form.require_lowercase_characters.is_some(),
        allow_users_to_change_password: form.allow_users_to_change_password.is_some(),
        max_password_age: max_age,
        password_reuse_prevention: reuse,
        hard_expiry: form.expire_passwords.is_some() && form.hard_expiry.is_some(),
    };
    (policy, problem)
}

/// The UpdateAccountPasswordPolicy parameters that ask for `policy`.
fn parameters(policy: &PasswordPolicy) -> Vec<(&'static str, String)> {
    let mut params = vec![
        (
            "MinimumPasswordLength",
            policy.minimum_password_length.to_string(),
        ),
        ("RequireSymbols", policy.require_symbols.to_string()),
        ("RequireNumbers", policy.require_numbers.to_string()),
        (
            "RequireUppercaseCharacters",
            policy.require_uppercase_characters.to_string(),
        ),
        (
            "RequireLowercaseCharacters",
            policy.require_lowercase_characters.to_string(),
        ),
        (
            "AllowUsersToChangePassword",
            policy.allow_users_to_change_password.to_string(),
        ),
        ("HardExpiry", policy.hard_expiry.to_string()),
    ];
    if let Some(days) = policy.max_password_age {
        params.push(("MaxPasswordAge", days.to_string()));
    }
    if let Some(count) = policy.password_reuse_prevention {
        params.push(("PasswordReusePrevention", count.to_string()));
    }
    params
}

#[derive(Template)]
#[template(path = "console/change_password.html")]
struct ChangePasswordPage<'a> {
    chrome: &'a Chrome,
    rules: Vec<String>,
    errors: FieldErrors,
    done: bool,
}

/// `GET /console/password`: the signed-in IAM user's own password (ChangePassword).
pub async fn change_password_form(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
) -> Response {
    change_password_page(
        &console,
        &signed_in,
        FieldErrors::none(),
        false,
        StatusCode::OK,
    )
}

fn change_password_page(
    console: &Console,
    signed_in: &SignedIn,
    errors: FieldErrors,
    done: bool,
    status: StatusCode,
) -> Response {
    if signed_in.session.user.is_none() {
        return error_page(
            &IamError::new(
                ErrorCode::InvalidUserType,
                "Only IAM users change their password here; the root user's is not an IAM password.",
            ),
            &signed_in.chrome,
        );
    }
    render(
        status,
        &ChangePasswordPage {
            chrome: &signed_in.chrome,
            rules: console.directory.password_rules(signed_in.account_id()),
            errors,
            done,
        },
    )
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    csrf: String,
    old_password: String,
    new_password: String,
    confirm_password: String,
}

impl std::fmt::Debug for ChangePasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordForm").finish_non_exhaustive()
    }
}

/// `POST /console/password`: ChangePassword.
pub async fn change_password(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<ChangePasswordForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let Some(user) = signed_in.session.user.clone() else {
        return change_password_page(
            &console,
            &signed_in,
            FieldErrors::none(),
            false,
            StatusCode::BAD_REQUEST,
        );
    };
    let again = |field: &'static str, error: &IamError| {
        change_password_page(
            &console,
            &signed_in,
            FieldErrors::at(field, error.message.clone()),
            false,
            status_of(error),
        )
    };
    if form.new_password != form.confirm_password {
        return again(
            "confirm_password",
            &IamError::new(
                ErrorCode::ValidationError,
                "The new passwords do not match.",
            ),
        );
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::ChangePassword,
        &[("OldPassword", "-"), ("NewPassword", "-")],
    ) {
        return again("old_password", &error);
    }
    let at = signed_in.now();
    let result = signed_in
        .run(&console.directory, move |directory| {
            directory.change_password(&user.id, &form.old_password, &form.new_password, at)
        })
        .await;
    match result {
        Ok(()) => change_password_page(
            &console,
            &signed_in,
            FieldErrors::none(),
            true,
            StatusCode::OK,
        ),
        Err(error) if error.code == ErrorCode::PasswordPolicyViolation => {
            again("new_password", &error)
        }
        Err(error) => again("old_password", &error),
    }
}
