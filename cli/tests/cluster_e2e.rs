//! Federation end to end (issue 6): real `dmp-node` processes peering from
//! a cluster manifest signed with `dmp-cluster`, and our CLI in cluster mode
//! on top of them, all on 127.0.0.1.
//!
//! * Quorum: with one of three nodes killed, send and receive still work
//!   (2 of 3 acks); with two killed, `send` exits non-zero and names the
//!   nodes that failed.
//! * Bootstrap: a zone key signs `_dmp.<domain>` (published on one node and
//!   carried to the others by anti-entropy); `bootstrap discover
//!   user@domain --auto-pin` pins the cluster through the two-hop chain,
//!   and the user then sends through it.

mod support;

use dmp_cli::config::Config;
use dmp_cli::net::http::request;
use std::io::{BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Behaviour, User, ZONE, bodies, stderr, stdout, upstream};

/// Shared secret of the nodes' `/v1/sync/*` routes.
const SYNC_TOKEN: &str = "cluster-e2e-sync-token";

/// A binary of the dmp-node package (`dmp-node`, `dmp-cluster`): from
/// `env_var` when set, else in the target directory next to this test
/// binary, built on demand.
fn node_package_bin(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "dmp-node", "--bins"])
            .status()
            .expect("run cargo build -p dmp-node --bins");
        assert!(st.success(), "cargo build -p dmp-node --bins failed");
    }
    bin
}

/// Run `dmp-cluster` and return its trimmed stdout.
fn dmp_cluster(args: &[&str]) -> String {
    let o = Command::new(node_package_bin("dmp-cluster", "DMP_CLUSTER_BIN"))
        .args(args)
        .output()
        .expect("run dmp-cluster");
    assert!(
        o.status.success(),
        "dmp-cluster {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// `n` loopback ports, each free for both TCP and UDP, all distinct (held
/// until every one is chosen).
fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    while held.len() < n {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if let Ok(u) = UdpSocket::bind(("127.0.0.1", port)) {
            held.push((t, u));
        }
    }
    held.iter()
        .map(|(t, _)| t.local_addr().unwrap().port())
        .collect()
}

/// One cluster member: a `dmp-node` whose ports are fixed before it starts
/// (they are in the signed manifest). Killed on drop.
struct Member {
    id: String,
    http: String,
    dns: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
}

impl Member {
    /// SIGKILL, no graceful shutdown: the node is simply gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three nodes, one operator: the key and the manifest come from
/// `dmp-cluster`, every node gets the manifest file, its own ID and the
/// pinned operator key, so each syncs with the two others.
struct Cluster {
    dir: tempfile::TempDir,
    operator_spk: String,
    manifest: String,
    nodes: Vec<Member>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("operator.key");
        let operator_spk = dmp_cluster(&["keygen", "--out", key.to_str().unwrap()]);
        let ports = free_ports(6);
        let ids = ["n1", "n2", "n3"];
        let specs: Vec<String> = ids
            .iter()
            .zip(ports.chunks(2))
            .map(|(id, p)| format!("{id}=http://127.0.0.1:{}=127.0.0.1:{}", p[0], p[1]))
            .collect();
        let file = dir.path().join("cluster.json");
        let mut args = vec![
            "manifest",
            "--key",
            key.to_str().unwrap(),
            "--cluster",
            ZONE,
            "--seq",
            "1",
            "--exp-days",
            "1",
            "--out",
            file.to_str().unwrap(),
        ];
        for s in &specs {
            args.extend(["--node", s.as_str()]);
        }
        let manifest = dmp_cluster(&args);
        assert!(manifest.starts_with("v=dmp1;t=cluster;"), "{manifest}");

        let nodes = ids
            .iter()
            .zip(ports.chunks(2))
            .map(|(id, p)| start_member(dir.path(), id, p[0], p[1], &file, &operator_spk))
            .collect();
        Cluster {
            dir,
            operator_spk,
            manifest,
            nodes,
        }
    }

    /// Every node's DNS listener, as a `dns_resolvers` list: the users'
    /// resolvers fail over when one node is gone.
    fn resolvers(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.dns.to_string()).collect()
    }

    /// Wait until `check` holds; on timeout, fail with the node logs.
    fn wait_for(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let logs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.id, n.log_text()))
            .collect();
        panic!("timed out waiting for {what}\n{}", logs.join("\n"));
    }
}

