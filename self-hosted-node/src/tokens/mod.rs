//! Per-user credentials: bearer tokens for multi-tenant writes
//! ([`db::TokenDb`]), TSIG keys for DNS UPDATE ([`tsig_db::TsigDb`]), the
//! registration and claim settings, and the in-memory rate buckets.
//!
//! Protocol rules (token scopes, minting, proofs, TSIG scopes) live in
//! `dmp_core::node`; this module owns the SQLite files and the state.

pub mod cli;
pub mod db;
pub mod rng;
pub mod tsig_db;

use dmp_core::node::ratelimit::{self, Rate, RateLimiter};
use dmp_core::node::registration::{ChallengeStore, DEFAULT_CREDENTIAL_TTL, ScopeMode};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use cli::{TokenCommand, run_token_command};

/// Settings of the token store, registration, the TSIG keystore and DNS
/// UPDATE (the reference's `DMP_*` variables of REFERENCE-NODE.md §2).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// `DMP_TOKEN_DB_PATH`; default `<records db stem>_tokens.db`.
    pub token_db_path: Option<PathBuf>,
    /// `DMP_TSIG_DB_PATH`; default `<records db stem>_tsig.db`.
    pub tsig_db_path: Option<PathBuf>,
    /// `DMP_DNS_UPDATE_ENABLED`: UPDATE, the keystore and tsig-confirm.
    pub dns_update_enabled: bool,
    /// Minted TSIG scope flavour.
    pub scope_mode: ScopeMode,
    /// `DMP_REGISTRATION_ENABLED`.
    pub registration_enabled: bool,
    /// `DMP_NODE_HOSTNAME`: the `node` string clients sign.
    pub node_hostname: String,
    /// `DMP_REGISTRATION_ALLOWLIST` (subject domains; empty: any).
    pub allowlist: Vec<String>,
    /// `DMP_REGISTRATION_TOKEN_TTL_SECONDS` (0: credentials never expire).
    pub credential_ttl: u64,
    /// `DMP_REGISTRATION_ISSUED_RATE_PER_SEC` / `_BURST`.
    pub issued_rate_per_sec: f64,
    /// Bucket size of issued tokens.
    pub issued_rate_burst: u32,
    /// `DMP_REGISTRATION_ENDPOINT_RATE_PER_SEC` / `_BURST`, per source IP.
    pub endpoint_rate: Rate,
    /// The served zone (UPDATE zone, TSIG scopes); empty: the first zone of
    /// the DNS settings (`--served-zone` and its fallbacks).
    pub served_zone: String,
    /// `DMP_CLAIM_PROVIDER` (on unless 0/false/no/off).
    pub claim_provider: bool,
    /// `DMP_RECEIVER_CLAIM_NOTIFICATIONS`.
    pub receiver_claims: bool,
    /// `DMP_CLAIM_MAX_TTL`.
    pub claim_max_ttl: u64,
    /// `DMP_CLAIM_RATE_PER_USER_PER_SEC` / `DMP_CLAIM_RATE_BURST`.
    pub claim_rate: Rate,
}

impl Default for AuthConfig {
    /// The reference defaults: everything off.
    fn default() -> Self {
        AuthConfig {
            token_db_path: None,
            tsig_db_path: None,
            dns_update_enabled: false,
            scope_mode: ScopeMode::Default,
            registration_enabled: false,
            node_hostname: String::new(),
            allowlist: Vec::new(),
            credential_ttl: DEFAULT_CREDENTIAL_TTL,
            issued_rate_per_sec: ratelimit::PER_TOKEN.per_sec,
            issued_rate_burst: 50,
            endpoint_rate: ratelimit::REGISTRATION_PER_IP,
            served_zone: String::new(),
            claim_provider: true,
            receiver_claims: false,
            claim_max_ttl: dmp_core::node::authz::DEFAULT_CLAIM_MAX_TTL,
            claim_rate: ratelimit::CLAIM_PER_RECIPIENT,
        }
    }
}

impl AuthConfig {
    /// Where the token store lives for the records database `records_db`.
    pub fn token_db_for(&self, records_db: &Path) -> PathBuf {
        self.token_db_path
            .clone()
            .unwrap_or_else(|| sibling_db(records_db, "_tokens"))
    }

