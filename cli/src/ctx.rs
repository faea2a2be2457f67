//! An unlocked identity with its config, and the reader and writer its
//! config selects (REFERENCE-NODE.md §11.3, §11.4).

use crate::config::{Config, Contact as SavedContact, Paths, decode_hex};
use crate::keys::{self, Fail};
use crate::net::{Reader, Upstream, Writer, endpoint_host, resolve_host};
use crate::tokens::TokenStore;
use dmp_core::client::Contact;
use dmp_core::client::cluster::ClusterView;
use dmp_core::crypto::Keypair;
use dmp_core::dns::TsigKey;
use std::time::Duration;

/// Per-query DNS timeout (UDP, and again for the TCP retry).
pub const DNS_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Ctx {
    pub paths: Paths,
    pub cfg: Config,
    pub kp: Keypair,
}

/// Config only (no passphrase needed).
pub fn load(paths: &Paths) -> Result<Config, Fail> {
    Config::load(&paths.config_file()).map_err(|e| Fail::user(e.to_string()))
}

fn key32(hex: &str) -> Option<[u8; 32]> {
    decode_hex(hex.trim()).and_then(|b| b.try_into().ok())
}

/// Nameservers of the system resolver (`/etc/resolv.conf`).
fn system_nameservers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("nameserver"))
                .then(|| it.next().map(String::from))
                .flatten()
        })
        .collect()
}

/// The reader a config selects: DoH when `doh_url` (config) or
/// `DMP_DOH_URL` is set; else the `dns_resolvers` pool; else
/// `dns_host:dns_port`; else the system's nameservers.
pub fn reader_for(cfg: &Config) -> Result<Reader, Fail> {
    let base = base_reader(cfg)?;
    match cluster_view(cfg, &base)? {
        Some(view) => Ok(Reader::cluster(base, view, CLUSTER_TIMEOUT)),
        None => Ok(base),
    }
}

/// Per-node read timeout in cluster mode (the reference's 5 s union wait).
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);

/// In cluster mode (`cluster_enabled` with both anchors pinned), the
/// verified manifest fetched through `base`; None otherwise.
pub fn cluster_view(cfg: &Config, base: &Reader) -> Result<Option<ClusterView>, Fail> {
    if !(cfg.cluster_enabled
        && !cfg.cluster_base_domain.is_empty()
        && !cfg.cluster_operator_spk.is_empty())
    {
        return Ok(None);
    }
    let spk = key32(&cfg.cluster_operator_spk).ok_or_else(|| {
        Fail::user(
            "cluster_operator_spk must be 64 hex chars; run `dnsmesh cluster pin <hex> <base_domain>`",
        )
    })?;
    let name = ClusterView::manifest_name(&cfg.cluster_base_domain)
        .map_err(|e| Fail::user(format!("bad cluster_base_domain: {e:?}")))?;
    let values = base.txt(&name);
    ClusterView::install(
        values.iter().map(String::as_str),
        &spk,
        &cfg.cluster_base_domain,
        crate::rng::now(),
    )
    .map(Some)
    .map_err(|e| {
        Fail::net(format!(
            "cluster manifest fetch failed for {} ({e}): check that `{name}` TXT is published, \
             signed by the pinned operator key, and not expired (or `dnsmesh cluster disable`)",
            cfg.cluster_base_domain
        ))
    })
}

/// The reader without cluster routing.
pub fn base_reader(cfg: &Config) -> Result<Reader, Fail> {
    let doh = std::env::var("DMP_DOH_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| {
            cfg.extra
                .get("doh_url")
                .and_then(|v| v.as_str())
                .filter(|u| !u.trim().is_empty())
                .map(String::from)
        });
    if let Some(url) = doh {
        return Ok(Reader::Doh {
            url: url.trim().to_string(),
            timeout: Duration::from_secs(5),
        });
    }
    let (entries, port) = if !cfg.dns_resolvers.is_empty() {
        (cfg.dns_resolvers.clone(), 53)
    } else if let Some(h) = cfg.dns_host.as_deref().filter(|h| !h.is_empty()) {
        let port = u16::try_from(cfg.dns_port).unwrap_or(53);
        (vec![h.to_string()], port)
    } else {
        (system_nameservers(), 53)
    };
    let mut ups = Vec::new();
    for e in &entries {
        match resolve_host(e, port) {
            Ok(addrs) => ups.extend(addrs.into_iter().take(1).map(|addr| Upstream {
                addr,
                label: e.clone(),
            })),
            Err(err) => eprintln!("warning: skipping resolver {e:?}: {err}"),
        }
    }
    if ups.is_empty() {
        return Err(Fail::user(
            "no usable DNS resolver: set dns_resolvers in config.yaml \
             (`dnsmesh init --force ... --dns-resolvers IP[:PORT]`) or DMP_DOH_URL",
        ));
    }
    Ok(Reader::pool(ups, DNS_TIMEOUT, cfg.dnssec_required))
}

