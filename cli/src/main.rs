//! `dnsmesh`: the command-line client of dmp-rs.
//!
//! It takes the same commands and reads and writes the same local state
//! (`config.yaml`, `prekeys.db`, `intros.db`, `replay_cache.json`, token
//! files) as the reference `dnsmesh` 0.7.5 so users can switch either way.
//! Protocol logic is dmp-core's; this binary parses arguments and does I/O.

use clap::{Args, Parser, Subcommand};
use dmp_cli::config::{self, Config, Contact, Paths};
use dmp_cli::ctx::Ctx;

mod admin;
use dmp_cli::keys::{self, Fail};
use dmp_cli::tokens::{self, TokenStore, ascii_json, iso_utc, json_str};
use dmp_cli::{cluster, messaging, registration};
use dmp_core::crypto::hex;
use dmp_core::wire::RecordKind;
use std::net::IpAddr;
use std::path::PathBuf;

/// End-to-end encrypted messaging over DNS TXT records (DNS Mesh Protocol).
///
/// A Rust client that speaks the same wire format and uses the same config
/// directory as the Python reference dnsmesh 0.7.5.
///
/// Getting started:
///   dnsmesh init alice@mesh.example.com --endpoint https://node.example.com
///   dnsmesh register --node node.example.com      (or: dnsmesh tsig register ...)
///   dnsmesh identity publish && dnsmesh identity refresh-prekeys
///   dnsmesh contacts add bob@mesh.example.com      (fetches and pins bob's keys)
///   dnsmesh send bob@mesh.example.com "hello"
///   dnsmesh recv --watch
///
/// The passphrase comes from DMP_PASSPHRASE, the config's passphrase_file,
/// or a prompt. Set RUST_LOG=debug to see every DNS and HTTP exchange.
///
/// Exit codes: 0 success, 1 user/config error, 2 network/backend error.
#[derive(Parser, Debug)]
#[command(name = "dnsmesh", version, about, long_about)]
struct Cli {
    /// Config directory; overrides the DMP_CONFIG_HOME variable. Default: ~/.dmp.
    /// Also moves the tokens directory to <DIR>/tokens (the variable alone does not)
    #[arg(long, global = true, value_name = "DIR")]
    config_home: Option<PathBuf>,

