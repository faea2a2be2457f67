//! What the client keeps: the public profile (plain, so the lock screen can
//! name the identity) and the vault (contacts, history, prekey secrets,
//! replay and intro state), which is stored only sealed under the identity's
//! vault key (`dmp_core::client::vault_seal`).

use std::collections::BTreeSet;

use dmp_core::client::{Contact, IntroState, PrekeySecret, PrekeyStore, ReplayCache};
use serde::{Deserialize, Serialize};

/// Plain-text profile: nothing here is secret (the salt alone does not
/// help without the passphrase; the public key lets a wrong passphrase be
/// told apart before anything is decrypted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub username: String,
    pub domain: String,
    pub salt: String,
    pub node: String,
    pub doh: String,
    /// The resolver speaks the JSON form (`?name=&type=TXT`,
    /// application/dns-json) instead of RFC 8484 wire format.
    #[serde(default)]
    pub doh_json: bool,
    pub x25519_pub: String,
}

/// The exported identity file: enough to unlock the same identity in
/// another browser with the passphrase.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportFile {
    pub dmp_identity: u32,
    pub username: String,
    pub domain: String,
    pub salt: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub x25519_pub: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContactRec {
    /// `user@host` as the user typed it (lower-cased).
    pub address: String,
    pub username: String,
    pub host: String,
    pub x25519: String,
    pub spk: String,
    pub fingerprint: String,
    pub unread: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Msg {
    pub id: String,
    /// The contact's address.
    pub peer: String,
    pub outgoing: bool,
    pub text: String,
    pub ts: u64,
    /// "sending", "sent", "received", or a plain error for a failed send.
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Intro {
    pub spk: String,
    pub msg_id: String,
    pub text: String,
    pub ts: u64,
    /// Verified DMPv2 sender address, when the message carried one.
    pub from: Option<String>,
    pub mailbox: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct PrekeyRec {
    id: u32,
    secret: String,
    public: String,
    exp: u64,
    wire: String,
}

/// Everything secret or private, sealed at rest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Vault {
    pub token: Option<String>,
    /// How the node took registration, for the settings screen.
    pub registration: String,
    pub contacts: Vec<ContactRec>,
    pub messages: Vec<Msg>,
    pub intros: Vec<Intro>,
    prekeys: Vec<PrekeyRec>,
    /// (sender_spk, msg_id, exp)
    replay: Vec<(String, String, u64)>,
    blocked: Vec<String>,
    pending: Vec<(String, String)>,
    pub last_checked: u64,
    pub identity_published: u64,
    /// The pinned cluster (Settings → Cluster), if any.
    #[serde(default)]
    pub cluster: Option<ClusterPin>,
    /// The pinned bootstrap signer (Settings → Bootstrap), if any.
    #[serde(default)]
    pub bootstrap: Option<BootstrapPin>,
}

/// A pinned bootstrap signer: the zone operator's key the user verified out
/// of band for one user domain (as the CLI's `bootstrap_user_domain` and
/// `bootstrap_signer_spk`). Records at `_dmp.<user_domain>` are trusted
/// only when they verify under it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BootstrapPin {
    /// The users' domain (lower case, no trailing dot).
    pub user_domain: String,
    /// The zone operator's Ed25519 public key, hex.
    pub signer_spk: String,
}

/// A pinned cluster: the trust anchors the user entered and the manifest
/// that verified under them. The view is rebuilt (and re-verified) from
/// `wire` whenever it is used.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterPin {
    /// The cluster base domain (lower case, no trailing dot).
    pub base: String,
    /// The operator's Ed25519 public key, hex.
    pub operator_spk: String,
    /// The installed manifest's wire (`v=dmp1;t=cluster;…`).
    pub wire: String,
    /// Writes fan out and reads under `base` go to every node.
    pub enabled: bool,
    /// Unix seconds of the last successful fetch or refresh check.
    pub last_refresh: u64,
    /// The outcome of the last refresh, for the status view.
    pub last_note: String,
}

pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (*pair.first()? as char).to_digit(16)?;
        let lo = (*pair.get(1)? as char).to_digit(16)?;
        *o = ((hi << 4) | lo) as u8;
    }
    Some(out)
}

pub fn unhex_vec(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| {
            let hi = (*p.first()? as char).to_digit(16)?;
            let lo = (*p.get(1)? as char).to_digit(16)?;
            Some(((hi << 4) | lo) as u8)
        })
        .collect()
}

use dmp_core::crypto::hex;

impl ContactRec {
    /// The core's view of this contact (explicit domain, both keys pinned).
    pub fn to_contact(&self, own_domain: &str) -> Option<Contact> {
        Some(Contact::new(
            &self.username,
            Some(&self.host),
            own_domain,
            Some(unhex::<32>(&self.x25519)?),
            Some(unhex::<32>(&self.spk)?),
        ))
    }
}

impl Vault {
    pub fn contacts_core(&self, own_domain: &str) -> Vec<Contact> {
        self.contacts
            .iter()
            .filter_map(|c| c.to_contact(own_domain))
            .collect()
    }

    pub fn contact_by_spk(&self, spk: &[u8; 32]) -> Option<&ContactRec> {
        let h = hex(spk);
        self.contacts.iter().find(|c| c.spk == h)
    }

    pub fn prekey_store(&self) -> PrekeyStore {
        let mut s = PrekeyStore::new();
        for p in &self.prekeys {
            if let (Some(secret), Some(public)) = (unhex::<32>(&p.secret), unhex::<32>(&p.public)) {
                s.keys.insert(
                    p.id,
                    PrekeySecret {
                        secret,
                        public,
                        exp: p.exp,
                        wire: p.wire.clone(),
                    },
                );
            }
        }
        s
    }

    pub fn set_prekeys(&mut self, s: &PrekeyStore) {
        self.prekeys = s
            .keys
            .iter()
            .map(|(id, k)| PrekeyRec {
                id: *id,
                secret: hex(&k.secret),
                public: hex(&k.public),
                exp: k.exp,
                wire: k.wire.clone(),
            })
            .collect();
    }

    pub fn replay_cache(&self) -> ReplayCache {
        let mut r = ReplayCache::new();
        for (spk, id, exp) in &self.replay {
            if let (Some(s), Some(m)) = (unhex::<32>(spk), unhex::<16>(id)) {
                r.seen.insert((s, m), *exp);
            }
        }
        r
    }

    pub fn set_replay(&mut self, r: &ReplayCache) {
        self.replay = r
            .seen
            .iter()
            .map(|((s, m), exp)| (hex(s), hex(m), *exp))
            .collect();
    }

    pub fn intro_state(&self) -> IntroState {
        let mut st = IntroState::new();
        st.blocked = self
            .blocked
            .iter()
            .filter_map(|b| unhex::<32>(b))
            .collect::<BTreeSet<_>>();
        st.pending = self
            .pending
            .iter()
            .filter_map(|(s, m)| Some((unhex::<32>(s)?, unhex::<16>(m)?)))
            .collect();
        st
    }

    pub fn set_intro_state(&mut self, st: &IntroState) {
        self.blocked = st.blocked.iter().map(|b| hex(b)).collect();
        self.pending = st.pending.iter().map(|(s, m)| (hex(s), hex(m))).collect();
    }
}
