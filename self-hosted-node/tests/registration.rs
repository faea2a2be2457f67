//! Registration and multi-tenant writes over real HTTP against the spawned
//! `dmp-node`: bearer tokens written to the real token database, scoped
//! writes, expiry, buckets, CORS, TSIG key minting, and the error bodies
//! compared with the live reference node.

mod auth_support;

use auth_support::*;
use serde_json::Value;

fn mt_node(extra: &[(&'static str, &str)]) -> (tempfile::TempDir, Node) {
    let (dir, db) = tmpdb();
    let mut env = multi_tenant_env();
    for (k, v) in extra {
        env.retain(|(e, _)| e != k);
        env.push((k, v.to_string()));
    }
    let node = Node::start(&db, &env);
    (dir, node)
}

#[test]
fn registration_routes_are_404_unless_enabled() {
    let (_d, db) = tmpdb();
    let open = Node::start(&db, &[]);
    for (m, p) in [
        ("GET", "/v1/registration/challenge"),
        ("POST", "/v1/registration/confirm"),
        ("POST", "/v1/registration/tsig-confirm"),
    ] {
        let r = req(open.http, m, p, &[], "{}");
        assert_eq!(r.pair(), (404, r#"{"error": "not found"}"#), "{m} {p}");
    }
    drop(open);
    // Multi-tenant and enabled, but without a node hostname: still off.
    let (_d2, db2) = tmpdb();
    let mut env = multi_tenant_env();
    env.retain(|(k, _)| *k != "DMP_NODE_HOSTNAME");
    let n = Node::start(&db2, &env);
    let r = req(n.http, "GET", "/v1/registration/challenge", &[], "");
    assert_eq!(r.pair(), (404, r#"{"error": "not found"}"#));
    // Legacy mode (operator token, no auth mode): off as well.
    let (_d3, db3) = tmpdb();
    let mut env = multi_tenant_env();
    env.retain(|(k, _)| *k != "DMP_AUTH_MODE");
    let n = Node::start(&db3, &env);
    let r = req(n.http, "GET", "/v1/registration/challenge", &[], "");
    assert_eq!(r.pair(), (404, r#"{"error": "not found"}"#));
}

#[test]
fn challenge_and_confirm_shapes() {
    let (_d, node) = mt_node(&[]);
    let r = req(node.http, "GET", "/v1/registration/challenge", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/json"));
    // Key order as the reference writes it.
    let keys: Vec<&str> = [
        "\"challenge\"",
        "\"node\"",
        "\"expires_at\"",
        "\"server_x25519_pub\"",
        "\"version\": 1",
    ]
    .into_iter()
    .collect();
    let mut pos = 0;
    for k in keys {
        let at = r.body[pos..]
            .find(k)
            .unwrap_or_else(|| panic!("{k} after {pos} in {}", r.body));
        pos += at;
    }
    let v = r.json();
    assert_eq!(v["node"], ZONE);
    assert_eq!(v["challenge"].as_str().unwrap().len(), 64);
    assert_eq!(v["server_x25519_pub"].as_str().unwrap().len(), 64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = v["expires_at"].as_u64().unwrap();
    assert!(exp >= now + 55 && exp <= now + 65, "{exp} vs {now}");

    let alice = User::new("alice", 1);
    let r = post_json(
        node.http,
        "/v1/registration/confirm",
        &alice.confirm_body(node.http, false),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let token = v["token"].as_str().unwrap();
    assert!(
        token.starts_with("dmp_v1_") && token.len() == 7 + 52,
        "{token}"
    );
    assert_eq!(v["subject"], "alice@mesh.test");
    let exp = v["expires_at"].as_u64().unwrap();
    assert!(exp >= now + 7_776_000 && exp <= now + 7_776_010);
    assert!(
        r.body
            .contains("\"rate_per_sec\": 10.0, \"rate_burst\": 50}"),
        "{}",
        r.body
    );
    assert!(r.body.starts_with("{\"token\": "), "{}", r.body);
}

#[test]
fn user_tokens_write_their_own_names_only() {
    let (_d, node) = mt_node(&[]);
    let a = node.http;
    let alice = User::new("alice", 1);
    let bob = User::new("bob", 2);
    let ta = alice.register_token(a);
    let tb = bob.register_token(a);

    let alice_names = [
        format!("dmp.alice.{ZONE}"),
        format!("id-{}.{ZONE}", h("alice", 16)),
        format!("prekeys.id-{}.{ZONE}", h("alice", 12)),
        format!("rotate.dmp.alice.{ZONE}"),
    ];
    for n in &alice_names {
        let r = publish(a, n, "v=dmp1;t=test;owner=alice", Some(&ta));
        assert_eq!(r.pair(), (201, r#"{"ok": true}"#), "{n}");
    }
    // Bob can neither add to nor delete alice's records.
    for n in &alice_names {
        let r = publish(a, n, "v=dmp1;t=test;owner=bob", Some(&tb));
        assert_eq!(r.pair(), (401, r#"{"error": "unauthorized"}"#), "{n}");
        let r = delete(a, n, Some(&tb));
        assert_eq!(r.pair(), (401, r#"{"error": "unauthorized"}"#), "{n}");
        assert_eq!(
            values(a, n),
            vec!["v=dmp1;t=test;owner=alice".to_string()],
            "{n}"
        );
    }
    // Same hash, other domain: not alice's.
    let foreign = format!("id-{}.evil.test", h("alice", 16));
    assert_eq!(publish(a, &foreign, "x", Some(&ta)).status, 401);
    // Shared pool: anyone may publish, nobody (but the operator) delete.
    let slot = format!("slot-3.mb-{}.{ZONE}", h("someone", 12));
    let chunk = format!("chunk-0001-{}.{ZONE}", h("msg", 12));
    for n in [&slot, &chunk] {
        assert_eq!(
            publish(a, n, "v=dmp1;t=chunk;d=a", Some(&tb)).status,
            201,
            "{n}"
        );
        assert_eq!(
            delete(a, n, Some(&ta)).pair(),
            (401, r#"{"error": "unauthorized"}"#)
        );
        assert_eq!(delete(a, n, Some(&tb)).status, 401);
    }
    // Operator-only namespaces, bad and missing tokens.
    for n in [
        format!("cluster.{ZONE}"),
        format!("claim-1.mb-{}.{ZONE}", h("x", 12)),
        "_dmp.mesh.test".into(),
    ] {
        assert_eq!(publish(a, &n, "x", Some(&ta)).status, 401, "{n}");
    }
    let n0 = &alice_names[0];
    assert_eq!(publish(a, n0, "y", None).status, 401);
    assert_eq!(publish(a, n0, "y", Some("dmp_v1_AAAA")).status, 401);
    let unknown = format!("dmp_v1_{}", "A".repeat(52));
    assert_eq!(publish(a, n0, "y", Some(&unknown)).status, 401);
    // The operator may do anything.
    assert_eq!(
        publish(a, &format!("cluster.{ZONE}"), "x", Some(OP)).status,
        201
    );
    assert_eq!(delete(a, &slot, Some(OP)).status, 204);
    // Alice deletes her own.
    assert_eq!(delete(a, n0, Some(&ta)).status, 204);
    assert_eq!(delete(a, n0, Some(&ta)).status, 404);
    // Reads stay operator-only.
    let r = req(
        a,
        "GET",
        &format!("/v1/records/{}", alice_names[1]),
        &[("Authorization", &format!("Bearer {ta}"))],
        "",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn expired_rotated_and_throttled_tokens() {
    // Tokens that live one second and a bucket of two writes.
    let (_d, node) = mt_node(&[
        ("DMP_REGISTRATION_TOKEN_TTL_SECONDS", "2"),
        ("DMP_REGISTRATION_ISSUED_RATE_PER_SEC", "0.001"),
        ("DMP_REGISTRATION_ISSUED_RATE_BURST", "2"),
    ]);
    let a = node.http;
    let alice = User::new("alice", 1);
    let t1 = alice.register_token(a);
    let name = format!("dmp.alice.{ZONE}");
    assert_eq!(publish(a, &name, "one", Some(&t1)).status, 201);
    assert_eq!(publish(a, &name, "two", Some(&t1)).status, 201);
    let r = publish(a, &name, "three", Some(&t1));
    assert_eq!(
        r.pair(),
        (429, r#"{"error": "per-token rate limit exceeded"}"#)
    );
    assert_eq!(
        values(a, &name).len(),
        2,
        "a throttled write stores nothing"
    );
    // Re-registering with the same key rotates: the old token is revoked,
    // the new one has a fresh bucket.
    let t2 = alice.register_token(a);
    assert_ne!(t1, t2);
    assert_eq!(
        publish(a, &name, "four", Some(&t1)).pair(),
        (401, r#"{"error": "unauthorized"}"#)
    );
    assert_eq!(publish(a, &name, "four", Some(&t2)).status, 201);
    // After its lifetime the token is refused.
    std::thread::sleep(std::time::Duration::from_millis(3100));
    assert_eq!(
        publish(a, &name, "five", Some(&t2)).pair(),
        (401, r#"{"error": "unauthorized"}"#)
    );
    assert!(!values(a, &name).contains(&"five".to_string()));
}

#[test]
fn registration_errors_and_takeover() {
    let (_d, node) = mt_node(&[("DMP_REGISTRATION_ALLOWLIST", "mesh.test, other.test")]);
    let a = node.http;
    let path = "/v1/registration/confirm";
    let err = |r: &Resp| {
        (
            r.status,
            r.json()["error"].as_str().unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        post_json(a, path, "{}").pair(),
        (400, r#"{"error": "missing or non-string field: subject"}"#)
    );
    assert_eq!(
        post_json(a, path, "").pair(),
        (400, r#"{"error": "missing or non-string field: subject"}"#)
    );
    assert_eq!(
        post_json(a, path, "not json").pair(),
        (400, r#"{"error": "invalid body"}"#)
    );
    assert_eq!(
        post_json(a, path, "[1]").pair(),
        (400, r#"{"error": "invalid body"}"#)
    );
    let big = format!("{{\"subject\": \"{}\"}}", "a".repeat(20_000));
    assert_eq!(
        post_json(a, path, &big).pair(),
        (400, r#"{"error": "invalid body"}"#)
    );
    let alice = User::new("alice", 1);
    let good: Value = serde_json::from_str(&alice.confirm_body(a, false)).unwrap();
    let with = |k: &str, v: &str| {
        let mut b = good.clone();
        b[k] = Value::String(v.into());
        b.to_string()
    };
    assert_eq!(
        err(&post_json(a, path, &with("subject", "no-at-sign"))),
        (
            400,
            "subject invalid: subject does not match <local>@<fqdn> shape: 'no-at-sign'".into()
        )
    );
    assert_eq!(
        err(&post_json(a, path, &with("ed25519_spk", "zz"))),
        (400, "ed25519_spk: not valid hex".into())
    );
    assert_eq!(
        err(&post_json(a, path, &with("signature", "abcd"))),
        (400, "signature: expected 64 bytes, got 2".into())
    );
    assert_eq!(
        err(&post_json(a, path, &with("challenge", &"0".repeat(64)))),
        (400, "challenge expired or unknown".into())
    );
    // A wrong signature uses the challenge up.
    let mut bad = good.clone();
    bad["signature"] = Value::String("00".repeat(64));
    assert_eq!(
        err(&post_json(a, path, &bad.to_string())),
        (401, "signature verification failed".into())
    );
    assert_eq!(
        err(&post_json(a, path, &good.to_string())),
        (400, "challenge expired or unknown".into())
    );
    // Outside the allowlist.
    let mut eve = User::new("eve", 9);
    eve.subject = "eve@elsewhere.test".into();
    let r = post_json(a, path, &eve.confirm_body(a, false));
    assert_eq!(
        r.pair(),
        (403, r#"{"error": "subject not in registration allowlist"}"#)
    );
    // Takeover: another key for a subject with a live token is 409.
    alice.register_token(a);
    let mut mallory = User::new("alice", 7);
    mallory.subject = alice.subject.clone();
    let r = post_json(a, path, &mallory.confirm_body(a, false));
    assert_eq!(
        r.pair(),
        (
            409,
            r#"{"error": "subject already has a live token; re-registration must be signed with the previously-registered Ed25519 key"}"#
        )
    );
    // Unknown methods and paths stay 404.
    assert_eq!(
        req(a, "GET", path, &[], "").pair(),
        (404, r#"{"error": "not found"}"#)
    );
    assert_eq!(
        req(a, "POST", "/v1/registration/challenge", &[], "").pair(),
        (404, r#"{"error": "not found"}"#)
    );
}

#[test]
fn registration_bucket_is_per_ip_and_shared() {
    let (_d, node) = mt_node(&[("DMP_REGISTRATION_ENDPOINT_RATE_BURST", "3")]);
    let a = node.http;
    assert_eq!(
        req(a, "GET", "/v1/registration/challenge", &[], "").status,
        200
    );
    assert_eq!(post_json(a, "/v1/registration/confirm", "{}").status, 400);
    assert_eq!(
        req(a, "GET", "/v1/registration/challenge", &[], "").status,
        200
    );
    for (m, p) in [
        ("GET", "/v1/registration/challenge"),
        ("POST", "/v1/registration/confirm"),
    ] {
        let r = req(a, m, p, &[], "{}");
        assert_eq!(
            r.pair(),
            (429, r#"{"error": "registration rate limit exceeded"}"#)
        );
    }
    // The records API has its own bucket.
    assert_eq!(publish(a, "x.mesh.test", "v", Some(OP)).status, 201);
}

#[test]
fn cors_preflight_for_browser_clients() {
    let (_d, node) = mt_node(&[]);
    for p in [
        "/v1/registration/confirm",
        "/v1/registration/challenge",
        "/v1/registration/tsig-confirm",
    ] {
        let r = req(
            node.http,
            "OPTIONS",
            p,
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            "",
        );
        assert!(r.status == 200 || r.status == 204, "{p}: {}", r.status);
        assert!(
            r.headers.contains("access-control-allow-origin: *"),
            "{p}: {}",
            r.headers
        );
        assert!(
            r.headers.contains("access-control-allow-methods"),
            "{}",
            r.headers
        );
    }
    let r = req(
        node.http,
        "GET",
        "/v1/registration/challenge",
        &[("Origin", "https://app.example")],
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("access-control-allow-origin: *"),
        "{}",
        r.headers
    );
}

fn default_scope(u: &User, with_mb: bool) -> Vec<String> {
    let spk16 = &u.spk_hex()[..16];
    let mut s = vec![
        format!("_dnsmesh-claim-*.{ZONE}"),
        format!("_dnsmesh-claim-{spk16}.{ZONE}"),
        format!("chunk-*-*.{ZONE}"),
        format!("claim-*.mb-*.{ZONE}"),
        format!("id-{}.{ZONE}", h(u.local(), 12)),
        format!("id-{}.{ZONE}", h(u.local(), 16)),
        format!("slot-*.mb-*.{ZONE}"),
    ];
    if with_mb {
        let uid = dmp_core::crypto::sha256(&u.kp.x25519_public());
        let mb = dmp_core::crypto::hex(&dmp_core::crypto::sha256(&uid));
        s.push(format!("mb-{}.{ZONE}", &mb[..12]));
    }
    s.sort();
    s
}

fn suffixes(v: &Value) -> Vec<String> {
    v["allowed_suffixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tsig_confirm_mints_scoped_keys() {
    // UPDATE off: the route says so.
    let (_d, node) = mt_node(&[]);
    let bob = User::new("bob", 2);
    let r = post_json(
        node.http,
        "/v1/registration/tsig-confirm",
        &bob.confirm_body(node.http, true),
    );
    assert_eq!(
        r.pair(),
        (404, r#"{"error": "tsig registration disabled"}"#)
    );
    drop(node);

    let (_d, node) = mt_node(&[("DMP_DNS_UPDATE_ENABLED", "1")]);
    let a = node.http;
    let path = "/v1/registration/tsig-confirm";
    let r = post_json(a, path, &bob.confirm_body(a, true));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let spk = bob.spk_hex();
    let key = format!("bob-{}-{}.{ZONE}.", &spk[..8], h("bob@mesh.test", 6));
    assert_eq!(v["tsig_key_name"], key.as_str());
    assert_eq!(v["tsig_secret_hex"].as_str().unwrap().len(), 64);
    assert_eq!(v["tsig_algorithm"], "hmac-sha256");
    assert_eq!(v["subject"], "bob@mesh.test");
    assert_eq!(v["zone"], ZONE);
    assert_eq!(suffixes(&v), default_scope(&bob, true));
    assert!(r.body.starts_with("{\"tsig_key_name\": "), "{}", r.body);
    // Without a proof: no mailbox suffix. With a wrong proof: 401.
    let r = post_json(a, path, &bob.confirm_body(a, false));
    assert_eq!(suffixes(&r.json()), default_scope(&bob, false));
    let mut b: Value = serde_json::from_str(&bob.confirm_body(a, true)).unwrap();
    b["x25519_pop"] = Value::String("11".repeat(32));
    let r = post_json(a, path, &b.to_string());
    assert_eq!(
        r.pair(),
        (
            401,
            r#"{"error": "x25519_pop verification failed: registrant did not prove possession of the claimed X25519 key"}"#
        )
    );
    // Another key for bob: 409.
    let mut m = User::new("bob", 3);
    m.subject = bob.subject.clone();
    assert_eq!(post_json(a, path, &m.confirm_body(a, true)).status, 409);
    // A local part too long for a key label.
    let long = User::new(&"l".repeat(60), 4);
    let r = post_json(a, path, &long.confirm_body(a, true));
    assert_eq!(
        r.pair(),
        (
            400,
            r#"{"error": "subject local part too long for TSIG key label (max 54 chars)"}"#
        )
    );
    drop(node);

    // Loose and tight scopes.
    let (_d, node) = mt_node(&[
        ("DMP_DNS_UPDATE_ENABLED", "1"),
        ("DMP_TSIG_LOOSE_SCOPE", "1"),
    ]);
    let r = post_json(node.http, path, &bob.confirm_body(node.http, true));
    assert_eq!(suffixes(&r.json()), vec![ZONE.to_string()]);
    drop(node);
    let (_d, node) = mt_node(&[
        ("DMP_DNS_UPDATE_ENABLED", "1"),
        ("DMP_TSIG_TIGHT_SCOPE", "true"),
    ]);
    let r = post_json(node.http, path, &bob.confirm_body(node.http, true));
    let tight: Vec<String> = default_scope(&bob, true)
        .into_iter()
        .filter(|s| !s.contains('*'))
        .collect();
    assert_eq!(suffixes(&r.json()), tight);
}

/// Builds a request body for the node at this address.
type BodyFn = Box<dyn Fn(std::net::SocketAddr) -> String>;

/// The same requests to the reference and to `dmp-node`, both multi-tenant
/// with registration and UPDATE: identical statuses and bodies (challenges
/// and secrets differ per node, so those are compared by shape).
#[test]
fn registration_errors_match_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut env = multi_tenant_env();
    env.push(("DMP_DNS_UPDATE_ENABLED", "1".into()));
    env.push(("DMP_REGISTRATION_ALLOWLIST", "mesh.test".into()));
    let reference = RefNode::start(&python, &dir.path().join("ref"), &env);
    let ours = Node::start(&dir.path().join("ours/dmp.db"), &env);

    let alice = User::new("alice", 1);
    let mut eve = User::new("eve", 5);
    eve.subject = "eve@other.test".into();
    let mut mallory = User::new("alice", 6);
    mallory.subject = alice.subject.clone();
    let cases: Vec<(&str, &str, BodyFn)> = vec![
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| "{}".into()),
        ),
        (
            "POST",
            "/v1/registration/tsig-confirm",
            Box::new(|_| "{}".into()),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| "{nope".into()),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| "[]".into()),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| r#"{"subject": 5}"#.into()),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| r#"{"subject": "a@b.c"}"#.into()),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| {
                r#"{"subject": "Bad Subject", "ed25519_spk": "x", "challenge": "y", "signature": "z"}"#.into()
            }),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| {
                r#"{"subject": "a@b.c", "ed25519_spk": "abc", "challenge": "y", "signature": "z"}"#
                    .into()
            }),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| {
                format!(
                    r#"{{"subject": "a@b.c", "ed25519_spk": "{}", "challenge": "{}", "signature": "{}"}}"#,
                    "ab".repeat(32),
                    "cd".repeat(32),
                    "ef".repeat(63)
                )
            }),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|_| {
                format!(
                    r#"{{"subject": "a@b.c", "ed25519_spk": "{}", "challenge": "{}", "signature": "{}"}}"#,
                    "ab".repeat(32),
                    "cd".repeat(32),
                    "ef".repeat(64)
                )
            }),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|a| {
                let mut v: Value =
                    serde_json::from_str(&User::new("alice", 1).confirm_body(a, false)).unwrap();
                v["signature"] = Value::String("00".repeat(64));
                v.to_string()
            }),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(move |a| eve.confirm_body(a, false)),
        ),
        (
            "POST",
            "/v1/registration/tsig-confirm",
            Box::new(|a| {
                let mut v: Value =
                    serde_json::from_str(&User::new("carol", 8).confirm_body(a, true)).unwrap();
                v["x25519_pop"] = Value::String("22".repeat(32));
                v.to_string()
            }),
        ),
        (
            "POST",
            "/v1/registration/tsig-confirm",
            Box::new(|a| {
                let mut v: Value =
                    serde_json::from_str(&User::new("dave", 10).confirm_body(a, true)).unwrap();
                v["x25519_pub"] = Value::String("zz".into());
                v.to_string()
            }),
        ),
        (
            "POST",
            "/v1/registration/tsig-confirm",
            Box::new(|a| User::new(&"q".repeat(60), 11).confirm_body(a, true)),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(|a| User::new("alice", 1).confirm_body(a, false)),
        ),
        (
            "POST",
            "/v1/registration/confirm",
            Box::new(move |a| mallory.confirm_body(a, false)),
        ),
        (
            "GET",
            "/v1/registration/confirm",
            Box::new(|_| String::new()),
        ),
        (
            "POST",
            "/v1/registration/challenge",
            Box::new(|_| String::new()),
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (i, (m, p, body)) in cases.iter().enumerate() {
        let r1 = req(
            reference.http,
            m,
            p,
            &[("Content-Type", "application/json")],
            &body(reference.http),
        );
        let r2 = req(
            ours.http,
            m,
            p,
            &[("Content-Type", "application/json")],
            &body(ours.http),
        );
        if r1.status == 200 {
            assert_eq!(r2.status, 200, "case {i}: {m} {p}: {}", r2.body);
            let (k1, k2) = (r1.json(), r2.json());
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&k1), keys(&k2), "case {i}");
        } else {
            assert_eq!(
                (r2.status, r2.body.as_str()),
                (r1.status, r1.body.as_str()),
                "case {i}: {m} {p}"
            );
        }
        seen.insert(r1.status);
    }
    // Every class of answer was exercised.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![200, 400, 401, 403, 404, 409]
    );
}

/// A token registered on each node (same user, same key): the same writes
/// get the same answers from the reference and from `dmp-node`, so the
/// scope rules match name by name.
#[test]
fn token_scopes_match_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = multi_tenant_env();
    let reference = RefNode::start(&python, &dir.path().join("ref"), &env);
    let ours = Node::start(&dir.path().join("ours/dmp.db"), &env);
    let alice = User::new("alice", 1);
    let tokens = [
        alice.register_token(reference.http),
        alice.register_token(ours.http),
    ];
    let http = [reference.http, ours.http];
    let (h16, h12) = (h("alice", 16), h("alice", 12));
    let other = h("someone", 12);
    let names = [
        format!("dmp.alice.{ZONE}"),
        format!("rotate.dmp.alice.{ZONE}"),
        format!("rotate.dmp.id-{h12}.{ZONE}"),
        format!("id-{h16}.{ZONE}"),
        format!("id-{h16}.other.test"),
        format!("id-{}.{ZONE}", h("bob", 16)),
        format!("prekeys.id-{h12}.{ZONE}"),
        format!("prekeys.id-{}.{ZONE}", h("bob", 12)),
        format!("pk-1.{h12}.{ZONE}"),
        format!("slot-1.mb-{other}.{ZONE}"),
        format!("chunk-0001-{other}.{ZONE}"),
        format!("claim-1.mb-{other}.{ZONE}"),
        format!("_dnsmesh-claim-0123456789abcdef.{ZONE}"),
        format!("cluster.{ZONE}"),
        format!("dmp.bob.{ZONE}"),
        "localhost".into(),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for name in &names {
        for (method, body) in [
            ("POST", "{\"value\": \"v=dmp1;t=scope\", \"ttl\": 60}"),
            ("DELETE", "{\"value\": \"v=dmp1;t=scope\"}"),
            ("DELETE", ""),
        ] {
            let got: Vec<(u16, String)> = (0..2)
                .map(|i| {
                    let auth = format!("Bearer {}", tokens[i]);
                    let r = req(
                        http[i],
                        method,
                        &format!("/v1/records/{name}"),
                        &[
                            ("Authorization", &auth),
                            ("Content-Type", "application/json"),
                        ],
                        body,
                    );
                    (r.status, r.body)
                })
                .collect();
            assert_eq!(
                got[1], got[0],
                "{method} {name} {body:?}: ours vs reference"
            );
            seen.insert(got[0].0);
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![201, 204, 401, 404]
    );
}

/// Switches read like the reference's: empty is off (a blank line in an
/// env file), a word that is not a switch stops the node with a message.
#[test]
fn empty_switches_are_off_and_nonsense_is_refused() {
    let (_d, db) = tmpdb();
    let mut env = multi_tenant_env();
    env.retain(|(k, _)| *k != "DMP_REGISTRATION_ENABLED");
    env.push(("DMP_REGISTRATION_ENABLED", String::new()));
    env.push(("DMP_DNS_UPDATE_ENABLED", " ".into()));
    let node = Node::start(&db, &env);
    let r = req(node.http, "GET", "/v1/registration/challenge", &[], "");
    assert_eq!(r.pair(), (404, r#"{"error": "not found"}"#));
    drop(node);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .env("DMP_REGISTRATION_ENABLED", "maybe")
        .arg("--db-path")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--registration-enabled") && err.contains("not a switch"),
        "{err}"
    );
}
