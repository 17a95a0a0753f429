//! The policy simulator and the context-key listings.

use std::sync::Arc;

use latchkey_core::simulate::{Simulation, context_keys, input_policy};
use latchkey_core::{Directory, ErrorCode, IamError};
use latchkey_policy::{Context, Policy, PolicyKind};
use latchkey_query::{QueryRequest, XmlResponse};

use super::invalid;
use crate::auth::Caller;
use crate::operation::Operation;

/// A list of policy documents (`PolicyInputList.member.N`), parsed.
fn policy_list(
    params: &QueryRequest,
    name: &str,
    kind: PolicyKind,
) -> Result<Vec<Arc<Policy>>, IamError> {
    params
        .string_list(name)
        .map_err(invalid)?
        .into_iter()
        .enumerate()
        .map(|(index, document)| input_policy(document, kind, name, index))
        .collect()
}

/// ContextEntries: each key with its type and values, as the simulation's request context.
fn context_entries(params: &QueryRequest) -> Result<Context, IamError> {
    let mut context = Context::new();
    let entries = params
        .struct_list("ContextEntries", |member| {
            let name = member.get("ContextKeyName").unwrap_or_default().to_owned();
            let kind = member.get("ContextKeyType").unwrap_or("string").to_owned();
            let mut values = Vec::new();
            for index in 1.. {
                match member.get(&format!("ContextKeyValues.member.{index}")) {
                    Some(value) => values.push(value.to_owned()),
                    None => break,
                }
            }
            Ok((name, kind, values))
        })
        .map_err(invalid)?;
    for (name, kind, values) in entries {
        const TYPES: &[&str] = &["string", "numeric", "boolean", "ip", "binary", "date"];
        let scalar = kind.strip_suffix("List").unwrap_or(&kind);
        if name.is_empty() || !TYPES.contains(&scalar) {
            return Err(IamError::new(
                ErrorCode::InvalidInput,
                format!("Invalid context entry {name} of type {kind}."),
            ));
        }
        if kind.ends_with("List") {
            context.insert_multi(&name, values);
        } else if let Some(value) = values.into_iter().next() {
            context.insert(&name, value);
        }
    }
    Ok(context)
}

fn write_keys(out: &mut XmlResponse, keys: &[String]) {
    out.list("ContextKeyNames", keys, |out, key| {
        out.escape_text(key);
    });
}

