//! Managed policies: the list (customer managed and AWS managed), a policy's page with its
//! default document and versions, and Create policy with a JSON editor that validates as
//! you type with the API's own check.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::policies::{check_managed_document, usage_counts};
use latchkey_core::state::State as Snapshot;
use latchkey_core::{ErrorCode, IamError, validate};
use serde::{Deserialize, Serialize};

use super::{
    Chrome, Console, FieldErrors, SignedIn, check_form, date, error_page, render, status_of,
};
use crate::operation::Operation;

/// A managed policy offered in an Attach list.
#[derive(Debug)]
pub struct PolicyChoice {
    pub arn: String,
    pub name: String,
    pub aws_managed: bool,
}

/// The managed policies the account can attach, less those already attached: the account's
/// own first, then AWS's, each in name order.
pub fn policy_choices(
    state: &Snapshot,
    account_id: &str,
    attached: &[String],
) -> Vec<PolicyChoice> {
    [account_id, latchkey_core::catalog::AWS_OWNER]
        .iter()
        .flat_map(|owner| state.policies_of_owner(owner, None))
        .filter(|p| !attached.contains(&p.arn))
        .map(|p| PolicyChoice {
            arn: p.arn.clone(),
            name: p.name.clone(),
            aws_managed: p.is_aws_managed(),
        })
        .collect()
}

/// Attach or Detach a managed policy, on a user's or a group's page.
#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    pub csrf: String,
    /// `attach` or `detach`.
    pub action: String,
    #[serde(default)]
    pub policy_arn: String,
}

pub fn policy_path(arn: &str) -> String {
    format!(
        "/console/policies/view?arn={}",
        percent_encoding::utf8_percent_encode(arn, percent_encoding::NON_ALPHANUMERIC)
    )
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `all`, `aws` or `local`, as ListPolicies' Scope.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    search: String,
}

#[derive(Debug)]
pub struct PolicyRow {
    arn: String,
    name: String,
    aws_managed: bool,
    attachments: usize,
    description: String,
}

#[derive(Template)]
#[template(path = "console/policies.html")]
struct PoliciesPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<PolicyRow>,
    scope: &'a str,
    search: &'a str,
}

/// `GET /console/policies[?scope=all|aws|local&search=]`
pub async fn list(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    let account = signed_in.account_id();
    let aws = latchkey_core::catalog::AWS_OWNER;
    let (scope_param, owners) = match query.scope.as_str() {
        "aws" => ("AWS", vec![aws]),
        "local" => ("Local", vec![account]),
        _ => ("All", vec![account, aws]),
    };
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::ListPolicies,
        &[("Scope", scope_param)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let state = console.directory.snapshot();
    let counts = usage_counts(&state, account);
    let search = query.search.trim().to_lowercase();
    let rows = owners
        .iter()
        .flat_map(|owner| state.policies_of_owner(owner, None))
        .filter(|p| search.is_empty() || p.name.to_lowercase().contains(&search))
        .map(|p| PolicyRow {
            arn: p.arn.clone(),
            name: p.name.clone(),
            aws_managed: p.is_aws_managed(),
            attachments: counts.get(&p.arn).map_or(0, |c| c.attachments),
            description: p.description.clone().unwrap_or_default(),
        })
        .collect();
    let scope = match scope_param {
        "AWS" => "aws",
        "Local" => "local",
        _ => "all",
    };
    render(
        StatusCode::OK,
        &PoliciesPage {
            chrome: &signed_in.chrome,
            rows,
            scope,
            search: query.search.trim(),
        },
    )
}

/// The document Create policy starts from.
const STARTER_DOCUMENT: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "",
      "Resource": "*"
    }
  ]
}"#;

#[derive(Template)]
#[template(path = "console/policy_new.html")]
struct NewPolicyPage<'a> {
    chrome: &'a Chrome,
    policy_name: &'a str,
    description: &'a str,
    document: &'a str,
    errors: FieldErrors,
}

