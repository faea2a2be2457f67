//! What the node serves at `/`: a built web client directory when one is
//! configured (`--web-dir`), otherwise a small landing page; and the 404
//! fallback.
//!
//! With a web directory:
//!
//! * files are served with their content type (`application/wasm` for the
//!   client's module, which browsers require for streaming compilation);
//! * an unknown path that looks like a page (no file extension, or a
//!   browser asking for HTML) gets `index.html`, so the client's own routes
//!   survive a reload; a missing asset is a plain 404;
//! * API paths (`/v1/…`, `/dns-query`, `/metrics`, `/health`, `/stats`)
//!   are never answered from the directory: unknown ones keep the JSON 404;
//! * nothing outside the directory is reachable (`..`, encoded slashes,
//!   symlinks leading out are refused);
//! * `index.html` and other pages are `no-cache` (a new deploy shows at
//!   once); names carrying a content hash, as Trunk writes them
//!   (`app-1a2b3c4d5e6f7a8b_bg.wasm`), are cached for a year as immutable;
//!   anything else for five minutes. Responses carry an ETag and answer
//!   `If-None-Match` with 304.

use crate::{AppState, VERSION};
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Settings of web client hosting.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// A built web client (the directory holding `index.html`); `None`
    /// serves the landing page.
    pub web_dir: Option<PathBuf>,
}

/// Flags and `DMP_*` variables of this module (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct WebArgs {
    /// Serve a built web client from this directory at / (the output of
    /// `trunk build --release` in web/, holding index.html). Without it, /
    /// shows a landing page that says how to get the client.
    #[arg(long, env = "DMP_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
}

impl WebArgs {
    /// The parsed settings.
    pub fn into_config(self) -> WebConfig {
        WebConfig {
            web_dir: self.web_dir.filter(|d| !d.as_os_str().is_empty()),
        }
    }
}

/// Adds `/`, `/index.html` and the fallback for unknown paths to `router`.
pub fn apply(router: Router<AppState>, config: &WebConfig) -> Router<AppState> {
    match &config.web_dir {
        None => router
            .route("/", get(landing))
            .route("/index.html", get(landing))
            .fallback(crate::not_found),
        Some(dir) => {
            // Resolve once: the containment check compares against it.
            let root = Arc::new(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
            router.fallback(move |req: Request| {
                let root = Arc::clone(&root);
                async move { serve_file(&root, req).await }
            })
        }
    }
}

/// Paths owned by the API: never served from the web directory.
fn is_api(path: &str) -> bool {
    ["/v1", "/dns-query", "/metrics", "/health", "/stats"]
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Decodes `%XX`; `None` for a bad escape, an encoded `/` or `\`, a NUL, or
/// non-UTF-8.
fn decode_path(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if matches!(v, b'/' | b'\\' | 0) {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file under `root` for a URL path: only plain segments (no `..`,
/// `.`, backslashes or drive prefixes); `None` when the path is unsafe.
fn relative(path: &str) -> Option<PathBuf> {
    let decoded = decode_path(path)?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        let mut comps = Path::new(seg).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(c)), None) => rel.push(c),
            _ => return None,
        }
    }
    Some(rel)
}

/// Content type by extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

/// True when the file name carries a content hash (a run of at least 8 hex
/// digits between separators, as Trunk and most bundlers write).
fn is_hashed(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split(['-', '.', '_'])
        .any(|t| t.len() >= 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn cache_control(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm") {
        "no-cache"
    } else if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

async fn serve_file(root: &Path, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if is_api(&path) {
        return crate::not_found().await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
        )
            .into_response();
    }
    let head = req.method() == Method::HEAD;
    let Some(rel) = relative(&path) else {
        return crate::not_found().await;
    };
    let mut file = root.join(&rel);
    if path.ends_with('/') || rel.as_os_str().is_empty() {
        file.push("index.html");
    }
    let found = match open_inside(root, &file).await {
        Some(f) => Some(f),
        None => {
            let page_like = rel.extension().is_none() || wants_html(req.headers());
            if page_like {
                open_inside(root, &root.join("index.html")).await
            } else {
                None
            }
        }
    };
    let Some((file, bytes, etag)) = found else {
        return crate::not_found().await;
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&file)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    if head {
        if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
            headers.insert(header::CONTENT_LENGTH, v);
        }
        return (StatusCode::OK, headers).into_response();
    }
    (StatusCode::OK, headers, bytes).into_response()
}

/// Reads `file` if it is a regular file whose real path lies inside
/// `root` (a symlink pointing out is refused); with its ETag.
async fn open_inside(root: &Path, file: &Path) -> Option<(PathBuf, Vec<u8>, String)> {
    let real = tokio::fs::canonicalize(file).await.ok()?;
    if !real.starts_with(root) {
        return None;
    }
    let meta = tokio::fs::metadata(&real).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let bytes = tokio::fs::read(&real).await.ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", bytes.len(), mtime);
    Some((real, bytes, etag))
}

async fn landing() -> Response {
    let page = Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>dmp-node</title></head><body>\n<main>\n\
         <h1>dmp-node {VERSION}</h1>\n\
         <p>A self-hosted DNS Mesh Protocol node (dmp-rs). It knows {kinds} record kinds.</p>\n\
         <h2>Web client</h2>\n\
         <p>This node is not serving the web client. To get it, run \
         <code>scripts/run-local.sh</code> from a dmp-rs checkout (the first command \
         of its README), or start this node with <code>--web-dir &lt;dir&gt;</code> \
         (<code>DMP_WEB_DIR</code>) pointing at a built client: <code>trunk build \
         --release</code> in <code>web/</code> writes it to <code>web/dist</code>.</p>\n\
         <h2>Endpoints</h2>\n<ul>\n\
         <li><a href=\"/health\">/health</a> and <a href=\"/stats\">/stats</a></li>\n\
         <li>Records: <code>/v1/records/&lt;name&gt;</code>, and DNS (TXT over UDP and TCP)</li>\n\
         <li>DNS over HTTPS: <code>/dns-query</code> (RFC 8484, or \
         <code>?name=&amp;type=</code> for JSON)</li>\n\
         <li>Metrics: <a href=\"/metrics\">/metrics</a></li>\n\
         </ul>\n</main>\n</body></html>\n",
        kinds = dmp_core::wire::RecordKind::ALL.len()
    ));
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        )],
        page,
    )
        .into_response()
}
