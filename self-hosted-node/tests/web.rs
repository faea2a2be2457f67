//! Web client hosting: `--web-dir` files with their content types and
//! caching, the SPA fallback, API paths kept apart, no way out of the
//! directory; and the landing page without a web directory.

mod node_harness;

use dmp_node::Config;
use dmp_node::webroot::WebConfig;
use node_harness::*;
use std::path::Path;

const HASH: &str = "1a2b3c4d5e6f7a8b";

fn write(root: &Path, rel: &str, body: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// A node serving a fake built client; the outer dir holds a secret that
/// must stay unreachable.
async fn web_node() -> (TestNode, tempfile::TempDir) {
    let outer = tempfile::tempdir().unwrap();
    std::fs::write(outer.path().join("secret.txt"), b"top secret").unwrap();
    let root = outer.path().join("dist");
    write(
        &root,
        "index.html",
        b"<!doctype html><title>dmp web</title>",
    );
    write(
        &root,
        &format!("dmp-web-{HASH}_bg.wasm"),
        b"\0asm\x01\0\0\0",
    );
    write(&root, &format!("dmp-web-{HASH}.js"), b"export default 1;");
    write(&root, "style.css", b"body{}");
    write(&root, "docs/about.html", b"<p>about</p>");
    #[cfg(unix)]
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), root.join("link.txt")).unwrap();
    let config = Config {
        web: WebConfig {
            web_dir: Some(root),
        },
        ..Config::default()
    };
    (TestNode::start(zone_config(), config).await, outer)
}

#[tokio::test]
async fn files_have_their_content_types_and_caching() {
    let (node, _dir) = web_node().await;
    let r = node.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("dmp web"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let r = node.get("/index.html").await;
    assert_eq!(
        (r.status, r.header("cache-control")),
        (200, Some("no-cache"))
    );

    let r = node.get(&format!("/dmp-web-{HASH}_bg.wasm")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    assert_eq!(r.body, b"\0asm\x01\0\0\0");
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let r = node.get(&format!("/dmp-web-{HASH}.js")).await;
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let r = node.get("/style.css").await;
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(node.get("/docs/about.html").await.text(), "<p>about</p>");

    // Revalidation: the ETag answers 304.
    let etag = r.header("etag").expect("etag").to_string();
    let r = http(
        node.http,
        "GET",
        "/style.css",
        &[("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // HEAD: headers, no body.
    let r = http(node.http, "HEAD", "/style.css", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn unknown_pages_fall_back_to_index_but_assets_and_api_do_not() {
    let (node, _dir) = web_node().await;
    for page in ["/inbox", "/contacts/alice", "/settings/"] {
        let r = node.get(page).await;
        assert_eq!(r.status, 200, "{page}");
        assert!(r.text().contains("dmp web"), "{page}");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    // A browser navigation to a dotted path still gets the app.
    let r = http(
        node.http,
        "GET",
        "/user/bob@mesh.test",
        &[("Accept", "text/html,*/*")],
        b"",
    )
    .await;
    assert!(r.text().contains("dmp web"));
    // A missing asset is a 404, not HTML in place of JavaScript.
    assert_eq!(node.get("/missing-0123abcd.js").await.status, 404);
    // API paths keep their JSON answers.
    for api in ["/v1/nope", "/v1/records/a/b", "/v1"] {
        let r = node.get(api).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (404, r#"{"error": "not found"}"#),
            "{api}"
        );
    }
    assert_eq!(node.get("/health").await.status, 200);
    let r = node.get(&format!("/dns-query?name={ZONE}&type=SOA")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/dns-json"));
    // Writes are not for the web root.
    assert_eq!(
        http(node.http, "POST", "/inbox", &[], b"x").await.status,
        405
    );
}

#[tokio::test]
async fn nothing_outside_the_directory_is_reachable() {
    let (node, _dir) = web_node().await;
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/link.txt",
        "/%00",
        "//etc/passwd",
    ] {
        let raw_req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        // Closing without an answer is fine too.
        if let Some(r) = raw(node.http, raw_req.as_bytes()).await {
            assert!(
                !r.text().contains("top secret") && !r.text().contains("root:"),
                "{path}: {}",
                r.text()
            );
        }
    }
    // Still serving.
    assert_eq!(node.get("/style.css").await.status, 200);
}

#[tokio::test]
async fn without_a_web_dir_the_landing_page_says_how_to_get_the_client() {
    let node = TestNode::default_zone().await;
    let r = node.get("/").await;
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(t.contains("scripts/run-local.sh"), "{t}");
    assert!(t.contains("--web-dir"), "{t}");
    assert!(t.contains("/dns-query"), "{t}");
    assert_eq!(node.get("/inbox").await.status, 404);
}

/// The binary checks `--web-dir` before serving and says what is wrong.
#[test]
fn a_web_dir_without_index_html_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .arg("--db-path")
        .arg(dir.path().join("d.db"))
        .args(["--http-port", "0", "--dns-port", "0", "--web-dir"])
        .arg(dir.path().join("no-such-dist"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("index.html") && err.contains("DMP_WEB_DIR"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no URL printed for a node that is not serving"
    );
}