    /// Per-node tokens directory; overrides DMP_TOKENS_HOME. Default: <config-home>/tokens
    #[arg(long, global = true, value_name = "DIR")]
    tokens_home: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the client version and the protocol it speaks.
    Version,
    /// Create a fresh config (config.yaml with a new random kdf_salt).
    #[command(
        after_help = "Example:\n  dnsmesh init alice --domain mesh.example.com --endpoint https://node.example.com\n  dnsmesh init alice@mesh.example.com --dns-resolvers 127.0.0.1:5353"
    )]
    Init(InitArgs),
    /// Identity commands.
    #[command(subcommand)]
    Identity(IdentityCmd),
    /// Manage contacts (local only).
    #[command(subcommand)]
    Contacts(ContactsCmd),
    /// Manage per-node publish tokens saved in the tokens directory.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Encrypt a message to a contact and publish it to your mailbox zone.
    #[command(
        after_help = "Example:\n  dnsmesh send bob@mesh.example.com \"see you at 6\"\n\nThe recipient's one-time prekey is used when one is published (forward\nsecrecy); chunks, the slot manifest and claim pointers are written in that order."
    )]
    Send {
        /// Contact label or user@host (see `dnsmesh contacts list`).
        recipient: String,
        /// The message text (UTF-8).
        message: String,
    },
    /// Poll your mailbox: decrypt and print new messages.
    #[command(
        after_help = "Examples:\n  dnsmesh recv\n  dnsmesh recv --watch --interval 15\n\nMessages from pinned contacts are printed; messages found through claims from\nsenders you have not pinned wait in the intro queue (`dnsmesh intro list`)."
    )]
    Recv {
        /// Only the claim poll of your own zone (phase 1).
        #[arg(long, conflicts_with = "skip_primary")]
        primary_only: bool,
        /// Skip the claim poll (phase 2 slot walk only).
        #[arg(long)]
        skip_primary: bool,
        /// Keep polling until interrupted.
        #[arg(long)]
        watch: bool,
        /// Seconds between polls with --watch.
        #[arg(long, default_value_t = 30)]
        interval: u64,
    },
    /// First-contact messages from senders you have not pinned.
    #[command(subcommand)]
    Intro(IntroCmd),
    /// Get a bearer token from a node (self-registration) for HTTP writes.
    #[command(
        after_help = "Example:\n  dnsmesh register --node node.example.com\n  dnsmesh register --node 127.0.0.1:8053 --scheme http"
    )]
    Register {
        /// Node host[:port] (scheme from --scheme).
        #[arg(long)]
        node: String,
        /// Subject to register (default: <username>@<your domain>).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value = "https", value_parser = ["https", "http"])]
        scheme: String,
    },
    /// TSIG keys for writing over DNS UPDATE.
    #[command(subcommand)]
    Tsig(TsigCmd),
    /// The recursive resolvers reads go through.
    #[command(subcommand)]
    Resolvers(ResolversCmd),
    /// List the nodes a zone's node has seen (signed heartbeats at
    /// _dnsmesh-seen.<ZONE>).
    #[command(after_help = "Example:\n  dnsmesh peers mesh.example.com --json")]
    Peers {
        zone: String,
        #[arg(long)]
        json: bool,
        /// Accepted for compatibility.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
    /// Cluster mode: pin a cluster operator's key, fetch and verify its manifest.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Bootstrap: find a domain's cluster through its zone operator's signed record.
    #[command(subcommand)]
    Bootstrap(BootstrapCmd),
    /// Check config, passphrase, resolvers, the write path and your records.
    #[command(after_help = "Example:\n  dnsmesh doctor")]
    Doctor {
        /// Accepted for compatibility (probing is not needed).
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand, Debug)]
enum IntroCmd {
    /// Show pending intros (newest first).
    #[command(after_help = "Example:\n  dnsmesh intro list")]
    List,
    /// Deliver an intro without pinning its sender.
    #[command(after_help = "Example:\n  dnsmesh intro accept 3")]
    Accept { id: i64 },
    /// Deliver an intro and pin its sender as a contact.
    #[command(after_help = "Example:\n  dnsmesh intro trust 3 --username carol")]
    Trust {
        id: i64,
        /// Contact label (default: --username, else intro-<spk12>).
        #[arg(long)]
        label: Option<String>,
        /// The sender's protocol username, if known.
        #[arg(long)]
        username: Option<String>,
    },
    /// Drop an intro and block its sender.
    #[command(after_help = "Example:\n  dnsmesh intro block 3 --note spam")]
    Block {
        id: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCmd {
    /// Pin the cluster operator key and base domain (verify it out of band).
    #[command(after_help = "Example:\n  dnsmesh cluster pin 6c8c...84 mesh.example.com")]
    Pin {
        operator_spk: String,
        base_domain: String,
    },
    /// Fetch and verify cluster.<base>; --save keeps the signed wire.
    #[command(after_help = "Example:\n  dnsmesh cluster fetch --save")]
    Fetch {
        #[arg(long)]
        save: bool,
    },
    /// Show the verified manifest, the nodes and the write quorum.
    #[command(after_help = "Example:\n  dnsmesh cluster status")]
    Status,
    /// Verify the manifest, then turn cluster mode on.
    #[command(after_help = "Example:\n  dnsmesh cluster enable")]
    Enable,
    /// Turn cluster mode off (the pin is kept).
    #[command(after_help = "Example:\n  dnsmesh cluster disable")]
    Disable,
}

#[derive(Subcommand, Debug)]
enum BootstrapCmd {
    /// Pin a zone operator's bootstrap signing key for a user domain.
    #[command(after_help = "Example:\n  dnsmesh bootstrap pin example.com 9f1e...02")]
    Pin {
        user_domain: String,
        signer_spk: String,
    },
    /// Fetch and verify _dmp.<user domain>.
    #[command(
        after_help = "Example:\n  dnsmesh bootstrap fetch --user-domain example.com --signer-spk 9f1e...02"
    )]
    Fetch {
        #[arg(long)]
        user_domain: Option<String>,
        #[arg(long)]
        signer_spk: Option<String>,
    },
    /// Find the cluster serving user@host: bootstrap record, then the
    /// first entry whose manifest verifies.
    #[command(after_help = "Example:\n  dnsmesh bootstrap discover alice@example.com --auto-pin")]
    Discover {
        address: String,
        #[arg(long)]
        signer_spk: Option<String>,
        /// Pin the cluster found (only for the bootstrap domain you pinned).
        #[arg(long)]
        auto_pin: bool,
    },
}

