//! latchkey's server: the HTTP front of the domain (routing, SigV4 callers, the awsQuery and
//! awsJson protocols, the console and the access portal, SSO OIDC), and what the `latchkey`
//! binary's commands run. A library beside the binary so that the fuzz targets can drive the
//! console's routes in-process (`fuzz/fuzz_targets/console_form.rs`).

mod api;
pub mod audit;
mod auth;
pub mod config;
pub mod console;
pub mod datadir;
mod follow;
mod html;
mod invitation;
mod mail;
mod metrics;
mod observe;
pub mod oidc;
mod operation;
mod portal;
mod rest;
pub mod rotation;
mod second_factor;
pub mod server;
mod throttle;
mod tls;
