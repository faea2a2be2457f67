//! The worker's settings, read from `[vars]` and secrets on every request
//! (they are plain bindings, so this is cheap). Names and meanings are the
//! self-hosted node's `DMP_*` variables.

use dmp_core::dns::{Apex, ZoneConfig, normalize_name};
use dmp_core::node::authz::AuthMode;
use dmp_core::node::publish::Limits;
use dmp_core::node::registration::DEFAULT_CREDENTIAL_TTL;
use worker::Env;

/// Parsed settings.
pub struct Config {
    /// `DMP_AUTH_MODE`. Unlike the self-hosted node (whose default is
    /// derived, `open` on loopback), an unset mode here is `multi-tenant`:
    /// a deployment is public, so open mode must be chosen explicitly.
    /// The checked-in `.dev.vars` chooses it for `wrangler dev`.
    pub mode: AuthMode,
    /// `DMP_OPERATOR_TOKEN` (a secret: `wrangler secret put`).
    pub operator_token: Option<String>,
    /// `DMP_MAX_TTL`, `DMP_MAX_VALUE_BYTES`, `DMP_MAX_VALUES_PER_NAME`.
    pub limits: Limits,
    /// `DMP_DNS_TTL`: cap on answer TTLs.
    pub dns_ttl: u32,
    /// `DMP_SERVED_ZONE` (empty: every stored name is answered).
    pub zones: Vec<ZoneConfig>,
    /// Registration on: `DMP_REGISTRATION_ENABLED`, multi-tenant and
    /// `DMP_NODE_HOSTNAME` set.
    pub registration: bool,
    /// `DMP_NODE_HOSTNAME`: the `node` string clients sign.
    pub node_hostname: String,
    /// `DMP_REGISTRATION_ALLOWLIST`, comma-separated domains.
    pub allowlist: Vec<String>,
    /// `DMP_REGISTRATION_TOKEN_TTL_SECONDS`.
    pub token_ttl: u64,
    /// `DMP_REGISTRATION_ISSUED_RATE_PER_SEC` / `_BURST`: advertised in the
    /// confirm answer; enforcement is the `TOKEN_RATE_LIMITER` binding.
    pub issued_rate: f64,
    /// See `issued_rate`.
    pub issued_burst: u32,
    /// `DMP_RATE_LIMIT=off` turns the rate-limit bindings off.
    pub rate_limit: bool,
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string().trim().to_string())
        .filter(|v| !v.is_empty())
}

fn num<T: std::str::FromStr>(env: &Env, name: &str, default: T) -> T {
    var(env, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn flag(env: &Env, name: &str) -> bool {
    var(env, name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

impl Config {
    /// Reads the settings of `env`.
    pub fn from_env(env: &Env) -> Self {
        let mode_text = var(env, "DMP_AUTH_MODE").unwrap_or_else(|| "multi-tenant".into());
        let operator_token = var(env, "DMP_OPERATOR_TOKEN");
        let mode = AuthMode::from_config(Some(&mode_text), operator_token.is_some());
        let d = Limits::default();
        let limits = Limits {
            max_ttl: num(env, "DMP_MAX_TTL", d.max_ttl),
            max_value_bytes: num(env, "DMP_MAX_VALUE_BYTES", d.max_value_bytes),
            max_values_per_name: num(env, "DMP_MAX_VALUES_PER_NAME", d.max_values_per_name),
        };
        let zone = normalize_name(&var(env, "DMP_SERVED_ZONE").unwrap_or_default());
        let zones = if zone.is_empty() {
            Vec::new()
        } else {
            vec![ZoneConfig {
                name: zone,
                soa: None,
                apex: Apex::default(),
            }]
        };
        let node_hostname = var(env, "DMP_NODE_HOSTNAME").unwrap_or_default();
        let registration = flag(env, "DMP_REGISTRATION_ENABLED")
            && mode == AuthMode::MultiTenant
            && !node_hostname.is_empty();
        Config {
            mode,
            operator_token,
            limits,
            dns_ttl: num(env, "DMP_DNS_TTL", 60),
            zones,
            registration,
            node_hostname,
            allowlist: var(env, "DMP_REGISTRATION_ALLOWLIST")
                .map(|a| a.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default(),
            token_ttl: num(
                env,
                "DMP_REGISTRATION_TOKEN_TTL_SECONDS",
                DEFAULT_CREDENTIAL_TTL,
            ),
            issued_rate: num(env, "DMP_REGISTRATION_ISSUED_RATE_PER_SEC", 10.0),
            issued_burst: num(env, "DMP_REGISTRATION_ISSUED_RATE_BURST", 50),
            rate_limit: var(env, "DMP_RATE_LIMIT").is_none_or(|v| v != "off"),
        }
    }
}