#[derive(Subcommand, Debug)]
enum TsigCmd {
    /// Register with a node and save a TSIG key; later writes go over DNS UPDATE.
    #[command(
        after_help = "Example:\n  dnsmesh tsig register --node node.example.com\n  dnsmesh tsig register --node 127.0.0.1:8053 --scheme http --dns-server 127.0.0.1 --dns-port 5353"
    )]
    Register {
        #[arg(long)]
        node: String,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value = "https", value_parser = ["https", "http"])]
        scheme: String,
        /// DNS server for UPDATEs (default: the --node host).
        #[arg(long)]
        dns_server: Option<String>,
        #[arg(long, default_value_t = 53)]
        dns_port: u16,
    },
}

#[derive(Subcommand, Debug)]
enum ResolversCmd {
    /// Show the configured resolvers and their health after a probe.
    #[command(after_help = "Example:\n  dnsmesh resolvers list")]
    List,
    /// Probe well-known public resolvers and keep the ones that answer.
    #[command(after_help = "Example:\n  dnsmesh resolvers discover --save")]
    Discover {
        /// Write the working ones to dns_resolvers in config.yaml.
        #[arg(long)]
        save: bool,
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Your username, or user@host (host becomes --domain unless given).
    username: String,
    /// Mesh domain (zone) of your mailbox.
    #[arg(long, default_value = config::DEFAULT_DOMAIN)]
    domain: String,
    /// HTTP API endpoint of your node (a bare host becomes https://host).
    #[arg(long)]
    endpoint: Option<String>,
    /// Optional bearer token for the HTTP API.
    #[arg(long)]
    http_token: Option<String>,
    /// DNS resolver host (default: system).
    #[arg(long)]
    dns_host: Option<String>,
    /// DNS port; also the target of claim UPDATEs to the endpoint host.
    #[arg(long, default_value_t = 5353)]
    dns_port: i64,
    /// Comma-separated resolver IP literals with optional ports, e.g.
    /// `8.8.8.8,1.1.1.1` or `8.8.8.8:53,[2001:4860:4860::8888]:53`.
    /// Hostnames are rejected. Default when unset: 1.1.1.1, 8.8.8.8.
    #[arg(long, default_value = "")]
    dns_resolvers: String,
    /// Skip the default 1.1.1.1 + 8.8.8.8 pool (use the system resolver).
    #[arg(long)]
    no_default_resolvers: bool,
    /// DNS zone you control; identity records then go to dmp.<zone>.
    #[arg(long, default_value = "")]
    identity_domain: String,
    /// Overwrite an existing config (the old identity is lost).
    #[arg(long)]
    force: bool,
    /// Skip probing the node's DNS endpoint at init (this version never
    /// probes yet; accepted for compatibility).
    #[arg(long)]
    no_probe_local_dns: bool,
    /// Trust-on-first-use receive until a contact is pinned.
    #[arg(long)]
    allow_tofu: bool,
    /// Drop DNS replies without the DNSSEC AD flag.
    #[arg(long)]
    require_dnssec: bool,
}

#[derive(Subcommand, Debug)]
enum IdentityCmd {
    /// Print username, domain and the keys derived from your passphrase.
    #[command(
        after_help = "Example:\n  dnsmesh identity show --json   (passphrase from DMP_PASSPHRASE, passphrase_file or a prompt)"
    )]
    Show {
        /// Print a JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Sign and publish your identity record so others can find you.
    #[command(after_help = "Example:\n  dnsmesh identity publish --advertise-v2")]
    Publish {
        #[arg(long, default_value_t = 86400)]
        ttl: u32,
        /// Advertise the DMPv2 envelope (senders then include a verified
        /// sender address).
        #[arg(long)]
        advertise_v2: bool,
    },
    /// Generate and publish a fresh pool of one-time prekeys.
    #[command(after_help = "Example:\n  dnsmesh identity refresh-prekeys --count 25")]
    RefreshPrekeys {
        #[arg(long, default_value_t = 25)]
        count: usize,
        #[arg(long, default_value_t = 86400)]
        ttl: u32,
    },
    /// EXPERIMENTAL: rotate to the key of a new passphrase (co-signed
    /// rotation record, new identity record; revocation with --reason
    /// compromise|lost_key).
    #[command(
        after_help = "Example:\n  dnsmesh identity rotate --experimental --new-passphrase-file ~/.dmp/new.pass --yes"
    )]
    Rotate {
        #[arg(long)]
        new_passphrase_file: Option<String>,
        #[arg(long, default_value_t = 86400)]
        ttl: u32,
        /// Lifetime of the rotation record.
        #[arg(long, default_value_t = 31_536_000)]
        exp_seconds: u64,
        /// Do not ask; also switch the local config to the new passphrase file.
        #[arg(long)]
        yes: bool,
        #[arg(long, default_value = "routine", value_parser = ["routine", "compromise", "lost_key"])]
        reason: String,
        /// Required: acknowledges the draft wire format.
        #[arg(long)]
        experimental: bool,
        #[arg(long)]
        advertise_v2: bool,
    },
    /// Look up someone's identity record; --add pins it as a contact.
    #[command(
        after_help = "Example:\n  dnsmesh identity fetch bob@mesh.example.com --add\n\nCompare the fingerprint with the person over another channel before trusting it."
    )]
    Fetch {
        /// user@host, or a bare username on --domain / your domain.
        address: String,
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        add: bool,
        /// Pick among several records at the name.
        #[arg(long, value_name = "HEX16")]
        accept_fingerprint: Option<String>,
        #[arg(long)]
        json: bool,
        /// Read the record from the cluster that host's pinned bootstrap
        /// record names (`dnsmesh bootstrap pin` first).
        #[arg(long)]
        via_bootstrap: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ContactsCmd {
    /// Add a contact: `user@host` alone fetches and pins the keys from DNS;
    /// a label with a key adds it offline.
    #[command(
        after_help = "Examples:\n  dnsmesh contacts add bob@mesh.example.com     (fetch over DNS, show fingerprint, pin)\n  dnsmesh contacts add bob 3f...a9 --signing-key 6c...84"
    )]
    Add {
        /// Local label for the contact, or user@host to fetch.
        name: String,
        /// Contact's X25519 public key (64 hex chars); omit with user@host.
        #[arg(default_value = "")]
        pubkey: String,
        /// Contact's Ed25519 signing key (64 hex): pins the identity;
        /// without it, manifests from this contact fall back to TOFU.
        #[arg(long, default_value = "")]
        signing_key: String,
    },
    /// List contacts.
    #[command(after_help = "Example:\n  dnsmesh contacts list")]
    List,
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// List saved tokens by node / subject / expiry.
    #[command(after_help = "Example:\n  dnsmesh token list --json")]
    List {
        /// JSON (token material reduced to a prefix and a length).
        #[arg(long)]
        json: bool,
    },
    /// Delete the saved token for a node.
    #[command(after_help = "Example:\n  dnsmesh token forget dmp.example.com")]
    Forget {
        /// Hostname as stored (e.g. dmp.example.com).
        node: String,
    },
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    let result = run(cli);
    // Cluster writes beyond their quorum get a moment to land everywhere.
    dmp_cli::net::writer::finish_background_writes(std::time::Duration::from_secs(5));
    let code = match result {
        Ok(()) => 0,
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("dnsmesh: {}", f.msg);
            }
            f.code
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<(), Fail> {
    if let Command::Version = cli.command {
        println!("dnsmesh {} (dmp-rs)", env!("CARGO_PKG_VERSION"));
        println!(
            "protocol: DMP wire format of dnsmesh 0.7.5, {} record kinds",
            RecordKind::ALL.len()
        );
        return Ok(());
    }
    let paths = Paths::from_env(cli.config_home.as_deref(), cli.tokens_home.as_deref())
        .map_err(|e| Fail::user(e.to_string()))?;
    match cli.command {
        Command::Version => Ok(()),
        Command::Init(a) => cmd_init(&paths, a),
        Command::Identity(IdentityCmd::Show { json }) => cmd_identity_show(&paths, json),
        Command::Identity(IdentityCmd::Publish { ttl, advertise_v2 }) => {
            messaging::identity_publish_cmd(&Ctx::open(&paths)?, ttl, advertise_v2)
        }
        Command::Identity(IdentityCmd::RefreshPrekeys { count, ttl }) => {
            messaging::refresh_prekeys_cmd(&Ctx::open(&paths)?, count, ttl)
        }
        Command::Identity(IdentityCmd::Rotate {
            new_passphrase_file,
            ttl,
            exp_seconds,
            yes,
            reason,
            experimental,
            advertise_v2,
        }) => {
            if !experimental {
                // Refuse before asking for any passphrase.
                return Err(Fail::user(
                    "key rotation is EXPERIMENTAL and subject to revision after the external \
                     crypto audit — re-run with --experimental to proceed.",
                ));
            }
            dmp_cli::rotate::rotate_cmd(
                &mut Ctx::open(&paths)?,
                dmp_cli::rotate::RotateArgs {
                    new_passphrase_file,
                    ttl,
                    exp_seconds,
                    yes,
                    reason,
                    experimental,
                    advertise_v2,
                },
            )
        }
        Command::Identity(IdentityCmd::Fetch {
            address,
            domain,
            add,
            accept_fingerprint,
            json,
            via_bootstrap,
        }) => {
            let mut ctx = Ctx::open(&paths)?;
            let reader = if via_bootstrap {
                let Some((_, host)) = address.split_once('@') else {
                    return Err(Fail::user("--via-bootstrap needs an address as user@host"));
                };
                cluster::reader_via_bootstrap(&ctx.cfg, host)?
            } else {
                ctx.reader()?
            };
            let (cand, label, host) = messaging::fetch_identity(
                ctx.domain(),
                &reader,
                &address,
                domain.as_deref(),
                accept_fingerprint.as_deref(),
                json,
            )?;
            if add {
                messaging::add_fetched_contact(&mut ctx, &cand, &label, host.as_deref())?;
            }
            Ok(())
        }
        Command::Contacts(ContactsCmd::Add {
            name,
            pubkey,
            signing_key,
        }) if pubkey.is_empty() => {
            if !name.contains('@') {
                return Err(Fail::user(
                    "give user@host to fetch the contact's keys over DNS, or NAME X25519HEX to add offline",
                ));
            }
            let mut ctx = Ctx::open(&paths)?;
            let reader = ctx.reader()?;
            let (cand, label, host) =
                messaging::fetch_identity(ctx.domain(), &reader, &name, None, None, false)?;
            // A signing key given out of band must match what DNS serves.
            if !signing_key.is_empty()
                && !signing_key
                    .eq_ignore_ascii_case(&dmp_core::crypto::hex(&cand.record.ed25519_spk))
            {
                return Err(Fail::net(format!(
                    "the identity published for {name} has signing key {}, not the --signing-key \
                     you gave; not adding it (someone may be impersonating {name})",
                    dmp_core::crypto::hex(&cand.record.ed25519_spk)
                )));
            }
            messaging::add_fetched_contact(&mut ctx, &cand, &label, host.as_deref())
        }
        Command::Contacts(ContactsCmd::Add {
            name,
            pubkey,
            signing_key,
        }) => cmd_contacts_add(&paths, &name, &pubkey, &signing_key),
        Command::Send { recipient, message } => {
            messaging::send_cmd(&Ctx::open(&paths)?, &recipient, &message)
        }
        Command::Recv {
            primary_only,
            skip_primary,
            watch,
            interval,
        } => messaging::recv_cmd(
            &Ctx::open(&paths)?,
            primary_only,
            skip_primary,
            watch,
            interval,
        ),
        Command::Intro(c) => admin::intro_cmd(&paths, c),
        Command::Register {
            node,
            subject,
            scheme,
        } => registration::register_cmd(&Ctx::open(&paths)?, &node, subject.as_deref(), &scheme),
        Command::Tsig(TsigCmd::Register {
            node,
            subject,
            scheme,
            dns_server,
            dns_port,
        }) => registration::tsig_register_cmd(
            &mut Ctx::open(&paths)?,
            &node,
            subject.as_deref(),
            &scheme,
            dns_server.as_deref(),
            dns_port,
        ),
        Command::Resolvers(ResolversCmd::List) => admin::resolvers_list(&paths),
        Command::Resolvers(ResolversCmd::Discover { save, timeout }) => {
            admin::resolvers_discover(&paths, save, timeout)
        }
        Command::Peers { zone, json, .. } => admin::peers(&paths, &zone, json),
        Command::Doctor { .. } => admin::doctor(&paths),
        Command::Cluster(c) => match c {
            ClusterCmd::Pin {
                operator_spk,
                base_domain,
            } => cluster::cluster_pin(&paths, &operator_spk, &base_domain),
            ClusterCmd::Fetch { save } => cluster::cluster_fetch(&paths, save),
            ClusterCmd::Status => cluster::cluster_status(&paths),
            ClusterCmd::Enable => cluster::cluster_enable(&paths),
            ClusterCmd::Disable => cluster::cluster_disable(&paths),
        },
        Command::Bootstrap(c) => match c {
            BootstrapCmd::Pin {
                user_domain,
                signer_spk,
            } => cluster::bootstrap_pin(&paths, &user_domain, &signer_spk),
            BootstrapCmd::Fetch {
                user_domain,
                signer_spk,
            } => cluster::bootstrap_fetch(&paths, user_domain.as_deref(), signer_spk.as_deref()),
            BootstrapCmd::Discover {
                address,
                signer_spk,
                auto_pin,
            } => cluster::bootstrap_discover(&paths, &address, signer_spk.as_deref(), auto_pin),
        },
        Command::Contacts(ContactsCmd::List) => cmd_contacts_list(&paths),
        Command::Token(TokenCmd::List { json }) => cmd_token_list(&paths, json),
        Command::Token(TokenCmd::Forget { node }) => cmd_token_forget(&paths, &node),
    }
}

