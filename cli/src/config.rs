//! Local state of the CLI, laid out like the reference `dnsmesh` 0.7.5 so
//! an existing `~/.dmp` works unchanged (REFERENCE-NODE.md §11.1).
//!
//! `config.yaml` is parsed into typed fields for the keys the reference
//! knows, while the parsed document is kept whole: saving rewrites only the
//! known keys, so a key written by a newer reference (or by hand) survives.

use crate::yaml;
use serde_norway::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const CONFIG_FILENAME: &str = "config.yaml";
/// SQLite one-time prekey store (the only private keys on disk).
pub const PREKEYS_DB: &str = "prekeys.db";
/// SQLite intro queue and denylist.
pub const INTROS_DB: &str = "intros.db";
/// JSON `[[sender_spk_hex, msg_id_hex, exp], ...]`.
pub const REPLAY_CACHE: &str = "replay_cache.json";
/// Written by `cluster fetch --save`.
pub const CLUSTER_MANIFEST: &str = "cluster_manifest.wire";

pub const DEFAULT_DOMAIN: &str = "mesh.local";
pub const DEFAULT_DNS_PORT: i64 = 5353;
pub const DEFAULT_RESOLVERS: [&str; 2] = ["1.1.1.1", "8.8.8.8"];

#[derive(Debug)]
pub enum ConfigError {
    /// No config file: the user must run `dnsmesh init`.
    Missing(PathBuf),
    Io(PathBuf, std::io::Error),
    Parse(PathBuf, String),
    /// Environment problem, e.g. no home directory.
    Env(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(p) => write!(
                f,
                "no config at {} — run `dnsmesh init <username>` first",
                p.display()
            ),
            ConfigError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            ConfigError::Parse(p, e) => write!(f, "cannot parse {}: {e}", p.display()),
            ConfigError::Env(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the config and the bearer tokens live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_home: PathBuf,
    pub tokens_home: PathBuf,
}

impl Paths {
    /// The reference's order. Config: `--config-home`, `$DMP_CONFIG_HOME`,
    /// `~/.dmp`. Tokens: `--tokens-home`, `$DMP_TOKENS_HOME`,
    /// `<config>/tokens` only when the config dir came from the flag,
    /// else `~/.dmp/tokens` (so the env var alone does not move tokens).
    /// `env` and `home` are injected so tests need not touch the process.
    pub fn resolve(
        config_flag: Option<&Path>,
        tokens_flag: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        home: Option<PathBuf>,
    ) -> Result<Paths, ConfigError> {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let home = || {
            home.clone()
                .ok_or_else(|| ConfigError::Env("cannot find the home directory ($HOME)".into()))
        };
        let config_flag = config_flag.filter(|p| !p.as_os_str().is_empty());
        let config_home = match (config_flag, set("DMP_CONFIG_HOME")) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(e)) => PathBuf::from(e),
            (None, None) => home()?.join(".dmp"),
        };
        let tokens_env = env("DMP_TOKENS_HOME")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let tokens_home = match (tokens_flag, tokens_env, config_flag) {
            (Some(p), _, _) if !p.as_os_str().is_empty() => p.to_path_buf(),
            (_, Some(e), _) => expand_tilde(&e, home().ok()),
            (_, None, Some(c)) => c.join("tokens"),
            _ => home()?.join(".dmp").join("tokens"),
        };
        Ok(Paths {
            config_home,
            tokens_home,
        })
    }

    /// From the real process environment.
    pub fn from_env(
        config_flag: Option<&Path>,
        tokens_flag: Option<&Path>,
    ) -> Result<Paths, ConfigError> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(std::env::home_dir);
        Paths::resolve(config_flag, tokens_flag, |k| std::env::var(k).ok(), home)
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_home.join(CONFIG_FILENAME)
    }
    pub fn prekeys_db(&self) -> PathBuf {
        self.config_home.join(PREKEYS_DB)
    }
    pub fn intros_db(&self) -> PathBuf {
        self.config_home.join(INTROS_DB)
    }
    pub fn replay_cache(&self) -> PathBuf {
        self.config_home.join(REPLAY_CACHE)
    }
    pub fn cluster_manifest(&self) -> PathBuf {
        self.config_home.join(CLUSTER_MANIFEST)
    }
}

