//! Passphrase sources and key derivation (REFERENCE-NODE.md §11.2).

use crate::config::{Config, expand_tilde};
use dmp_core::crypto::{Keypair, hex};
use std::io::IsTerminal;
use std::path::Path;

/// A failure with the reference's exit code (1 user/config, 2 network).
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub msg: String,
}

impl Fail {
    pub fn user(msg: impl Into<String>) -> Fail {
        Fail {
            code: 1,
            msg: msg.into(),
        }
    }

    /// A network or backend failure (exit 2).
    pub fn net(msg: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            msg: msg.into(),
        }
    }
}

/// `$DMP_PASSPHRASE`, else the config's `passphrase_file` (trimmed) if it
/// exists, else a prompt — only when stdin is a terminal; a script gets
/// a clear error instead of a hang.
pub fn load_passphrase(cfg: &Config) -> Result<String, Fail> {
    if let Some(p) = std::env::var("DMP_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(p);
    }
    if let Some(file) = cfg.passphrase_file.as_deref().filter(|f| !f.is_empty()) {
        let home = std::env::var_os("HOME").map(Into::into);
        let path = expand_tilde(file, home);
        if path.exists() {
            return std::fs::read_to_string(&path)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    Fail::user(format!(
                        "cannot read passphrase file {}: {e}",
                        path.display()
                    ))
                });
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail::user(
            "no passphrase: set DMP_PASSPHRASE, set passphrase_file in config.yaml, \
             or run on a terminal to be prompted",
        ));
    }
    let who = if cfg.username.is_empty() {
        "identity"
    } else {
        &cfg.username
    };
    rpassword::prompt_password(format!("Passphrase for {who}: "))
        .map_err(|e| Fail::user(format!("cannot read passphrase: {e}")))
}

/// Argon2id with the config's salt; says so on a terminal since it takes
/// a noticeable moment.
pub fn derive(cfg: &Config, passphrase: &str) -> Result<Keypair, Fail> {
    let salt = cfg.kdf_salt_bytes().map_err(Fail::user)?;
    let tty = std::io::stderr().is_terminal();
    if tty {
        eprint!("deriving keys (Argon2id, 32 MiB)...");
    }
    let kp = Keypair::derive(passphrase.as_bytes(), &salt)
        .map_err(|e| Fail::user(format!("key derivation failed: {e:?}")));
    if tty {
        eprint!("\r\x1b[K");
    }
    kp
}

/// Passphrase → keys, with the reference's typo tripwire: the first
/// derivation stores `verify_pubkey`; a later different key is a
/// "passphrase mismatch" (exit 1) unless DMP_PASSPHRASE_OVERRIDE_VERIFY=1.
pub fn unlock(cfg: &mut Config, config_file: &Path) -> Result<Keypair, Fail> {
    let passphrase = load_passphrase(cfg)?;
    let kp = derive(cfg, &passphrase)?;
    let derived = hex(&kp.ed25519_public());
    if cfg.verify_pubkey.is_empty() {
        cfg.verify_pubkey = derived;
        if let Err(e) = cfg.save(config_file) {
            eprintln!("warning: could not persist verify_pubkey to config: {e}");
        }
    } else if !cfg.verify_pubkey.eq_ignore_ascii_case(&derived) {
        if std::env::var("DMP_PASSPHRASE_OVERRIDE_VERIFY").as_deref() == Ok("1") {
            eprintln!(
                "warning: passphrase derives a different identity than the one saved \
                 in config ({derived} != {}); proceeding because \
                 DMP_PASSPHRASE_OVERRIDE_VERIFY=1.",
                cfg.verify_pubkey
            );
        } else {
            return Err(Fail::user(format!(
                "passphrase mismatch: the derived signing key does not match the one \
                 this config was first used with.\n  expected: {}\n  derived:  {derived}\n\n\
                 Re-enter the passphrase of your published identity, run `dnsmesh init \
                 --force` for a new identity (the current one is lost), or set \
                 DMP_PASSPHRASE_OVERRIDE_VERIFY=1 to bypass once.",
                cfg.verify_pubkey
            )));
        }
    }
    Ok(kp)
}