pub(super) fn run(
    op: Operation,
    directory: &Directory,
    caller: &Caller,
    params: &QueryRequest,
    out: &mut XmlResponse,
) -> Result<(), IamError> {
    let account = caller.principal.account_id();
    let state = directory.snapshot();
    let extra = policy_list(params, "PolicyInputList", PolicyKind::Identity)?;
    match op {
        Operation::GetContextKeysForCustomPolicy => {
            if extra.is_empty() {
                return Err(IamError::new(
                    ErrorCode::ValidationError,
                    "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
                ));
            }
            write_keys(out, &context_keys(extra.iter().map(Arc::as_ref)));
            return Ok(());
        }
        Operation::GetContextKeysForPrincipalPolicy => {
            let source = Simulation::for_source(
                &state,
                account,
                params.required("PolicySourceArn").map_err(invalid)?,
            )?;
            let policies = source
                .identity
                .iter()
                .map(|(_, _, p)| p.as_ref())
                .chain(extra.iter().map(Arc::as_ref));
            write_keys(out, &context_keys(policies));
            return Ok(());
        }
        _ => {}
    }

    let mut simulation = match op {
        Operation::SimulatePrincipalPolicy => {
            let mut simulation = Simulation::for_source(
                &state,
                account,
                params.required("PolicySourceArn").map_err(invalid)?,
            )?;
            let excluded = params.string_list("PolicyExclusionList").map_err(invalid)?;
            simulation
                .identity
                .retain(|(id, _, _)| !excluded.iter().any(|e| e == id));
            simulation
        }
        _ => {
            if extra.is_empty() {
                return Err(IamError::new(
                    ErrorCode::ValidationError,
                    "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null",
                ));
            }
            Simulation {
                caller_arn: caller.principal.arn(),
                caller_account: account.to_owned(),
                ..Simulation::default()
            }
        }
    };
    for (index, policy) in extra.into_iter().enumerate() {
        simulation
            .identity
            .push((format!("PolicyInputList.{}", index + 1), "none", policy));
    }
    if let Some((index, boundary)) = policy_list(
        params,
        "PermissionsBoundaryPolicyInputList",
        PolicyKind::Boundary,
    )?
    .into_iter()
    .enumerate()
    .next()
    {
        simulation.boundary = Some((
            format!("PermissionsBoundaryPolicyInputList.{}", index + 1),
            boundary,
        ));
    }
    // One entry per level of the organization, root first, each with its own SCPs.
    let levels = params
        .struct_list("OrderedOrganizationPolicyInputList", |level| {
            let mut documents = Vec::new();
            for index in 1.. {
                match level.get(&format!("ServiceControlPolicyInputList.member.{index}")) {
                    Some(document) => documents.push(document.to_owned()),
                    None => break,
                }
            }
            Ok(documents)
        })
        .map_err(invalid)?;
    for (level_index, documents) in levels.into_iter().enumerate() {
        let list = format!(
            "OrderedOrganizationPolicyInputList.{}.ServiceControlPolicyInputList",
            level_index + 1
        );
        let level = documents
            .iter()
            .enumerate()
            .map(|(index, document)| {
                input_policy(document, PolicyKind::ServiceControl, &list, index)
                    .map(|policy| (format!("{list}.{}", index + 1), policy))
            })
            .collect::<Result<Vec<_>, _>>()?;
        simulation.scp_levels.push(level);
    }
    if let Some(document) = params.get("ResourcePolicy") {
        simulation.resource_policy = Some(input_policy(
            document,
            PolicyKind::Resource,
            "ResourcePolicy",
            0,
        )?);
    }
    if let Some(caller_arn) = params.get("CallerArn") {
        simulation.caller_arn = caller_arn.to_owned();
    }
    simulation.resource_owner = params.get("ResourceOwner").map(str::to_owned);

    let actions = params.string_list("ActionNames").map_err(invalid)?;
    if actions.is_empty() {
        return Err(IamError::new(
            ErrorCode::ValidationError,
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut resources = params.string_list("ResourceArns").map_err(invalid)?;
    if resources.is_empty() {
        resources.push("*");
    }
    let mut context = context_entries(params)?;
    // Policy variables of the simulated user resolve as they would for its requests.
    if let Some(name) = simulation
        .caller_arn
        .rsplit_once(":user/")
        .map(|(_, rest)| rest.rsplit('/').next().unwrap_or(rest))
        && context.get("aws:username").is_none()
    {
        context.insert("aws:username", name);
    }
    let results = simulation.run(&actions, &resources, &context);
    out.list("EvaluationResults", &results, |out, result| {
        out.element("EvalActionName", &result.action)
            .element("EvalResourceName", &result.resource)
            .element("EvalDecision", result.decision);
        out.list("MatchedStatements", &result.matched, |out, (id, kind)| {
            out.element("SourcePolicyId", id)
                .element("SourcePolicyType", kind);
        });
        out.list(
            "MissingContextValues",
            &result.missing_context_values,
            |out, key| {
                out.escape_text(key);
            },
        );
        if let Some(allowed) = result.allowed_by_organizations {
            out.open("OrganizationsDecisionDetail")
                .element(
                    "AllowedByOrganizations",
                    if allowed { "true" } else { "false" },
                )
                .close("OrganizationsDecisionDetail");
        }
        if let Some(allowed) = result.allowed_by_boundary {
            out.open("PermissionsBoundaryDecisionDetail")
                .element(
                    "AllowedByPermissionsBoundary",
                    if allowed { "true" } else { "false" },
                )
                .close("PermissionsBoundaryDecisionDetail");
        }
    });
    out.element("IsTruncated", "false");
    Ok(())
}
