//! AWS SSO Admin (awsJson1_1, `X-Amz-Target: SWBExternalService.<Op>`, signed for `sso`):
//! the organization's IAM Identity Center instance, its permission sets, account
//! assignments and provisioning.
//!
//! Every call is authorized against each resource the Service Authorization Reference lists
//! as required for its action (the instance, the permission set, the account), all from
//! one snapshot; only principals of the management account, which owns the instance,
//! reach it.

use latchkey_core::directory::paginate_by_offset;
use latchkey_core::identitystore::validation;
use latchkey_core::model::{IdentityCenter, Tag};
use latchkey_core::ssoadmin::{
    Assignment, CustomerManagedPolicyReference, NewPermissionSet, PermissionSet,
    PermissionsBoundary, PrincipalType, ProvisionTarget, ProvisioningFilter, RequestKind,
    RequestStatus, account_arn, format_duration, instance_arn, parse_instance_arn,
    parse_permission_set_arn, permission_set_arn,
};
use latchkey_core::store::{AccountAssignmentRow, SsoRequestRow};
use latchkey_core::{Directory, ErrorCode, IamError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::base_context;
use super::identitystore::{
    epoch, in_dialect, max_results, member, missing, next_token, optional, page_json, required,
};
use crate::auth::Caller;
use crate::operation::Operation;

/// The awsJson spelling of errors shared with the IAM layers, and SSO Admin's own for a
/// quota.
fn dialect(error: IamError) -> IamError {
    let error = in_dialect(error);
    match error.code {
        ErrorCode::LimitExceeded => IamError {
            code: ErrorCode::ServiceQuotaExceeded,
            ..error
        },
        _ => error,
    }
}

/// Runs an SSO Admin operation for a caller.
pub fn execute(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<Value, IamError> {
    authorize(directory, caller, op, input).map_err(dialect)?;
    run(directory, op, input).map_err(dialect)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WireTag {
    key: String,
    value: String,
}

fn tags(input: &Value) -> Result<Vec<Tag>, IamError> {
    let tags: Vec<WireTag> = member(input, "Tags")?.unwrap_or_default();
    if tags.len() > 75 {
        return Err(validation(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 75",
        ));
    }
    Ok(tags
        .into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect())
}

fn tag_keys(input: &Value) -> Result<Vec<String>, IamError> {
    let keys: Vec<String> = member(input, "TagKeys")?.ok_or_else(|| missing("TagKeys"))?;
    if keys.is_empty() || keys.len() > 75 {
        return Err(validation(
            "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length between 1 and 75",
        ));
    }
    Ok(keys)
}

fn enum_error(member: &str, value: &str, allowed: &str) -> IamError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    ))
}

fn principal_type(input: &Value) -> Result<PrincipalType, IamError> {
    let given = required(input, "PrincipalType")?;
    PrincipalType::parse(given).ok_or_else(|| enum_error("principalType", given, "USER, GROUP"))
}

/// `TargetType` of an account assignment: only `AWS_ACCOUNT`.
fn account_target_type(input: &Value) -> Result<(), IamError> {
    let given = required(input, "TargetType")?;
    if given != "AWS_ACCOUNT" {
        return Err(enum_error("targetType", given, "AWS_ACCOUNT"));
    }
    Ok(())
}

fn provision_target<'a>(input: &'a Value) -> Result<ProvisionTarget<'a>, IamError> {
    let target_id = optional(input, "TargetId")?;
    match required(input, "TargetType")? {
        "AWS_ACCOUNT" => target_id
            .map(ProvisionTarget::Account)
            .ok_or_else(|| validation("TargetId is required when TargetType is AWS_ACCOUNT.")),
        "ALL_PROVISIONED_ACCOUNTS" => match target_id {
            None => Ok(ProvisionTarget::AllProvisionedAccounts),
            Some(_) => Err(validation(
                "TargetId must not be given when TargetType is ALL_PROVISIONED_ACCOUNTS.",
            )),
        },
        other => Err(enum_error(
            "targetType",
            other,
            "AWS_ACCOUNT, ALL_PROVISIONED_ACCOUNTS",
        )),
    }
}

