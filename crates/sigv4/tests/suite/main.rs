//! Integration tests, one binary so the helpers are shared without dead code.

mod client;
mod errors;
mod http_text;
mod properties;
mod vectors;
