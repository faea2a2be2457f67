//! Rules both nodes (self-hosted and edge) enforce, as pure functions and
//! data: publish validation, record verification before storing,
//! authorization, registration and rate limiting. The node owns the state
//! (stores, maps, clocks); this module only decides, so the two nodes answer
//! every request identically.

pub mod authz;
pub mod publish;
pub mod ratelimit;
pub mod registration;
pub mod sync;
pub mod verify;

mod pyjson;

pub use pyjson::{
    PUBLISH_FAILED_BODY, PUBLISH_OK_BODY, error_body, json_str, py_float, python_json, records_body,
};

use alloc::format;
use alloc::string::String;

/// Every HTTP error a node answers on the records, registration and sync
/// routes, with the reference's exact status and `error` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// 404 `not found` (unknown route, registration disabled).
    NotFound,
    /// 429 per-IP limit on `/v1/records/*` and `/v1/sync/*`.
    RateLimited,
    /// 401 missing, wrong or out-of-scope credential.
    Unauthorized,
    /// 429 per-token bucket exhausted.
    TokenThrottled,
    /// 403 sync routes without the peer token.
    Forbidden,
    /// 400 unreadable, oversized or non-object JSON body.
    InvalidBody,
    /// 400 `value` not a string or `ttl` not an integer > 0.
    ValueTtlRequired,
    /// 400 `ttl` above the configured cap.
    TtlExceedsCap(u64),
    /// 400 `value` longer (UTF-8 bytes) than the cap.
    ValueExceedsCap(usize),
    /// 413 RRset already at the per-name cap and the value is new.
    RrsetFull {
        /// The record name as the request gave it.
        name: String,
        /// The configured per-name cap.
        cap: usize,
    },
    /// 400 name syntax.
    InvalidName,
    /// 400 value contains `"` or a control character.
    InvalidValue,
    /// 429 shared per-IP registration limiter.
    RegistrationRateLimited,
    /// 404 `tsig registration disabled`.
    TsigDisabled,
    /// Registration failure with its own status and text (§3.4–3.6).
    Registration {
        /// HTTP status.
        status: u16,
        /// The `error` text.
        reason: String,
    },
    /// 500 `internal error`.
    Internal,
    /// Any other 400 with its text (e.g. the sync routes' parameter errors).
    BadRequest(String),
}

impl HttpError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::NotFound | HttpError::TsigDisabled => 404,
            HttpError::RateLimited
            | HttpError::TokenThrottled
            | HttpError::RegistrationRateLimited => 429,
            HttpError::Unauthorized => 401,
            HttpError::Forbidden => 403,
            HttpError::InvalidBody
            | HttpError::ValueTtlRequired
            | HttpError::TtlExceedsCap(_)
            | HttpError::ValueExceedsCap(_)
            | HttpError::InvalidName
            | HttpError::InvalidValue => 400,
            HttpError::RrsetFull { .. } => 413,
            HttpError::Registration { status, .. } => *status,
            HttpError::Internal => 500,
            HttpError::BadRequest(_) => 400,
        }
    }

    /// The `error` text of the JSON body.
    pub fn message(&self) -> String {
        match self {
            HttpError::NotFound => "not found".into(),
            HttpError::RateLimited => "rate limit exceeded".into(),
            HttpError::Unauthorized => "unauthorized".into(),
            HttpError::TokenThrottled => "per-token rate limit exceeded".into(),
            HttpError::Forbidden => "forbidden".into(),
            HttpError::InvalidBody => "invalid body".into(),
            HttpError::ValueTtlRequired => "value (str) and ttl (int > 0) required".into(),
            HttpError::TtlExceedsCap(cap) => format!("ttl exceeds cap of {cap}s"),
            HttpError::ValueExceedsCap(cap) => format!("value exceeds cap of {cap} bytes"),
            HttpError::RrsetFull { name, cap } => {
                format!("RRset at {name} already holds {cap} values")
            }
            HttpError::InvalidName => "invalid record name".into(),
            HttpError::InvalidValue => "invalid record value".into(),
            HttpError::RegistrationRateLimited => "registration rate limit exceeded".into(),
            HttpError::TsigDisabled => "tsig registration disabled".into(),
            HttpError::Registration { reason, .. } => reason.clone(),
            HttpError::Internal => "internal error".into(),
            HttpError::BadRequest(reason) => reason.clone(),
        }
    }

    /// The response body, byte-identical to the reference's
    /// `json.dumps({"error": ...})`.
    pub fn body(&self) -> String {
        error_body(&self.message())
    }
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
