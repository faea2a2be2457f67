//! The few outbound HTTP/1.1 requests the sync worker makes to peers: one
//! connection per request (peers may be the reference node, which speaks
//! HTTP/1.0 and closes after every response), a deadline on the whole
//! exchange, a cap on the response size.
//!
//! `https://` peers are verified against the public web PKI roots plus any
//! CA certificates in `DMP_SYNC_CA_FILE` (for a private cluster CA).

use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Largest response body read from a peer (a 10 000-entry digest page is
/// about 1.5 MB).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A peer's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// Outbound HTTP(S) to peers.
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client trusting the web PKI roots and the PEM certificates in
    /// `extra_ca` (if given).
    pub fn new(extra_ca: Option<&Path>, timeout: Duration) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no PEM certificate found", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Send one request and read the whole answer, all within the timeout.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<Reply, String> {
        tokio::time::timeout(self.timeout, self.exchange(method, url, token, body))
            .await
            .map_err(|_| format!("{method} {url}: timed out after {:?}", self.timeout))?
    }

    async fn exchange(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<Reply, String> {
        let target = Target::parse(url)?;
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| format!("connect {}:{}: {e}", target.host, target.port))?;
        let _ = stream.set_nodelay(true);
        let req = build_request(method, &target, token, body)?;
        if target.tls {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{url}: bad TLS server name: {e}"))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {}: {e}", target.authority))?;
            send(tls, req, method, url).await
        } else {
            send(stream, req, method, url).await
        }
    }
}

/// Where a URL points.
struct Target {
    tls: bool,
    /// Host without brackets (for connecting and for SNI).
    host: String,
    port: u16,
    /// `host[:port]` as written (the Host header).
    authority: String,
    /// Path and query, exactly as given (the digest cursor is sent
    /// unescaped, as the reference does).
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("{url}: not an http:// or https:// URL"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (auth, path) = rest.split_at(end);
        let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
        let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url}: unclosed ["))?;
            (h, after.strip_prefix(':'))
        } else {
            match auth.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (auth, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let port = match port {
            None | Some("") => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse().map_err(|_| format!("{url}: bad port"))?,
        };
        let path = if path.is_empty() || path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Target {
            tls,
            host: host.to_string(),
            port,
            authority: auth.to_string(),
            path,
        })
    }
}

fn build_request(
    method: &str,
    target: &Target,
    token: Option<&str>,
    body: Option<String>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut req = Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
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
    req.body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())
}

async fn send<S>(
    stream: S,
    req: Request<Full<Bytes>>,
    method: &str,
    url: &str,
) -> Result<Reply, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
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