/// `~/x` → `$HOME/x`, as Python's `Path.expanduser`.
pub fn expand_tilde(p: &str, home: Option<PathBuf>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(""), Some(h)) => h,
        (Some(rest), Some(h)) if rest.starts_with('/') => h.join(&rest[1..]),
        _ => PathBuf::from(p),
    }
}

/// One saved contact. The key in `contacts` is the local label, often
/// `user@host`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contact {
    /// X25519 public key, hex.
    pub pub_key: String,
    /// Pinned Ed25519 key, hex; empty = not pinned (TOFU for this contact).
    pub spk: String,
    /// Zone of the contact; empty = our own effective domain.
    pub domain: String,
    /// Protocol-level username when it differs from the label. The
    /// reference writes it on every save of a loaded dict contact but not
    /// for new `contacts add` entries, hence the Option.
    pub remote_username: Option<String>,
    /// Other keys in the entry, kept as found.
    pub extra: Mapping,
}

impl Contact {
    fn from_value(v: &Value) -> Contact {
        match v {
            // Legacy form: label -> x25519 hex.
            Value::String(s) => Contact {
                pub_key: s.clone(),
                ..Contact::default()
            },
            Value::Mapping(m) => {
                let mut extra = m.clone();
                let mut take = |k: &str| extra.remove(k).map(|v| lenient_str(&v));
                Contact {
                    pub_key: take("pub").unwrap_or_default(),
                    spk: take("spk").unwrap_or_default(),
                    domain: take("domain").unwrap_or_default(),
                    remote_username: Some(take("remote_username").unwrap_or_default()),
                    extra,
                }
            }
            _ => Contact::default(),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("pub".into(), self.pub_key.clone().into());
        m.insert("spk".into(), self.spk.clone().into());
        m.insert("domain".into(), self.domain.clone().into());
        if let Some(r) = &self.remote_username {
            m.insert("remote_username".into(), r.clone().into());
        }
        Value::Mapping(m)
    }
}

/// `config.yaml`. Field meanings and defaults are the reference's
/// (REFERENCE-NODE.md §11.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub username: String,
    pub domain: String,
    /// HTTP API base URL of the home node (normalised at init).
    pub endpoint: String,
    pub http_token: Option<String>,
    /// Read-side resolver host; None = system resolver.
    pub dns_host: Option<String>,
    pub dns_port: i64,
    pub dns_resolvers: Vec<String>,
    pub passphrase_file: Option<String>,
    /// Argon2id salt, hex (64 chars from init); empty = library default.
    pub kdf_salt: String,
    /// Zone the user controls; identity then lives at `dmp.<zone>`.
    pub identity_domain: String,
    pub cluster_base_domain: String,
    pub cluster_operator_spk: String,
    pub cluster_refresh_interval: i64,
    pub cluster_node_token: String,
    pub cluster_enabled: bool,
    pub bootstrap_user_domain: String,
    pub bootstrap_signer_spk: String,
    pub contacts: BTreeMap<String, Contact>,
    /// Signing key hex of the first derivation: a wrong passphrase shows
    /// up as a mismatch instead of a silently different identity.
    pub verify_pubkey: String,
    pub allow_tofu: bool,
    pub dnssec_required: bool,
    pub claim_provider_override: String,
    pub claim_provider_zone: String,
    pub tsig_key_name: String,
    pub tsig_secret_hex: String,
    pub tsig_algorithm: String,
    pub tsig_zone: String,
    pub tsig_dns_server: String,
    pub tsig_dns_port: i64,
    pub recv_primary_interval_seconds: i64,
    pub recv_secondary_interval_seconds: i64,
    pub recv_secondary_disable: bool,
    pub local_node_dns_server: String,
    pub local_node_dns_port: i64,
    /// Keys this version does not know, written back unchanged.
    pub extra: Mapping,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            username: String::new(),
            domain: DEFAULT_DOMAIN.into(),
            endpoint: String::new(),
            http_token: None,
            dns_host: None,
            dns_port: DEFAULT_DNS_PORT,
            dns_resolvers: Vec::new(),
            passphrase_file: None,
            kdf_salt: String::new(),
            identity_domain: String::new(),
            cluster_base_domain: String::new(),
            cluster_operator_spk: String::new(),
            cluster_refresh_interval: 3600,
            cluster_node_token: String::new(),
            cluster_enabled: false,
            bootstrap_user_domain: String::new(),
            bootstrap_signer_spk: String::new(),
            contacts: BTreeMap::new(),
            verify_pubkey: String::new(),
            allow_tofu: false,
            dnssec_required: false,
            claim_provider_override: String::new(),
            claim_provider_zone: String::new(),
            tsig_key_name: String::new(),
            tsig_secret_hex: String::new(),
            tsig_algorithm: "hmac-sha256".into(),
            tsig_zone: String::new(),
            tsig_dns_server: String::new(),
            tsig_dns_port: 53,
            recv_primary_interval_seconds: 30,
            recv_secondary_interval_seconds: 600,
            recv_secondary_disable: false,
            local_node_dns_server: String::new(),
            local_node_dns_port: 0,
            extra: Mapping::new(),
        }
    }
}

