//! The few outbound HTTP/1.1 requests the sync worker makes to peers: one
//! connection per request (peers may be the reference node, which speaks
//! HTTP/1.0 and closes after every response), a deadline on the whole
//! exchange, a cap on the response size.
//!
//! Only `http://` peers: TLS is not built in. Cluster peers normally talk
//! over a private network; across the internet, put a TLS tunnel or
//! sidecar in front.

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// Largest response body read from a peer (a 10 000-entry digest page is
/// about 1.5 MB).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A peer's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// Split `http://host[:port]` off a URL: (authority to connect to, host
/// header value).
fn authority(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            format!("{url}: https peers are not supported (no TLS built in); use http:// on a private network or a TLS tunnel")
        } else {
            format!("{url}: not an http:// URL")
        }
    })?;
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    if auth.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let has_port = match auth.rfind(':') {
        Some(i) => !auth[i..].contains(']'),
        None => false,
    };
    let connect = if has_port {
        auth.to_string()
    } else {
        format!("{auth}:80")
    };
    Ok((connect, auth.to_string()))
}

/// Send one request and read the whole answer, all within `timeout`.
pub async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<String>,
    timeout: Duration,
) -> Result<Reply, String> {
    tokio::time::timeout(timeout, exchange(method, url, token, body))
        .await
        .map_err(|_| format!("{method} {url}: timed out after {timeout:?}"))?
}

async fn exchange(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Result<Reply, String> {
    let (connect, host) = authority(url)?;
    let stream = TcpStream::connect(&connect)
        .await
        .map_err(|e| format!("connect {connect}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    // Path and query exactly as given (the digest cursor is sent
    // unescaped, like the reference does).
    let path_start = url
        .strip_prefix("http://")
        .and_then(|r| r.find('/').map(|i| i + "http://".len()));
    let target = path_start.map_or("/", |i| &url[i..]);
    let mut req = Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONNECTION, "close")
        .header(
            hyper::header::USER_AGENT,
            concat!("dmp-node/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(t) = token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("{url}: {e}"))?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{method} {url}: reading the body: {e}"))?
            .to_bytes();
        Ok(Reply { status, body })
    }
    .await;
    driver.abort();
    result
}
