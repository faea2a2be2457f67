//! Blocking HTTP(S) with ureq: status codes come back as values (the
//! callers map them to the reference's messages), bodies as text.

use std::time::Duration;

/// One HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    /// The `error` field of a JSON body, else the start of the body.
    pub fn error_text(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
            .unwrap_or_else(|| self.body.chars().take(200).collect())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("dnsmesh-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn finish(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<HttpResponse, String> {
    let mut r = r.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    Ok(HttpResponse { status, body })
}

/// `method` (GET, POST, DELETE) of `url` with an optional JSON body and
/// bearer token.
pub fn request(
    method: &str,
    url: &str,
    json: Option<&serde_json::Value>,
    bearer: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let a = agent(timeout);
    let auth = bearer.map(|t| format!("Bearer {t}"));
    macro_rules! with_auth {
        ($b:expr) => {{
            let b = $b;
            match &auth {
                Some(h) => b.header("Authorization", h.as_str()),
                None => b,
            }
        }};
    }
    let body = json.map(|j| j.to_string());
    match (method, body) {
        ("GET", _) => finish(with_auth!(a.get(url)).call()),
        ("POST", b) => finish(
            with_auth!(a.post(url))
                .header("Content-Type", "application/json")
                .send(b.unwrap_or_default()),
        ),
        ("DELETE", Some(b)) => finish(
            with_auth!(a.delete(url))
                .header("Content-Type", "application/json")
                .force_send_body()
                .send(b),
        ),
        ("DELETE", None) => finish(with_auth!(a.delete(url)).call()),
        _ => Err(format!("unsupported HTTP method {method}")),
    }
}

/// POST raw bytes (DoH, RFC 8484) and return the raw response body.
pub fn post_bytes(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let mut r = agent(timeout)
        .post(url)
        .header("Content-Type", content_type)
        .header("Accept", content_type)
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok((status, bytes))
}
