//! The Docker packaging, checked without a Docker engine.
//!
//! * The final stage of `Dockerfile` is parsed (ENV, ENTRYPOINT, CMD, USER,
//!   VOLUME, EXPOSE, HEALTHCHECK) and exactly its ENTRYPOINT + CMD is run
//!   with exactly its ENV, using the binary this test build produced for
//!   `dmp-node`. Only what cannot be the same on a shared test machine is
//!   changed: both binds go to 127.0.0.1 port 0 and the database to a temp
//!   dir. The node must answer `/health`, serve a published record over
//!   DNS, pass the image's own HEALTHCHECK command and stop cleanly on
//!   SIGTERM (what `docker stop` sends).
//! * `docker-compose.yml` must be well-formed YAML with the expected
//!   services, ports and mounts (a small indentation parser here; a full
//!   parse through python3's `yaml` module as well when it is installed).
//! * `deploy/Caddyfile` must proxy to the node's HTTP port.
#![cfg(unix)]

use dmp_core::dns::client::{build_txt_query, parse_txt_response};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn repo_file(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The instructions of a Dockerfile's final stage that the image runs with.
#[derive(Debug, Default)]
struct Stage {
    env: Vec<(String, String)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
    user: Option<String>,
    volumes: Vec<String>,
    expose: Vec<String>,
}

/// Joins `\`-continued lines and drops comments and blank lines, like
/// Docker's parser (comment lines inside a continuation are skipped too).
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                out.push(std::mem::take(&mut cur).trim().to_string());
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The exec (JSON array) form; the shell form is refused because the test
/// could not run it exactly as Docker does.
fn exec_form(instr: &str, rest: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(rest.trim()).unwrap_or_else(|e| {
        panic!("{instr} must use the JSON exec form [\"...\"] (got {rest:?}: {e})")
    })
}

/// `ENV a=b c="d e"` (or the legacy `ENV a b`) as pairs.
fn env_pairs(rest: &str) -> Vec<(String, String)> {
    let rest = rest.trim();
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return vec![(k.to_string(), v.trim().to_string())];
    }
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if key.is_empty() {
            break;
        }
        chars.next(); // '='
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())));
        }
        pairs.push((key, value));
    }
    pairs
}

fn parse_dockerfile(text: &str) -> Stage {
    let mut stage = Stage::default();
    for line in logical_lines(text) {
        let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        match instr.to_ascii_uppercase().as_str() {
            "FROM" => stage = Stage::default(), // only the final stage counts
            "ENV" => stage.env.extend(env_pairs(rest)),
            "ENTRYPOINT" => stage.entrypoint = exec_form("ENTRYPOINT", rest),
            "CMD" => stage.cmd = exec_form("CMD", rest),
            "USER" => stage.user = Some(rest.trim().to_string()),
            "VOLUME" => stage.volumes.extend(exec_form("VOLUME", rest)),
            "EXPOSE" => stage
                .expose
                .extend(rest.split_whitespace().map(str::to_string)),
            "HEALTHCHECK" => {
                let (_, cmd) = rest
                    .split_once("CMD ")
                    .expect("HEALTHCHECK needs `CMD [..]` (exec form)");
                stage.healthcheck = exec_form("HEALTHCHECK CMD", cmd);
            }
            _ => {}
        }
    }
    stage
}

/// Kills the node if a test fails half-way.
struct NodeGuard(Child);

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the node's HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {resp:?}"));
    let body = resp.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

fn udp_txt(addr: SocketAddr, name: &str) -> (u8, Vec<String>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let q = build_txt_query(0x4242, name, false, Some(1232)).unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..5 {
        sock.send_to(&q, addr).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let r = parse_txt_response(&buf[..n]).expect("a DNS response");
            return (r.rcode, r.values);
        }
    }
    panic!("no DNS answer from {addr}");
}

