//! Running Sluice in production, end to end against the real binary: TLS on both listeners
//! (with certificates the test generates), mutual TLS, and refused clients.
//!
//! The external clients (grpcurl, Python's grpcio, redis-cli) are skipped with a loud warning
//! when missing, or fail under `SLUICE_REQUIRE_EXTERNAL=1` as in CI.

#[path = "../server_harness/mod.rs"]
mod server_harness;

mod pki;
mod tls;
mod users;