    /// Where the TSIG keystore lives for the records database `records_db`.
    pub fn tsig_db_for(&self, records_db: &Path) -> PathBuf {
        self.tsig_db_path
            .clone()
            .unwrap_or_else(|| sibling_db(records_db, "_tsig"))
    }

    /// The zone minted TSIG scopes are anchored under.
    pub fn registration_zone(&self) -> String {
        let z = if self.served_zone.trim().is_empty() {
            &self.node_hostname
        } else {
            &self.served_zone
        };
        dmp_core::node::publish::normalize_zone(z)
    }
}

/// `dir/dmp.db` + `_tokens` → `dir/dmp_tokens.db` (the reference's naming).
pub fn sibling_db(records_db: &Path, tag: &str) -> PathBuf {
    let stem = records_db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dmp".into());
    let mut name = format!("{stem}{tag}");
    if let Some(ext) = records_db.extension() {
        name.push('.');
        name.push_str(&ext.to_string_lossy());
    }
    records_db.with_file_name(name)
}

/// Flags and `DMP_*` variables of multi-tenant auth, registration and DNS
/// UPDATE (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct AuthArgs {
    /// SQLite database of per-user bearer tokens (the reference's schema,
    /// shared with `dmp-node token`). Opened in multi-tenant mode or when
    /// set. Default: next to --db-path, e.g. dmp_tokens.db.
    #[arg(long, env = "DMP_TOKEN_DB_PATH")]
    token_db_path: Option<PathBuf>,

    /// SQLite keystore of TSIG keys for DNS UPDATE. Default: next to
    /// --db-path, e.g. dmp_tsig.db.
    #[arg(long, env = "DMP_TSIG_DB_PATH")]
    tsig_db_path: Option<PathBuf>,

    /// Accept DNS UPDATE (RFC 2136) signed with TSIG keys from the keystore,
    /// unsigned claim records (see --claim-provider), and serve
    /// POST /v1/registration/tsig-confirm.
    #[arg(long, env = "DMP_DNS_UPDATE_ENABLED", action = clap::ArgAction::SetTrue,
          value_parser = off_unless_on)]
    dns_update_enabled: bool,

    /// Mint TSIG keys scoped to the whole zone.
    #[arg(long, env = "DMP_TSIG_LOOSE_SCOPE", action = clap::ArgAction::SetTrue,
          value_parser = off_unless_on)]
    tsig_loose_scope: bool,

    /// Mint TSIG keys without the shared mailbox/chunk/claim wildcards.
    #[arg(long, env = "DMP_TSIG_TIGHT_SCOPE", action = clap::ArgAction::SetTrue,
          value_parser = off_unless_on)]
    tsig_tight_scope: bool,

    /// Serve self-service registration (/v1/registration/challenge,
    /// /confirm, /tsig-confirm). Needs --auth-mode multi-tenant and
    /// --node-hostname.
    #[arg(long, env = "DMP_REGISTRATION_ENABLED", action = clap::ArgAction::SetTrue,
          value_parser = off_unless_on)]
    registration_enabled: bool,

    /// The node name clients sign during registration (also the last
    /// fallback for the served zone).
    #[arg(long, env = "DMP_NODE_HOSTNAME")]
    node_hostname: Option<String>,

    /// Comma-separated subject domains allowed to register (empty: any).
    #[arg(long, env = "DMP_REGISTRATION_ALLOWLIST")]
    registration_allowlist: Option<String>,

    /// Lifetime of registered bearer tokens and TSIG keys, seconds
    /// (0: never expire).
    #[arg(long, env = "DMP_REGISTRATION_TOKEN_TTL_SECONDS", default_value_t = DEFAULT_CREDENTIAL_TTL)]
    registration_token_ttl: u64,

    /// Writes per second allowed to each registered bearer token.
    #[arg(
        long,
        env = "DMP_REGISTRATION_ISSUED_RATE_PER_SEC",
        default_value_t = 10.0
    )]
    registration_issued_rate: f64,

    /// Burst of each registered bearer token.
    #[arg(long, env = "DMP_REGISTRATION_ISSUED_RATE_BURST", default_value_t = 50)]
    registration_issued_burst: u32,

    /// Registration requests per second per source IP (one bucket shared
    /// by the three routes; default 5 per hour).
    #[arg(long, env = "DMP_REGISTRATION_ENDPOINT_RATE_PER_SEC", default_value_t = 5.0 / 3600.0)]
    registration_endpoint_rate: f64,

    /// Registration burst per source IP.
    #[arg(
        long,
        env = "DMP_REGISTRATION_ENDPOINT_RATE_BURST",
        default_value_t = 5.0
    )]
    registration_endpoint_burst: f64,

    /// Accept unsigned UPDATEs that add signed claim records
    /// (claim-<n>.mb-<hash12>.<zone>) for anyone (first-contact provider).
    #[arg(long, env = "DMP_CLAIM_PROVIDER", default_value = "true",
          action = clap::ArgAction::Set, value_parser = on_unless_off)]
    claim_provider: bool,

    /// Accept unsigned claim UPDATEs for users registered on this node only.
    #[arg(long, env = "DMP_RECEIVER_CLAIM_NOTIFICATIONS", action = clap::ArgAction::SetTrue,
          value_parser = off_unless_on)]
    receiver_claim_notifications: bool,

    /// Longest claim lifetime accepted, seconds (0: no cap).
    #[arg(long, env = "DMP_CLAIM_MAX_TTL", default_value_t = 86_400)]
    claim_max_ttl: u64,

    /// Unsigned claim UPDATEs per second per recipient.
    #[arg(long, env = "DMP_CLAIM_RATE_PER_USER_PER_SEC", default_value_t = 0.5)]
    claim_rate: f64,

    /// Unsigned claim UPDATE burst per recipient.
    #[arg(long, env = "DMP_CLAIM_RATE_BURST", default_value_t = 30.0)]
    claim_burst: f64,
}

