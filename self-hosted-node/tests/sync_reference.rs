//! Sync interop with the live reference node (dnsmesh 0.7.5): the
//! `/v1/sync/*` routes answer byte for byte like the reference's, and a
//! mixed cluster (one `dmp-node`, one reference node) converges both ways,
//! manifest gossip included.
//!
//! Needs DMP_REFERENCE_PYTHON (the reference venv's python). Without it the
//! tests fail, unless DMP_SKIP_REFERENCE=1.

mod sync_common;

use dmp_core::crypto::Signer25519;
use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use sync_common::*;

const LIMIT: Duration = Duration::from_secs(40);

fn reference_python() -> Option<PathBuf> {
    match std::env::var_os("DMP_REFERENCE_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") => {
            eprintln!("skipped: DMP_SKIP_REFERENCE=1");
            None
        }
        _ => panic!(
            "set DMP_REFERENCE_PYTHON to the reference venv's python \
             (e.g. ~/.cache/dmp/venv-dnsmesh-0.7.5/bin/python), or DMP_SKIP_REFERENCE=1 to skip"
        ),
    }
}

/// Start the reference node on `port` (open auth, loopback, the sync
/// token) with `env` on top.
fn start_reference(python: &Path, dir: &Path, port: u16, env: &[(&str, String)]) -> Kill {
    std::fs::create_dir_all(dir).unwrap();
    let log = std::fs::File::create(dir.join("ref.log")).unwrap();
    let mut cmd = Command::new(python);
    cmd.args(["-m", "dmp.server"])
        .env_clear()
        .env("DMP_DB_PATH", dir.join("dmp.db"))
        .env("DMP_CLUSTER_FILE", dir.join("cluster.json"))
        .env("DMP_DNS_HOST", "127.0.0.1")
        .env("DMP_DNS_PORT", free_port().to_string())
        .env("DMP_HTTP_HOST", "127.0.0.1")
        .env("DMP_HTTP_PORT", port.to_string())
        .env("DMP_HTTP_RATE", "0")
        .env("DMP_SYNC_PEER_TOKEN", TOKEN)
        .env("DMP_LOG_LEVEL", "INFO")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = Kill(cmd.spawn().expect("start the reference node"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(Duration::from_secs(20), || {
        request(addr, "GET", "/health", None, "").0 == 200
    });
    child
}

/// Replace the numbers after `"ts": `, `"ttl": ` and at the start of
/// `"next_cursor": "` (arrival times and remaining lifetimes differ between
/// two nodes; everything else must not).
fn normalize(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let next = ["\"ts\": ", "\"ttl\": ", "\"next_cursor\": \""]
            .iter()
            .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
            .min();
        let Some((i, klen)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i + klen]);
        rest = &rest[i + klen..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push('N');
        }
        rest = &rest[digits..];
    }
}

