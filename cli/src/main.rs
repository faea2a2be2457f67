//! `dnsmesh`: the command-line client of dmp-rs.
//!
//! It will take the same commands and `config.yaml` as the reference
//! `dnsmesh` 0.7.5 so users can switch. This skeleton only has `version`;
//! identity, contacts, send/recv and the rest arrive with the CLI issue.

use clap::{Parser, Subcommand};
use dmp_core::wire::RecordKind;
use std::path::PathBuf;

/// End-to-end encrypted messaging over DNS TXT records (DNS Mesh Protocol).
///
/// A Rust client that speaks the same wire format as the Python reference
/// dnsmesh 0.7.5. Only `version` works so far; the messaging commands
/// (init, identity, contacts, send, recv, ...) arrive in later releases.
#[derive(Parser, Debug)]
#[command(name = "dnsmesh", version, about, long_about)]
struct Cli {
    /// Config directory (overrides DMP_CONFIG_HOME). Default: ~/.dmp
    #[arg(long, env = "DMP_CONFIG_HOME", global = true)]
    config_home: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the client version and the protocol it speaks.
    Version,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("dnsmesh {} (dmp-rs)", env!("CARGO_PKG_VERSION"));
            println!(
                "protocol: DMP wire format of dnsmesh 0.7.5, {} record kinds",
                RecordKind::ALL.len()
            );
            // Accepted now so scripts can pass it; used once config exists.
            let _ = cli.config_home;
        }
    }
}
