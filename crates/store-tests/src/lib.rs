//! The store conformance suite lives in `tests/conformance.rs`: the same test functions run
//! against every `Store` backend (SQLite in a temporary directory, PostgreSQL in a fresh
//! database per test), through `Directory` and through `Store` directly, and the backends'
//! schemas are compared so that they cannot drift apart.
//!
//! PostgreSQL is found at `LATCHKEY_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); that database is only used to create and drop
//! the per-test databases `latchkey_test_<random>`.