/// The writer a config selects: DNS UPDATE + TSIG when a TSIG block is
/// present, else the HTTP API with `http_token` or the saved token for
/// the endpoint's host.
pub fn writer_for(cfg: &Config, paths: &Paths) -> Result<Writer, Fail> {
    let tsig = !cfg.tsig_key_name.is_empty() && !cfg.tsig_secret_hex.is_empty();
    if !tsig && cfg.cluster_enabled {
        let base = base_reader(cfg)?;
        if let Some(view) = cluster_view(cfg, &base)? {
            let token = Some(cfg.cluster_node_token.clone())
                .filter(|t| !t.is_empty())
                .or_else(|| cfg.http_token.clone().filter(|t| !t.is_empty()));
            return Ok(Writer::Cluster { view, token });
        }
    }
    if tsig {
        let secret = decode_hex(cfg.tsig_secret_hex.trim())
            .ok_or_else(|| Fail::user("tsig_secret_hex in config is not valid hex"))?;
        let zone = cfg.tsig_zone.trim().to_string();
        if zone.is_empty() {
            return Err(Fail::user(
                "tsig_zone in config is empty — re-run `dnsmesh tsig register`",
            ));
        }
        let mut server = cfg.tsig_dns_server.trim().to_string();
        if server.is_empty() {
            server = endpoint_host(&cfg.endpoint);
        }
        if server.is_empty() {
            return Err(Fail::user(
                "no DNS server for TSIG writes — set tsig_dns_server in config.yaml",
            ));
        }
        let port = u16::try_from(cfg.tsig_dns_port)
            .ok()
            .filter(|p| *p != 0)
            .unwrap_or(53);
        return Ok(Writer::Tsig {
            server,
            port,
            zone,
            key: TsigKey {
                name: cfg
                    .tsig_key_name
                    .trim()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
                secret,
            },
        });
    }
    if cfg.endpoint.is_empty() {
        return Err(Fail::user(
            "no endpoint configured: run `dnsmesh init --force <user> --endpoint URL` \
             or `dnsmesh tsig register --node HOST`",
        ));
    }
    let token = cfg
        .http_token
        .clone()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            std::env::var("DMP_HTTP_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        })
        .or_else(|| {
            TokenStore::new(&paths.tokens_home)
                .load(&endpoint_host(&cfg.endpoint))
                .and_then(|r| r.token().map(String::from))
        });
    Ok(Writer::Http {
        endpoint: cfg.endpoint.trim_end_matches('/').to_string(),
        token,
    })
}

/// A saved contact as the sans-IO client sees it. The protocol username
/// is `remote_username`, else the label's user part: the prekey pool is
/// found under the peer's own username, not under the local label
/// (REFERENCE-NODE.md §13.1 R2).
pub fn core_contact(label: &str, c: &SavedContact, own_domain: &str) -> Contact {
    let (user, host) = match label.split_once('@') {
        Some((u, h)) => (u, Some(h)),
        None => (label, None),
    };
    let username = c
        .remote_username
        .as_deref()
        .filter(|u| !u.is_empty())
        .unwrap_or(user);
    let domain = Some(c.domain.as_str())
        .filter(|d| !d.is_empty())
        .or(host.filter(|h| !h.is_empty()));
    Contact::new(
        username,
        domain,
        own_domain,
        key32(&c.pub_key),
        key32(&c.spk),
    )
}

impl Ctx {
    /// Load the config and derive the keys (passphrase check included).
    pub fn open(paths: &Paths) -> Result<Ctx, Fail> {
        let mut cfg = load(paths)?;
        let kp = keys::unlock(&mut cfg, &paths.config_file())?;
        Ok(Ctx {
            paths: paths.clone(),
            cfg,
            kp,
        })
    }

    pub fn save(&self) -> Result<(), Fail> {
        self.cfg
            .save(&self.paths.config_file())
            .map_err(|e| Fail::user(e.to_string()))
    }

    pub fn domain(&self) -> &str {
        self.cfg.effective_domain()
    }

    pub fn reader(&self) -> Result<Reader, Fail> {
        reader_for(&self.cfg)
    }

    pub fn writer(&self) -> Result<Writer, Fail> {
        writer_for(&self.cfg, &self.paths)
    }

    /// Every contact, in config order.
    pub fn contacts(&self) -> Vec<(String, Contact)> {
        self.cfg
            .contacts
            .iter()
            .map(|(k, c)| (k.clone(), core_contact(k, c, self.domain())))
            .collect()
    }

    /// The reference's recipient lookup: the label as typed, else the user
    /// part of `user@host`.
    pub fn find_contact(&self, recipient: &str) -> Option<(String, Contact)> {
        let label = if self.cfg.contacts.contains_key(recipient) {
            recipient.to_string()
        } else {
            let bare = recipient.split_once('@')?.0;
            self.cfg
                .contacts
                .contains_key(bare)
                .then(|| bare.to_string())?
        };
        let c = self.cfg.contacts.get(&label)?;
        let contact = core_contact(&label, c, self.domain());
        Some((label, contact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_usernames_fix_r2() {
        let c = SavedContact {
            pub_key: "11".repeat(32),
            spk: "22".repeat(32),
            domain: "mesh.test".into(),
            ..SavedContact::default()
        };
        let k = core_contact("bob@mesh.test", &c, "own.test");
        assert_eq!(k.username, "bob");
        assert_eq!(k.domain, "mesh.test");
        assert!(k.domain_explicit);
        assert_eq!(k.ed25519_spk, Some([0x22; 32]));
        let plain = SavedContact {
            pub_key: "11".repeat(32),
            ..SavedContact::default()
        };
        let k = core_contact("carol", &plain, "own.test");
        assert_eq!(
            (k.username.as_str(), k.domain.as_str()),
            ("carol", "own.test")
        );
        assert!(!k.domain_explicit);
        assert_eq!(k.ed25519_spk, None);
    }
}
