//! Responses: a plain [`Reply`] value the handlers build (so they stay easy
//! to read and test), turned into a `worker::Response` with the CORS
//! headers every route carries.

use dmp_core::node::HttpError;
use worker::{Headers, Response, Result};

/// What a handler answers.
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// `application/json` with `body`.
    pub fn json(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: Some("application/json"),
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    /// No body (204, or a 404 DELETE).
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Any body with its content type.
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Reply {
            status,
            content_type: Some(content_type),
            body,
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The worker response, with CORS headers.
    pub fn into_response(self) -> Result<Response> {
        let h = Headers::new();
        if let Some(ct) = self.content_type {
            h.set("Content-Type", ct)?;
        }
        for (k, v) in &self.headers {
            h.set(k, v)?;
        }
        // Browsers (the web client on another origin) call the record API
        // and DoH with bearer tokens, never cookies: any origin is fine.
        h.set("Access-Control-Allow-Origin", "*")?;
        let resp = if self.body.is_empty() {
            Response::empty()?
        } else {
            Response::from_bytes(self.body)?
        };
        Ok(resp.with_status(self.status).with_headers(h))
    }
}

/// The reference's JSON error answer.
pub fn error(e: &HttpError) -> Reply {
    Reply::json(e.status(), e.body())
}

/// A CORS preflight answer (any route; unknown routes still 404 on the
/// real request).
pub fn preflight() -> Reply {
    Reply::empty(204)
        .with("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
        .with(
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, Accept",
        )
        .with("Access-Control-Max-Age", "600")
}
