//! The `dmp-node` binary: parse flags, open the store, bind, print the URL,
//! serve until SIGTERM or SIGINT.

use clap::Parser;
use clap::builder::BoolishValueParser;
use dmp_core::node::publish::Limits;
use dmp_core::node::ratelimit::Rate;
use dmp_node::client_ip::TrustedProxies;
use dmp_node::dns_server::{self, ApexSettings, DnsConfig};
use dmp_node::store::{Durability, Options, Store};
use dmp_node::{AppState, Config};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// mimalloc instead of glibc malloc: the request path allocates many small,
/// short-lived buffers, and glibc's consolidation passes showed up in every
/// publish profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted DNS Mesh Protocol node.
///
/// Serves the record API (/v1/records/<name>: GET, POST, DELETE), DNS over
/// HTTPS at /dns-query (RFC 8484 and the JSON form), Prometheus metrics at
/// /metrics, a health probe at /health and /stats over HTTP, and the web
/// client (or a landing page) at /, storing records in SQLite. It prints
/// the URL it listens on as its first line of output. DNS (TXT over UDP and
/// TCP) is served from the same store. In multi-tenant mode users write
/// with their own tokens (`dmp-node token`, or self-service registration
/// at /v1/registration/*) or by DNS UPDATE signed with a registered TSIG
/// key (--dns-update-enabled). Each flag can also be set through
/// the environment variable shown (the names the reference node, dnsmesh
/// 0.7.5, uses where it has one). SIGTERM or SIGINT stops it after
/// in-flight requests finish.
#[derive(Parser, Debug)]
#[command(name = "dmp-node", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// SQLite records database (WAL mode); its directory is created if
    /// needed.
    #[arg(long, env = "DMP_DB_PATH", default_value = "/var/lib/dmp/dmp.db")]
    db_path: PathBuf,

    /// When a write is acknowledged. full: after its commit is fsynced (it
    /// survives a power cut). normal: after its commit is written to the
    /// WAL, which is fsynced only at checkpoints (SQLite synchronous=NORMAL,
    /// the reference node's setting): a crash of the node loses nothing, a
    /// power cut may lose the last acknowledged writes. Either way
    /// concurrent writes share one commit.
    #[arg(long, env = "DMP_DURABILITY", value_enum, default_value_t = DurabilityArg::Full)]
    durability: DurabilityArg,

    /// Address to bind the HTTP server to. The default keeps the node on this
    /// machine; use 0.0.0.0 to serve other hosts (which needs an operator
    /// token, or --allow-open-public-bind).
    #[arg(long, env = "DMP_HTTP_HOST", default_value = "127.0.0.1")]
    http_host: IpAddr,

    /// TCP port for HTTP. 0 picks a free port (the printed URL shows which).
    #[arg(long, env = "DMP_HTTP_PORT", default_value_t = 8053)]
    http_port: u16,

    /// Operator bearer token: required for every record read and, in legacy
    /// mode, every write. Also read from DMP_HTTP_TOKEN. Prefer the
    /// environment over the command line (argv is visible to other users).
    #[arg(long, env = "DMP_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,

    /// Who may write records: open (anyone), legacy (operator token only)
    /// or multi-tenant (operator token, or a per-user token from
    /// `dmp-node token issue` or self-service registration, limited to the
    /// user's own names). Default: legacy with an operator token, else open.
    #[arg(long, env = "DMP_AUTH_MODE")]
    auth_mode: Option<String>,

    /// Allow open mode on a non-loopback bind (anyone on the network could
    /// write records).
    #[arg(long, env = "DMP_ALLOW_OPEN_PUBLIC_BIND", action = clap::ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    allow_open_public_bind: bool,

    /// Largest TTL a publish may ask for, seconds.
    #[arg(long, env = "DMP_MAX_TTL", default_value_t = Limits::default().max_ttl)]
    max_ttl: u64,

    /// Largest record value, UTF-8 bytes.
    #[arg(long, env = "DMP_MAX_VALUE_BYTES", default_value_t = Limits::default().max_value_bytes)]
    max_value_bytes: usize,

    /// Most distinct values one name may hold; 0 disables the cap.
    #[arg(long, env = "DMP_MAX_VALUES_PER_NAME", default_value_t = Limits::default().max_values_per_name)]
    max_values_per_name: usize,

    /// Requests per second per source IP on /v1/records; 0 disables.
    #[arg(long, env = "DMP_HTTP_RATE", default_value_t = 10.0)]
    http_rate: f64,

    /// Burst per source IP on /v1/records; 0 disables.
    #[arg(long, env = "DMP_HTTP_BURST", default_value_t = 100.0)]
    http_burst: f64,

    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose
    /// X-Forwarded-For names the client: per-IP limits and logs then use
    /// the rightmost address in that header that is not one of these.
    /// Empty (default): the header is ignored. Set it when the node sits
    /// behind Caddy/nginx, to the proxy's address only.
    #[arg(
        long,
        env = "DMP_TRUSTED_PROXIES",
        default_value = "",
        value_name = "LIST"
    )]
    trusted_proxies: TrustedProxies,

    /// Address to bind the DNS server (UDP and TCP) to. The default keeps
    /// the node on this machine; use 0.0.0.0 to serve other hosts.
    #[arg(long, env = "DMP_DNS_HOST", default_value = "127.0.0.1")]
    dns_host: IpAddr,

    /// UDP and TCP port for DNS. 0 picks a free port (printed at start).
    #[arg(long, env = "DMP_DNS_PORT", default_value_t = 5353)]
    dns_port: u16,

    /// Largest TTL on a DNS answer, seconds (values expiring sooner get
    /// their remaining lifetime).
    #[arg(long, env = "DMP_DNS_TTL", default_value_t = 60)]
    dns_ttl: u32,

    /// The zone this node serves over DNS; names outside it are REFUSED.
    /// Falls back to DMP_CLAIM_PROVIDER_ZONE, DMP_CLUSTER_BASE_DOMAIN,
    /// DMP_DOMAIN, DMP_NODE_HOSTNAME. None: every stored name is served.
    #[arg(long, env = "DMP_SERVED_ZONE")]
    served_zone: Option<String>,

    /// DNS queries per second per source IP (UDP, TCP and DoH counted
    /// apart); 0 disables. Over the limit a UDP query gets an empty
    /// truncated answer (the client retries over TCP), a TCP query REFUSED
    /// and a DoH request HTTP 429. The
    /// default is 4x the reference's 50/s, since one recursive resolver
    /// speaks for many users.
    #[arg(long, env = "DMP_DNS_RATE", default_value_t = 200.0)]
    dns_rate: f64,

    /// DNS burst per source IP; 0 disables the limit.
    #[arg(long, env = "DMP_DNS_BURST", default_value_t = 1000.0)]
    dns_burst: f64,

    /// Tasks receiving on the UDP socket. 0: one per CPU (at most 8).
    #[arg(long, env = "DMP_DNS_UDP_WORKERS", default_value_t = 0)]
    dns_udp_workers: usize,

    /// NS host name(s) of the zone apex, comma-separated; the first is
    /// also the SOA MNAME (default: the zone name).
    #[arg(long, env = "DMP_DNS_APEX_NS", value_delimiter = ',')]
    dns_apex_ns: Vec<String>,

    /// IPv4 address(es) served as A at the zone apex, comma-separated.
    #[arg(long, env = "DMP_DNS_APEX_A", value_delimiter = ',')]
    dns_apex_a: Vec<std::net::Ipv4Addr>,

    /// IPv6 address(es) served as AAAA at the zone apex, comma-separated.
    #[arg(long, env = "DMP_DNS_APEX_AAAA", value_delimiter = ',')]
    dns_apex_aaaa: Vec<std::net::Ipv6Addr>,

    /// SOA RNAME of the zone (operator mailbox, `hostmaster.example.org`
    /// or `hostmaster@example.org`). Default: hostmaster.<zone>. With a
    /// served zone the SOA is always present and negative answers carry it
    /// in AUTHORITY.
    #[arg(long, env = "DMP_DNS_APEX_SOA_RNAME")]
    dns_soa_rname: Option<String>,

    /// Seconds between sweeps that delete expired records (they are hidden
    /// from reads as soon as they expire).
    #[arg(long, env = "DMP_CLEANUP_INTERVAL", default_value_t = 60)]
    cleanup_interval: u64,

    #[command(flatten)]
    auth: dmp_node::tokens::AuthArgs,

    #[command(flatten)]
    web: dmp_node::webroot::WebArgs,

    #[command(flatten)]
    sync: dmp_node::sync::SyncArgs,
}

