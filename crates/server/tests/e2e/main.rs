//! End-to-end tests: the real `latchkey` binary driven by the official AWS SDK for Rust.
//!
//! One test binary (so one build and one server process) holds every end-to-end test;
//! `harness` starts the server and builds clients, the other modules hold the tests.

mod access_keys;
mod harness;
mod identity_center;
mod roles;
mod sts;
mod users;