/// Runs the image's HEALTHCHECK command (bash) against `http_port`.
fn run_healthcheck(check: &[String], http_port: u16) -> bool {
    Command::new(&check[0])
        .args(&check[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DMP_HTTP_PORT", http_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the HEALTHCHECK command")
        .success()
}

#[test]
fn dockerfile_declares_a_non_root_image_with_its_ports_and_volume() {
    let stage = parse_dockerfile(&repo_file("Dockerfile"));
    let env: BTreeMap<_, _> = stage.env.iter().cloned().collect();
    assert_eq!(
        stage.entrypoint.first().map(String::as_str),
        Some("dmp-node")
    );
    let user = stage.user.as_deref().expect("the final stage sets USER");
    assert!(
        user != "root" && user != "0" && !user.starts_with("0:"),
        "runs as root: USER {user}"
    );
    assert!(stage.volumes.iter().any(|v| v == "/var/lib/dmp"));
    for port in ["53/udp", "53/tcp", "8053/tcp"] {
        assert!(
            stage.expose.iter().any(|p| p == port),
            "EXPOSE lacks {port}"
        );
    }
    assert!(env["DMP_DB_PATH"].starts_with("/var/lib/dmp/"));
    assert_eq!(env["DMP_DNS_PORT"], "53");
    assert_eq!(env["DMP_HTTP_PORT"], "8053");
    // Reachable from outside the container, and never with a baked-in token.
    assert_eq!(env["DMP_HTTP_HOST"], "0.0.0.0");
    assert_eq!(env["DMP_DNS_HOST"], "0.0.0.0");
    assert!(!env.contains_key("DMP_OPERATOR_TOKEN") && !env.contains_key("DMP_HTTP_TOKEN"));
    assert_eq!(stage.healthcheck.first().map(String::as_str), Some("bash"));
}

#[test]
fn docker_entrypoint_serves_health_and_dns() {
    let stage = parse_dockerfile(&repo_file("Dockerfile"));
    assert_eq!(
        stage.entrypoint.first().map(String::as_str),
        Some("dmp-node"),
        "ENTRYPOINT must start with the dmp-node binary"
    );
    let args: Vec<&String> = stage.entrypoint[1..].iter().chain(&stage.cmd).collect();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("dmp.db");
    let mut env: BTreeMap<String, String> = stage.env.iter().cloned().collect();
    // Stands in for the web client the image copies in from its web stage.
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>web client</title>\n",
    )
    .unwrap();
    // The only changes: loopback, free ports, a temp database, the web dir.
    for (k, v) in [
        ("DMP_WEB_DIR", web.to_str().unwrap()),
        ("DMP_HTTP_HOST", "127.0.0.1"),
        ("DMP_HTTP_PORT", "0"),
        ("DMP_DNS_HOST", "127.0.0.1"),
        ("DMP_DNS_PORT", "0"),
        ("DMP_DB_PATH", db.to_str().unwrap()),
    ] {
        assert!(env.contains_key(k), "the Dockerfile no longer sets {k}");
        env.insert(k.into(), v.into());
    }
    // What `docker run -e` / docker-compose.yml adds.
    let token = "docker-test-operator-token";
    env.insert("DMP_OPERATOR_TOKEN".into(), token.into());
    env.insert("DMP_SERVED_ZONE".into(), "mesh.test".into());

    let child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .args(&args)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .expect("start dmp-node");
    let mut node = NodeGuard(child);
    let stdout = node.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut http_addr, mut dns_addr) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while dns_addr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            panic!("dmp-node printed no `dns:` line (exited or 30 s passed); stderr:\n{err}");
        };
        if let Some(url) = line.split("listening on http://").nth(1) {
            http_addr = Some(url.trim_end_matches('/').parse::<SocketAddr>().unwrap());
        }
        if let Some(rest) = line.strip_prefix("dns: ") {
            let a = rest.split('/').next().unwrap();
            dns_addr = Some(a.parse::<SocketAddr>().unwrap());
        }
    }
    let http_addr = http_addr.expect("first line names the HTTP URL");
    let dns_addr = dns_addr.unwrap();
    assert!(db.exists(), "the database was not created at DMP_DB_PATH");

    let (status, body) = http(http_addr, "GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200, "/health: {body}");
    assert!(body.contains("ok"), "/health body: {body}");
    let (status, body) = http(http_addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200);
    assert!(
        body.contains("web client"),
        "/ must serve DMP_WEB_DIR: {body}"
    );

    // The image's HEALTHCHECK passes against the node and fails without one.
    if Command::new("bash").arg("-c").arg("true").status().is_ok() {
        assert!(run_healthcheck(&stage.healthcheck, http_addr.port()));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(!run_healthcheck(&stage.healthcheck, closed_port));
    } else {
        eprintln!("bash not found: the HEALTHCHECK command was not run");
    }

    // The token from the environment is in force (legacy mode).
    let name = "chunk-0000-0123456789ab.mesh.test";
    let value = "v=dmp1;t=chunk;d=ZG9ja2VyIGVudHJ5cG9pbnQgdGVzdA==";
    let body = format!("{{\"value\": \"{value}\", \"ttl\": 300}}");
    let post = |auth: &str| {
        http(
            http_addr,
            &format!(
                "POST /v1/records/{name} HTTP/1.0\r\nContent-Type: application/json\r\n\
                 {auth}Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    assert_eq!(post("").0, 401, "writes must need the operator token");
    assert_eq!(post(&format!("Authorization: Bearer {token}\r\n")).0, 201);

    let (rcode, values) = udp_txt(dns_addr, name);
    assert_eq!(rcode, 0);
    assert_eq!(values, vec![value.to_string()]);
    let (rcode, _) = udp_txt(dns_addr, "chunk-0001-0123456789ab.mesh.test");
    assert_eq!(rcode, 3, "a missing name is NXDOMAIN");

    // `docker stop` sends SIGTERM: the node must exit cleanly and promptly.
    let pid = node.0.id().to_string();
    // sh's builtin kill: no dependency on a procps `kill` binary.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status();
    assert!(matches!(killed, Ok(s) if s.success()), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = node.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// `path -> values` of a YAML block document: `a.b.c` for mapping keys
/// (with the inline scalar, if any) and `a.b[]` for list items. Enough for
/// docker-compose.yml; it rejects tabs and bad indentation.
fn yaml_paths(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        assert!(
            !raw.contains('\t'),
            "docker-compose.yml line {}: tab",
            no + 1
        );
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let is_item = t.starts_with("- ") || t == "-";
        // A list item sits at or below its key's indentation level.
        while stack
            .last()
            .is_some_and(|(i, _)| *i > indent || (*i == indent && !is_item))
        {
            stack.pop();
        }
        let parent: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        let parent = parent.join(".");
        if is_item {
            let item = t
                .trim_start_matches('-')
                .trim()
                .trim_matches('"')
                .to_string();
            out.entry(format!("{parent}[]")).or_default().push(item);
            continue;
        }
        let (key, value) = t
            .split_once(':')
            .unwrap_or_else(|| panic!("docker-compose.yml line {}: not `key: value`", no + 1));
        assert!(
            !key.is_empty() && !key.contains(' '),
            "docker-compose.yml line {}: bad key {key:?}",
            no + 1
        );
        let path = if parent.is_empty() {
            key.to_string()
        } else {
            format!("{parent}.{key}")
        };
        out.entry(path)
            .or_default()
            .push(value.trim().trim_matches('"').to_string());
        stack.push((indent, key.to_string()));
    }
    out
}

#[test]
fn compose_file_and_caddyfile_fit_the_image() {
    let compose = repo_file("docker-compose.yml");
    let y = yaml_paths(&compose);
    let has = |path: &str| y.contains_key(path);
    let items = |path: &str| y.get(path).cloned().unwrap_or_default();
    assert!(has("services.dmp-node") && has("services.caddy"), "{y:#?}");
    assert_eq!(items("services.dmp-node.build"), vec!["."]);
    for p in ["53:53/udp", "53:53/tcp"] {
        assert!(
            items("services.dmp-node.ports[]").iter().any(|x| x == p),
            "dmp-node must publish {p}"
        );
    }
    assert!(
        !items("services.dmp-node.ports[]")
            .iter()
            .any(|x| x.contains("8053")),
        "the node's HTTP port stays on the compose network (Caddy fronts it)"
    );
    assert!(
        items("services.dmp-node.volumes[]")
            .iter()
            .any(|v| v.ends_with(":/var/lib/dmp")),
        "dmp-node needs its data volume"
    );
    assert!(
        items("services.caddy.volumes[]")
            .iter()
            .any(|v| v.starts_with("./deploy/Caddyfile:/etc/caddy/Caddyfile")),
        "caddy must mount deploy/Caddyfile"
    );
    for p in ["80:80", "443:443"] {
        assert!(items("services.caddy.ports[]").iter().any(|x| x == p));
    }
    assert!(has("services.dmp-node.environment.DMP_OPERATOR_TOKEN"));
    // Behind Caddy the per-IP limits need the forwarded client address.
    assert!(has("services.dmp-node.environment.DMP_TRUSTED_PROXIES"));

    // Every variable the compose file requires (`${X:?..}`) is in the example.
    let example = repo_file("deploy/env.example");
    for part in compose.split("${").skip(1) {
        if let Some((var, _)) = part.split_once(":?") {
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{var}="))),
                "deploy/env.example lacks {var}"
            );
        }
    }

    // Caddy proxies to the port the image listens on.
    let stage = parse_dockerfile(&repo_file("Dockerfile"));
    let port = stage
        .env
        .iter()
        .find(|(k, _)| k == "DMP_HTTP_PORT")
        .map(|(_, v)| v.clone())
        .unwrap();
    let caddy = repo_file("deploy/Caddyfile");
    assert!(
        caddy.contains(&format!("reverse_proxy dmp-node:{port}")),
        "deploy/Caddyfile must reverse_proxy dmp-node:{port}"
    );
    assert_eq!(
        caddy.matches('{').count(),
        caddy.matches('}').count(),
        "deploy/Caddyfile: unbalanced braces"
    );

    // A full YAML parse when python3 has PyYAML (not a dependency of the
    // project; the structural checks above run either way).
    let script = "import sys, yaml\n\
                  d = yaml.safe_load(open(sys.argv[1]))\n\
                  assert set(d['services']) == {'dmp-node', 'caddy'}, d['services'].keys()\n\
                  assert '53:53/udp' in d['services']['dmp-node']['ports']\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml");
    let has_yaml = Command::new("python3")
        .args(["-c", "import yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_yaml {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "PyYAML rejects docker-compose.yml: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("python3 with PyYAML not found: only the structural YAML checks ran");
    }
}