fn load(paths: &Paths) -> Result<Config, Fail> {
    Config::load(&paths.config_file()).map_err(|e| Fail::user(e.to_string()))
}

fn save(cfg: &Config, paths: &Paths) -> Result<(), Fail> {
    cfg.save(&paths.config_file())
        .map_err(|e| Fail::user(e.to_string()))
}

/// Bare host → `https://host`; no trailing slash.
fn normalize_endpoint(endpoint: &str) -> String {
    let s = endpoint.trim().trim_end_matches('/');
    if s.is_empty() {
        String::new()
    } else if s.contains("://") {
        s.to_string()
    } else {
        format!("https://{s}")
    }
}

/// One `--dns-resolvers` entry: `ip`, `ipv4:port`, `ipv6` or `[ipv6]:port`.
fn parse_resolver(entry: &str) -> Result<String, String> {
    let bad = |why: String| Err(format!("resolver entry {entry:?}: {why}"));
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return bad("unmatched '['".into());
        };
        match after {
            "" => (host, None),
            p if p.starts_with(':') => (host, Some(&p[1..])),
            _ => return bad("expected ':port' after ']'".into()),
        }
    } else if entry.matches(':').count() == 1 {
        let (h, p) = entry.split_once(':').unwrap_or((entry, ""));
        (h, Some(p))
    } else {
        (entry, None)
    };
    if host.parse::<IpAddr>().is_err() {
        return bad(format!(
            "{host:?} is not a valid IPv4 or IPv6 literal; hostnames are not accepted"
        ));
    }
    let Some(port) = port else {
        return Ok(host.to_string());
    };
    let port: i64 = match port.trim().parse() {
        Ok(p) => p,
        Err(_) => return bad(format!("port {port:?} is not an integer")),
    };
    if !(1..=65535).contains(&port) {
        return bad(format!("port {port} out of range (1-65535)"));
    }
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

