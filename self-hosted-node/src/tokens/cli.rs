//! `dmp-node token issue|list|revoke`: operator commands on the token
//! database (the same file a running node uses; SQLite WAL lets both work
//! at once, and a revoke takes effect on the node's next request).

use super::db::{NewToken, StoredToken, TokenDb};
use super::rng::OsSeeded;
use dmp_core::crypto::{hex, sha256};
use dmp_core::node::registration::{canonicalize_subject, mint_token};
use dmp_core::node::{json_str, py_float};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the token database is.
#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// The node's records database; the token database defaults to its
    /// sibling `<stem>_tokens.db` (as the node derives it).
    #[arg(long, env = "DMP_DB_PATH", default_value = "/var/lib/dmp/dmp.db")]
    db_path: PathBuf,

    /// The token database itself (overrides the derived path).
    #[arg(long, env = "DMP_TOKEN_DB_PATH")]
    token_db_path: Option<PathBuf>,
}

impl DbArgs {
    fn path(&self) -> PathBuf {
        self.token_db_path
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| super::sibling_db(&self.db_path, "_tokens"))
    }
}

/// `dmp-node token …`: manage per-user bearer tokens for multi-tenant auth.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token for a subject (shown once; only its hash is stored).
    ///
    /// The token lets its holder write the subject's own records
    /// (dmp.<user>.<domain>, id-<h(user)>.<domain>, prekeys.id-…) and
    /// publish to shared mailbox slots and chunks.
    ///
    /// Examples:
    ///   dmp-node token issue alice@mesh.example --expires 90d
    ///   dmp-node token issue bob@mesh.example --rate 5 --burst 20 --note "bob's laptop"
    ///   DMP_TOKEN_DB_PATH=/srv/dmp/dmp_tokens.db dmp-node token issue carol@mesh.example --json
    #[command(verbatim_doc_comment)]
    Issue {
        /// Who the token belongs to, as user@domain.
        subject: String,
        /// Lifetime: digits with an optional unit s, m, h, d or w (90d,
        /// 12h, 300). Default: never expires.
        #[arg(long)]
        expires: Option<String>,
        /// Writes per second allowed to this token.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Burst allowed to this token.
        #[arg(long, default_value_t = 50)]
        burst: u32,
        /// Free-form note kept with the token.
        #[arg(long, default_value = "")]
        note: String,
        /// The user's X25519 public key (64 hex): lets the token publish
        /// the per-key prekey names pk-<n>.<hash12>.<domain>.
        #[arg(long, value_name = "X25519_HEX")]
        with_prekey_scope: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List tokens, newest first (hashes and metadata, never the tokens).
    ///
    /// Examples:
    ///   dmp-node token list
    ///   dmp-node token list --subject alice@mesh.example --include-revoked
    ///   dmp-node token list --json | jq '.[] | select(.live)'
    #[command(verbatim_doc_comment)]
    List {
        /// Only this subject.
        #[arg(long)]
        subject: Option<String>,
        /// Include revoked tokens.
        #[arg(long)]
        include_revoked: bool,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke every live token of a subject, or one token by hash prefix.
    ///
    /// Examples:
    ///   dmp-node token revoke alice@mesh.example
    ///   dmp-node token revoke 3f9a1c0b7d2e
    #[command(verbatim_doc_comment)]
    Revoke {
        /// A subject (user@domain) or the start of a token hash (from
        /// `dmp-node token list`).
        target: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn now() -> u64 {
    crate::store::unix_now_ms() / 1000
}

fn open(db: &DbArgs, create: bool) -> Result<TokenDb, String> {
    let path = db.path();
    if !create && !path.exists() {
        return Err(format!(
            "no token database at {} (start the node in multi-tenant mode once, or \
             pass --token-db-path / --db-path)",
            path.display()
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        return Err(format!(
            "the directory {} does not exist (pass --token-db-path or --db-path)",
            dir.display()
        ));
    }
    TokenDb::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// `90d` / `12h` / `45m` / `300s` / `4w` / `300` to seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, mult) = match t.as_bytes().last() {
        Some(b's') => (&t[..t.len() - 1], 1),
        Some(b'm') => (&t[..t.len() - 1], 60),
        Some(b'h') => (&t[..t.len() - 1], 3600),
        Some(b'd') => (&t[..t.len() - 1], 86_400),
        Some(b'w') => (&t[..t.len() - 1], 604_800),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "bad duration {s:?}: expected digits with an optional unit s, m, h, d or w"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

fn fmt_ts(ts: Option<i64>) -> String {
    ts.map_or_else(
        || "-".into(),
        |t| dmp_core::civil::UtcDateTime::from_unix(t).rfc3339(),
    )
}

fn opt_json<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".into(), |x| x.to_string())
}

fn opt_str_json(v: Option<&str>) -> String {
    v.map_or_else(|| "null".into(), json_str)
}

fn row_json(r: &StoredToken, now: u64) -> String {
    format!(
        "{{\"token_hash\": {}, \"subject\": {}, \"subject_type\": {}, \"subject_hash12\": {}, \
         \"rate_per_sec\": {}, \"rate_burst\": {}, \"issued_at\": {}, \"expires_at\": {}, \
         \"revoked_at\": {}, \"issuer\": {}, \"note\": {}, \"live\": {}}}",
        json_str(&r.token_hash),
        json_str(&r.subject),
        r.subject_type,
        opt_str_json(r.subject_hash12.as_deref()),
        py_float(r.rate_per_sec),
        r.rate_burst,
        r.issued_at,
        opt_json(r.expires_at),
        opt_json(r.revoked_at),
        json_str(&r.issuer),
        json_str(&r.note),
        r.is_live(now),
    )
}

/// Runs a `dmp-node token` command; output on stdout, errors on stderr.
pub fn run_token_command(cmd: TokenCommand) -> ExitCode {
    match run(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            let _ = writeln!(std::io::stderr(), "dmp-node token: {msg}");
            ExitCode::from(code)
        }
    }
}

fn run(cmd: TokenCommand) -> Result<(), (u8, String)> {
    let mut out = std::io::stdout().lock();
    let usage = |m: String| (2u8, m);
    let fail = |m: String| (1u8, m);
    match cmd {
        TokenCommand::Issue {
            subject,
            expires,
            rate,
            burst,
            note,
            with_prekey_scope,
            json,
            db,
        } => {
            let subject = canonicalize_subject(&subject)
                .map_err(|e| usage(format!("subject invalid: {e}")))?;
            let expires_in = expires
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| usage(format!("--expires: {e}")))?;
            let hash12 = match with_prekey_scope.as_deref() {
                None => None,
                Some(h) => {
                    let b = h.trim();
                    if b.len() != 64 || !b.bytes().all(|c| c.is_ascii_hexdigit()) {
                        return Err(usage(
                            "--with-prekey-scope: expected a 32-byte X25519 public key as 64 hex"
                                .into(),
                        ));
                    }
                    let mut raw = [0u8; 32];
                    for (o, pair) in raw.iter_mut().zip(b.as_bytes().chunks_exact(2)) {
                        let s = std::str::from_utf8(pair).unwrap_or("00");
                        *o = u8::from_str_radix(s, 16).unwrap_or(0);
                    }
                    Some(hex(&sha256(&raw))[..12].to_string())
                }
            };
            let mut rng = OsSeeded::new().map_err(|e| fail(format!("no OS randomness: {e}")))?;
            let token = mint_token(&mut rng);
            let store = open(&db, true).map_err(fail)?;
            let issuer = format!(
                "admin:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            );
            let row = store
                .issue(
                    &token,
                    &NewToken {
                        subject: &subject,
                        subject_hash12: hash12.as_deref(),
                        rate_per_sec: rate,
                        rate_burst: i64::from(burst),
                        expires_in,
                        issuer: &issuer,
                        note: &note,
                    },
                    now(),
                )
                .map_err(|e| fail(format!("cannot store the token: {e}")))?;
            let text = if json {
                format!(
                    "{{\"token\": {}, \"subject\": {}, \"subject_hash12\": {}, \"expires_at\": {}, \
                     \"rate_per_sec\": {}, \"rate_burst\": {}}}\n",
                    json_str(&token),
                    json_str(&row.subject),
                    opt_str_json(row.subject_hash12.as_deref()),
                    opt_json(row.expires_at),
                    py_float(row.rate_per_sec),
                    row.rate_burst
                )
            } else {
                let mut t = format!("  subject:    {}\n", row.subject);
                if let Some(h) = &row.subject_hash12 {
                    t.push_str(&format!("  prekey h12: {h}\n"));
                }
                t.push_str(&format!(
                    "  rate:       {} req/s  burst={}\n  expires:    {}\n\n  token (copy it now; \
                     it is not stored and cannot be shown again):\n      {token}\n",
                    py_float(row.rate_per_sec),
                    row.rate_burst,
                    fmt_ts(row.expires_at)
                ));
                t
            };
            let _ = out.write_all(text.as_bytes());
            Ok(())
        }
        TokenCommand::List {
            subject,
            include_revoked,
            json,
            db,
        } => {
            let store = open(&db, false).map_err(fail)?;
            // An invalid subject matches nothing (as the reference).
            let filter = subject
                .as_deref()
                .map(|s| canonicalize_subject(s).unwrap_or_else(|_| "\u{0}".into()));
            let rows = store
                .list(include_revoked, filter.as_deref())
                .map_err(|e| fail(format!("cannot read the tokens: {e}")))?;
            let t = now();
            let text = if json {
                let items: Vec<String> = rows.iter().map(|r| row_json(r, t)).collect();
                format!("[{}]\n", items.join(", "))
            } else if rows.is_empty() {
                "(no tokens)\n".into()
            } else {
                let mut s = format!(
                    "{:<18}{:<32}{:<22}{:<22}{:<22}STATUS\n",
                    "HASH-PREFIX", "SUBJECT", "ISSUED", "EXPIRES", "REVOKED"
                );
                for r in &rows {
                    s.push_str(&format!(
                        "{:<18}{:<32}{:<22}{:<22}{:<22}{}\n",
                        r.token_hash.get(..16).unwrap_or(&r.token_hash),
                        r.subject,
                        fmt_ts(Some(r.issued_at)),
                        fmt_ts(r.expires_at),
                        fmt_ts(r.revoked_at),
                        if r.is_live(t) { "live" } else { "inactive" }
                    ));
                }
                s
            };
            let _ = out.write_all(text.as_bytes());
            Ok(())
        }
        TokenCommand::Revoke { target, db } => {
            let store = open(&db, false).map_err(fail)?;
            let t = now();
            if let Ok(subject) = canonicalize_subject(&target) {
                let n = store
                    .revoke_subject(&subject, t)
                    .map_err(|e| fail(format!("cannot revoke: {e}")))?;
                if !n.is_empty() {
                    let _ = writeln!(out, "revoked {} token(s) of {subject}", n.len());
                    return Ok(());
                }
            }
            let prefix = target.trim().to_ascii_lowercase();
            if prefix.is_empty() || !prefix.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(fail(format!(
                    "no live token for subject {target:?} (and it is not a hash prefix)"
                )));
            }
            let matches: Vec<StoredToken> = store
                .list(false, None)
                .map_err(|e| fail(format!("cannot read the tokens: {e}")))?
                .into_iter()
                .filter(|r| r.token_hash.starts_with(&prefix))
                .collect();
            match matches.as_slice() {
                [] => Err(fail(format!(
                    "no live token for subject or hash prefix {target:?}"
                ))),
                [one] => {
                    store
                        .revoke(&one.token_hash, t)
                        .map_err(|e| fail(format!("cannot revoke: {e}")))?;
                    let _ = writeln!(
                        out,
                        "revoked token {}… (subject {})",
                        one.token_hash.get(..16).unwrap_or(&one.token_hash),
                        one.subject
                    );
                    Ok(())
                }
                many => Err(usage(format!(
                    "hash prefix {target:?} matches {} tokens; use a longer prefix or the subject",
                    many.len()
                ))),
            }
        }
    }
}