/// Python-style leniency: null and missing become the default, numbers
/// given as strings still parse, scalars of another type are stringified.
fn lenient_str(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn opt_str(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(lenient_str(other)),
    }
}

fn lenient_int(v: &Value, default: i64) -> Result<i64, String> {
    match v {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| format!("{n} is not an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an integer")),
        _ => Err("expected an integer".into()),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(_) => true,
    }
}

impl Config {
    /// Parse `config.yaml` text. An empty document is an empty config.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        let doc: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_norway::from_str(text).map_err(|e| e.to_string())?
        };
        let mut m = match doc {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => return Err("top level is not a mapping".into()),
        };
        let d = Config::default();
        let mut take = |k: &str| m.remove(k).unwrap_or(Value::Null);
        let s = |v: Value, def: &str| match v {
            Value::Null => def.to_string(),
            v => lenient_str(&v),
        };
        let int =
            |k: &str, v: Value, def: i64| lenient_int(&v, def).map_err(|e| format!("{k}: {e}"));
        let mut cfg = Config {
            username: s(take("username"), ""),
            domain: s(take("domain"), &d.domain),
            endpoint: s(take("endpoint"), ""),
            http_token: opt_str(&take("http_token")),
            dns_host: opt_str(&take("dns_host")),
            dns_port: int("dns_port", take("dns_port"), d.dns_port)?,
            dns_resolvers: match take("dns_resolvers") {
                Value::Sequence(items) => items.iter().map(lenient_str).collect(),
                Value::Null => Vec::new(),
                one => vec![lenient_str(&one)],
            },
            passphrase_file: opt_str(&take("passphrase_file")),
            kdf_salt: s(take("kdf_salt"), ""),
            identity_domain: s(take("identity_domain"), ""),
            cluster_base_domain: s(take("cluster_base_domain"), ""),
            cluster_operator_spk: s(take("cluster_operator_spk"), ""),
            cluster_refresh_interval: int(
                "cluster_refresh_interval",
                take("cluster_refresh_interval"),
                d.cluster_refresh_interval,
            )?,
            cluster_node_token: s(take("cluster_node_token"), ""),
            cluster_enabled: truthy(&take("cluster_enabled")),
            bootstrap_user_domain: s(take("bootstrap_user_domain"), ""),
            bootstrap_signer_spk: s(take("bootstrap_signer_spk"), ""),
            contacts: BTreeMap::new(),
            verify_pubkey: s(take("verify_pubkey"), ""),
            allow_tofu: truthy(&take("allow_tofu")),
            dnssec_required: truthy(&take("dnssec_required")),
            claim_provider_override: s(take("claim_provider_override"), ""),
            claim_provider_zone: s(take("claim_provider_zone"), ""),
            tsig_key_name: s(take("tsig_key_name"), ""),
            tsig_secret_hex: s(take("tsig_secret_hex"), ""),
            tsig_algorithm: match s(take("tsig_algorithm"), "") {
                a if a.is_empty() => d.tsig_algorithm.clone(),
                a => a,
            },
            tsig_zone: s(take("tsig_zone"), ""),
            tsig_dns_server: s(take("tsig_dns_server"), ""),
            tsig_dns_port: int("tsig_dns_port", take("tsig_dns_port"), d.tsig_dns_port)?,
            recv_primary_interval_seconds: int(
                "recv_primary_interval_seconds",
                take("recv_primary_interval_seconds"),
                d.recv_primary_interval_seconds,
            )?,
            recv_secondary_interval_seconds: int(
                "recv_secondary_interval_seconds",
                take("recv_secondary_interval_seconds"),
                d.recv_secondary_interval_seconds,
            )?,
            recv_secondary_disable: truthy(&take("recv_secondary_disable")),
            local_node_dns_server: s(take("local_node_dns_server"), ""),
            local_node_dns_port: int(
                "local_node_dns_port",
                take("local_node_dns_port"),
                d.local_node_dns_port,
            )?,
            extra: Mapping::new(),
        };
        if let Value::Mapping(c) = take("contacts") {
            for (k, v) in &c {
                cfg.contacts.insert(lenient_str(k), Contact::from_value(v));
            }
        }
        cfg.extra = m;
        Ok(cfg)
    }

    /// The whole document: every known key plus the preserved unknown ones.
    pub fn to_mapping(&self) -> Mapping {
        let mut m = self.extra.clone();
        let mut put = |k: &str, v: Value| {
            m.insert(k.into(), v);
        };
        let opt = |o: &Option<String>| o.clone().map_or(Value::Null, Value::String);
        put("username", self.username.clone().into());
        put("domain", self.domain.clone().into());
        put("endpoint", self.endpoint.clone().into());
        put("http_token", opt(&self.http_token));
        put("dns_host", opt(&self.dns_host));
        put("dns_port", self.dns_port.into());
        put(
            "dns_resolvers",
            Value::Sequence(
                self.dns_resolvers
                    .iter()
                    .map(|r| r.clone().into())
                    .collect(),
            ),
        );
        put("passphrase_file", opt(&self.passphrase_file));
        put("kdf_salt", self.kdf_salt.clone().into());
        put("identity_domain", self.identity_domain.clone().into());
        put(
            "cluster_base_domain",
            self.cluster_base_domain.clone().into(),
        );
        put(
            "cluster_operator_spk",
            self.cluster_operator_spk.clone().into(),
        );
        put(
            "cluster_refresh_interval",
            self.cluster_refresh_interval.into(),
        );
        put("cluster_node_token", self.cluster_node_token.clone().into());
        put("cluster_enabled", self.cluster_enabled.into());
        put(
            "bootstrap_user_domain",
            self.bootstrap_user_domain.clone().into(),
        );
        put(
            "bootstrap_signer_spk",
            self.bootstrap_signer_spk.clone().into(),
        );
        let contacts: Mapping = self
            .contacts
            .iter()
            .map(|(k, c)| (Value::String(k.clone()), c.to_value()))
            .collect();
        put("contacts", Value::Mapping(contacts));
        put("verify_pubkey", self.verify_pubkey.clone().into());
        put("allow_tofu", self.allow_tofu.into());
        put("dnssec_required", self.dnssec_required.into());
        put(
            "claim_provider_override",
            self.claim_provider_override.clone().into(),
        );
        put(
            "claim_provider_zone",
            self.claim_provider_zone.clone().into(),
        );
        put("tsig_key_name", self.tsig_key_name.clone().into());
        put("tsig_secret_hex", self.tsig_secret_hex.clone().into());
        put("tsig_algorithm", self.tsig_algorithm.clone().into());
        put("tsig_zone", self.tsig_zone.clone().into());
        put("tsig_dns_server", self.tsig_dns_server.clone().into());
        put("tsig_dns_port", self.tsig_dns_port.into());
        put(
            "recv_primary_interval_seconds",
            self.recv_primary_interval_seconds.into(),
        );
        put(
            "recv_secondary_interval_seconds",
            self.recv_secondary_interval_seconds.into(),
        );
        put("recv_secondary_disable", self.recv_secondary_disable.into());
        put(
            "local_node_dns_server",
            self.local_node_dns_server.clone().into(),
        );
        put("local_node_dns_port", self.local_node_dns_port.into());
        m
    }

    pub fn to_yaml(&self) -> String {
        yaml::emit(&self.to_mapping())
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(ConfigError::Io(path.to_path_buf(), e)),
        };
        Config::from_yaml(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e))
    }

    /// Atomic write with mode 0600 from the first byte (the file holds the
    /// HTTP token and the TSIG secret).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        write_private(path, self.to_yaml().as_bytes())
    }

    /// Zone of mailbox, identity and prekeys: the cluster base domain once
    /// a cluster is pinned, else `domain`.
    pub fn effective_domain(&self) -> &str {
        if !self.cluster_base_domain.is_empty() && !self.cluster_operator_spk.is_empty() {
            &self.cluster_base_domain
        } else {
            &self.domain
        }
    }

    /// The Argon2id salt: `kdf_salt` bytes, or the library default for
    /// configs that predate the field.
    pub fn kdf_salt_bytes(&self) -> Result<Vec<u8>, String> {
        if self.kdf_salt.is_empty() {
            return Ok(dmp_core::crypto::DEFAULT_KDF_SALT.to_vec());
        }
        // Python's bytes.fromhex also skips whitespace between bytes.
        let compact: String = self.kdf_salt.split_whitespace().collect();
        decode_hex(&compact).ok_or_else(|| "kdf_salt in config is not valid hex".into())
    }
}

