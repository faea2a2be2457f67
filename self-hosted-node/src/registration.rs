//! Self-service registration (REFERENCE-NODE.md §3.4–3.6):
//! `GET /v1/registration/challenge`, `POST /v1/registration/confirm` (a
//! bearer token) and `POST /v1/registration/tsig-confirm` (a TSIG key),
//! with the reference's status codes and bodies.
//!
//! Parsing, the signature, the X25519 proof of possession and the minted
//! names and scopes are `dmp_core::node::registration`; here are the
//! enable checks, the per-IP bucket, the challenge map and the two
//! SQLite writes (each one transaction, off the runtime threads).

use crate::store::unix_now_ms;
use crate::tokens::rng::OsSeeded;
use crate::{AppState, error, json};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use dmp_core::node::HttpError;
use dmp_core::node::authz::AuthMode;
use dmp_core::node::publish::MAX_BODY_BYTES;
use dmp_core::node::registration::{
    ConfirmRequest, PendingChallenge, confirm_response_json, mint_token, parse_confirm, plan_tsig,
    verify_confirm,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The registration routes (unknown methods answer 404 like the rest of
/// the API). Browser clients on other origins may call them.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(
            "/v1/registration/challenge",
            get(challenge).fallback(crate::not_found),
        )
        .route(
            "/v1/registration/confirm",
            post(confirm).fallback(crate::not_found),
        )
        .route(
            "/v1/registration/tsig-confirm",
            post(tsig_confirm).fallback(crate::not_found),
        )
        .layer(cors)
}

/// Registration is served only with `DMP_REGISTRATION_ENABLED`, in
/// multi-tenant mode, with `DMP_NODE_HOSTNAME` and an open token store.
fn enabled(state: &AppState) -> bool {
    let t = state.tokens();
    t.config().registration_enabled
        && state.mode() == AuthMode::MultiTenant
        && t.token_db().is_some()
        && !t.config().node_hostname.is_empty()
}

/// The common gate: 404 when disabled, then the shared per-IP bucket.
fn gate(state: &AppState, client: IpAddr) -> Result<(), HttpError> {
    if !enabled(state) {
        return Err(HttpError::NotFound);
    }
    if !state.tokens().allow_registration(client, unix_now_ms()) {
        return Err(HttpError::RegistrationRateLimited);
    }
    Ok(())
}

fn rng() -> Result<OsSeeded, HttpError> {
    OsSeeded::new().map_err(|e| {
        tracing::error!(error = %e, "no OS randomness");
        HttpError::Internal
    })
}

fn ok(body: String) -> Response {
    json(StatusCode::OK, body)
}

async fn challenge(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = gate(&state, state.client_ip(peer, &headers)) {
        return error(&e);
    }
    let mut rng = match rng() {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    let t = state.tokens();
    let pc = t
        .challenges()
        .issue(&mut rng, &t.config().node_hostname, unix_now_ms() / 1000);
    ok(pc.response_json())
}

/// Steps shared by both confirm routes: body, fields, the challenge (used
/// up even when a later step fails), the signature and the allowlist.
async fn verified(
    state: &AppState,
    body: Body,
) -> Result<(ConfirmRequest, PendingChallenge), HttpError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| HttpError::InvalidBody)?;
    let req = parse_confirm(&bytes)?;
    let now = unix_now_ms() / 1000;
    let pending = state
        .tokens()
        .challenges()
        .consume(&req.challenge_hex, now)?;
    verify_confirm(&req, &pending, &state.tokens().config().allowlist)?;
    Ok((req, pending))
}

async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match do_confirm(&state, state.client_ip(peer, &headers), body).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn do_confirm(state: &AppState, client: IpAddr, body: Body) -> Result<Response, HttpError> {
    gate(state, client)?;
    let (req, _) = verified(state, body).await?;
    let tokens = state.tokens();
    let cfg = tokens.config().clone();
    let Some(db) = tokens.token_db().cloned() else {
        return Err(HttpError::NotFound);
    };
    let token = mint_token(&mut rng()?);
    let now = unix_now_ms() / 1000;
    let remote = client.to_string();
    let (subject, spk) = (req.subject.clone(), req.spk_hex.clone());
    let tok = token.clone();
    let done = tokio::task::spawn_blocking(move || {
        db.rotate_self_service(
            &tok,
            &subject,
            &spk,
            cfg.credential_ttl,
            cfg.issued_rate_per_sec,
            cfg.issued_rate_burst,
            &remote,
            now,
        )
    })
    .await;
    let (row, freed) = match done {
        Ok(Ok(Ok(r))) => r,
        Ok(Ok(Err(conflict))) => return Err(conflict),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "registration confirm: token store write failed");
            return Err(HttpError::Internal);
        }
        Err(e) => {
            tracing::error!(error = %e, "registration confirm task failed");
            return Err(HttpError::Internal);
        }
    };
    tokens.forget_tokens(&freed);
    tracing::info!(subject = %row.subject, "registered a bearer token");
    Ok(ok(confirm_response_json(
        &token,
        &row.subject,
        row.expires_at.map(|e| u64::try_from(e).unwrap_or(0)),
        row.rate_per_sec,
        u32::try_from(row.rate_burst.max(0)).unwrap_or(u32::MAX),
    )))
}

async fn tsig_confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match do_tsig_confirm(&state, state.client_ip(peer, &headers), body).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn do_tsig_confirm(
    state: &AppState,
    client: IpAddr,
    body: Body,
) -> Result<Response, HttpError> {
    if !enabled(state) {
        return Err(HttpError::NotFound);
    }
    let tokens = state.tokens();
    let Some(db) = tokens.tsig_db().cloned() else {
        return Err(HttpError::TsigDisabled);
    };
    gate(state, client)?;
    let (req, pending) = verified(state, body).await?;
    let cfg = tokens.config();
    let now = unix_now_ms() / 1000;
    let plan = plan_tsig(
        &req,
        &pending,
        &cfg.registration_zone(),
        cfg.scope_mode,
        cfg.credential_ttl,
        now,
        &mut rng()?,
    )?;
    let body = plan.response_json();
    let key_name = plan.key_name.clone();
    let done = tokio::task::spawn_blocking(move || db.mint_for_subject(&plan, now)).await;
    match done {
        Ok(Ok(Ok(()))) => {
            tracing::info!(key = %key_name, "registered a TSIG key");
            Ok(ok(body))
        }
        Ok(Ok(Err(conflict))) => Err(conflict),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "tsig-confirm: keystore write failed");
            Err(HttpError::Internal)
        }
        Err(e) => {
            tracing::error!(error = %e, "tsig-confirm task failed");
            Err(HttpError::Internal)
        }
    }
}