fn provisioning_filter(input: &Value) -> Result<Option<ProvisioningFilter>, IamError> {
    optional(input, "ProvisioningStatus")?
        .map(|given| {
            ProvisioningFilter::parse(given).ok_or_else(|| {
                enum_error(
                    "provisioningStatus",
                    given,
                    "LATEST_PERMISSION_SET_PROVISIONED, LATEST_PERMISSION_SET_NOT_PROVISIONED",
                )
            })
        })
        .transpose()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct StatusFilter {
    status: Option<String>,
}

/// The `Filter` of the List...Status calls. Requests never stay `IN_PROGRESS`, so that
/// filter matches none.
fn status_filter(input: &Value) -> Result<Option<Option<RequestStatus>>, IamError> {
    let filter: Option<StatusFilter> = member(input, "Filter")?;
    match filter.and_then(|f| f.status) {
        None => Ok(Some(None)),
        Some(status) if status == "IN_PROGRESS" => Ok(None),
        Some(status) => RequestStatus::parse(&status)
            .map(|s| Some(Some(s)))
            .ok_or_else(|| enum_error("filter.status", &status, "IN_PROGRESS, FAILED, SUCCEEDED")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccountFilter {
    account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct WireBoundary {
    customer_managed_policy_reference: Option<CustomerManagedPolicyReference>,
    managed_policy_arn: Option<String>,
}

fn boundary(input: &Value) -> Result<PermissionsBoundary, IamError> {
    let given: WireBoundary =
        member(input, "PermissionsBoundary")?.ok_or_else(|| missing("PermissionsBoundary"))?;
    match (
        given.customer_managed_policy_reference,
        given.managed_policy_arn,
    ) {
        (Some(reference), None) => Ok(PermissionsBoundary::CustomerManagedPolicyReference(
            reference,
        )),
        (None, Some(arn)) => Ok(PermissionsBoundary::ManagedPolicyArn(arn)),
        _ => Err(validation(
            "The permissions boundary must have exactly one of CustomerManagedPolicyReference and ManagedPolicyArn.",
        )),
    }
}

fn reference(input: &Value) -> Result<CustomerManagedPolicyReference, IamError> {
    member(input, "CustomerManagedPolicyReference")?
        .ok_or_else(|| missing("CustomerManagedPolicyReference"))
}

fn assignment(input: &Value) -> Result<Assignment<'_>, IamError> {
    account_target_type(input)?;
    Ok(Assignment {
        permission_set_arn: required(input, "PermissionSetArn")?,
        account_id: required(input, "TargetId")?,
        principal_type: principal_type(input)?,
        principal_id: required(input, "PrincipalId")?,
    })
}

/// The permission set a Tag/Untag/ListTags call names, and the instance it is in (the
/// `InstanceArn` given, or the one in the permission set's ARN). Only permission sets are
/// tagged here.
fn tagged_resource(input: &Value) -> Result<(String, &str), IamError> {
    let resource = required(input, "ResourceArn")?;
    if parse_instance_arn("resourceArn", resource).is_ok() {
        return Err(validation(
            "Tags of the instance are not supported; tag its permission sets.",
        ));
    }
    let (instance, _) = parse_permission_set_arn("resourceArn", resource)?;
    let instance = match optional(input, "InstanceArn")? {
        Some(given) => given.to_owned(),
        None => instance_arn(instance),
    };
    Ok((instance, resource))
}

fn instance_json(center: &IdentityCenter) -> Value {
    json!({
        "InstanceArn": center.instance_arn(),
        "IdentityStoreId": center.identity_store_id,
        "IdentityStoreArn": center.identity_store_arn(),
        "OwnerAccountId": center.account_id,
        "CreatedDate": epoch(center.created),
        "Status": "ACTIVE",
    })
}

fn permission_set_json(ps: &PermissionSet) -> Value {
    let row = &ps.row;
    let mut out = json!({
        "Name": row.name,
        "PermissionSetArn": ps.arn(),
        "CreatedDate": epoch(row.created),
        "SessionDuration": format_duration(row.session_duration),
    });
    if let Some(description) = &row.description {
        out["Description"] = json!(description);
    }
    if let Some(relay_state) = &row.relay_state {
        out["RelayState"] = json!(relay_state);
    }
    out
}

fn assignment_status_json(request: &SsoRequestRow) -> Value {
    let mut out = json!({
        "Status": request.status.as_str(),
        "RequestId": request.id,
        "TargetType": "AWS_ACCOUNT",
        "PermissionSetArn": request.permission_set_arn,
        "CreatedDate": epoch(request.created),
    });
    if let Some(account) = &request.account_id {
        out["TargetId"] = json!(account);
    }
    if let Some((kind, id)) = &request.principal {
        out["PrincipalType"] = json!(kind.as_str());
        out["PrincipalId"] = json!(id);
    }
    if let Some(reason) = &request.failure_reason {
        out["FailureReason"] = json!(reason);
    }
    out
}

fn provisioning_status_json(request: &SsoRequestRow) -> Value {
    let mut out = json!({
        "Status": request.status.as_str(),
        "RequestId": request.id,
        "PermissionSetArn": request.permission_set_arn,
        "CreatedDate": epoch(request.created),
    });
    if let Some(account) = &request.account_id {
        out["AccountId"] = json!(account);
    }
    if let Some(reason) = &request.failure_reason {
        out["FailureReason"] = json!(reason);
    }
    out
}

/// A request as the List...Status calls list it.
fn request_metadata_json(request: &SsoRequestRow) -> Value {
    json!({
        "Status": request.status.as_str(),
        "RequestId": request.id,
        "CreatedDate": epoch(request.created),
    })
}

fn assignment_json(center: &IdentityCenter, assignment: &AccountAssignmentRow) -> Value {
    json!({
        "AccountId": assignment.account_id,
        "PermissionSetArn": permission_set_arn(&center.instance_id, &assignment.permission_set_id),
        "PrincipalType": assignment.principal_type.as_str(),
        "PrincipalId": assignment.principal_id,
    })
}

/// Every resource `sso:<Op>` requires, as the Service Authorization Reference lists them:
/// the instance, the permission set, the account (`arn:aws:sso:::account/<id>`).
fn resources(op: Operation, input: &Value) -> Result<Vec<String>, IamError> {
    use Operation::*;
    if op == ListInstances {
        return Ok(vec!["*".to_owned()]);
    }
    if matches!(op, TagResource | UntagResource | ListTagsForResource) {
        let (instance, resource) = tagged_resource(input)?;
        parse_instance_arn("instanceArn", &instance)?;
        return Ok(vec![instance, resource.to_owned()]);
    }
    let instance = required(input, "InstanceArn")?;
    parse_instance_arn("instanceArn", instance)?;
    let mut arns = vec![instance.to_owned()];
    let permission_set = |arns: &mut Vec<String>| -> Result<(), IamError> {
        let arn = required(input, "PermissionSetArn")?;
        parse_permission_set_arn("permissionSetArn", arn)?;
        arns.push(arn.to_owned());
        Ok(())
    };
    match op {
        DescribeInstance
        | CreatePermissionSet
        | ListPermissionSets
        | DescribeAccountAssignmentCreationStatus
        | DescribeAccountAssignmentDeletionStatus
        | ListAccountAssignmentCreationStatus
        | ListAccountAssignmentDeletionStatus
        | DescribePermissionSetProvisioningStatus
        | ListPermissionSetProvisioningStatus
        | ListAccountAssignmentsForPrincipal => {}
        DescribePermissionSet
        | UpdatePermissionSet
        | DeletePermissionSet
        | AttachManagedPolicyToPermissionSet
        | DetachManagedPolicyFromPermissionSet
        | ListManagedPoliciesInPermissionSet
        | AttachCustomerManagedPolicyReferenceToPermissionSet
        | DetachCustomerManagedPolicyReferenceFromPermissionSet
        | ListCustomerManagedPolicyReferencesInPermissionSet
        | PutInlinePolicyToPermissionSet
        | GetInlinePolicyForPermissionSet
        | DeleteInlinePolicyFromPermissionSet
        | PutPermissionsBoundaryToPermissionSet
        | GetPermissionsBoundaryForPermissionSet
        | DeletePermissionsBoundaryFromPermissionSet
        | ListAccountsForProvisionedPermissionSet => permission_set(&mut arns)?,
        CreateAccountAssignment | DeleteAccountAssignment => {
            permission_set(&mut arns)?;
            arns.push(account_arn(required(input, "TargetId")?));
        }
        ListAccountAssignments => {
            permission_set(&mut arns)?;
            arns.push(account_arn(required(input, "AccountId")?));
        }
        ListPermissionSetsProvisionedToAccount => {
            arns.push(account_arn(required(input, "AccountId")?));
        }
        ProvisionPermissionSet => {
            permission_set(&mut arns)?;
            if let Some(account) = optional(input, "TargetId")? {
                arns.push(account_arn(account));
            }
        }
        other => {
            return Err(IamError::new(
                ErrorCode::InvalidAction,
                format!("Operation {} is not supported.", other.name()),
            ));
        }
    }
    Ok(arns)
}

/// Only the management account, which owns the instance, administers it; there, the
/// caller's policies must allow the action on every resource it requires.
fn authorize(
    directory: &Directory,
    caller: &Caller,
    op: Operation,
    input: &Value,
) -> Result<(), IamError> {
    // One snapshot for the whole decision: resources, context and policies agree.
    let state = directory.snapshot();
    let center = state
        .identity_store
        .center
        .clone()
        .ok_or_else(IamError::service_failure)?;
    let resources = resources(op, input)?;
    if caller.principal.account_id() != center.account_id {
        return Err(IamError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} because the instance belongs to another account",
                caller.principal.arn(),
                op.action(),
                center.instance_arn()
            ),
        ));
    }
    let mut context = base_context(caller);
    let mut keys: Vec<String> = Vec::new();
    if matches!(op, Operation::CreatePermissionSet | Operation::TagResource) {
        for tag in tags(input)? {
            context.insert(&format!("aws:RequestTag/{}", tag.key), tag.value);
            keys.push(tag.key);
        }
    }
    if op == Operation::UntagResource {
        keys.extend(tag_keys(input)?);
    }
    if !keys.is_empty() {
        context.insert_multi("aws:TagKeys", keys);
    }
    for resource in &resources {
        crate::metrics::timed_authorization(|| {
            directory.authorize(
                &state,
                &caller.principal,
                op.action(),
                resource,
                &context,
                caller.at,
            )
        })?;
    }
    Ok(())
}

fn run(directory: &Directory, op: Operation, input: &Value) -> Result<Value, IamError> {
    use Operation::*;
    let sso = directory.sso_admin();
    if op == ListInstances {
        max_results(input)?;
        // There is one instance, on the first page: no token of ours continues it.
        if next_token(input)?.is_some() {
            return Err(validation("The NextToken is not valid."));
        }
        let instances: Vec<Value> = sso.instances().iter().map(|c| instance_json(c)).collect();
        return Ok(json!({ "Instances": instances }));
    }
    if matches!(op, TagResource | UntagResource | ListTagsForResource) {
        let (instance, resource) = tagged_resource(input)?;
        return match op {
            TagResource => {
                sso.tag(&instance, resource, tags(input)?)?;
                Ok(json!({}))
            }
            UntagResource => {
                sso.untag(&instance, resource, tag_keys(input)?)?;
                Ok(json!({}))
            }
            _ => {
                let ps = sso.permission_set(&instance, resource)?;
                let page = paginate_by_offset(&ps.tags, next_token(input)?, None)?;
                Ok(page_json(
                    "Tags",
                    &page,
                    |t| json!({ "Key": t.key, "Value": t.value }),
                ))
            }
        };
    }
    let instance = required(input, "InstanceArn")?;
    let ps_arn = || required(input, "PermissionSetArn");
    match op {
        DescribeInstance => Ok(instance_json(sso.instance(instance)?.as_ref())),
        CreatePermissionSet => {
            let ps = sso.create_permission_set(
                instance,
                NewPermissionSet {
                    name: required(input, "Name")?,
                    description: optional(input, "Description")?,
                    session_duration: optional(input, "SessionDuration")?,
                    relay_state: optional(input, "RelayState")?,
                    tags: tags(input)?,
                },
            )?;
            Ok(json!({ "PermissionSet": permission_set_json(&ps) }))
        }
        DescribePermissionSet => {
            let ps = sso.permission_set(instance, ps_arn()?)?;
            Ok(json!({ "PermissionSet": permission_set_json(&ps) }))
        }
        ListPermissionSets => {
            let page =
                sso.list_permission_sets(instance, next_token(input)?, max_results(input)?)?;
            Ok(page_json("PermissionSets", &page, |ps| json!(ps.arn())))
        }
        UpdatePermissionSet => {
            sso.update_permission_set(
                instance,
                ps_arn()?,
                optional(input, "Description")?,
                optional(input, "SessionDuration")?,
                optional(input, "RelayState")?,
            )?;
            Ok(json!({}))
        }
        DeletePermissionSet => {
            sso.delete_permission_set(instance, ps_arn()?)?;
            Ok(json!({}))
        }
        AttachManagedPolicyToPermissionSet => {
            sso.attach_managed_policy(instance, ps_arn()?, required(input, "ManagedPolicyArn")?)?;
            Ok(json!({}))
        }
        DetachManagedPolicyFromPermissionSet => {
            sso.detach_managed_policy(instance, ps_arn()?, required(input, "ManagedPolicyArn")?)?;
            Ok(json!({}))
        }
        ListManagedPoliciesInPermissionSet => {
            let ps = sso.permission_set(instance, ps_arn()?)?;
            let state = directory.snapshot();
            let page = paginate_by_offset(
                &ps.row.policies.managed_policy_arns,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("AttachedManagedPolicies", &page, |arn| {
                let name = state.policies.get(arn).map_or("", |p| p.name.as_str());
                json!({ "Name": name, "Arn": arn })
            }))
        }
        AttachCustomerManagedPolicyReferenceToPermissionSet => {
            sso.attach_customer_managed_policy(instance, ps_arn()?, &reference(input)?)?;
            Ok(json!({}))
        }
        DetachCustomerManagedPolicyReferenceFromPermissionSet => {
            sso.detach_customer_managed_policy(instance, ps_arn()?, &reference(input)?)?;
            Ok(json!({}))
        }
        ListCustomerManagedPolicyReferencesInPermissionSet => {
            let ps = sso.permission_set(instance, ps_arn()?)?;
            let page = paginate_by_offset(
                &ps.row.policies.customer_managed,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json(
                "CustomerManagedPolicyReferences",
                &page,
                |r| json!({ "Name": r.name, "Path": r.path }),
            ))
        }
        PutInlinePolicyToPermissionSet => {
            sso.put_inline_policy(instance, ps_arn()?, required(input, "InlinePolicy")?)?;
            Ok(json!({}))
        }
        GetInlinePolicyForPermissionSet => {
            let ps = sso.permission_set(instance, ps_arn()?)?;
            Ok(match &ps.row.policies.inline_policy {
                Some(document) => json!({ "InlinePolicy": document }),
                None => json!({}),
            })
        }
        DeleteInlinePolicyFromPermissionSet => {
            sso.delete_inline_policy(instance, ps_arn()?)?;
            Ok(json!({}))
        }
        PutPermissionsBoundaryToPermissionSet => {
            sso.put_boundary(instance, ps_arn()?, boundary(input)?)?;
            Ok(json!({}))
        }
        GetPermissionsBoundaryForPermissionSet => {
            let ps = sso.permission_set(instance, ps_arn()?)?;
            let boundary = match &ps.row.policies.boundary {
                Some(PermissionsBoundary::ManagedPolicyArn(arn)) => {
                    json!({ "ManagedPolicyArn": arn })
                }
                Some(PermissionsBoundary::CustomerManagedPolicyReference(r)) => {
                    json!({ "CustomerManagedPolicyReference": { "Name": r.name, "Path": r.path } })
                }
                None => {
                    return Err(IamError::new(
                        ErrorCode::ResourceNotFound,
                        "The permission set has no permissions boundary.",
                    ));
                }
            };
            Ok(json!({ "PermissionsBoundary": boundary }))
        }
        DeletePermissionsBoundaryFromPermissionSet => {
            sso.delete_boundary(instance, ps_arn()?)?;
            Ok(json!({}))
        }
        CreateAccountAssignment => {
            let request = sso.create_assignment(instance, assignment(input)?)?;
            Ok(json!({ "AccountAssignmentCreationStatus": assignment_status_json(&request) }))
        }
        DeleteAccountAssignment => {
            let request = sso.delete_assignment(instance, assignment(input)?)?;
            Ok(json!({ "AccountAssignmentDeletionStatus": assignment_status_json(&request) }))
        }
        DescribeAccountAssignmentCreationStatus => {
            let request = sso.request(
                instance,
                RequestKind::AssignmentCreation,
                required(input, "AccountAssignmentCreationRequestId")?,
            )?;
            Ok(json!({ "AccountAssignmentCreationStatus": assignment_status_json(&request) }))
        }
        DescribeAccountAssignmentDeletionStatus => {
            let request = sso.request(
                instance,
                RequestKind::AssignmentDeletion,
                required(input, "AccountAssignmentDeletionRequestId")?,
            )?;
            Ok(json!({ "AccountAssignmentDeletionStatus": assignment_status_json(&request) }))
        }
        DescribePermissionSetProvisioningStatus => {
            let request = sso.request(
                instance,
                RequestKind::Provisioning,
                required(input, "ProvisionPermissionSetRequestId")?,
            )?;
            Ok(json!({ "PermissionSetProvisioningStatus": provisioning_status_json(&request) }))
        }
        ListAccountAssignmentCreationStatus
        | ListAccountAssignmentDeletionStatus
        | ListPermissionSetProvisioningStatus => {
            let (kind, key) = match op {
                ListAccountAssignmentCreationStatus => (
                    RequestKind::AssignmentCreation,
                    "AccountAssignmentsCreationStatus",
                ),
                ListAccountAssignmentDeletionStatus => (
                    RequestKind::AssignmentDeletion,
                    "AccountAssignmentsDeletionStatus",
                ),
                _ => (
                    RequestKind::Provisioning,
                    "PermissionSetsProvisioningStatus",
                ),
            };
            let (token, max) = (next_token(input)?, max_results(input)?);
            match status_filter(input)? {
                None => {
                    sso.instance(instance)?;
                    Ok(json!({ key: [] }))
                }
                Some(status) => {
                    let page = sso.list_requests(instance, kind, status, token, max)?;
                    Ok(page_json(key, &page, |r| request_metadata_json(r)))
                }
            }
        }
        ListAccountAssignments => {
            let center = sso.instance(instance)?;
            let page = sso.list_assignments(
                instance,
                required(input, "AccountId")?,
                ps_arn()?,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("AccountAssignments", &page, |a| {
                assignment_json(&center, a)
            }))
        }
        ListAccountAssignmentsForPrincipal => {
            let center = sso.instance(instance)?;
            let filter: Option<AccountFilter> = member(input, "Filter")?;
            let page = sso.list_assignments_for_principal(
                instance,
                principal_type(input)?,
                required(input, "PrincipalId")?,
                filter.as_ref().and_then(|f| f.account_id.as_deref()),
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("AccountAssignments", &page, |a| {
                assignment_json(&center, a)
            }))
        }
        ListAccountsForProvisionedPermissionSet => {
            let page = sso.provisioned_accounts(
                instance,
                ps_arn()?,
                provisioning_filter(input)?,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("AccountIds", &page, |a| json!(a)))
        }
        ListPermissionSetsProvisionedToAccount => {
            let page = sso.provisioned_permission_sets(
                instance,
                required(input, "AccountId")?,
                provisioning_filter(input)?,
                next_token(input)?,
                max_results(input)?,
            )?;
            Ok(page_json("PermissionSets", &page, |arn| json!(arn)))
        }
        ProvisionPermissionSet => {
            let request = sso.provision(instance, ps_arn()?, provision_target(input)?)?;
            Ok(json!({ "PermissionSetProvisioningStatus": provisioning_status_json(&request) }))
        }
        other => Err(IamError::new(
            ErrorCode::InvalidAction,
            format!("Operation {} is not supported.", other.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_follow_the_service_authorization_reference() {
        let instance = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
        let ps = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef";
        let input = json!({
            "InstanceArn": instance,
            "PermissionSetArn": ps,
            "TargetId": "111122223333",
            "TargetType": "AWS_ACCOUNT",
        });
        assert_eq!(
            resources(Operation::CreateAccountAssignment, &input).unwrap(),
            [instance, ps, "arn:aws:sso:::account/111122223333"]
        );
        assert_eq!(
            resources(Operation::CreatePermissionSet, &input).unwrap(),
            [instance]
        );
        assert_eq!(
            resources(Operation::ListInstances, &json!({})).unwrap(),
            ["*"]
        );
        let tagged = json!({ "ResourceArn": ps });
        assert_eq!(
            resources(Operation::ListTagsForResource, &tagged).unwrap(),
            [instance, ps]
        );
        let bad = json!({ "InstanceArn": "arn:aws:sso:::instance/nope" });
        assert_eq!(
            resources(Operation::ListPermissionSets, &bad)
                .unwrap_err()
                .code,
            ErrorCode::Validation
        );
    }

    #[test]
    fn provisioning_targets_are_checked() {
        assert_eq!(
            provision_target(&json!({"TargetType": "AWS_ACCOUNT", "TargetId": "111122223333"}))
                .unwrap(),
            ProvisionTarget::Account("111122223333")
        );
        assert!(provision_target(&json!({"TargetType": "AWS_ACCOUNT"})).is_err());
        assert!(
            provision_target(
                &json!({"TargetType": "ALL_PROVISIONED_ACCOUNTS", "TargetId": "111122223333"})
            )
            .is_err()
        );
        assert!(provision_target(&json!({"TargetType": "OU"})).is_err());
        assert_eq!(status_filter(&json!({})).unwrap(), Some(None));
        assert_eq!(
            status_filter(&json!({"Filter": {"Status": "IN_PROGRESS"}})).unwrap(),
            None
        );
        assert!(status_filter(&json!({"Filter": {"Status": "DONE"}})).is_err());
    }
}