/// Lower- or upper-case hex to bytes; None on odd length or a bad digit.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Write `bytes` to `path` via a 0600 temp file and rename, creating the
/// parent directory (0700) if needed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let io = |e| ConfigError::Io(path.to_path_buf(), e);
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all());
    drop(f);
    if let Err(e) = res.and_then(|_| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn home_resolution_order() {
        let home = Some(PathBuf::from("/h"));
        let p = Paths::resolve(None, None, env_of(&[]), home.clone()).unwrap();
        assert_eq!(p.config_home, PathBuf::from("/h/.dmp"));
        assert_eq!(p.tokens_home, PathBuf::from("/h/.dmp/tokens"));
        // The env var alone does not move the tokens dir.
        let e = env_of(&[("DMP_CONFIG_HOME", "/e")]);
        let p = Paths::resolve(None, None, e, home.clone()).unwrap();
        assert_eq!(p.config_home, PathBuf::from("/e"));
        assert_eq!(p.tokens_home, PathBuf::from("/h/.dmp/tokens"));
        // The flag wins and moves tokens, unless DMP_TOKENS_HOME is set.
        let e = env_of(&[("DMP_CONFIG_HOME", "/e")]);
        let p = Paths::resolve(Some(Path::new("/f")), None, e, home.clone()).unwrap();
        assert_eq!(p.config_home, PathBuf::from("/f"));
        assert_eq!(p.tokens_home, PathBuf::from("/f/tokens"));
        let e = env_of(&[("DMP_TOKENS_HOME", " ~/t ")]);
        let p = Paths::resolve(Some(Path::new("/f")), None, e, home.clone()).unwrap();
        assert_eq!(p.tokens_home, PathBuf::from("/h/t"));
        let e = env_of(&[("DMP_TOKENS_HOME", "/t")]);
        let p = Paths::resolve(None, Some(Path::new("/tf")), e, home.clone()).unwrap();
        assert_eq!(p.tokens_home, PathBuf::from("/tf"));
        assert_eq!(p.prekeys_db(), PathBuf::from("/h/.dmp/prekeys.db"));
        assert!(Paths::resolve(None, None, env_of(&[]), None).is_err());
    }

    #[test]
    fn defaults_nulls_legacy_contacts_and_unknown_keys() {
        let text = "username: bob\ndns_port: '15353'\nendpoint: null\ntsig_algorithm: ''\n\
                    dns_resolvers: 127.0.0.1:15353\nfuture_key: {a: [1, 2]}\n\
                    contacts:\n  old: abcd\n  new: {pub: ef, spk: null, extra_field: 7}\n";
        let c = Config::from_yaml(text).unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.domain, "mesh.local");
        assert_eq!(c.endpoint, "");
        assert_eq!(c.dns_port, 15353);
        assert_eq!(c.tsig_algorithm, "hmac-sha256");
        assert_eq!(c.tsig_dns_port, 53);
        assert_eq!(c.dns_resolvers, vec!["127.0.0.1:15353".to_string()]);
        assert_eq!(c.contacts["old"].pub_key, "abcd");
        assert_eq!(c.contacts["old"].remote_username, None);
        assert_eq!(c.contacts["new"].spk, "");
        assert_eq!(c.contacts["new"].remote_username.as_deref(), Some(""));
        let again = Config::from_yaml(&c.to_yaml()).unwrap();
        // A legacy string contact is saved as a dict, as the reference does.
        let mut expect = c.clone();
        if let Some(old) = expect.contacts.get_mut("old") {
            old.remote_username = Some(String::new());
        }
        assert_eq!(again, expect);
        assert_eq!(Config::from_yaml(&again.to_yaml()).unwrap(), again);
        let m = again.to_mapping();
        assert!(m.contains_key("future_key"));
        let new = m["contacts"]["new"].as_mapping().unwrap();
        assert_eq!(new["extra_field"], Value::from(7));
        assert!(Config::from_yaml("dns_port: x").is_err());
        assert!(Config::from_yaml("- a").is_err());
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
    }

    #[test]
    fn salt_and_effective_domain() {
        let mut c = Config {
            kdf_salt: "00ff 10".into(),
            ..Config::default()
        };
        assert_eq!(c.kdf_salt_bytes().unwrap(), vec![0, 255, 16]);
        c.kdf_salt = "0g".into();
        assert!(c.kdf_salt_bytes().is_err());
        c.kdf_salt.clear();
        assert_eq!(c.kdf_salt_bytes().unwrap(), b"DMP-default-v2-argon2id");
        assert_eq!(c.effective_domain(), "mesh.local");
        c.cluster_base_domain = "c.example".into();
        assert_eq!(c.effective_domain(), "mesh.local");
        c.cluster_operator_spk = "aa".into();
        assert_eq!(c.effective_domain(), "c.example");
    }

    #[test]
    fn save_is_private_and_atomic() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.yaml");
        let c = Config {
            username: "on".into(),
            ..Config::default()
        };
        c.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Config::load(&path).unwrap(), c);
        assert!(matches!(
            Config::load(&dir.path().join("none.yaml")),
            Err(ConfigError::Missing(_))
        ));
    }
}