fn cmd_init(paths: &Paths, mut a: InitArgs) -> Result<(), Fail> {
    let path = paths.config_file();
    if path.exists() && !a.force {
        return Err(Fail::user(format!(
            "config already exists at {} (use --force to overwrite)",
            path.display()
        )));
    }
    if let Some((user, host)) = a.username.clone().split_once('@') {
        if user.is_empty() || host.is_empty() {
            return Err(Fail::user(format!(
                "both user and host must be non-empty in {:?}",
                a.username
            )));
        }
        a.username = user.to_string();
        if a.domain.is_empty() || a.domain == config::DEFAULT_DOMAIN {
            a.domain = host.to_string();
        }
    }
    let dns_resolvers = if !a.dns_resolvers.is_empty() {
        let entries: Vec<&str> = a
            .dns_resolvers
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(Fail::user(
                "invalid --dns-resolvers: --dns-resolvers was empty",
            ));
        }
        entries
            .into_iter()
            .map(parse_resolver)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Fail::user(format!("invalid --dns-resolvers: {e}")))?
    } else if a.no_default_resolvers {
        Vec::new()
    } else {
        config::DEFAULT_RESOLVERS
            .iter()
            .map(|r| r.to_string())
            .collect()
    };
    // Per-identity salt: equal passphrases still give different keys.
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| Fail::user(format!("no OS randomness: {e}")))?;
    let cfg = Config {
        username: a.username,
        domain: a.domain,
        endpoint: normalize_endpoint(a.endpoint.as_deref().unwrap_or("")),
        http_token: a.http_token,
        dns_host: a.dns_host,
        dns_port: a.dns_port,
        dns_resolvers,
        kdf_salt: hex(&salt),
        identity_domain: a.identity_domain.trim().to_string(),
        allow_tofu: a.allow_tofu,
        dnssec_required: a.require_dnssec,
        ..Config::default()
    };
    save(&cfg, paths)?;
    println!("wrote config to {}", path.display());
    // Probing is not implemented yet, so the flag changes nothing.
    let _ = a.no_probe_local_dns;
    if !cfg.endpoint.is_empty() && cfg.local_node_dns_server.is_empty() {
        eprintln!(
            "  hint: the local DNS endpoint was not probed. Same-zone claim publishes \
             will fall back to the endpoint host; set local_node_dns_server / \
             local_node_dns_port in config.yaml if your node's DNS lives elsewhere."
        );
    }
    println!("Next: set DMP_PASSPHRASE or create a passphrase file, then `dnsmesh identity show`.");
    println!(
        "Keep this config file. If you lose the kdf_salt you cannot recover this \
         identity even with the passphrase."
    );
    Ok(())
}

