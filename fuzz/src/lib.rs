//! Fuzz harness bodies for `dmp-core`, kept in a library so that the
//! libFuzzer targets (`fuzz_targets/*.rs`, one line each) and the seed
//! generator (`examples/seeds.rs`) share one fixed "world": keys, contexts,
//! clock and deterministic RNG.
//!
//! Every `run` function takes raw fuzzer bytes, must never panic on its own
//! account, and panics (so libFuzzer records a crash) only when `dmp-core`
//! panics or breaks one of the invariants asserted there.

pub mod fec;
pub mod message;
pub mod receive;
pub mod records;
pub mod seeds;
pub mod world;
