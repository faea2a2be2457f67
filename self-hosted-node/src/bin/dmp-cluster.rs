//! `dmp-cluster`: operator tooling for a cluster of DMP nodes: generate an
//! operator key, sign a cluster manifest, sign a bootstrap record, check a
//! manifest. See docs/FEDERATION.md for the whole flow.

use clap::{Parser, Subcommand};
use dmp_core::crypto::{Signer25519, hex};
use dmp_core::records::bootstrap::{BootstrapEntry, BootstrapRecord};
use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Operator tooling for a DMP node cluster: keys, signed cluster manifests
/// and bootstrap records.
///
/// Typical flow: `keygen` once (keep the key offline), `manifest` to list
/// the nodes (give the file to every node as DMP_CLUSTER_FILE and the
/// printed public key as DMP_SYNC_OPERATOR_SPK), and `bootstrap` in the
/// users' domain so clients can find the cluster from `user@domain`.
#[derive(Parser, Debug)]
#[command(name = "dmp-cluster", version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Generate an Ed25519 operator key: the seed (64 hex) is written to
    /// --out with mode 0600; the public key is printed.
    Keygen {
        /// Where to write the seed. Refuses to overwrite.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key (64 hex) of a seed file.
    Pubkey {
        /// Seed file (64 hex or 32 raw bytes).
        #[arg(long)]
        key: PathBuf,
    },
    /// Sign a cluster manifest (`v=dmp1;t=cluster;`) and print the wire.
    Manifest {
        /// Operator seed file.
        #[arg(long)]
        key: PathBuf,
        /// The cluster's base domain (clients read cluster.<name>).
        #[arg(long)]
        cluster: String,
        /// Version; every new manifest needs a strictly higher one.
        #[arg(long)]
        seq: u64,
        /// Days until the manifest expires (at most 1825).
        #[arg(long, default_value_t = 365)]
        exp_days: u64,
        /// A node as ID=HTTP_ENDPOINT or ID=HTTP_ENDPOINT=DNS_ENDPOINT
        /// (repeat, 1..32 nodes), e.g. n1=https://n1.example.com:8053=203.0.113.1:53.
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
        /// Also write the wire to this file (the node's DMP_CLUSTER_FILE).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign a bootstrap record (`v=dmp1;t=bootstrap;`) for
    /// _dmp.<domain> and print the wire.
    Bootstrap {
        /// The zone operator's seed file (clients pin its public key).
        #[arg(long)]
        key: PathBuf,
        /// The users' domain (the record goes at _dmp.<domain>).
        #[arg(long)]
        domain: String,
        /// Version; every new record needs a strictly higher one.
        #[arg(long)]
        seq: u64,
        /// Days until the record expires (at most 1825).
        #[arg(long, default_value_t = 365)]
        exp_days: u64,
        /// A cluster as PRIORITY=BASE_DOMAIN=OPERATOR_SPK_HEX (repeat,
        /// 1..16; lower priority is tried first).
        #[arg(long = "entry", required = true)]
        entries: Vec<String>,
        /// Also write the wire to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a manifest wire (or @file) under an operator key and print
    /// what it says.
    Verify {
        /// Operator public key (64 hex).
        #[arg(long)]
        spk: String,
        /// Expected cluster name (optional).
        #[arg(long)]
        cluster: Option<String>,
        /// The wire, or @path to read it from a file.
        wire: String,
    },
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn load_signer(path: &Path) -> Result<Signer25519, String> {
    dmp_node::sync::heartbeat::load_seed(path).map(|s| Signer25519::from_seed(&s))
}

fn exp_from_days(days: u64) -> Result<u64, String> {
    if days == 0 || days > 1825 {
        return Err("--exp-days must be 1..1825 (the protocol caps expiry at five years)".into());
    }
    Ok(now() + days * 86_400)
}

fn emit(wire: &str, out: Option<&Path>) -> Result<(), String> {
    if let Some(path) = out {
        std::fs::write(path, format!("{wire}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{wire}");
    Ok(())
}

fn run(cmd: Cmd) -> Result<(), String> {
    match cmd {
        Cmd::Keygen { out } => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| format!("no OS randomness: {e}"))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts
                .open(&out)
                .map_err(|e| format!("{}: {e} (refusing to overwrite a key)", out.display()))?;
            writeln!(f, "{}", hex(&seed)).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("{}", hex(&Signer25519::from_seed(&seed).public()));
            Ok(())
        }
        Cmd::Pubkey { key } => {
            println!("{}", hex(&load_signer(&key)?.public()));
            Ok(())
        }
        Cmd::Manifest {
            key,
            cluster,
            seq,
            exp_days,
            nodes,
            out,
        } => {
            let signer = load_signer(&key)?;
            let nodes = nodes
                .iter()
                .map(|spec| {
                    let mut parts = spec.splitn(3, '=');
                    let (Some(id), Some(http)) = (parts.next(), parts.next()) else {
                        return Err(format!(
                            "--node {spec}: expected ID=HTTP_ENDPOINT[=DNS_ENDPOINT]"
                        ));
                    };
                    Ok(ClusterNode {
                        node_id: id.into(),
                        http_endpoint: http.into(),
                        dns_endpoint: parts.next().map(String::from).filter(|d| !d.is_empty()),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let manifest = ClusterManifest {
                cluster_name: cluster,
                operator_spk: signer.public(),
                nodes,
                seq,
                exp: exp_from_days(exp_days)?,
            };
            let wire = manifest
                .to_wire(&signer)
                .map_err(|e| format!("cannot sign the manifest: {e}"))?;
            emit(&wire, out.as_deref())
        }
        Cmd::Bootstrap {
            key,
            domain,
            seq,
            exp_days,
            entries,
            out,
        } => {
            let signer = load_signer(&key)?;
            let entries = entries
                .iter()
                .map(|spec| {
                    let parts: Vec<&str> = spec.splitn(3, '=').collect();
                    let [prio, base, spk] = parts[..] else {
                        return Err(format!(
                            "--entry {spec}: expected PRIORITY=BASE_DOMAIN=OPERATOR_SPK_HEX"
                        ));
                    };
                    Ok(BootstrapEntry {
                        priority: prio
                            .parse()
                            .map_err(|_| format!("--entry {spec}: priority must be 0..65535"))?,
                        cluster_base_domain: base.into(),
                        operator_spk: dmp_node::sync::decode_hex32(spk).ok_or_else(|| {
                            format!("--entry {spec}: operator key must be 64 hex characters")
                        })?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let record = BootstrapRecord {
                user_domain: domain,
                signer_spk: signer.public(),
                entries,
                seq,
                exp: exp_from_days(exp_days)?,
            };
            let wire = record
                .to_wire(&signer)
                .map_err(|e| format!("cannot sign the bootstrap record: {e}"))?;
            emit(&wire, out.as_deref())
        }
        Cmd::Verify { spk, cluster, wire } => {
            let spk =
                dmp_node::sync::decode_hex32(&spk).ok_or("--spk must be 64 hex characters")?;
            let wire = match wire.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("{path}: {e}"))?
                    .trim()
                    .to_string(),
                None => wire,
            };
            let m = ClusterManifest::parse_and_verify(&wire, &spk, cluster.as_deref(), now())
                .map_err(|e| format!("the manifest does not verify: {e}"))?;
            println!(
                "cluster {} seq {} expires {} ({} nodes)",
                m.cluster_name,
                m.seq,
                m.exp,
                m.nodes.len()
            );
            for n in &m.nodes {
                println!(
                    "  {} {} {}",
                    n.node_id,
                    n.http_endpoint,
                    n.dns_endpoint.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dmp-cluster: {e}");
            ExitCode::FAILURE
        }
    }
}