fn cmd_identity_show(paths: &Paths, json: bool) -> Result<(), Fail> {
    let mut cfg = load(paths)?;
    let kp = keys::unlock(&mut cfg, &paths.config_file())?;
    let fields = [
        ("username", cfg.username.clone()),
        ("domain", cfg.effective_domain().to_string()),
        ("public_key", hex(&kp.x25519_public())),
        ("signing_public_key", hex(&kp.ed25519_public())),
        ("user_id", hex(&kp.user_id())),
    ];
    if json {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  {}: {}", json_str(k), json_str(v)))
            .collect();
        println!("{{\n{}\n}}", body.join(",\n"));
    } else {
        for (k, v) in fields {
            println!("{k}: {v}");
        }
    }
    Ok(())
}

fn is_key_hex(s: &str) -> bool {
    config::decode_hex(s).is_some_and(|b| b.len() == 32)
}

fn cmd_contacts_add(paths: &Paths, name: &str, pubkey: &str, spk: &str) -> Result<(), Fail> {
    let mut cfg = load(paths)?;
    if !is_key_hex(pubkey) {
        return Err(Fail::user(
            "public key must be 32 bytes (64 hex characters)",
        ));
    }
    if !spk.is_empty() && !is_key_hex(spk) {
        return Err(Fail::user(
            "signing key must be 32 bytes (64 hex characters)",
        ));
    }
    // No domain: `contacts add` takes no remote host (`identity fetch
    // user@host --add` records one).
    cfg.contacts.insert(
        name.to_string(),
        Contact {
            pub_key: pubkey.to_ascii_lowercase(),
            spk: spk.to_ascii_lowercase(),
            ..Contact::default()
        },
    );
    save(&cfg, paths)?;
    if spk.is_empty() {
        println!("added contact {name}");
        eprintln!(
            "  WARNING: no Ed25519 signing key pinned. Until at least one\n  \
             contact has a pinned signing key, `dnsmesh recv` runs in\n  \
             trust-on-first-use mode (if allowed) — any signature-valid manifest\n  \
             addressed to you may be delivered, including from senders\n  \
             you never added. Re-run with --signing-key <64-hex>, or\n  \
             use `dnsmesh identity fetch <user> --add`, which pins both keys."
        );
    } else {
        println!("added contact {name} (pinned signing key)");
    }
    Ok(())
}

