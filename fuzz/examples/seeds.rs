//! Write the seed corpora to `fuzz/seeds/<target>/`, after checking that
//! each seed is accepted where it should be (so a change in `dmp-core` that
//! silently turns the seeds into rejects fails here).
//!
//! `cargo run --release --example seeds` (from `fuzz/`) rewrites them;
//! `-- --check` only compares with the committed files and exits 1 on any
//! difference. Output is deterministic.

use std::path::Path;
use std::process::ExitCode;

use dmp_core_fuzz::{fec, message, receive, records, seeds};

fn check(s: &seeds::Seed) {
    match s.target {
        "records" => {
            let got = records::run(&s.data);
            assert_eq!(got.0, vec![s.name.as_str()], "records seed {}", s.name);
        }
        "message" => {
            let got = message::run(&s.data);
            let want = match s.name.as_str() {
                "outer" => 0,
                "header" => 1,
                "envelope" => 2,
                _ => 3,
            };
            assert!(got[want], "message seed {} rejected: {got:?}", s.name);
        }
        "fec" => fec::run(&s.data),
        "receive" => {
            let o = receive::run(&s.data);
            let ok = match s.name.as_str() {
                "plain" | "provider" => o.delivered == 1,
                "tofu" => o.delivered + o.quarantined == 1,
                "unpinned" => o.delivered == 0,
                "prekey" => o.delivered == 1 && o.prekeys_used == 1,
                "dmpv2" => o.delivered == 1 && o.labelled == 1,
                "two-messages" => o.delivered == 2,
                other => panic!("unknown receive seed {other}"),
            };
            assert!(ok, "receive seed {}: {o:?}", s.name);
        }
        other => panic!("unknown target {other}"),
    }
}

fn main() -> ExitCode {
    let check_only = std::env::args().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut stale = 0;
    let mut total = 0;
    for s in seeds::all() {
        check(&s);
        if s.target == "receive" {
            println!("  receive {}: {:?}", s.name, receive::run(&s.data));
        }
        let dir = root.join(s.target);
        let path = dir.join(&s.name);
        total += s.data.len();
        if check_only {
            if std::fs::read(&path).ok().as_deref() != Some(&s.data[..]) {
                eprintln!("stale seed: {}", path.display());
                stale += 1;
            }
        } else {
            std::fs::create_dir_all(&dir).expect("create seed dir");
            std::fs::write(&path, &s.data).expect("write seed");
            println!("{} ({} bytes)", path.display(), s.data.len());
        }
    }
    println!("{total} bytes of seeds");
    if stale > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
