//! The `dmp-node` binary: parse flags, bind, print the URL, serve.

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpListener;

/// Self-hosted DNS Mesh Protocol node.
///
/// Serves a landing page at / and a health probe at /health over HTTP. It
/// prints the URL it listens on as its first line of output. DNS, the
/// /v1 publish API, DoH and the bundled web client are not served yet; they
/// arrive with later releases. Each flag can also be set through the
/// environment variable the reference node (dnsmesh 0.7.5) uses.
#[derive(Parser, Debug)]
#[command(name = "dmp-node", version, about, long_about)]
struct Args {
    /// Address to bind the HTTP server to. The default keeps the node on this
    /// machine; use 0.0.0.0 to serve other hosts.
    #[arg(long, env = "DMP_HTTP_HOST", default_value = "127.0.0.1")]
    http_host: IpAddr,

    /// TCP port for HTTP. 0 picks a free port (the printed URL shows which).
    #[arg(long, env = "DMP_HTTP_PORT", default_value_t = 8053)]
    http_port: u16,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let addr = SocketAddr::new(args.http_host, args.http_port);
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("dmp-node: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dmp-node: cannot read the bound address: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // First line of stdout is the URL: scripts and tests read it.
    println!(
        "dmp-node {} listening on {}",
        dmp_node::VERSION,
        dmp_node::url_for(bound)
    );
    println!(
        "health probe: {}health (Ctrl-C stops the node)",
        dmp_node::url_for(bound)
    );

    let shutdown = async {
        // If the signal handler cannot be installed, run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match dmp_node::serve(listener, shutdown).await {
        Ok(()) => {
            eprintln!("dmp-node: stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dmp-node: server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