/// A switch as the reference reads it: empty is off; otherwise yes/no
/// words (`1`, `true`, `yes`, `on` / `0`, `false`, `no`, `off`, any case).
fn off_unless_on(s: &str) -> Result<bool, String> {
    parse_switch(s, false)
}

/// A switch that is on unless turned off (`DMP_CLAIM_PROVIDER`).
fn on_unless_off(s: &str) -> Result<bool, String> {
    parse_switch(s, true)
}

fn parse_switch(s: &str, empty: bool) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(empty),
        "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
        "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
        other => Err(format!(
            "{other:?} is not a switch: use 1/true/yes/on or 0/false/no/off"
        )),
    }
}

impl AuthArgs {
    /// The parsed settings (the served zone is filled in by the binary).
    pub fn into_config(self) -> AuthConfig {
        AuthConfig {
            token_db_path: self.token_db_path.filter(|p| !p.as_os_str().is_empty()),
            tsig_db_path: self.tsig_db_path.filter(|p| !p.as_os_str().is_empty()),
            dns_update_enabled: self.dns_update_enabled,
            scope_mode: if self.tsig_loose_scope {
                ScopeMode::Loose
            } else if self.tsig_tight_scope {
                ScopeMode::Tight
            } else {
                ScopeMode::Default
            },
            registration_enabled: self.registration_enabled,
            node_hostname: self.node_hostname.unwrap_or_default().trim().to_string(),
            allowlist: self
                .registration_allowlist
                .unwrap_or_default()
                .split(',')
                .map(|a| {
                    a.trim()
                        .to_ascii_lowercase()
                        .trim_end_matches('.')
                        .to_string()
                })
                .filter(|a| !a.is_empty())
                .collect(),
            credential_ttl: self.registration_token_ttl,
            issued_rate_per_sec: self.registration_issued_rate,
            issued_rate_burst: self.registration_issued_burst,
            endpoint_rate: Rate::new(
                self.registration_endpoint_rate,
                self.registration_endpoint_burst,
            ),
            served_zone: String::new(),
            claim_provider: self.claim_provider,
            receiver_claims: self.receiver_claim_notifications,
            claim_max_ttl: self.claim_max_ttl,
            claim_rate: Rate::new(self.claim_rate, self.claim_burst),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runtime state of the credential stores (held by [`crate::AppState`]).
pub struct TokenState {
    config: AuthConfig,
    tokens: Option<Arc<db::TokenDb>>,
    tsig: Option<Arc<tsig_db::TsigDb>>,
    open_error: Option<String>,
    per_token: Mutex<RateLimiter<String>>,
    per_ip_registration: Mutex<RateLimiter<IpAddr>>,
    challenges: Mutex<ChallengeStore>,
    claims: Mutex<RateLimiter<String>>,
}

impl std::fmt::Debug for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenState")
            .field("tokens", &self.tokens)
            .field("tsig", &self.tsig)
            .field("open_error", &self.open_error)
            .finish_non_exhaustive()
    }
}

impl TokenState {
    /// Opens what `config` asks for next to the records database
    /// `records_db`: the token store in multi-tenant mode (or when a path is
    /// set), the keystore when DNS UPDATE is on. A failure is kept in
    /// [`TokenState::open_error`] and the node fails closed.
    pub fn new(config: &crate::Config, records_db: &Path) -> Self {
        let mut auth = config.auth.clone();
        if auth.served_zone.trim().is_empty()
            && let Some(z) = config.dns.zones.first()
        {
            auth.served_zone = z.name.clone();
        }
        let mut errors = Vec::new();
        let want_tokens = config.mode() == dmp_core::node::authz::AuthMode::MultiTenant
            || auth.token_db_path.is_some();
        let tokens = if want_tokens {
            let p = auth.token_db_for(records_db);
            match db::TokenDb::open(&p) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    errors.push(format!(
                        "cannot open the token database {}: {e}",
                        p.display()
                    ));
                    None
                }
            }
        } else {
            None
        };
        let tsig = if auth.dns_update_enabled {
            let p = auth.tsig_db_for(records_db);
            match tsig_db::TsigDb::open(&p) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    errors.push(format!(
                        "cannot open the TSIG keystore {}: {e}",
                        p.display()
                    ));
                    None
                }
            }
        } else {
            None
        };
        for e in &errors {
            tracing::error!("{e}");
        }
        TokenState {
            per_token: Mutex::new(RateLimiter::new(ratelimit::PER_TOKEN)),
            per_ip_registration: Mutex::new(RateLimiter::new(auth.endpoint_rate)),
            challenges: Mutex::new(ChallengeStore::new()),
            claims: Mutex::new(RateLimiter::new(auth.claim_rate)),
            open_error: (!errors.is_empty()).then(|| errors.join("; ")),
            config: auth,
            tokens,
            tsig,
        }
    }

    /// Why a credential database could not be opened (the binary exits).
    pub fn open_error(&self) -> Option<&str> {
        self.open_error.as_deref()
    }

    /// The settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The token store, when open.
    pub fn token_db(&self) -> Option<&Arc<db::TokenDb>> {
        self.tokens.as_ref()
    }

    /// The TSIG keystore, when DNS UPDATE is on.
    pub fn tsig_db(&self) -> Option<&Arc<tsig_db::TsigDb>> {
        self.tsig.as_ref()
    }

    /// Spend one unit of a token's own bucket (§7); false when empty.
    pub fn allow_token(&self, token_hash: &str, rate: Rate, now_ms: u64) -> bool {
        lock(&self.per_token).allow_with(&token_hash.to_string(), now_ms, rate)
    }

    /// Drop the buckets of revoked tokens.
    pub fn forget_tokens<S: AsRef<str>>(&self, hashes: &[S]) {
        let mut l = lock(&self.per_token);
        for h in hashes {
            l.forget(&h.as_ref().to_string());
        }
    }

    /// The shared per-IP registration bucket; false when empty.
    pub fn allow_registration(&self, ip: IpAddr, now_ms: u64) -> bool {
        let mut l = lock(&self.per_ip_registration);
        !l.enabled() || l.allow(&ip, now_ms)
    }

    /// The pending registration challenges.
    pub fn challenges(&self) -> MutexGuard<'_, ChallengeStore> {
        lock(&self.challenges)
    }

    /// The per-recipient bucket of unsigned claim UPDATEs; false when empty.
    pub fn allow_claim(&self, hash12: &str, now_ms: u64) -> bool {
        let mut l = lock(&self.claims);
        !l.enabled() || l.allow(&hash12.to_string(), now_ms)
    }
}
