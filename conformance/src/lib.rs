//! `dmp-conformance`: one HTTP/DoH conformance suite for every DMP node.
//!
//! The same checks run against the self-hosted `dmp-node` (from
//! `self-hosted-node/tests/conformance.rs`) and against the edge node under
//! `wrangler dev` (from `scripts/test-edge.sh`, through the
//! `dmp-conformance` binary), so the two nodes answer clients identically:
//! paths, status codes, exact JSON bodies (built with the same `dmp-core`
//! helpers the nodes use), append semantics, caps, auth modes,
//! registration, DoH (RFC 8484 GET/POST and JSON) and CORS.
//!
//! A [`Target`] says how the node under test is configured (auth mode,
//! operator token, registration); checks that need another configuration
//! are skipped, never passed. Every run writes names under a fresh random
//! label, so runs against a persistent store do not collide.

pub mod checks;
pub mod http;

pub use checks::{CheckResult, Group, Mode, Outcome, Report, Target, run};
