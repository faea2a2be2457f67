//! The crate-wide error type. Parsers return `Result<_, Error>` and never panic.

use core::fmt;

/// What went wrong, precisely enough for a front end to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The TXT value does not start with the record's exact prefix.
    Prefix,
    /// The value exceeds a wire-length cap (the cap is given).
    TooLong { cap: usize },
    /// Base64 decoding failed.
    Base64,
    /// The decoded blob has the wrong length or structure.
    Malformed(&'static str),
    /// A field violates a protocol rule (the rule is named).
    Invalid(&'static str),
    /// An Ed25519 signature did not verify, or the key is a blocked low-order key.
    BadSignature,
    /// The record is expired at `now`, or lies too far in the future.
    Time(&'static str),
    /// A value did not match what the caller expected (key, name, subject).
    Mismatch(&'static str),
    /// Authenticated decryption failed.
    Decrypt,
    /// An X25519 exchange produced a non-contributory (low-order) result.
    NonContributory,
    /// Erasure or Reed-Solomon decoding failed.
    Decode(&'static str),
    /// The message is too large for the protocol's limits.
    MessageTooLarge { len: usize, max: usize },
    /// Key derivation failed (bad parameters or salt).
    Kdf(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Prefix => f.write_str("value does not carry the expected record prefix"),
            Error::TooLong { cap } => write!(f, "value longer than the {cap}-byte cap"),
            Error::Base64 => f.write_str("invalid base64"),
            Error::Malformed(what) => write!(f, "malformed record: {what}"),
            Error::Invalid(what) => write!(f, "invalid field: {what}"),
            Error::BadSignature => f.write_str("signature does not verify"),
            Error::Time(what) => write!(f, "time check failed: {what}"),
            Error::Mismatch(what) => write!(f, "mismatch: {what}"),
            Error::Decrypt => f.write_str("decryption failed"),
            Error::NonContributory => f.write_str("X25519 result is not contributory"),
            Error::Decode(what) => write!(f, "decoding failed: {what}"),
            Error::MessageTooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the protocol limit of {max} bytes"
                )
            }
            Error::Kdf(what) => write!(f, "key derivation failed: {what}"),
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand used across the crate.
pub type Result<T> = core::result::Result<T, Error>;
