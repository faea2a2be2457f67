//! `dmp-core`: the DNS Mesh Protocol, sans-IO.
//!
//! Every protocol rule lives here exactly once: record codecs, crypto, the two
//! erasure layers, owner names and the client's send/receive logic. Nothing in
//! this crate touches a socket, a clock or the OS random source: callers pass
//! `now: u64` (Unix seconds) and an RNG, so every result is reproducible.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod civil;
pub mod client;
pub mod crypto;
#[cfg(feature = "dns")]
pub mod dns;
pub mod envelope;
pub mod error;
pub mod fec;
pub mod message;
pub mod names;
pub mod node;
pub mod records;
pub mod wire;

pub use error::Error;

/// The crate version, shown by front ends.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