/// `--durability` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DurabilityArg {
    /// fsync at every commit: acknowledged means on disk.
    Full,
    /// fsync at checkpoints only (the reference node's footing).
    Normal,
}

/// Operator commands (without one, `dmp-node` runs the node).
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Manage per-user bearer tokens (multi-tenant auth).
    #[command(subcommand)]
    Token(dmp_node::tokens::TokenCommand),
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("dmp-node: {msg}");
    ExitCode::FAILURE
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Token(cmd)) = args.command {
        return dmp_node::tokens::run_token_command(cmd);
    }
    // Structured logs on stderr; RUST_LOG (e.g. `info`, `dmp_node=debug`)
    // sets the level, warnings and errors by default.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let operator_token = args
        .operator_token
        .or_else(|| std::env::var("DMP_HTTP_TOKEN").ok())
        .filter(|t| !t.is_empty());
    let zone = args
        .served_zone
        .clone()
        .into_iter()
        .chain(
            [
                "DMP_CLAIM_PROVIDER_ZONE",
                "DMP_CLUSTER_BASE_DOMAIN",
                "DMP_DOMAIN",
                "DMP_NODE_HOSTNAME",
            ]
            .iter()
            .filter_map(|k| std::env::var(k).ok()),
        )
        .find(|z| !z.trim().is_empty())
        .unwrap_or_default();
    let apex = ApexSettings {
        ns: args.dns_apex_ns.clone(),
        a: args.dns_apex_a.clone(),
        aaaa: args.dns_apex_aaaa.clone(),
        soa_rname: args.dns_soa_rname.clone(),
        soa_serial: None,
    };
    let dns_answering = DnsConfig {
        ttl: args.dns_ttl,
        rate: Rate::new(args.dns_rate, args.dns_burst),
        udp_workers: match args.dns_udp_workers {
            0 => dns_server::default_udp_workers(),
            n => n,
        },
        ..DnsConfig::default()
    }
    .with_zone(&zone)
    .with_apex(&apex);
    let config = Config {
        dns: dns_answering.clone(),
        auth_mode: args.auth_mode.filter(|m| !m.trim().is_empty()),
        operator_token,
        limits: Limits {
            max_ttl: args.max_ttl,
            max_value_bytes: args.max_value_bytes,
            max_values_per_name: args.max_values_per_name,
        },
        http_rate: Rate::new(args.http_rate, args.http_burst),
        trusted_proxies: args.trusted_proxies,
        cleanup_interval: Duration::from_secs(args.cleanup_interval),
        auth: args.auth.into_config(),
        web: args.web.into_config(),
        sync: args.sync.into_config(),
    };
    if let Some(dir) = &config.web.web_dir
        && !dir.join("index.html").is_file()
    {
        return fail(format_args!(
            "--web-dir {} (DMP_WEB_DIR) holds no index.html: point it at a built web client \
             (trunk build --release in web/ writes web/dist)",
            dir.display()
        ));
    }
    if let Err(msg) = config.check_bind(args.http_host, args.allow_open_public_bind) {
        return fail(msg);
    }

    if let Some(dir) = args.db_path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(format_args!(
            "cannot create {} (set --db-path or DMP_DB_PATH): {e}",
            dir.display()
        ));
    }
    let db_path = args.db_path.clone();
    let options = Options {
        durability: match args.durability {
            DurabilityArg::Full => Durability::Full,
            DurabilityArg::Normal => Durability::Normal,
        },
    };
    let store = match tokio::task::spawn_blocking(move || Store::open_with(&db_path, options)).await
    {
        Ok(Ok(s)) => Arc::new(s),
        Ok(Err(e)) => {
            return fail(format_args!("cannot open {}: {e}", args.db_path.display()));
        }
        Err(e) => return fail(e),
    };

    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => return fail(format_args!("cannot listen on {addr}: {e}")),
    };
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(format_args!("cannot read the bound address: {e}")),
    };
    // First line of stdout is the URL: scripts and tests read it. A closed
    // stdout (the reader went away) must not stop the node, so write errors
    // are ignored instead of panicking like `println!`.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "dmp-node {} listening on {}",
        dmp_node::VERSION,
        dmp_node::url_for(bound)
    );
    let _ = writeln!(
        out,
        "health probe: {}health, records in {}, auth mode {:?} (Ctrl-C stops the node)",
        dmp_node::url_for(bound),
        args.db_path.display(),
        config.mode()
    );
    let _ = out.flush();

    let sweeper = dmp_node::spawn_sweeper(Arc::clone(&store), config.cleanup_interval);
    let state = AppState::new(Arc::clone(&store), config);
    if let Some(e) = state.tokens().open_error() {
        return fail(e);
    }
    let dns_config = DnsConfig {
        update: dmp_node::update::handler(&state),
        metrics: state.metrics().clone(),
        ..dns_answering
    };
    let dns_addr = SocketAddr::new(args.dns_host, args.dns_port);
    let dns_listeners = match dns_server::bind(dns_addr).await {
        Ok(l) => l,
        Err(e) => return fail(format_args!("cannot listen for DNS on {dns_addr}: {e}")),
    };
    if let Ok(a) = dns_listeners.local_addr() {
        let zone = dns_config
            .zones
            .first()
            .map_or("(any)", |z| z.name.as_str());
        let _ = writeln!(out, "dns: {a}/udp+tcp, zone {zone}");
        let url = dmp_node::url_for(bound);
        let web = state.config().web.web_dir.as_ref().map_or_else(
            || "landing page (no --web-dir)".to_owned(),
            |d| format!("web client from {}", d.display()),
        );
        let _ = writeln!(out, "doh: {url}dns-query, metrics: {url}metrics, /: {web}");
        let _ = out.flush();
    }
    let dns = tokio::spawn(dns_server::serve(
        dns_listeners,
        Arc::clone(&store),
        dns_config,
    ));

    let sync = dmp_node::sync::spawn(&state);
    let result = dmp_node::serve(listener, state, shutdown_signal()).await;
    sweeper.abort();
    dns.abort();
    if let Some(s) = sync {
        s.abort();
    }
    match result {
        Ok(()) => {
            let _ = writeln!(std::io::stderr(), "dmp-node: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format_args!("server error: {e}")),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. If no handler can be installed
/// it never resolves and the node runs until killed.
async fn shutdown_signal() {
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = int => {}
        () = term => {}
    }
}
