//! A small blocking HTTP/1.1 client over `std::net::TcpStream`: one request
//! per connection (`Connection: close`), `Content-Length` or chunked
//! responses. Enough for a conformance suite, with no TLS and no
//! dependency; it never panics on what a server sends.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One parsed response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header (name lower-cased, value trimmed), in arrival order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `host:port` of an `http://host:port[/]` base URL.
pub fn authority(base: &str) -> Result<String, String> {
    let rest = base.strip_prefix("http://").ok_or_else(|| {
        format!("base URL {base:?} must start with http:// (TLS is not supported)")
    })?;
    let auth = rest.split('/').next().unwrap_or("");
    if auth.is_empty() {
        return Err(format!("base URL {base:?} has no host"));
    }
    Ok(auth.to_string())
}

/// Sends one request to `base` + `path` and reads the whole response.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let auth = authority(base)?;
    let addr = auth
        .to_socket_addrs()
        .map_err(|e| format!("resolve {auth}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {auth}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect {auth}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {auth}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "DELETE" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .map_err(|e| format!("send {method} {path}: {e}"))?;
    // A server may answer (and close) before reading an oversized body.
    let _ = s.write_all(body);
    // Read until the response is complete rather than until EOF: some
    // servers (workerd behind wrangler dev) keep the socket open a while
    // despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(buf.get(..n).unwrap_or_default());
                if is_complete(&raw, method) {
                    break;
                }
            }
            Err(e) if raw.is_empty() => {
                return Err(format!("read response to {method} {path}: {e}"));
            }
            Err(_) => break,
        }
    }
    parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
}

/// Whether `raw` holds a whole response (headers plus the body its
/// headers announce).
fn is_complete(raw: &[u8], method: &str) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).to_ascii_lowercase();
    let body = raw.get(end + 4..).unwrap_or_default();
    let status = head.split(' ').nth(1).unwrap_or("");
    if method == "HEAD" || status == "204" || status == "304" || status.starts_with('1') {
        return true;
    }
    let header = |name: &str| {
        head.split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return body.ends_with(b"0\r\n\r\n");
    }
    match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) => body.len() >= n,
        None => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a full HTTP/1.x response (as read until the server closed).
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = find(raw, b"\r\n\r\n").ok_or("no end of headers in the response")?;
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default());
    let rest = raw.get(end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        rest.get(..len)
            .ok_or_else(|| format!("body shorter than Content-Length {len}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find(data, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(data.get(..eol).unwrap_or_default()).to_string();
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = data.get(eol + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked() {
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nX-A: b\r\n\r\n{\"ok\": true}",
        )
        .unwrap();
        assert_eq!((r.status, r.text().as_str()), (201, "{\"ok\": true}"));
        assert_eq!(r.header("x-a"), Some("b"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            &b""[..],
            b"HTTP/1.1",
            b"xx\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(parse_response(raw).is_err(), "{raw:?}");
        }
        assert!(authority("https://x").is_err());
        assert_eq!(
            authority("http://127.0.0.1:8787/").unwrap(),
            "127.0.0.1:8787"
        );
    }
}