#[test]
fn sync_routes_answer_like_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rport = free_port();
    let _reference = start_reference(&python, &dir.path().join("ref"), rport, &[]);
    let ours = start_node(&dir.path().join("ours"), free_port(), &[]);
    let theirs = SocketAddr::from(([127, 0, 0, 1], rport));

    let many: Vec<String> = (0..257).map(|i| format!("n{i}.mesh.test")).collect();
    let too_many = serde_json::json!({ "names": many }).to_string();
    let empty_cases: Vec<(&str, &str, Option<&str>, String)> = vec![
        ("GET", "/v1/sync/digest", None, String::new()),
        ("GET", "/v1/sync/digest", Some("wrong"), String::new()),
        ("POST", "/v1/sync/pull", None, "{}".into()),
        ("GET", "/v1/sync/cluster-manifest", None, String::new()),
        ("GET", "/v1/sync/digest", Some(TOKEN), String::new()),
        (
            "GET",
            "/v1/sync/digest?cursor=abc",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?cursor=-1:a:",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?cursor=0:a.b:XYZ",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?cursor=5:abc",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?cursor=+12:x.y:&limit=3",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?cursor=&limit=5",
            Some(TOKEN),
            String::new(),
        ),
        ("GET", "/v1/sync/digest?limit=0", Some(TOKEN), String::new()),
        (
            "GET",
            "/v1/sync/digest?limit=abc",
            Some(TOKEN),
            String::new(),
        ),
        (
            "GET",
            "/v1/sync/digest?limit=99999999",
            Some(TOKEN),
            String::new(),
        ),
        ("GET", "/v1/sync/digest?since=x", Some(TOKEN), String::new()),
        (
            "GET",
            "/v1/sync/digest?since=-4",
            Some(TOKEN),
            String::new(),
        ),
        ("GET", "/v1/sync/digest?since=7", Some(TOKEN), String::new()),
        ("POST", "/v1/sync/pull", Some(TOKEN), "not json".into()),
        ("POST", "/v1/sync/pull", Some(TOKEN), String::new()),
        ("POST", "/v1/sync/pull", Some(TOKEN), "[1, 2]".into()),
        (
            "POST",
            "/v1/sync/pull",
            Some(TOKEN),
            "{\"names\": \"x\"}".into(),
        ),
        (
            "POST",
            "/v1/sync/pull",
            Some(TOKEN),
            "{\"names\": [1]}".into(),
        ),
        ("POST", "/v1/sync/pull", Some(TOKEN), too_many),
        (
            "POST",
            "/v1/sync/pull",
            Some(TOKEN),
            "{\"names\": []}".into(),
        ),
        (
            "POST",
            "/v1/sync/pull",
            Some(TOKEN),
            "{\"names\": [\"none.mesh.test\"]}".into(),
        ),
        (
            "GET",
            "/v1/sync/cluster-manifest",
            Some(TOKEN),
            String::new(),
        ),
        ("GET", "/v1/sync/pull", Some(TOKEN), String::new()),
        ("POST", "/v1/sync/digest", Some(TOKEN), String::new()),
    ];
    for (method, path, token, body) in &empty_cases {
        let a = request(theirs, method, path, *token, body);
        let b = request(ours.addr, method, path, *token, body);
        assert_eq!(b, a, "{method} {path} token={token:?} body={body:?}");
    }

    // The same records, published in the same order to both.
    for (name, value) in [
        ("b.mesh.test", "two"),
        ("a.mesh.test", "one"),
        ("a.mesh.test", "uno"),
        ("c.mesh.test", "v=spf1 -all"),
    ] {
        publish(theirs, name, value);
        publish(ours.addr, name, value);
    }
    let data_cases: Vec<(&str, &str, String)> = vec![
        ("GET", "/v1/sync/digest", String::new()),
        ("GET", "/v1/sync/digest?limit=2", String::new()),
        ("GET", "/v1/sync/digest?limit=1", String::new()),
        (
            "POST",
            "/v1/sync/pull",
            "{\"names\": [\"c.mesh.test\", \" a.mesh.test.. \", \"a.mesh.test\", \"zz.mesh.test\"]}"
                .into(),
        ),
    ];
    for (method, path, body) in &data_cases {
        let (sa, ba) = request(theirs, method, path, Some(TOKEN), body);
        let (sb, bb) = request(ours.addr, method, path, Some(TOKEN), body);
        assert_eq!(sa, 200, "{method} {path}: {ba}");
        assert_eq!(
            (sb, normalize(&bb)),
            (sa, normalize(&ba)),
            "{method} {path} {body}"
        );
    }
}

#[test]
fn a_mixed_cluster_converges_both_ways() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [rport, oport] = free_ports::<2>();
    let rurl = format!("http://127.0.0.1:{rport}");
    let ourl = format!("http://127.0.0.1:{oport}");
    let _reference = start_reference(
        &python,
        &dir.path().join("ref"),
        rport,
        &[
            ("DMP_SYNC_PEERS", ourl.clone()),
            ("DMP_SYNC_INTERVAL", "0.3".into()),
        ],
    );
    let ours = start_node(
        &dir.path().join("ours"),
        oport,
        &[("DMP_SYNC_PEERS", rurl.clone())],
    );
    let theirs = SocketAddr::from(([127, 0, 0, 1], rport));

    publish(theirs, "from-ref.mesh.test", "written to the reference");
    publish(ours.addr, "from-ours.mesh.test", "written to dmp-node");
    // A multi-value RRset on each side.
    for i in 0..5 {
        publish(theirs, "multi.mesh.test", &format!("ref {i}"));
        publish(ours.addr, "multi.mesh.test", &format!("ours {i}"));
    }
    wait_for(LIMIT, || {
        values(ours.addr, "from-ref.mesh.test") == ["written to the reference"]
            && values(theirs, "from-ours.mesh.test") == ["written to dmp-node"]
            && values(ours.addr, "multi.mesh.test").len() == 10
            && values(theirs, "multi.mesh.test").len() == 10
    });
    let st = status(ours.addr);
    assert_eq!(st["records_rejected"].as_u64(), Some(0), "{st}");
}

fn manifest_wire(signer: &Signer25519, seq: u64, nodes: &[(&str, &str)]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ClusterManifest {
        cluster_name: "mesh.test".into(),
        operator_spk: signer.public(),
        nodes: nodes
            .iter()
            .map(|(id, url)| ClusterNode {
                node_id: (*id).into(),
                http_endpoint: (*url).into(),
                dns_endpoint: None,
            })
            .collect(),
        seq,
        exp: now + 86_400,
    }
    .to_wire(signer)
    .unwrap()
}

