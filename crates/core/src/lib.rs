//! latchkey's domain layer: accounts, users, access keys and the rules that govern them.
//!
//! Nothing here speaks HTTP or a wire protocol. The [`Directory`] is the service the
//! transport calls; it reads from an in-memory snapshot ([`state::State`]) and writes through
//! the [`store::Store`] trait.

pub mod account_settings;
pub mod audit;
pub mod authorization_message;
pub mod authz;
pub mod backup;
pub mod catalog;
pub mod console;
pub mod directory;
pub mod error;
pub mod groups;
pub mod identity_mfa;
pub mod identitystore;
pub mod ids;
pub mod invitations;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod organizational_units;
pub mod organizations;
pub mod password;
pub mod policies;
pub mod report;
pub mod roles;
pub mod rotation;
pub mod seal;
pub mod sessions;
pub mod simulate;
pub mod ssoadmin;
pub mod state;
pub mod store;
pub mod validate;

pub use directory::{Directory, Page};
pub use error::{ErrorCode, IamError};
