//! `dmp-edge`: the DNS Mesh Protocol node as a Cloudflare Worker.
//!
//! One `fetch` entry point and a router, as in the workers-rs templates. For
//! now it answers `/health` and a short landing text; the `/v1/...` publish
//! API, DoH and the D1 store (binding `DB` in `wrangler.toml`) arrive with the
//! edge-node issue. Protocol rules stay in `dmp-core`.

use worker::{Context, Env, Request, Response, Result, Router, event};

/// The workspace version; every crate of dmp-rs shares it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Router::new()
        .get("/health", |_, _| {
            // Same body as the reference node and dmp-node, so probes written
            // for either work against the edge.
            Response::from_json(&serde_json::json!({ "status": "ok" }))
        })
        .get("/", |_, _| {
            Response::ok(format!(
                "dmp-edge {VERSION}: DNS Mesh Protocol edge node ({} record kinds known). \
                 See /health.\n",
                dmp_core::wire::RecordKind::ALL.len()
            ))
        })
        .run(req, env)
        .await
}