#[test]
fn manifest_gossip_works_between_dmp_node_and_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [rport, oport] = free_ports::<2>();
    let rurl = format!("http://127.0.0.1:{rport}");
    let ourl = format!("http://127.0.0.1:{oport}");
    let signer = Signer25519::from_seed(&[9u8; 32]);
    let spk: String = signer.public().iter().map(|b| format!("{b:02x}")).collect();
    let nodes = [("ref", rurl.as_str()), ("ours", ourl.as_str())];
    let seq1 = manifest_wire(&signer, 1, &nodes);
    let seq2 = manifest_wire(&signer, 2, &nodes);
    let seq3 = manifest_wire(&signer, 3, &nodes);
    // Both start from the seq-1 manifest in their cluster file.
    for sub in ["ref", "ours"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        std::fs::write(dir.path().join(sub).join("cluster.json"), &seq1).unwrap();
    }
    let common = |self_url: &str, id: &str| {
        vec![
            ("DMP_SYNC_OPERATOR_SPK", spk.clone()),
            ("DMP_CLUSTER_BASE_DOMAIN", "mesh.test".to_string()),
            ("DMP_SYNC_SELF_ENDPOINT", self_url.to_string()),
            ("DMP_NODE_ID", id.to_string()),
            ("DMP_SYNC_INTERVAL", "0.3".to_string()),
        ]
    };
    let _reference = start_reference(
        &python,
        &dir.path().join("ref"),
        rport,
        &common(&rurl, "ref"),
    );
    let ours = start_node(&dir.path().join("ours"), oport, &common(&ourl, "ours"));
    let theirs = SocketAddr::from(([127, 0, 0, 1], rport));
    let manifest_seq = |addr: SocketAddr| -> Option<u64> {
        let (code, body) = request(addr, "GET", "/v1/sync/cluster-manifest", Some(TOKEN), "");
        (code == 200)
            .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
            .flatten()
            .and_then(|v| v["seq"].as_u64())
    };
    wait_for(LIMIT, || {
        manifest_seq(theirs) == Some(1) && manifest_seq(ours.addr) == Some(1)
    });

    // The operator rolls seq 2 out to the reference only: dmp-node adopts it.
    publish(theirs, "cluster.mesh.test", &seq2);
    wait_for(LIMIT, || manifest_seq(ours.addr) == Some(2));
    // Then seq 3 to dmp-node only: the reference adopts it.
    publish(ours.addr, "cluster.mesh.test", &seq3);
    wait_for(LIMIT, || manifest_seq(theirs) == Some(3));
    // A manifest signed by another key never wins.
    let rogue = manifest_wire(&Signer25519::from_seed(&[1u8; 32]), 99, &nodes);
    publish(theirs, "cluster.mesh.test", &rogue);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(manifest_seq(ours.addr), Some(3));
    assert_eq!(manifest_seq(theirs), Some(3));
    let st = status(ours.addr);
    assert!(st["manifests_adopted"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(st["installed_manifest_seq"].as_u64(), Some(3), "{st}");
    assert_eq!(st["peers"][0]["node_id"].as_str(), Some("ref"), "{st}");
}

#[test]
fn cluster_manifest_route_answers_like_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let op = Signer25519::from_seed(&[5u8; 32]);
    let other = Signer25519::from_seed(&[6u8; 32]);
    let spk: String = op.public().iter().map(|b| format!("{b:02x}")).collect();
    let nodes = [("n1", "http://127.0.0.1:1")];
    let values = [
        manifest_wire(&op, 3, &nodes),
        manifest_wire(&other, 7, &nodes),
        "v=dmp1;t=cluster;AAAA".to_string(),
        "v=spf1 -all".to_string(),
    ];
    // Without a pinned key the highest structurally valid seq is served;
    // with one, the highest that verifies.
    for (i, pinned) in [None, Some(spk)].into_iter().enumerate() {
        let mut env = vec![("DMP_CLUSTER_BASE_DOMAIN", "mesh.test".to_string())];
        if let Some(k) = &pinned {
            env.push(("DMP_SYNC_OPERATOR_SPK", k.clone()));
        }
        let rport = free_port();
        let _reference = start_reference(&python, &dir.path().join(format!("ref{i}")), rport, &env);
        let ours = start_node(&dir.path().join(format!("ours{i}")), free_port(), &env);
        let theirs = SocketAddr::from(([127, 0, 0, 1], rport));
        let get = |addr| request(addr, "GET", "/v1/sync/cluster-manifest", Some(TOKEN), "");
        assert_eq!(get(ours.addr), get(theirs));
        assert_eq!(get(ours.addr).0, 204);
        for v in &values {
            publish(theirs, "cluster.mesh.test", v);
            publish(ours.addr, "cluster.mesh.test", v);
        }
        let (code, body) = get(ours.addr);
        assert_eq!((code, body.clone()), get(theirs), "pinned={pinned:?}");
        let want = if pinned.is_some() { 3 } else { 7 };
        assert!(body.contains(&format!("\"seq\": {want},")), "{body}");
    }
}
