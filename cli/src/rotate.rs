//! `identity rotate` (EXPERIMENTAL, as in the reference): a rotation record
//! co-signed by the old and new keys, optionally a revocation of the old
//! key, and a fresh identity record for the new key.

use crate::ctx::Ctx;
use crate::keys::{self, Fail};
use crate::rng::now;
use dmp_core::client::identity_publish;
use dmp_core::crypto::hex;
use dmp_core::names::{rotation_name_user, rotation_name_user_zone_anchored};
use dmp_core::records::revocation::{RevocationReason, RevocationRecord};
use dmp_core::records::rotation::{RotationRecord, SubjectType};
use std::io::{BufRead, IsTerminal, Write};

pub struct RotateArgs {
    pub new_passphrase_file: Option<String>,
    pub ttl: u32,
    pub exp_seconds: u64,
    pub yes: bool,
    pub reason: String,
    pub experimental: bool,
    pub advertise_v2: bool,
}

pub fn rotate_cmd(ctx: &mut Ctx, a: RotateArgs) -> Result<(), Fail> {
    if !a.experimental {
        return Err(Fail::user(
            "key rotation is EXPERIMENTAL and subject to revision after the external crypto \
             audit — re-run with --experimental to proceed.",
        ));
    }
    eprintln!("WARNING: identity rotation is EXPERIMENTAL (draft wire format).");
    let new_pass = match &a.new_passphrase_file {
        Some(f) => {
            let p = crate::config::expand_tilde(f, std::env::var_os("HOME").map(Into::into));
            std::fs::read_to_string(&p)
                .map_err(|e| Fail::user(format!("--new-passphrase-file: {}: {e}", p.display())))?
                .trim()
                .to_string()
        }
        None => match std::env::var("DMP_NEW_PASSPHRASE")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(p) => p,
            None if std::io::stdin().is_terminal() => {
                rpassword::prompt_password("New passphrase: ")
                    .map_err(|e| Fail::user(format!("cannot read passphrase: {e}")))?
            }
            None => {
                return Err(Fail::user(
                    "no new passphrase: pass --new-passphrase-file or set DMP_NEW_PASSPHRASE",
                ));
            }
        },
    };
    if new_pass.is_empty() {
        return Err(Fail::user("new passphrase is empty"));
    }
    let new_kp = keys::derive(&ctx.cfg, &new_pass)?;
    let (old_spk, new_spk) = (ctx.kp.ed25519_public(), new_kp.ed25519_public());
    if old_spk == new_spk {
        return Err(Fail::user(
            "new passphrase derives the same key as the current one — choose a distinct passphrase",
        ));
    }
    println!("current signing key: {}", hex(&old_spk));
    println!("new signing key:     {}", hex(&new_spk));
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Fail::user("confirmation needed: re-run with --yes"));
        }
        print!("Publish RotationRecord? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        if !matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            println!("aborted.");
            return Err(Fail::user(""));
        }
    }
    let reason = match a.reason.as_str() {
        "routine" => None,
        "compromise" => Some(RevocationReason::Compromise),
        "lost_key" => Some(RevocationReason::LostKey),
        r => return Err(Fail::user(format!("unknown --reason {r:?}"))),
    };
    let idd = Some(ctx.cfg.identity_domain.clone()).filter(|d| !d.is_empty());
    let host = idd.clone().unwrap_or_else(|| ctx.domain().to_string());
    let subject = format!("{}@{host}", ctx.cfg.username);
    let t = now();
    let seq = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(t * 1000, |d| d.as_millis() as u64);
    let rotation = RotationRecord {
        subject_type: SubjectType::UserIdentity,
        subject: subject.clone(),
        old_spk,
        new_spk,
        seq,
        ts: t,
        exp: t.saturating_add(a.exp_seconds),
    }
    .to_wire(ctx.kp.signer(), new_kp.signer())
    .map_err(|e| Fail::user(format!("failed to co-sign RotationRecord: {e:?}")))?;
    let revocation = reason
        .map(|r| {
            RevocationRecord {
                subject_type: SubjectType::UserIdentity,
                subject: subject.clone(),
                revoked_spk: old_spk,
                reason: r,
                ts: t,
            }
            .to_wire(ctx.kp.signer())
            .map_err(|e| Fail::user(format!("failed to sign RevocationRecord: {e:?}")))
        })
        .transpose()?;
    let rrset = match &idd {
        Some(d) => rotation_name_user_zone_anchored(d),
        None => rotation_name_user(&ctx.cfg.username, ctx.domain()),
    };
    let writer = ctx.writer()?;
    writer
        .publish(&rrset, &rotation, a.ttl)
        .map_err(|e| Fail::net(format!("publish of RotationRecord to {rrset} failed: {e}")))?;
    println!("published RotationRecord to {rrset}");
    match revocation {
        Some(rev) => match writer.publish(&rrset, &rev, a.ttl) {
            Ok(()) => println!(
                "published RevocationRecord (old key, reason={}) to {rrset}",
                a.reason
            ),
            Err(e) => eprintln!(
                "warning: RotationRecord published, but the RevocationRecord failed: {e}; \
                 re-publish it manually"
            ),
        },
        None => println!(
            "reason=routine: skipping RevocationRecord so rotation-aware contacts can \
             auto-follow the new key"
        ),
    }
    let versions: &[u8] = if a.advertise_v2 { &[1, 2] } else { &[1] };
    let id = identity_publish(
        &new_kp,
        &ctx.cfg.username,
        ctx.domain(),
        idd.as_deref(),
        versions,
        a.ttl,
        t,
    )
    .map_err(|e| Fail::user(format!("cannot build identity record: {e:?}")))?;
    match writer.publish(&id.name, &id.value, id.ttl) {
        Ok(()) => println!("published new IdentityRecord to {}", id.name),
        Err(e) => eprintln!(
            "warning: RotationRecord published, but the new IdentityRecord failed: {e}; \
             re-run `dnsmesh identity publish` after switching to the new passphrase"
        ),
    }
    let mut env_mismatch = false;
    let mut swapped = false;
    if a.yes {
        if let Some(f) = &a.new_passphrase_file {
            let p = crate::config::expand_tilde(f, std::env::var_os("HOME").map(Into::into));
            env_mismatch = std::env::var("DMP_PASSPHRASE").is_ok_and(|e| e != new_pass);
            ctx.cfg.passphrase_file = Some(p.display().to_string());
            ctx.cfg.verify_pubkey = hex(&new_spk);
            ctx.save()?;
            swapped = true;
            println!(
                "local identity swapped (passphrase_file -> {}; kdf_salt preserved). Local pubkey: {}",
                p.display(),
                hex(&new_spk)
            );
            if env_mismatch {
                eprintln!(
                    "WARNING: DMP_PASSPHRASE is set and differs from --new-passphrase-file; it \
                     takes precedence, so later commands would derive the OLD identity. Unset it \
                     or set it to the new passphrase."
                );
            }
        } else {
            println!(
                "note: --yes without --new-passphrase-file leaves the passphrase source untouched; \
                 set DMP_PASSPHRASE=<new> from now on (kdf_salt is preserved)."
            );
        }
    }
    println!();
    println!("Next steps:");
    println!("  1. Rotation-aware pinned contacts pick up the new key automatically.");
    println!("  2. Other contacts must re-pin: `dnsmesh identity fetch <user>@<host> --add`.");
    if swapped {
        println!("  3. Done locally: `dnsmesh identity show` reports the new key.");
    } else {
        println!(
            "  3. Point your passphrase source at the new passphrase (passphrase_file or \
             DMP_PASSPHRASE). Do NOT regenerate kdf_salt or run `init --force`."
        );
    }
    if env_mismatch {
        return Err(Fail {
            code: 3,
            msg: String::new(),
        });
    }
    Ok(())
}
