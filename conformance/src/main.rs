//! `dmp-conformance`: run the DMP node conformance suite against a base URL,
//! or seed / verify one record (the persistence check across a restart).

use clap::{Parser, Subcommand};
use dmp_conformance::{Group, Mode, Target, http};
use dmp_core::node::publish::Limits;
use std::process::ExitCode;

/// HTTP/DoH conformance checks for a DMP node (dmp-node or the edge node).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Base URL of the node, e.g. http://127.0.0.1:8787
    #[arg(long, env = "DMP_CONFORMANCE_BASE_URL", global = true)]
    base_url: Option<String>,
    /// Operator bearer token of the node, if it has one.
    #[arg(long, env = "DMP_CONFORMANCE_OPERATOR_TOKEN", global = true)]
    operator_token: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the suite; exits 1 when a check fails.
    Run {
        /// The node's auth mode: open, legacy or multi-tenant.
        #[arg(long, default_value = "open")]
        mode: Mode,
        /// The node has registration enabled (multi-tenant).
        #[arg(long)]
        registration: bool,
        /// Only these groups (comma-separated: basics, records, auth,
        /// registration, doh, cors). Default: all.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<Group>,
        /// The node's DMP_MAX_VALUES_PER_NAME.
        #[arg(long, default_value_t = 64)]
        max_values_per_name: usize,
    },
    /// Publish one record (writes with the operator token when given).
    Seed {
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: String,
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Check that GET /v1/records/NAME serves VALUE; exits 1 otherwise.
    Expect {
        #[arg(long)]
        name: String,
        #[arg(long)]
        value: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(base) = cli.base_url.map(|b| b.trim_end_matches('/').to_string()) else {
        eprintln!("dmp-conformance: give --base-url (or DMP_CONFORMANCE_BASE_URL)");
        return ExitCode::from(2);
    };
    let auth: Vec<(&str, String)> = cli
        .operator_token
        .iter()
        .map(|t| ("Authorization", format!("Bearer {t}")))
        .collect();
    let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match cli.cmd {
        Cmd::Run {
            mode,
            registration,
            groups,
            max_values_per_name,
        } => {
            let target = Target {
                base,
                mode,
                operator_token: cli.operator_token,
                registration,
                limits: Limits {
                    max_values_per_name,
                    ..Limits::default()
                },
            };
            let report = dmp_conformance::run(&target, &groups);
            print!("{}", report.render());
            if report.failures().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Cmd::Seed { name, value, ttl } => {
            let body = format!(
                "{{\"value\": {}, \"ttl\": {ttl}}}",
                dmp_core::node::json_str(&value)
            );
            match http::request(
                &base,
                "POST",
                &format!("/v1/records/{name}"),
                &headers,
                body.as_bytes(),
            ) {
                Ok(r) if r.status == 201 => {
                    println!("seeded {name}");
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    eprintln!("seed {name}: {} {}", r.status, r.text());
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("seed {name}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Expect { name, value } => {
            match http::request(&base, "GET", &format!("/v1/records/{name}"), &headers, b"") {
                Ok(r)
                    if r.status == 200
                        && r.text() == dmp_core::node::records_body(&name, &[&value]) =>
                {
                    println!("{name} still serves {value:?}");
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    eprintln!("expect {name}: {} {}", r.status, r.text());
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("expect {name}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
