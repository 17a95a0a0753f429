#![doc = include_str!("../README.md")]

mod condition;
mod context;
mod eval;
mod json;
mod pattern;
mod policy;
pub mod quota;

pub use context::{Context, ContextValue};
pub use eval::{
    CompiledSet, Decision, DenyReason, Evaluation, MatchedStatement, NamedPolicy, PolicyRef,
    PolicySet, PolicyType, Principal, PrincipalKind, Request, evaluate, evaluate_detailed,
};
pub use policy::{Effect, Policy, PolicyKind, PolicyVersion, Statement};

/// Why a document was rejected, worded as IAM's `MalformedPolicyDocument` message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PolicyError {
    pub message: String,
}