fn start_member(
    dir: &Path,
    id: &str,
    http_port: u16,
    dns_port: u16,
    manifest_file: &Path,
    operator_spk: &str,
) -> Member {
    let home = dir.join(id);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::copy(manifest_file, home.join("cluster.json")).unwrap();
    let log = home.join("node.log");
    let mut child = Command::new(node_package_bin("dmp-node", "DMP_NODE_BIN"))
        .env_clear()
        .env("RUST_LOG", "dmp_node=info")
        .env("DMP_DOMAIN", ZONE)
        .env("DMP_HTTP_RATE", "0")
        .env("DMP_HTTP_BURST", "0")
        .env("DMP_CLUSTER_FILE", home.join("cluster.json"))
        .env("DMP_NODE_ID", id)
        .env("DMP_SYNC_OPERATOR_SPK", operator_spk)
        .env("DMP_SYNC_PEER_TOKEN", SYNC_TOKEN)
        .env("DMP_SYNC_INTERVAL", "0.3")
        .arg("--db-path")
        .arg(home.join("records.db"))
        .args(["--http-host", "127.0.0.1", "--http-port"])
        .arg(http_port.to_string())
        .args(["--dns-host", "127.0.0.1", "--dns-port"])
        .arg(dns_port.to_string())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start dmp-node");
    // Drain stdout so the node never blocks on a full pipe.
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = BufReader::new(out).read_to_end(&mut sink);
    });
    let http = format!("http://127.0.0.1:{http_port}");
    let member = Member {
        id: id.into(),
        http: http.clone(),
        dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
        child: Some(child),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let healthy = request(
            "GET",
            &format!("{http}/health"),
            None,
            None,
            Duration::from_secs(1),
        )
        .is_ok_and(|r| r.status == 200);
        if healthy {
            return member;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became healthy:\n{}",
            member.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node's sync status (dmp-node's `/v1/sync/status`).
fn sync_status(m: &Member) -> serde_json::Value {
    let r = request(
        "GET",
        &format!("{}/v1/sync/status", m.http),
        None,
        Some(SYNC_TOKEN),
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}: {}", m.id, r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// TXT values at `name` straight from one node's DNS.
fn txt(m: &Member, name: &str) -> Vec<String> {
    dmp_cli::net::dns::query_txt(m.dns, name, Duration::from_secs(3))
        .map(|r| r.values)
        .unwrap_or_default()
}

fn publish(m: &Member, name: &str, value: &str) {
    let r = request(
        "POST",
        &format!("{}/v1/records/{name}", m.http),
        Some(&serde_json::json!({"value": value, "ttl": 3600})),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 201, "publish {name} on {}: {}", m.id, r.body);
}

/// `init` a user on `ZONE` with `endpoint` (unused once in cluster mode)
/// and `resolvers` as its DNS.
fn init(u: &User, endpoint: &str, resolvers: &[String]) {
    u.ok(&[
        "init",
        &u.name,
        "--domain",
        ZONE,
        "--endpoint",
        endpoint,
        "--dns-resolvers",
        &resolvers.join(","),
        "--no-probe-local-dns",
    ]);
    let cfg = Config::load(&u.home.join("config.yaml")).unwrap();
    assert_eq!(&cfg.dns_resolvers, resolvers);
}

/// A message long enough for several chunks, with non-ASCII text, so
/// "the exact text" means something.
fn long_text(tag: &str) -> String {
    format!("{tag}: grüße → ✓ ") + &"the quick brown fox 0123456789 ".repeat(12)
}

/// Quorum 2 of 3: one node killed, send and receive still work; two
/// killed, `send` fails, says which nodes failed, and exits 2.
#[test]
fn cluster_mode_survives_one_node_down_and_fails_clearly_with_two() {
    let mut cluster = Cluster::start();
    // The nodes peer from the manifest: each has the two others and the
    // manifest installed, and serves it at cluster.<base>.
    cluster.wait_for(
        "every node to install the manifest and list 2 peers",
        || {
            cluster.nodes.iter().all(|n| {
                let st = sync_status(n);
                st["installed_manifest_seq"].as_u64() == Some(1)
                    && st["peers"].as_array().is_some_and(|p| p.len() == 2)
            })
        },
    );
    for n in &cluster.nodes {
        assert_eq!(
            txt(n, "cluster.mesh.test"),
            std::slice::from_ref(&cluster.manifest),
            "{}",
            n.id
        );
    }

    let resolvers = cluster.resolvers();
    let (alice, bob) = (User::ours("alice"), User::ours("bob"));
    for u in [&alice, &bob] {
        init(u, &cluster.nodes[0].http, &resolvers);
        let out = u.ok(&["cluster", "pin", &cluster.operator_spk, ZONE]);
        assert!(out.contains("pinned cluster operator key"), "{out}");
        let out = u.ok(&["cluster", "enable"]);
        assert!(out.contains("cluster mode enabled."), "{out}");
        u.ok(&["identity", "publish"]);
    }
    let out = alice.ok(&["cluster", "status"]);
    assert!(out.contains("cluster_enabled: true"), "{out}");
    assert!(out.contains("write quorum: 2 of 3 nodes"), "{out}");
    bob.ok(&["identity", "refresh-prekeys", "--count", "4"]);
    // Writes fan out to every node (the in-flight ones land before exit).
    let pool = dmp_core::names::prekey_pool_name("bob", ZONE);
    for n in &cluster.nodes {
        assert_eq!(txt(n, &pool).len(), 4, "bob's prekeys on {}", n.id);
    }
    alice.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);

    // n1 is the users' init endpoint and first resolver: kill it.
    cluster.nodes[0].kill();
    let text = long_text("one node down");
    let o = alice.run(&["send", "bob@mesh.test", &text]);
    assert!(o.status.success(), "send with n1 down: {o:?}");
    assert!(stdout(&o).starts_with("sent → bob@mesh.test"), "{o:?}");
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec![text], "{out}");
    // And the other way, while n1 is still down.
    bob.ok(&["send", "alice@mesh.test", "reply with n1 down"]);
    assert_eq!(
        bodies(&alice.ok(&["recv"])),
        vec!["reply with n1 down".to_string()]
    );

    // n2 too: one node of three cannot make a quorum of two.
    cluster.nodes[1].kill();
    let o = alice.run(&["send", "bob@mesh.test", "must not go through"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = stderr(&o);
    eprintln!("send with two nodes down: {err}");
    assert!(err.contains("send failed"), "{err}");
    assert!(
        err.contains("write reached 1 of 3 nodes, 2 needed"),
        "{err}"
    );
    assert!(err.contains("n1: ") && err.contains("n2: "), "{err}");
    assert!(!err.contains("n3: "), "n3 acked: {err}");
    assert!(!stdout(&o).contains("sent →"), "{o:?}");
    // Nothing half-delivered: bob sees no new message on the survivor.
    let o = bob.run(&["recv"]);
    assert!(bodies(&stdout(&o)).is_empty(), "{o:?}");
}

/// `bootstrap discover user@domain --auto-pin`: the zone key's record at
/// `_dmp.mesh.test`, published on n2 only, reaches n1 by anti-entropy; the
/// user resolves it through a forwarding resolver in front of n1, pins the
/// cluster named in it, enables cluster mode and sends; bob, a plain
/// single-node user on n3, receives the exact text.
#[test]
fn bootstrap_discover_auto_pins_the_cluster_and_the_user_sends_through_it() {
    let cluster = Cluster::start();
    let zone_key = cluster.dir.path().join("zone.key");
    let zone_spk = dmp_cluster(&["keygen", "--out", zone_key.to_str().unwrap()]);
    let boot = dmp_cluster(&[
        "bootstrap",
        "--key",
        zone_key.to_str().unwrap(),
        "--domain",
        ZONE,
        "--seq",
        "1",
        "--exp-days",
        "1",
        "--entry",
        &format!("10={ZONE}={}", cluster.operator_spk),
    ]);
    assert!(boot.starts_with("v=dmp1;t=bootstrap;"), "{boot}");
    let (n1, n2, n3) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    publish(n2, "_dmp.mesh.test", &boot);
    cluster.wait_for("the bootstrap record to reach n1 and n3", || {
        txt(n1, "_dmp.mesh.test") == [boot.clone()] && txt(n3, "_dmp.mesh.test") == [boot.clone()]
    });

    // Alice's resolver: a forwarding resolver in front of n1.
    let resolver = upstream(Behaviour::Forward(n1.dns));
    let alice = User::ours("alice");
    init(&alice, &n1.http, &[resolver.addr.to_string()]);
    // Bob: no cluster, just n3 (HTTP writes and DNS reads).
    let bob = User::ours("bob");
    init(&bob, &n3.http, &[n3.dns.to_string()]);
    bob.ok(&["identity", "publish"]);
    bob.ok(&["identity", "refresh-prekeys", "--count", "3"]);

    // A signer key that did not sign the record finds nothing (exit 2)
    // and pins nothing.
    let o = alice.run(&[
        "bootstrap",
        "discover",
        "bob@mesh.test",
        "--signer-spk",
        &cluster.operator_spk,
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        stderr(&o).contains("no verifying bootstrap record at _dmp.mesh.test"),
        "{o:?}"
    );

    alice.ok(&["bootstrap", "pin", ZONE, &zone_spk]);
    let out = alice.ok(&["bootstrap", "discover", "bob@mesh.test", "--auto-pin"]);
    assert!(
        out.contains(&format!(
            "priority 10  cluster mesh.test  operator_spk {}",
            cluster.operator_spk
        )),
        "{out}"
    );
    assert!(out.contains("pinned cluster mesh.test"), "{out}");
    for n in &cluster.nodes {
        assert!(
            out.contains(&format!("    {}  http={}  dns={}", n.id, n.http, n.dns)),
            "{out}"
        );
    }
    let cfg = Config::load(&alice.home.join("config.yaml")).unwrap();
    assert_eq!(cfg.cluster_base_domain, ZONE);
    assert_eq!(cfg.cluster_operator_spk, cluster.operator_spk);
    assert!(!cfg.cluster_enabled, "auto-pin does not switch modes");

    let out = alice.ok(&["cluster", "enable"]);
    assert!(out.contains("cluster mode enabled."), "{out}");
    let out = alice.ok(&["cluster", "status"]);
    assert!(out.contains("write quorum: 2 of 3 nodes"), "{out}");
    alice.ok(&["identity", "publish"]);
    // Alice's identity went to every node, so bob finds it on n3.
    alice.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);

    let text = long_text("through the discovered cluster");
    let o = alice.run(&["send", "bob@mesh.test", &text]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        !stderr(&o).contains("no forward secrecy"),
        "bob's prekeys were read through the cluster: {o:?}"
    );
    // The fan-out reached every node, not just a quorum.
    let bob_id = dmp_core::crypto::user_id(&hex32(&bob.show("public_key")));
    let slots: Vec<String> = (0..10)
        .map(|s| dmp_core::names::slot_name(&bob_id, s, ZONE))
        .collect();
    for n in &cluster.nodes {
        let found = slots.iter().map(|s| txt(n, s).len()).sum::<usize>();
        assert_eq!(found, 1, "the message manifest on {}", n.id);
    }
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec![text], "{out}");
    assert!(
        resolver.queries.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "alice's lookups went through her resolver"
    );
}

fn hex32(s: &str) -> [u8; 32] {
    let b: Vec<u8> = (0..s.len())
        .step_by(2)
        .filter_map(|i| s.get(i..i + 2))
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect();
    b.try_into().unwrap()
}