/// `GET /console/policies/new`
pub async fn new_form(signed_in: SignedIn) -> Response {
    render(
        StatusCode::OK,
        &NewPolicyPage {
            chrome: &signed_in.chrome,
            policy_name: "",
            description: "",
            document: STARTER_DOCUMENT,
            errors: FieldErrors::none(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct NewPolicyForm {
    csrf: String,
    policy_name: String,
    #[serde(default)]
    description: String,
    document: String,
}

/// Which field of Create policy an error from CreatePolicy is about.
fn field_of(error: &IamError) -> &'static str {
    match error.code {
        ErrorCode::MalformedPolicyDocument | ErrorCode::LimitExceeded => "document",
        _ if error.message.contains("'description'") => "description",
        _ => "policy_name",
    }
}

/// `POST /console/policies/new`: CreatePolicy, checked as the API checks it.
pub async fn create(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<NewPolicyForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let name = form.policy_name.trim().to_owned();
    let description = form.description.trim().to_owned();
    let again = |field: &'static str, error: &IamError| {
        render(
            status_of(error),
            &NewPolicyPage {
                chrome: &signed_in.chrome,
                policy_name: &name,
                description: &description,
                document: &form.document,
                errors: FieldErrors::at(field, error.message.clone()),
            },
        )
    };
    if let Err(error) = validate::name_128("policyName", &name) {
        return again("policy_name", &error);
    }
    if let Err(error) = check_managed_document(&form.document) {
        return again("document", &error);
    }
    if let Err(error) = signed_in.authorize(
        &console.directory,
        Operation::CreatePolicy,
        &[("PolicyName", &name), ("PolicyDocument", &form.document)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let (policy_name, document, text) = (name.clone(), form.document.clone(), description.clone());
    let created = signed_in
        .run(&console.directory, move |directory| {
            let description = (!text.is_empty()).then_some(text.as_str());
            directory.create_policy(
                &account,
                &policy_name,
                None,
                &document,
                description,
                Vec::new(),
            )
        })
        .await;
    match created {
        Ok(policy) => Redirect::to(&policy_path(&policy.arn)).into_response(),
        Err(error) => again(field_of(&error), &error),
    }
}

#[derive(Debug, Deserialize)]
pub struct ValidateForm {
    csrf: String,
    document: String,
}

/// What the editor's script shows: nothing, or the reason CreatePolicy would refuse the
/// document.
#[derive(Debug, Serialize)]
struct Validation {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `POST /console/policies/validate`: the editor's check as you type. It reads and writes
/// nothing, so it needs a session and the form's token but no permission.
pub async fn validate(
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<ValidateForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let error = check_managed_document(&form.document)
        .err()
        .map(|e| e.message);
    let body = serde_json::to_string(&Validation {
        valid: error.is_none(),
        error,
    })
    .unwrap_or_else(|_| r#"{"valid":false}"#.to_owned());
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct ArnQuery {
    #[serde(default)]
    arn: String,
}

#[derive(Debug)]
pub struct VersionRow {
    id: String,
    created: String,
    default: bool,
}

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage<'a> {
    chrome: &'a Chrome,
    arn: &'a str,
    name: &'a str,
    description: &'a str,
    aws_managed: bool,
    created: String,
    default_version: &'a str,
    document: &'a str,
    versions: Vec<VersionRow>,
    /// Why the versions are not shown, when ListPolicyVersions is refused.
    versions_denied: Option<String>,
    errors: FieldErrors,
}

/// `GET /console/policies/view?arn=`: the ARN holds slashes, so it travels in the query.
pub async fn detail(
    State(console): State<Arc<Console>>,
    signed_in: SignedIn,
    Query(query): Query<ArnQuery>,
) -> Response {
    policy_page(
        &console,
        &signed_in,
        &query.arn,
        FieldErrors::none(),
        StatusCode::OK,
    )
}

fn policy_page(
    console: &Console,
    signed_in: &SignedIn,
    arn: &str,
    errors: FieldErrors,
    status: StatusCode,
) -> Response {
    let directory = &console.directory;
    if let Err(error) = signed_in.authorize(directory, Operation::GetPolicy, &[("PolicyArn", arn)])
    {
        return error_page(&error, &signed_in.chrome);
    }
    let policy = match directory.policy(signed_in.account_id(), arn) {
        Ok(policy) => policy,
        Err(error) => return error_page(&error, &signed_in.chrome),
    };
    if let Err(error) = signed_in.authorize(
        directory,
        Operation::GetPolicyVersion,
        &[
            ("PolicyArn", arn),
            ("VersionId", &policy.default_version_id),
        ],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let versions_denied = signed_in
        .authorize(
            directory,
            Operation::ListPolicyVersions,
            &[("PolicyArn", arn)],
        )
        .err()
        .map(|e| e.message);
    let versions = if versions_denied.is_none() {
        policy
            .versions
            .iter()
            .map(|v| VersionRow {
                id: v.id.clone(),
                created: date(v.created),
                default: v.id == policy.default_version_id,
            })
            .collect()
    } else {
        Vec::new()
    };
    let document = policy
        .default_version()
        .map(|v| v.document.as_str())
        .unwrap_or_default();
    render(
        status,
        &PolicyPage {
            chrome: &signed_in.chrome,
            arn: &policy.arn,
            name: &policy.name,
            description: policy.description.as_deref().unwrap_or_default(),
            aws_managed: policy.is_aws_managed(),
            created: date(policy.created),
            default_version: &policy.default_version_id,
            document,
            versions,
            versions_denied,
            errors,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct VersionForm {
    csrf: String,
    arn: String,
    version: String,
    /// `set-default` or `delete`.
    action: String,
}

/// `POST /console/policies/versions`: SetDefaultPolicyVersion or DeletePolicyVersion.
pub async fn change_version(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    signed_in: SignedIn,
    Form(form): Form<VersionForm>,
) -> Response {
    if let Err(refused) = check_form(&headers, &signed_in, &form.csrf) {
        return refused.into_response();
    }
    let deleting = form.action == "delete";
    let op = if deleting {
        Operation::DeletePolicyVersion
    } else {
        Operation::SetDefaultPolicyVersion
    };
    if let Err(error) = signed_in.authorize(
        &console.directory,
        op,
        &[("PolicyArn", &form.arn), ("VersionId", &form.version)],
    ) {
        return error_page(&error, &signed_in.chrome);
    }
    let account = signed_in.account_id().to_owned();
    let (arn, version) = (form.arn.clone(), form.version.clone());
    let result = signed_in
        .run(&console.directory, move |directory| {
            if deleting {
                directory.delete_policy_version(&account, &arn, &version)
            } else {
                directory.set_default_policy_version(&account, &arn, &version)
            }
        })
        .await;
    match result {
        Ok(()) => Redirect::to(&policy_path(&form.arn)).into_response(),
        Err(error) => policy_page(
            &console,
            &signed_in,
            &form.arn,
            FieldErrors::at("versions", error.message.clone()),
            status_of(&error),
        ),
    }
}