fn cmd_contacts_list(paths: &Paths) -> Result<(), Fail> {
    let cfg = load(paths)?;
    if cfg.contacts.is_empty() {
        println!(
            "(no contacts yet — `dnsmesh contacts add <name> <pubkey_hex>` or `dnsmesh identity fetch <user> --add`)"
        );
        return Ok(());
    }
    let width = cfg
        .contacts
        .keys()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0);
    for (name, c) in &cfg.contacts {
        let pin = if c.spk.is_empty() {
            "UNPINNED"
        } else {
            "pinned"
        };
        println!("{name:<width$}  {}  ({pin})", c.pub_key);
    }
    Ok(())
}

fn cmd_token_list(paths: &Paths, json: bool) -> Result<(), Fail> {
    let rows = TokenStore::new(&paths.tokens_home).list();
    if json {
        if rows.is_empty() {
            println!("[]");
            return Ok(());
        }
        // Never print the bearer itself: a prefix and the length only.
        let safe: Vec<String> = rows
            .into_iter()
            .map(|r| {
                let t = r.token().unwrap_or("").to_string();
                let n = t.chars().count();
                let mut prefix: String = t.chars().take(16).collect();
                if n > 16 {
                    prefix.push('…');
                }
                let mut e: Vec<_> = r.0.into_iter().filter(|(k, _)| k != "token").collect();
                e.push(("token_prefix".into(), prefix.into()));
                e.push(("token_len".into(), n.into()));
                format!("  {}", tokens::TokenRecord(e).to_json(2))
            })
            .collect();
        println!("{}", ascii_json(&format!("[\n{}\n]", safe.join(",\n"))));
        return Ok(());
    }
    if rows.is_empty() {
        println!("(no saved tokens)");
        return Ok(());
    }
    println!("{:<30} {:<30} {:<22}", "NODE", "SUBJECT", "EXPIRES");
    for r in &rows {
        let exp = r.expires_at().map_or_else(|| "-".to_string(), iso_utc);
        println!(
            "{:<30} {:<30} {:<22}",
            r.node().unwrap_or("?"),
            r.subject().unwrap_or("?"),
            exp
        );
    }
    Ok(())
}

fn cmd_token_forget(paths: &Paths, node: &str) -> Result<(), Fail> {
    if TokenStore::new(&paths.tokens_home).forget(node) {
        println!("forgot token for {node}");
        Ok(())
    } else {
        eprintln!("no saved token for {node}");
        Err(Fail::user(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_entries() {
        assert_eq!(parse_resolver("1.1.1.1").unwrap(), "1.1.1.1");
        assert_eq!(
            parse_resolver("127.0.0.1:15353").unwrap(),
            "127.0.0.1:15353"
        );
        assert_eq!(parse_resolver("::1").unwrap(), "::1");
        assert_eq!(parse_resolver("[::1]:53").unwrap(), "[::1]:53");
        for bad in [
            "dns.google",
            "1.1.1.1:0",
            "1.1.1.1:x",
            "[::1",
            "[::1]53",
            "::1:53x",
            "1.1.1.1:70000",
        ] {
            assert!(parse_resolver(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            normalize_endpoint(" node.example/ "),
            "https://node.example"
        );
        assert_eq!(
            normalize_endpoint("http://127.0.0.1:8053/"),
            "http://127.0.0.1:8053"
        );
        assert_eq!(normalize_endpoint(""), "");
    }
}
